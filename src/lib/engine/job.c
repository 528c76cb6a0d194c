/* engine.c - flash jobs: safety checks before anything is written, the
 * planner that walks the image's allocation map, worker threads that read
 * and decompress chunks, one writer thread per target, the partition-table
 * region written last, verification, progress snapshots and the flash log.
 *
 * Data flow: workers take the next chunk from the planner (under plan_mu),
 * fill a buffer from a bounded pool and hand an op to every target of the
 * chunk's stream.  An op is refcounted across targets; its buffer returns
 * to the pool when the last target is done with it.  Memory is bounded by
 * the pool, not by the size of the disk. */
#include "engine/engine.h"
#include "image/ptable.h"
#include "target/sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
/* Pool size cap: 10 chunk buffers keep the whole job well under 64 MiB. */
#define MAX_BUFS 10
/* Adjacent compressed clusters are fetched with one read of up to this. */
#define SPAN_MAX ((size_t)256 << 10)
#define SPAN_GAP 4096
/* Zero runs are zeroed and checked in slices so progress and cancel stay
 * live on huge empty disks. */
#define ZERO_SLICE ((uint64_t)256 << 20)
/* A table region larger than this is written in place, not deferred. */
#define TABLE_MAX ((uint64_t)16 << 20)
/* Steps in which a zero run is followed through the map. */
#define MAP_STEP ((uint64_t)1 << 30)
/* How far ahead of the planner sources are told what will be read. */
#define PREFETCH_AHEAD (8 * QF_CHUNK)
/* Verify-only compares targets in reads of this size. */
#define CMP_LEN ((size_t)1 << 20)
/* Granule of zero detection when writing to a target that reads as
 * zeros already. */
#define SPARSE_GRAIN ((uint64_t)64 << 10)
#define MAX_SRCS 16
#define WAKE_GAP 0.05

struct buf {
	struct buf *next;
	unsigned char *data;             /* QF_CHUNK bytes, aligned */
};

struct stream;

struct op {
	struct stream *st;
	uint64_t off, len;               /* target offsets */
	struct buf *buf;                 /* NULL: the range is zeros */
	atomic_int refs;
};

struct qnode {
	struct qnode *next;
	struct op *op;
};

/* The bytes one group of targets receives: the whole virtual disk, or one
 * partition's range of it. */
struct stream {
	uint64_t vbase;                  /* virtual offset of target byte 0 */
	uint64_t len;
	int partition;
	struct target **t;
	int nt;
	/* Partition-table region, written after everything else:
	 * [0, head_end) and [tail_start, len).  Without deferral head_end is
	 * 0 and tail_start is len. */
	uint64_t head_end, tail_start;
	unsigned char *head_buf, *tail_buf;
	/* Hashes of data chunks (under job->hash_mu until production ends). */
	struct qf_chunk_hash *h;
	size_t nh, caph;
	bool complete;                   /* every chunk was produced */
	uint64_t checksum;
};

struct target {
	struct qf_job *job;
	char *path;
	int partition;
	struct stream *st;
	struct qf_sink sink;
	bool opened;
	struct qf_reader rd;             /* verify-only */
	bool rd_open;
	unsigned char *cmpbuf;
	struct qf_device dev;
	bool exists;
	dev_t id_dev;
	ino_t id_ino;
	pthread_t thread;
	bool thread_started;
	/* queue of ops, under qmu */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct qnode *qhead, *qtail;
	bool qeof;
	atomic_bool failed;
	/* writer thread only */
	bool mismatch_found;
	uint64_t mismatch;
	/* progress, under job->pmu */
	enum qf_target_state state;
	uint64_t done, total, written, zeroed;
	int err;
	char message[QF_ERR_MSG_MAX];
	uint64_t mismatch_off;
	bool table_written;
	bool verified;
	double t_end;
};

struct qf_job {
	struct qf_image *img;
	struct qf_job_opts opts;
	char *log_path;
	struct qf_ptable *pt;            /* partition mode */
	struct target **t;
	int nt;
	struct stream **st;
	int nst;
	bool started, dead, joined;
	bool hashing;
	bool in_order;                   /* the image must be read in order */
	int nworkers;
	pthread_t *workers;
	int workers_started;

	/* planner, under plan_mu */
	pthread_mutex_t plan_mu;
	int plan_idx;
	uint64_t plan_pos;
	uint64_t pf_pos;                 /* announced to sources up to here */
	int workers_left;
	_Atomic(struct qf_source *) srcs[MAX_SRCS];
	atomic_int nsrcs;

	pthread_mutex_t hash_mu;

	/* buffer pool and in-flight ops, under pool_mu */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct buf *free_bufs;
	struct buf **all_bufs;
	int nbufs, maxbufs;
	int inflight, max_inflight;

	atomic_bool stop;                /* stop producing and writing */
	atomic_bool cancelled;
	atomic_uint_fast64_t bytes_read, bytes_decomp, bytes_written,
			     bytes_zeroed;

	/* progress and lifecycle, under pmu */
	pthread_mutex_t pmu;
	pthread_cond_t pcv;
	int gate;                        /* 0 wait, 1 go, -1 start failed */
	enum qf_phase phase;
	struct qf_rate rate, net_rate;
	double t_start, t_end, last_wake;
	int64_t wall_start;
	struct qf_err fatal;             /* image error: fails every target */
	int writers_left;
	bool finished;
	int efd;
};

struct worker {
	struct qf_job *job;
	struct qf_decomp *d;
	struct qf_extent *ext;
	size_t next, cap;
	unsigned char *span;
};

struct task {
	struct stream *st;
	uint64_t off, len;
	bool zero;
};

static const char *const phase_names[] = {
	[QF_PHASE_PREPARING] = N_("preparing"),
	[QF_PHASE_WRITING] = N_("writing"),
	[QF_PHASE_SYNCING] = N_("syncing"),
	[QF_PHASE_VERIFYING] = N_("verifying"),
	[QF_PHASE_DONE] = N_("done"),
	[QF_PHASE_FAILED] = N_("failed"),
	[QF_PHASE_CANCELLED] = N_("cancelled"),
};

static const char *const state_names[] = {
	[QF_TARGET_PENDING] = N_("pending"),
	[QF_TARGET_WRITING] = N_("writing"),
	[QF_TARGET_SYNCING] = N_("syncing"),
	[QF_TARGET_VERIFYING] = N_("verifying"),
	[QF_TARGET_OK] = N_("ok"),
	[QF_TARGET_FAILED] = N_("failed"),
	[QF_TARGET_CANCELLED] = N_("cancelled"),
	[QF_TARGET_MISMATCH] = N_("mismatch"),
};

const char *qf_phase_id(enum qf_phase p)
{
	if ((unsigned)p >= sizeof(phase_names) / sizeof(phase_names[0]))
		return "?";
	return phase_names[p];
}

const char *qf_phase_name(enum qf_phase p)
{
	return _(qf_phase_id(p));
}

