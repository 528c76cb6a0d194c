/* peek.h - windows of a compressed image beyond its head, decoded ahead
 * of time by a second decoder so that the filesystems of every partition
 * can be named before anything is flashed. */
#ifndef QF_PEEK_H
#define QF_PEEK_H

#include "codec/codec.h"

/* Bytes kept per window: what libblkid looks at for a filesystem. */
#define QF_PEEK_WINDOW ((size_t)2 << 20)
/* At most this many windows, so that memory stays bounded. */
#define QF_PEEK_MAX 16
/* Decoded bytes a peek may go through before it gives up on the rest:
 * a window further out is simply not filled. */
#define QF_PEEK_LIMIT ((uint64_t)2 << 30)

struct qf_peek;

/* Decode @in (a file of @ops' format) from its start with a decoder of
 * its own (of @member in an archive) and keep QF_PEEK_WINDOW bytes at each of @offs (@n of them, in
 * any order; those past QF_PEEK_MAX or QF_PEEK_LIMIT are left out).
 * NULL with @e set when the data cannot be decoded. */
struct qf_peek *qf_peek_run(const struct qf_codec_ops *ops,
			    struct qf_source *in, const char *member,
			    const uint64_t *offs, size_t n, struct qf_err *e);
/* Copy [@off, @off + @len) when one window holds all of it: true. */
bool qf_peek_read(const struct qf_peek *p, void *buf, size_t len,
		  uint64_t off);
void qf_peek_free(struct qf_peek *p);

#endif
