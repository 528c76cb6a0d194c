/* qualify.c - media qualification: a drive checked in seconds for fake
 * capacity, writes it acknowledges but does not store, and write
 * protection, before anything is flashed to it.
 *
 * The method is f3probe's: few, well-placed writes rather than a surface
 * scan.  Every block written carries a stamp (its own offset, a random
 * number drawn for this run, a sequence number and a checksum of the
 * whole block), so a block that reads back another block's stamp shows
 * two addresses landing on the same cell (aliasing: fake capacity), and
 * one that reads back anything else (zeros, an earlier run's stamps, the
 * old data) shows a write that was lost.  The blocks go to:
 *
 *   - a canary at offset 0, which tells a write-protected drive at once;
 *   - a sequential run of up to RUN_MAX bytes from 1 MiB, written for at
 *     most WRITE_SECONDS, which measures the sustained write and read
 *     rates and stamps a dense stretch that small real capacities alias
 *     into;
 *   - probes at both sides of every power-of-two boundary below the
 *     claimed size (a drive that ignores its upper address bits maps
 *     them all onto block 0 or onto the block below its real size), the
 *     last block, and one pseudo-random block in each of NRANDOM equal
 *     stretches.  They are written from the top down, offset 0 last, so
 *     the lowest of two aliased addresses keeps its own stamp and the
 *     higher one reads it.
 *
 * After a flush (fdatasync, BLKFLSBUF) everything is read back past the
 * page cache.  A lost write, or a write that failed (f3probe's bad
 * blocks), found between a good block and a bad one is narrowed down to
 * the first bad block by rounds of SEARCH_POINTS writes; a drive that
 * takes no write, at its start nor in its middle, is read-only.  At the end the first and last MiB are zeroed, so the drive
 * never looks like a disk with a layout, whether it passed, failed or
 * was cancelled.
 *
 * The drive is judged by the same policy and opened the same way as a
 * flash target (devices.c, sink.c).  Everything lives in one struct on
 * the caller's stack, so qualifications run in parallel on any threads. */
#include "target/devices.h"
#include "target/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define MIB ((uint64_t)1 << 20)
/* The smallest block written; the device's logical block when larger. */
#define BLOCK_MIN 4096u
/* The sequential run: where it starts, its most, how long it may take,
 * and the size of each write (also the one I/O buffer). */
#define RUN_OFF MIB
#define RUN_MAX (32 * MIB)
#define WRITE_SECONDS 2.0
#define CHUNK ((size_t)MIB)
#define NRANDOM 32
/* Points tested per round while narrowing down the first lost block,
 * and an upper bound on rounds (16^8 blocks is 16 TiB of 4 KiB blocks). */
#define SEARCH_POINTS 16
#define SEARCH_ROUNDS 12
/* What is zeroed at each end when done. */
#define WIPE MIB

/* "QFQUALQ1" */
#define STAMP_MAGIC 0x31514c4155514651ull
/* Byte offsets of the stamp's fields; the filler runs from FILL to the
 * checksum in the block's last 8 bytes. */
enum { ST_MAGIC = 0, ST_NONCE = 8, ST_OFF = 16, ST_SEQ = 24, ST_FILL = 32 };
/* Sequence numbers: the canary, the run, the probes, then one per search
 * round. */
enum { SEQ_CANARY = 1, SEQ_RUN, SEQ_PROBE, SEQ_SEARCH };

/* What a block read back says; FAILED: its write failed. */
enum verdict { GOOD, LOST, ALIAS, FAILED };

struct rates {
	double write, read;      /* bytes/s */
};

struct probe {
	uint64_t off;
	enum verdict v;
};

struct qual {
	const char *path;
	volatile const int *cancel;
	struct qf_sink sink;
	int rfd;                 /* read side, O_DIRECT when it can be */
	bool rdirect;
	bool wrote;              /* something may have changed: wipe */
	uint64_t size;           /* claimed */
	uint64_t span;           /* size in whole logical blocks */
	size_t blk;
	uint64_t nonce;
	unsigned char *buf;      /* CHUNK bytes, aligned */
	struct probe *p;
	size_t np, cap;
	uint64_t run_len;        /* bytes of the run written */
	/* What the read-backs found. */
	bool fake, lost, werr;
	bool ro;                 /* the drive refuses writes */
	uint64_t alias_est;      /* the smallest distance between aliases */
	uint64_t lost_lo;        /* the lowest offset that lost a write */
	uint64_t werr_lo;        /* the lowest offset a write failed at */
	int werr_err;            /*   and its errno */
};