const char *qf_target_state_id(enum qf_target_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[s];
}

const char *qf_target_state_name(enum qf_target_state s)
{
	return _(qf_target_state_id(s));
}

/* Chunk buffers in huge pages: O_DIRECT pins every page of every write
 * once per target, and a huge page is pinned and released as one. */
static void *xmemalign(size_t len)
{
	return qf_xmemalign(len >= QF_HUGE_PAGE ? QF_HUGE_PAGE : QF_IO_ALIGN,
			    len);
}

/* Sizes in messages: whole MiB when exact (disks almost always are),
 * bytes otherwise, so two different sizes never print alike. */
static void size_text(char *buf, size_t len, uint64_t n)
{
	if (n % (1 << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(n >> 20));
	else
		snprintf(buf, len, "%llu bytes", (unsigned long long)n);
}

/* ----------------------------------------------------- progress helpers */

static bool state_final(enum qf_target_state s)
{
	return s == QF_TARGET_OK || s == QF_TARGET_FAILED ||
	       s == QF_TARGET_CANCELLED || s == QF_TARGET_MISMATCH;
}

/* Where in the flash a target is, comparable with the job phase. */
static int state_rank(enum qf_target_state s)
{
	switch (s) {
	case QF_TARGET_PENDING:
	case QF_TARGET_WRITING: return QF_PHASE_WRITING;
	case QF_TARGET_SYNCING: return QF_PHASE_SYNCING;
	case QF_TARGET_VERIFYING: return QF_PHASE_VERIFYING;
	default: return QF_PHASE_DONE;
	}
}

/* Bytes done in the current phase: the slowest target of a whole-disk job,
 * the sum over targets of a partition job.  Under pmu. */
static bool per_partition(const struct qf_job *job)
{
	return job->opts.mode == QF_MODE_PARTITIONS ||
	       (job->nst && job->st[0]->partition > 0);
}

static uint64_t job_done_locked(const struct qf_job *job)
{
	bool sum = per_partition(job);
	uint64_t done = sum ? 0 : UINT64_MAX;
	/* Once the job has ended every target is compared as finished. */
	int phase = job->phase > QF_PHASE_DONE ? QF_PHASE_DONE : (int)job->phase;
	int i;

	for (i = 0; i < job->nt; i++) {
		const struct target *t = job->t[i];
		int rank = state_rank(t->state);
		uint64_t c;

		if (!sum && (t->state == QF_TARGET_FAILED ||
			     t->state == QF_TARGET_CANCELLED))
			continue;
		if (rank == phase)
			c = t->done;
		else
			c = rank < phase ? 0 : t->total;
		if (sum)
			done += c;
		else if (c < done)
			done = c;
	}
	return done == UINT64_MAX ? 0 : done;
}

static uint64_t job_total_locked(const struct qf_job *job)
{
	uint64_t total = 0;
	int i;

	if (!per_partition(job))
		return job->nst ? job->st[0]->len : 0;
	for (i = 0; i < job->nt; i++)
		total += job->t[i]->total;
	return total;
}

static void wake_locked(struct qf_job *job, bool force)
{
	double now = qf_now();
	uint64_t one = 1;

	if (!force && now - job->last_wake < WAKE_GAP)
		return;
	job->last_wake = now;
	if (write(job->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the reader is awake anyway. */
	}
}

/* Recompute the job phase from the targets; a new phase restarts the rate
 * window since its bytes are counted from zero.  Under pmu. */
static void update_locked(struct qf_job *job, bool force)
{
	enum qf_phase ph = job->phase;
	int i, lowest = QF_PHASE_DONE;

	if (!job->finished && job->started) {
		for (i = 0; i < job->nt; i++) {
			int r = state_rank(job->t[i]->state);
			if (r < lowest)
				lowest = r;
		}
		if (lowest < QF_PHASE_DONE)
			ph = (enum qf_phase)lowest;
	}
	if (ph != job->phase) {
		job->phase = ph;
		qf_rate_init(&job->rate, 3.0);
		force = true;
	}
	qf_rate_sample(&job->rate, qf_now(), job_done_locked(job));
	wake_locked(job, force);
}

static void set_state(struct target *t, enum qf_target_state s)
{
	struct qf_job *job = t->job;

	pthread_mutex_lock(&job->pmu);
	t->state = s;
	if (s == QF_TARGET_VERIFYING)
		t->done = 0;
	if (state_final(s))
		t->t_end = qf_now();
	update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

static void add_done(struct target *t, uint64_t done, uint64_t written,
		     uint64_t zeroed)
{
	struct qf_job *job = t->job;

	if (written)
		atomic_fetch_add(&job->bytes_written, written);
	if (zeroed)
		atomic_fetch_add(&job->bytes_zeroed, zeroed);
	pthread_mutex_lock(&job->pmu);
	t->done += done;
	t->written += written;
	t->zeroed += zeroed;
	update_locked(job, false);
	pthread_mutex_unlock(&job->pmu);
}

static void set_done(struct target *t, uint64_t done)
{
	pthread_mutex_lock(&t->job->pmu);
	t->done = done;
	update_locked(t->job, false);
	pthread_mutex_unlock(&t->job->pmu);
}

static bool all_failed_locked(const struct qf_job *job)
{
	int i;

	for (i = 0; i < job->nt; i++)
		if (!atomic_load(&job->t[i]->failed))
			return false;
	return true;
}

static void pool_kick(struct qf_job *job)
{
	pthread_mutex_lock(&job->pool_mu);
	pthread_cond_broadcast(&job->pool_cv);
	pthread_mutex_unlock(&job->pool_mu);
}

/* A target failed: drop it, keep the others going.  When none is left
 * there is nothing to produce for. */
static void fail_target(struct target *t, int err, const char *msg)
{
	struct qf_job *job = t->job;
	size_t pl = strlen(t->path);
	bool none_left;

	/* The snapshot names the target already: drop a leading "path: ". */
	if (strncmp(msg, t->path, pl) == 0 && msg[pl] == ':' && msg[pl + 1] == ' ')
		msg += pl + 2;
	pthread_mutex_lock(&job->pmu);
	atomic_store(&t->failed, true);
	t->state = QF_TARGET_FAILED;
	t->err = err < 0 ? err : -EIO;
	snprintf(t->message, sizeof(t->message), "%s", msg);
	t->t_end = qf_now();
	none_left = all_failed_locked(job);
	update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
	if (none_left) {
		atomic_store(&job->stop, true);
		pool_kick(job);
	}
}

/* The image cannot be read: every target is incomplete. */
static void fail_job(struct qf_job *job, const struct qf_err *e)
{
	pthread_mutex_lock(&job->pmu);
	if (!job->fatal.code)
		job->fatal = *e;
	pthread_mutex_unlock(&job->pmu);
	atomic_store(&job->stop, true);
	pool_kick(job);
}

/* ----------------------------------------------------------- the pool */

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
	b->data = xmemalign(QF_CHUNK);
	job->all_bufs[job->nbufs++] = b;
	return b;
}

/* Take an in-flight slot and, when @want_buf, a buffer.  Returns false
 * when the job is stopping. */
static bool pool_take(struct qf_job *job, bool want_buf, struct buf **out)
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
static struct buf *pool_get_buf(struct qf_job *job)
{
	struct buf *b;

	pthread_mutex_lock(&job->pool_mu);
	while (!buf_available_locked(job))
		pthread_cond_wait(&job->pool_cv, &job->pool_mu);
	b = buf_take_locked(job);
	pthread_mutex_unlock(&job->pool_mu);
	return b;
}

static void pool_put(struct qf_job *job, struct buf *b, bool slot)
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

static void op_release(struct qf_job *job, struct op *op)
{
	if (atomic_fetch_sub(&op->refs, 1) != 1)
		return;
	pool_put(job, op->buf, true);
	free(op);
}

/* ----------------------------------------------------------- queues */

static void q_push(struct target *t, struct op *op)
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

static void q_close(struct target *t)
{
	pthread_mutex_lock(&t->qmu);
	t->qeof = true;
	pthread_cond_signal(&t->qcv);
	pthread_mutex_unlock(&t->qmu);
}

/* Next op, or NULL once the queue is closed and empty. */
static struct op *q_pop(struct target *t)
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

static void emit(struct qf_job *job, const struct task *tk, struct buf *b)
{
	struct stream *st = tk->st;
	struct op *op = qf_xmalloc(sizeof(*op));
	int i;

	op->st = st;
	op->off = tk->off;
	op->len = tk->len;
	op->buf = b;
	/* Every target gets the op, failed ones too: their writers drop it,
	 * which keeps the refcount simple. */
	atomic_init(&op->refs, st->nt);
	for (i = 0; i < st->nt; i++)
		q_push(st->t[i], op);
}

/* ----------------------------------------------------------- planner */

static bool stream_live(const struct stream *st)
{
	int i;

	for (i = 0; i < st->nt; i++)
		if (!atomic_load(&st->t[i]->failed))
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
		atomic_store(&job->srcs[n], s);
		atomic_store(&job->nsrcs, n + 1);
	}
}

static int map_at(struct qf_job *job, const struct stream *st, uint64_t pos,
		  uint64_t maxlen, struct qf_extent *x, struct qf_err *e)
{
	int ret = qf_image_map(job->img, st->vbase + pos, maxlen, x, e);

	if (ret < 0)
		return ret;
	if (x->len == 0 || x->len > maxlen || x->off != st->vbase + pos)
		return qf_err_set(e, EIO,
				  _("%s: bad allocation map at virtual offset %llu"),
				  qf_image_name(job->img),
				  (unsigned long long)(st->vbase + pos));
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
static void prefetch_ahead(struct qf_job *job, const struct stream *st,
			   uint64_t upto)
{
	uint64_t end = upto + PREFETCH_AHEAD < st->len ? upto + PREFETCH_AHEAD
						      : st->len;
	struct pf_run run = { 0 };
	struct qf_err e = { 0 };

	if (job->pf_pos < upto)
		job->pf_pos = upto;
	while (job->pf_pos < end) {
		struct qf_extent x;
		uint64_t off, len;

		if (map_at(job, st, job->pf_pos, end - job->pf_pos, &x, &e) < 0)
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
static int plan_next(struct worker *w, struct task *tk, struct qf_err *e)
{
	struct qf_job *job = w->job;
	struct stream *st;
	uint64_t pos, end, cend, p;
	bool all_zero = true;
	int ret;

	for (;;) {
		if (atomic_load(&job->stop) || job->plan_idx >= job->nst)
			return 0;
		st = job->st[job->plan_idx];
		if (job->plan_pos < st->len && stream_live(st))
			break;
		job->plan_idx++;
		job->plan_pos = 0;
		job->pf_pos = 0;
	}
	pos = job->plan_pos;
	end = st->len;
	cend = pos / QF_CHUNK * QF_CHUNK + QF_CHUNK;
	if (cend > end)
		cend = end;
	w->next = 0;
	for (p = pos; p < cend; ) {
		struct qf_extent *x = ext_push(w);
		if ((ret = map_at(job, st, p, cend - p, x, e)) < 0)
			return ret;
		if (x->kind != QF_EXTENT_ZERO)
			all_zero = false;
		p += x->len;
	}
	tk->st = st;
	tk->off = pos;
	tk->zero = all_zero;
	if (all_zero) {
		struct qf_extent x;
		uint64_t z = cend;

		while (z < end) {
			uint64_t n = end - z < MAP_STEP ? end - z : MAP_STEP;
			if ((ret = map_at(job, st, z, n, &x, e)) < 0)
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
	prefetch_ahead(job, st, cend);
	return 1;
}

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
	uint64_t vstart = tk->st->vbase + tk->off;
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

static void add_hash(struct qf_job *job, struct stream *st, uint64_t off,
		     uint64_t len, uint64_t hash)
{
	pthread_mutex_lock(&job->hash_mu);
	st->h = qf_grow(st->h, st->nh, &st->caph, sizeof(*st->h));
	st->h[st->nh].off = off;
	st->h[st->nh].len = len;
	st->h[st->nh].hash = hash;
	st->nh++;
	pthread_mutex_unlock(&job->hash_mu);
}

/* Keep the bytes of the partition-table region for the end of the job. */
static void keep_table_bytes(struct stream *st, const struct task *tk,
			     const unsigned char *buf)
{
	uint64_t a, b = tk->off + tk->len;

	if (st->head_buf && tk->off < st->head_end)
		memcpy(st->head_buf + tk->off, buf,
		       (b < st->head_end ? b : st->head_end) - tk->off);
	if (st->tail_buf && b > st->tail_start) {
		a = tk->off > st->tail_start ? tk->off : st->tail_start;
		memcpy(st->tail_buf + (a - st->tail_start), buf + (a - tk->off),
		       b - a);
	}
}

/* The last worker out: hashes are complete, every queue can close. */
static void production_done(struct qf_job *job)
{
	bool complete = !atomic_load(&job->stop);
	int i;

	for (i = 0; i < job->nst; i++) {
		struct stream *st = job->st[i];
		qf_chunk_hash_sort(st->h, st->nh);
		st->complete = complete;
		if (complete && job->hashing)
			st->checksum = qf_stream_checksum(st->h, st->nh, st->len);
	}
	for (i = 0; i < job->nt; i++)
		q_close(job->t[i]);
}

/* Threads start before the job is checked and wait here: true once it
 * may run, false when starting failed. */
static bool wait_gate(struct qf_job *job)
{
	int gate;

	pthread_mutex_lock(&job->pmu);
	while (job->gate == 0)
		pthread_cond_wait(&job->pcv, &job->pmu);
	gate = job->gate;
	pthread_mutex_unlock(&job->pmu);
	return gate > 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct qf_job *job = w->job;
	struct buf *b = NULL;
	struct qf_err e = { 0 };
	struct task tk;
	bool last;
	int ret;

	if (!wait_gate(job)) {
		free(w);
		return NULL;
	}

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
				fail_job(job, &e);
			break;
		}
		if (!tk.zero) {
			if (!job->in_order && (ret = fill(w, &tk, b->data, &e)) < 0) {
				pool_put(job, NULL, true);
				fail_job(job, &e);
				break;
			}
			/* Allocated zeros are still zeros: no need to write
			 * them, and a hole on the target is cheaper. */
			tk.zero = qf_buf_is_zero(b->data, tk.len);
		}
		if (tk.zero) {
			emit(job, &tk, NULL);
			continue;
		}
		if (job->hashing)
			add_hash(job, tk.st, tk.off, tk.len,
				 qf_chunk_hash(b->data, tk.len));
		keep_table_bytes(tk.st, &tk, b->data);
		emit(job, &tk, b);
		b = NULL;
	}
	if (b)
		pool_put(job, b, false);
	qf_decomp_free(w->d);
	free(w->ext);
	free(w->span);
	free(w);
	pthread_mutex_lock(&job->plan_mu);
	last = --job->workers_left == 0;
	pthread_mutex_unlock(&job->plan_mu);
	if (last)
		production_done(job);
	return NULL;
}

/* ----------------------------------------------------------- writers */

static void set_final(struct target *t, enum qf_target_state s, int err,
		      const char *msg)
{
	struct qf_job *job = t->job;

	pthread_mutex_lock(&job->pmu);
	t->state = s;
	t->err = err;
	snprintf(t->message, sizeof(t->message), "%s", msg ? msg : "");
	t->t_end = qf_now();
	update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

/* A target known to read as zeros only needs the granules of a chunk that
 * are not zeros: less to copy, and a sparse file stays sparse. */
static int write_sparse(struct target *t, const struct op *op, uint64_t a,
			uint64_t b, struct qf_err *e)
{
	const unsigned char *base = op->buf->data - op->off;
	uint64_t s = a, run = a, written = 0;
	int ret;

	while (s < b) {
		uint64_t n = (s / SPARSE_GRAIN + 1) * SPARSE_GRAIN;
		if (n > b)
			n = b;
		if (qf_buf_is_zero(base + s, n - s)) {
			if (run < s) {
				ret = qf_sink_write(&t->sink, base + run, s - run,
						    run, e);
				if (ret < 0)
					return ret;
				written += s - run;
			}
			run = n;
		}
		s = n;
	}
	if (run < b) {
		if ((ret = qf_sink_write(&t->sink, base + run, b - run, run, e)) < 0)
			return ret;
		written += b - run;
	}
	add_done(t, op->len, written, (b - a) - written);
	return 0;
}

/* Write one op, leaving out the partition-table region. */
static int write_op(struct target *t, const struct op *op, struct qf_err *e)
{
	struct qf_job *job = t->job;
	const struct stream *st = op->st;
	uint64_t a = op->off, b = op->off + op->len, s;
	int ret;

	if (a < st->head_end)
		a = st->head_end < b ? st->head_end : b;
	if (b > st->tail_start)
		b = st->tail_start > a ? st->tail_start : a;
	if (a < b && op->buf && t->sink.fresh)
		return write_sparse(t, op, a, b, e);
	if (a < b && op->buf) {
		ret = qf_sink_write(&t->sink, op->buf->data + (a - op->off), b - a,
				    a, e);
		if (ret < 0)
			return ret;
		add_done(t, op->len, b - a, 0);
		return 0;
	}
	for (s = a; s < b; ) {
		uint64_t n = b - s < ZERO_SLICE ? b - s : ZERO_SLICE;
		if (atomic_load(&job->stop))
			return 0;
		if ((ret = qf_sink_zero(&t->sink, s, n, e)) < 0)
			return ret;
		add_done(t, n, 0, n);
		s += n;
	}
	add_done(t, op->len - (b - a), 0, 0);
	return 0;
}

/* Verify-only: compare one op's range of the target with the image. */
static int compare_op(struct target *t, const struct op *op,
		      struct qf_err *e)
{
	uint64_t s = op->off, end = op->off + op->len, mm;
	int ret;

	while (s < end) {
		uint64_t n = op->buf ? end - s
			     : (end - s < ZERO_SLICE ? end - s : ZERO_SLICE);
		/* Only the first difference is reported: past a known one
		 * there is nothing left to find. */
		if (atomic_load(&t->job->stop) ||
		    (t->mismatch_found && s >= t->mismatch))
			break;
		ret = qf_reader_compare(&t->rd,
					op->buf ? op->buf->data + (s - op->off) : NULL,
					n, s, t->cmpbuf, CMP_LEN, &mm, e);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			if (!t->mismatch_found || mm < t->mismatch)
				t->mismatch = mm;
			t->mismatch_found = true;
			break;
		}
		add_done(t, n, 0, 0);
		s += n;
	}
	if (s < end)
		add_done(t, end - s, 0, 0);
	return 0;
}

static void readback_progress(void *ctx, uint64_t done)
{
	set_done(ctx, done);
}

static int readback_expected(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct target *t = ctx;
	struct qf_err e = { 0 };

	return qf_image_read(t->job->img, buf, len, t->st->vbase + off, &e);
}

/* Read the target back after the flash.  Returns true if the target's
 * final state was set here. */
static bool verify_written(struct target *t)
{
	struct qf_job *job = t->job;
	struct stream *st = t->st;
	struct qf_readback v = { 0 };
	struct qf_err e = { 0 };
	char msg[QF_ERR_MSG_MAX];
	uint64_t mm = 0;
	struct buf *b;
	int ret;

	set_state(t, QF_TARGET_VERIFYING);
	b = pool_get_buf(job);
	v.path = t->path;
	v.len = st->len;
	v.h = st->h;
	v.nh = st->nh;
	v.buf = b->data;
	v.stop = &job->stop;
	v.progress = readback_progress;
	v.expected = qf_image_is_stream(job->img) ? NULL : readback_expected;
	v.ctx = t;
	ret = qf_readback_verify(&v, &mm, &e);
	pool_put(job, b, false);
	if (ret == -ECANCELED) {
		set_final(t, QF_TARGET_CANCELLED, ret,
			  _("cancelled during verification"));
	} else if (ret < 0) {
		fail_target(t, ret, e.msg);
	} else if (ret == 1) {
		snprintf(msg, sizeof(msg),
			 _("verification failed: the target differs from the image at byte %llu"),
			 (unsigned long long)mm);
		pthread_mutex_lock(&job->pmu);
		t->mismatch_off = mm;
		pthread_mutex_unlock(&job->pmu);
		set_final(t, QF_TARGET_MISMATCH, -EIO, msg);
	} else {
		pthread_mutex_lock(&job->pmu);
		t->verified = true;
		pthread_mutex_unlock(&job->pmu);
		return false;
	}
	return true;
}

/* Settle a target whose job stopped (cancel, image error) or that failed
 * already; returns false when it is to be finished normally. */
static bool stopped_early(struct target *t)
{
	struct qf_job *job = t->job;
	char msg[QF_ERR_MSG_MAX];
	int fatal;

	if (atomic_load(&t->failed))
		return true;
	if (atomic_load(&job->cancelled)) {
		set_final(t, QF_TARGET_CANCELLED, -ECANCELED,
			  job->opts.mode == QF_MODE_VERIFY_ONLY
			  ? _("cancelled")
			  : _("cancelled: the target is incomplete"));
		return true;
	}
	pthread_mutex_lock(&job->pmu);
	fatal = job->fatal.code;
	snprintf(msg, sizeof(msg), "%s",
		 fatal ? job->fatal.msg : _("the job stopped early"));
	pthread_mutex_unlock(&job->pmu);
	if (!fatal && t->st->complete)
		return false;
	if (job->opts.mode != QF_MODE_VERIFY_ONLY)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (%s)",
			 _("the target is incomplete"));
	fail_target(t, fatal ? fatal : -EIO, msg);
	return true;
}

static int write_table_region(struct target *t, struct qf_err *e)
{
	struct stream *st = t->st;
	int ret;

	if (st->head_end &&
	    (ret = qf_sink_write(&t->sink, st->head_buf, st->head_end, 0, e)) < 0)
		return ret;
	if (st->tail_start < st->len &&
	    (ret = qf_sink_write(&t->sink, st->tail_buf,
				 st->len - st->tail_start, st->tail_start, e)) < 0)
		return ret;
	return qf_sink_sync(&t->sink, e);
}

static void finish_write(struct target *t)
{
	struct qf_job *job = t->job;
	struct stream *st = t->st;
	struct qf_err e = { 0 };
	char note[QF_ERR_MSG_MAX] = "";
	int ret;

	if (stopped_early(t))
		return;
	set_state(t, QF_TARGET_SYNCING);
	if ((ret = qf_sink_sync(&t->sink, &e)) < 0)
		goto fail;
	/* Only now that the rest is on the device does the disk get a
	 * partition table: an interrupted flash leaves no half-valid disk
	 * that the system would try to mount. */
	if (st->head_buf || st->tail_buf) {
		if ((ret = write_table_region(t, &e)) < 0)
			goto fail;
	}
	if (job->opts.mode == QF_MODE_WHOLE_DISK) {
		pthread_mutex_lock(&job->pmu);
		t->table_written = true;
		pthread_mutex_unlock(&job->pmu);
		if (t->sink.blockdev && t->dev.kind == QF_DEV_DISK) {
			int err = qf_sink_reread_table(&t->sink);
			/* EINVAL: a device that cannot hold partitions (a loop
			 * device without partition scanning) - nothing to say. */
			if (err && err != EINVAL)
				snprintf(note, sizeof(note),
					 _("the kernel did not re-read the partition table: %s"),
					 strerror(err));
		}
	}
	if (job->opts.verify && verify_written(t))
		return;
	set_final(t, QF_TARGET_OK, 0, note);
	return;
fail:
	fail_target(t, ret, e.msg);
}

static void finish_compare(struct target *t)
{
	char msg[QF_ERR_MSG_MAX];

	if (stopped_early(t))
		return;
	if (t->mismatch_found) {
		snprintf(msg, sizeof(msg),
			 _("the target differs from the image at byte %llu"),
			 (unsigned long long)t->mismatch);
		pthread_mutex_lock(&t->job->pmu);
		t->mismatch_off = t->mismatch;
		pthread_mutex_unlock(&t->job->pmu);
		set_final(t, QF_TARGET_MISMATCH, -EIO, msg);
		return;
	}
	pthread_mutex_lock(&t->job->pmu);
	t->verified = true;
	pthread_mutex_unlock(&t->job->pmu);
	set_final(t, QF_TARGET_OK, 0, NULL);
}

static const char *result_word(enum qf_target_state s)
{
	switch (s) {
	case QF_TARGET_OK: return "ok";
	case QF_TARGET_CANCELLED: return "cancelled";
	case QF_TARGET_MISMATCH: return "mismatch";
	default: return "failed";
	}
}

/* One line per target; a log that cannot be written is reported in the
 * targets' messages but does not change their result.  Under pmu. */
/* One line per target.  Runs after the last writer, so the targets no
 * longer change, and without pmu: a slow log file must not stall
 * progress snapshots.  The errors go into @errs (one per target). */
static void write_log(struct qf_job *job, struct qf_err *errs)
{
	static const char *const modes[] = {
		[QF_MODE_WHOLE_DISK] = "whole-disk",
		[QF_MODE_PARTITIONS] = "partition",
		[QF_MODE_VERIFY_ONLY] = "verify",
	};
	bool verifying = job->opts.verify ||
			 job->opts.mode == QF_MODE_VERIFY_ONLY;
	int i;

	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		struct qf_flashlog_entry en = { 0 };

		en.time = job->wall_start;
		en.image = qf_image_name(job->img);
		en.virtual_size = qf_image_size(job->img);
		en.mode = modes[job->opts.mode];
		en.partition = t->partition;
		en.have_checksum = t->st->complete && job->hashing;
		en.checksum = t->st->checksum;
		en.target = t->path;
		en.model = t->dev.model;
		en.serial = t->dev.serial;
		en.bytes_written = t->written;
		en.bytes_zeroed = t->zeroed;
		en.duration = t->t_end - job->t_start;
		en.result = result_word(t->state);
		en.verify = t->state == QF_TARGET_MISMATCH ? "mismatch"
			    : verifying && t->verified ? "ok" : "skipped";
		en.error = t->state == QF_TARGET_OK ? "" : t->message;
		qf_flashlog_append(job->log_path, &en, &errs[i]);
	}
}

/* The last writer out closes the job. */
static void finalize(struct qf_job *job)
{
	struct qf_err *errs = qf_xcalloc(job->nt ? job->nt : 1, sizeof(*errs));
	int i, ok = 0;

	if (job->log_path)
		write_log(job, errs);
	pthread_mutex_lock(&job->pmu);
	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		size_t l = strlen(t->message);

		ok += t->state == QF_TARGET_OK;
		if (errs[i].code)
			snprintf(t->message + l, sizeof(t->message) - l, "%s%s",
				 l ? "; " : "", errs[i].msg);
	}
	free(errs);
	if (ok == job->nt)
		job->phase = QF_PHASE_DONE;
	else if (atomic_load(&job->cancelled))
		job->phase = QF_PHASE_CANCELLED;
	else
		job->phase = ok ? QF_PHASE_DONE : QF_PHASE_FAILED;
	job->t_end = qf_now();
	job->finished = true;
	pthread_cond_broadcast(&job->pcv);
	wake_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

static void *writer_main(void *arg)
{
	struct target *t = arg;
	struct qf_job *job = t->job;
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	struct op *op;
	bool last;

	if (!wait_gate(job))
		return NULL;
	while ((op = q_pop(t))) {
		if (!atomic_load(&t->failed) && !atomic_load(&job->stop)) {
			struct qf_err e = { 0 };
			int ret = verify_only ? compare_op(t, op, &e)
					      : write_op(t, op, &e);
			if (ret < 0)
				fail_target(t, ret, e.msg);
		}
		op_release(job, op);
	}
	if (verify_only)
		finish_compare(t);
	else
		finish_write(t);
	if (t->opened)
		qf_sink_close(&t->sink);
	if (t->rd_open)
		qf_reader_close(&t->rd);
	t->opened = t->rd_open = false;
	pthread_mutex_lock(&job->pmu);
	last = --job->writers_left == 0;
	pthread_mutex_unlock(&job->pmu);
	if (last)
		finalize(job);
	return NULL;
}

/* ----------------------------------------------------------- the API */

struct qf_job *qf_job_new(struct qf_image *img, const struct qf_job_opts *o)
{
	struct qf_job *job;

	if (!img || !o)
		return NULL;
	job = qf_xcalloc(1, sizeof(*job));
	job->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (job->efd < 0) {
		free(job);
		return NULL;
	}
	job->img = img;
	job->opts = *o;
	job->log_path = o->log_path ? qf_xstrdup(o->log_path) : NULL;
	job->opts.log_path = job->log_path;
	pthread_mutex_init(&job->plan_mu, NULL);
	pthread_mutex_init(&job->hash_mu, NULL);
	pthread_mutex_init(&job->pool_mu, NULL);
	pthread_cond_init(&job->pool_cv, NULL);
	pthread_mutex_init(&job->pmu, NULL);
	pthread_cond_init(&job->pcv, NULL);
	job->phase = QF_PHASE_PREPARING;
	qf_rate_init(&job->rate, 3.0);
	qf_rate_init(&job->net_rate, 3.0);
	return job;
}

static struct stream *stream_for(struct qf_job *job, int partition,
				 uint64_t vbase, uint64_t len)
{
	struct stream *st;
	int i;

	for (i = 0; i < job->nst; i++)
		if (job->st[i]->partition == partition)
			return job->st[i];
	st = qf_xcalloc(1, sizeof(*st));
	st->partition = partition;
	st->vbase = vbase;
	st->len = len;
	st->tail_start = len;
	job->st = realloc(job->st, (job->nst + 1) * sizeof(*job->st));
	if (!job->st)
		abort();
	job->st[job->nst++] = st;
	return st;
}

int qf_job_add_target(struct qf_job *job, const char *path, int partition,
		      struct qf_err *e)
{
	uint64_t size = qf_image_size(job->img);
	uint64_t vbase = 0, len = size;
	struct target *t;
	struct stream *st;
	int i, ret;

	if (job->started || job->dead)
		return qf_err_set(e, EBUSY, "%s",
				  _("targets cannot be added to a job that was started"));
	if (!path || !*path)
		return qf_err_set(e, EINVAL, "%s", _("empty target path"));
	if (job->opts.mode == QF_MODE_WHOLE_DISK && partition != 0)
		return qf_err_set(e, EINVAL,
				  _("%s: a partition number is only valid when writing partitions"),
				  path);
	if (job->opts.mode == QF_MODE_PARTITIONS && partition <= 0)
		return qf_err_set(e, EINVAL, _("%s: no partition number given"),
				  path);
	if (partition < 0)
		return qf_err_set(e, EINVAL, _("%s: bad partition number %d"), path,
				  partition);
	/* Verify-only takes partition numbers too: it then compares a
	 * target with that partition's bytes. */
	if (partition > 0) {
		const struct qf_partition *part;
		if (!job->pt &&
		    (ret = qf_ptable_read_layout(job->img, &job->pt, e)) < 0)
			return ret;
		part = qf_ptable_find(job->pt, partition);
		if (!part)
			return qf_err_set(e, ENOENT, _("%s: the image has no partition %d"),
					  qf_image_name(job->img), partition);
		if (!range_inside(part->start, part->size, size))
			return qf_err_set(e, EINVAL,
					  _("%s: partition %d lies outside the virtual disk"),
					  qf_image_name(job->img), partition);
		vbase = part->start;
		len = part->size;
	}
	for (i = 0; i < job->nt; i++)
		if (strcmp(job->t[i]->path, path) == 0)
			return qf_err_set(e, EINVAL,
					  _("%s: given more than once as a target"), path);

	st = stream_for(job, partition, vbase, len);
	t = qf_xcalloc(1, sizeof(*t));
	t->job = job;
	t->path = qf_xstrdup(path);
	t->partition = partition;
	t->st = st;
	t->total = st->len;
	t->state = QF_TARGET_PENDING;
	t->sink.fd = -1;
	t->rd.fd = -1;
	pthread_mutex_init(&t->qmu, NULL);
	pthread_cond_init(&t->qcv, NULL);
	atomic_init(&t->failed, false);
	job->t = realloc(job->t, (job->nt + 1) * sizeof(*job->t));
	st->t = realloc(st->t, (st->nt + 1) * sizeof(*st->t));
	if (!job->t || !st->t)
		abort();
	job->t[job->nt++] = t;
	st->t[st->nt++] = t;
	return 0;
}

/* Whole-disk jobs write the partition-table region last; without a
 * readable table (or with an odd, huge one) everything goes in order. */
static void plan_table_region(struct qf_job *job)
{
	struct stream *st = job->st[0];
	struct qf_ptable *pt = NULL;
	struct qf_err e = { 0 };
	uint64_t head, tail;

	if (qf_ptable_read_layout(job->img, &pt, &e) < 0)
		return;
	if (pt->kind[0] && pt->head_end <= st->len) {
		/* Whole 4 KiB blocks keep O_DIRECT writes aligned. */
		head = (pt->head_end + QF_IO_ALIGN - 1) / QF_IO_ALIGN * QF_IO_ALIGN;
		if (head > st->len)
			head = st->len;
		tail = pt->tail_start < st->len ? pt->tail_start : st->len;
		tail = tail / QF_IO_ALIGN * QF_IO_ALIGN;
		if (tail < head)
			tail = head;
		if (head <= TABLE_MAX && st->len - tail <= TABLE_MAX &&
		    (head > 0 || tail < st->len)) {
			st->head_end = head;
			st->tail_start = tail;
			if (head) {
				st->head_buf = xmemalign(head);
				memset(st->head_buf, 0, head);
			}
			if (tail < st->len) {
				st->tail_buf = xmemalign(st->len - tail);
				memset(st->tail_buf, 0, st->len - tail);
			}
		}
	}
	qf_ptable_free(pt);
}

static int err_too_small(const struct target *t, uint64_t have,
			 struct qf_err *e)
{
	char need_s[32], have_s[32];

	size_text(need_s, sizeof(need_s), t->total);
	size_text(have_s, sizeof(have_s), have);
	return qf_err_set(e, ENOSPC, _("%s: too small: %s needed, %s available"),
			  t->path, need_s, have_s);
}

/* Safety checks on one target before anything is opened for writing. */
static int check_target(struct qf_job *job, struct target *t,
			struct qf_err *e)
{
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	char why[256];
	struct stat sb;
	unsigned bad;
	int ret;

	if (stat(t->path, &sb) < 0) {
		/* A missing file is a new target file. */
		if (errno == ENOENT && !verify_only) {
			t->dev.kind = QF_DEV_FILE;
			snprintf(t->dev.path, sizeof(t->dev.path), "%s", t->path);
			return 0;
		}
		return qf_err_set(e, errno, "%s: %s", t->path, strerror(errno));
	}
	t->exists = true;
	t->id_dev = S_ISBLK(sb.st_mode) ? sb.st_rdev : sb.st_dev;
	t->id_ino = S_ISBLK(sb.st_mode) ? 0 : sb.st_ino;
	if ((ret = qf_device_check(t->path, qf_image_name(job->img), &t->dev,
				   e)) < 0)
		return ret;
	bad = t->dev.refusals & ~(unsigned)QF_REFUSE_TOO_SMALL;
	if (verify_only)
		/* Reading does no harm to a mounted or busy device. */
		bad &= QF_REFUSE_NOT_FOUND | QF_REFUSE_NOT_BLOCK;
	else if (job->opts.force)
		bad &= ~(unsigned)QF_REFUSE_FORCEABLE;
	if (bad) {
		if (bad == t->dev.refusals && t->dev.reason[0])
			snprintf(why, sizeof(why), "%s", t->dev.reason);
		else
			qf_refusal_text(bad, why, sizeof(why));
		return qf_err_set(e, EPERM, "%s: %s", t->path, why);
	}
	if (!verify_only && t->dev.kind != QF_DEV_FILE && t->dev.size < t->total)
		return err_too_small(t, t->dev.size, e);
	return 0;
}

static int check_duplicates(struct qf_job *job, struct qf_err *e)
{
	int i, j;

	for (i = 0; i < job->nt; i++) {
		for (j = 0; j < i; j++) {
			struct target *a = job->t[i], *b = job->t[j];
			if (a->exists && b->exists && a->id_dev == b->id_dev &&
			    a->id_ino == b->id_ino)
				return qf_err_set(e, EINVAL,
						  _("%s: same target as %s"),
						  a->path, b->path);
		}
	}
	return 0;
}

static void discard_targets(struct qf_job *job)
{
	int i;

	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		if (t->opened)
			qf_sink_discard(&t->sink);
		if (t->rd_open)
			qf_reader_close(&t->rd);
		t->opened = t->rd_open = false;
	}
}

static int open_targets(struct qf_job *job, struct qf_err *e)
{
	int i, ret;

	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		if (job->opts.mode == QF_MODE_VERIFY_ONLY) {
			if ((ret = qf_reader_open(&t->rd, t->path, e)) < 0)
				return ret;
			t->rd_open = true;
			t->cmpbuf = xmemalign(CMP_LEN);
			continue;
		}
		if ((ret = qf_sink_open(&t->sink, t->path, job->opts.direct,
					job->opts.force, e)) < 0)
			return ret;
		t->opened = true;
		/* Checked again on the device actually opened. */
		if (t->sink.blockdev && t->sink.size < t->total)
			return err_too_small(t, t->sink.size, e);
	}
	/* Only once every target is open does any of them change. */
	for (i = 0; i < job->nt && job->opts.mode != QF_MODE_VERIFY_ONLY; i++) {
		struct qf_sink *s = &job->t[i]->sink;
		if ((ret = qf_sink_set_size(s, job->t[i]->total, e)) < 0)
			return ret;
		/* The user vouches that it is blank: zeroing is a no-op. */
		if (job->opts.assume_zeroed)
			s->fresh = true;
	}
	return 0;
}

