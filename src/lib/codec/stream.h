/* stream.h - compressed raw images (codec.h) seen as a virtual source
 * holding the decompressed bytes (see stream.c for the reading model). */
#ifndef QF_STREAM_H
#define QF_STREAM_H

#include "source/source.h"

struct qf_bmap;
struct qf_replay;

/* Bytes of the decompressed stream that stay readable at any time: the
 * partition tables and the first filesystem superblocks live there.  The
 * fuzzing build makes it and the window small (tests/fuzz/build.sh), so
 * that small inputs reach every path. */
#ifndef QF_STREAM_HEAD
#define QF_STREAM_HEAD ((uint64_t)4 << 20)
#endif

struct qf_stream_opts {
	/* The decompressed size when something else records it (a bmap
	 * file); 0: from the format, or a decoding pass. */
	uint64_t size;
	/* Compute the SHA-256 of the compressed file as it is read. */
	bool digest;
	/* Compute the SHA-256 of the decompressed image as it is decoded. */
	bool disk_digest;
	/* The image's bmap, or NULL: its size is the image's, bytes outside
	 * its ranges read as zeros and those inside are checked against
	 * its digests as they are decoded.  Not owned. */
	const struct qf_bmap *bmap;
	/* The member of an archive to flash, or NULL for its only image. */
	const char *member;
};

/* Open the decompressed view of @in, a file of format @fmt (one a codec
 * decodes).  Its size is the decompressed size rounded up to 512 bytes,
 * found at open time.  @in is not owned: close the stream source first,
 * then @in.  @o may be NULL. */
int qf_stream_open(struct qf_source *in, enum qf_format fmt,
		   const struct qf_stream_opts *o, struct qf_source **out,
		   struct qf_err *e);

/* The SHA-256 of the compressed file (lower-case hex), once every byte
 * of it has been read: 1, or 0 while it has not (or no digest was
 * asked for). */
int qf_stream_digest(struct qf_source *s, char hex[65]);
/* The same for the decompressed image, once it is decoded to its end. */
int qf_stream_disk_digest(struct qf_source *s, char hex[65]);

/* qf_image_read for streams: reads inside the head only, so probing the
 * partition tables never moves the stream forward. */
int qf_stream_read_head(struct qf_source *s, void *buf, size_t len,
			uint64_t off, struct qf_err *e);

/* Decode, with a decoder of its own, the first bytes at each of @offs
 * (@n of them: partition starts) beyond the head, so qf_stream_read_head
 * can read them too, until qf_stream_peek_done.  Local files only (a
 * remote one would be downloaded twice): elsewhere nothing is done. */
int qf_stream_peek(struct qf_source *s, const uint64_t *offs, size_t n,
		   struct qf_err *e);
void qf_stream_peek_done(struct qf_source *s);

/* Once no reader comes any more: decode to the end of the data (what
 * the bmap leaves unmapped is never read), so that the stream's end, its
 * bmap and its digests are checked.  0, the stream's error, or
 * -ECANCELED once *@cancel (may be NULL) is true. */
int qf_stream_finish(struct qf_source *s, const atomic_bool *cancel,
		     struct qf_err *e);

/* A second decoder over the same file (codec/replay.h), for bytes that
 * have left the window: they are decoded again from the first byte of
 * the file.  Free it before the stream. */
struct qf_replay *qf_stream_replay(struct qf_source *s);

#endif
