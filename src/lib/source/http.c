/* source_http.c - http(s) URLs as random-access byte sources.
 *
 * Every read is a validated range request (status 206, the Content-Range we
 * asked for, the size and ETag/Last-Modified seen at open), so bytes from
 * two versions of an image are never mixed.  Small reads go through a
 * bounded cache of aligned chunks so image metadata is fetched once; large
 * reads go straight into the caller's buffer.  Background threads fill the
 * cache for ranges the engine announces with prefetch.  Transient failures
 * are retried with exponential backoff, resuming at the first missing byte.
 * The URL's credentials are used for requests but never appear in names or
 * messages. */
#include "internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHUNK_SHIFT 20                  /* 1 MiB cache chunks */
#define CHUNK_SIZE ((uint64_t)1 << CHUNK_SHIFT)
#define CACHE_SLOTS 32                  /* at most 32 MiB cached */
#define DIRECT_MIN (4 * CHUNK_SIZE)     /* reads this long bypass the cache */
#define POOL_MAX 8                      /* idle easy handles kept */

#define PF_THREADS 2
#define PF_QUEUE 64                     /* announced ranges waiting */
#define PF_RUN 4                        /* chunks per prefetch request */
#define PF_MAX_UNUSED (CACHE_SLOTS / 2) /* prefetched but not yet read */
#define PF_STALE 10.0                   /* seconds before such a chunk may go */

#define MAX_TRIES 8
#define OPEN_TRIES 3
#define RETRY_BUDGET 60.0               /* seconds without progress */
#define FIRST_DELAY 0.2

enum slot_state { SLOT_EMPTY = 0, SLOT_FILLING, SLOT_READY, SLOT_FAILED };

/* A cache slot.  While refs > 0 it is neither evicted nor reused, so a
 * READY slot's data may be copied without the lock. */
struct slot {
	enum slot_state state;
	uint64_t idx;              /* chunk number */
	size_t len;                /* bytes of the chunk (the last is short) */
	unsigned char *data;       /* CHUNK_SIZE bytes of the arena */
	int refs;
	uint64_t last_use;         /* LRU tick */
	bool prefetched;           /* filled by prefetch, not read yet */
	double filled_at;
};

struct handle {
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
};

struct pf_range {
	uint64_t off, end;
};

struct http_source {
	struct qf_source s;        /* first: qf_source_close frees it whole */
	char *url;                 /* with credentials: requests only */
	char *cacert;
	bool insecure;
	struct curl_slist *headers;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	/* Validators from the first response. */
	char etag[256];
	char lastmod[128];
	atomic_bool changed;
	atomic_bool stopping;      /* mirrors stop, read without the lock */

	pthread_mutex_t pool_lock;
	struct handle *pool[POOL_MAX];
	int npool;

	/* Cache and prefetch state, under lock; cond signals any change of
	 * slot state, queue or stop. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[CACHE_SLOTS];
	unsigned char *arena;      /* the slots' data, on first use */
	uint64_t tick;
	int pf_unused;
	struct pf_range queue[PF_QUEUE];
	int qhead, qlen;
	bool pf_started;
	int pf_nthreads;
	pthread_t pf_threads[PF_THREADS];
	bool stop;
};

/* A piece of the destination of one fetch. */
struct seg {
	unsigned char *p;
	size_t n;
};

struct cursor {
	int i;
	size_t off;
};

