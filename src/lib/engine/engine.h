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

/* Drop what the page cache holds of [off, off + len), so the next read
 * of a buffered reader sees the device (after a rewrite). */
void qf_reader_forget(struct qf_reader *r, uint64_t off, uint64_t len);

/* A range that reads back wrong is rewritten and read again this many
 * times before the drive counts as bad media. */
#define QF_HEAL_TRIES 2
/* A target whose read-back needs more ranges rewritten than this is
 * failing whatever the rewrites say: it counts as bad media too. */
#define QF_HEAL_MAX 64

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
	/* Optional: write [off, off + len) of the target again with what it
	 * must hold (@zeros, or the data chunk there) and sync it, so it
	 * can be read back once more: 0 when rewritten, 1 when its bytes
	 * cannot be produced again (why in @e), or a negative errno. */
	int (*rewrite)(void *ctx, uint64_t off, uint64_t len, bool zeros,
		       struct qf_err *e);
	/* Optional: a rewritten range read back right; @mismatch was its
	 * first wrong byte. */
	void (*healed)(void *ctx, uint64_t mismatch);
	void *ctx;
};

/* Why a read-back failed. */
enum qf_readback_bad {
	QF_BAD_DIFFERS,          /* a difference that was not rewritten */
	QF_BAD_STAYS,            /* still wrong after QF_HEAL_TRIES rewrites */
	QF_BAD_RELAPSED,         /* read back right once rewritten, then
				    wrong again at the end */
	QF_BAD_TOO_MANY,         /* more than QF_HEAL_MAX ranges read back
				    wrong */
};

struct qf_readback_result {
	uint64_t mismatch;       /* the first wrong byte (of the last read) */
	enum qf_readback_bad why;
	struct qf_err cannot;    /* QF_BAD_DIFFERS: why it was not rewritten
				    ("" when there was no way to) */
};

/* Read the whole target back and check it against the hashes; with
 * @v->rewrite, a block that reads back wrong (a data chunk, or the
 * QF_CHUNK-aligned block of a zero run) is rewritten and read again, up
 * to QF_HEAL_TRIES times, and every block healed so is checked once more
 * at the end.  Returns 0 when everything matches, 1 with @res filled,
 * -ECANCELED when stopped, or a negative errno for read and write
 * errors. */
int qf_readback_verify(const struct qf_readback *v,
		       struct qf_readback_result *res, struct qf_err *e);

#endif
