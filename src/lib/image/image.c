/* image.c - an opened image: the chain of layers (qcow2 or raw, each with
 * its source and optional external data file, or a compressed raw stream),
 * format detection, and what the chain tells about itself. */
#include "image/image_int.h"
#include "image/image.h"
#include "image/extent.h"
#include "codec/codec.h"
#include "codec/stream.h"
#include "source/bmap.h"
#include "source/sidecar.h"
#include "source/cache.h"
#include "source/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static int read_magic(struct qf_source *s, uint8_t magic[QF_CODEC_PROBE_LEN],
		      size_t *n, struct qf_err *e)
{
	*n = s->size < QF_CODEC_PROBE_LEN ? (size_t)s->size : QF_CODEC_PROBE_LEN;
	memset(magic, 0, QF_CODEC_PROBE_LEN);
	return *n ? qf_source_pread(s, magic, *n, 0, 0, e) : 0;
}

/* An image opened over a source of its own (qf_image_open_source) has no
 * directory or server to find the files it names in. */
static int refuse_other_file(struct qf_image *img, const char *other,
			     struct qf_err *e)
{
	return qf_err_set(e, ENOENT,
			  N_("%s: names the file %s, but an image opened from memory has no files beside it"),
			  img->name, other);
}

/* A file of the image named @name in @base (the file that names it):
 * opened by its name, or read from the cache (image_cache.c). */
static int open_file(struct qf_image *img, struct layer *l, const char *name,
		     const char *base, struct qf_source **src, struct qf_err *e)
{
	struct qf_err why = { 0 };
	int ret = qf_source_open(name, base, &img->opts, src, &why);

	return image_cache_file(img, l, name, base, ret, &why, src, e);
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
		if (img->alone)
			return refuse_other_file(img, dn, e);
		ret = open_file(img, NULL, dn, l->file->name, &l->data, e);
		if (ret < 0)
			return wrap_err(e, ret, _("%s: cannot open its external data file: %s"),
					l->file->name);
		if (same_file(l->data, l->file))
			return qf_err_set(e, ELOOP, N_("%s: external data file is the image itself"),
					  l->file->name);
		qcow2_set_data_file(l->q, l->data);
		l->info.data_file = l->data->name;
	}
	return 0;
}

/* A file that can only be read in order holds a compressed raw image or
 * nothing qflash can use: qcow2 and raw layers are read where the engine
 * needs them. */
static int refuse_sequential(struct qf_source *s, enum qf_format fmt,
			     struct qf_err *e)
{
	if (fmt == QF_FORMAT_AUTO)
		return qf_err_set(e, EOPNOTSUPP,
				  N_("%s: server does not support range requests, which a backing file needs"),
				  s->name);
	return qf_err_set(e, EOPNOTSUPP,
			  N_("%s: server does not support range requests, which a %s image needs (only compressed raw images such as .img.xz can be read in one pass)"),
			  s->name, qf_format_name(fmt));
}

