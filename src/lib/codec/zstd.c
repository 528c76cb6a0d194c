/* zstd.c - zstd-compressed raw images (libzstd): concatenated and
 * skippable frames, as zstd -d reads them.  A local file is sized without
 * decompressing, by following the frame and block headers; a remote one by
 * its first frame's header, proved right by the end of the data. */
#include "codec/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define ZSTD_HEADER_MAX 18

struct zst {
	ZSTD_DStream *zd;
	bool boundary;               /* between two frames */
	uint64_t frames;             /* frames completed */
};

static bool zst_probe(const uint8_t *head, size_t n)
{
	/* A skippable frame may come first, as pzstd writes. */
	return n >= 4 && (get_le32(head) == ZSTD_MAGICNUMBER ||
			  (get_le32(head) & ZSTD_MAGIC_SKIPPABLE_MASK) ==
			  ZSTD_MAGIC_SKIPPABLE_START);
}

static int truncated(const struct qf_source *in, struct qf_err *e)
{
	return qf_err_set(e, EIO,
			  N_("%s: the zstd data is truncated (the file ends inside a zstd frame)"),
			  in->name);
}

static void frame_done(struct zst *z)
{
	z->frames++;
	z->boundary = true;
}

static int zst_open(struct qf_codec *c, struct qf_err *e)
{
	struct zst *z = qf_xcalloc(1, sizeof(*z));

	if (!(z->zd = ZSTD_createDStream())) {
		free(z);
		return qf_err_set(e, ENOMEM, N_("%s: cannot set up the zstd decoder"),
				  c->in.src->name);
	}
	z->boundary = true;
	c->priv = z;
	return 0;
}

static int zst_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	struct zst *z = c->priv;
	struct qf_codec_in *in = &c->in;

	while (*got < n) {
		ZSTD_inBuffer ib;
		ZSTD_outBuffer ob;
		bool eof = false, progress;
		size_t r;
		int ret;

		if (in->pos == in->len) {
			if ((ret = qf_codec_refill(c, &eof, e)) < 0)
				return ret;
			if (eof && z->boundary)
				return 0;
		}
		ib = (ZSTD_inBuffer){ in->buf, in->len, in->pos };
		ob = (ZSTD_outBuffer){ out + *got, n - *got, 0 };
		/* Handles concatenated and skippable frames by itself. */
		r = ZSTD_decompressStream(z->zd, &ob, &ib);
		if (ZSTD_isError(r) && ZSTD_getErrorCode(r) ==
				       ZSTD_error_frameParameter_windowTooLarge)
			return qf_err_set(e, ENOTSUP,
					  N_("%s: the zstd data needs a decompression window larger than 128 MiB (made with --long?), which is not supported"),
					  in->src->name);
		if (ZSTD_isError(r))
			return qf_err_set(e, EINVAL,
					  N_("%s: corrupt zstd data near compressed offset %llu: %s"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c),
					  ZSTD_getErrorName(r));
		progress = ib.pos != in->pos || ob.pos != 0;
		in->pos = ib.pos;
		*got += ob.pos;
		if (r == 0) {
			if (progress || !z->boundary)
				frame_done(z);
		} else if (progress) {
			z->boundary = false;
		} else if (eof) {
			return truncated(in->src, e);
		} else {
			return qf_err_set(e, EIO, N_("%s: the zstd decoder stopped making progress"),
					  in->src->name);
		}
	}
	return 0;
}

/* Decode the frame header at @p (@avail bytes there, magic included):
 * its length, content size (UINT64_MAX when not recorded) and whether a
 * checksum follows the last block.  False when it is malformed or cut. */
static bool zstd_header(const uint8_t *p, size_t avail, size_t *hlen,
			uint64_t *fcs, bool *checksum)
{
	static const uint8_t dict_len[4] = { 0, 1, 2, 4 };
	unsigned fhd, single;
	size_t fcs_len, h;

	if (avail < 5)
		return false;
	fhd = p[4];
	if (fhd & 0x08)
		return false;        /* reserved bit */
	single = fhd >> 5 & 1;
	*checksum = fhd >> 2 & 1;
	fcs_len = (fhd >> 6) == 0 ? single : (size_t)1 << (fhd >> 6);
	h = 5 + !single + dict_len[fhd & 3];
	if (h + fcs_len > avail)
		return false;
	switch (fcs_len) {
	case 0: *fcs = UINT64_MAX; break;
	case 1: *fcs = p[h]; break;
	case 2: *fcs = get_le16(p + h) + 256u; break;
	case 4: *fcs = get_le32(p + h); break;
	default: *fcs = get_le64(p + h); break;
	}
	*hlen = h + fcs_len;
	return true;
}

