/* verify.c - chunk hashes, the stream checksum written to the flash log,
 * and reading targets back to check them (after a flash or on their own),
 * with the blocks that read back wrong written again through the caller
 * and read again until they are right or the drive counts as bad. */
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

uint64_t qf_chunk_hash(const void *buf, size_t len)
{
	return XXH3_64bits(buf, len);
}

static int cmp_hash(const void *a, const void *b)
{
	const struct qf_chunk_hash *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

void qf_chunk_hash_sort(struct qf_chunk_hash *h, size_t n)
{
	if (n > 1)
		qsort(h, n, sizeof(*h), cmp_hash);
}

static uint64_t zero_hash(uint64_t len)
{
	static const unsigned char zeros[65536];
	XXH3_state_t *st = XXH3_createState();
	uint64_t h;

	if (!st)
		abort();
	XXH3_64bits_reset(st);
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		XXH3_64bits_update(st, zeros, n);
		len -= n;
	}
	h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h;
}

/* The checksum of a virtual disk (or of one partition's bytes), written
 * to the flash log as "xxh3-4m:<16 hex digits>":
 *
 *   split the bytes into consecutive 4 MiB blocks (the last one may be
 *   shorter); h[i] = XXH3-64 (seed 0) of block i;
 *   checksum = XXH3-64 (seed 0) of h[0] h[1] ... each as 8 bytes,
 *   little-endian.
 *
 * It depends only on the bytes, not on how the image stores them, so the
 * same disk gives the same checksum from a qcow2, a raw or a compressed
 * stream, and a target can be checked later by hashing it the same way.
 * Blocks without a hash are zeros. */
uint64_t qf_stream_checksum(const struct qf_chunk_hash *h, size_t n,
			    uint64_t len)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t zfull = zero_hash(len < QF_CHUNK ? 0 : QF_CHUNK);
	uint64_t off, sum;
	size_t j = 0;

	if (!st)
		abort();
	XXH3_64bits_reset(st);
	for (off = 0; off < len; off += QF_CHUNK) {
		uint64_t blen = len - off < QF_CHUNK ? len - off : QF_CHUNK;
		unsigned char le[8];
		uint64_t v;

		while (j < n && h[j].off < off)
			j++;
		if (j < n && h[j].off == off)
			v = h[j].hash;
		else
			v = blen == QF_CHUNK ? zfull : zero_hash(blen);
		put_le64(le, v);
		XXH3_64bits_update(st, le, sizeof(le));
	}
	sum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return sum;
}

/* ----------------------------------------------------------- reading back */

static void go_buffered(struct qf_reader *r)
{
	/* Without O_DIRECT the page cache would answer with what we wrote,
	 * not what the device holds: drop it (the data was synced). */
	posix_fadvise(r->fd, 0, 0, POSIX_FADV_DONTNEED);
	r->direct = false;
}

int qf_reader_open(struct qf_reader *r, const char *path, struct qf_err *e)
{
	struct stat st;
	int ret;

	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	r->direct = r->fd >= 0;
	if (r->fd < 0)
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return qf_err_set(e, errno, "%s: %m", path);
	if (!r->direct)
		go_buffered(r);
	if (fstat(r->fd, &st) < 0) {
		int err = errno;
		qf_reader_close(r);
		return qf_err_set(e, err, "%s: %m", path);
	}
	r->regular = S_ISREG(st.st_mode);
	if ((ret = qf_fd_size(r->fd, &st, &r->size)) < 0) {
		qf_reader_close(r);
		return qf_err_set(e, ret, N_("%s: cannot get the device size: %m"),
				  path);
	}
	return 0;
}