static int detect_format(struct qf_source *s, enum qf_format asked,
			 enum qf_format *fmt, struct qf_err *e)
{
	uint8_t magic[QF_CODEC_PROBE_LEN];
	const struct qf_codec_ops *codec;
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
	} else if ((codec = qf_codec_probe(magic, n))) {
		*fmt = codec->format;
	} else if (s->sequential) {
		return refuse_sequential(s, QF_FORMAT_RAW, e);
	} else {
		/* Its own code: a front end may offer to open it as raw. */
		return qf_err_set(e, EMEDIUMTYPE, N_("%s: not a qcow2 image"),
				  s->name);
	}
	if (asked != QF_FORMAT_AUTO && asked != *fmt)
		return qf_err_set(e, EINVAL, N_("%s: is not a %s image"), s->name,
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
		if (img->alone)
			return refuse_other_file(img, bname, e);
		if (img->nlayers == MAX_LAYERS)
			return qf_err_set(e, ELOOP,
					  N_("%s: backing chain is deeper than %d files"),
					  img->name, MAX_LAYERS - 1);
		l = &img->layers[img->nlayers];
		ret = open_file(img, l, bname, up->file->name, &l->file, e);
		if (ret < 0)
			return wrap_err(e, ret, _("%s: cannot open backing file: %s"),
					up->file->name);
		img->nlayers++;
		l->info.name = l->file->name;
		if (l->file->sequential)
			return refuse_sequential(l->file, QF_FORMAT_AUTO, e);
		for (int i = 0; i < img->nlayers - 1; i++)
			if (same_file(img->layers[i].file, l->file))
				return qf_err_set(e, ELOOP,
						  N_("%s: backing chain loops back to %s"),
						  up->file->name, l->file->name);
		if (bfmt && strcmp(bfmt, "qcow2") == 0)
			fmt = QF_FORMAT_QCOW2;
		else if (bfmt && strcmp(bfmt, "raw") == 0)
			fmt = QF_FORMAT_RAW;
		else if (bfmt)
			return qf_err_set(e, ENOTSUP,
					  N_("%s: backing file format '%s' is not supported"),
					  up->file->name, bfmt);
		else {
			uint8_t magic[QF_CODEC_PROBE_LEN];
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

/* The layers' files and data files, for qf_image_files: for a layer read
 * from the cache, its local copy. */
static void list_files(struct qf_image *img)
{
	int n = 0;

	img->files = qf_xcalloc(2 * img->nlayers + 1, sizeof(*img->files));
	for (int i = 0; i < img->nlayers; i++) {
		img->files[n++] = img->layers[i].cache_file
				  ? img->layers[i].cache_file
				  : img->layers[i].info.name;
		if (img->layers[i].info.data_file)
			img->files[n++] = img->layers[i].info.data_file;
	}
}

static int find_checksum(struct qf_image *img, struct qf_err *e)
{
	char origin[4096];
	/* Beside the file as named (a URL keeps its credentials). */
	int ret = qf_checksum_find(qf_name_is_url(img->locator) ? img->locator
				   : img->layers[0].file->name,
				   img->opts.sha256, &img->opts, img->sha256,
				   origin, sizeof(origin), e);

	if (ret < 0)
		return ret;
	if (ret == 0)
		img->sha256[0] = 0;
	else
		img->sha256_origin = qf_xstrdup(origin);
	/* What opts pointed at may go away: the image keeps its own. */
	img->opts.sha256 = NULL;
	return 0;
}

int qf_image_digest_check(struct qf_image *img, const char *got,
			  struct qf_err *e)
{
	if (!img->sha256[0] || strcmp(img->sha256, got) == 0)
		return 0;
	return qf_err_set(e, EBADMSG,
			  N_("%s: the SHA-256 of the image file is %s, but %s says %s: this is not the image that was published"),
			  img->layers[0].file->name, got, img->sha256_origin,
			  img->sha256);
}

const char *qf_image_checksum(const struct qf_image *img, const char **origin)
{
	if (origin)
		*origin = img->sha256_origin;
	return img->sha256[0] ? img->sha256 : NULL;
}

const char *qf_image_bmap(const struct qf_image *img, uint64_t *mapped,
			  bool *checked)
{
	if (!img->bmap)
		return NULL;
	if (mapped)
		*mapped = img->bmap->mapped;
	if (checked)
		*checked = img->bmap->alg != NULL;
	return img->bmap->origin;
}

int qf_image_members(const char *name, const struct qf_open_opts *opts,
		     char ***members, struct qf_err *e)
{
	struct qf_source *src = NULL;
	uint8_t head[QF_CODEC_PROBE_LEN];
	size_t n;
	int ret;

	*members = NULL;
	if ((ret = qf_source_open(name, NULL, opts, &src, e)) < 0)
		return ret;
	n = src->size < sizeof(head) ? (size_t)src->size : sizeof(head);
	ret = qf_source_pread(src, head, n, 0, 0, e);
	if (ret == 0)
		ret = qf_codec_probe(head, n) == &qf_codec_zip
		      ? qf_zip_images(src, members, e) : 0;
	qf_source_close(src);
	return ret;
}

struct qf_source *qf_image_file(struct qf_image *img)
{
	return img->layers[0].file;
}

int qf_image_disk_digest(struct qf_image *img, char hex[65])
{
	return img->layers[0].stream &&
	       qf_stream_disk_digest(img->layers[0].stream, hex);
}

bool qf_image_file_is_disk(const struct qf_image *img)
{
	return img->nlayers == 1 && !img->layers[0].stream &&
	       !img->layers[0].q;
}

const char *qf_image_disk_checksum(const struct qf_image *img,
				   const char **origin)
{
	if (origin)
		*origin = img->disk_origin;
	return img->disk_sha256[0] ? img->disk_sha256 : NULL;
}

/* The disk image's published SHA-256, kept by the image. */
static int take_disk_checksum(struct qf_image *img, struct qf_err *e)
{
	const char *h = img->opts.disk_sha256;
	uint8_t b[32];

	if (!h)
		return 0;
	img->opts.disk_sha256 = NULL;
	if (strlen(h) != 64 || qf_hex_parse(h, b, sizeof(b)) < 0)
		return qf_err_set(e, EINVAL,
				  N_("%s: the SHA-256 given for the disk image is not 64 hex digits: %s"),
				  img->name, h);
	qf_hex(b, sizeof(b), img->disk_sha256);
	img->disk_origin = qf_xstrdup(img->opts.sha256_origin
				      ? img->opts.sha256_origin : "-disk-sha256");
	return 0;
}

void qf_image_interrupt(struct qf_image *img, bool on)
{
	for (int i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];

		/* A stream passes it on to the file it decodes. */
		qf_source_interrupt(l->stream ? l->stream : l->file, on);
		qf_source_interrupt(l->data, on);
	}
}

int qf_image_stream_finish(struct qf_image *img, const atomic_bool *cancel,
			   struct qf_err *e)
{
	return img->layers[0].stream
	       ? qf_stream_finish(img->layers[0].stream, cancel, e) : 0;
}

int qf_image_stream_digest(struct qf_image *img, char hex[65])
{
	return img->layers[0].stream &&
	       qf_stream_digest(img->layers[0].stream, hex);
}

/* Everything after the top layer's file is open: its format, then its
 * stream, or its qcow2 header and the chain below it. */
static int open_top(struct qf_image *img, struct qf_err *e)
{
	struct layer *top = &img->layers[0];
	enum qf_format fmt = QF_FORMAT_AUTO;
	int ret;

	img->nlayers = 1;
	top->info.name = top->file->name;
	top->info.file_size = top->file->size;
	if ((ret = take_disk_checksum(img, e)) < 0)
		return ret;
	if ((ret = detect_format(top->file, img->opts.format, &fmt, e)) < 0)
		return ret;
	if (top->file->sequential && !qf_codec_for(fmt))
		return refuse_sequential(top->file, fmt, e);
	if (fmt != QF_FORMAT_QCOW2 && img->opts.snapshot)
		return qf_err_set(e, EINVAL, N_("%s: raw images have no snapshots"),
				  img->name);
	if (fmt == QF_FORMAT_RAW) {
		layer_raw(top);
	} else if (qf_codec_for(fmt)) {
		/* A raw layer whose file is the decompressed stream.  The
		 * published checksum covers the compressed file: it is
		 * computed as the file is read. */
		struct qf_stream_opts so = {
			.digest = img->sha256[0] || img->opts.hash_source,
			.disk_digest = img->disk_sha256[0] != 0,
		};
		char got[65];

		/* An image over a source of its own has no place to look. */
		if (!img->opts.no_bmap && !img->alone &&
		    (ret = qf_bmap_find(img->locator, img->opts.bmap, &img->opts,
					&img->bmap, e)) < 0)
			return ret;
		so.bmap = img->bmap;
		img->member = img->opts.member ? qf_xstrdup(img->opts.member) : NULL;
		img->opts.member = img->member;
		so.member = img->member;
		if ((ret = qf_stream_open(top->file, fmt, &so, &top->stream, e)) < 0)
			return ret;
		top->info.format = qf_format_name(fmt);
		top->info.virtual_size = top->stream->size;
		/* A stream read whole to find its size was checked already:
		 * a wrong image is refused before anything is written. */
		if (img->sha256[0] && qf_stream_digest(top->stream, got) &&
		    (ret = qf_image_digest_check(img, got, e)) < 0)
			return ret;
	} else {
		if ((ret = open_layer_qcow2(img, top, img->opts.snapshot, e)) < 0)
			return ret;
		if ((ret = open_backing(img, e)) < 0)
			return ret;
	}
	list_files(img);
	return 0;
}

/* The open that every entry point ends with: @img's top file is set. */
static int open_image(struct qf_image *img, struct qf_image **out,
		      struct qf_err *e)
{
	int ret = open_top(img, e);

	/* The sidecars fetched beside a remote image are read by now. */
	qf_sidecars_drop(img);
	if (ret < 0) {
		qf_image_close(img);
		return ret;
	}
	/* The copies hold their own locks. */
	qf_cache_close(img->cache);
	img->cache = NULL;
	*out = img;
	return 0;
}

static struct qf_image *new_image(const char *name,
				  const struct qf_open_opts *opts)
{
	struct qf_image *img = qf_xcalloc(1, sizeof(*img));

	if (opts)
		img->opts = *opts;
	img->name = qf_url_redact(name);
	img->locator = qf_xstrdup(name);
	return img;
}

/* The checksum lists and bmaps that may sit beside a remote image, asked
 * for all at once while the image itself is opened. */
static void fetch_sidecars(struct qf_image *img, const char *name)
{
	/* Room for either list of names. */
	char *names[QF_CHECKSUM_BESIDE > QF_BMAP_BESIDE ? QF_CHECKSUM_BESIDE
							: QF_BMAP_BESIDE];
	const struct qf_open_opts *o = &img->opts;
	bool packed_name;
	int n = 0;

	if (!qf_name_is_url(name))
		return;
	if (!o->sha256)
		n = qf_checksum_beside(name, names);
	else if (qf_name_is_url(o->sha256))
		names[n++] = qf_xstrdup(o->sha256);
	qf_sidecars_fetch(img, names, n, QF_SUMS_MAX, o);
	for (int i = 0; i < n; i++)
		free(names[i]);
	n = 0;
	if (o->bmap && qf_name_is_url(o->bmap)) {
		names[n++] = qf_xstrdup(o->bmap);
	} else if (!o->bmap && !o->no_bmap) {
		/* Only a compressed image has a bmap looked for: none is
		 * asked for beside a qcow2. */
		n = qf_bmap_beside(name, names, &packed_name);
		if (!packed_name) {
			for (int i = 0; i < n; i++)
				free(names[i]);
			n = 0;
		}
	}
	qf_sidecars_fetch(img, names, n, QF_BMAP_MAX, o);
	for (int i = 0; i < n; i++)
		free(names[i]);
}

int qf_image_open(const char *name, const struct qf_open_opts *opts,
		  struct qf_image **out, struct qf_err *e)
{
	struct qf_image *img = new_image(name, opts);
	struct qf_source **top = &img->layers[0].file;
	struct qf_err why = { 0 };
	int ret, r = 0;

	fetch_sidecars(img, name);
	ret = qf_source_open(name, NULL, &img->opts, top, &why);

	/* Found before the cache's copy is chosen, so that a download is
	 * checked against it; without a server, only one given can be. */
	if (ret == 0 || (img->opts.cache_dir && img->opts.sha256 &&
			 qf_name_is_url(name) && qf_cache_unreachable(ret)))
		r = find_checksum(img, e);
	ret = r < 0 ? r : image_cache_file(img, &img->layers[0], name, NULL,
					   ret, &why, top, e);
	if (ret < 0) {
		qf_sidecars_drop(img);
		qf_image_close(img);
		return ret;
	}
	return open_image(img, out, e);
}

int qf_image_open_source(struct qf_source *src, const struct qf_open_opts *opts,
			 struct qf_image **out, struct qf_err *e)
{
	struct qf_image *img = new_image(src->name, opts);

	/* No place to look for checksums, backing or data files. */
	img->opts.sha256 = NULL;
	img->opts.cache_dir = NULL;
	img->alone = true;
	img->layers[0].file = src;
	return open_image(img, out, e);
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
		free(l->cache_file);
	}
	qf_cache_close(img->cache);
	free(img->files);
	free(img->name);
	free(img->locator);
	free(img->sha256_origin);
	free(img->disk_origin);
	qf_bmap_free(img->bmap);
	free(img->member);
	free(img);
}

int qf_image_check_unchanged(struct qf_image *img, struct qf_err *e)
{
	int ret = 0;

	for (int i = 0; i < img->nlayers && ret == 0; i++) {
		ret = qf_source_unchanged(img->layers[i].file, e);
		if (ret == 0)
			ret = qf_source_unchanged(img->layers[i].data, e);
	}
	return ret;
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

const char *const *qf_image_files(const struct qf_image *img)
{
	return img->files;
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
