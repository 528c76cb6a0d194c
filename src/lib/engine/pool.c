/* pool.c - the job's bounded memory: chunk buffers allocated on first
 * need, in-flight slots that also bound zero ops, refcounted ops shared by
 * every target of a feed, and each target's queue of ops. */
#include "engine/job.h"

#include <stdlib.h>
#include <string.h>

/* Chunk buffers in huge pages: O_DIRECT pins every page of every write
 * once per target, and a huge page is pinned and released as one. */
void *buf_memalign(size_t len)
{
	return qf_xmemalign(len >= QF_HUGE_PAGE ? QF_HUGE_PAGE : QF_IO_ALIGN,
			    len);
}

static bool buf_available_locked(const struct qf_job *job)
{
	return job->free_bufs || job->nbufs < job->maxbufs;
}

/* Buffers are allocated on first need, so small jobs stay small. */
static struct buf *buf_take_locked(struct qf_job *job)
{
	struct buf *b = job->free_bufs;

	if (b) {
		job->free_bufs = b->next;
		return b;
	}
	b = qf_xcalloc(1, sizeof(*b));
	b->data = buf_memalign(QF_CHUNK);
	job->all_bufs[job->nbufs++] = b;
	return b;
}

void pool_kick(struct qf_job *job)
{
	pthread_mutex_lock(&job->pool_mu);
	pthread_cond_broadcast(&job->pool_cv);
	pthread_mutex_unlock(&job->pool_mu);
}

/* Take an in-flight slot and, when @want_buf, a buffer.  Returns false
 * when the job is stopping. */
bool pool_take(struct qf_job *job, bool want_buf, struct buf **out)
{
	bool go;

	pthread_mutex_lock(&job->pool_mu);
	while (!atomic_load(&job->stop) &&
	       (job->inflight >= job->max_inflight ||
		(want_buf && !buf_available_locked(job))))
		pthread_cond_wait(&job->pool_cv, &job->pool_mu);
	go = !atomic_load(&job->stop);
	if (go) {
		job->inflight++;
		if (want_buf)
			*out = buf_take_locked(job);
	}
	pthread_mutex_unlock(&job->pool_mu);
	return go;
}

/* A buffer for a writer's read-back; waits for one to come back. */
struct buf *pool_get_buf(struct qf_job *job)
{
	struct buf *b;

	pthread_mutex_lock(&job->pool_mu);
	while (!buf_available_locked(job))
		pthread_cond_wait(&job->pool_cv, &job->pool_mu);
	b = buf_take_locked(job);
	pthread_mutex_unlock(&job->pool_mu);
	return b;
}

void pool_put(struct qf_job *job, struct buf *b, bool slot)
{
	pthread_mutex_lock(&job->pool_mu);
	if (b) {
		b->next = job->free_bufs;
		job->free_bufs = b;
	}
	if (slot)
		job->inflight--;
	pthread_cond_broadcast(&job->pool_cv);
	pthread_mutex_unlock(&job->pool_mu);
}

void op_release(struct qf_job *job, struct op *op)
{
	if (atomic_fetch_sub(&op->refs, 1) != 1)
		return;
	pool_put(job, op->buf, true);
	free(op);
}

static void queue_push(struct target *t, struct op *op)
{
	struct qnode *n = qf_xmalloc(sizeof(*n));

	n->next = NULL;
	n->op = op;
	pthread_mutex_lock(&t->qmu);
	if (t->qtail)
		t->qtail->next = n;
	else
		t->qhead = n;
	t->qtail = n;
	pthread_cond_signal(&t->qcv);
	pthread_mutex_unlock(&t->qmu);
}

void queue_close(struct target *t)
{
	pthread_mutex_lock(&t->qmu);
	t->qeof = true;
	pthread_cond_signal(&t->qcv);
	pthread_mutex_unlock(&t->qmu);
}

/* Next op, or NULL once the queue is closed and empty. */
struct op *queue_pop(struct target *t)
{
	struct qnode *n;
	struct op *op = NULL;

	pthread_mutex_lock(&t->qmu);
	while (!t->qhead && !t->qeof)
		pthread_cond_wait(&t->qcv, &t->qmu);
	n = t->qhead;
	if (n) {
		t->qhead = n->next;
		if (!t->qhead)
			t->qtail = NULL;
		op = n->op;
	}
	pthread_mutex_unlock(&t->qmu);
	free(n);
	return op;
}

void op_emit(struct qf_job *job, const struct task *tk, struct buf *b)
{
	struct feed *fe = tk->fe;
	struct op *op = qf_xmalloc(sizeof(*op));
	int i;

	op->fe = fe;
	op->off = tk->off;
	op->len = tk->len;
	op->buf = b;
	/* Every target gets the op, failed ones too: their writers drop it,
	 * which keeps the refcount simple. */
	atomic_init(&op->refs, fe->nt);
	for (i = 0; i < fe->nt; i++)
		queue_push(fe->t[i], op);
}
