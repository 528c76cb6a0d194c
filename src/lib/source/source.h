/* source.h - the bottom of the data path: random-access, read-only byte
 * sources (local files, http(s) URLs, memory) and the names images use to
 * refer to each other.  Nothing here knows what the bytes mean. */
#ifndef QF_SOURCE_H
#define QF_SOURCE_H

#include "internal.h"

#include <stdatomic.h>
#include <sys/types.h>

/* ------------------------------------------------------------- sources
 * A random-access, read-only byte source: a local file, an http(s) URL or
 * a buffer in memory.
 * pread is thread-safe and either fills the whole buffer or fails; a read
 * that reaches past the end of the source fails with -EIO unless
 * QF_READ_ZERO_PAST_EOF is given, in which case the missing tail is zeros. */

#define QF_READ_ZERO_PAST_EOF 1u

struct qf_source_ops {
	int (*pread)(struct qf_source *s, void *buf, size_t len, uint64_t off,
		     struct qf_err *e);
	/* Optional: the engine announces a range it will read soon. */
	void (*prefetch)(struct qf_source *s, uint64_t off, uint64_t len);
	/* Optional: 0 when the source is still what was opened, else
	 * -ESTALE with a message (a local file written meanwhile). */
	int (*unchanged)(struct qf_source *s, struct qf_err *e);
	/* Optional: with @on, reads under way and to come give up at once
	 * (ECANCELED) instead of waiting for a server or retrying; without,
	 * they work again.  A flash being cancelled, so that it ends at
	 * once even when the server is gone. */
	void (*interrupt)(struct qf_source *s, bool on);
	void (*close)(struct qf_source *s);
};

struct qf_source {
	const struct qf_source_ops *ops;
	char *name;              /* path (absolute) or URL */
	uint64_t size;
	bool remote;
	/* Read in order only (an http server without ranges): a read
	 * before the last ones starts the download over. */
	bool sequential;
	int fd;                  /* local files: the open fd, else -1 */
	dev_t dev;               /* local files: st_dev of the file */
	ino_t ino;
	atomic_uint_fast64_t bytes_read;
	/* http: retries.  Requests that meet the same outage retry as one:
	 * each retry number counts once until data flows again. */
	atomic_uint_fast32_t retries;
	/* http: the highest retry number since data last came (0 while it
	 * flows): while requests wait to be retried, the one under way */
	atomic_uint_fast32_t retrying;
	/* A decompressed view (codec/stream.c): the file it reads, whose
	 * counters are the ones to show; else NULL. */
	struct qf_source *under;
};

/* Open a source by name; @base (may be NULL) is the name of the image that
 * refers to it: relative names are resolved against its directory (or URL).
 * A name referred to by a remote image is never opened as a local file. */
int qf_source_open(const char *name, const char *base,
		   const struct qf_open_opts *opts, struct qf_source **out,
		   struct qf_err *e);
int qf_source_pread(struct qf_source *s, void *buf, size_t len, uint64_t off,
		    unsigned flags, struct qf_err *e);
void qf_source_close(struct qf_source *s);
/* See qf_source_ops.prefetch; nothing for sources without one. */
void qf_source_prefetch(struct qf_source *s, uint64_t off, uint64_t len);
/* See qf_source_ops.unchanged; 0 for sources that cannot tell. */
int qf_source_unchanged(struct qf_source *s, struct qf_err *e);
/* See qf_source_ops.interrupt; nothing for sources that never wait. */
void qf_source_interrupt(struct qf_source *s, bool on);

int qf_source_file_open(const char *path, struct qf_source **out,
			struct qf_err *e);
int qf_source_http_open(const char *url, const struct qf_open_opts *opts,
			struct qf_source **out, struct qf_err *e);
/* The ETag and Last-Modified (each "" when the server gave none) that
 * every response of the http source @s must show; false when @s is no
 * http source. */
bool qf_source_http_validators(const struct qf_source *s, const char **etag,
			       const char **lastmod);
/* The @len bytes at @buf as a source called @name: for images made in
 * memory.  The buffer is not copied and must outlive the source. */
int qf_source_memory_open(const char *name, const void *buf, size_t len,
			  struct qf_source **out);
bool qf_name_is_url(const char *name);
/* Split @url: [url, auth) scheme and "://", [auth, at) userinfo with its
 * '@' (may be empty), [at, end) host and port. */
void qf_url_authority(const char *url, const char **auth, const char **at,
		      const char **end);
/* "scheme://host[:port]" of @url, without userinfo; caller frees. */
char *qf_url_origin(const char *url);
/* Resolve @name relative to @base (a path or URL); caller frees. */
char *qf_resolve_name(const char *name, const char *base);
/* @url without its userinfo, fragment and the query parameters that are
 * credentials (signatures, tokens: see url.c for the rule), as it may be
 * shown or logged; a path is returned as it is.  Caller frees. */
char *qf_url_redact(const char *url);

#endif
