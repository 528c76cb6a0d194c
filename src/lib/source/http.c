/* http.c - http(s) URLs as random-access byte sources.
 *
 * Every read is a validated range request (status 206, the Content-Range we
 * asked for, the size and ETag/Last-Modified seen at open), so bytes from
 * two versions of an image are never mixed.  Small reads go through a
 * bounded cache of aligned chunks so image metadata is fetched once; large
 * reads go straight into the caller's buffer.  Background threads fill the
 * cache for ranges the engine announces with prefetch.  Transient failures
 * are retried with exponential backoff, resuming at the first missing byte.
 * A server without ranges is read in order from plain GETs (http_plain.c).
 * The URL's credentials (userinfo, signed query parameters) are used for
 * requests but never appear in names or messages. */
#include "source/http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* What every request of the process shares: names looked up, TLS
 * sessions and open connections.  A source opened after another (the
 * image after the checksum files beside it, a backing file after its
 * overlay) sends its first requests on connections already made: one
 * round trip less each on a long link. */
static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *arg)
{
	pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	pthread_mutex_unlock(&share_locks[data]);
}

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (curl_init_rc != CURLE_OK)
		return;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	if (!share)
		return;
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
}

/* ------------------------------------------------------------ credentials
 * Names and messages carry the URL without its userinfo or the query
 * parameters that are credentials (qf_url_redact).  Backing files
 * are resolved against that name, so the userinfo given for an origin is
 * remembered and used again for other URLs on the same origin. */

struct cred {
	char *origin;              /* scheme://host[:port] */
	char *userinfo;
	struct cred *next;
};

static pthread_mutex_t creds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cred *creds;

/* The URL to request: @url itself if it has userinfo (remembered for its
 * origin), else @url with the userinfo remembered for its origin. */
static char *request_url(const char *url)
{
	const char *auth, *at, *end;
	char *origin = qf_url_origin(url);
	char *ret = NULL;
	struct cred *c;

	qf_url_authority(url, &auth, &at, &end);
	pthread_mutex_lock(&creds_lock);
	for (c = creds; c; c = c->next)
		if (strcmp(c->origin, origin) == 0)
			break;
	if (at > auth) {
		if (!c) {
			c = qf_xcalloc(1, sizeof(*c));
			c->origin = origin;
			origin = NULL;
			c->next = creds;
			creds = c;
		} else {
			free(c->userinfo);
		}
		c->userinfo = qf_xstrndup(auth, at - auth);
		ret = qf_xstrdup(url);
	} else if (c) {
		ret = qf_xasprintf("%.*s%s%s", (int)(auth - url), url,
				   c->userinfo, auth);
	} else {
		ret = qf_xstrdup(url);
	}
	pthread_mutex_unlock(&creds_lock);
	free(origin);
	return ret;
}

/* ------------------------------------------------------------------- read */

/* Part of chunk @idx that [off, off+len) covers, as offsets in the chunk. */
static void chunk_part(uint64_t idx, uint64_t off, size_t len, size_t *from,
		       size_t *to)
{
	uint64_t cs = http_chunk_start(idx), ce = cs + CHUNK_SIZE;
	uint64_t a = off > cs ? off : cs, b = off + len < ce ? off + len : ce;

	*from = (size_t)(a - cs);
	*to = (size_t)(b - cs);
}

