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
	char *name;
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
};

#endif
