/* http_plain.c - servers that ignore ranges: the file read in order.
 *
 * A server that answers the probe's range request with the whole file
 * (status 200 and its length) can still serve a compressed raw image,
 * which is decoded front to back.  One plain GET runs on a thread of its
 * own and fills a ring of PLAIN_RING bytes; reads take their bytes from it
 * in order, and a read further on drains what lies between.  A read before
 * what the ring still holds (a sizing pass starting over, or an index at
 * the end of the file read first) starts the GET again, at most
 * PLAIN_RESTARTS times.  Every GET must show the length and validators of
 * the first response.  A connection that drops cannot be resumed without
 * ranges: the read fails and says so. */
#include "source/http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The GET thread's write callback: the body into the ring, waiting while
 * it is full. */
static size_t plain_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_source *hs = x->hs;
	size_t n = size * nmemb, done = 0;

	if (!http_body_ok(x, n))
		return http_body_refused(x, n);
	pthread_mutex_lock(&hs->lock);
	while (done < n) {
		size_t k = n - done, at, room;

		while (!hs->stop && !hs->pl_abort &&
		       hs->pl_end - hs->pl_base >= PLAIN_RING)
			pthread_cond_wait(&hs->cond, &hs->lock);
		if (hs->stop || hs->pl_abort)
			break;
		room = PLAIN_RING - (size_t)(hs->pl_end - hs->pl_base);
		at = (size_t)(hs->pl_end % PLAIN_RING);
		if (k > room)
			k = room;
		if (k > PLAIN_RING - at)
			k = PLAIN_RING - at;
		memcpy(hs->pl_ring + at, data + done, k);
		hs->pl_end += k;
		done += k;
		pthread_cond_broadcast(&hs->cond);
	}
	pthread_mutex_unlock(&hs->lock);
	if (done < n)
		return 0;
	x->received += n;
	atomic_fetch_add(&hs->s.bytes_read, (uint64_t)n);
	return n;
}

static void *plain_get(void *arg)
{
	struct http_source *hs = arg;
	struct qf_err e = { 0 };
	struct handle *hd = http_handle_get(hs, &e);
	struct xfer x = { .hs = hs, .hd = hd };
	int err = e.code;

	if (hd) {
		CURLcode rc;

		hd->errbuf[0] = 0;
		curl_easy_setopt(hd->h, CURLOPT_RANGE, NULL);
		curl_easy_setopt(hd->h, CURLOPT_WRITEFUNCTION, plain_on_body);
		curl_easy_setopt(hd->h, CURLOPT_WRITEDATA, &x);
		curl_easy_setopt(hd->h, CURLOPT_HEADERDATA, &x);
		rc = curl_easy_perform(hd->h);
		curl_easy_setopt(hd->h, CURLOPT_WRITEFUNCTION, http_on_body);
		if (!x.err && rc != CURLE_OK)
			http_curl_failure(&x, rc);
		if (!x.err && !x.checked)
			http_check_response(&x);
		if (!x.err && x.received < hs->s.size) {
			x.transient = true;
			x.err = qf_err_set(&x.qe, EIO,
					   N_("%s: connection closed early"),
					   hs->s.name);
		}
		if (x.err && x.transient) {
			qf_err_append(&x.qe, " ",
				      N_("after %llu of %llu bytes; the server does not support range requests, so the download cannot resume"),
				      (unsigned long long)x.received,
				      (unsigned long long)hs->s.size);
		}
		if (x.err)
			e = x.qe;
		err = x.err;
		http_handle_put(hs, hd);
	}
	pthread_mutex_lock(&hs->lock);
	hs->pl_done = true;
	hs->pl_err = err < 0 ? err : -err;
	hs->pl_qe = e;
	hs->pl_qe.code = hs->pl_err;
	pthread_cond_broadcast(&hs->cond);
	pthread_mutex_unlock(&hs->lock);
	return NULL;
}

/* End the GET under way, if any.  Called with hs->lock held, which is
 * dropped while the thread ends. */
static void plain_join(struct http_source *hs)
{
	if (!hs->pl_running)
		return;
	hs->pl_abort = true;
	pthread_cond_broadcast(&hs->cond);
	pthread_mutex_unlock(&hs->lock);
	pthread_join(hs->pl_thread, NULL);
	pthread_mutex_lock(&hs->lock);
	hs->pl_running = false;
}

/* A GET from the first byte.  Called with hs->lock held. */
static int plain_start(struct http_source *hs, struct qf_err *e)
{
	if (hs->pl_gets > PLAIN_RESTARTS)
		return qf_err_set(e, EOPNOTSUPP,
				  N_("%s: server does not support range requests, and reading this image would take more than %d downloads"),
				  hs->s.name, PLAIN_RESTARTS + 1);
	hs->pl_gets++;
	hs->pl_base = hs->pl_end = 0;
	hs->pl_done = hs->pl_abort = false;
	hs->pl_err = 0;
	if (pthread_create(&hs->pl_thread, NULL, plain_get, hs) != 0)
		return qf_err_set(e, EAGAIN, N_("%s: cannot start a thread: %m"),
				  hs->s.name);
	hs->pl_running = true;
	return 0;
}

int http_plain_pread(struct http_source *hs, void *buf, size_t len,
		     uint64_t off, struct qf_err *e)
{
	unsigned char *out = buf;
	int ret = 0;

	pthread_mutex_lock(&hs->lock);
	if (!hs->pl_ring)
		hs->pl_ring = qf_xmalloc(PLAIN_RING);
	if (!hs->pl_running || off < hs->pl_base) {
		plain_join(hs);
		ret = plain_start(hs, e);
	}
	while (!ret && len) {
		uint64_t keep;

		if (hs->stop || http_cancelled(hs)) {
			ret = qf_err_set(e, ECANCELED, N_("%s: cancelled"),
					 hs->s.name);
			break;
		}
		if (off < hs->pl_end) {
			size_t at = (size_t)(off % PLAIN_RING), k = len;

			if (k > hs->pl_end - off)
				k = (size_t)(hs->pl_end - off);
			if (k > PLAIN_RING - at)
				k = PLAIN_RING - at;
			memcpy(out, hs->pl_ring + at, k);
			out += k;
			off += k;
			len -= k;
		}
		/* What lies more than PLAIN_KEEP behind the read may go. */
		keep = off > PLAIN_KEEP ? off - PLAIN_KEEP : 0;
		if (keep > hs->pl_end)
			keep = hs->pl_end;
		if (keep > hs->pl_base) {
			hs->pl_base = keep;
			pthread_cond_broadcast(&hs->cond);
		}
		if (!len)
			break;
		if (off < hs->pl_end)
			continue;
		if (hs->pl_done) {
			if (hs->pl_err) {
				if (e && !e->code)
					*e = hs->pl_qe;
				ret = hs->pl_err;
			} else {
				ret = qf_err_set(e, EIO,
						 N_("%s: connection closed early"),
						 hs->s.name);
			}
			break;
		}
		pthread_cond_wait(&hs->cond, &hs->lock);
	}
	pthread_mutex_unlock(&hs->lock);
	return ret;
}

void http_plain_stop(struct http_source *hs)
{
	pthread_mutex_lock(&hs->lock);
	plain_join(hs);
	pthread_mutex_unlock(&hs->lock);
}