static int http_pread(struct qf_source *qs, void *buf, size_t len,
		      uint64_t off, struct qf_err *e)
{
	struct http_source *hs = (struct http_source *)qs;
	unsigned char *out = buf;
	uint64_t first, last;
	size_t n, i, j, from, to;
	struct slot **pin;
	bool *mine, direct = len >= DIRECT_MIN;
	struct seg *segs;
	int ret = 0;

	if (!len)
		return 0;
	if (atomic_load(&hs->changed))
		return http_err_changed(hs, e);
	if (hs->plain)
		return http_plain_pread(hs, buf, len, off, e);
	first = off >> CHUNK_SHIFT;
	last = (off + len - 1) >> CHUNK_SHIFT;
	n = (size_t)(last - first + 1);
	pin = qf_xcalloc(n, sizeof(*pin));
	mine = qf_xcalloc(n, sizeof(*mine));
	segs = qf_xcalloc(n, sizeof(*segs));

	/* Pin what is cached or being fetched; claim the rest for small
	 * reads, fetch it uncached for large ones. */
	pthread_mutex_lock(&hs->lock);
	for (i = 0; i < n; i++) {
		struct slot *sl = http_cache_find(hs, first + i);
		if (sl) {
			sl->refs++;
			http_slot_use(hs, sl);
		} else if (!direct) {
			sl = http_cache_claim(hs, first + i, false);
			mine[i] = sl != NULL;
		}
		pin[i] = sl;
	}
	pthread_mutex_unlock(&hs->lock);

	/* One request per run of chunks nobody else is fetching.  Only the
	 * ends of the read may be partial chunks, so each run is one range. */
	for (i = 0; i < n && !ret; i = j) {
		uint64_t rs = 0, re = 0;
		int nseg = 0;

		if (pin[i] && !mine[i]) {
			j = i + 1;
			continue;
		}
		for (j = i; j < n && (!pin[j] || mine[j]); j++) {
			chunk_part(first + j, off, len, &from, &to);
			if (mine[j]) {
				segs[nseg].p = pin[j]->data;
				segs[nseg].n = pin[j]->len;
			} else {
				segs[nseg].p = out + (http_chunk_start(first + j) + from - off);
				segs[nseg].n = to - from;
			}
			if (j == i)
				rs = http_chunk_start(first + j) + (mine[j] ? 0 : from);
			re = http_chunk_start(first + j) +
			     (mine[j] ? pin[j]->len : to);
			nseg++;
		}
		ret = http_fetch(hs, rs, re - rs, segs, e);
		pthread_mutex_lock(&hs->lock);
		for (size_t k = i; k < j; k++)
			if (mine[k])
				http_slot_filled(hs, pin[k], ret == 0);
		pthread_mutex_unlock(&hs->lock);
		for (size_t k = i; k < j && !ret; k++) {
			if (!mine[k])
				continue;
			chunk_part(first + k, off, len, &from, &to);
			memcpy(out + (http_chunk_start(first + k) + from - off),
			       pin[k]->data + from, to - from);
		}
	}

	/* Chunks others were fetching: wait, copy, or fetch ourselves if
	 * they failed. */
	for (i = 0; i < n && !ret; i++) {
		bool ready;

		if (!pin[i] || mine[i])
			continue;
		pthread_mutex_lock(&hs->lock);
		while (pin[i]->state == SLOT_FILLING)
			pthread_cond_wait(&hs->cond, &hs->lock);
		ready = pin[i]->state == SLOT_READY;
		pthread_mutex_unlock(&hs->lock);
		chunk_part(first + i, off, len, &from, &to);
		if (ready) {
			memcpy(out + (http_chunk_start(first + i) + from - off),
			       pin[i]->data + from, to - from);
		} else {
			struct seg sg = {
				out + (http_chunk_start(first + i) + from - off),
				to - from
			};
			ret = http_fetch(hs, http_chunk_start(first + i) + from, to - from,
				    &sg, e);
		}
	}

	pthread_mutex_lock(&hs->lock);
	for (i = 0; i < n; i++)
		if (pin[i])
			http_slot_release(hs, pin[i]);
	pthread_mutex_unlock(&hs->lock);
	free(pin);
	free(mine);
	free(segs);
	return ret;
}

/* ---------------------------------------------------------- open / close */

static void http_interrupt(struct qf_source *qs, bool on)
{
	struct http_source *hs = (struct http_source *)qs;

	pthread_mutex_lock(&hs->lock);
	atomic_store(&hs->interrupted, on);
	pthread_cond_broadcast(&hs->cond);   /* backoffs, prefetchers */
	pthread_mutex_unlock(&hs->lock);
}

