/* cache.c - the local cache of remote files: opening one, and for each URL
 * the choice between the copy it holds (reused, checked again first when
 * it may have changed, or used offline) and a new download.
 *
 * One process at a time decides for a URL: it holds tmp/KEY.lock from the
 * look at the index until the copy is published, so a second process
 * asking for the same URL waits for the download under way and then
 * finds it, instead of fetching it again or reading a half file.
 *
 * Whether a copy is current is the server's to say: the http source's
 * first request (a one-byte range) gives the file's size, ETag and
 * Last-Modified, and the copy is used only when they are those it was
 * downloaded with (the ETag when the server gives one, else
 * Last-Modified; a server that gives neither cannot say, so its file is
 * downloaded again).  When the server cannot be reached, the copy is used
 * with a warning that it could not be revalidated.
 *
 * Whether a copy is intact: each object is hashed as it downloads, and
 * the index records, with its SHA-256, the object's inode, modification
 * and change times as they were when its bytes were last read whole.  A
 * reused copy whose file still shows those is used without reading it
 * again; any other is hashed again (and dropped when it does not match).
 * Hashing a 2 GiB copy again costs about 1.4 s when it is in the page
 * cache (SHA-256 at about 1.6 GB/s) and what reading 2 GiB from the disk
 * costs when it is not: at every flash, that is much of what the cache
 * saves over a fast network, and station mode pays it per flash.  The
 * check of the file's times is enough for what happens to a cache: an
 * object is written once, made read-only, and any write to it through the
 * file system changes its change time, which no program can set back (a
 * byte flipped in place is caught this way).  What it cannot see is the
 * medium itself returning other bytes: the file system and the drive's
 * own checksums are for that, and when the image has a published
 * checksum the flash still hashes the file it reads and refuses to finish
 * a target whose image does not match. */
#include "source/cache.h"
#include "source/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_POLL_NS 100000000L    /* how often a waiting process looks */

/* One URL being fetched. */
struct fetch {
	struct qf_cache *c;
	const struct qf_open_opts *o;
	char *key;                 /* the URL without credentials: also its name */
	char *lock, *part;         /* tmp/KEY.lock, tmp/KEY.part */
	int keyfd;
	struct qf_source *http;    /* NULL: offline */
	const struct qf_err *why;  /* why there is no http source */
	char *etag, *lastmod;
	const char *want, *want_origin;
};

bool qf_cache_unreachable(int ret)
{
	switch (-ret) {
	case EIO:
	case EAGAIN:
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
		return true;
	default:
		return false;
	}
}

static void entry_info(const struct cache_entry *en, struct qf_cache_info *info)
{
	info->size = en->size;
	memcpy(info->sha256, en->sha256, sizeof(info->sha256));
	info->stored = en->stored / 1000000000;
	info->last_use = en->last_use / 1000000000;
}

