/* http_cache.c - the http source's cache: CACHE_SLOTS aligned chunks in
 * one huge-page region, LRU, pinned by reference while being copied out.
 * Image metadata is fetched once; prefetched chunks wait here until read.
 * Every function is called with hs->lock held. */
#include "source/http_int.h"

#include <string.h>

uint64_t http_chunk_start(uint64_t idx)
{
	return idx << CHUNK_SHIFT;
}

size_t http_chunk_len(struct http_source *hs, uint64_t idx)
{
	uint64_t left = hs->s.size - http_chunk_start(idx);
	return left < CHUNK_SIZE ? (size_t)left : (size_t)CHUNK_SIZE;
}

struct slot *http_cache_find(struct http_source *hs, uint64_t idx)
{
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct slot *sl = &hs->slots[i];
		if (sl->idx == idx &&
		    (sl->state == SLOT_FILLING || sl->state == SLOT_READY))
			return sl;
	}
	return NULL;
}

void http_slot_use(struct http_source *hs, struct slot *sl)
{
	sl->last_use = ++hs->tick;
	if (sl->prefetched) {
		sl->prefetched = false;
		hs->pf_unused--;
		pthread_cond_broadcast(&hs->cond);
	}
}

void http_slot_drop(struct http_source *hs, struct slot *sl)
{
	if (sl->prefetched) {
		sl->prefetched = false;
		hs->pf_unused--;
	}
	sl->state = SLOT_EMPTY;
}

struct slot *http_cache_claim(struct http_source *hs, uint64_t idx,
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
		/* Chunks read already go first, the least recently used
		 * of them: one prefetched and not read yet is about to be
		 * wanted, and dropping it means fetching it again. */
		if (!victim || (victim->prefetched && !sl->prefetched) ||
		    (victim->prefetched == sl->prefetched &&
		     sl->last_use < victim->last_use))
			victim = sl;
	}
	if (!victim)
		return NULL;
	http_slot_drop(hs, victim);
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
	victim->len = http_chunk_len(hs, idx);
	victim->refs = 1;
	victim->last_use = ++hs->tick;
	if (prefetch) {
		victim->prefetched = true;
		hs->pf_unused++;
	}
	return victim;
}

void http_slot_filled(struct http_source *hs, struct slot *sl, bool ok)
{
	if (ok) {
		sl->state = SLOT_READY;
		sl->filled_at = qf_now();
	} else {
		http_slot_drop(hs, sl);
		sl->state = SLOT_FAILED;
	}
	pthread_cond_broadcast(&hs->cond);
}

void http_slot_release(struct http_source *hs, struct slot *sl)
{
	if (--sl->refs == 0 && sl->state == SLOT_FAILED)
		sl->state = SLOT_EMPTY;
}

