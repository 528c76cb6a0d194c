/* image_int.h - an opened image as its modules share it: the chain of
 * layers (image.c) that the allocation map (map.c) walks. */
#ifndef QF_IMAGE_INT_H
#define QF_IMAGE_INT_H

#include "image/qcow2.h"

/* A chain of any depth up to 64 backing files below the image. */
#define MAX_LAYERS 65

struct layer {
	struct qf_source *file;
	struct qf_source *data;    /* external data file, or NULL */
	struct qf_source *stream;  /* gzip/zstd: the decompressed view of file */
	struct qcow2 *q;           /* NULL for raw layers */
	struct qf_layer_info info; /* info.virtual_size: the layer's size */
	char *cache_file;          /* info.cache_file's string */
};

struct qf_image {
	char *name;                /* as shown: without credentials */
	char *locator;             /* as given: files beside it are found here */
	struct qf_open_opts opts;
	struct qf_cache *cache;    /* while the chain opens (opts.cache_dir) */
	int nlayers;
	struct layer layers[MAX_LAYERS];
	const char **files;        /* qf_image_files, once the chain is open */
	bool alone;                /* over a source of its own: names no other
				      file (qf_image_open_source) */
	/* The published SHA-256 of the image file, "" when there is none,
	 * and where it came from. */
	char sha256[65];
	char *sha256_origin;
	/* The disk image's published SHA-256 ("" when none) and its origin. */
	char disk_sha256[65];
	char *disk_origin;
	struct qf_bmap *bmap;        /* a stream's bmap, or NULL */
	char *member;                /* the archive member flashed, or NULL */
};

/* image_cache.c: after qf_source_open(@name, @base) returned @ret (with
 * *@src, or the error in @why), the file as the image reads it: when the
 * image is read through a cache and the file is remote, its local copy
 * instead (layer @l's info says so; NULL for a data file), checked
 * against the published checksum when it is the image itself.  Every
 * other case passes @ret and @why through. */
int image_cache_file(struct qf_image *img, struct layer *l, const char *name,
		     const char *base, int ret, const struct qf_err *why,
		     struct qf_source **src, struct qf_err *e);

/* For a stream image, decode the bytes at each of @offs ahead of the
 * engine so reads there succeed (partition starts, for probing their
 * filesystems); NULL @offs lets them go.  Other images need nothing;
 * failures only leave the reads failing. */
void qf_image_peek(struct qf_image *img, const uint64_t *offs, size_t n);

#endif