/* One request/response exchange. */
struct xfer {
	struct http_source *hs;
	struct handle *hd;
	bool probe;
	uint64_t req_off, req_len;
	struct seg *segs;
	struct cursor *cur;
	bool checked;
	uint64_t accept;           /* body bytes the Content-Range promises */
	uint64_t received;
	int err;                   /* set when the response was rejected */
	bool transient;
	struct qf_err qe;
	char crange[128];
	char etag[256];
	char lastmod[128];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------ credentials
 * Names and messages carry the URL without its userinfo.  Backing files
 * are resolved against that name, so the userinfo given for an origin is
 * remembered and used again for other URLs on the same origin. */

struct cred {
	char *origin;              /* scheme://host[:port] */
	char *userinfo;
	struct cred *next;
};

static pthread_mutex_t creds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cred *creds;

static char *strip_userinfo(const char *url)
{
	const char *auth, *at, *end;

	qf_url_authority(url, &auth, &at, &end);
	return qf_xasprintf("%.*s%s", (int)(auth - url), url, at);
}

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

/* -------------------------------------------------------------- messages */

static int err_changed(struct http_source *hs, struct qf_err *e)
{
	atomic_store(&hs->changed, true);
	return qf_err_set(e, ESTALE,
			  _("%s: the image changed on the server while it was being read"),
			  hs->s.name);
}

static bool curl_is_tls(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* Failures worth another try.  A host that cannot be resolved or reached
 * when the image is opened is most likely a typo, so those are retried
 * only briefly there (OPEN_TRIES). */
static bool curl_is_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

static void curl_failure(struct xfer *x, CURLcode rc)
{
	const char *why = x->hd->errbuf[0] ? x->hd->errbuf
					   : curl_easy_strerror(rc);

	x->transient = curl_is_transient(rc);
	if (curl_is_tls(rc))
		x->err = qf_err_set(&x->qe, EPROTO, _("%s: TLS error: %s"),
				    x->hs->s.name, why);
	else
		x->err = qf_err_set(&x->qe, EIO, "%s: %s", x->hs->s.name, why);
}

static void reject(struct xfer *x, int code, bool transient,
		   const char *fmt, long status)
{
	x->transient = transient;
	x->err = qf_err_set(&x->qe, code, fmt, x->hs->s.name, status);
}

/* ------------------------------------------------------------- responses */

static void copy_value(char *dst, size_t size, const char *v, size_t n)
{
	while (n && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
		     v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

static bool header_is(const char *line, size_t n, const char *name,
		      size_t *vstart)
{
	size_t l = strlen(name);

	if (n <= l || line[l] != ':' || strncasecmp(line, name, l) != 0)
		return false;
	*vstart = l + 1;
	return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems, v;

	/* A new status line starts a new response (redirects, 100). */
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		x->crange[0] = x->etag[0] = x->lastmod[0] = 0;
	} else if (header_is(line, n, "content-range", &v)) {
		copy_value(x->crange, sizeof(x->crange), line + v, n - v);
	} else if (header_is(line, n, "etag", &v)) {
		copy_value(x->etag, sizeof(x->etag), line + v, n - v);
	} else if (header_is(line, n, "last-modified", &v)) {
		copy_value(x->lastmod, sizeof(x->lastmod), line + v, n - v);
	}
	return n;
}

static bool parse_u64(const char **p, uint64_t *v)
{
	char *end;

	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno)
		return false;
	*p = end;
	return true;
}

/* "bytes A-B/T" or "bytes * /T" (without the space); T may be "*". */
static bool parse_crange(const char *s, bool *has_range, uint64_t *a,
			 uint64_t *b, bool *has_total, uint64_t *t)
{
	if (strncasecmp(s, "bytes", 5) != 0)
		return false;
	s += 5;
	while (*s == ' ')
		s++;
	*has_range = *s != '*';
	if (*has_range) {
		if (!parse_u64(&s, a) || *s++ != '-' || !parse_u64(&s, b) ||
		    *b < *a)
			return false;
	} else {
		s++;
	}
	if (*s++ != '/')
		return false;
	*has_total = *s != '*';
	if (*has_total)
		return parse_u64(&s, t) && *s == 0;
	return s[1] == 0;
}

/* The version check: the validator seen first must be seen again. */
static bool same_version(struct http_source *hs, const struct xfer *x)
{
	if (hs->etag[0])
		return strcmp(hs->etag, x->etag) == 0;
	if (hs->lastmod[0])
		return strcmp(hs->lastmod, x->lastmod) == 0;
	return true;
}

/* What the first response says about the image; later ones must agree. */
static void learn_version(struct http_source *hs, const struct xfer *x,
			  uint64_t size)
{
	hs->s.size = size;
	memcpy(hs->etag, x->etag, sizeof(hs->etag));
	memcpy(hs->lastmod, x->lastmod, sizeof(hs->lastmod));
}

/* Decide whether the response may be used, once its headers are in. */
static void check_response(struct xfer *x)
{
	struct http_source *hs = x->hs;
	bool has_range = false, has_total = false;
	uint64_t a = 0, b = 0, t = 0;
	long status = 0;
	curl_off_t clen = -1;
	bool parsed;

	x->checked = true;
	curl_easy_getinfo(x->hd->h, CURLINFO_RESPONSE_CODE, &status);
	parsed = parse_crange(x->crange, &has_range, &a, &b, &has_total, &t);

	switch (status) {
	case 206:
		break;
	case 200:
		/* Servers ignore ranges on empty files; nothing to read anyway. */
		if (x->probe && curl_easy_getinfo(x->hd->h,
				CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) == CURLE_OK &&
		    clen == 0) {
			learn_version(hs, x, 0);
			return;
		}
		reject(x, EOPNOTSUPP, false,
		       _("%s: server does not support range requests (HTTP %ld)"),
		       status);
		return;
	case 416:
		/* Only an empty file has no byte 0. */
		if (x->probe && parsed && !has_range && has_total && t == 0) {
			learn_version(hs, x, 0);
			return;
		}
		if (!x->probe) {
			x->err = err_changed(hs, &x->qe);
			return;
		}
		reject(x, EPROTO, false, _("%s: range not satisfiable (HTTP %ld)"),
		       status);
		return;
	case 404:
	case 410:
		reject(x, ENOENT, false, _("%s: not found (HTTP %ld)"), status);
		return;
	case 401:
	case 403:
	case 407:
		reject(x, EACCES, false, _("%s: access denied (HTTP %ld)"),
		       status);
		return;
	case 408:
	case 429:
		reject(x, EAGAIN, true, _("%s: server busy (HTTP %ld)"), status);
		return;
	default:
		if (status >= 500 && status <= 599)
			reject(x, EIO, true, _("%s: server error (HTTP %ld)"),
			       status);
		else
			reject(x, EPROTO, false,
			       _("%s: unexpected response (HTTP %ld)"), status);
		return;
	}

	if (!parsed || !has_range || !has_total) {
		x->err = qf_err_set(&x->qe, EPROTO,
				    _("%s: malformed Content-Range \"%s\""),
				    hs->s.name, x->crange);
		return;
	}
	if (x->probe) {
		if (a != 0) {
			x->err = qf_err_set(&x->qe, EPROTO,
					    _("%s: server returned the wrong range (%s)"),
					    hs->s.name, x->crange);
			return;
		}
		learn_version(hs, x, t);
		x->accept = b - a + 1;
		return;
	}
	if (t != hs->s.size || !same_version(hs, x)) {
		x->err = err_changed(hs, &x->qe);
		return;
	}
	/* A server may send less than asked for (we ask again for the rest),
	 * never anything else. */
	if (a != x->req_off || b > x->req_off + x->req_len - 1) {
		x->err = qf_err_set(&x->qe, EPROTO,
				    _("%s: server returned the wrong range (asked for %llu-%llu, got %s)"),
				    hs->s.name, (unsigned long long)x->req_off,
				    (unsigned long long)(x->req_off + x->req_len - 1),
				    x->crange);
		return;
	}
	x->accept = b - a + 1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, left = n;

	if (!x->checked)
		check_response(x);
	if (x->err)
		return n ? 0 : 1;   /* anything but n aborts the transfer */
	if (x->probe) {
		x->received += n;   /* only the headers matter */
		return n;
	}
	if (n > x->accept - x->received) {
		x->err = qf_err_set(&x->qe, EPROTO,
				    _("%s: server sent more data than announced"),
				    x->hs->s.name);
		return 0;
	}
	while (left) {
		struct seg *sg = &x->segs[x->cur->i];
		size_t k = sg->n - x->cur->off;

		if (k > left)
			k = left;
		memcpy(sg->p + x->cur->off, data, k);
		data += k;
		left -= k;
		x->cur->off += k;
		if (x->cur->off == sg->n) {
			x->cur->i++;
			x->cur->off = 0;
		}
	}
	x->received += n;
	atomic_fetch_add(&x->hs->s.bytes_read, (uint64_t)n);
	return n;
}

static int on_progress(void *arg, curl_off_t dlt, curl_off_t dl,
		       curl_off_t ult, curl_off_t ul)
{
	struct http_source *hs = arg;

	/* Lets close() end prefetches stuck behind a slow server. */
	return atomic_load(&hs->stopping);
}

/* ---------------------------------------------------------------- handles */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *arg)
{
	struct http_source *hs = arg;
	pthread_mutex_lock(&hs->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct http_source *hs = arg;
	pthread_mutex_unlock(&hs->share_locks[data]);
}

static struct handle *handle_new(struct http_source *hs)
{
	struct handle *hd = qf_xcalloc(1, sizeof(*hd));
	CURL *h = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!h) {
		free(hd);
		return NULL;
	}
	hd->h = h;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_URL, hs->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_SHARE, hs->share);
	SET(CURLOPT_ERRORBUFFER, hd->errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 8L);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SET(CURLOPT_CONNECTTIMEOUT, 30L);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1024L);
	SET(CURLOPT_LOW_SPEED_TIME, 30L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* Fewer, larger socket reads: the receive side costs CPU that the
	 * decompression workers need. */
	SET(CURLOPT_BUFFERSIZE, 512L * 1024);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, hs);
	SET(CURLOPT_NOPROGRESS, 0L);
	if (hs->headers)
		SET(CURLOPT_HTTPHEADER, hs->headers);
	if (hs->cacert)
		SET(CURLOPT_CAINFO, hs->cacert);
	if (hs->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* Optional features: a libcurl without HTTP/2 just speaks 1.1. */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
#undef SET
	if (rc != CURLE_OK) {
		curl_easy_cleanup(h);
		free(hd);
		return NULL;
	}
	return hd;
}

