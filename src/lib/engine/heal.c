/* heal.c - rewriting what a target did not keep: a block that reads back
 * wrong after the flash gets the bytes the flash wrote there produced
 * again and written once more (verify.c reads it back and counts the
 * tries).
 *
 * Before its table a target holds the image's bytes with the held-back
 * ranges as zeros (table.c), and zeros where the image has none; those
 * are produced again here: zeros, or the image read again (a chain or a
 * raw file at random, a compressed stream by decoding its file once more
 * from the start, see image/reread.c) with the held-back ranges masked,
 * and checked against the hash the workers took of what they wrote.  The
 * held-back ranges themselves are healed by table.c from the bytes it
 * keeps.  Memory: one chunk buffer and the stream's second decoder, only
 * for a target that needs them. */
#include "engine/job.h"
#include "image/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct heal {
	struct qf_reread *rr;
	unsigned char *buf;              /* QF_CHUNK bytes, aligned */
	/* What buf holds, or (err.code) why it could not be produced:
	 * the narrowing of a mismatch and the rewrite after it ask for the
	 * same block. */
	uint64_t off, len;
	bool zeros, have;
	struct qf_err err;
};

static const struct qf_chunk_hash *hash_at(const struct feed *fe, uint64_t off)
{
	size_t lo = 0, hi = fe->nh;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fe->h[mid].off == off)
			return &fe->h[mid];
		if (fe->h[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Read the image's bytes of the block again, as the workers handed them
 * to the writers. */
static int reproduce(struct target *t, struct heal *hl, uint64_t off,
		     uint64_t len, struct qf_err *e)
{
	const struct feed *fe = t->fe;
	const struct qf_chunk_hash *h = hash_at(fe, off);
	int ret;

	if (!hl->rr)
		hl->rr = qf_image_reread_new(t->job->img);
	if ((ret = qf_image_reread(hl->rr, hl->buf, len, fe->vbase + off, e)) < 0)
		return ret;
	table_mask(fe, off, len, hl->buf);
	/* Whatever went wrong in between (an image file replaced, a server
	 * now serving other bytes), these are not the bytes that were
	 * written. */
	if (!h || h->len != len || qf_chunk_hash(hl->buf, len) != h->hash)
		return qf_err_set(e, EIO, N_("the image no longer gives the bytes that were written there"));
	return 0;
}

/* The bytes of block [off, off + len) (at most QF_CHUNK: a data chunk,
 * or a block of a zero run) in the heal buffer: 0, or why they cannot be
 * had. */
static int produce(struct target *t, uint64_t off, uint64_t len, bool zeros,
		   struct qf_err *e)
{
	struct heal *hl = t->heal;
	int ret = 0;

	if (!hl)
		hl = t->heal = qf_xcalloc(1, sizeof(*hl));
	if (hl->have && hl->off == off && hl->len == len && hl->zeros == zeros) {
		if (hl->err.code)
			*e = hl->err;
		return hl->err.code;
	}
	if (!hl->buf)
		hl->buf = buf_memalign(QF_CHUNK);
	memset(&hl->err, 0, sizeof(hl->err));
	if (zeros)
		memset(hl->buf, 0, len);
	else
		ret = reproduce(t, hl, off, len, &hl->err);
	hl->off = off;
	hl->len = len;
	hl->zeros = zeros;
	hl->have = true;
	if (ret < 0)
		*e = hl->err;
	return ret;
}

int heal_expected(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct target *t = ctx;
	struct qf_err e = { 0 };
	int ret = produce(t, off, len, false, &e);

	if (ret == 0)
		memcpy(buf, t->heal->buf, len);
	return ret;
}

int heal_rewrite(void *ctx, uint64_t off, uint64_t len, bool zeros,
		 struct qf_err *e)
{
	struct target *t = ctx;
	int ret;

	if (produce(t, off, len, zeros, e) < 0)
		return 1;
	/* Written whole, even on a target that read as zeros before: the
	 * block is there to be stored again, not skipped. */
	if ((ret = qf_sink_write(&t->sink, t->heal->buf, len, off, e)) < 0)
		return ret;
	target_add_done(t, 0, len, 0);
	return qf_sink_sync(&t->sink, e);
}

void heal_healed(void *ctx, uint64_t mismatch)
{
	target_healed(ctx, mismatch);
}

void heal_end(struct target *t)
{
	struct heal *hl = t->heal;

	if (!hl)
		return;
	qf_image_reread_free(hl->rr);
	free(hl->buf);
	free(hl);
	t->heal = NULL;
}
