/* plan.c - what to produce next: the planner walks the image's allocation
 * map feed by feed in chunk-aligned tasks (a zero run becomes one task
 * however long) and tells the sources what will be read soon. */
#include "engine/job.h"

#include <errno.h>
#include <string.h>

/* Steps in which a zero run is followed through the map. */
#define MAP_STEP ((uint64_t)1 << 30)
/* How far ahead of the planner sources are told what will be read: a
 * local file reads ahead a little; an http source fetches as far ahead
 * as its window allows, which it can only do for what was announced. */
#define PREFETCH_AHEAD (8 * QF_CHUNK)
#define PREFETCH_AHEAD_REMOTE (32 * QF_CHUNK)

static bool feed_live(const struct feed *fe)
{
	int i;

	for (i = 0; i < fe->nt; i++)
		if (!atomic_load(&fe->t[i]->failed))
			return true;
	return false;
}

static struct qf_extent *ext_push(struct worker *w)
{
	w->ext = qf_grow(w->ext, w->next, &w->cap, sizeof(*w->ext));
	return &w->ext[w->next++];
}

/* Remember the image's files so progress can report network bytes: for
 * a stream, its compressed file, whose retries show while the decoder
 * waits behind them. */
static void note_source(struct qf_job *job, struct qf_source *s)
{
	int i, n = atomic_load(&job->nsrcs);

	if (!s)
		return;
	while (s->under)
		s = s->under;
	if (s->remote)
		atomic_store(&job->remote, true);
	for (i = 0; i < n; i++)
		if (atomic_load(&job->srcs[i]) == s)
			return;
	if (n < MAX_SRCS) {
		/* Before nsrcs: progress reads them once it sees the source.
		 * An outage an earlier job met is counted afresh. */
		job->src_base_bytes[n] = atomic_load(&s->bytes_read);
		job->src_base_retries[n] = (uint32_t)atomic_load(&s->retries);
		atomic_store(&s->retrying, 0);
		atomic_store(&job->srcs[n], s);
		atomic_store(&job->nsrcs, n + 1);
	}
}

static int map_at(struct qf_job *job, const struct feed *fe, uint64_t pos,
		  uint64_t maxlen, struct qf_extent *x, struct qf_err *e)
{
	int ret = qf_image_map(job->img, fe->vbase + pos, maxlen, x, e);

	if (ret < 0)
		return ret;
	if (x->len == 0 || x->len > maxlen || x->off != fe->vbase + pos)
		return qf_err_set(e, EIO,
				  N_("%s: bad allocation map at virtual offset %llu"),
				  qf_image_name(job->img),
				  (unsigned long long)(fe->vbase + pos));
	note_source(job, x->src);
	return 0;
}

/* A run of host bytes about to be read, merged before it is announced. */
struct pf_run {
	struct qf_source *src;
	uint64_t off, end;
};

static void pf_flush(struct pf_run *r)
{
	if (r->end > r->off)
		qf_source_prefetch(r->src, r->off, r->end - r->off);
	r->src = NULL;
}

/* Tell the sources what will be read PREFETCH_AHEAD bytes past @upto, so
 * an http source can fetch it in parallel and a cold local file can be
 * read ahead.  Only a hint: errors are left for the real reads. */
static void prefetch_ahead(struct qf_job *job, const struct feed *fe,
			   uint64_t upto)
{
	uint64_t ahead = atomic_load(&job->remote) ? PREFETCH_AHEAD_REMOTE
						   : PREFETCH_AHEAD;
	uint64_t end = upto + ahead < fe->len ? upto + ahead : fe->len;
	struct pf_run run = { 0 };
	struct qf_err e = { 0 };

	if (job->pf_pos < upto)
		job->pf_pos = upto;
	while (job->pf_pos < end) {
		struct qf_extent x;
		uint64_t off, len;

		if (map_at(job, fe, job->pf_pos, end - job->pf_pos, &x, &e) < 0)
			break;
		job->pf_pos += x.len;
		if (x.kind == QF_EXTENT_DATA) {
			off = x.host_off;
			len = x.len;
		} else if (x.kind == QF_EXTENT_COMPRESSED) {
			off = x.host_off;
			len = x.clen;
		} else {
			continue;
		}
		if (run.src == x.src && off >= run.off &&
		    off <= run.end + SPAN_GAP) {
			if (off + len > run.end)
				run.end = off + len;
			continue;
		}
		pf_flush(&run);
		run.src = x.src;
		run.off = off;
		run.end = off + len;
	}
	pf_flush(&run);
}

/* Next chunk to produce, under plan_mu.  A chunk is the aligned block at
 * plan_pos; a block that is all zeros grows into a zero op covering the
 * whole zero run (ending on a block boundary), so empty space never needs
 * a buffer.  Returns 1, 0 when done, or an error. */
int plan_next(struct worker *w, struct task *tk, struct qf_err *e)
{
	struct qf_job *job = w->job;
	struct feed *fe;
	uint64_t pos, end, cend, p;
	bool all_zero = true;
	int ret;

	for (;;) {
		if (atomic_load(&job->stop) || job->plan_idx >= job->nfe)
			return 0;
		fe = job->fe[job->plan_idx];
		if (job->plan_pos < fe->len && feed_live(fe))
			break;
		job->plan_idx++;
		job->plan_pos = 0;
		job->pf_pos = 0;
	}
	pos = job->plan_pos;
	end = fe->len;
	cend = pos / QF_CHUNK * QF_CHUNK + QF_CHUNK;
	if (cend > end)
		cend = end;
	w->next = 0;
	for (p = pos; p < cend; ) {
		struct qf_extent *x = ext_push(w);
		if ((ret = map_at(job, fe, p, cend - p, x, e)) < 0)
			return ret;
		if (x->kind != QF_EXTENT_ZERO)
			all_zero = false;
		p += x->len;
	}
	/* Held-back bytes are always read, so every target's final bytes
	 * there can be hashed (a fix-up may land on zeros). */
	if (all_zero && table_overlaps(fe, pos, cend - pos))
		all_zero = false;
	tk->fe = fe;
	tk->off = pos;
	tk->zero = all_zero;
	if (all_zero) {
		struct qf_extent x;
		uint64_t z = cend;

		while (z < end) {
			uint64_t n = end - z < MAP_STEP ? end - z : MAP_STEP;
			if ((ret = map_at(job, fe, z, n, &x, e)) < 0)
				return ret;
			if (x.kind != QF_EXTENT_ZERO)
				break;
			z += x.len;
		}
		if (z < end)
			z = z / QF_CHUNK * QF_CHUNK;
		cend = z;
	}
	tk->len = cend - pos;
	job->plan_pos = cend;
	prefetch_ahead(job, fe, cend);
	return 1;
}
