/* http_prefetch.c - filling the cache ahead of the reads: the engine
 * announces ranges it will read, and background threads fetch them in runs
 * of PF_RUN chunks, keeping at most a window of chunks that nobody has read
 * yet.  The window is what the link holds: PF_BDP_FACTOR times the
 * measured rate times the measured round trip, bounded by the cache, so a
 * long link gets more requests in flight and a short one no more memory
 * than it needs. */
#include "source/http_int.h"

#include <pthread.h>

/* Room for one more prefetched chunk?  Chunks prefetched long ago and
 * never read were announced in vain; let them go. */
static bool pf_room(struct http_source *hs)
{
	struct slot *old = NULL;

	if (hs->pf_unused < hs->pf_window)
		return true;
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &hs->slots[i];
		if (sl->prefetched && sl->state == SLOT_READY && !sl->refs &&
		    (!old || sl->filled_at < old->filled_at))
			old = sl;
	}
	if (old && qf_now() - old->filled_at > PF_STALE) {
		http_slot_drop(hs, old);
		return true;
	}
	return false;
}

static void pf_wait(struct http_source *hs, double seconds)
{
	struct timespec ts = qf_deadline_in(seconds);

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

		if (!hs->qlen || atomic_load(&hs->changed) ||
		    http_cancelled(hs)) {
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
		while (idx <= end_idx && http_cache_find(hs, idx))
			idx++;
		while (idx + nrun <= end_idx && nrun < PF_RUN &&
		       !http_cache_find(hs, idx + nrun) &&
		       (nrun == 0 || pf_room(hs))) {
			struct slot *sl = http_cache_claim(hs, idx + nrun, true);
			if (!sl)
				break;
			run[nrun++] = sl;
		}
		if (idx > end_idx || http_chunk_start(idx + nrun) >= r->end) {
			hs->qhead = (hs->qhead + 1) % PF_QUEUE;
			hs->qlen--;
		} else if (nrun) {
			r->off = http_chunk_start(idx + nrun);
		} else {
			r->off = http_chunk_start(idx);
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
		ret = http_fetch(hs, http_chunk_start(idx),
			    http_chunk_start(idx + nrun - 1) + run[nrun - 1]->len -
			    http_chunk_start(idx), segs, &e);
		pthread_mutex_lock(&hs->lock);
		for (int k = 0; k < nrun; k++) {
			http_slot_filled(hs, run[k], ret == 0);
			http_slot_release(hs, run[k]);
		}
	}
	pthread_mutex_unlock(&hs->lock);
	return NULL;
}

/* Threads enough to keep the window in flight; hs->lock held. */
static void start_threads(struct http_source *hs)
{
	int want = hs->pf_window / PF_RUN;

	if (want < PF_MIN_THREADS)
		want = PF_MIN_THREADS;
	if (want > PF_THREADS)
		want = PF_THREADS;
	while (hs->pf_nthreads < want &&
	       pthread_create(&hs->pf_threads[hs->pf_nthreads], NULL, pf_main,
			      hs) == 0)
		hs->pf_nthreads++;
}

void http_prefetch(struct qf_source *qs, uint64_t off, uint64_t len)
{
	struct http_source *hs = (struct http_source *)qs;
	uint64_t end;

	/* Without ranges the one GET under way is all there is. */
	if (off >= hs->s.size || !len || hs->plain)
		return;
	end = len > hs->s.size - off ? hs->s.size : off + len;
	pthread_mutex_lock(&hs->lock);
	if (hs->stop)
		goto out;
	if (!hs->pf_window)
		http_set_window(hs);
	start_threads(hs);
	if (hs->qlen) {
		/* Announcements are mostly consecutive: merge them, in
		 * whole chunks, as they are fetched.  Compressed clusters
		 * come with small gaps and small steps back between them
		 * (the holes and order their writer left), and the queue
		 * would fill with ranges a few KiB apart.  One that starts
		 * in what the last range already fetched (a reader
		 * announcing the rest of the file as it goes, behind the
		 * prefetch) adds only its end: queued on its own, it would
		 * fetch again, once the last range is done, bytes read and
		 * let go long before. */
		struct pf_range *t =
			&hs->queue[(hs->qhead + hs->qlen - 1) % PF_QUEUE];
		uint64_t first = off >> CHUNK_SHIFT;
		if (first >= t->start >> CHUNK_SHIFT &&
		    first <= ((t->end - 1) >> CHUNK_SHIFT) + 1) {
			if (end > t->end)
				t->end = end;
			goto out;
		}
	}
	if (hs->qlen == PF_QUEUE)
		goto out;   /* only a hint: the reads will fetch it anyway */
	hs->queue[(hs->qhead + hs->qlen) % PF_QUEUE] =
		(struct pf_range){ off, off, end };
	hs->qlen++;
	pthread_cond_broadcast(&hs->cond);
out:
	pthread_mutex_unlock(&hs->lock);
}