static struct handle *handle_get(struct http_source *hs, struct qf_err *e)
{
	struct handle *hd = NULL;

	pthread_mutex_lock(&hs->pool_lock);
	if (hs->npool)
		hd = hs->pool[--hs->npool];
	pthread_mutex_unlock(&hs->pool_lock);
	if (!hd)
		hd = handle_new(hs);
	if (!hd)
		qf_err_set(e, ENOMEM, _("%s: cannot set up an HTTP request"),
			   hs->s.name);
	return hd;
}

static void handle_put(struct http_source *hs, struct handle *hd)
{
	pthread_mutex_lock(&hs->pool_lock);
	if (hs->npool < POOL_MAX) {
		hs->pool[hs->npool++] = hd;
		hd = NULL;
	}
	pthread_mutex_unlock(&hs->pool_lock);
	if (hd) {
		curl_easy_cleanup(hd->h);
		free(hd);
	}
}

/* --------------------------------------------------------------- fetching */

static void perform(struct xfer *x)
{
	char range[64];
	CURLcode rc;
	CURL *h = x->hd->h;

	snprintf(range, sizeof(range), "%llu-%llu",
		 (unsigned long long)x->req_off,
		 (unsigned long long)(x->req_off + x->req_len - 1));
	x->hd->errbuf[0] = 0;
	curl_easy_setopt(h, CURLOPT_RANGE, range);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	rc = curl_easy_perform(h);
	if (x->err)
		return;
	if (rc != CURLE_OK) {
		curl_failure(x, rc);
		return;
	}
	if (!x->checked)
		check_response(x);
	if (!x->err && x->received < x->accept) {
		x->transient = true;
		x->err = qf_err_set(&x->qe, EIO, _("%s: connection closed early"),
				    x->hs->s.name);
	}
}

