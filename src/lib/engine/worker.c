/* worker.c - decode workers: each takes a task from the planner, fills a
 * pool buffer with its bytes (reading adjacent compressed clusters with
 * one read, decompressing them here), holds back the bytes that go last,
 * hashes it for verification and hands the buffer to the targets. */
#include "engine/job.h"

#include <stdlib.h>
#include <string.h>

/* Adjacent compressed clusters are fetched with one read of up to this. */
#define SPAN_MAX ((size_t)256 << 10)

/* Read the compressed clusters starting at ext[i], together with the
 * following ones that sit next to it in the same file, with one read;
 * returns the index of the last extent done. */
static size_t read_compressed(struct worker *w, size_t i, uint64_t vstart,
			      unsigned char *buf, int *ret, struct qf_err *e)
{
	struct qf_job *job = w->job;
	const struct qf_extent *x0 = &w->ext[i];
	uint64_t start = x0->host_off, span_end = x0->host_off + x0->clen;
	size_t j = i, k;

	while (j + 1 < w->next) {
		const struct qf_extent *y = &w->ext[j + 1];
		uint64_t ne;
		if (y->kind != QF_EXTENT_COMPRESSED || y->src != x0->src ||
		    y->host_off < start || y->host_off > span_end + SPAN_GAP)
			break;
		ne = y->host_off + y->clen;
		if (ne < span_end)
			ne = span_end;
		if (ne - start > SPAN_MAX)
			break;
		span_end = ne;
		j++;
	}
	if (j == i) {
		*ret = qf_extent_read(x0, buf + (x0->off - vstart), w->d, e);
		atomic_fetch_add(&job->bytes_read, x0->clen);
		atomic_fetch_add(&job->bytes_decomp, x0->len);
		return i;
	}
	if (!w->span)
		w->span = qf_xmalloc(SPAN_MAX);
	*ret = qf_source_pread(x0->src, w->span, span_end - start, start,
			       QF_READ_ZERO_PAST_EOF, e);
	if (*ret < 0)
		return j;
	atomic_fetch_add(&job->bytes_read, span_end - start);
	for (k = i; k <= j; k++) {
		const struct qf_extent *x = &w->ext[k];
		*ret = qf_extent_decompress(x, w->span + (x->host_off - start),
					    buf + (x->off - vstart), w->d, e);
		if (*ret < 0)
			return j;
		atomic_fetch_add(&job->bytes_decomp, x->len);
	}
	return j;
}

static int fill(struct worker *w, const struct task *tk, unsigned char *buf,
		struct qf_err *e)
{
	struct qf_job *job = w->job;
	uint64_t vstart = tk->fe->vbase + tk->off;
	size_t i;
	int ret = 0;

	for (i = 0; i < w->next && ret == 0; i++) {
		const struct qf_extent *x = &w->ext[i];
		unsigned char *dst = buf + (x->off - vstart);

		switch (x->kind) {
		case QF_EXTENT_ZERO:
			memset(dst, 0, x->len);
			break;
		case QF_EXTENT_COMPRESSED:
			i = read_compressed(w, i, vstart, buf, &ret, e);
			break;
		default:
			ret = qf_extent_read(x, dst, w->d, e);
			atomic_fetch_add(&job->bytes_read, x->len);
			break;
		}
	}
	return ret;
}

static void add_hash(struct qf_job *job, struct feed *fe, uint64_t off,
		     uint64_t len, uint64_t hash)
{
	pthread_mutex_lock(&job->hash_mu);
	fe->h = qf_grow(fe->h, fe->nh, &fe->caph, sizeof(*fe->h));
	fe->h[fe->nh].off = off;
	fe->h[fe->nh].len = len;
	fe->h[fe->nh].hash = hash;
	fe->nh++;
	pthread_mutex_unlock(&job->hash_mu);
}

/* Bytes of the feed that are held back (table.c): keep the image's bytes,
 * hash the final bytes of every target (its fix-ups laid over them) for
 * the flash log, and leave zeros in the buffer, which is what the writers
 * put there until the end. */
