/* bzip2.c - bzip2-compressed raw images (libbz2): concatenated streams
 * make one image, as bzip2 -d and the files of pbzip2 and lbzip2 have
 * them; anything else after the last stream is an error.  bzip2 records
 * no size, so the image is sized by a counting pass.
 *
 * Blocks are decoded on several threads (bzip2_blocks.c).  When the file
 * is not what the block finder took it for, it is decoded again in order
 * from its first byte, the bytes already given skipped: libbz2 reading
 * the streams whole has the last word on a damaged file. */
#include "codec/codec.h"
#include "codec/bzip2_blocks.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct bz {
	bz_stream bs;
	bool live;                   /* bs is initialised */
	bool boundary;               /* between two streams */
	uint64_t streams;            /* streams completed */
	struct bzp *par;             /* the parallel decoder, or NULL */
	uint64_t skip;               /* decoded bytes to drop (after it) */
};

static bool bz_probe(const uint8_t *head, size_t n)
{
	/* "BZh", the block size, then a block or the end-of-stream magic. */
	static const uint8_t block[6] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const uint8_t eos[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

	return n >= 10 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h' &&
	       head[3] >= '1' && head[3] <= '9' &&
	       (memcmp(head + 4, block, 6) == 0 || memcmp(head + 4, eos, 6) == 0);
}

static int stream_start(struct qf_codec *c, struct qf_err *e)
{
	struct bz *b = c->priv;

	if (b->live)
		BZ2_bzDecompressEnd(&b->bs);
	memset(&b->bs, 0, sizeof(b->bs));
	b->live = BZ2_bzDecompressInit(&b->bs, 0, 0) == BZ_OK;
	b->boundary = true;
	if (!b->live)
		return qf_err_set(e, ENOMEM, N_("%s: cannot set up the bzip2 decoder"),
				  c->in.src->name);
	return 0;
}

static int bz_open(struct qf_codec *c, struct qf_err *e)
{
	int ret;

	struct bz *b = qf_xcalloc(1, sizeof(struct bz));

	c->priv = b;
	if ((ret = stream_start(c, e)) < 0) {
		free(c->priv);
		c->priv = NULL;
		return ret;
	}
	b->par = bzp_new(c);
	return 0;
}

/* Decoded bytes the parallel decoder gave already, decoded again in
 * order and dropped. */
static int drop_given(struct qf_codec *c, struct qf_err *e);

static int seq_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e);

static int bz_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		   struct qf_err *e)
{
	struct bz *b = c->priv;
	int ret;

	if (b->par) {
		ret = bzp_read(b->par, out, n, got, e);
		if (ret != -EAGAIN)
			return ret;
		/* From the start, in order. */
		b->skip = bzp_emitted(b->par);
		bzp_free(b->par);
		b->par = NULL;
		c->in.pos = c->in.len = 0;
		c->in.next = 0;
		if ((ret = stream_start(c, e)) < 0)
			return ret;
		b->streams = 0;
	}
	if (b->skip && (ret = drop_given(c, e)) < 0)
		return ret;
	return seq_read(c, out, n, got, e);
}

static int drop_given(struct qf_codec *c, struct qf_err *e)
{
	struct bz *b = c->priv;

	while (b->skip) {
		uint8_t scratch[65536];
		size_t k = b->skip < sizeof(scratch) ? (size_t)b->skip
						     : sizeof(scratch), got = 0;
		int ret = seq_read(c, scratch, k, &got, e);

		if (ret < 0)
			return ret;
		if (got < k)
			return qf_err_set(e, EIO,
					  N_("%s: the bzip2 data ends before the bytes already decoded"),
					  c->in.src->name);
		b->skip -= k;
	}
	return 0;
}

static int seq_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	struct bz *b = c->priv;
	struct qf_codec_in *in = &c->in;

	while (*got < n) {
		size_t avail, room, used, made;
		bool eof = false;
		int r, ret;

		if (in->pos == in->len) {
			if ((ret = qf_codec_refill(c, &eof, e)) < 0)
				return ret;
			if (eof && b->boundary)
				return 0;
		}
		if (!eof && b->boundary && b->streams && in->buf[in->pos] != 'B')
			return qf_err_set(e, EINVAL,
					  N_("%s: unexpected data after the last bzip2 stream at compressed offset %llu"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c));
		if (!b->live && (ret = stream_start(c, e)) < 0)
			return ret;
		avail = in->len - in->pos;
		room = n - *got;
		if (avail > UINT_MAX)
			avail = UINT_MAX;
		if (room > UINT_MAX)
			room = UINT_MAX;
		b->bs.next_in = (char *)in->buf + in->pos;
		b->bs.avail_in = (unsigned)avail;
		b->bs.next_out = (char *)out + *got;
		b->bs.avail_out = (unsigned)room;
		r = BZ2_bzDecompress(&b->bs);
		used = avail - b->bs.avail_in;
		made = room - b->bs.avail_out;
		in->pos += used;
		*got += made;
		if (r == BZ_STREAM_END) {
			b->streams++;
			if ((ret = stream_start(c, e)) < 0)
				return ret;
			continue;
		}
		if (r == BZ_MEM_ERROR)
			return qf_err_set(e, ENOMEM, N_("%s: out of memory decompressing"),
					  in->src->name);
		if (r != BZ_OK)
			return qf_err_set(e, EINVAL,
					  N_("%s: corrupt bzip2 data near compressed offset %llu"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c));
		if (used || made)
			b->boundary = false;
		else if (eof)
			return qf_err_set(e, EIO,
					  N_("%s: the bzip2 data is truncated (the file ends inside a bzip2 stream)"),
					  in->src->name);
	}
	return 0;
}

static void bz_rewind(struct qf_codec *c)
{
	struct bz *b = c->priv;
	struct qf_err e = { 0 };

	/* On failure b->live stays false and the next read tries again. */
	stream_start(c, &e);
	b->streams = 0;
	b->skip = 0;
	bzp_free(b->par);
	b->par = bzp_new(c);
}

static void bz_close(struct qf_codec *c)
{
	struct bz *b = c->priv;

	if (!b)
		return;
	if (b->live)
		BZ2_bzDecompressEnd(&b->bs);
	bzp_free(b->par);
	free(b);
}

const struct qf_codec_ops qf_codec_bzip2 = {
	.name = "bzip2",
	.format = QF_FORMAT_BZIP2,
	.probe = bz_probe,
	.open = bz_open,
	.read = bz_read,
	.rewind = bz_rewind,
	.close = bz_close,
};
