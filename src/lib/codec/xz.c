/* xz.c - xz-compressed raw images (liblzma): concatenated streams and
 * stream padding, as xz -d reads them.  Decoded by liblzma's threaded
 * decoder, which spreads the blocks of a file made by xz -T over the CPUs
 * (a single-block file decodes in one thread).  The decompressed size is
 * read from the stream indexes at the end of the file, a few small reads
 * even over http, so nothing is decompressed to size the image. */
#include "codec/codec.h"

#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Input handed to the index reader at a time. */
#define INFO_BUF ((size_t)64 << 10)
/* Memory the indexes may take: liblzma refuses an index claiming more
 * records than that before allocating them.  256 MiB holds millions of
 * blocks, far more than any image has. */
#define INDEX_MEMLIMIT ((uint64_t)256 << 20)

struct xz {
	lzma_stream zs;
	bool ended;                  /* the decoder saw the end of the file */
};

static bool xz_probe(const uint8_t *head, size_t n)
{
	static const uint8_t magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

	return n >= sizeof(magic) && memcmp(head, magic, sizeof(magic)) == 0;
}

/* @r from lzma_code as a message; @off is where in the compressed file. */
static int xz_fail(const struct qf_source *in, lzma_ret r, uint64_t off,
		   bool at_eof, struct qf_err *e)
{
	switch (r) {
	case LZMA_MEM_ERROR:
		return qf_err_set(e, ENOMEM, N_("%s: out of memory decompressing"),
				  in->name);
	case LZMA_MEMLIMIT_ERROR:
		return qf_err_set(e, ENOMEM,
				  N_("%s: decoding the xz data needs more memory than allowed"),
				  in->name);
	case LZMA_OPTIONS_ERROR:
		return qf_err_set(e, ENOTSUP,
				  N_("%s: the xz data uses options (filters or flags) this decoder does not support"),
				  in->name);
	case LZMA_FORMAT_ERROR:
		return qf_err_set(e, EINVAL,
				  N_("%s: unexpected data at compressed offset %llu (not an xz stream)"),
				  in->name, (unsigned long long)off);
	case LZMA_BUF_ERROR:
		if (at_eof)
			return qf_err_set(e, EIO,
					  N_("%s: the xz data is truncated (the file ends inside an xz stream)"),
					  in->name);
		/* fall through */
	default:
		return qf_err_set(e, EINVAL,
				  N_("%s: corrupt xz data near compressed offset %llu"),
				  in->name, (unsigned long long)off);
	}
}

static int decoder_start(struct qf_codec *c, struct qf_err *e)
{
	struct xz *x = c->priv;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	lzma_mt mt = {
		.flags = LZMA_CONCATENATED,
		.threads = cpus > 0 ? (uint32_t)cpus : 1,
		/* Past this the decoder goes single-threaded rather than
		 * fail; there is no limit on the memory a file needs. */
		.memlimit_threading = lzma_physmem() / 4,
		.memlimit_stop = UINT64_MAX,
	};
	lzma_ret r;

	x->zs = (lzma_stream)LZMA_STREAM_INIT;
	x->ended = false;
	if ((r = lzma_stream_decoder_mt(&x->zs, &mt)) != LZMA_OK)
		return qf_err_set(e, r == LZMA_MEM_ERROR ? ENOMEM : EINVAL,
				  N_("%s: cannot set up the xz decoder"),
				  c->in.src->name);
	return 0;
}

static int xz_open(struct qf_codec *c, struct qf_err *e)
{
	int ret;

	c->priv = qf_xcalloc(1, sizeof(struct xz));
	if ((ret = decoder_start(c, e)) < 0) {
		free(c->priv);
		c->priv = NULL;
	}
	return ret;
}

static int xz_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		   struct qf_err *e)
{
	struct xz *x = c->priv;
	struct qf_codec_in *in = &c->in;
	bool eof = false;

	while (*got < n && !x->ended) {
		size_t avail;
		lzma_ret r;
		int ret;

		if (in->pos == in->len && !eof &&
		    (ret = qf_codec_refill(c, &eof, e)) < 0)
			return ret;
		avail = in->len - in->pos;
		x->zs.next_in = in->buf + in->pos;
		x->zs.avail_in = avail;
		x->zs.next_out = out + *got;
		x->zs.avail_out = n - *got;
		/* With LZMA_CONCATENATED the end of the file is only known
		 * from being told. */
		r = lzma_code(&x->zs, eof ? LZMA_FINISH : LZMA_RUN);
		in->pos += avail - x->zs.avail_in;
		*got = n - x->zs.avail_out;
		if (r == LZMA_STREAM_END)
			x->ended = true;
		else if (r != LZMA_OK)
			return xz_fail(in->src, r, qf_codec_consumed(c), eof, e);
	}
	return 0;
}

/* The decompressed size from the indexes of every stream in the file,
 * which liblzma finds by reading backwards from the end. */
static int xz_size(struct qf_codec *c, uint64_t *size, bool *known,
		   struct qf_err *e)
{
	struct qf_source *in = c->in.src;
	lzma_stream zs = LZMA_STREAM_INIT;
	lzma_index *idx = NULL;
	uint8_t *buf = qf_xmalloc(INFO_BUF);
	uint64_t pos = 0;
	lzma_ret r;
	int ret = 0;

	*known = false;
	r = lzma_file_info_decoder(&zs, &idx, INDEX_MEMLIMIT, in->size);
	while (r == LZMA_OK) {
		if (zs.avail_in == 0) {
			uint64_t left = pos < in->size ? in->size - pos : 0;
			size_t len = left < INFO_BUF ? (size_t)left : INFO_BUF;

			if (len && (ret = qf_source_pread(in, buf, len, pos, 0, e)) < 0)
				goto out;
			zs.next_in = buf;
			zs.avail_in = len;
			pos += len;
		}
		r = lzma_code(&zs, pos >= in->size ? LZMA_FINISH : LZMA_RUN);
		if (r == LZMA_SEEK_NEEDED) {
			pos = zs.seek_pos;
			zs.avail_in = 0;
			r = LZMA_OK;
		}
	}
	if (r == LZMA_STREAM_END) {
		*size = lzma_index_uncompressed_size(idx);
		*known = true;
	} else if (r == LZMA_MEM_ERROR || r == LZMA_OPTIONS_ERROR) {
		ret = xz_fail(in, r, 0, false, e);
	} else {
		/* The indexes sit at the end: a cut file loses them. */
		ret = qf_err_set(e, EINVAL,
				 N_("%s: the xz data is truncated or corrupt (the index at the end of the file cannot be read)"),
				 in->name);
	}
out:
	lzma_index_end(idx, NULL);
	lzma_end(&zs);
	free(buf);
	return ret;
}

static void xz_rewind(struct qf_codec *c)
{
	struct xz *x = c->priv;
	struct qf_err e = { 0 };

	lzma_end(&x->zs);
	/* Only fails for want of memory; the next read then reports it. */
	if (decoder_start(c, &e) < 0)
		x->zs = (lzma_stream)LZMA_STREAM_INIT;
}

static void xz_close(struct qf_codec *c)
{
	struct xz *x = c->priv;

	if (!x)
		return;
	lzma_end(&x->zs);
	free(x);
}

const struct qf_codec_ops qf_codec_xz = {
	.name = "xz",
	.format = QF_FORMAT_XZ,
	.probe = xz_probe,
	.open = xz_open,
	.size = xz_size,
	.read = xz_read,
	.rewind = xz_rewind,
	.close = xz_close,
};