static int cmp_stream(const void *a, const void *b)
{
	const struct stream *x = *(struct stream *const *)a;
	const struct stream *y = *(struct stream *const *)b;
	return x->vbase < y->vbase ? -1 : x->vbase > y->vbase;
}

static int start_threads(struct qf_job *job, struct qf_err *e)
{
	int i, err = 0, nw = 0;

	for (i = 0; i < job->nt && !err; i++) {
		err = pthread_create(&job->t[i]->thread, NULL, writer_main,
				     job->t[i]);
		job->t[i]->thread_started = err == 0;
	}
	job->workers = qf_xcalloc(job->nworkers, sizeof(*job->workers));
	for (i = 0; i < job->nworkers && !err; i++) {
		struct worker *w = qf_xcalloc(1, sizeof(*w));
		w->job = job;
		err = pthread_create(&job->workers[i], NULL, worker_main, w);
		if (err)
			free(w);
		else
			nw++;
	}
	job->workers_started = nw;
	pthread_mutex_lock(&job->pmu);
	job->gate = err ? -1 : 1;
	pthread_cond_broadcast(&job->pcv);
	pthread_mutex_unlock(&job->pmu);
	if (!err)
		return 0;
	for (i = 0; i < job->nt; i++)
		if (job->t[i]->thread_started)
			pthread_join(job->t[i]->thread, NULL);
	for (i = 0; i < nw; i++)
		pthread_join(job->workers[i], NULL);
	return qf_err_set(e, err, _("cannot start threads: %s"), strerror(err));
}