static void stamp(struct cache_entry *en, const struct stat *st)
{
	en->ino = (uint64_t)st->st_ino;
	en->mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	en->ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static bool stamp_holds(const struct cache_entry *en, const struct stat *st)
{
	struct cache_entry now;

	stamp(&now, st);
	return en->ino == now.ino && en->mtime == now.mtime &&
	       en->ctime == now.ctime && (uint64_t)st->st_size == en->size;
}

/* Whether the server still describes the file @en was downloaded from. */
static bool current(const struct fetch *f, const struct cache_entry *en)
{
	if (!f->http)
		return true;
	if (f->http->size != en->size)
		return false;
	if (en->etag[0])
		return strcmp(en->etag, f->etag) == 0;
	return en->lastmod[0] && strcmp(en->lastmod, f->lastmod) == 0;
}

static int err_mismatch(const struct fetch *f, const char *got,
			struct qf_err *e)
{
	return qf_err_set(e, EBADMSG,
			  N_("%s: the SHA-256 of the image file is %s, but %s says %s: this is not the image that was published"),
			  f->key, got, f->want_origin ? f->want_origin : "-sha256",
			  f->want);
}

/* The object @sha256 opened as a source named as the URL, with a shared
 * lock that keeps it from eviction while it is open.  Called with the
 * index locked, so that no eviction is under way. */
static int open_object(const struct fetch *f, const char *sha256,
		       struct qf_source **out, struct qf_err *e)
{
	char *path = cache_object_path(f->c, sha256);
	int ret = qf_source_file_open(path, out, e);

	free(path);
	if (ret < 0)
		return ret;
	if (flock((*out)->fd, LOCK_SH | LOCK_NB) < 0) {
		ret = qf_err_set(e, errno, N_("%s: cannot lock its copy in the cache: %m"),
				 f->key);
		qf_source_close(*out);
		*out = NULL;
		return ret;
	}
	free((*out)->name);
	(*out)->name = qf_xstrdup(f->key);
	return 0;
}

/* The entry of the URL, when it still names @sha256: stamped as the
 * object is now (@st: its bytes were read whole and matched), or dropped
 * (NULL: they did not), and the object with it unless another entry
 * names it. */
static void recheck_done(struct fetch *f, const char *sha256,
			 const struct stat *st)
{
	struct cache_index ix;
	struct cache_entry *en;

	if (cache_index_load(f->c, true, &ix, NULL) < 0)
		return;
	en = cache_index_find(&ix, f->key);
	if (en && strcmp(en->sha256, sha256) == 0) {
		if (st)
			stamp(en, st);
		else
			cache_index_drop(&ix, en);
		cache_index_save(&ix, NULL);
	}
	if (!st)
		cache_forget_object(&ix, sha256);
	cache_index_release(&ix);
}

static void warn_offline(const struct fetch *f, const struct cache_entry *en)
{
	time_t t = (time_t)(en->stored / 1000000000);
	char when[32] = "?";
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	/* What was done first, then why: a one-line message keeps the start. */
	qf_warn(f->o, _("copy in the cache used, which could not be checked against the server (downloaded %s): %s"),
		when, f->why->msg);
}

/* The copy the cache holds, if it is usable: 1 with *@out, 0 when there
 * is none (or it was damaged, and is gone), or an error. */
static int use_copy(struct fetch *f, struct qf_source **out,
		    struct qf_cache_info *info, struct qf_err *e)
{
	struct cache_index ix;
	struct cache_entry *en, copy;
	struct stat st;
	char got[65];
	bool intact;
	int ret = cache_index_load(f->c, true, &ix, e);

	if (ret < 0)
		return ret;
	en = cache_index_find(&ix, f->key);
	if (!en || !current(f, en)) {
		cache_index_release(&ix);
		return 0;
	}
	ret = open_object(f, en->sha256, out, NULL);
	if (ret < 0 || fstat((*out)->fd, &st) < 0) {
		/* Gone from under the index: forget it. */
		if (ret == 0)
			qf_source_close(*out);
		cache_index_drop(&ix, en);
		cache_index_save(&ix, NULL);
		cache_index_release(&ix);
		return 0;
	}
	en->last_use = cache_now();
	cache_index_save(&ix, NULL);    /* only the LRU order is lost */
	copy = *en;
	entry_info(en, info);
	intact = stamp_holds(en, &st);
	cache_index_release(&ix);       /* copy's strings are freed */
	copy.key = copy.etag = copy.lastmod = NULL;

	if (!intact) {
		ret = cache_hash_fd((*out)->fd, (*out)->size, f->key, f->o, got, e);
		if (ret == 0 && strcmp(got, copy.sha256) != 0) {
			qf_source_close(*out);
			*out = NULL;
			recheck_done(f, copy.sha256, NULL);
			if (!f->http)
				return qf_err_set(e, EIO,
						  N_("%s: its copy in the cache is damaged (its SHA-256 is %s, not %s) and the server could not be reached"),
						  f->key, got, copy.sha256);
			qf_warn(f->o, _("%s: its copy in the cache is damaged (its SHA-256 is %s, not %s); downloading it again"),
				f->key, got, copy.sha256);
			return 0;
		}
		if (ret == 0 && fstat((*out)->fd, &st) == 0)
			recheck_done(f, copy.sha256, &st);
	}
	if (ret == 0 && f->want && strcmp(f->want, copy.sha256) != 0)
		ret = err_mismatch(f, copy.sha256, e);
	if (ret < 0) {
		qf_source_close(*out);
		*out = NULL;
		return ret;
	}
	if (!f->http)
		warn_offline(f, &copy);
	info->use = f->http ? QF_CACHE_REUSED : QF_CACHE_OFFLINE;
	return 1;
}

/* The part file, with room for the file: made with the index locked, so
 * that the room other downloads make counts it. */
static int start_part(struct fetch *f, int *fd, struct qf_err *e)
{
	struct cache_index ix;
	uint64_t size = f->http->size;
	int ret = cache_index_load(f->c, true, &ix, e);

	if (ret < 0)
		return ret;
	ret = cache_make_room(&ix, size, f->key, e);
	cache_index_save(&ix, NULL);          /* the entries evicted */
	if (ret == 0) {
		*fd = open(f->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (*fd < 0)
			ret = qf_err_set(e, errno, N_("%s: cannot write to the cache: %m"),
					 f->part);
	}
	if (ret == 0 && size &&
	    fallocate(*fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0 &&
	    errno != EOPNOTSUPP) {
		ret = qf_err_set(e, errno, N_("%s: no room in the cache: %m"),
				 f->key);
		close(*fd);
		unlink(f->part);
	}
	cache_index_release(&ix);
	return ret;
}

static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* The part file complete, with @hex its SHA-256: moved among the objects
 * (or dropped when the same bytes are there already), the entry written,
 * and the object opened as the copy to read. */
static int publish(struct fetch *f, int fd, const char *hex,
		   struct qf_source **out, struct qf_err *e)
{
	char *obj = cache_object_path(f->c, hex);
	char *objdir = qf_xasprintf("%s/objects", f->c->dir);
	struct cache_index ix;
	struct cache_entry *en, twin = { 0 };
	bool existed, have_twin = false;
	char old[65] = "";
	struct stat st;
	int ret = cache_index_load(f->c, true, &ix, e);

	if (ret < 0)
		goto out;
	existed = stat(obj, &st) == 0;
	if (existed) {
		unlink(f->part);
		/* The same bytes under another URL: as trusted as they are
		 * there (a stamp of zeros has them read again first). */
		for (size_t i = 0; i < ix.n && !have_twin; i++)
			if (strcmp(ix.v[i].sha256, hex) == 0) {
				twin = ix.v[i];
				have_twin = true;
			}
	} else if (fchmod(fd, 0444) < 0 || rename(f->part, obj) < 0 ||
		   stat(obj, &st) < 0) {
		ret = qf_err_set(e, errno, N_("%s: cannot write to the cache: %m"),
				 obj);
		unlink(f->part);
		goto release;
	} else {
		fsync_dir(objdir);
	}
	en = cache_index_find(&ix, f->key);
	if (en && strcmp(en->sha256, hex) != 0)
		memcpy(old, en->sha256, sizeof(old));
	en = cache_index_put(&ix, f->key);
	memcpy(en->sha256, hex, sizeof(en->sha256));
	en->size = f->http->size;
	en->stored = en->last_use = cache_now();
	en->etag = qf_xstrdup(f->etag);
	en->lastmod = qf_xstrdup(f->lastmod);
	if (have_twin) {
		en->ino = twin.ino;
		en->mtime = twin.mtime;
		en->ctime = twin.ctime;
	} else if (!existed) {
		stamp(en, &st);
	}
	if ((ret = cache_index_save(&ix, e)) == 0)
		ret = open_object(f, hex, out, e);
	if (old[0])
		cache_forget_object(&ix, old);
release:
	cache_index_release(&ix);
out:
	free(objdir);
	free(obj);
	return ret;
}

static int download(struct fetch *f, struct qf_source **out,
		    struct qf_cache_info *info, struct qf_err *e)
{
	char hex[65];
	struct stat st;
	int fd = -1;
	int ret = start_part(f, &fd, e);

	if (ret < 0)
		return ret;
	ret = cache_download(f->http, fd, f->key, f->o, hex, e);
	if (ret == 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_size != f->http->size))
		ret = qf_err_set(e, EIO, N_("%s: the download into the cache is not of the file's size"),
				 f->key);
	if (ret == 0 && f->want && strcmp(f->want, hex) != 0)
		ret = err_mismatch(f, hex, e);
	if (ret == 0 && fsync(fd) < 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write to the cache: %m"),
				 f->part);
	if (ret == 0)
		ret = publish(f, fd, hex, out, e);
	else
		unlink(f->part);
	close(fd);
	if (ret == 0) {
		info->size = f->http->size;
		memcpy(info->sha256, hex, sizeof(info->sha256));
		info->stored = info->last_use = cache_now() / 1000000000;
		info->use = QF_CACHE_DOWNLOADED;
	}
	return ret;
}

/* Hold the URL's lock, waiting for a process that has it (it may be
 * downloading the file: what it has so far is the progress). */
static int lock_key(struct fetch *f, struct qf_err *e)
{
	uint64_t total = f->http ? f->http->size : 0;

	for (;;) {
		struct timespec ts = { 0, WAIT_POLL_NS };
		struct stat st;
		int ret = cache_lock(f->lock, LOCK_EX | LOCK_NB, &f->keyfd, e);

		if (ret != -EWOULDBLOCK)
			return ret;
		if (cache_cancelled(f->o))
			return qf_err_set(e, ECANCELED, N_("%s: cancelled"), f->key);
		if (f->o && f->o->cache_progress)
			f->o->cache_progress(f->o->cache_ctx, f->key, QF_CACHE_WAITING,
					     stat(f->part, &st) == 0 ? (uint64_t)st.st_size : 0,
					     total);
		nanosleep(&ts, NULL);
	}
}

int qf_cache_source(struct qf_cache *c, const char *url,
		    struct qf_source *http, const struct qf_err *why,
		    const char *want, const char *want_origin,
		    const struct qf_open_opts *o, struct qf_source **out,
		    char **local_path, struct qf_cache_info *info,
		    struct qf_err *e)
{
	struct fetch f = {
		.c = c, .o = o, .http = http, .why = why, .keyfd = -1,
		.want = want && want[0] ? want : NULL, .want_origin = want_origin,
	};
	struct qf_cache_info inf = { 0 };
	const char *etag = "", *lastmod = "";
	uint8_t md[QF_DIGEST_MAX];
	struct qf_digest *d = qf_digest_new("sha256");
	char id[65];
	int ret;

	if (!http && !qf_cache_unreachable(why->code)) {
		if (e && !e->code)
			*e = *why;
		qf_digest_free(d);
		return why->code;
	}
	f.key = qf_url_redact(url);
	qf_digest_update(d, f.key, strlen(f.key));
	qf_hex(md, qf_digest_final(d, md), id);
	qf_digest_free(d);
	id[32] = 0;
	f.lock = cache_tmp_path(c, id, "lock");
	f.part = cache_tmp_path(c, id, "part");
	if (http)
		qf_source_http_validators(http, &etag, &lastmod);
	f.etag = cache_clean(etag);
	f.lastmod = cache_clean(lastmod);

	*out = NULL;
	ret = lock_key(&f, e);
	if (ret == 0)
		ret = use_copy(&f, out, &inf, e);
	if (ret == 0 && !http) {
		if (e && !e->code) {
			*e = *why;
			qf_err_append(e, "; ", N_("the cache holds no copy of it"));
		}
		ret = why->code;
	} else if (ret == 0) {
		ret = download(&f, out, &inf, e);
	}
	if (f.keyfd >= 0)
		cache_unlock(f.keyfd, f.lock, true);
	if (ret > 0)
		ret = 0;
	if (ret == 0) {
		if (local_path)
			*local_path = cache_object_path(c, inf.sha256);
		if (info)
			*info = inf;
		qf_source_close(http);
	}
	free(f.etag);
	free(f.lastmod);
	free(f.lock);
	free(f.part);
	free(f.key);
	return ret;
}

/* ------------------------------------------------------------ the API */

static int make_dir(const char *path, struct qf_err *e)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return qf_err_set(e, errno, N_("%s: cannot create the cache: %m"), path);
}

char *qf_cache_default_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	/* The XDG spec says relative values are to be ignored. */
	if (xdg && xdg[0] == '/')
		return qf_xasprintf("%s/qflash", xdg);
	if (home && home[0])
		return qf_xasprintf("%s/.cache/qflash", home);
	return NULL;
}