static void hold_back(struct worker *w, const struct task *tk,
		      unsigned char *buf)
{
	struct qf_job *job = w->job;
	struct feed *fe = tk->fe;
	uint64_t plain = 0;
	bool have_plain = false;

	table_capture(fe, tk->off, tk->len, buf);
	for (int i = 0; i < fe->nt && job->hashing; i++) {
		struct target *t = fe->t[i];
		uint64_t h;

		if (t->lay.npatch) {
			if (!w->tmp)
				w->tmp = qf_xmalloc(QF_CHUNK);
			memcpy(w->tmp, buf, tk->len);
			table_patch(t, tk->off, tk->len, w->tmp);
			h = qf_chunk_hash(w->tmp, tk->len);
		} else {
			if (!have_plain)
				plain = qf_chunk_hash(buf, tk->len);
			have_plain = true;
			h = plain;
		}
		pthread_mutex_lock(&job->hash_mu);
		t->fin = qf_grow(t->fin, t->nfin, &t->capfin, sizeof(*t->fin));
		t->fin[t->nfin++] = (struct qf_chunk_hash){ tk->off, tk->len, h };
		pthread_mutex_unlock(&job->hash_mu);
	}
	table_mask(fe, tk->off, tk->len, buf);
}

/* The checksum of a target's final bytes: the feed's hashes, with the
 * final ones where bytes were held back. */
static uint64_t final_checksum(struct target *t)
{
	const struct feed *fe = t->fe;
	struct qf_chunk_hash *all = qf_xcalloc(fe->nh + t->nfin + 1, sizeof(*all));
	size_t n = 0;
	uint64_t sum;

	for (size_t i = 0; i < fe->nh; i++)
		if (!table_overlaps(fe, fe->h[i].off, fe->h[i].len))
			all[n++] = fe->h[i];
	if (t->nfin)
		memcpy(all + n, t->fin, t->nfin * sizeof(*all));
	n += t->nfin;
	qf_chunk_hash_sort(all, n);
	sum = qf_stream_checksum(all, n, fe->len);
	free(all);
	return sum;
}

/* The last worker out: hashes are complete, every queue can close. */
static void production_done(struct qf_job *job)
{
	bool complete = !atomic_load(&job->stop);
	int i;

	for (i = 0; i < job->nfe; i++) {
		struct feed *fe = job->fe[i];
		qf_chunk_hash_sort(fe->h, fe->nh);
		fe->complete = complete;
	}
	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		if (complete && job->hashing)
			t->checksum = final_checksum(t);
		queue_close(t);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct qf_job *job = w->job;
	struct buf *b = NULL;
	struct qf_err e = { 0 };
	struct task tk;
	bool last;
	int ret;

	if (!job_wait_gate(job)) {
		free(w);
		return NULL;
	}
	job_wait_wiped(job);

	w->d = qf_decomp_new();
	for (;;) {
		if (!pool_take(job, b == NULL, &b))
			break;
		pthread_mutex_lock(&job->plan_mu);
		ret = plan_next(w, &tk, &e);
		/* A compressed stream decompresses in whichever thread reads
		 * and only keeps a window of recent bytes: read it in order,
		 * under the planner's lock.  Hashing and writing stay
		 * parallel. */
		if (ret > 0 && !tk.zero && job->in_order) {
			int r = fill(w, &tk, b->data, &e);
			if (r < 0)
				ret = r;
		}
		pthread_mutex_unlock(&job->plan_mu);
		if (ret <= 0) {
			pool_put(job, NULL, true);
			if (ret < 0)
				job_fail(job, &e);
			break;
		}
		if (!tk.zero) {
			if (!job->in_order && (ret = fill(w, &tk, b->data, &e)) < 0) {
				pool_put(job, NULL, true);
				job_fail(job, &e);
				break;
			}
			if (table_overlaps(tk.fe, tk.off, tk.len))
				hold_back(w, &tk, b->data);
			/* Allocated zeros are still zeros: no need to write
			 * them, and a hole on the target is cheaper. */
			tk.zero = qf_buf_is_zero(b->data, tk.len);
		}
		if (tk.zero) {
			op_emit(job, &tk, NULL);
			continue;
		}
		if (job->hashing)
			add_hash(job, tk.fe, tk.off, tk.len,
				 qf_chunk_hash(b->data, tk.len));
		op_emit(job, &tk, b);
		b = NULL;
	}
	if (b)
		pool_put(job, b, false);
	qf_decomp_free(w->d);
	free(w->ext);
	free(w->span);
	free(w->tmp);
	free(w);
	pthread_mutex_lock(&job->plan_mu);
	last = --job->workers_left == 0;
	pthread_mutex_unlock(&job->plan_mu);
	if (last)
		production_done(job);
	return NULL;
}
