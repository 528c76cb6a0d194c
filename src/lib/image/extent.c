/* extent.c - reading the extents of the map: data read from its source,
 * compressed clusters inflated (libdeflate, zlib) or decompressed (zstd)
 * into exactly one cluster, as qemu does. */
#include "image/extent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#ifdef HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

struct qf_decomp {
	z_stream zs;
	bool zinit;
#ifdef HAVE_LIBDEFLATE
	struct libdeflate_decompressor *ld;
#endif
	ZSTD_DCtx *zd;
	uint8_t *in, *out;
	size_t in_cap, out_cap;
};

struct qf_decomp *qf_decomp_new(void)
{
	return qf_xcalloc(1, sizeof(struct qf_decomp));
}

void qf_decomp_free(struct qf_decomp *d)
{
	if (!d)
		return;
	if (d->zinit)
		inflateEnd(&d->zs);
#ifdef HAVE_LIBDEFLATE
	if (d->ld)
		libdeflate_free_decompressor(d->ld);
#endif
	ZSTD_freeDCtx(d->zd);
	free(d->in);
	free(d->out);
	free(d);
}

static uint8_t *grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap < need) {
		free(*buf);
		*buf = qf_xmalloc(need);
		*cap = need;
	}
	return *buf;
}

/* zlib, stopping as soon as one cluster has come out, as qemu does: the
 * input may carry the start of the next cluster's data after the end. */
static bool inflate_cluster(struct qf_decomp *d, const uint8_t *in,
			    size_t inlen, uint8_t *out, size_t outlen)
{
	int r;

	if (!d->zinit) {
		if (inflateInit2(&d->zs, -15) != Z_OK)
			return false;
		d->zinit = true;
	} else if (inflateReset(&d->zs) != Z_OK) {
		return false;
	}
	d->zs.next_in = (Bytef *)in;
	d->zs.avail_in = (uInt)inlen;
	d->zs.next_out = out;
	d->zs.avail_out = (uInt)outlen;
	r = inflate(&d->zs, Z_FINISH);
	return (r == Z_STREAM_END || r == Z_BUF_ERROR) && d->zs.avail_out == 0;
}

static bool deflate_cluster(struct qf_decomp *d, const uint8_t *in,
			    size_t inlen, uint8_t *out, size_t outlen)
{
#ifdef HAVE_LIBDEFLATE
	size_t used;

	if (!d->ld)
		d->ld = libdeflate_alloc_decompressor();
	if (d->ld && libdeflate_deflate_decompress_ex(d->ld, in, inlen, out,
						      outlen, &used, NULL) ==
			     LIBDEFLATE_SUCCESS)
		return true;
	/* Streams that libdeflate will not take whole (truncated after the
	 * cluster is complete) are still valid for qemu: let zlib decide. */
#endif
	return inflate_cluster(d, in, inlen, out, outlen);
}

static bool zstd_cluster(struct qf_decomp *d, const uint8_t *in,
			 size_t inlen, uint8_t *out, size_t outlen)
{
	ZSTD_inBuffer ib = { in, inlen, 0 };
	ZSTD_outBuffer ob = { out, outlen, 0 };
	size_t fsz;

	if (!d->zd && !(d->zd = ZSTD_createDCtx()))
		return false;
	fsz = ZSTD_findFrameCompressedSize(in, inlen);
	if (!ZSTD_isError(fsz) &&
	    ZSTD_decompressDCtx(d->zd, out, outlen, in, fsz) == outlen)
		return true;
	ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_only);
	while (ob.pos < ob.size) {
		size_t before_in = ib.pos, before_out = ob.pos;
		size_t r = ZSTD_decompressStream(d->zd, &ob, &ib);
		if (ZSTD_isError(r))
			return false;
		if (ib.pos == before_in && ob.pos == before_out)
			return false;
	}
	return true;
}

int qf_extent_decompress(const struct qf_extent *ext, const void *in,
			 void *out, struct qf_decomp *d, struct qf_err *e)
{
	uint8_t *dst = out;
	bool ok;

	if (ext->skip || ext->len != ext->cluster_size)
		dst = grow(&d->out, &d->out_cap, ext->cluster_size);
	if (ext->ctype == QF_COMPRESSION_ZSTD)
		ok = zstd_cluster(d, in, ext->clen, dst, ext->cluster_size);
	else
		ok = deflate_cluster(d, in, ext->clen, dst, ext->cluster_size);
	if (!ok)
		return qf_err_set(e, EIO,
				  N_("%s: compressed cluster at virtual offset %llu does not decompress to exactly one cluster"),
				  ext->src->name,
				  (unsigned long long)(ext->off - ext->skip));
	if (dst != out)
		memcpy(out, dst + ext->skip, ext->len);
	return 0;
}

int qf_extent_read(const struct qf_extent *ext, void *buf,
		   struct qf_decomp *d, struct qf_err *e)
{
	int ret;

	switch (ext->kind) {
	case QF_EXTENT_ZERO:
		memset(buf, 0, ext->len);
		return 0;
	case QF_EXTENT_DATA:
		ret = qf_source_pread(ext->src, buf, ext->len, ext->host_off,
				      QF_READ_ZERO_PAST_EOF, e);
		if (ret < 0)
			qf_err_append(e, " ", N_("(virtual offset %llu)"),
				      (unsigned long long)ext->off);
		return ret;
	case QF_EXTENT_COMPRESSED: {
		uint8_t *in = grow(&d->in, &d->in_cap, ext->clen);
		ret = qf_source_pread(ext->src, in, ext->clen, ext->host_off,
				      QF_READ_ZERO_PAST_EOF, e);
		if (ret < 0)
			return ret;
		return qf_extent_decompress(ext, in, buf, d, e);
	}
	}
	return qf_err_set(e, EINVAL, N_("unknown extent kind"));
}

