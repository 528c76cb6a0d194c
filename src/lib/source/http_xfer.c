/* http_xfer.c - requests: a pool of curl easy handles sharing DNS and TLS
 * sessions, one range request at a time per handle, and the retry loop
 * that resumes at the first missing byte with exponential backoff. */
#include "source/http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void http_curl_failure(struct xfer *x, CURLcode rc)
{
	const char *why = x->hd->errbuf[0] ? x->hd->errbuf
					   : curl_easy_strerror(rc);

	x->transient = curl_is_transient(rc);
	if (rc == CURLE_ABORTED_BY_CALLBACK && http_cancelled(x->hs))
		x->err = qf_err_set(&x->qe, ECANCELED, N_("%s: cancelled"),
				    x->hs->s.name);
	else if (curl_is_tls(rc))
		x->err = qf_err_set(&x->qe, EPROTO, N_("%s: TLS error: %s"),
				    x->hs->s.name, why);
	else
		x->err = qf_err_set(&x->qe, EIO, "%s: %s", x->hs->s.name, why);
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
	/* The shared cache keeps this many idle connections in all (5
	 * unless told): enough for every prefetch thread of a few sources. */
	SET(CURLOPT_MAXCONNECTS, 32L);
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
	SET(CURLOPT_HEADERFUNCTION, http_on_header);
	SET(CURLOPT_WRITEFUNCTION, http_on_body);
	SET(CURLOPT_XFERINFOFUNCTION, http_on_progress);
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

struct handle *http_handle_get(struct http_source *hs, struct qf_err *e)
{
	struct handle *hd = NULL;

	pthread_mutex_lock(&hs->pool_lock);
	if (hs->npool)
		hd = hs->pool[--hs->npool];
	pthread_mutex_unlock(&hs->pool_lock);
	if (!hd)
		hd = handle_new(hs);
	if (!hd)
		qf_err_set(e, ENOMEM, N_("%s: cannot set up an HTTP request"),
			   hs->s.name);
	return hd;
}

void http_handle_put(struct http_source *hs, struct handle *hd)
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

void http_set_window(struct http_source *hs)
{
	double rate = hs->rate > PF_RATE_GUESS ? hs->rate : PF_RATE_GUESS;
	double w = PF_BDP_FACTOR * rate * hs->rtt / (double)CHUNK_SIZE;

	hs->pf_window = w < PF_MIN_WINDOW ? PF_MIN_WINDOW
			: w > PF_MAX_WINDOW ? PF_MAX_WINDOW : (int)w + 1;
}

void http_measure(struct http_source *hs, double rtt, uint64_t bytes)
{
	double now = qf_now();

	pthread_mutex_lock(&hs->lock);
	if (rtt > 0 && (hs->rtt == 0 || rtt < hs->rtt))
		hs->rtt = rtt;
	if (hs->rate_t0 == 0)
		hs->rate_t0 = now;
	hs->rate_bytes += bytes;
	if (now - hs->rate_t0 >= PF_RATE_PERIOD) {
		double r = (double)hs->rate_bytes / (now - hs->rate_t0);
		/* Up at once, down slowly: a pause of the reader is not a
		 * slower link. */
		hs->rate = r > hs->rate ? r : 0.75 * hs->rate + 0.25 * r;
		hs->rate_t0 = now;
		hs->rate_bytes = 0;
	}
	http_set_window(hs);
	pthread_mutex_unlock(&hs->lock);
}

/* What the window is sized from: the time from the request's last byte
 * sent to the response's first, and what came. */
static void measure(struct xfer *x, CURL *h)
{
	curl_off_t pre = 0, start = 0;

	if (curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_STARTTRANSFER_TIME_T, &start) != CURLE_OK ||
	    start <= pre)
		start = pre = 0;
	http_measure(x->hs, (double)(start - pre) / 1e6, x->received);
}

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
	measure(x, h);
	if (x->err)
		return;
	/* A probe answered by the whole file: its headers were enough. */
	if (x->probe && x->hs->plain && rc == CURLE_WRITE_ERROR)
		return;
	if (rc != CURLE_OK) {
		http_curl_failure(x, rc);
		return;
	}
	if (!x->checked)
		http_check_response(x);
	if (!x->err && x->received < x->accept) {
		x->transient = true;
		x->err = qf_err_set(&x->qe, EIO, N_("%s: connection closed early"),
				    x->hs->s.name);
	}
}

/* Retry @n of a request is to come.  Several requests meeting the same
 * outage (workers, prefetch) count each retry number once, so that the
 * count, the "retry N" shown meanwhile and the "gave up after N retries"
 * of the last of them say the same. */
static void note_retry(struct http_source *hs, uint_fast32_t n)
{
	uint_fast32_t cur = atomic_load(&hs->s.retrying);

	while (cur < n) {
		if (atomic_compare_exchange_weak(&hs->s.retrying, &cur, n)) {
			atomic_fetch_add(&hs->s.retries, n - cur);
			break;
		}
	}
}

/* Whether a request that has retried @retries times (since @t0, the
 * next wait @delay) gives up, with the retries of the outage in *@n; if
 * not, its next retry is counted.  Decided under the lock, so that once
 * one request gives up the others meeting the same outage stop at the
 * same count and every message says what the source counted. */
