/* plan.c - what to produce next: the planner walks the image's allocation
 * map feed by feed in chunk-aligned tasks (a zero run becomes one task
 * however long), tells the sources what will be read soon, and decides
 * which bytes of a whole disk are held back and written last. */
#include "engine/job.h"
#include "image/ptable.h"

#include <errno.h>
#include <string.h>

/* A table region larger than this is written in place, not deferred. */
#define TABLE_MAX ((uint64_t)16 << 20)
/* Steps in which a zero run is followed through the map. */
#define MAP_STEP ((uint64_t)1 << 30)
/* How far ahead of the planner sources are told what will be read. */
#define PREFETCH_AHEAD (8 * QF_CHUNK)

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

/* Remember the image's files so progress can report network bytes. */
static void note_source(struct qf_job *job, struct qf_source *s)
{
	int i, n = atomic_load(&job->nsrcs);

	if (!s)
		return;
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
				  _("%s: bad allocation map at virtual offset %llu"),
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
	if (r->src && r->src->ops->prefetch && r->end > r->off)
		r->src->ops->prefetch(r->src, r->off, r->end - r->off);
	r->src = NULL;
}

/* Tell the sources what will be read PREFETCH_AHEAD bytes past @upto, so
 * an http source can fetch it in parallel and a cold local file can be
 * read ahead.  Only a hint: errors are left for the real reads. */
static void prefetch_ahead(struct qf_job *job, const struct feed *fe,
			   uint64_t upto)
{
	uint64_t end = upto + PREFETCH_AHEAD < fe->len ? upto + PREFETCH_AHEAD
						      : fe->len;
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

/* Whole-disk jobs write the partition-table region last; without a
 * readable table (or with an odd, huge one) everything goes in order. */
void plan_table_region(struct qf_job *job)
{
	struct feed *fe = job->fe[0];
	struct qf_ptable *pt = NULL;
	struct qf_err e = { 0 };
	uint64_t head, tail;

	if (qf_ptable_read_layout(job->img, &pt, &e) < 0)
		return;
	if (pt->kind[0] && pt->head_end <= fe->len) {
		/* Whole 4 KiB blocks keep O_DIRECT writes aligned. */
		head = (pt->head_end + QF_IO_ALIGN - 1) / QF_IO_ALIGN * QF_IO_ALIGN;
		if (head > fe->len)
			head = fe->len;
		tail = pt->tail_start < fe->len ? pt->tail_start : fe->len;
		tail = tail / QF_IO_ALIGN * QF_IO_ALIGN;
		if (tail < head)
			tail = head;
		if (head <= TABLE_MAX && fe->len - tail <= TABLE_MAX &&
		    (head > 0 || tail < fe->len)) {
			fe->head_end = head;
			fe->tail_start = tail;
			if (head) {
				fe->head_buf = buf_memalign(head);
				memset(fe->head_buf, 0, head);
			}
			if (tail < fe->len) {
				fe->tail_buf = buf_memalign(fe->len - tail);
				memset(fe->tail_buf, 0, fe->len - tail);
			}
		}
	}
	qf_ptable_free(pt);
}
