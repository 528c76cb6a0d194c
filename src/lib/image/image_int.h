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
};

struct qf_image {
	char *name;                /* as shown: without credentials */
	char *locator;             /* as given: files beside it are found here */
	struct qf_open_opts opts;
	int nlayers;
	struct layer layers[MAX_LAYERS];
	const char **files;        /* qf_image_files, once the chain is open */
	bool alone;                /* over a source of its own: names no other
				      file (qf_image_open_source) */
	/* The published SHA-256 of the image file, "" when there is none,
	 * and where it came from. */
	char sha256[65];
	char *sha256_origin;
	struct qf_bmap *bmap;        /* a stream's bmap, or NULL */
	char *member;                /* the archive member flashed, or NULL */
};

/* For a stream image, decode the bytes at each of @offs ahead of the
 * engine so reads there succeed (partition starts, for probing their
 * filesystems); NULL @offs lets them go.  Other images need nothing;
 * failures only leave the reads failing. */
void qf_image_peek(struct qf_image *img, const uint64_t *offs, size_t n);

#endif