static void http_close(struct qf_source *qs)
{
	struct http_source *hs = (struct http_source *)qs;

	pthread_mutex_lock(&hs->lock);
	hs->stop = true;
	atomic_store(&hs->stopping, true);
	pthread_cond_broadcast(&hs->cond);
	pthread_mutex_unlock(&hs->lock);
	for (int i = 0; i < hs->pf_nthreads; i++)
		pthread_join(hs->pf_threads[i], NULL);
	http_plain_stop(hs);
	free(hs->pl_ring);
	http_handles_free(hs);
	free(hs->arena);
	pthread_mutex_destroy(&hs->pool_lock);
	pthread_mutex_destroy(&hs->lock);
	pthread_cond_destroy(&hs->cond);
	curl_slist_free_all(hs->headers);
	free(hs->cacert);
	if (hs->url) {
		/* It may hold a password. */
		memset(hs->url, 0, strlen(hs->url));
		free(hs->url);
	}
}

static const struct qf_source_ops http_ops = {
	.pread = http_pread,
	.prefetch = http_prefetch,
	.interrupt = http_interrupt,
	.close = http_close,
};

bool qf_source_http_validators(const struct qf_source *s, const char **etag,
			       const char **lastmod)
{
	const struct http_source *hs = (const struct http_source *)s;

	if (s->ops != &http_ops)
		return false;
	*etag = hs->etag;
	*lastmod = hs->lastmod;
	return true;
}

int qf_source_http_open(const char *url, const struct qf_open_opts *opts,
			struct qf_source **out, struct qf_err *e)
{
	struct http_source *hs;
	int ret;

	pthread_once(&curl_once, curl_init_once);
	hs = qf_xcalloc(1, sizeof(*hs));
	hs->s.ops = &http_ops;
	hs->s.name = qf_url_redact(url);
	hs->s.remote = true;
	hs->s.fd = -1;
	hs->url = request_url(url);
	pthread_mutex_init(&hs->pool_lock, NULL);
	pthread_mutex_init(&hs->lock, NULL);
	pthread_cond_init(&hs->cond, NULL);

	if (curl_init_rc != CURLE_OK) {
		ret = qf_err_set(e, EIO, N_("%s: cannot initialise libcurl: %s"),
				 hs->s.name, curl_easy_strerror(curl_init_rc));
		goto fail;
	}
	if (opts && opts->headers) {
		for (const char *const *h = opts->headers; *h; h++) {
			struct curl_slist *l;
			if (!strchr(*h, ':') || strpbrk(*h, "\r\n")) {
				ret = qf_err_set(e, EINVAL,
						 N_("%s: invalid HTTP header \"%s\" (expected \"Name: value\")"),
						 hs->s.name, *h);
				goto fail;
			}
			l = curl_slist_append(hs->headers, *h);
			if (!l) {
				ret = qf_err_set(e, ENOMEM, "%s: %m", hs->s.name);
				goto fail;
			}
			hs->headers = l;
		}
	}
	if (opts && opts->cacert)
		hs->cacert = qf_xstrdup(opts->cacert);
	hs->insecure = opts && opts->insecure;
	/* With a cache the file may be had from it: the probe only asks
	 * whether it is still the same. */
	hs->probe_small = opts && opts->cache_dir;
	hs->cancel = opts ? opts->cancel : NULL;

	hs->share = share;
	if (!hs->share) {
		ret = qf_err_set(e, ENOMEM, N_("%s: cannot set up an HTTP request"),
				 hs->s.name);
		goto fail;
	}

	ret = http_probe(hs, e);
	if (ret < 0)
		goto fail;
	hs->s.sequential = hs->plain;
	*out = &hs->s;
	return 0;

fail:
	/* What qf_source_close would do, without calling back up. */
	http_close(&hs->s);
	free(hs->s.name);
	free(hs);
	return ret;
}