struct qf_cache *qf_cache_open(const char *dir, uint64_t max_bytes,
			       struct qf_err *e)
{
	struct qf_cache *c;
	char *p = qf_xstrdup(dir), *abs = NULL, *sub;
	int ret = 0;

	/* Its parents too, as mkdir -p. */
	for (char *s = p + 1; *s && ret == 0; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		ret = make_dir(p, e);
		*s = '/';
	}
	if (ret == 0)
		ret = make_dir(p, e);
	if (ret == 0 && !(abs = realpath(p, NULL)))
		ret = qf_err_set(e, errno, "%s: %m", dir);
	free(p);
	if (ret == 0 && access(abs, W_OK | X_OK) < 0)
		ret = qf_err_set(e, errno, N_("%s: cannot write to the cache: %m"), abs);
	for (int i = 0; i < 2 && ret == 0; i++) {
		sub = qf_xasprintf("%s/%s", abs, i ? "tmp" : "objects");
		ret = make_dir(sub, e);
		free(sub);
	}
	if (ret < 0) {
		free(abs);
		return NULL;
	}
	c = qf_xcalloc(1, sizeof(*c));
	c->dir = abs;
	c->max = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void qf_cache_close(struct qf_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nheld; i++)
		qf_source_close(c->held[i]);
	free(c->held);
	pthread_mutex_destroy(&c->mu);
	free(c->dir);
	free(c);
}

