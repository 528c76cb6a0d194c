/* cache_index.c - the cache directory's layout (cache.h), its locks, and
 * the index that maps URLs to objects.
 *
 * The index is a text file, rewritten whole (a new file renamed over it)
 * under an exclusive flock of DIR/lock, and read under a shared one:
 *   qflash-cache-index 1
 *   SHA256 SIZE STORED LAST_USE INO MTIME CTIME ETAG LAST_MODIFIED URL
 * one entry per line, its fields separated by tabs, times in nanoseconds
 * since the epoch.  The URL is the key, without its credentials
 * (qf_url_redact), so no signature or token is ever written here; none of
 * the fields can hold a tab or a newline (cache_clean).  A line that does
 * not parse is dropped, and its object with it once nothing names it. */
#include "source/cache.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAGIC "qflash-cache-index 1"
#define INDEX_MAX ((size_t)64 << 20)
#define FIELDS 10

int64_t cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *cache_object_path(const struct qf_cache *c, const char *sha256)
{
	return qf_xasprintf("%s/objects/%s", c->dir, sha256);
}

char *cache_tmp_path(const struct qf_cache *c, const char *key_id,
		     const char *suffix)
{
	return qf_xasprintf("%s/tmp/%s.%s", c->dir, key_id, suffix);
}

char *cache_clean(const char *s)
{
	char *r = qf_xstrdup(s ? s : "");

	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

int cache_lock(const char *path, int op, int *fd, struct qf_err *e)
{
	for (;;) {
		struct stat a, b;
		int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		int r;

		if (f < 0)
			return qf_err_set(e, errno, N_("%s: cannot open the cache's lock: %m"),
					  path);
		while ((r = flock(f, op)) < 0 && errno == EINTR)
			;
		if (r < 0) {
			int err = errno;
			close(f);
			if (err == EWOULDBLOCK)
				return -EWOULDBLOCK;
			return qf_err_set(e, err, N_("%s: cannot lock: %m"), path);
		}
		if (fstat(f, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*fd = f;
			return 0;
		}
		close(f);      /* removed by the holder we waited for */
	}
}

void cache_unlock(int fd, const char *path, bool remove)
{
	if (fd < 0)
		return;
	if (remove)
		unlink(path);
	close(fd);
}

/* ---------------------------------------------------------------- read */

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

static bool parse_i64(const char *s, int64_t *v)
{
	uint64_t u;

	if (!parse_u64(s, &u) || u > INT64_MAX)
		return false;
	*v = (int64_t)u;
	return true;
}

static bool is_sha(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 64 && !s[n];
}

static struct cache_entry *add(struct cache_index *ix)
{
	struct cache_entry *en;

	ix->v = qf_grow(ix->v, ix->n, &ix->alloc, sizeof(*ix->v));
	en = &ix->v[ix->n++];
	memset(en, 0, sizeof(*en));
	return en;
}

/* One line, cut in place at its tabs. */
static void parse_line(struct cache_index *ix, char *line)
{
	char *f[FIELDS];
	struct cache_entry tmp = { 0 }, *en;
	int n = 0;

	for (char *p = line; n < FIELDS; n++) {
		f[n] = p;
		p = strchr(p, '\t');
		if (!p) {
			n++;
			break;
		}
		*p++ = 0;
		if (n == FIELDS - 1)
			return;        /* a tab more than there are fields */
	}
	if (n != FIELDS || !is_sha(f[0]) || !parse_u64(f[1], &tmp.size) ||
	    !parse_i64(f[2], &tmp.stored) || !parse_i64(f[3], &tmp.last_use) ||
	    !parse_u64(f[4], &tmp.ino) || !parse_i64(f[5], &tmp.mtime) ||
	    !parse_i64(f[6], &tmp.ctime) || !f[9][0] ||
	    cache_index_find(ix, f[9]))
		return;
	en = add(ix);
	*en = tmp;
	memcpy(en->sha256, f[0], 65);
	en->etag = qf_xstrdup(f[7]);
	en->lastmod = qf_xstrdup(f[8]);
	en->key = qf_xstrdup(f[9]);
}

static int parse(struct cache_index *ix, char *text, const char *path,
		 struct qf_err *e)
{
	char *line = text, *nl;

	nl = strchr(line, '\n');
	if (!nl || (size_t)(nl - line) != strlen(INDEX_MAGIC) ||
	    strncmp(line, INDEX_MAGIC, strlen(INDEX_MAGIC)) != 0)
		return qf_err_set(e, EPROTO,
				  N_("%s: not a cache index qflash can read (made by another version?)"),
				  path);
	for (line = nl + 1; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;         /* cut short: not written by us */
		*nl = 0;
		parse_line(ix, line);
	}
	return 0;
}

int cache_index_load(struct qf_cache *c, bool write, struct cache_index *ix,
		     struct qf_err *e)
{
	char *lock = qf_xasprintf("%s/lock", c->dir);
	char *path = qf_xasprintf("%s/index", c->dir);
	char *text = NULL;
	struct stat st;
	int fd = -1, ret;

	memset(ix, 0, sizeof(*ix));
	ix->c = c;
	ix->lockfd = -1;
	ret = cache_lock(lock, write ? LOCK_EX : LOCK_SH, &ix->lockfd, e);
	if (ret < 0)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			ret = qf_err_set(e, errno, "%s: %m", path);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = qf_err_set(e, errno, "%s: %m", path);
		goto out;
	}
	if ((uint64_t)st.st_size > INDEX_MAX) {
		ret = qf_err_set(e, EFBIG, N_("%s: too large for a cache index"),
				 path);
		goto out;
	}
	text = qf_xmalloc((size_t)st.st_size + 1);
	for (size_t got = 0; got < (size_t)st.st_size;) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = qf_err_set(e, n < 0 ? errno : EIO, "%s: %m", path);
			goto out;
		}
		got += (size_t)n;
	}
	text[st.st_size] = 0;
	ret = parse(ix, text, path, e);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	free(lock);
	if (ret < 0)
		cache_index_release(ix);
	return ret;
}

