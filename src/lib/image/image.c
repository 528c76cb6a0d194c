/* image.c - an opened image: the chain of layers (qcow2 or raw, each with
 * its source and optional external data file), the merged allocation map
 * over the chain, and reading/decompressing the extents of that map. */
#include "image/qcow2.h"
#include "codec/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>
#ifdef HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* A chain of any depth up to 64 backing files below the image. */
#define MAX_LAYERS 65

struct layer {
	struct qf_source *file;
	struct qf_source *data;    /* external data file, or NULL */
	struct qf_source *stream;  /* gzip/zstd: the decompressed view of file */
	struct qcow2 *q;           /* NULL for raw layers */
	struct qf_layer_info info; /* info.virtual_size: the layer's size */
};

struct qf_image {
	char *name;
	struct qf_open_opts opts;
	int nlayers;
	struct layer layers[MAX_LAYERS];
};

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

static const uint8_t gzip_magic[2] = { 0x1f, 0x8b };

static bool same_file(const struct qf_source *a, const struct qf_source *b)
{
	if (a->remote || b->remote)
		return a->remote && b->remote && strcmp(a->name, b->name) == 0;
	return a->dev == b->dev && a->ino == b->ino;
}

/* Raw layers read as whole sectors, like qemu: a file of 1000 bytes is a
 * 1024-byte disk whose tail is zeros. */
static void layer_raw(struct layer *l)
{
	l->info.format = "raw";
	l->info.virtual_size = (l->file->size + 511) & ~511ull;
}

/* Replace the message in @e by @fmt, which formats @name and the message
 * it replaces ("%s: cannot open ...: %s"). */
static int wrap_err(struct qf_err *e, int ret, const char *fmt,
		    const char *name)
{
	struct qf_err e2 = { 0 };

	if (!e)
		return ret;
	qf_err_set(&e2, ret, fmt, name, e->msg);
	*e = e2;
	return ret;
}

/* The first bytes of @s, up to 4 (*n of them). */
static int read_magic(struct qf_source *s, uint8_t magic[4], size_t *n,
		      struct qf_err *e)
{
	*n = s->size < 4 ? (size_t)s->size : 4;
	memset(magic, 0, 4);
	return *n ? qf_source_pread(s, magic, *n, 0, 0, e) : 0;
}

static int open_layer_qcow2(struct qf_image *img, struct layer *l,
			    const char *snapshot, struct qf_err *e)
{
	int ret = qcow2_open(l->file, &img->opts, snapshot, &l->q, e);

	if (ret < 0)
		return ret;
	qcow2_info(l->q, &l->info);
	if (qcow2_has_data_file(l->q)) {
		const char *dn = qcow2_data_file_name(l->q);
		ret = qf_source_open(dn, l->file->name, &img->opts, &l->data, e);
		if (ret < 0)
			return wrap_err(e, ret, _("%s: cannot open its external data file: %s"),
					l->file->name);
		if (same_file(l->data, l->file))
			return qf_err_set(e, ELOOP, _("%s: external data file is the image itself"),
					  l->file->name);
		qcow2_set_data_file(l->q, l->data);
		l->info.data_file = l->data->name;
	}
	return 0;
}

static int detect_format(struct qf_source *s, enum qf_format asked,
			 enum qf_format *fmt, struct qf_err *e)
{
	uint8_t magic[4];
	size_t n;
	int ret;

	if (asked == QF_FORMAT_RAW) {
		*fmt = QF_FORMAT_RAW;
		return 0;
	}
	if ((ret = read_magic(s, magic, &n, e)) < 0)
		return ret;
	if (qcow2_probe(magic, n)) {
		*fmt = QF_FORMAT_QCOW2;
	} else if (n >= 2 && memcmp(magic, gzip_magic, 2) == 0) {
		*fmt = QF_FORMAT_GZIP;
	} else if (n == 4 && (get_le32(magic) == ZSTD_MAGICNUMBER ||
			      /* a skippable frame first, as pzstd writes */
			      (get_le32(magic) & ZSTD_MAGIC_SKIPPABLE_MASK) ==
			      ZSTD_MAGIC_SKIPPABLE_START)) {
		*fmt = QF_FORMAT_ZSTD;
	} else {
		/* Its own code: a front end may offer to open it as raw. */
		return qf_err_set(e, EMEDIUMTYPE,
				  _("%s: not a qcow2 image (use -format raw for a raw disk image)"),
				  s->name);
	}
	if (asked != QF_FORMAT_AUTO && asked != *fmt)
		return qf_err_set(e, EINVAL, _("%s: is not a %s image"), s->name,
				  qf_format_name(asked));
	return 0;
}

