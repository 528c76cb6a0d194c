/* lz4.c - raw images in lz4 frames (liblz4): concatenated and skippable
 * frames, as lz4 -d reads them (the legacy format of lz4 -l is not
 * read).  A local file is sized by following the frame and block
 * headers when every frame records its content size, a remote one by its
 * first frame's header, proved right by the end of the data; else by a
 * decoding pass, as lz4 only writes the size when asked to.
 *
 * A frame's content checksum (lz4 writes one by default) is checked here
 * with libxxhash rather than by liblz4: liblz4's own XXH32 ran at a
 * tenth of libxxhash's speed on the bench machine and took four fifths of
 * the decoding time (1.46 of 1.79 s for the 2 GiB bench disk).  Frames
 * with block checksums are left to liblz4, which checks both. */
#include "codec/codec.h"

#include <errno.h>
#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct lz4 {
	LZ4F_dctx *dctx;
	bool boundary;               /* between two frames */
	/* The frame under way: whether its header is decoded yet, and if so
	 * whether its content checksum is ours to check (sum). */
	bool known, sum;
	XXH32_state_t *xs;           /* of its content so far */
	uint8_t last[4];             /* the last compressed bytes consumed */
};

static bool lz4_probe(const uint8_t *head, size_t n)
{
	/* A file opening with a skippable frame is taken for zstd, whose
	 * skippable frames share the magic. */
	return n >= 4 && get_le32(head) == LZ4F_MAGICNUMBER;
}

static int truncated(const struct qf_source *in, struct qf_err *e)
{
	return qf_err_set(e, EIO,
			  N_("%s: the lz4 data is truncated (the file ends inside an lz4 frame)"),
			  in->name);
}

static int lz4_open(struct qf_codec *c, struct qf_err *e)
{
	struct lz4 *z = qf_xcalloc(1, sizeof(*z));

	z->xs = XXH32_createState();
	if (!z->xs ||
	    LZ4F_isError(LZ4F_createDecompressionContext(&z->dctx, LZ4F_VERSION))) {
		XXH32_freeState(z->xs);
		free(z);
		return qf_err_set(e, ENOMEM, N_("%s: cannot set up the lz4 decoder"),
				  c->in.src->name);
	}
	z->boundary = true;
	c->priv = z;
	return 0;
}

/* After a call that consumed @p[0, @n): the frame's last 4 bytes so far. */
static void keep_last(struct lz4 *z, const uint8_t *p, size_t n)
{
	if (n >= 4) {
		memcpy(z->last, p + n - 4, 4);
	} else if (n) {
		memmove(z->last, z->last + n, 4 - n);
		memcpy(z->last + 4 - n, p, n);
	}
}

/* Once liblz4 has the frame's header: whether the content checksum is
 * ours, liblz4 then skipping its own. */
static void learn_frame(struct lz4 *z)
{
	LZ4F_frameInfo_t fi;
	size_t none = 0;

	if (LZ4F_isError(LZ4F_getFrameInfo(z->dctx, &fi, NULL, &none)))
		return;              /* the header is not in yet */
	z->known = true;
	z->sum = fi.frameType == LZ4F_frame &&
		 fi.contentChecksumFlag == LZ4F_contentChecksumEnabled &&
		 fi.blockChecksumFlag == LZ4F_noBlockChecksum;
}

/* At the end of a frame whose content checksum is ours. */
static int check_sum(struct qf_codec *c, struct lz4 *z, struct qf_err *e)
{
	if (XXH32_digest(z->xs) == get_le32(z->last))
		return 0;
	return qf_err_set(e, EINVAL,
			  N_("%s: corrupt lz4 data: the content checksum of the frame ending at compressed offset %llu does not match"),
			  c->in.src->name,
			  (unsigned long long)qf_codec_consumed(c));
}

static int lz4_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	struct lz4 *z = c->priv;
	struct qf_codec_in *in = &c->in;

	while (*got < n) {
		LZ4F_decompressOptions_t opt = { 0 };
		size_t src_len, dst_len, r;
		bool eof = false;
		int ret;

		if (in->pos == in->len) {
			if ((ret = qf_codec_refill(c, &eof, e)) < 0)
				return ret;
			if (eof && z->boundary)
				return 0;
		}
		if (z->boundary) {
			z->known = z->sum = false;
			XXH32_reset(z->xs, 0);
		}
		src_len = in->len - in->pos;
		dst_len = n - *got;
		/* Until the header is known liblz4 sums too; from then on,
		 * once told to skip, for the rest of the frame. */
		opt.skipChecksums = z->sum;
		/* Stops at the end of a frame; the next call starts the next
		 * one (or skips a skippable frame). */
		r = LZ4F_decompress(z->dctx, out + *got, &dst_len, in->buf + in->pos,
				    &src_len, &opt);
		if (LZ4F_isError(r))
			return qf_err_set(e, EINVAL,
					  N_("%s: corrupt lz4 data near compressed offset %llu: %s"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c),
					  LZ4F_getErrorName(r));
		if (!z->known || z->sum)
			XXH32_update(z->xs, out + *got, dst_len);
		keep_last(z, in->buf + in->pos, src_len);
		in->pos += src_len;
		*got += dst_len;
		if (!z->known)
			learn_frame(z);
		if (r == 0 && z->sum && (ret = check_sum(c, z, e)) < 0)
			return ret;
		if (r == 0)
			z->boundary = true;
		else if (src_len || dst_len)
			z->boundary = false;
		else if (eof)
			return truncated(in->src, e);
	}
	return 0;
}

