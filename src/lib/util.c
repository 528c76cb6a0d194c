/* util.c - errors, allocation, warnings and small helpers shared by every
 * module of the library. */
#include "internal.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <linux/fs.h>

const char *qf_version(void)
{
	return PACKAGE_VERSION;
}

void qf_init(void)
{
#ifdef ENABLE_NLS
	/* QFLASH_LOCALEDIR lets an uninstalled build find its catalogs. */
	const char *ld = getenv("QFLASH_LOCALEDIR");

	bindtextdomain(PACKAGE, ld && *ld ? ld : LOCALEDIR);
	bind_textdomain_codeset(PACKAGE, "UTF-8");
#endif
}

static locale_t c_locale;
static pthread_once_t c_once = PTHREAD_ONCE_INIT;

static void c_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* @fmt rendered twice: translated into @msg, in English (the C locale,
 * for %m too) into @en; errno is @err for %m. */
static void render(char *msg, char *en, size_t len, int err, const char *fmt,
		   va_list ap)
{
	va_list ap2;
	locale_t old;

	va_copy(ap2, ap);
	errno = err;
	/* _("") would be the catalog's header. */
	vsnprintf(msg, len, fmt[0] ? _(fmt) : fmt, ap);
	pthread_once(&c_once, c_init);
	old = c_locale ? uselocale(c_locale) : (locale_t)0;
	errno = err;
	vsnprintf(en, len, fmt, ap2);
	if (c_locale)
		uselocale(old);
	va_end(ap2);
}

int qf_err_vset(struct qf_err *e, int code, const char *fmt, va_list ap)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -EINVAL;
	if (e && e->code == 0) {
		render(e->msg, e->msg_en, sizeof(e->msg), -code, fmt, ap);
		e->code = code;
	}
	return code;
}

int qf_err_set(struct qf_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = qf_err_vset(e, code, fmt, ap);
	va_end(ap);
	return ret;
}

/* @buf = @a @sep @b (no @sep after an empty @a), cut to @len. */
static void join(char *buf, size_t len, const char *a, const char *sep,
		 const char *b)
{
	char tmp[QF_ERR_MSG_MAX];
	const char *part[3] = { a, a[0] ? sep : "", b };
	size_t used = 0;

	for (int i = 0; i < 3; i++) {
		size_t n = strlen(part[i]);
		if (n > sizeof(tmp) - 1 - used)
			n = sizeof(tmp) - 1 - used;
		memcpy(tmp + used, part[i], n);
		used += n;
	}
	tmp[used] = 0;
	if (used >= len)
		used = len - 1;
	memcpy(buf, tmp, used);
	buf[used] = 0;
}

void qf_err_append(struct qf_err *e, const char *sep, const char *fmt, ...)
{
	char msg[QF_ERR_MSG_MAX], en[QF_ERR_MSG_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	render(msg, en, sizeof(msg), e->code ? -e->code : 0, fmt, ap);
	va_end(ap);
	join(e->msg, sizeof(e->msg), e->msg, sep, msg);
	join(e->msg_en, sizeof(e->msg_en), e->msg_en, sep, en);
}

void qf_err_join(struct qf_err *e, const char *sep, const struct qf_err *more)
{
	join(e->msg, sizeof(e->msg), e->msg, sep, more->msg);
	join(e->msg_en, sizeof(e->msg_en), e->msg_en, sep, more->msg_en);
}

void qf_err_prefix(struct qf_err *e, const char *fmt, ...)
{
	char msg[QF_ERR_MSG_MAX], en[QF_ERR_MSG_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	render(msg, en, sizeof(msg), e->code ? -e->code : 0, fmt, ap);
	va_end(ap);
	join(e->msg, sizeof(e->msg), msg, "", e->msg);
	join(e->msg_en, sizeof(e->msg_en), en, "", e->msg_en);
}

static void oom(void)
{
	fputs("qflash: out of memory\n", stderr);
	abort();
}

void *qf_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *qf_grow(void *v, size_t n, size_t *alloc, size_t size)
{
	if (n < *alloc)
		return v;
	*alloc = *alloc ? *alloc * 2 : 8;
	if (*alloc > SIZE_MAX / size)
		oom();
	v = realloc(v, *alloc * size);
	if (!v)
		oom();
	return v;
}

void *qf_xmemalign(size_t align, size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, align, n ? n : 1) != 0)
		oom();
#ifdef MADV_HUGEPAGE
	/* Big buffers in transparent huge pages: each is faulted in, pinned
	 * for O_DIRECT and released a huge page at a time. */
	if (align >= QF_HUGE_PAGE)
		(void)madvise(p, n / QF_HUGE_PAGE * QF_HUGE_PAGE, MADV_HUGEPAGE);
#endif
	return p;
}