/* Open the backing chain below layer @i, one layer at a time. */
static int open_backing(struct qf_image *img, struct qf_err *e)
{
	for (;;) {
		struct layer *up = &img->layers[img->nlayers - 1];
		struct layer *l;
		const char *bname = up->info.backing_name;
		const char *bfmt = up->info.backing_format;
		enum qf_format fmt;
		int ret;

		if (!bname)
			return 0;     /* raw layers have none either */
		if (img->nlayers == MAX_LAYERS)
			return qf_err_set(e, ELOOP,
					  _("%s: backing chain is deeper than %d files"),
					  img->name, MAX_LAYERS - 1);
		l = &img->layers[img->nlayers];
		ret = qf_source_open(bname, up->file->name, &img->opts, &l->file, e);
		if (ret < 0)
			return wrap_err(e, ret, _("%s: cannot open backing file: %s"),
					up->file->name);
		img->nlayers++;
		l->info.name = l->file->name;
		for (int i = 0; i < img->nlayers - 1; i++)
			if (same_file(img->layers[i].file, l->file))
				return qf_err_set(e, ELOOP,
						  _("%s: backing chain loops back to %s"),
						  up->file->name, l->file->name);
		if (bfmt && strcmp(bfmt, "qcow2") == 0)
			fmt = QF_FORMAT_QCOW2;
		else if (bfmt && strcmp(bfmt, "raw") == 0)
			fmt = QF_FORMAT_RAW;
		else if (bfmt)
			return qf_err_set(e, ENOTSUP,
					  _("%s: backing file format '%s' is not supported"),
					  up->file->name, bfmt);
		else {
			uint8_t magic[4];
			size_t n;
			if ((ret = read_magic(l->file, magic, &n, e)) < 0)
				return ret;
			fmt = qcow2_probe(magic, n) ? QF_FORMAT_QCOW2 : QF_FORMAT_RAW;
		}
		if (fmt == QF_FORMAT_QCOW2) {
			if ((ret = open_layer_qcow2(img, l, NULL, e)) < 0)
				return ret;
		} else {
			layer_raw(l);
		}
		l->info.file_size = l->file->size;
	}
}

int qf_image_open(const char *name, const struct qf_open_opts *opts,
		  struct qf_image **out, struct qf_err *e)
{
	struct qf_image *img = qf_xcalloc(1, sizeof(*img));
	struct layer *top = &img->layers[0];
	enum qf_format fmt = QF_FORMAT_AUTO;
	int ret;

	if (opts)
		img->opts = *opts;
	img->name = qf_xstrdup(name);
	ret = qf_source_open(name, NULL, &img->opts, &top->file, e);
	if (ret < 0)
		goto fail;
	img->nlayers = 1;
	top->info.name = top->file->name;
	top->info.file_size = top->file->size;
	if ((ret = detect_format(top->file, img->opts.format, &fmt, e)) < 0)
		goto fail;
	if (fmt != QF_FORMAT_QCOW2 && img->opts.snapshot) {
		ret = qf_err_set(e, EINVAL, _("%s: raw images have no snapshots"), name);
		goto fail;
	}
	if (fmt == QF_FORMAT_RAW) {
		layer_raw(top);
	} else if (fmt == QF_FORMAT_GZIP || fmt == QF_FORMAT_ZSTD) {
		/* A raw layer whose file is the decompressed stream. */
		if ((ret = qf_stream_open(top->file, fmt, &top->stream, e)) < 0)
			goto fail;
		top->info.format = qf_format_name(fmt);
		top->info.virtual_size = top->stream->size;
	} else {
		if ((ret = open_layer_qcow2(img, top, img->opts.snapshot, e)) < 0)
			goto fail;
		if ((ret = open_backing(img, e)) < 0)
			goto fail;
	}
	*out = img;
	return 0;
fail:
	qf_image_close(img);
	return ret;
}

void qf_image_close(struct qf_image *img)
{
	if (!img)
		return;
	for (int i = 0; i < MAX_LAYERS; i++) {
		struct layer *l = &img->layers[i];
		qcow2_close(l->q);
		qf_source_close(l->data);
		qf_source_close(l->stream);   /* reads from file */
		qf_source_close(l->file);
	}
	free(img->name);
	free(img);
}

uint64_t qf_image_size(const struct qf_image *img)
{
	return img->layers[0].info.virtual_size;
}

const char *qf_image_name(const struct qf_image *img)
{
	return img->name;
}

bool qf_image_is_stream(const struct qf_image *img)
{
	return img->layers[0].stream != NULL;
}

int qf_image_layer_count(const struct qf_image *img)
{
	return img->nlayers;
}

const struct qf_layer_info *qf_image_layer(const struct qf_image *img, int i)
{
	return i >= 0 && i < img->nlayers ? &img->layers[i].info : NULL;
}

int qf_image_snapshot_count(const struct qf_image *img)
{
	return img->layers[0].q ? qcow2_snapshot_count(img->layers[0].q) : 0;
}

const struct qf_snapshot_info *qf_image_snapshot(const struct qf_image *img,
						 int i)
{
	return img->layers[0].q ? qcow2_snapshot(img->layers[0].q, i) : NULL;
}