/* The frame header at @p (@avail bytes there, magic included): its
 * length, content size (UINT64_MAX when not recorded) and whether blocks
 * and content carry checksums.  False when it is malformed or cut. */
static bool lz4_header(const uint8_t *p, size_t avail, size_t *hlen,
		       uint64_t *size, bool *block_cks, bool *content_cks)
{
	unsigned flg;
	size_t h = 6;

	if (avail < 7)
		return false;
	flg = p[4];
	if ((flg >> 6) != 1 || (flg & 0x02) || (p[5] & 0x8f))
		return false;        /* version 01, reserved bits clear */
	*block_cks = flg >> 4 & 1;
	*content_cks = flg >> 2 & 1;
	*size = UINT64_MAX;
	if (flg & 0x08) {
		if (avail < h + 8)
			return false;
		*size = get_le64(p + h);
		h += 8;
	}
	if (flg & 0x01)
		h += 4;              /* dictionary id */
	if (avail < h + 1)
		return false;
	*hlen = h + 1;               /* header checksum */
	return true;
}

/* qf_codec_walk's step: one frame, following its block headers. */
static int lz4_frame(struct qf_codec_peek *pk, const uint8_t *p, size_t n,
		     uint64_t *off, uint64_t *size, struct qf_err *e)
{
	size_t hlen;
	bool bcks, ccks;
	int ret;

	if (get_le32(p) != LZ4F_MAGICNUMBER)
		return qf_err_set(e, EINVAL,
				  N_("%s: unexpected data at compressed offset %llu (not an lz4 frame)"),
				  pk->in->name, (unsigned long long)*off);
	if (!lz4_header(p, n, &hlen, size, &bcks, &ccks))
		return qf_err_set(e, EINVAL,
				  N_("%s: bad lz4 frame header at compressed offset %llu"),
				  pk->in->name, (unsigned long long)*off);
	if (*size == UINT64_MAX)
		return 0;
	*off += hlen;
	for (;;) {
		uint32_t bsize;

		if ((ret = qf_codec_peek_at(pk, *off, 4, &p, e)) != 0)
			return ret;
		bsize = get_le32(p);
		*off += 4;
		if (bsize == 0)
			break;       /* end mark */
		/* The high bit marks a block stored uncompressed. */
		*off += (bsize & 0x7fffffffu) + (bcks ? 4 : 0);
	}
	if (ccks)
		*off += 4;
	return 0;
}

static int lz4_size(struct qf_codec *c, uint64_t *size, bool *known,
		    struct qf_err *e)
{
	struct qf_source *in = c->in.src;
	uint8_t hdr[LZ4F_HEADER_SIZE_MAX];
	size_t n = in->size < sizeof(hdr) ? (size_t)in->size : sizeof(hdr);
	size_t hlen;
	uint64_t fsize;
	bool bcks, ccks;
	int ret;

	*known = false;
	if (!in->remote) {
		/* Without decompressing: 1, the file ended inside a frame. */
		ret = qf_codec_walk(in, LZ4F_HEADER_SIZE_MAX, lz4_frame, size,
				    known, e);
		return ret > 0 ? truncated(in, e) : ret;
	}
	/* One request per block would be too many: take the first frame's
	 * size, and check at its end that nothing else follows. */
	if ((ret = qf_source_pread(in, hdr, n, 0, 0, e)) < 0)
		return ret;
	if (n >= 4 && get_le32(hdr) == LZ4F_MAGICNUMBER &&
	    lz4_header(hdr, n, &hlen, &fsize, &bcks, &ccks) &&
	    fsize != UINT64_MAX) {
		*size = fsize;
		*known = true;
		c->size_of_first_frame = true;
	}
	return 0;
}

static void lz4_rewind(struct qf_codec *c)
{
	struct lz4 *z = c->priv;

	LZ4F_resetDecompressionContext(z->dctx);
	z->boundary = true;
}

static void lz4_close(struct qf_codec *c)
{
	struct lz4 *z = c->priv;

	if (!z)
		return;
	LZ4F_freeDecompressionContext(z->dctx);
	XXH32_freeState(z->xs);
	free(z);
}

const struct qf_codec_ops qf_codec_lz4 = {
	.name = "lz4",
	.format = QF_FORMAT_LZ4,
	.probe = lz4_probe,
	.open = lz4_open,
	.size = lz4_size,
	.read = lz4_read,
	.rewind = lz4_rewind,
	.close = lz4_close,
};
