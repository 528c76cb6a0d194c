/* internal.h - what the library's modules share and front ends never see:
 * the byte-source abstraction, gettext macros and small helpers. */
#ifndef QF_INTERNAL_H
#define QF_INTERNAL_H

#include "config.h"
#include "qflash.h"
#include "bytes.h"

#include <stdatomic.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#ifdef ENABLE_NLS
#include <libintl.h>
#define _(s) dgettext(PACKAGE, s)
#else
#define _(s) (s)
#endif
#define N_(s) (s)

/* ------------------------------------------------------------- sources
 * A random-access, read-only byte source: a local file or an http(s) URL.
 * pread is thread-safe and either fills the whole buffer or fails; a read
 * that reaches past the end of the source fails with -EIO unless
 * QF_READ_ZERO_PAST_EOF is given, in which case the missing tail is zeros. */

#define QF_READ_ZERO_PAST_EOF 1u

struct qf_source_ops {
	int (*pread)(struct qf_source *s, void *buf, size_t len, uint64_t off,
		     struct qf_err *e);
	/* Optional: the engine announces a range it will read soon. */
	void (*prefetch)(struct qf_source *s, uint64_t off, uint64_t len);
	void (*close)(struct qf_source *s);
};

struct qf_source {
	const struct qf_source_ops *ops;
	char *name;              /* path (absolute) or URL */
	uint64_t size;
	bool remote;
	int fd;                  /* local files: the open fd, else -1 */
	dev_t dev;               /* local files: st_dev of the file */
	ino_t ino;
	atomic_uint_fast64_t bytes_read;
	atomic_uint_fast32_t retries;   /* http: retried requests */
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

int qf_source_file_open(const char *path, struct qf_source **out,
			struct qf_err *e);
int qf_source_http_open(const char *url, const struct qf_open_opts *opts,
			struct qf_source **out, struct qf_err *e);
bool qf_name_is_url(const char *name);
/* Split @url: [url, auth) scheme and "://", [auth, at) userinfo with its
 * '@' (may be empty), [at, end) host and port. */
void qf_url_authority(const char *url, const char **auth, const char **at,
		      const char **end);
/* "scheme://host[:port]" of @url, without userinfo; caller frees. */
char *qf_url_origin(const char *url);
/* Resolve @name relative to @base (a path or URL); caller frees. */
char *qf_resolve_name(const char *name, const char *base);

/* Decompress one COMPRESSED extent whose ext->clen input bytes are at @in
 * into @out (ext->len bytes).  Lets the engine read many adjacent
 * compressed clusters with one read and decompress them on workers. */
int qf_extent_decompress(const struct qf_extent *ext, const void *in,
			 void *out, struct qf_decomp *d, struct qf_err *e);

/* -------------------------------------------------------------- helpers */

void *qf_xmalloc(size_t n);      /* abort on OOM: nothing sane to do */
void *qf_xcalloc(size_t n, size_t m);
/* Room for element @n of a growing array of @size-byte elements, *@alloc
 * of them allocated: doubles it when full. */
void *qf_grow(void *v, size_t n, size_t *alloc, size_t size);
/* Aligned; with @align >= QF_HUGE_PAGE also asks for huge pages. */
#define QF_HUGE_PAGE ((size_t)2 << 20)
void *qf_xmemalign(size_t align, size_t n);
char *qf_xstrdup(const char *s);
char *qf_xstrndup(const char *s, size_t n);
char *qf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void qf_warn(const struct qf_open_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool qf_buf_is_zero(const void *buf, size_t len);
struct stat;
/* Size of the file or block device open as @fd (@st its fstat); 0 or a
 * negative errno. */
int qf_fd_size(int fd, const struct stat *st, uint64_t *size);

/* qf_device_probe without reading what is on the device (pttype and
 * fs_summary stay empty): every safety check, for a job about to write. */
int qf_device_check(const char *path, const char *source_path,
		    struct qf_device *out, struct qf_err *e);

#endif