int qf_job_start(struct qf_job *job, struct qf_err *e)
{
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	long n;
	int i, ret;

	if (job->started || job->dead)
		return qf_err_set(e, EINVAL, "%s", _("the job was already started"));
	if (!job->nt)
		return qf_err_set(e, EINVAL, "%s", _("no target given"));
	if (atomic_load(&job->cancelled))
		return qf_err_set(e, ECANCELED, "%s", _("cancelled"));
	job->dead = true;        /* until it has really started */

	if (job->opts.mode == QF_MODE_WHOLE_DISK)
		plan_table_region(job);
	for (i = 0; i < job->nt; i++)
		if ((ret = check_target(job, job->t[i], e)) < 0)
			return ret;
	if ((ret = check_duplicates(job, e)) < 0)
		return ret;
	if ((ret = open_targets(job, e)) < 0) {
		discard_targets(job);
		return ret;
	}
	/* Sequential sources are read front to back, partition by partition. */
	qsort(job->st, job->nst, sizeof(*job->st), cmp_stream);

	n = job->opts.threads > 0 ? job->opts.threads
				  : sysconf(_SC_NPROCESSORS_ONLN);
	/* Workers reading from a server spend part of their time waiting
	 * for it; one more keeps the CPUs busy meanwhile (measured: zstd over
	 * loopback http 1.09 s with 2 workers, 0.86 s with 3). */
	if (job->opts.threads <= 0 &&
	    qf_name_is_url(qf_image_layer(job->img, 0)->name))
		n++;
	job->nworkers = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
	job->workers_left = job->nworkers;
	job->writers_left = job->nt;
	job->hashing = job->opts.verify || job->log_path;
	job->in_order = qf_image_is_stream(job->img);
	job->maxbufs = 2 * job->nworkers + 4;
	if (job->maxbufs > MAX_BUFS)
		job->maxbufs = MAX_BUFS;
	/* Read in order, a stream has one chunk being read at a time; a few
	 * more buffers keep hashing and writing busy. */
	if (job->in_order && job->maxbufs > 4)
		job->maxbufs = 4;
	job->all_bufs = qf_xcalloc(job->maxbufs, sizeof(*job->all_bufs));
	/* Zero ops hold no buffer, but they still queue up: bound them too. */
	job->max_inflight = 4 * job->maxbufs + job->nworkers;

	pthread_mutex_lock(&job->pmu);
	job->t_start = qf_now();
	job->wall_start = (int64_t)time(NULL);
	job->started = true;
	for (i = 0; i < job->nt; i++)
		job->t[i]->state = verify_only ? QF_TARGET_VERIFYING
					       : QF_TARGET_WRITING;
	update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);

	if ((ret = start_threads(job, e)) < 0) {
		pthread_mutex_lock(&job->pmu);
		job->started = false;
		pthread_mutex_unlock(&job->pmu);
		job->joined = true;
		discard_targets(job);
		return ret;
	}
	job->dead = false;
	return 0;
}

