/* table.c - the bytes a target gets last.
 *
 * A drive must never look like a disk with a layout unless it is complete.
 * So before any data reaches a target its head and tail are wiped (the
 * MBR/GPT area and the last MiB, where a backup GPT and end-of-device
 * superblocks live), and the ranges of the image that hold its partition
 * table and first superblocks are held back: workers capture their bytes
 * as they stream past and hand zeros in their place to the writers, and
 * hash those zeros, so the first read-back checks exactly what is on the
 * target then.  Once the rest is written (and verified), the held-back
 * ranges are written with their final content: the image's bytes with the
 * target's own fix-ups laid over them (qf_layout_plan): everything but
 * sector 0, synced and read back, then sector 0, synced and read back.
 * With -verify a piece that reads back wrong is written again and read
 * again, as the data is (verify.c, heal.c); one that stays wrong takes
 * the table away again. */
#include "engine/job.h"
#include "image/ptable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wiped at both ends of a target, and at least that much of a whole disk
 * or partition is held back at each end. */
#define WIPE_LEN ((uint64_t)1 << 20)
/* A table region larger than this is held back only up to this much:
 * the structures that make a disk look partitioned are within it. */
#define TABLE_MAX ((uint64_t)16 << 20)
/* Final bytes are assembled and checked in pieces of this size. */
#define PIECE ((size_t)1 << 20)
_Static_assert(2 * PIECE <= QF_CHUNK, "a chunk buffer holds two pieces");
/* What of each wiped end is read back: the MBR, both GPT headers and
 * their entries, the first superblocks. */
#define CHECK_LEN ((uint64_t)64 << 10)

static uint64_t down4k(uint64_t v)
{
	return v / QF_IO_ALIGN * QF_IO_ALIGN;
}

static uint64_t up4k(uint64_t v)
{
	return v > UINT64_MAX - QF_IO_ALIGN ? UINT64_MAX
					    : down4k(v + QF_IO_ALIGN - 1);
}