/* The absolute time @seconds from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(double seconds)
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

/* Sleep before another try; false if the source is being closed. */
static bool backoff(struct http_source *hs, double delay)
{
	struct timespec ts = deadline_in(delay);
	bool stop;

	pthread_mutex_lock(&hs->lock);
	while (!hs->stop &&
	       pthread_cond_timedwait(&hs->cond, &hs->lock, &ts) != ETIMEDOUT)
		;
	stop = hs->stop;
	pthread_mutex_unlock(&hs->lock);
	return !stop;
}

/* Read [off, off+len) into @segs (whose sizes add up to len), retrying
 * transient failures and resuming at the first byte not yet received. */
static int fetch(struct http_source *hs, uint64_t off, uint64_t len,
		 struct seg *segs, struct qf_err *e)
{
	struct cursor cur = { 0, 0 };
	struct handle *hd;
	uint64_t got = 0;
	double delay = FIRST_DELAY, t0 = qf_now();
	int tries = 0, ret = 0;

	hd = handle_get(hs, e);
	if (!hd)
		return -ENOMEM;
	while (got < len) {
		struct xfer x = {
			.hs = hs, .hd = hd, .req_off = off + got,
			.req_len = len - got, .segs = segs, .cur = &cur,
		};

		if (atomic_load(&hs->changed)) {
			ret = err_changed(hs, e);
			break;
		}
		perform(&x);
		got += x.received;
		if (!x.err && x.received)
			continue;       /* done, or a short range: ask for the rest */
		if (!x.err) {
			x.transient = true;
			x.err = qf_err_set(&x.qe, EIO, _("%s: empty response"),
					   hs->s.name);
		}
		if (x.received) {
			/* Progress was made: the budget starts over. */
			tries = 0;
			delay = FIRST_DELAY;
			t0 = qf_now();
		}
		if (!x.transient) {
			ret = qf_err_set(e, x.err, "%s", x.qe.msg);
			break;
		}
		if (++tries >= MAX_TRIES || qf_now() - t0 + delay > RETRY_BUDGET) {
			ret = qf_err_set(e, x.err, _("%s (gave up after %d tries)"),
					 x.qe.msg, tries);
			break;
		}
		atomic_fetch_add(&hs->s.retries, 1);
		if (!backoff(hs, delay)) {
			ret = qf_err_set(e, ECANCELED, _("%s: cancelled"),
					 hs->s.name);
			break;
		}
		delay *= 2;
	}
	handle_put(hs, hd);
	return ret;
}

