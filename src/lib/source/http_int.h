/* http_int.h - what the http source's files share: the source's state
 * (validators, handle pool, chunk cache, prefetch queue), one
 * request/response exchange, and the calls between
 *   http.c           open, close, reads through the cache, credentials
 *   http_response.c  what a response may be (status, Content-Range,
 *                    validators) and where its body goes
 *   http_xfer.c      curl handles, one request, retries with resume
 *   http_cache.c     the bounded cache of aligned chunks
 *   http_prefetch.c  background threads filling the cache ahead
 *   http_plain.c     servers without ranges: the file read in order from
 *                    one plain GET */
#ifndef QF_HTTP_INT_H
#define QF_HTTP_INT_H

#include "source/source.h"

#include <curl/curl.h>
#include <pthread.h>
#include <time.h>

#define CHUNK_SHIFT 20                  /* 1 MiB cache chunks */
#define CHUNK_SIZE ((uint64_t)1 << CHUNK_SHIFT)
#define CACHE_SLOTS 64                  /* at most 64 MiB cached */
#define DIRECT_MIN (4 * CHUNK_SIZE)     /* reads this long bypass the cache */
#define POOL_MAX 8                      /* idle easy handles kept */

/* The prefetch window, in chunks fetched ahead and not read yet, follows
 * the measured bandwidth-delay product (http_prefetch.c): PF_BDP_FACTOR
 * times the round trip at the measured rate, within [PF_MIN_WINDOW,
 * PF_MAX_WINDOW], and one thread per PF_RUN chunks of it fetches. */
#define PF_THREADS 8                    /* at most */
#define PF_MIN_THREADS 2
#define PF_QUEUE 64                     /* announced ranges waiting */
#define PF_RUN 4                        /* chunks per prefetch request */
#define PF_MIN_WINDOW 16
#define PF_MAX_WINDOW (CACHE_SLOTS - 16)/* the rest is for metadata reads */
#define PF_BDP_FACTOR 4
#define PF_RATE_GUESS 16e6              /* bytes/s, until one is measured */
#define PF_RATE_PERIOD 0.5              /* seconds per rate sample */
#define PF_STALE 10.0                   /* seconds before such a chunk may go */

#define PLAIN_RING ((size_t)8 << 20)   /* received, not yet read */
#define PLAIN_KEEP ((size_t)1 << 20)   /* kept behind the reader */
#define PLAIN_RESTARTS 4               /* GETs from the start, at most */

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
	uint64_t start;            /* where the announcement began */
	uint64_t off, end;         /* what is left of it to fetch */
};

struct http_source {
	struct qf_source s;        /* first: qf_source_close frees it whole */
	char *url;                 /* with credentials: requests only */
	char *cacert;
	bool insecure;
	bool probe_small;          /* the probe asks for one byte only */
	struct curl_slist *headers;
	CURLSH *share;             /* the process's (http.c) */

	/* Validators from the first response. */
	char etag[256];
	char lastmod[128];
	atomic_bool changed;
	/* The retry count at which a request gave up on the current outage
	 * (0: none did): the others meeting it give up there too, so that
	 * every message and the source's count agree. */
	atomic_uint_fast32_t gave_up_at;
	atomic_bool stopping;      /* mirrors stop, read without the lock */
	atomic_bool interrupted;   /* qf_source_interrupt: requests give up */
	volatile const int *cancel;/* qf_open_opts.cancel: requests stop */

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
	int pf_window;             /* chunks: see PF_BDP_FACTOR */
	double rtt;                /* shortest request-to-first-byte seen */
	double rate;               /* bytes/s received, all requests together */
	double rate_t0;            /* start of the current rate sample */
	uint64_t rate_bytes;       /* received since rate_t0 */
	struct pf_range queue[PF_QUEUE];
	int qhead, qlen;
	int pf_nthreads;
	pthread_t pf_threads[PF_THREADS];
	bool stop;

