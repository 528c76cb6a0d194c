/* cache.h - the local cache of remote files as its parts share it:
 *   cache.c        the public calls, and the choice made for one URL:
 *                  the copy reused, checked again, downloaded, or used
 *                  offline
 *   cache_index.c  the directory's layout, its locks, and the index that
 *                  maps URLs to objects
 *   cache_store.c  objects: downloading one, publishing it, and evicting
 *                  the least recently used to make room
 *
 * The directory:
 *   lock             flock'ed around every read-modify-write of index
 *   index            text, one entry per line (see cache_index.c)
 *   objects/SHA256   the files, read-only, named by their content; a
 *                    reader holds a shared flock on its open copy, and
 *                    eviction takes an exclusive one (never waiting)
 *   tmp/KEY.lock     held by the process that checks or downloads KEY's
 *                    URL (KEY: the first 32 hex digits of the SHA-256 of
 *                    the URL without its credentials)
 *   tmp/KEY.part     that download as it goes */
#ifndef QF_CACHE_H
#define QF_CACHE_H

#include "source/source.h"

#include <pthread.h>

struct qf_cache {
	char *dir;                 /* absolute */
	uint64_t max;              /* 0: the default */
	pthread_mutex_t mu;        /* guards held */
	struct qf_source **held;   /* qf_cache_fetch's copies, until close */
	size_t nheld, aheld;
};

/* One URL's copy.  Times are nanoseconds since the epoch. */
struct cache_entry {
	char *key;                 /* the URL without its credentials */
	char sha256[65];
	uint64_t size;
	int64_t stored, last_use;
	/* The object as it was when last read whole (its inode, change and
	 * modification times): see cache.c on why that is enough. */
	uint64_t ino;
	int64_t mtime, ctime;
	char *etag, *lastmod;      /* "" when the server gave none */
};

struct cache_index {
	struct qf_cache *c;
	int lockfd;                /* the index lock, held until release */
	struct cache_entry *v;
	size_t n, alloc;
};

/* The copy of @url in @c as a local file source named as the URL without
 * its credentials, for the image layer.  @http is the source opened for
 * @url, whose first request told the size and validators the copy must
 * have; NULL when that open failed with @why, and then a copy is used
 * (with a warning) only if the server could not be reached
 * (qf_cache_unreachable).  @want is the published SHA-256 (or NULL) and
 * @want_origin where it came from.  On success @http is closed, *@out is
 * the copy (locked against eviction while it is open), *@local_path (may
 * be NULL; caller frees) its file and @info (may be NULL) what is known of
 * it; on failure @http is still the caller's, -EFBIG or -ENOSPC meaning
 * the file does not fit. */
int qf_cache_source(struct qf_cache *c, const char *url,
		    struct qf_source *http, const struct qf_err *why,
		    const char *want, const char *want_origin,
		    const struct qf_open_opts *o, struct qf_source **out,
		    char **local_path, struct qf_cache_info *info,
		    struct qf_err *e);
/* Whether an open that failed with @ret found no server to ask (which
 * lets a copy be used offline); not for answers such as 404 or 403. */
bool qf_cache_unreachable(int ret);

/* cache_index.c */
int64_t cache_now(void);
/* "DIR/objects/SHA" and "DIR/tmp/KEY.SUFFIX"; caller frees. */
char *cache_object_path(const struct qf_cache *c, const char *sha256);
char *cache_tmp_path(const struct qf_cache *c, const char *key_id,
		     const char *suffix);
/* flock @path (created when missing) with @op (LOCK_SH or LOCK_EX, maybe
 * with LOCK_NB) into *@fd: 0, -EWOULDBLOCK when LOCK_NB and taken, or an
 * error.  A lock file may be removed by its holder (cache_unlock with
 * remove), so a lock taken on a file no longer at @path is taken again. */
int cache_lock(const char *path, int op, int *fd, struct qf_err *e);
/* Release a cache_lock, removing its file first when @remove. */
void cache_unlock(int fd, const char *path, bool remove);
/* Lock (shared unless @write) and read the index of @c into @ix. */
int cache_index_load(struct qf_cache *c, bool write, struct cache_index *ix,
		     struct qf_err *e);
/* Write @ix back whole (a new file renamed over the old). */
int cache_index_save(struct cache_index *ix, struct qf_err *e);
/* Unlock and free. */
void cache_index_release(struct cache_index *ix);
struct cache_entry *cache_index_find(struct cache_index *ix, const char *key);
/* A new entry for @key, replacing any other (the caller fills it). */
struct cache_entry *cache_index_put(struct cache_index *ix, const char *key);
void cache_index_drop(struct cache_index *ix, struct cache_entry *en);
/* Whether any entry's object is @sha256. */
bool cache_index_uses(const struct cache_index *ix, const char *sha256);
/* @s with control characters (which no header value should hold, and the
 * index's lines cannot) as '?'; caller frees. */
char *cache_clean(const char *s);

/* cache_store.c */
/* Make room for a file of @need bytes by evicting, least recently used
 * first, objects nobody reads; stale downloads and objects no entry names
 * go too.  Called with @ix written-locked.  -EFBIG when @need exceeds the
 * bound, -ENOSPC when what is being read leaves too little. */
int cache_make_room(struct cache_index *ix, uint64_t need, const char *name,
		    struct qf_err *e);
/* Remove the object @sha256 when no entry names it and nobody reads it.
 * Called with @ix written-locked. */
void cache_forget_object(struct cache_index *ix, const char *sha256);
/* Download all of @http into @fd (the part file), its SHA-256 into @hex;
 * progress and cancel from @o. */
int cache_download(struct qf_source *http, int fd, const char *name,
		   const struct qf_open_opts *o, char hex[65],
		   struct qf_err *e);
/* SHA-256 of the whole file open as @fd (@size bytes) into @hex. */
int cache_hash_fd(int fd, uint64_t size, const char *name,
		  const struct qf_open_opts *o, char hex[65],
		  struct qf_err *e);
/* Whether *@o asks to stop. */
bool cache_cancelled(const struct qf_open_opts *o);

#endif
