/* flashlog.h - the flash log (flashlog.c): one JSON line per target and
 * flash, appended to a file that survives the program. */
#ifndef QF_FLASHLOG_H
#define QF_FLASHLOG_H

#include "internal.h"

struct qf_flashlog_entry {
	int64_t time;                /* wall clock, seconds since the epoch */
	const char *image;           /* absolute path or URL */
	const char *cache;           /* read from a local copy: how it was had
					("downloaded", "reused", "offline"),
					else NULL */
	const char *snapshot_id;     /* internal snapshot flashed, or NULL */
	const char *snapshot_name;
	uint64_t virtual_size;
	const char *mode;            /* "whole-disk", "partition", "verify" */
	int partition;               /* 0 unless a partition was written */
	const char *source_sha256;   /* of the image file, or NULL */
	const char *published_sha256;/* what it was checked against, or NULL */
	const char *checksum_origin; /* where that came from */
	const char *checksum_result; /* "ok", "mismatch", "not checked" */
	/* The disk image's published SHA-256 (or NULL), what it was found to
	 * be (or NULL) and the result, as for the file. */
	const char *disk_published, *disk_sha256, *disk_result;
	bool have_checksum;
	uint64_t checksum;
	const char *target;
	const char *model, *serial, *wwn;
	uint64_t target_size;
	const struct qf_record_info *info;  /* station fields, or NULL */
	int64_t finished;            /* wall clock at the result, 0 if none */
	unsigned adjusted;           /* enum qf_adjustment bits done */
	uint64_t bytes_written;
	uint64_t bytes_zeroed;
	double duration;             /* seconds */
	const char *result;          /* "ok", "failed", "cancelled", "mismatch" */
	const char *verify;          /* "ok", "mismatch", "skipped" */
	uint32_t healed;             /* ranges rewritten until they read
					back right */
	const uint64_t *healed_at;   /* the first of their offsets */
	size_t nhealed_at;
	const char *error;           /* "" when none */
};

/* Append one JSON line to @path, creating its directory if needed. */
int qf_flashlog_append(const char *path, const struct qf_flashlog_entry *en,
		       struct qf_err *e);

#endif
