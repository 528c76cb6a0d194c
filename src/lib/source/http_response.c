/* http_response.c - judging http responses: a range request is answered
 * by status 206 with exactly the Content-Range asked for (or a prefix of
 * it), the size and validators seen at open, and no more body bytes than
 * announced; anything else is an error, transient or not. */
#include "source/http_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_err_changed(struct http_source *hs, struct qf_err *e)
{
	atomic_store(&hs->changed, true);
	return qf_err_set(e, ESTALE,
			  N_("%s: the image changed on the server while it was being read"),
			  hs->s.name);
}

/* An error page up to this long is read to its end rather than cut off,
 * so that its connection stays open for the next request: the checksum
 * and bmap files looked for beside an image are mostly not there, and
 * over a long link a new connection costs a round trip. */
#define DRAIN_MAX (64 * 1024)

static void reject(struct xfer *x, int64_t clen, int code, bool transient,
		   const char *fmt, long status)
{
	x->drain = clen <= DRAIN_MAX;  /* -1: unknown, drained up to the bound */
	x->transient = transient;
	x->err = qf_err_set(&x->qe, code, fmt, x->hs->s.name, status);
}

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

size_t http_on_header(char *line, size_t size, size_t nitems, void *arg)
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

void http_check_response(struct xfer *x)
{
	long status = 0;
	curl_off_t clen = -1;

	curl_easy_getinfo(x->hd->h, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(x->hd->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			      &clen) != CURLE_OK)
		clen = -1;
	http_judge_response(x, status, clen);
}

void http_judge_response(struct xfer *x, long status, int64_t clen)
{
	struct http_source *hs = x->hs;
	bool has_range = false, has_total = false;
	uint64_t a = 0, b = 0, t = 0;
	bool parsed;

	x->checked = true;
	parsed = parse_crange(x->crange, &has_range, &a, &b, &has_total, &t);

	switch (status) {
	case 206:
		break;
	case 200:
		/* Servers ignore ranges on empty files; nothing to read anyway. */
		if (x->probe && clen == 0) {
			learn_version(hs, x, 0);
			return;
		}
		/* A server without ranges that says how long the file is:
		 * read in order, by plain GETs (http_plain.c). */
		if (x->probe && clen > 0) {
			learn_version(hs, x, (uint64_t)clen);
			hs->plain = true;
			return;
		}
		if (!x->probe && hs->plain) {
			if (clen != (int64_t)hs->s.size || !same_version(hs, x)) {
				x->err = http_err_changed(hs, &x->qe);
				return;
			}
			x->accept = hs->s.size;
			return;
		}
		reject(x, clen, EOPNOTSUPP, false,
		       N_("%s: server does not support range requests (HTTP %ld)"),
		       status);
		return;
	case 416:
		/* Only an empty file has no byte 0. */
		if (x->probe && parsed && !has_range && has_total && t == 0) {
			learn_version(hs, x, 0);
			return;
		}
		if (!x->probe) {
			x->err = http_err_changed(hs, &x->qe);
			return;
		}
		reject(x, clen, EPROTO, false,
		       N_("%s: range not satisfiable (HTTP %ld)"), status);
		return;
	case 404:
	case 410:
		reject(x, clen, ENOENT, false, N_("%s: not found (HTTP %ld)"),
		       status);
		return;
	case 401:
	case 403:
	case 407:
		reject(x, clen, EACCES, false, N_("%s: access denied (HTTP %ld)"),
		       status);
		return;
	case 408:
	case 429:
		reject(x, clen, EAGAIN, true, N_("%s: server busy (HTTP %ld)"),
		       status);
		return;
	default:
		if (status >= 500 && status <= 599)
			reject(x, clen, EIO, true, N_("%s: server error (HTTP %ld)"),
			       status);
		else
			reject(x, clen, EPROTO, false,
			       N_("%s: unexpected response (HTTP %ld)"), status);
		return;
	}

	if (!parsed || !has_range || !has_total) {
		x->err = qf_err_set(&x->qe, EPROTO,
				    N_("%s: malformed Content-Range \"%s\""),
				    hs->s.name, x->crange);
		return;
	}
	if (x->probe) {
		if (a != 0) {
			x->err = qf_err_set(&x->qe, EPROTO,
					    N_("%s: server returned the wrong range (%s)"),
					    hs->s.name, x->crange);
			return;
		}
		if (b >= x->req_len) {
			x->err = qf_err_set(&x->qe, EPROTO,
					    N_("%s: server returned the wrong range (%s)"),
					    hs->s.name, x->crange);
			return;
		}
		learn_version(hs, x, t);
		x->accept = b - a + 1;
		return;
	}
	if (t != hs->s.size || !same_version(hs, x)) {
		x->err = http_err_changed(hs, &x->qe);
		return;
	}
	/* A server may send less than asked for (we ask again for the rest),
	 * never anything else. */
	if (a != x->req_off || b > x->req_off + x->req_len - 1) {
		x->err = qf_err_set(&x->qe, EPROTO,
				    N_("%s: server returned the wrong range (asked for %llu-%llu, got %s)"),
				    hs->s.name, (unsigned long long)x->req_off,
				    (unsigned long long)(x->req_off + x->req_len - 1),
				    x->crange);
		return;
	}
	x->accept = b - a + 1;
}

bool http_body_ok(struct xfer *x, size_t n)
{
	if (!x->checked)
		http_check_response(x);
	if (!x->err && (!x->probe || x->accept) &&
	    n > x->accept - x->received)
		x->err = qf_err_set(&x->qe, EPROTO,
				    N_("%s: server sent more data than announced"),
				    x->hs->s.name);
	return !x->err;
}

size_t http_body_refused(struct xfer *x, size_t n)
{
	if (x->drain && n <= DRAIN_MAX - x->drained) {
		x->drained += n;
		return n;
	}
	return n ? 0 : 1;   /* anything but n aborts the transfer */
}

size_t http_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, left = n;

	if (!http_body_ok(x, n))
		return http_body_refused(x, n);
	if (x->probe) {
		/* A whole file is not waited for: the headers were enough. */
		if (x->hs->plain)
			return 0;
		/* Nor kept without a range: an error page, say. */
		if (!x->segs || !x->accept) {
			x->received += n;
			return n;
		}
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
	atomic_store(&x->hs->s.retrying, 0);
	atomic_store(&x->hs->gave_up_at, 0);
	return n;
}

int http_on_progress(void *arg, curl_off_t dlt, curl_off_t dl,
		     curl_off_t ult, curl_off_t ul)
{
	struct http_source *hs = arg;

	/* Lets close() end prefetches stuck behind a slow server, and the
	 * caller a download into the cache. */
	return atomic_load(&hs->stopping) || http_cancelled(hs);
}