void qf_job_cancel(struct qf_job *job)
{
	atomic_store(&job->cancelled, true);
	atomic_store(&job->stop, true);
	pool_kick(job);
	pthread_mutex_lock(&job->pmu);
	wake_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

int qf_job_wakeup_fd(const struct qf_job *job)
{
	return job->efd;
}

void qf_job_ack_wakeup(struct qf_job *job)
{
	uint64_t v;

	if (read(job->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending. */
	}
}

int qf_job_progress(struct qf_job *job, struct qf_progress *p)
{
	double now = qf_now();
	int i, n;

	memset(p, 0, sizeof(*p));
	p->bytes_read = atomic_load(&job->bytes_read);
	p->bytes_decompressed = atomic_load(&job->bytes_decomp);
	p->bytes_written = atomic_load(&job->bytes_written);
	p->bytes_zeroed = atomic_load(&job->bytes_zeroed);
	n = atomic_load(&job->nsrcs);
	for (i = 0; i < n; i++) {
		struct qf_source *s = atomic_load(&job->srcs[i]);
		if (s && s->remote) {
			p->net_bytes += atomic_load(&s->bytes_read);
			p->net_retries += atomic_load(&s->retries);
		}
	}
	p->targets = qf_xcalloc(job->nt ? job->nt : 1, sizeof(*p->targets));
	p->ntargets = job->nt;

	pthread_mutex_lock(&job->pmu);
	p->phase = job->phase;
	if (job->started)
		p->elapsed = (job->finished ? job->t_end : now) - job->t_start;
	p->total = job_total_locked(job);
	p->done = job_done_locked(job);
	if (job->finished) {
		p->rate = p->elapsed > 0 ? (double)p->total / p->elapsed : 0;
		p->eta = 0;
	} else if (job->started) {
		qf_rate_sample(&job->rate, now, p->done);
		p->rate = qf_rate_get(&job->rate, now, p->done);
		p->eta = qf_eta(p->done, p->total, p->rate);
		qf_rate_sample(&job->net_rate, now, p->net_bytes);
		p->net_rate = qf_rate_get(&job->net_rate, now, p->net_bytes);
	} else {
		p->eta = -1;
	}
	for (i = 0; i < job->nt; i++) {
		const struct target *t = job->t[i];
		struct qf_target_progress *tp = &p->targets[i];
		tp->path = t->path;
		tp->partition = t->partition;
		tp->state = t->state;
		tp->done = t->done;
		tp->total = t->total;
		tp->err = t->err;
		memcpy(tp->message, t->message, sizeof(tp->message));
		tp->mismatch_off = t->mismatch_off;
		tp->table_written = t->table_written;
		memcpy(tp->model, t->dev.model, sizeof(tp->model));
		memcpy(tp->serial, t->dev.serial, sizeof(tp->serial));
	}
	pthread_mutex_unlock(&job->pmu);
	return 0;
}

void qf_progress_free(struct qf_progress *p)
{
	if (!p)
		return;
	free(p->targets);
	p->targets = NULL;
	p->ntargets = 0;
}

static void join_all(struct qf_job *job)
{
	int i;

	if (job->joined)
		return;
	for (i = 0; i < job->nt; i++)
		if (job->t[i]->thread_started)
			pthread_join(job->t[i]->thread, NULL);
	for (i = 0; i < job->workers_started; i++)
		pthread_join(job->workers[i], NULL);
	job->joined = true;
}

int qf_job_wait(struct qf_job *job, struct qf_progress *p)
{
	int i, ok = 0;

	if (!job->started) {
		if (p)
			qf_job_progress(job, p);
		return -EINVAL;
	}
	pthread_mutex_lock(&job->pmu);
	while (!job->finished)
		pthread_cond_wait(&job->pcv, &job->pmu);
	for (i = 0; i < job->nt; i++)
		ok += job->t[i]->state == QF_TARGET_OK;
	pthread_mutex_unlock(&job->pmu);
	join_all(job);
	if (p)
		qf_job_progress(job, p);
	if (ok == job->nt)
		return 0;
	return atomic_load(&job->cancelled) ? -ECANCELED : -EIO;
}

void qf_job_free(struct qf_job *job)
{
	int i;

	if (!job)
		return;
	if (job->started && !job->joined) {
		bool finished;
		pthread_mutex_lock(&job->pmu);
		finished = job->finished;
		pthread_mutex_unlock(&job->pmu);
		/* Freeing a running job stops it first. */
		if (!finished)
			qf_job_cancel(job);
		qf_job_wait(job, NULL);
	}
	discard_targets(job);
	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		free(t->cmpbuf);
		free(t->path);
		pthread_mutex_destroy(&t->qmu);
		pthread_cond_destroy(&t->qcv);
		free(t);
	}
	for (i = 0; i < job->nst; i++) {
		struct stream *st = job->st[i];
		free(st->h);
		free(st->head_buf);
		free(st->tail_buf);
		free(st->t);
		free(st);
	}
	for (i = 0; i < job->nbufs; i++) {
		free(job->all_bufs[i]->data);
		free(job->all_bufs[i]);
	}
	free(job->all_bufs);
	free(job->workers);
	free(job->t);
	free(job->st);
	qf_ptable_free(job->pt);
	free(job->log_path);
	close(job->efd);
	pthread_mutex_destroy(&job->plan_mu);
	pthread_mutex_destroy(&job->hash_mu);
	pthread_mutex_destroy(&job->pool_mu);
	pthread_cond_destroy(&job->pool_cv);
	pthread_mutex_destroy(&job->pmu);
	pthread_cond_destroy(&job->pcv);
	free(job);
}
