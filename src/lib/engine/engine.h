/* engine.h - the engine's units of work and its read-back tools: the
 * chunk every plan, hash and verification is aligned to, and verify.c's
 * chunk hashes, target reader and read-back check.  job.h describes a job
 * to the modules that run it. */
#ifndef QF_ENGINE_H
#define QF_ENGINE_H

#include "internal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Unit of planning, hashing and verification: data chunks are always the
 * aligned block [k * QF_CHUNK, min((k + 1) * QF_CHUNK, len)) of a target. */
#define QF_CHUNK ((uint64_t)4 << 20)
/* Buffers handed to O_DIRECT I/O are aligned to this. */
#define QF_IO_ALIGN 4096u

/* -------------------------------------------------------------- verify.c */

struct qf_chunk_hash {
	uint64_t off;                /* target offset, multiple of QF_CHUNK */
	uint64_t len;
	uint64_t hash;               /* qf_chunk_hash() of the bytes */
};

uint64_t qf_chunk_hash(const void *buf, size_t len);
/* Sort by offset (workers store hashes out of order). */
void qf_chunk_hash_sort(struct qf_chunk_hash *h, size_t n);
/* Checksum of @len bytes described by @h (sorted; every other block is
 * zeros).  See verify.c for the definition. */
uint64_t qf_stream_checksum(const struct qf_chunk_hash *h, size_t n,
			    uint64_t len);

/* A target opened for reading back: O_DIRECT when the kernel allows it,
 * else buffered with the page cache dropped first. */
struct qf_reader {
	const char *path;
	int fd;
	bool direct;
	bool regular;                /* regular file: holes can be skipped */
	uint64_t size;               /* file or device size */
};

int qf_reader_open(struct qf_reader *r, const char *path, struct qf_err *e);
void qf_reader_close(struct qf_reader *r);
/* Compare [off, off + len) of the target with @expect (NULL: zeros) using
 * @scratch (aligned, @scratch_len bytes, a multiple of QF_IO_ALIGN).
 * Returns 0 when equal, 1 with *mismatch set, or a negative errno. */
int qf_reader_compare(struct qf_reader *r, const void *expect, size_t len,
		      uint64_t off, void *scratch, size_t scratch_len,
		      uint64_t *mismatch, struct qf_err *e);

struct qf_readback {
	const char *path;
	uint64_t len;                    /* bytes of the target to check */
	const struct qf_chunk_hash *h;   /* sorted data chunks */
	size_t nh;
	void *buf;                       /* QF_CHUNK bytes, aligned */
	const atomic_bool *stop;
	/* Called after each block with the bytes checked so far. */
	void (*progress)(void *ctx, uint64_t done);
	/* Optional: fill @buf with the expected bytes at @off, so a hash
	 * mismatch can be narrowed down to its first byte. */
	int (*expected)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
};

/* Read the whole target back and check it against the hashes.  Returns 0
 * when it matches, 1 with *mismatch set to the first differing offset,
 * -ECANCELED when stopped, or a negative errno for read errors. */
int qf_readback_verify(const struct qf_readback *v, uint64_t *mismatch,
		       struct qf_err *e);

#endif
