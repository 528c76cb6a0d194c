/* stream.h - gzip/zstd-compressed raw images seen as a virtual source
 * holding the decompressed bytes (see stream.c for the reading model). */
#ifndef QF_STREAM_H
#define QF_STREAM_H

#include "source/source.h"

/* Bytes of the decompressed stream that stay readable at any time: the
 * partition tables and the first filesystem superblocks live there. */
#define QF_STREAM_HEAD ((uint64_t)4 << 20)

/* Open the decompressed view of @in (format QF_FORMAT_GZIP or
 * QF_FORMAT_ZSTD).  Its size is the decompressed size rounded up to 512
 * bytes, found at open time.  @in is not owned: close the stream source
 * first, then @in. */
int qf_stream_open(struct qf_source *in, enum qf_format fmt,
		   struct qf_source **out, struct qf_err *e);

/* qf_image_read for streams: reads inside the head only, so probing the
 * partition tables never moves the stream forward. */
int qf_stream_read_head(struct qf_source *s, void *buf, size_t len,
			uint64_t off, struct qf_err *e);

#endif