void *qf_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

char *qf_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *qf_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *qf_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	va_end(ap);
	return p;
}

void qf_warn(const struct qf_open_opts *o, const char *fmt, ...)
{
	char msg[QF_ERR_MSG_MAX];
	va_list ap;

	if (!o || !o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->warn(o->warn_ctx, msg);
}

bool qf_buf_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	const uint64_t *w;
	size_t i;

	/* Word-at-a-time after a short unaligned head; the common case (data)
	 * fails within the first few words. */
	while (len && ((uintptr_t)p & 7)) {
		if (*p)
			return false;
		p++;
		len--;
	}
	w = (const uint64_t *)p;
	for (i = 0; i + 8 <= len / 8; i += 8) {
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] |
		    w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	}
	for (; i < len / 8; i++)
		if (w[i])
			return false;
	p += (len / 8) * 8;
	for (i = 0; i < len % 8; i++)
		if (p[i])
			return false;
	return true;
}

int qf_fd_size(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st->st_size;
	return 0;
}

struct timespec qf_deadline_in(double seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - (time_t)seconds) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

double qf_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const size_units[] = {
	"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

/* @bytes in unit @u (a power of 1024), as qf_size_str writes it. */
static void size_in(uint64_t bytes, int u, char *buf, size_t len)
{
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)(1ull << (10 * u)),
			 size_units[u]);
}

/* The unit qf_size_str picks for @bytes. */
static int size_unit(uint64_t bytes)
{
	int u = 0;

	for (; bytes >= 1024 && u < 6; bytes >>= 10)
		u++;
	return u;
}

const char *qf_size_str(uint64_t bytes, char *buf, size_t len)
{
	size_in(bytes, size_unit(bytes), buf, len);
	return buf;
}

void qf_size_pair_str(uint64_t a, uint64_t b, char *abuf, char *bbuf,
		      size_t len)
{
	int u = size_unit(a > b ? a : b);

	/* One decimal hides differences below a tenth of the unit: go down
	 * until the two differ, as they do in bytes. */
	for (;; u--) {
		size_in(a, u, abuf, len);
		size_in(b, u, bbuf, len);
		if (u == 0 || a == b || strcmp(abuf, bbuf) != 0)
			return;
	}
}

const char *qf_format_name(enum qf_format f)
{
	switch (f) {
	case QF_FORMAT_QCOW2: return "qcow2";
	case QF_FORMAT_RAW: return "raw";
	case QF_FORMAT_GZIP: return "gzip";
	case QF_FORMAT_ZSTD: return "zstd";
	case QF_FORMAT_XZ: return "xz";
	case QF_FORMAT_BZIP2: return "bzip2";
	case QF_FORMAT_LZ4: return "lz4";
	case QF_FORMAT_ZIP: return "zip";
	default: return "auto";
	}
}

int qf_make_dirs(const char *dir, unsigned mode)
{
	char *d = qf_xstrdup(dir);
	struct stat st;
	int ret = 0;

	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(d, mode);     /* EEXIST is fine; the last one tells */
		*p = '/';
	}
	if (mkdir(d, mode) < 0 && errno != EEXIST)
		ret = -errno;
	else if (stat(d, &st) < 0)
		ret = -errno;
	else if (!S_ISDIR(st.st_mode))
		ret = -ENOTDIR;
	free(d);
	return ret;
}
