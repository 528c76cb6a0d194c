/* bzip2_blocks.h - decoding a bzip2 file's blocks on several threads
 * (bzip2_blocks.c), for bzip2.c, which decodes in order when this cannot
 * be used. */
#ifndef QF_BZIP2_BLOCKS_H
#define QF_BZIP2_BLOCKS_H

#include "codec/codec.h"

struct bzp;

/* A parallel decoder reading @c's input from its start; NULL when the
 * machine has one CPU (or no thread starts). */
struct bzp *bzp_new(struct qf_codec *c);
/* As qf_codec_ops.read.  -EAGAIN: the file is not what the block finder
 * took it for (a damaged file, or a magic inside compressed data); the
 * bytes given so far are right, and the rest has to come from a decoder
 * that reads in order. */
int bzp_read(struct bzp *p, uint8_t *out, size_t n, size_t *got,
	     struct qf_err *e);
/* Decoded bytes given out so far. */
uint64_t bzp_emitted(const struct bzp *p);
void bzp_free(struct bzp *p);

#endif