/* The first request: size, validators and whether ranges work. */
static int probe(struct http_source *hs, struct qf_err *e)
{
	struct handle *hd = handle_get(hs, e);
	double delay = FIRST_DELAY;
	int tries = 0, ret;

	if (!hd)
		return -ENOMEM;
	for (;;) {
		struct xfer x = {
			.hs = hs, .hd = hd, .probe = true, .req_off = 0,
			.req_len = 1,
		};

		perform(&x);
		if (!x.err) {
			ret = 0;
			break;
		}
		if (!x.transient || ++tries >= OPEN_TRIES) {
			ret = qf_err_set(e, x.err, "%s", x.qe.msg);
			break;
		}
		atomic_fetch_add(&hs->s.retries, 1);
		backoff(hs, delay);
		delay *= 2;
	}
	handle_put(hs, hd);
	return ret;
}

/* ------------------------------------------------------------------ cache */

static uint64_t chunk_start(uint64_t idx)
{
	return idx << CHUNK_SHIFT;
}

static size_t chunk_len(struct http_source *hs, uint64_t idx)
{
	uint64_t left = hs->s.size - chunk_start(idx);
	return left < CHUNK_SIZE ? (size_t)left : (size_t)CHUNK_SIZE;
}

/* Callers hold hs->lock in every function below. */