bool qf_cache_has(struct qf_cache *c, const char *url,
		  struct qf_cache_info *info)
{
	char *key = qf_url_redact(url);
	struct cache_index ix;
	struct cache_entry *en;
	bool found = false;

	if (cache_index_load(c, false, &ix, NULL) == 0) {
		en = cache_index_find(&ix, key);
		if (en && info)
			entry_info(en, info);
		found = en != NULL;
		cache_index_release(&ix);
	}
	free(key);
	return found;
}

int qf_cache_fetch(struct qf_cache *c, const char *url,
		   const struct qf_open_opts *o, char **local_path,
		   struct qf_cache_info *info, volatile const int *cancel,
		   qf_cache_progress_fn progress, void *progress_ctx,
		   struct qf_err *e)
{
	struct qf_open_opts oo = o ? *o : (struct qf_open_opts){ 0 };
	struct qf_source *http = NULL, *src = NULL;
	struct qf_err why = { 0 };
	char hex[65] = "", origin[4096] = "";
	int ret;

	if (!qf_name_is_url(url))
		return qf_err_set(e, EINVAL, N_("%s: not an http(s) URL"), url);
	oo.cancel = cancel;
	oo.cache_progress = progress;
	oo.cache_ctx = progress_ctx;
	ret = qf_source_http_open(url, &oo, &http, &why);
	/* Offline, only a checksum the caller gave can be had. */
	if ((ret == 0 || (oo.sha256 && qf_cache_unreachable(ret))) &&
	    (ret = qf_checksum_find(url, oo.sha256, &oo, hex, origin,
				    sizeof(origin), e)) < 0) {
		qf_source_close(http);
		return ret;
	}
	ret = qf_cache_source(c, url, http, &why, hex, origin, &oo, &src,
			      local_path, info, e);
	if (ret < 0) {
		qf_source_close(http);
		return ret;
	}
	pthread_mutex_lock(&c->mu);
	c->held = qf_grow(c->held, c->nheld, &c->aheld, sizeof(*c->held));
	c->held[c->nheld++] = src;
	pthread_mutex_unlock(&c->mu);
	return 0;
}
