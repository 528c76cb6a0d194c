/* image_cache.c - an image's remote files read from the local cache
 * (qf_open_opts.cache_dir): each layer's file, backing files and data
 * files alike, is swapped for its local copy once the http source has
 * been opened for it (its first request is what tells whether the copy is
 * current), keeping the URL as the file's name, so that files beside it
 * (checksums, bmaps, relative backing names) are still found on the
 * server and messages and the flash log name the URL. */
#include "image/image_int.h"
#include "source/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *use_word(enum qf_cache_use u)
{
	switch (u) {
	case QF_CACHE_DOWNLOADED: return "downloaded";
	case QF_CACHE_REUSED: return "reused";
	default: return "offline";
	}
}

int image_cache_file(struct qf_image *img, struct layer *l, const char *name,
		     const char *base, int ret, const struct qf_err *why,
		     struct qf_source **src, struct qf_err *e)
{
	bool top = l == &img->layers[0];
	struct qf_source *copy = NULL;
	struct qf_cache_info info;
	struct qf_err e2 = { 0 };
	char *full, *path = NULL;
	int r;

	full = img->opts.cache_dir ? qf_resolve_name(name, base) : NULL;
	if (!full || !qf_name_is_url(full) ||
	    (ret < 0 && !qf_cache_unreachable(ret)) ||
	    (ret == 0 && !(*src)->remote)) {
		free(full);
		if (ret < 0 && e && !e->code)
			*e = *why;
		return ret;
	}
	/* Opened at the first remote file: a local image without any needs
	 * no cache directory. */
	if (!img->cache)
		img->cache = qf_cache_open(img->opts.cache_dir,
					   img->opts.cache_max, &e2);
	r = !img->cache ? e2.code
	    : qf_cache_source(img->cache, full, ret == 0 ? *src : NULL, why,
			      top ? img->sha256 : NULL, img->sha256_origin,
			      &img->opts, &copy, &path, &info, &e2);
	free(full);
	if ((r == -EFBIG || r == -ENOSPC) && ret == 0) {
		/* Flashing from the server still works. */
		qf_warn(&img->opts, _("%s; reading it from the server instead"),
			e2.msg);
		return 0;
	}
	if (r < 0) {
		if (ret == 0) {
			qf_source_close(*src);
			*src = NULL;
		}
		if (e && !e->code)
			*e = e2;
		return r;
	}
	*src = copy;
	if (!l) {
		free(path);
		return 0;
	}
	free(l->cache_file);
	l->cache_file = path;
	l->info.cache_file = path;
	l->info.cache_use = use_word(info.use);
	return 0;
}