static struct slot *cache_find(struct http_source *hs, uint64_t idx)
{
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &hs->slots[i];
		if (sl->idx == idx &&
		    (sl->state == SLOT_FILLING || sl->state == SLOT_READY))
			return sl;
	}
	return NULL;
}

static void slot_use(struct http_source *hs, struct slot *sl)
{
	sl->last_use = ++hs->tick;
	if (sl->prefetched) {
		sl->prefetched = false;
		hs->pf_unused--;
		pthread_cond_broadcast(&hs->cond);
	}
}

static void slot_drop(struct http_source *hs, struct slot *sl)
{
	if (sl->prefetched) {
		sl->prefetched = false;
		hs->pf_unused--;
	}
	sl->state = SLOT_EMPTY;
}

/* Take a slot for chunk @idx, to be filled by the caller (who holds one
 * reference); NULL when every slot is busy. */
static struct slot *cache_claim(struct http_source *hs, uint64_t idx,
				bool prefetch)
{
	struct slot *victim = NULL;

	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &hs->slots[i];
		if (sl->refs || sl->state == SLOT_FILLING)
			continue;
		if (sl->state != SLOT_READY) {
			victim = sl;
			break;
		}
		if (!victim || sl->last_use < victim->last_use)
			victim = sl;
	}
	if (!victim)
		return NULL;
	slot_drop(hs, victim);
	if (!hs->arena) {
		/* One region in huge pages: filling the cache faults in 16
		 * pages instead of 8192.  Untouched slots cost nothing. */
		unsigned char *a = qf_xmemalign(QF_HUGE_PAGE,
						CACHE_SLOTS * CHUNK_SIZE);
		hs->arena = a;
		for (int i = 0; i < CACHE_SLOTS; i++)
			hs->slots[i].data = hs->arena + (size_t)i * CHUNK_SIZE;
	}
	victim->state = SLOT_FILLING;
	victim->idx = idx;
	victim->len = chunk_len(hs, idx);
	victim->refs = 1;
	victim->last_use = ++hs->tick;
	if (prefetch) {
		victim->prefetched = true;
		hs->pf_unused++;
	}
	return victim;
}

static void slot_filled(struct http_source *hs, struct slot *sl, bool ok)
{
	if (ok) {
		sl->state = SLOT_READY;
		sl->filled_at = qf_now();
	} else {
		slot_drop(hs, sl);
		sl->state = SLOT_FAILED;
	}
	pthread_cond_broadcast(&hs->cond);
}

static void slot_release(struct http_source *hs, struct slot *sl)
{
	if (--sl->refs == 0 && sl->state == SLOT_FAILED)
		sl->state = SLOT_EMPTY;
}

/* ------------------------------------------------------------------- read */

/* Part of chunk @idx that [off, off+len) covers, as offsets in the chunk. */
static void chunk_part(uint64_t idx, uint64_t off, size_t len, size_t *from,
		       size_t *to)
{
	uint64_t cs = chunk_start(idx), ce = cs + CHUNK_SIZE;
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
		return err_changed(hs, e);
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
		struct slot *sl = cache_find(hs, first + i);
		if (sl) {
			sl->refs++;
			slot_use(hs, sl);
		} else if (!direct) {
			sl = cache_claim(hs, first + i, false);
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
				segs[nseg].p = out + (chunk_start(first + j) + from - off);
				segs[nseg].n = to - from;
			}
			if (j == i)
				rs = chunk_start(first + j) + (mine[j] ? 0 : from);
			re = chunk_start(first + j) +
			     (mine[j] ? pin[j]->len : to);
			nseg++;
		}
		ret = fetch(hs, rs, re - rs, segs, e);
		pthread_mutex_lock(&hs->lock);
		for (size_t k = i; k < j; k++)
			if (mine[k])
				slot_filled(hs, pin[k], ret == 0);
		pthread_mutex_unlock(&hs->lock);
		for (size_t k = i; k < j && !ret; k++) {
			if (!mine[k])
				continue;
			chunk_part(first + k, off, len, &from, &to);
			memcpy(out + (chunk_start(first + k) + from - off),
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
			memcpy(out + (chunk_start(first + i) + from - off),
			       pin[i]->data + from, to - from);
		} else {
			struct seg sg = {
				out + (chunk_start(first + i) + from - off),
				to - from
			};
			ret = fetch(hs, chunk_start(first + i) + from, to - from,
				    &sg, e);
		}
	}

	pthread_mutex_lock(&hs->lock);
	for (i = 0; i < n; i++)
		if (pin[i])
			slot_release(hs, pin[i]);
	pthread_mutex_unlock(&hs->lock);
	free(pin);
	free(mine);
	free(segs);
	return ret;
}