/* --------------------------------------------------------------- write */

static void write_entry(FILE *f, const struct cache_entry *en)
{
	fprintf(f, "%s\t%llu\t%lld\t%lld\t%llu\t%lld\t%lld\t%s\t%s\t%s\n",
		en->sha256, (unsigned long long)en->size,
		(long long)en->stored, (long long)en->last_use,
		(unsigned long long)en->ino, (long long)en->mtime,
		(long long)en->ctime, en->etag, en->lastmod, en->key);
}

int cache_index_save(struct cache_index *ix, struct qf_err *e)
{
	char *path = qf_xasprintf("%s/index", ix->c->dir);
	char *tmp = qf_xasprintf("%s/index.new", ix->c->dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int ret = 0;

	if (!f) {
		ret = qf_err_set(e, errno, "%s: %m", tmp);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "%s\n", INDEX_MAGIC);
	for (size_t i = 0; i < ix->n; i++)
		write_entry(f, &ix->v[i]);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write the cache index: %m"),
				 tmp);
	if (fclose(f) != 0 && ret == 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write the cache index: %m"),
				 tmp);
	if (ret == 0 && rename(tmp, path) != 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write the cache index: %m"),
				 path);
	if (ret < 0)
		unlink(tmp);
out:
	free(tmp);
	free(path);
	return ret;
}

static void entry_free(struct cache_entry *en)
{
	free(en->key);
	free(en->etag);
	free(en->lastmod);
}

void cache_index_release(struct cache_index *ix)
{
	char *lock;

	for (size_t i = 0; i < ix->n; i++)
		entry_free(&ix->v[i]);
	free(ix->v);
	ix->v = NULL;
	ix->n = ix->alloc = 0;
	lock = qf_xasprintf("%s/lock", ix->c->dir);
	cache_unlock(ix->lockfd, lock, false);
	ix->lockfd = -1;
	free(lock);
}

struct cache_entry *cache_index_find(struct cache_index *ix, const char *key)
{
	for (size_t i = 0; i < ix->n; i++)
		if (strcmp(ix->v[i].key, key) == 0)
			return &ix->v[i];
	return NULL;
}

struct cache_entry *cache_index_put(struct cache_index *ix, const char *key)
{
	struct cache_entry *en = cache_index_find(ix, key);

	if (en)
		entry_free(en);
	else
		en = add(ix);
	memset(en, 0, sizeof(*en));
	en->key = qf_xstrdup(key);
	return en;
}

void cache_index_drop(struct cache_index *ix, struct cache_entry *en)
{
	size_t i = (size_t)(en - ix->v);

	entry_free(en);
	memmove(en, en + 1, (ix->n - i - 1) * sizeof(*en));
	ix->n--;
}

bool cache_index_uses(const struct cache_index *ix, const char *sha256)
{
	for (size_t i = 0; i < ix->n; i++)
		if (strcmp(ix->v[i].sha256, sha256) == 0)
			return true;
	return false;
}