void qf_reader_close(struct qf_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static int reopen_buffered(struct qf_reader *r, struct qf_err *e)
{
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return qf_err_set(e, errno, "%s: %m", r->path);
	close(r->fd);
	r->fd = fd;
	go_buffered(r);
	return 0;
}

/* Read up to @len bytes at @off into @buf (room for @len rounded up to
 * QF_IO_ALIGN, aligned to QF_IO_ALIGN); *got < len only at end of file. */
static int reader_pread(struct qf_reader *r, void *buf, size_t len,
			uint64_t off, size_t *got, struct qf_err *e)
{
	size_t want, done = 0;
	int ret;

	if (r->direct && off % QF_IO_ALIGN && (ret = reopen_buffered(r, e)) < 0)
		return ret;
	/* O_DIRECT wants whole blocks; the caller's buffer has room for the
	 * rounded-up length and the surplus is ignored. */
	want = r->direct ? (len + QF_IO_ALIGN - 1) / QF_IO_ALIGN * QF_IO_ALIGN
			 : len;
	while (done < want) {
		ssize_t n = pread(r->fd, (char *)buf + done, want - done,
				  (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && r->direct) {
				if ((ret = reopen_buffered(r, e)) < 0)
					return ret;
				want = len;
				continue;
			}
			return qf_err_set(e, errno, N_("%s: read error at %llu: %m"),
					  r->path, (unsigned long long)(off + done));
		}
		if (n == 0)
			break;
		done += (size_t)n;
		/* A partial block under O_DIRECT means end of file. */
		if (r->direct && done % QF_IO_ALIGN)
			break;
	}
	*got = done < len ? done : len;
	return 0;
}

static uint64_t first_diff(const unsigned char *a, const unsigned char *b,
			   size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a ? a[i] != b[i] : b[i] != 0)
			return i;
	return len;
}

/* Bytes [off, off + len) of a regular file that are not holes start at
 * the returned offset (off + len when it is all holes). */
static uint64_t skip_holes(struct qf_reader *r, uint64_t off, uint64_t len)
{
	off_t d;

	if (!r->regular)
		return off;
	d = lseek(r->fd, (off_t)off, SEEK_DATA);
	if (d < 0)
		/* ENXIO: only holes up to the end of the file. */
		return errno == ENXIO ? off + len : off;
	if ((uint64_t)d >= off + len)
		return off + len;
	return (uint64_t)d / QF_IO_ALIGN * QF_IO_ALIGN > off
	       ? (uint64_t)d / QF_IO_ALIGN * QF_IO_ALIGN : off;
}

int qf_reader_compare(struct qf_reader *r, const void *expect, size_t len,
		      uint64_t off, void *scratch, size_t scratch_len,
		      uint64_t *mismatch, struct qf_err *e)
{
	const unsigned char *exp = expect;
	uint64_t end = off + len;
	uint64_t lim = r->size <= off ? off : (r->size < end ? r->size : end);
	uint64_t pos = off;
	int ret;

	while (pos < lim) {
		size_t n, got;
		uint64_t d;

		if (!expect) {
			pos = skip_holes(r, pos, lim - pos);
			if (pos >= lim)
				break;
		}
		n = lim - pos < scratch_len ? (size_t)(lim - pos) : scratch_len;
		ret = reader_pread(r, scratch, n, pos, &got, e);
		if (ret < 0)
			return ret;
		if (exp ? memcmp(exp + (pos - off), scratch, got) != 0
			: !qf_buf_is_zero(scratch, got)) {
			d = first_diff(exp ? exp + (pos - off) : NULL, scratch, got);
			*mismatch = pos + d;
			return 1;
		}
		if (got < n) {
			*mismatch = pos + got;
			return 1;
		}
		pos += n;
	}
	if (lim < end) {
		/* The target ends before the image does. */
		*mismatch = lim;
		return 1;
	}
	return 0;
}

static int check_data(const struct qf_readback *v, struct qf_reader *r,
		      const struct qf_chunk_hash *h, uint64_t *mismatch,
		      struct qf_err *e)
{
	size_t got;
	void *want;
	int ret;

	ret = reader_pread(r, v->buf, h->len, h->off, &got, e);
	if (ret < 0)
		return ret;
	if (got < h->len) {
		*mismatch = h->off + got;
		return 1;
	}
	if (qf_chunk_hash(v->buf, h->len) == h->hash)
		return 0;
	*mismatch = h->off;
	/* Narrow the difference down to a byte when the image can be read
	 * again; a rare path, so a temporary buffer is fine. */
	if (v->expected && (want = malloc(h->len))) {
		if (v->expected(v->ctx, want, h->len, h->off) == 0)
			*mismatch = h->off + first_diff(want, v->buf, h->len);
		free(want);
	}
	return 1;
}