/* --------------------------------------------------------------- prefetch */

/* Room for one more prefetched chunk?  Chunks prefetched long ago and
 * never read were announced in vain; let them go. */
static bool pf_room(struct http_source *hs)
{
	struct slot *old = NULL;

	if (hs->pf_unused < PF_MAX_UNUSED)
		return true;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &hs->slots[i];
		if (sl->prefetched && sl->state == SLOT_READY && !sl->refs &&
		    (!old || sl->filled_at < old->filled_at))
			old = sl;
	}
	if (old && qf_now() - old->filled_at > PF_STALE) {
		slot_drop(hs, old);
		return true;
	}
	return false;
}

static void pf_wait(struct http_source *hs, double seconds)
{
	struct timespec ts = deadline_in(seconds);

	pthread_cond_timedwait(&hs->cond, &hs->lock, &ts);
}

static void *pf_main(void *arg)
{
	struct http_source *hs = arg;
	struct slot *run[PF_RUN];
	struct seg segs[PF_RUN];

	pthread_mutex_lock(&hs->lock);
	while (!hs->stop) {
		struct pf_range *r;
		uint64_t idx, end_idx;
		int nrun = 0;
		struct qf_err e = { 0 };
		int ret;

		if (!hs->qlen || atomic_load(&hs->changed)) {
			pthread_cond_wait(&hs->cond, &hs->lock);
			continue;
		}
		if (!pf_room(hs)) {
			pf_wait(hs, 0.1);
			continue;
		}
		r = &hs->queue[hs->qhead];
		idx = r->off >> CHUNK_SHIFT;
		end_idx = (r->end - 1) >> CHUNK_SHIFT;
		while (idx <= end_idx && cache_find(hs, idx))
			idx++;
		while (idx + nrun <= end_idx && nrun < PF_RUN &&
		       !cache_find(hs, idx + nrun) &&
		       (nrun == 0 || pf_room(hs))) {
			struct slot *sl = cache_claim(hs, idx + nrun, true);
			if (!sl)
				break;
			run[nrun++] = sl;
		}
		if (idx > end_idx || chunk_start(idx + nrun) >= r->end) {
			hs->qhead = (hs->qhead + 1) % PF_QUEUE;
			hs->qlen--;
		} else if (nrun) {
			r->off = chunk_start(idx + nrun);
		} else {
			r->off = chunk_start(idx);
			pf_wait(hs, 0.1);   /* every slot busy */
			continue;
		}
		if (!nrun)
			continue;
		pthread_mutex_unlock(&hs->lock);
		for (int k = 0; k < nrun; k++) {
			segs[k].p = run[k]->data;
			segs[k].n = run[k]->len;
		}
		ret = fetch(hs, chunk_start(idx),
			    chunk_start(idx + nrun - 1) + run[nrun - 1]->len -
			    chunk_start(idx), segs, &e);
		pthread_mutex_lock(&hs->lock);
		for (int k = 0; k < nrun; k++) {
			slot_filled(hs, run[k], ret == 0);
			slot_release(hs, run[k]);
		}
	}
	pthread_mutex_unlock(&hs->lock);
	return NULL;
}