static bool give_up(struct http_source *hs, int retries, double t0,
		    double delay, uint_fast32_t *n)
{
	uint_fast32_t at, seen;
	bool stop;

	pthread_mutex_lock(&hs->lock);
	at = atomic_load(&hs->gave_up_at);
	stop = retries + 1 >= MAX_TRIES || qf_now() - t0 + delay > RETRY_BUDGET ||
	       (at && (uint_fast32_t)retries >= at);
	if (stop) {
		seen = atomic_load(&hs->s.retrying);
		seen = seen > (uint_fast32_t)retries ? seen : (uint_fast32_t)retries;
		if (!at)
			atomic_store(&hs->gave_up_at, seen ? seen : 1);
		/* The message gives the source's count, which also holds the
		 * retries of outages the job got through before this one. */
		*n = atomic_load(&hs->s.retries);
	} else {
		note_retry(hs, (uint_fast32_t)retries + 1);
	}
	pthread_mutex_unlock(&hs->lock);
	return stop;
}

/* Sleep before another try; false if the source is being closed or the
 * requests are cancelled. */
static bool backoff(struct http_source *hs, double delay)
{
	struct timespec ts = qf_deadline_in(delay);
	bool stop;

	pthread_mutex_lock(&hs->lock);
	while (!hs->stop && !http_cancelled(hs) &&
	       pthread_cond_timedwait(&hs->cond, &hs->lock, &ts) != ETIMEDOUT)
		;
	stop = hs->stop || http_cancelled(hs);
	pthread_mutex_unlock(&hs->lock);
	return !stop;
}

/* The error of one exchange as the request's: both of its texts. */
static int copy_err(struct qf_err *e, const struct qf_err *x, int code)
{
	if (code > 0)
		code = -code;
	if (e && !e->code) {
		*e = *x;
		e->code = code;
	}
	return code;
}

int http_fetch(struct http_source *hs, uint64_t off, uint64_t len,
	       struct seg *segs, struct qf_err *e)
{
	struct cursor cur = { 0, 0 };
	struct handle *hd;
	uint64_t got = 0;
	double delay = FIRST_DELAY, t0 = qf_now();
	int retries = 0, ret = 0;     /* in a row, since data last came */
	uint_fast32_t n;

	hd = http_handle_get(hs, e);
	if (!hd)
		return -ENOMEM;
	while (got < len) {
		struct xfer x = {
			.hs = hs, .hd = hd, .req_off = off + got,
			.req_len = len - got, .segs = segs, .cur = &cur,
		};

		if (atomic_load(&hs->changed)) {
			ret = http_err_changed(hs, e);
			break;
		}
		perform(&x);
		got += x.received;
		if (!x.err && x.received)
			continue;       /* done, or a short range: ask for the rest */
		if (!x.err) {
			x.transient = true;
			x.err = qf_err_set(&x.qe, EIO, N_("%s: empty response"),
					   hs->s.name);
		}
		if (x.received) {
			/* Progress was made: the budget starts over. */
			retries = 0;
			delay = FIRST_DELAY;
			t0 = qf_now();
		}
		if (!x.transient) {
			ret = copy_err(e, &x.qe, x.err);
			break;
		}
		/* Counted in retries, as the source's counter is, so that the
		 * two agree (MAX_TRIES attempts are MAX_TRIES - 1 retries). */
		if (give_up(hs, retries, t0, delay, &n)) {
			ret = copy_err(e, &x.qe, x.err);
			qf_err_append(e, " ", N_("(gave up after %d retries)"),
				      (int)n);
			break;
		}
		retries++;
		if (!backoff(hs, delay)) {
			ret = qf_err_set(e, ECANCELED, N_("%s: cancelled"),
					 hs->s.name);
			break;
		}
		delay *= 2;
	}
	http_handle_put(hs, hd);
	return ret;
}

/* The first chunk, which came with the probe, put in the cache. */
static void keep_first_chunk(struct http_source *hs, const unsigned char *buf,
			     uint64_t got)
{
	struct slot *sl;

	if (hs->plain || !hs->s.size || got != http_chunk_len(hs, 0))
		return;
	pthread_mutex_lock(&hs->lock);
	if ((sl = http_cache_claim(hs, 0, false))) {
		memcpy(sl->data, buf, sl->len);
		http_slot_filled(hs, sl, true);
		http_slot_release(hs, sl);
	}
	pthread_mutex_unlock(&hs->lock);
}

/* The first request: whether the server takes ranges, the file's size and
 * version.  It asks for the first chunk, which every reader of an image
 * wants next (its header, its magic), and keeps it: one round trip less
 * on a long link. */
int http_probe(struct http_source *hs, struct qf_err *e)
{
	struct handle *hd = http_handle_get(hs, e);
	double delay = FIRST_DELAY;
	int tries = 0, ret;
	unsigned char *buf = NULL;

	if (!hd)
		return -ENOMEM;
	if (!hs->probe_small)
		buf = qf_xmalloc(CHUNK_SIZE);
	for (;;) {
		struct seg seg = { buf, CHUNK_SIZE };
		struct cursor cur = { 0, 0 };
		struct xfer x = {
			.hs = hs, .hd = hd, .probe = true, .req_off = 0,
			.req_len = buf ? CHUNK_SIZE : 1,
			.segs = buf ? &seg : NULL, .cur = &cur,
		};

		perform(&x);
		if (!x.err) {
			ret = 0;
			if (buf)
				keep_first_chunk(hs, buf, x.received);
			break;
		}
		if (!x.transient || ++tries >= OPEN_TRIES) {
			ret = copy_err(e, &x.qe, x.err);
			break;
		}
		atomic_fetch_add(&hs->s.retries, 1);
		backoff(hs, delay);
		delay *= 2;
	}
	free(buf);
	http_handle_put(hs, hd);
	return ret;
}

void http_handles_free(struct http_source *hs)
{
	while (hs->npool) {
		struct handle *hd = hs->pool[--hs->npool];
		curl_easy_cleanup(hd->h);
		free(hd);
	}
}
