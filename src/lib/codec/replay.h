/* replay.h - a compressed image decoded a second time, from its first
 * byte, by a decoder of its own (replay.c): the bytes of a stream that
 * have long left the window, for rewriting a range a target did not
 * keep. */
#ifndef QF_REPLAY_H
#define QF_REPLAY_H

#include "codec/codec.h"

struct qf_bmap;
struct qf_replay;

/* A replay of @in (a file of @ops' format; @member of an archive, or NULL)
 * whose decompressed data is @expect bytes long; with @bmap, the bytes it
 * leaves unmapped read as zeros and the mapped ones are checked against
 * its digests again, as the first pass did.  Nothing is decoded yet.
 * @in, @member and @bmap are not owned and must outlive the replay. */
struct qf_replay *qf_replay_new(const struct qf_codec_ops *ops,
				struct qf_source *in, const char *member,
				uint64_t expect, const struct qf_bmap *bmap);
/* [@off, @off + @len) of the decompressed image (zeros past @expect).
 * Decodes forward from where the last read ended; a read behind it
 * starts the decoder over from the first byte. */
int qf_replay_read(struct qf_replay *r, void *buf, size_t len, uint64_t off,
		   struct qf_err *e);
void qf_replay_free(struct qf_replay *r);

#endif