	/* A server that ignores ranges (plain): one GET at a time on a
	 * thread of its own fills the ring with the file's bytes
	 * [pl_base, pl_end) in order, under lock. */
	bool plain;
	unsigned char *pl_ring;    /* PLAIN_RING bytes, on first read */
	uint64_t pl_base, pl_end;
	bool pl_running, pl_done, pl_abort;
	int pl_gets;
	int pl_err;                /* how the last GET ended, with pl_qe */
	struct qf_err pl_qe;
	pthread_t pl_thread;
};

/* Whether requests are to give up (ECANCELED): the source is
 * interrupted, or the opener's cancel flag is set. */
static inline bool http_cancelled(const struct http_source *hs)
{
	return atomic_load(&hs->interrupted) || (hs->cancel && *hs->cancel);
}

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
	bool drain;                /* rejected for its status: read the page */
	uint64_t drained;
	struct qf_err qe;
	char crange[128];
	char etag[256];
	char lastmod[128];
};

/* http_response.c */
/* The image changed on the server: every later read fails too. */
int http_err_changed(struct http_source *hs, struct qf_err *e);
/* Decide whether the response may be used, once its headers are in. */
void http_check_response(struct xfer *x);
/* The same for a response with @status whose body is @clen bytes long
 * (-1: not known), the headers having gone through http_on_header. */
void http_judge_response(struct xfer *x, long status, int64_t clen);
size_t http_on_header(char *line, size_t size, size_t nitems, void *arg);
/* Whether @n more body bytes of @x may be taken (its response judged
 * once, never more than announced); x->err says why not. */
bool http_body_ok(struct xfer *x, size_t n);
/* What a write callback returns for @n body bytes refused by
 * http_body_ok: a short error page is taken (and dropped) to its end,
 * which keeps the connection; anything else aborts the transfer. */
size_t http_body_refused(struct xfer *x, size_t n);
size_t http_on_body(char *data, size_t size, size_t nmemb, void *arg);
int http_on_progress(void *arg, curl_off_t dlt, curl_off_t dl,
		     curl_off_t ult, curl_off_t ul);

/* http_xfer.c */
/* Read [off, off+len) into @segs (whose sizes add up to len), retrying
 * transient failures and resuming at the first byte not yet received. */
int http_fetch(struct http_source *hs, uint64_t off, uint64_t len,
	       struct seg *segs, struct qf_err *e);
/* The first request: size, validators and whether ranges work. */
int http_probe(struct http_source *hs, struct qf_err *e);
/* Close the idle handles of the pool. */
void http_handles_free(struct http_source *hs);
/* A handle from the pool (or a new one), and back: NULL and @e set when
 * none can be made. */
struct handle *http_handle_get(struct http_source *hs, struct qf_err *e);
void http_handle_put(struct http_source *hs, struct handle *hd);
/* Set x->err (and x->transient) from a failed curl_easy_perform. */
void http_curl_failure(struct xfer *x, CURLcode rc);

/* http_plain.c: reads of a server without ranges, and stopping the GET
 * under way (close). */
int http_plain_pread(struct http_source *hs, void *buf, size_t len,
		     uint64_t off, struct qf_err *e);
void http_plain_stop(struct http_source *hs);

/* http_cache.c: callers hold hs->lock */
uint64_t http_chunk_start(uint64_t idx);
size_t http_chunk_len(struct http_source *hs, uint64_t idx);
struct slot *http_cache_find(struct http_source *hs, uint64_t idx);
void http_slot_use(struct http_source *hs, struct slot *sl);
void http_slot_drop(struct http_source *hs, struct slot *sl);
/* Take a slot for chunk @idx, to be filled by the caller (who holds one
 * reference); NULL when every slot is busy. */
struct slot *http_cache_claim(struct http_source *hs, uint64_t idx,
			      bool prefetch);
void http_slot_filled(struct http_source *hs, struct slot *sl, bool ok);
void http_slot_release(struct http_source *hs, struct slot *sl);

/* A request's round trip (request sent to first byte) and the body bytes
 * it received, for the window; callers do not hold hs->lock. */
void http_measure(struct http_source *hs, double rtt, uint64_t bytes);
/* The prefetch window for what was measured so far; hs->lock held. */
void http_set_window(struct http_source *hs);

/* http_prefetch.c */
void http_prefetch(struct qf_source *qs, uint64_t off, uint64_t len);

#endif