/* ------------------------------------------------------------- stamps */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void stamp(const struct qual *q, unsigned char *b, uint64_t off,
		  uint64_t seq)
{
	uint64_t x = q->nonce ^ off ^ (seq << 56);
	size_t i, end = q->blk - 8;

	put_le64(b + ST_MAGIC, STAMP_MAGIC);
	put_le64(b + ST_NONCE, q->nonce);
	put_le64(b + ST_OFF, off);
	put_le64(b + ST_SEQ, seq);
	/* Incompressible, so no controller stores it in less room. */
	for (i = ST_FILL; i < end; i += 8)
		put_le64(b + i, splitmix(&x));
	put_le64(b + end, XXH3_64bits_withSeed(b, end, q->nonce));
}

/* A stamp of this run: where it was written and in which round. */
static bool unstamp(const struct qual *q, const unsigned char *b,
		    uint64_t *off, uint64_t *seq)
{
	size_t end = q->blk - 8;

	if (get_le64(b + ST_MAGIC) != STAMP_MAGIC ||
	    get_le64(b + ST_NONCE) != q->nonce ||
	    get_le64(b + end) != XXH3_64bits_withSeed(b, end, q->nonce))
		return false;
	*off = get_le64(b + ST_OFF);
	*seq = get_le64(b + ST_SEQ);
	return true;
}

/* What the block read back at @off, written there in round @seq, says. */
static enum verdict judge(struct qual *q, uint64_t off, uint64_t seq,
			  const unsigned char *b)
{
	uint64_t at, s, hi, lo;
	bool ours = unstamp(q, b, &at, &s);

	if (ours && at == off && s == seq)
		return GOOD;
	if (!ours || at == off) {
		/* Not ours, or an older round's stamp of the same block. */
		if (!q->lost || off < q->lost_lo)
			q->lost_lo = off;
		q->lost = true;
		return LOST;
	}
	/* Two addresses share a cell: the higher one is not real, and the
	 * distance between them is a multiple of the real capacity. */
	hi = at > off ? at : off;
	lo = at > off ? off : at;
	if (!q->fake || hi - lo < q->alias_est)
		q->alias_est = hi - lo;
	q->fake = true;
	return ALIAS;
}

/* ------------------------------------------------------------------ I/O */

static bool cancelled(const struct qual *q)
{
	return q->cancel && *q->cancel;
}

