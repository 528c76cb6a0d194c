/* cache_store.c - the cache's objects: a download read whole from the http
 * source (its range requests, retries and version checks) into a part
 * file and hashed as it goes, a file hashed again, and eviction: least
 * recently used objects go first when a download needs room, never one
 * that a process is reading (it holds a shared flock on its copy, and
 * eviction only takes an exclusive one that it does not wait for). */
#include "source/cache.h"
#include "source/digest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Bytes per request: large enough that the http source sends each
 * straight into the buffer as one range request.  They are hashed and
 * written (and a copy read back) in pieces that stay in the CPU's cache
 * meanwhile: twice as fast as in whole blocks. */
#define BLOCK ((size_t)8 << 20)
#define PIECE ((size_t)256 << 10)

bool cache_cancelled(const struct qf_open_opts *o)
{
	return o && o->cancel && *o->cancel;
}

static void progress(const struct qf_open_opts *o, const char *name,
		     enum qf_cache_phase ph, uint64_t done, uint64_t total)
{
	if (o && o->cache_progress)
		o->cache_progress(o->cache_ctx, name, ph, done, total);
}

static int write_all(int fd, const unsigned char *p, size_t n, uint64_t off,
		     const char *name, struct qf_err *e)
{
	while (n) {
		ssize_t k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return qf_err_set(e, k < 0 ? errno : EIO,
					  N_("%s: cannot write to the cache: %m"), name);
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* The end of a pass that hashed the file: its digest into @hex when it
 * went well (@ret 0), the digest and the buffer freed. */
static int hashed(struct qf_digest *d, unsigned char *buf, int ret,
		  char hex[65])
{
	uint8_t md[QF_DIGEST_MAX];

	if (ret == 0)
		qf_hex(md, qf_digest_final(d, md), hex);
	qf_digest_free(d);
	free(buf);
	return ret;
}

int cache_download(struct qf_source *http, int fd, const char *name,
		   const struct qf_open_opts *o, char hex[65],
		   struct qf_err *e)
{
	unsigned char *buf = qf_xmalloc(BLOCK);
	struct qf_digest *d = qf_digest_new("sha256");
	uint64_t off = 0, size = http->size;
	int ret = 0;

	progress(o, name, QF_CACHE_DOWNLOADING, 0, size);
	while (off < size && ret == 0) {
		size_t n = size - off < BLOCK ? (size_t)(size - off) : BLOCK;

		if (cache_cancelled(o)) {
			ret = qf_err_set(e, ECANCELED, N_("%s: cancelled"), name);
			break;
		}
		ret = qf_source_pread(http, buf, n, off, 0, e);
		for (size_t p = 0; p < n && ret == 0; p += PIECE) {
			size_t k = n - p < PIECE ? n - p : PIECE;
			qf_digest_update(d, buf + p, k);
			ret = write_all(fd, buf + p, k, off + p, name, e);
		}
		if (ret < 0)
			break;
		/* Written back as it comes: the final fsync is short, and
		 * gigabytes of dirty pages do not pile up. */
		sync_file_range(fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
		off += n;
		progress(o, name, QF_CACHE_DOWNLOADING, off, size);
	}
	return hashed(d, buf, ret, hex);
}

int cache_hash_fd(int fd, uint64_t size, const char *name,
		  const struct qf_open_opts *o, char hex[65],
		  struct qf_err *e)
{
	unsigned char *buf = qf_xmalloc(PIECE);
	struct qf_digest *d = qf_digest_new("sha256");
	uint64_t off = 0;
	int ret = 0;

	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (off < size) {
		size_t n = size - off < PIECE ? (size_t)(size - off) : PIECE;
		ssize_t k;

		if (cache_cancelled(o)) {
			ret = qf_err_set(e, ECANCELED, N_("%s: cancelled"), name);
			break;
		}
		k = pread(fd, buf, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			ret = qf_err_set(e, k < 0 ? errno : EIO,
					 N_("%s: cannot read its copy in the cache: %m"),
					 name);
			break;
		}
		qf_digest_update(d, buf, (size_t)k);
		off += (uint64_t)k;
		progress(o, name, QF_CACHE_CHECKING, off, size);
	}
	return hashed(d, buf, ret, hex);
}

/* ------------------------------------------------------------ eviction */

/* Remove the object at @path unless somebody reads it: true if gone. */
static bool remove_unused(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool gone;

	if (fd < 0)
		return errno == ENOENT;
	gone = flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0;
	close(fd);
	return gone;
}

void cache_forget_object(struct cache_index *ix, const char *sha256)
{
	char *path;

	if (cache_index_uses(ix, sha256))
		return;
	path = cache_object_path(ix->c, sha256);
	remove_unused(path);
	free(path);
}

/* The bytes of a file on disk, counting what is reserved for it. */
static uint64_t disk_bytes(const struct stat *st)
{
	uint64_t b = (uint64_t)st->st_blocks * 512;
	return b > (uint64_t)st->st_size ? b : (uint64_t)st->st_size;
}

/* Downloads whose process is gone leave part files: removed.  Those
 * under way count as used: their bytes in *@used. */
static void sweep_tmp(struct qf_cache *c, uint64_t *used)
{
	char *dir = qf_xasprintf("%s/tmp", c->dir);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *id, *lock, *part;
		struct stat st;
		int fd;

		if (n <= 5 || strcmp(de->d_name + n - 5, ".part") != 0)
			continue;
		id = qf_xstrndup(de->d_name, n - 5);
		lock = cache_tmp_path(c, id, "lock");
		part = cache_tmp_path(c, id, "part");
		if (cache_lock(lock, LOCK_EX | LOCK_NB, &fd, NULL) == 0) {
			unlink(part);
			cache_unlock(fd, lock, true);
		} else if (stat(part, &st) == 0) {
			*used += disk_bytes(&st);
		}
		free(part);
		free(lock);
		free(id);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* Objects no entry names (a process ended between publishing one and
 * writing the index, or an entry that did not parse) are removed. */
static void sweep_objects(struct cache_index *ix)
{
	char *dir = qf_xasprintf("%s/objects", ix->c->dir);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		cache_forget_object(ix, de->d_name);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* An object as eviction sees it: its size and its entries' last use. */
struct obj {
	char sha256[65];
	uint64_t size;
	int64_t last_use;
	bool tried;
};

static size_t objects(const struct cache_index *ix, struct obj **out,
		      uint64_t *used)
{
	struct obj *v = qf_xcalloc(ix->n ? ix->n : 1, sizeof(*v));
	size_t n = 0, j;

	for (size_t i = 0; i < ix->n; i++) {
		const struct cache_entry *en = &ix->v[i];

		for (j = 0; j < n && strcmp(v[j].sha256, en->sha256); j++)
			;
		if (j == n) {
			memcpy(v[n].sha256, en->sha256, sizeof(v[n].sha256));
			v[n].size = en->size;
			v[n++].last_use = en->last_use;
			*used += en->size;
		} else if (en->last_use > v[j].last_use) {
			v[j].last_use = en->last_use;
		}
	}
	*out = v;
	return n;
}

/* The bound: the one asked for, or the default (qflash.h). */
static uint64_t bound(const struct qf_cache *c, uint64_t used)
{
	struct statvfs sv;
	uint64_t half;

	if (c->max)
		return c->max;
	if (statvfs(c->dir, &sv) != 0)
		return QF_CACHE_MAX_DEFAULT;
	half = (used + (uint64_t)sv.f_bavail * sv.f_frsize) / 2;
	return half < QF_CACHE_MAX_DEFAULT ? half : QF_CACHE_MAX_DEFAULT;
}

/* Evict object @o with its entries: false when somebody reads it. */
static bool evict(struct cache_index *ix, const struct obj *o)
{
	char *path = cache_object_path(ix->c, o->sha256);
	bool gone = remove_unused(path);

	free(path);
	if (!gone)
		return false;
	for (size_t i = ix->n; i-- > 0;)
		if (strcmp(ix->v[i].sha256, o->sha256) == 0)
			cache_index_drop(ix, &ix->v[i]);
	return true;
}

int cache_make_room(struct cache_index *ix, uint64_t need, const char *name,
		    struct qf_err *e)
{
	uint64_t used = 0, max;
	struct obj *v;
	size_t n;
	char b1[32], b2[32];
	int ret = 0;

	sweep_tmp(ix->c, &used);
	sweep_objects(ix);
	n = objects(ix, &v, &used);
	max = bound(ix->c, used);
	if (need > max) {
		qf_size_pair_str(need, max, b1, b2, sizeof(b1));
		ret = qf_err_set(e, EFBIG,
				 N_("%s: the file (%s) is larger than the cache may hold (%s)"),
				 name, b1, b2);
		goto out;
	}
	while (used + need > max) {
		struct obj *old = NULL;

		for (size_t i = 0; i < n; i++)
			if (!v[i].tried && (!old || v[i].last_use < old->last_use))
				old = &v[i];
		if (!old) {
			qf_size_pair_str(need, max - (used < max ? used : max),
					 b1, b2, sizeof(b1));
			ret = qf_err_set(e, ENOSPC,
					 N_("%s: the file (%s) does not fit in the cache, whose other files are being read (%s free)"),
					 name, b1, b2);
			goto out;
		}
		old->tried = true;
		if (evict(ix, old))
			used -= old->size;
	}
out:
	free(v);
	return ret;
}