void qf_reader_forget(struct qf_reader *r, uint64_t off, uint64_t len)
{
	if (!r->direct)
		posix_fadvise(r->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

/* Check one block: data chunk @h, or (@h NULL) [off, off + len) of a
 * zero run. */
static int check_block(const struct qf_readback *v, struct qf_reader *r,
		       const struct qf_chunk_hash *h, uint64_t off,
		       uint64_t len, uint64_t *mismatch, struct qf_err *e)
{
	if (h)
		return check_data(v, r, h, mismatch, e);
	return qf_reader_compare(r, NULL, len, off, v->buf, QF_CHUNK, mismatch, e);
}

/* The blocks healed so far, for the check at the end. */
struct healed {
	struct block {
		const struct qf_chunk_hash *h;   /* NULL: zeros */
		uint64_t off, len;
	} *b;
	unsigned n;
};

/* Block [off, off + len) read back wrong (first at res->mismatch): write
 * it again and read it again until it reads right.  0 when it does, 1
 * with @res filled, or an error. */
static int heal(const struct qf_readback *v, struct qf_reader *r,
		const struct qf_chunk_hash *h, uint64_t off, uint64_t len,
		struct healed *done, struct qf_readback_result *res,
		struct qf_err *e)
{
	uint64_t first = res->mismatch;
	int ret = 1;

	if (done->n == QF_HEAL_MAX) {
		res->why = QF_BAD_TOO_MANY;
		return 1;
	}
	for (int k = 0; k < QF_HEAL_TRIES && ret == 1; k++) {
		ret = v->rewrite(v->ctx, off, len, !h, e);
		if (ret == 1) {
			res->why = QF_BAD_DIFFERS;
			res->cannot = *e;
			memset(e, 0, sizeof(*e));
			return 1;
		}
		if (ret < 0)
			return ret;
		qf_reader_forget(r, off, len);
		ret = check_block(v, r, h, off, len, &res->mismatch, e);
	}
	if (ret == 1) {
		res->why = QF_BAD_STAYS;
		return 1;
	}
	if (ret == 0) {
		if (!done->b)
			done->b = qf_xcalloc(QF_HEAL_MAX, sizeof(*done->b));
		done->b[done->n++] = (struct block){ h, off, len };
		if (v->healed)
			v->healed(v->ctx, first);
	}
	return ret;
}

/* What was healed must still be right once everything else is written:
 * a drive that maps two offsets to one place (a fake-capacity card)
 * breaks one range by healing another. */
static int recheck(const struct qf_readback *v, struct qf_reader *r,
		   const struct healed *done, struct qf_readback_result *res,
		   struct qf_err *e)
{
	for (unsigned i = 0; i < done->n; i++) {
		const struct block *b = &done->b[i];
		int ret;

		qf_reader_forget(r, b->off, b->len);
		ret = check_block(v, r, b->h, b->off, b->len, &res->mismatch, e);
		if (ret == 1)
			res->why = QF_BAD_RELAPSED;
		if (ret != 0)
			return ret;
	}
	return 0;
}

int qf_readback_verify(const struct qf_readback *v,
		       struct qf_readback_result *res, struct qf_err *e)
{
	struct qf_reader r;
	struct healed done = { 0 };
	uint64_t off = 0;
	size_t j = 0;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = qf_reader_open(&r, v->path, e);
	if (ret < 0)
		return ret;
	while (off < v->len) {
		const struct qf_chunk_hash *h = NULL;
		uint64_t next, a, b;

		if (v->stop && atomic_load(v->stop)) {
			ret = -ECANCELED;
			break;
		}
		while (j < v->nh && v->h[j].off < off)
			j++;
		if (j < v->nh && v->h[j].off == off) {
			h = &v->h[j];
			next = off + h->len;
		} else {
			/* A zero run: up to the next data chunk, checked in
			 * slices so progress and cancellation stay live. */
			uint64_t zend = j < v->nh ? v->h[j].off : v->len;
			next = zend - off > 16 * QF_CHUNK ? off + 16 * QF_CHUNK : zend;
		}
		ret = check_block(v, &r, h, off, next - off, &res->mismatch, e);
		if (ret == 1 && v->rewrite) {
			/* A zero run is rewritten by the chunk-sized block
			 * holding the difference, and checked on from its
			 * end. */
			a = h ? off : res->mismatch / QF_CHUNK * QF_CHUNK;
			b = h ? next : a + QF_CHUNK;
			a = a > off ? a : off;
			b = b < next ? b : next;
			ret = heal(v, &r, h, a, b - a, &done, res, e);
			next = b;
		}
		if (ret != 0)
			break;
		off = next;
		if (v->progress)
			v->progress(v->ctx, off);
	}
	if (ret == 0 && done.n)
		ret = recheck(v, &r, &done, res, e);
	free(done.b);
	qf_reader_close(&r);
	return ret;
}
