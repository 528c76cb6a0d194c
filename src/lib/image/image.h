/* image.h - the image layer's entry points that front ends do not see:
 * an image over a source that is already open, such as one in memory
 * (unit tests and fuzzing harnesses feed images this way). */
#ifndef QF_IMAGE_H
#define QF_IMAGE_H

#include "source/source.h"

/* qf_image_open over @src, which the image owns from then on (closed with
 * it, or at once when the open fails).  No checksum is looked for
 * (opts->sha256 is ignored), and an image that names a backing or
 * external data file is refused with -ENOENT: there is nowhere to find
 * one. */
int qf_image_open_source(struct qf_source *src, const struct qf_open_opts *opts,
			 struct qf_image **out, struct qf_err *e);

/* An image's bytes read again after the engine's pass (reread.c), to
 * rewrite what a target did not keep.  Any offset of any image can be
 * read; a compressed stream decodes its file again from the first byte
 * for bytes beyond its head, so reads are cheapest in increasing order
 * (going back starts the decoder over).  Not thread-safe: one per
 * thread. */
struct qf_reread;
struct qf_reread *qf_image_reread_new(struct qf_image *img);
int qf_image_reread(struct qf_reread *r, void *buf, size_t len, uint64_t off,
		    struct qf_err *e);
void qf_image_reread_free(struct qf_reread *r);

/* With @on, reads of the image's files under way and to come give up at
 * once (ECANCELED) instead of waiting for a server; without, they work
 * again (qf_source_interrupt).  For a flash being cancelled. */
void qf_image_interrupt(struct qf_image *img, bool on);
/* A compressed image's stream decoded to its end once the engine reads
 * it no more, until *@cancel (qf_stream_finish): 0 for other images. */
int qf_image_stream_finish(struct qf_image *img, const atomic_bool *cancel,
			   struct qf_err *e);

#endif
