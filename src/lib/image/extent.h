/* extent.h - reading the extents of an image's allocation map (extent.c):
 * what the engine's workers call besides qf_extent_read. */
#ifndef QF_EXTENT_H
#define QF_EXTENT_H

#include "source/source.h"

/* Decompress one COMPRESSED extent whose ext->clen input bytes are at @in
 * into @out (ext->len bytes).  Lets the engine read many adjacent
 * compressed clusters with one read and decompress them on workers. */
int qf_extent_decompress(const struct qf_extent *ext, const void *in,
			 void *out, struct qf_decomp *d, struct qf_err *e);

/* The file of the image's top layer, as published (image.c). */
struct qf_source *qf_image_file(struct qf_image *img);

#endif