static int cmp_defer(const void *a, const void *b)
{
	const struct defer *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Add [off, off + len) (clamped to the feed, widened to whole 4 KiB
 * blocks) to the held-back ranges; they stay sorted and disjoint. */
static void defer_add(struct feed *fe, uint64_t off, uint64_t len)
{
	uint64_t a = down4k(off), b;
	int i, j;

	if (off >= fe->len || !len)
		return;
	b = len > fe->len - off ? fe->len : up4k(off + len);
	if (b > fe->len)
		b = fe->len;
	fe->dr = realloc(fe->dr, (fe->ndr + 1) * sizeof(*fe->dr));
	if (!fe->dr)
		abort();
	fe->dr[fe->ndr++] = (struct defer){ a, b - a, NULL };
	qsort(fe->dr, fe->ndr, sizeof(*fe->dr), cmp_defer);
	for (i = 0, j = 0; i < fe->ndr; i++) {
		struct defer *d = &fe->dr[i];
		if (j && d->off <= fe->dr[j - 1].off + fe->dr[j - 1].len) {
			uint64_t end = d->off + d->len;
			struct defer *p = &fe->dr[j - 1];
			if (end > p->off + p->len)
				p->len = end - p->off;
			continue;
		}
		fe->dr[j++] = *d;
	}
	fe->ndr = j;
}

static void defer_ends(struct feed *fe, uint64_t head, uint64_t tail)
{
	uint64_t w = fe->len < WIPE_LEN ? fe->len : WIPE_LEN;

	if (head < w)
		head = w;
	if (head > TABLE_MAX)
		head = TABLE_MAX;
	if (tail > fe->len - w)
		tail = fe->len - w;
	if (fe->len - tail > TABLE_MAX)
		tail = fe->len - TABLE_MAX;
	defer_add(fe, 0, head);
	defer_add(fe, tail, fe->len - tail);
}

void table_plan(struct qf_job *job)
{
	int i, k;

	for (i = 0; i < job->nfe; i++) {
		struct feed *fe = job->fe[i];

		if (!fe->len)
			continue;
		if (fe->partition == 0 && job->pt && job->pt->kind[0])
			defer_ends(fe, job->pt->head_end, job->pt->tail_start);
		else
			defer_ends(fe, 0, fe->len);
		/* Every target's fix-ups inside the image are held back too
		 * (an EBR in the middle of the disk, say). */
		for (k = 0; k < fe->nt; k++) {
			const struct qf_layout *l = &fe->t[k]->lay;
			for (int p = 0; p < l->npatch; p++)
				defer_add(fe, l->patch[p].off, l->patch[p].len);
		}
		for (k = 0; k < fe->ndr; k++)
			fe->dr[k].img = qf_xcalloc(1, fe->dr[k].len);
	}
}

bool table_overlaps(const struct feed *fe, uint64_t off, uint64_t len)
{
	for (int i = 0; i < fe->ndr; i++)
		if (fe->dr[i].off < off + len && off < fe->dr[i].off + fe->dr[i].len)
			return true;
	return false;
}

/* The part [*a, *b) of [off, off + len) that held-back range @d covers;
 * false when they do not meet. */
static bool overlap(const struct defer *d, uint64_t off, uint64_t len,
		    uint64_t *a, uint64_t *b)
{
	*a = d->off > off ? d->off : off;
	*b = d->off + d->len < off + len ? d->off + d->len : off + len;
	return *a < *b;
}

void table_capture(struct feed *fe, uint64_t off, uint64_t len,
		   const unsigned char *buf)
{
	uint64_t a, b;

	for (int i = 0; i < fe->ndr; i++)
		if (overlap(&fe->dr[i], off, len, &a, &b))
			memcpy(fe->dr[i].img + (a - fe->dr[i].off),
			       buf + (a - off), b - a);
}

void table_mask(const struct feed *fe, uint64_t off, uint64_t len,
		unsigned char *buf)
{
	uint64_t a, b;

	for (int i = 0; i < fe->ndr; i++)
		if (overlap(&fe->dr[i], off, len, &a, &b))
			memset(buf + (a - off), 0, b - a);
}

void table_patch(const struct target *t, uint64_t off, uint64_t len,
		 unsigned char *buf)
{
	const struct qf_layout *l = &t->lay;

	for (int i = 0; i < l->npatch; i++) {
		const struct qf_patch *p = &l->patch[i];
		uint64_t a = p->off > off ? p->off : off;
		uint64_t b = p->off + p->len < off + len ? p->off + p->len
							  : off + len;
		if (a < b)
			memcpy(buf + (a - off), p->data + (a - p->off), b - a);
	}
}

/* The final bytes of [off, off + len) of target @t into @buf: the image's
 * held-back bytes (zeros elsewhere: what the wipe left) with the target's
 * fix-ups over them. */
static void final_bytes(const struct target *t, uint64_t off, uint64_t len,
			unsigned char *buf)
{
	const struct feed *fe = t->fe;
	uint64_t a, b;

	memset(buf, 0, len);
	for (int i = 0; i < fe->ndr; i++)
		if (overlap(&fe->dr[i], off, len, &a, &b))
			memcpy(buf + (a - off), fe->dr[i].img + (a - fe->dr[i].off),
			       b - a);
	table_patch(t, off, len, buf);
}

/* Call @fn once on the 4 KiB blocks of [from, tsize) from the first to
 * the last that fix-ups of @t land in (a moved backup GPT is one run at
 * the end of the target), if any. */
static int tail_blocks(struct target *t, uint64_t from,
		       int (*fn)(struct target *t, uint64_t off, uint64_t len,
				 void *ctx),
		       void *ctx)
{
	uint64_t a = UINT64_MAX, b = 0;

	for (int i = 0; i < t->lay.npatch; i++) {
		const struct qf_patch *p = &t->lay.patch[i];
		uint64_t pa = down4k(p->off), pb = up4k(p->off + p->len);

		if (pb > t->tsize)
			pb = t->tsize;
		if (pa < from)
			pa = from;
		if (pa >= pb)
			continue;
		if (pa < a)
			a = pa;
		if (pb > b)
			b = pb;
	}
	return a < b ? fn(t, a, b - a, ctx) : 0;
}

/* Which of those ranges a pass goes over: sector 0 (the 4 KiB block
 * that makes a disk look partitioned) goes alone. */
enum part { PART_ALL, PART_REST, PART_SECTOR0 };

/* The ranges of the target written last: the feed's held-back ranges and,
 * past the end of the feed, the wiped tail of the target with whatever
 * fix-ups land there (a moved backup GPT); with @patches_only, just the
 * fix-ups past the feed (a target that qflash may not have wiped).  Calls
 * @fn on those of part @which, in the order they are to be written. */
static int each_region(struct target *t, enum part which, bool patches_only,
		       int (*fn)(struct target *t, uint64_t off, uint64_t len,
				 void *ctx),
		       void *ctx)
{
	const struct feed *fe = t->fe;
	uint64_t tsize = t->tsize, extra;
	int i, ret;

	extra = tsize > WIPE_LEN ? tsize - WIPE_LEN : 0;
	if (extra < fe->len || patches_only)
		extra = patches_only ? tsize : fe->len;
	/* Fix-ups past the wiped tail (none in practice) get a region of
	 * their own. */
	for (i = 0; i < t->lay.npatch && which != PART_SECTOR0; i++) {
		const struct qf_patch *p = &t->lay.patch[i];
		uint64_t a = p->off, b = p->off + p->len;
		if (a < fe->len || a >= extra)
			continue;
		if (b > extra)
			b = extra;
		if ((ret = fn(t, a, b - a, ctx)) < 0)
			return ret;
	}
	/* The tail holds zeros (wiped, or a new file): only the 4 KiB
	 * blocks that fix-ups land in are written. */
	if (extra < tsize && which != PART_SECTOR0 &&
	    (ret = tail_blocks(t, extra, fn, ctx)) < 0)
		return ret;
	for (i = fe->ndr - 1; i >= 0 && !patches_only; i--) {
		uint64_t a = fe->dr[i].off, len = fe->dr[i].len;
		uint64_t s0 = len < QF_IO_ALIGN ? len : QF_IO_ALIGN;

		if (a == 0 && which == PART_REST) {
			a = s0;
			len -= s0;
		} else if (a == 0 && which == PART_SECTOR0) {
			len = s0;
		} else if (which == PART_SECTOR0) {
			continue;
		}
		if (len && (ret = fn(t, a, len, ctx)) < 0)
			return ret;
	}
	return 0;
}

/* Never written: zeros without allocating or touching a page. */
static unsigned char zero_piece[PIECE] __attribute__((aligned(QF_IO_ALIGN)));

struct region_ctx {
	unsigned char *buf;           /* PIECE bytes, aligned */
	unsigned char *got;           /* PIECE bytes, aligned (reading) */
	bool zeros;                   /* write zeros: undo the table */
	bool heal;                    /* rewrite what reads back wrong */
	bool healed;                  /* something was */
	struct qf_readback_result res;/* what stayed wrong */
	struct qf_err *e;
};

static int write_region(struct target *t, uint64_t off, uint64_t len,
			void *arg)
{
	struct region_ctx *c = arg;

	while (len) {
		size_t n = len < PIECE ? (size_t)len : PIECE;
		int ret;

		if (!c->zeros)
			final_bytes(t, off, n, c->buf);
		if ((ret = qf_sink_write(&t->sink, c->zeros ? zero_piece : c->buf,
					 n, off, c->e)) < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

/* A piece that read back wrong (first at *mm), written again with its
 * final bytes (in c->buf) and read again, up to QF_HEAL_TRIES times:
 * 0 once it reads right, 1 with *mm where it still differs, or an
 * error. */
static int heal_piece(struct target *t, struct region_ctx *c, uint64_t off,
		      size_t n, uint64_t *mm)
{
	uint64_t first = *mm;
	int ret = 1;

	for (int k = 0; k < QF_HEAL_TRIES && ret == 1; k++) {
		if ((ret = qf_sink_write(&t->sink, c->buf, n, off, c->e)) < 0 ||
		    (ret = qf_sink_sync(&t->sink, c->e)) < 0)
			return ret;
		qf_reader_forget(&t->rd, off, n);
		ret = qf_reader_compare(&t->rd, c->buf, n, off, c->got, PIECE, mm,
					c->e);
	}
	if (ret == 0) {
		target_healed(t, first);
		c->healed = true;
	}
	return ret;
}

static int check_region(struct target *t, uint64_t off, uint64_t len,
			void *arg)
{
	struct region_ctx *c = arg;

	while (len) {
		size_t n = len < PIECE ? (size_t)len : PIECE;
		uint64_t mm;
		int ret;

		final_bytes(t, off, n, c->buf);
		ret = qf_reader_compare(&t->rd, c->buf, n, off, c->got, PIECE,
					&mm, c->e);
		if (ret == 1 && c->heal)
			ret = heal_piece(t, c, off, n, &mm);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			c->res.mismatch = mm;
			return 1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

static int with_buffers(struct target *t, struct region_ctx *c, bool read,
			enum part which, bool patches_only,
			int (*fn)(struct target *, uint64_t, uint64_t, void *))
{
	/* One of the pool's chunk buffers, whose pages the flash has
	 * touched already (a fresh buffer's page faults cost more than the
	 * writes), holding both halves: never one held while waiting for
	 * another. */
	struct buf *b = pool_get_buf(t->job);
	int ret;

	c->buf = b->data;
	c->got = read ? b->data + PIECE : NULL;
	ret = each_region(t, which, patches_only, fn, c);
	pool_put(t->job, b, false);
	return ret;
}

static int open_reader(struct target *t, struct qf_err *e)
{
	int ret;

	if (t->rd_open)
		return 0;
	if ((ret = qf_reader_open(&t->rd, t->path, e)) < 0)
		return ret;
	t->rd_open = true;
	return 0;
}

/* Write part @which and sync it; with @check read it back, healing what
 * the drive did not keep. */
static int write_part(struct target *t, struct region_ctx *c, enum part which,
		      bool check)
{
	int ret = with_buffers(t, c, false, which, false, write_region);

	if (ret == 0)
		ret = qf_sink_sync(&t->sink, c->e);
	if (ret == 0 && check) {
		c->heal = true;
		c->res.why = QF_BAD_STAYS;
		ret = with_buffers(t, c, true, which, false, check_region);
	}
	return ret;
}

int table_write(struct target *t, bool check, struct qf_readback_result *bad,
		struct qf_err *e)
{
	struct region_ctx c = { .e = e };
	int ret = check ? open_reader(t, e) : 0;

	/* Sector 0 only once the rest is on the drive (and reads back
	 * right): until then it does not look like a disk with a layout. */
	if (ret == 0)
		ret = write_part(t, &c, PART_REST, check);
	if (ret == 0)
		ret = write_part(t, &c, PART_SECTOR0, check);
	/* Rewriting one place must not have broken another. */
	if (ret == 0 && c.healed) {
		c.heal = false;
		c.res.why = QF_BAD_RELAPSED;
		ret = with_buffers(t, &c, true, PART_ALL, false, check_region);
	}
	if (ret == 1)
		*bad = c.res;
	return ret;
}

int table_unwrite(struct target *t, struct qf_err *e)
{
	/* Sector 0 first this time: the layout goes before anything else. */
	struct region_ctx c = { .e = e, .zeros = true };
	int ret = with_buffers(t, &c, false, PART_SECTOR0, false, write_region);

	if (ret == 0)
		ret = qf_sink_sync(&t->sink, e);
	if (ret == 0)
		ret = with_buffers(t, &c, false, PART_REST, false, write_region);
	return ret < 0 ? ret : qf_sink_sync(&t->sink, e);
}

int table_verify(struct target *t, bool patches_only, uint64_t *mismatch,
		 struct qf_err *e)
{
	struct region_ctx c = { .e = e };
	bool opened = !t->rd_open;
	int ret;

	if ((ret = open_reader(t, e)) < 0)
		return ret;
	ret = with_buffers(t, &c, true, PART_ALL, patches_only, check_region);
	if (opened) {
		qf_reader_close(&t->rd);
		t->rd_open = false;
	}
	if (ret == 1)
		*mismatch = c.res.mismatch;
	return ret;
}

static int write_zeros(struct target *t, uint64_t off, uint64_t len,
			struct qf_err *e)
{
	int ret = 0;

	while (len && ret == 0) {
		size_t n = len < PIECE ? (size_t)len : PIECE;
		ret = qf_sink_write(&t->sink, zero_piece, n, off, e);
		off += n;
		len -= n;
	}
	return ret;
}

/* Read the wiped ends back, where a partition table lives: a card that
 * drops writes keeps its old table there, and no later step could take
 * it away.  What reads back wrong is zeroed again, as the verify does
 * with data, before the drive counts as bad. */
static int wipe_check(struct target *t, uint64_t head, uint64_t tail,
		      struct qf_err *e)
{
	unsigned char *scratch = buf_memalign(PIECE);
	uint64_t mm = 0, first = 0;
	int k, ret;

	/* The target's reader, kept open for the verify (the writer closes
	 * it at the end). */
	if ((ret = open_reader(t, e)) < 0)
		goto out;
	if (head > CHECK_LEN)
		head = CHECK_LEN;
	if (t->tsize - tail > CHECK_LEN)
		tail = t->tsize - CHECK_LEN;
	for (k = 0;; k++) {
		uint64_t a, len;

		ret = qf_reader_compare(&t->rd, NULL, head, 0, scratch, PIECE, &mm, e);
		if (ret == 0 && tail < t->tsize)
			ret = qf_reader_compare(&t->rd, NULL, t->tsize - tail, tail,
						scratch, PIECE, &mm, e);
		if (ret != 1 || k == QF_HEAL_TRIES)
			break;
		first = k ? first : mm;
		a = mm < head ? 0 : tail;
		len = mm < head ? head : t->tsize - tail;
		if ((ret = write_zeros(t, a, len, e)) < 0 ||
		    (ret = qf_sink_sync(&t->sink, e)) < 0)
			goto out;
		qf_reader_forget(&t->rd, a, len);
	}
	if (ret == 0 && k)
		target_healed(t, first);
	if (ret == 1)
		ret = qf_err_set(e, EIO,
				 N_("%s: the drive did not keep what was written: after wiping it and writing the zeros again %d times, byte %llu still holds old data (a failing or fake card?)"),
				 t->path, QF_HEAL_TRIES, (unsigned long long)mm);
out:
	free(scratch);
	return ret;
}

int table_wipe(struct target *t, struct qf_err *e)
{
	uint64_t tsize = t->tsize, w = tsize < WIPE_LEN ? tsize : WIPE_LEN;
	uint64_t head = w;
	int ret;

	if (t->sink.fresh || !tsize)
		return 0;
	/* The whole held-back head, when it is longer than the wipe. */
	if (t->fe->ndr && t->fe->dr[0].off == 0 && t->fe->dr[0].len > head)
		head = t->fe->dr[0].len;
	/* The device's own zeroing (write-zeroes, or a punched hole under
	 * a loop device) where it has it, plain writes of zeros where not. */
	if ((ret = qf_sink_zero(&t->sink, 0, head, e)) < 0)
		return ret;
	if (tsize - w > head &&
	    (ret = qf_sink_zero(&t->sink, tsize - w, w, e)) < 0)
		return ret;
	/* Durable before the first data byte: a drive whose old table
	 * survived a power cut next to new data would look valid. */
	if ((ret = qf_sink_sync(&t->sink, e)) < 0)
		return ret;
	return wipe_check(t, head, tsize - w > head ? tsize - w : tsize, e);
}
