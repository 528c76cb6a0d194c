/* sink.h - a write target of a job: a block device or a regular file. */
#ifndef QF_SINK_H
#define QF_SINK_H

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct qf_sink {
	char *path;
	int fd;
	bool blockdev;
	bool created;        /* the file did not exist: unlink it on abort */
	bool fresh;          /* every byte reads as zero: zeroing is a no-op */
	bool direct;         /* fd is O_DIRECT */
	bool no_zeroout;     /* BLKZEROOUT unsupported: write zeros */
	bool no_punch;       /* hole punching unsupported: write zeros */
	uint64_t size;       /* device size; for files the size set */
	unsigned lbs;        /* logical block size (512 for files) */
};

/* Open @path for writing: block devices O_EXCL, regular files created if
 * missing.  Nothing is written or truncated yet. */
int qf_sink_open(struct qf_sink *s, const char *path, bool direct,
		 struct qf_err *e);
/* Files: make the file exactly @size bytes.  A file this job created is
 * then all holes, which lets zero runs be skipped. */
int qf_sink_set_size(struct qf_sink *s, uint64_t size, struct qf_err *e);
int qf_sink_write(struct qf_sink *s, const void *buf, size_t len,
		  uint64_t off, struct qf_err *e);
/* Make [off, off + len) read as zeros. */
int qf_sink_zero(struct qf_sink *s, uint64_t off, uint64_t len,
		 struct qf_err *e);
int qf_sink_sync(struct qf_sink *s, struct qf_err *e);
/* Ask the kernel to re-read a whole disk's partition table.  Returns 0, or
 * a positive errno worth telling the user (busy, not supported). */
int qf_sink_reread_table(struct qf_sink *s);
void qf_sink_close(struct qf_sink *s);
/* Close and remove a file this job created; used when a job never
 * started writing. */
void qf_sink_discard(struct qf_sink *s);

#endif
