/* internal.h - the bottom of the library, shared by every module and never
 * seen by front ends: gettext macros and small helpers. */
#ifndef QF_INTERNAL_H
#define QF_INTERNAL_H

#include "config.h"
#include "qflash.h"
#include "bytes.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef ENABLE_NLS
#include <libintl.h>
#define _(s) dgettext(PACKAGE, s)
#else
#define _(s) (s)
#endif
#define N_(s) (s)

/* -------------------------------------------------------------- helpers */

void *qf_xmalloc(size_t n);      /* abort on OOM: nothing sane to do */
void *qf_xcalloc(size_t n, size_t m);
/* Room for element @n of a growing array of @size-byte elements, *@alloc
 * of them allocated: doubles it when full. */
void *qf_grow(void *v, size_t n, size_t *alloc, size_t size);
/* The absolute time @seconds from now, for pthread_cond_timedwait (whose
 * clock is CLOCK_REALTIME). */
struct timespec qf_deadline_in(double seconds);
/* Aligned; with @align >= QF_HUGE_PAGE also asks for huge pages. */
#define QF_HUGE_PAGE ((size_t)2 << 20)
void *qf_xmemalign(size_t align, size_t n);
char *qf_xstrdup(const char *s);
char *qf_xstrndup(const char *s, size_t n);
char *qf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* @dir and the missing directories above it (mkdir -p), new ones with
 * @mode: 0 when @dir is a directory afterwards, else -errno. */
int qf_make_dirs(const char *dir, unsigned mode);
/* qf_err_set with its arguments in @ap, for helpers that take a format. */
int qf_err_vset(struct qf_err *e, int code, const char *fmt, va_list ap);
/* Add @sep (after a non-empty message) and both texts of @more to @e. */
void qf_err_join(struct qf_err *e, const char *sep, const struct qf_err *more);
void qf_warn(const struct qf_open_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool qf_buf_is_zero(const void *buf, size_t len);
struct stat;
/* Size of the file or block device open as @fd (@st its fstat); 0 or a
 * negative errno. */
int qf_fd_size(int fd, const struct stat *st, uint64_t *size);

#endif