/* qf_codec_walk's step: one frame, following its block headers. */
static int zstd_frame(struct qf_codec_peek *pk, const uint8_t *p, size_t n,
		      uint64_t *off, uint64_t *size, struct qf_err *e)
{
	const char *name = pk->in->name;
	size_t hlen;
	bool cks;
	int ret;

	if (get_le32(p) != ZSTD_MAGICNUMBER)
		return qf_err_set(e, EINVAL,
				  N_("%s: unexpected data at compressed offset %llu (not a zstd frame)"),
				  name, (unsigned long long)*off);
	if (!zstd_header(p, n, &hlen, size, &cks))
		return qf_err_set(e, EINVAL,
				  N_("%s: bad zstd frame header at compressed offset %llu"),
				  name, (unsigned long long)*off);
	if (*size == UINT64_MAX)
		return 0;
	*off += hlen;
	for (;;) {
		uint32_t bh;
		unsigned type;

		if ((ret = qf_codec_peek_at(pk, *off, 3, &p, e)) != 0)
			return ret;
		bh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
		type = bh >> 1 & 3;
		if (type == 3)
			return qf_err_set(e, EINVAL,
					  N_("%s: bad zstd block header at compressed offset %llu"),
					  name, (unsigned long long)*off);
		/* An RLE block stores its byte once. */
		*off += 3 + (type == 1 ? 1 : bh >> 3);
		if (bh & 1)
			break;
	}
	if (cks)
		*off += 4;
	return 0;
}

/* Sum the content sizes recorded in every frame header of a local zstd
 * file, without decompressing. */
static int zstd_walk(struct qf_source *in, uint64_t *total, bool *known,
		     struct qf_err *e)
{
	int ret = qf_codec_walk(in, ZSTD_HEADER_MAX, zstd_frame, total, known, e);

	/* 1: the file ended inside a frame */
	return ret > 0 ? truncated(in, e) : ret;
}

/* A remote file cannot be walked cheaply (one request per block): take the
 * first frame's size, and check at its end that nothing else follows. */
static int zstd_first_size(struct qf_source *in, uint64_t *total, bool *known,
			   struct qf_err *e)
{
	uint8_t hdr[ZSTD_HEADER_MAX];
	size_t n = in->size < sizeof(hdr) ? (size_t)in->size : sizeof(hdr);
	size_t hlen;
	uint64_t fcs;
	bool cks;
	int ret;

	*known = false;
	if ((ret = qf_source_pread(in, hdr, n, 0, 0, e)) < 0)
		return ret;
	if (n >= 4 && get_le32(hdr) == ZSTD_MAGICNUMBER &&
	    zstd_header(hdr, n, &hlen, &fcs, &cks) && fcs != UINT64_MAX) {
		*total = fcs;
		*known = true;
	}
	return 0;
}

static int zst_size(struct qf_codec *c, uint64_t *size, bool *known,
		    struct qf_err *e)
{
	struct qf_source *in = c->in.src;
	int ret;

	if (!in->remote)
		return zstd_walk(in, size, known, e);
	ret = zstd_first_size(in, size, known, e);
	c->size_of_first_frame = ret == 0 && *known;
	return ret;
}

static void zst_rewind(struct qf_codec *c)
{
	struct zst *z = c->priv;

	ZSTD_DCtx_reset(z->zd, ZSTD_reset_session_only);
	z->boundary = true;
	z->frames = 0;
}

static void zst_close(struct qf_codec *c)
{
	struct zst *z = c->priv;

	if (!z)
		return;
	ZSTD_freeDStream(z->zd);
	free(z);
}

const struct qf_codec_ops qf_codec_zstd = {
	.name = "zstd",
	.format = QF_FORMAT_ZSTD,
	.probe = zst_probe,
	.open = zst_open,
	.size = zst_size,
	.read = zst_read,
	.rewind = zst_rewind,
	.close = zst_close,
};