int qf_image_snapshot_selected(const struct qf_image *img)
{
	return img->layers[0].q ? qcow2_snapshot_selected(img->layers[0].q) : -1;
}

/* One step of the map: the run at @off as the first layer that says
 * anything about it describes it. */
static int map_once(struct qf_image *img, uint64_t off, uint64_t maxlen,
		    struct qf_extent *ext, struct qf_err *e)
{
	memset(ext, 0, sizeof(*ext));
	ext->off = off;
	ext->kind = QF_EXTENT_ZERO;
	ext->len = maxlen;

	/* Walk down while the layer above leaves the range unallocated; each
	 * step can only shrink the run. */
	for (int i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		uint64_t size = l->info.virtual_size;
		struct qcow2_run run;
		int ret;

		if (off >= size)
			break;       /* shorter layer: zeros past its end */
		if (maxlen > size - off)
			maxlen = size - off;
		if (!l->q) {
			/* Streams too: the engine reads them in order. */
			ext->kind = QF_EXTENT_DATA;
			ext->len = maxlen;
			ext->src = l->stream ? l->stream : l->file;
			ext->host_off = off;
			return 0;
		}
		if ((ret = qcow2_map(l->q, off, maxlen, &run, e)) < 0)
			return ret;
		ext->len = run.len;
		switch (run.kind) {
		case QCOW2_UNALLOCATED:
			maxlen = run.len;
			continue;
		case QCOW2_ZERO:
			ext->kind = QF_EXTENT_ZERO;
			return 0;
		case QCOW2_DATA:
			ext->kind = QF_EXTENT_DATA;
			ext->src = qcow2_data_source(l->q);
			ext->host_off = run.host_off;
			return 0;
		case QCOW2_COMPRESSED:
			ext->kind = QF_EXTENT_COMPRESSED;
			ext->src = l->file;
			ext->host_off = run.coff;
			ext->clen = run.clen;
			ext->skip = run.skip;
			ext->cluster_size = qcow2_cluster_size(l->q);
			ext->ctype = qcow2_compression(l->q);
			return 0;
		}
	}
	ext->kind = QF_EXTENT_ZERO;
	ext->len = maxlen;
	return 0;
}

int qf_image_map(struct qf_image *img, uint64_t off, uint64_t maxlen,
		 struct qf_extent *ext, struct qf_err *e)
{
	uint64_t size = qf_image_size(img);
	int ret;

	if (off >= size || maxlen == 0)
		return qf_err_set(e, EINVAL, "%s: map at %llu outside the disk",
				  img->name, (unsigned long long)off);
	if (maxlen > size - off)
		maxlen = size - off;
	if ((ret = map_once(img, off, maxlen, ext, e)) < 0)
		return ret;
	/* Runs from different layers (a zero cluster next to an unallocated
	 * one, data continuing in the same file) join into one extent, so the
	 * engine sees as few extents as the disk really has. */
	while (ext->len < maxlen && (ext->kind == QF_EXTENT_ZERO ||
				     ext->kind == QF_EXTENT_DATA)) {
		struct qf_extent next;
		if ((ret = map_once(img, off + ext->len, maxlen - ext->len,
				    &next, e)) < 0)
			return ret;
		if (next.kind != ext->kind)
			break;
		if (next.kind == QF_EXTENT_DATA &&
		    (next.src != ext->src ||
		     next.host_off != ext->host_off + ext->len))
			break;
		ext->len += next.len;
	}
	return 0;
}

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
				  _("%s: compressed cluster at virtual offset %llu does not decompress to exactly one cluster"),
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
		if (ret < 0 && e)
			snprintf(e->msg + strlen(e->msg),
				 sizeof(e->msg) - strlen(e->msg),
				 _(" (virtual offset %llu)"),
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
	return qf_err_set(e, EINVAL, "%s", _("unknown extent kind"));
}

int qf_image_read(struct qf_image *img, void *buf, size_t len, uint64_t off,
		  struct qf_err *e)
{
	struct qf_decomp *d = NULL;
	uint8_t *p = buf;
	uint64_t end;
	int ret = 0;

	if (add_overflows(off, len, &end) || end > qf_image_size(img))
		return qf_err_set(e, EINVAL,
				  _("%s: read of %zu bytes at %llu is outside the virtual disk"),
				  img->name, len, (unsigned long long)off);
	/* A stream can only be read in order; out of the engine's pass only
	 * its head (partition tables, first superblocks) is available. */
	if (qf_image_is_stream(img))
		return qf_stream_read_head(img->layers[0].stream, buf, len, off, e);
	while (len) {
		struct qf_extent ext;
		if ((ret = qf_image_map(img, off, len, &ext, e)) < 0)
			break;
		if (ext.kind == QF_EXTENT_COMPRESSED && !d)
			d = qf_decomp_new();
		if ((ret = qf_extent_read(&ext, p, d, e)) < 0)
			break;
		p += ext.len;
		off += ext.len;
		len -= ext.len;
	}
	qf_decomp_free(d);
	return ret;
}