static int open_reader(struct qual *q, struct qf_err *e)
{
	q->rfd = open(q->path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	q->rdirect = q->rfd >= 0;
	if (q->rfd < 0)
		q->rfd = open(q->path, O_RDONLY | O_CLOEXEC);
	if (q->rfd < 0)
		return qf_err_set(e, errno, "%m");
	return 0;
}

/* Everything written reaches the medium, and what the page cache holds
 * of it is dropped, so the reads that follow ask the drive. */
static int flush(struct qual *q, struct qf_err *e)
{
	int ret = qf_sink_sync(&q->sink, e);

	if (ret == 0 && !q->rdirect)
		posix_fadvise(q->rfd, 0, 0, POSIX_FADV_DONTNEED);
	return ret;
}

static int rd(struct qual *q, void *buf, size_t len, uint64_t off,
	      struct qf_err *e)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(q->rfd, (char *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && q->rdirect) {
			/* An offset the device will not read directly:
			 * through the page cache, emptied first. */
			int fd = open(q->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				return qf_err_set(e, errno, "%m");
			close(q->rfd);
			q->rfd = fd;
			q->rdirect = false;
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			continue;
		}
		if (n < 0)
			return qf_err_set(e, errno, N_("read error at %llu: %m"),
					  (unsigned long long)(off + done));
		if (n == 0)
			return qf_err_set(e, EIO, N_("read error at %llu: the drive ends early"),
					  (unsigned long long)(off + done));
		done += (size_t)n;
	}
	return 0;
}

/* The verdict for a drive that takes no writes; @err is what it said. */
static int read_only(struct qual *q, int err, struct qf_err *e)
{
	q->ro = true;
	qf_err_set(e, err, N_("read-only: the drive refuses writes (%m)"));
	if (e)
		e->code = -EROFS;
	return -EROFS;
}

/* A write that failed at @off with @ret: the end when the drive refuses
 * writes, else 1, noted like a lost write (f3probe's bad blocks). */
static int write_failed(struct qual *q, int ret, uint64_t off, struct qf_err *e)
{
	int err = -ret;

	if (err == EROFS || err == EPERM || err == EACCES)
		return read_only(q, err, e);
	if (!q->werr || off < q->werr_lo) {
		q->werr_lo = off;
		q->werr_err = err;
	}
	q->werr = true;
	return 1;
}

/* One stamped block at @off: 0, 1 when the write failed, or the end. */
static int put_block(struct qual *q, uint64_t off, uint64_t seq,
		     struct qf_err *e)
{
	struct qf_err ignore = { 0 };
	int ret;

	stamp(q, q->buf, off, seq);
	q->wrote = true;
	ret = qf_sink_write(&q->sink, q->buf, q->blk, off, &ignore);
	return ret < 0 ? write_failed(q, ret, off, e) : 0;
}

static int get_block(struct qual *q, uint64_t off, uint64_t seq,
		     enum verdict *v, struct qf_err *e)
{
	int ret = rd(q, q->buf, q->blk, off, e);

	if (ret == 0)
		*v = judge(q, off, seq, q->buf);
	return ret;
}

/* -------------------------------------------------------------- phases */

/* Offset 0 first: a drive that takes no write at the start nor in the
 * middle is write-protected, whatever error it gives. */
static int canary(struct qual *q, struct qf_err *e)
{
	int ret = put_block(q, 0, SEQ_CANARY, e);

	if (ret != 1)
		return ret;
	ret = put_block(q, q->span / 2 / q->blk * q->blk, SEQ_CANARY, e);
	return ret == 1 ? read_only(q, q->werr_err, e) : ret;
}

/* The sequential run: the write rate, timed around the writes and the
 * flush only. */
static int write_run(struct qual *q, struct rates *rates, struct qf_err *e)
{
	struct qf_err ignore = { 0 };
	uint64_t end = RUN_OFF + RUN_MAX, off;
	double io = 0, t;
	int ret;

	/* Clear of the last MiB, and only on drives with room for it. */
	if (q->span < RUN_OFF + WIPE + CHUNK)
		return 0;
	if (end > q->span - WIPE)
		end = (q->span - WIPE) / q->blk * q->blk;
	for (off = RUN_OFF; off < end && io < WRITE_SECONDS; off += CHUNK) {
		size_t n = end - off < CHUNK ? (size_t)(end - off) : CHUNK;

		if (cancelled(q))
			return -ECANCELED;
		for (size_t i = 0; i < n; i += q->blk)
			stamp(q, q->buf + i, off + i, SEQ_RUN);
		q->wrote = true;
		t = qf_now();
		ret = qf_sink_write(&q->sink, q->buf, n, off, &ignore);
		io += qf_now() - t;
		if (ret < 0 && (ret = write_failed(q, ret, off, e)) < 0)
			return ret;
		if (ret) {
			/* The run ends here; which block failed is told by
			 * writing them one at a time. */
			for (size_t i = 0; i < n; i += q->blk)
				if ((ret = put_block(q, off + i, SEQ_RUN, e)) != 0)
					break;
			if (ret < 0)
				return ret;
			break;
		}
		q->run_len = off + n - RUN_OFF;
	}
	t = qf_now();
	if ((ret = flush(q, e)) < 0)
		return ret;
	io += qf_now() - t;
	if (io > 0)
		rates->write = (double)q->run_len / io;
	return 0;
}

static int read_run(struct qual *q, struct rates *rates, struct qf_err *e)
{
	double io = 0, t;
	uint64_t off;
	int ret;

	for (off = RUN_OFF; off < RUN_OFF + q->run_len; off += CHUNK) {
		uint64_t left = RUN_OFF + q->run_len - off;
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		if (cancelled(q))
			return -ECANCELED;
		t = qf_now();
		if ((ret = rd(q, q->buf, n, off, e)) < 0)
			return ret;
		io += qf_now() - t;
		for (size_t i = 0; i < n; i += q->blk)
			judge(q, off + i, SEQ_RUN, q->buf + i);
	}
	if (io > 0 && q->run_len)
		rates->read = (double)q->run_len / io;
	return 0;
}

static void add_probe(struct qual *q, uint64_t off)
{
	/* Blocks of the run are checked with it. */
	if (off + q->blk > RUN_OFF && off < RUN_OFF + q->run_len)
		return;
	q->p = qf_grow(q->p, q->np, &q->cap, sizeof(*q->p));
	q->p[q->np].off = off;
	q->p[q->np].v = GOOD;
	q->np++;
}

static int probe_cmp(const void *a, const void *b)
{
	const struct probe *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* The probes, sorted and none overlapping another: the last block (not
 * always on a block boundary) wins over its neighbour. */
static void plan_probes(struct qual *q)
{
	uint64_t nblk = q->span / q->blk, x = q->nonce, pos;
	size_t i, keep;

	add_probe(q, 0);
	for (pos = q->blk; pos < q->span && pos <= UINT64_MAX / 2; pos *= 2) {
		add_probe(q, pos - q->blk);
		add_probe(q, pos);
	}
	add_probe(q, q->span - q->blk);
	for (i = 0; i < NRANDOM; i++) {
		uint64_t a = nblk * i / NRANDOM, b = nblk * (i + 1) / NRANDOM;
		if (b > a)
			add_probe(q, (a + splitmix(&x) % (b - a)) * q->blk);
	}
	qsort(q->p, q->np, sizeof(*q->p), probe_cmp);
	keep = q->np;
	for (i = q->np - 1; i-- > 0;) {
		if (q->p[i].off + q->blk <= q->p[keep - 1].off)
			q->p[--keep] = q->p[i];
	}
	memmove(q->p, q->p + keep, (q->np - keep) * sizeof(*q->p));
	q->np -= keep;
}

/* From the top down, so that offset 0 is written last. */
static int write_probes(struct qual *q, struct qf_err *e)
{
	int ret;

	for (size_t i = q->np; i-- > 0;) {
		if (cancelled(q))
			return -ECANCELED;
		if ((ret = put_block(q, q->p[i].off, SEQ_PROBE, e)) < 0)
			return ret;
		q->p[i].v = ret ? FAILED : GOOD;
	}
	return flush(q, e);
}

static int read_probes(struct qual *q, struct qf_err *e)
{
	int ret;

	for (size_t i = 0; i < q->np; i++) {
		if (cancelled(q))
			return -ECANCELED;
		if (q->p[i].v != FAILED &&
		    (ret = get_block(q, q->p[i].off, SEQ_PROBE, &q->p[i].v, e)) < 0)
			return ret;
	}
	return 0;
}

/* The lowest offset found to lose writes or fail them. */
static uint64_t bad_lo(const struct qual *q)
{
	if (q->lost && (!q->werr || q->lost_lo < q->werr_lo))
		return q->lost_lo;
	return q->werr_lo;
}

/* Write, flush and read back the @n blocks at @pts in round @seq, into
 * @v. */
static int test_points(struct qual *q, const uint64_t *pts, size_t n,
		       uint64_t seq, enum verdict *v, struct qf_err *e)
{
	int ret;

	for (size_t i = n; i-- > 0;) {
		if (cancelled(q))
			return -ECANCELED;
		if ((ret = put_block(q, pts[i], seq, e)) < 0)
			return ret;
		v[i] = ret ? FAILED : GOOD;
	}
	if ((ret = flush(q, e)) < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (cancelled(q))
			return -ECANCELED;
		if (v[i] != FAILED && (ret = get_block(q, pts[i], seq, &v[i], e)) < 0)
			return ret;
	}
	return 0;
}

/* Narrow down the first bad block: between the highest good probe below
 * the lowest bad one (@g, or none) and that one (@b), rounds of evenly
 * spread blocks. */
static int search_bad(struct qual *q, struct qf_err *e)
{
	uint64_t b = bad_lo(q), g = 0, pts[SEARCH_POINTS], lo, hi, count;
	enum verdict v[SEARCH_POINTS];
	bool have_g = false;
	int ret;

	for (size_t i = 0; i < q->np; i++) {
		if (q->p[i].v == GOOD && q->p[i].off < b) {
			g = q->p[i].off;
			have_g = true;
		}
	}
	for (unsigned round = 0; round < SEARCH_ROUNDS && b >= q->blk; round++) {
		size_t n;

		lo = have_g ? g / q->blk + 1 : 0;
		hi = (b - q->blk) / q->blk;
		if (lo > hi)
			break;
		count = hi - lo + 1;
		n = count < SEARCH_POINTS ? (size_t)count : SEARCH_POINTS;
		for (size_t i = 0; i < n; i++)
			pts[i] = (lo + count * i / n) * q->blk;
		if ((ret = test_points(q, pts, n, SEQ_SEARCH + round, v, e)) < 0)
			return ret;
		/* Ascending: the first bad point ends the bracket. */
		for (size_t i = 0; i < n && pts[i] < b; i++) {
			if (v[i] != GOOD) {
				b = pts[i];
			} else {
				g = pts[i];
				have_g = true;
			}
		}
	}
	return 0;
}

/* Zero both ends: no partition table, no filesystem signature. */
static void wipe(struct qual *q)
{
	uint64_t w = q->size < WIPE ? q->size : WIPE;
	struct qf_err ignore = { 0 };

	if (!q->wrote)
		return;
	if (qf_sink_zero(&q->sink, 0, w, &ignore) == 0 &&
	    qf_sink_zero(&q->sink, q->size - w, w, &ignore) == 0 &&
	    qf_sink_sync(&q->sink, &ignore) == 0)
		/* The kernel forgets the partitions the drive had. */
		(void)qf_sink_reread_table(&q->sink);
}

/* ------------------------------------------------------------- verdict */

/* The policy a flash target meets, refusals but "too small" counting. */
static int check_policy(struct qual *q, const char *const *sources,
			struct qf_qualify_result *r, struct qf_err *e)
{
	struct qf_device d;
	char why[sizeof(d.reason)];
	unsigned bad;
	int ret;

	if ((ret = qf_device_check(q->path, sources, &d, e)) < 0)
		return ret;
	bad = d.refusals & ~(unsigned)QF_REFUSE_TOO_SMALL;
	if (!bad && !d.exists)
		return qf_err_set(e, ENOENT, "%m");
	if (!bad)
		return 0;
	r->read_only = bad == QF_REFUSE_READONLY;
	if (bad == d.refusals && d.reason[0])
		snprintf(why, sizeof(why), "%s", d.reason);
	else
		qf_refusal_text(bad, why, sizeof(why));
	return qf_err_set(e, EPERM, "%s", why);
}

static int verdict(const struct qual *q, struct qf_qualify_result *r,
		   struct qf_err *e)
{
	char a[32], b[32];

	r->usable = q->lost || q->werr ? bad_lo(q) : q->size;
	if (q->fake && q->alias_est < r->usable)
		r->usable = q->alias_est;
	if (!q->fake && !q->lost && !q->werr)
		return 0;
	qf_size_str(q->size, a, sizeof(a));
	qf_size_str(r->usable, b, sizeof(b));
	if (q->fake)
		return qf_err_set(e, EMEDIUMTYPE,
				  N_("fake capacity: claimed %s, holds about %s"), a, b);
	if (q->lost && r->usable == q->lost_lo)
		return qf_err_set(e, EIO,
				  N_("lost writes: claimed %s, but what is written at byte %llu (%s) is not stored"),
				  a, (unsigned long long)r->usable, b);
	return qf_err_set(e, q->werr_err,
			  N_("write errors: claimed %s, but writes fail at byte %llu (%s): %m"),
			  a, (unsigned long long)r->usable, b);
}

static void good_message(const struct qual *q, struct qf_qualify_result *r)
{
	char a[32], w[32], rr[32];

	qf_size_str(q->size, a, sizeof(a));
	if (r->write_rate <= 0 || r->read_rate <= 0) {
		snprintf(r->message, sizeof(r->message),
			 _("good: all of its %s hold distinct data"), a);
		return;
	}
	qf_size_str((uint64_t)r->write_rate, w, sizeof(w));
	qf_size_str((uint64_t)r->read_rate, rr, sizeof(rr));
	snprintf(r->message, sizeof(r->message),
		 _("good: all of its %s hold distinct data; writes %s/s, reads %s/s"),
		 a, w, rr);
}

static int run(struct qual *q, const char *const *sources,
	       struct qf_qualify_result *r, struct qf_err *e)
{
	struct rates rates = { 0, 0 };
	struct stat st;
	int ret;

	if ((ret = check_policy(q, sources, r, e)) < 0)
		return ret;
	if (cancelled(q))
		return -ECANCELED;
	if ((ret = qf_sink_open(&q->sink, q->path, true, e)) < 0)
		return ret;
	if ((ret = open_reader(q, e)) < 0)
		return ret;
	if (fstat(q->rfd, &st) < 0)
		return qf_err_set(e, errno, "%m");
	if ((ret = qf_fd_size(q->rfd, &st, &q->size)) < 0)
		return qf_err_set(e, ret, N_("cannot get the device size: %m"));
	r->claimed = q->size;
	q->blk = q->sink.lbs > BLOCK_MIN ? q->sink.lbs : BLOCK_MIN;
	q->span = q->size / q->sink.lbs * q->sink.lbs;
	if (q->span < 16 * (uint64_t)q->blk)
		return qf_err_set(e, EINVAL, N_("too small to be checked"));
	if (getrandom(&q->nonce, sizeof(q->nonce), 0) != sizeof(q->nonce))
		q->nonce = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
			   (uint64_t)(uintptr_t)q;
	q->buf = qf_xmemalign(BLOCK_MIN, CHUNK);

	if ((ret = canary(q, e)) < 0 || (ret = write_run(q, &rates, e)) < 0)
		goto out;
	plan_probes(q);
	if ((ret = write_probes(q, e)) < 0 || (ret = read_run(q, &rates, e)) < 0 ||
	    (ret = read_probes(q, e)) < 0)
		goto out;
	if ((q->lost || q->werr) && (ret = search_bad(q, e)) < 0)
		goto out;
	r->write_rate = rates.write;
	r->read_rate = rates.read;
	ret = verdict(q, r, e);
out:
	r->read_only = q->ro;
	r->fake = q->fake;
	r->lost_writes = q->lost;
	r->lost_off = q->lost ? q->lost_lo : 0;
	r->write_errors = q->werr;
	r->error_off = q->werr ? q->werr_lo : 0;
	return ret;
}

int qf_qualify(const char *path, const char *const *sources,
	       volatile const int *cancel, struct qf_qualify_result *r,
	       struct qf_err *e)
{
	struct qf_qualify_result dummy;
	struct qual q;
	struct qf_err le = { 0 };
	double t0 = qf_now();
	size_t n;
	int ret;

	if (!r)
		r = &dummy;
	memset(r, 0, sizeof(*r));
	memset(&q, 0, sizeof(q));
	q.path = path;
	q.cancel = cancel;
	q.rfd = -1;
	q.sink.fd = -1;
	if (!path || !path[0])
		ret = qf_err_set(&le, EINVAL, N_("no target path given"));
	else
		ret = run(&q, sources, r, &le);
	if (ret == -ECANCELED)
		qf_err_set(&le, ECANCELED, N_("cancelled"));
	wipe(&q);
	qf_sink_close(&q.sink);
	if (q.rfd >= 0)
		close(q.rfd);
	free(q.buf);
	free(q.p);
	r->seconds = qf_now() - t0;
	if (ret == 0) {
		good_message(&q, r);
		return 0;
	}
	/* The verdict without the path; the messages of the sink and the
	 * policy name it already. */
	n = path ? strlen(path) : 0;
	if (n && strncmp(le.msg, path, n) == 0 && strncmp(le.msg + n, ": ", 2) == 0)
		snprintf(r->message, sizeof(r->message), "%s", le.msg + n + 2);
	else {
		snprintf(r->message, sizeof(r->message), "%s", le.msg);
		if (n)
			qf_err_prefix(&le, "%s: ", path);
	}
	if (e && !e->code)
		*e = le;
	return ret;
}