static void http_prefetch(struct qf_source *qs, uint64_t off, uint64_t len)
{
	struct http_source *hs = (struct http_source *)qs;
	uint64_t end;

	if (off >= hs->s.size || !len)
		return;
	end = len > hs->s.size - off ? hs->s.size : off + len;
	pthread_mutex_lock(&hs->lock);
	if (hs->stop)
		goto out;
	if (!hs->pf_started) {
		hs->pf_started = true;
		for (int i = 0; i < PF_THREADS; i++)
			if (pthread_create(&hs->pf_threads[hs->pf_nthreads],
					   NULL, pf_main, hs) == 0)
				hs->pf_nthreads++;
	}
	if (hs->qlen) {
		/* Announcements are mostly consecutive: merge them. */
		struct pf_range *t =
			&hs->queue[(hs->qhead + hs->qlen - 1) % PF_QUEUE];
		if (off >= t->off && off <= t->end) {
			if (end > t->end)
				t->end = end;
			goto out;
		}
	}
	if (hs->qlen == PF_QUEUE)
		goto out;   /* only a hint: the reads will fetch it anyway */
	hs->queue[(hs->qhead + hs->qlen) % PF_QUEUE] =
		(struct pf_range){ off, end };
	hs->qlen++;
	pthread_cond_broadcast(&hs->cond);
out:
	pthread_mutex_unlock(&hs->lock);
}

/* ---------------------------------------------------------- open / close */

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
	while (hs->npool) {
		struct handle *hd = hs->pool[--hs->npool];
		curl_easy_cleanup(hd->h);
		free(hd);
	}
	if (hs->share)
		curl_share_cleanup(hs->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&hs->share_locks[i]);
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
	.close = http_close,
};

int qf_source_http_open(const char *url, const struct qf_open_opts *opts,
			struct qf_source **out, struct qf_err *e)
{
	struct http_source *hs;
	int ret;

	pthread_once(&curl_once, curl_init_once);
	hs = qf_xcalloc(1, sizeof(*hs));
	hs->s.ops = &http_ops;
	hs->s.name = strip_userinfo(url);
	hs->s.remote = true;
	hs->s.fd = -1;
	hs->url = request_url(url);
	pthread_mutex_init(&hs->pool_lock, NULL);
	pthread_mutex_init(&hs->lock, NULL);
	pthread_cond_init(&hs->cond, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&hs->share_locks[i], NULL);

	if (curl_init_rc != CURLE_OK) {
		ret = qf_err_set(e, EIO, _("%s: cannot initialise libcurl: %s"),
				 hs->s.name, curl_easy_strerror(curl_init_rc));
		goto fail;
	}
	if (opts && opts->headers) {
		for (const char *const *h = opts->headers; *h; h++) {
			struct curl_slist *l;
			if (!strchr(*h, ':') || strpbrk(*h, "\r\n")) {
				ret = qf_err_set(e, EINVAL,
						 _("%s: invalid HTTP header \"%s\" (expected \"Name: value\")"),
						 hs->s.name, *h);
				goto fail;
			}
			l = curl_slist_append(hs->headers, *h);
			if (!l) {
				ret = qf_err_set(e, ENOMEM, "%s: %s", hs->s.name,
						 strerror(ENOMEM));
				goto fail;
			}
			hs->headers = l;
		}
	}
	if (opts && opts->cacert)
		hs->cacert = qf_xstrdup(opts->cacert);
	hs->insecure = opts && opts->insecure;

	hs->share = curl_share_init();
	if (!hs->share) {
		ret = qf_err_set(e, ENOMEM, _("%s: cannot set up an HTTP request"),
				 hs->s.name);
		goto fail;
	}
	curl_share_setopt(hs->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(hs->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(hs->share, CURLSHOPT_USERDATA, hs);
	curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	ret = probe(hs, e);
	if (ret < 0)
		goto fail;
	*out = &hs->s;
	return 0;

fail:
	qf_source_close(&hs->s);
	return ret;
}
