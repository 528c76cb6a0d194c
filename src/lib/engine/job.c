/* job.c - a flash job's lifecycle: targets added, checks, buffers and
 * threads set up at start, cancel, wait, the last writer closing the job,
 * and freeing it. */
#include "engine/job.h"
#include "image/image.h"
#include "image/ptable.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
/* Pool size cap: 10 chunk buffers keep the whole job well under 64 MiB. */
#define MAX_BUFS 10

struct qf_job *qf_job_new(struct qf_image *img, const struct qf_job_opts *o)
{
	struct qf_job *job;

	if (!img || !o)
		return NULL;
	/* An image kept open after a cancelled flash (the TUI's) reads
	 * again; until then its threads stay stopped, and closing it is
	 * quick. */
	qf_image_interrupt(img, false);
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
	pthread_mutex_init(&job->digest_mu, NULL);
	pthread_cond_init(&job->digest_cv, NULL);
	job->phase = QF_PHASE_PREPARING;
	qf_rate_init(&job->rate, 3.0);
	qf_rate_init(&job->net_rate, 3.0);
	return job;
}

static struct feed *feed_for(struct qf_job *job, int partition,
			     uint64_t vbase, uint64_t len)
{
	struct feed *fe;
	int i;

	for (i = 0; i < job->nfe; i++)
		if (job->fe[i]->partition == partition)
			return job->fe[i];
	fe = qf_xcalloc(1, sizeof(*fe));
	fe->partition = partition;
	fe->vbase = vbase;
	fe->len = len;
	job->fe = realloc(job->fe, (job->nfe + 1) * sizeof(*job->fe));
	if (!job->fe)
		abort();
	job->fe[job->nfe++] = fe;
	return fe;
}

int qf_job_add_target(struct qf_job *job, const char *path, int partition,
		      struct qf_err *e)
{
	uint64_t size = qf_image_size(job->img);
	uint64_t vbase = 0, len = size;
	struct target *t;
	struct feed *fe;
	int i, ret;

	if (job->started || job->dead)
		return qf_err_set(e, EBUSY, N_("targets cannot be added to a job that was started"));
	if (!path || !*path)
		return qf_err_set(e, EINVAL, N_("empty target path"));
	if (job->opts.mode == QF_MODE_WHOLE_DISK && partition != 0)
		return qf_err_set(e, EINVAL,
				  N_("%s: a partition number is only valid when writing partitions"),
				  path);
	if (job->opts.mode == QF_MODE_PARTITIONS && partition <= 0)
		return qf_err_set(e, EINVAL, N_("%s: no partition number given"),
				  path);
	if (partition < 0)
		return qf_err_set(e, EINVAL, N_("%s: bad partition number %d"), path,
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
			return qf_err_set(e, ENOENT, N_("%s: the image has no partition %d"),
					  qf_image_name(job->img), partition);
		if (!range_inside(part->start, part->size, size))
			return qf_err_set(e, EINVAL,
					  N_("%s: partition %d lies outside the virtual disk"),
					  qf_image_name(job->img), partition);
		vbase = part->start;
		len = part->size;
	}
	for (i = 0; i < job->nt; i++)
		if (strcmp(job->t[i]->path, path) == 0)
			return qf_err_set(e, EINVAL,
					  N_("%s: given more than once as a target"), path);

	fe = feed_for(job, partition, vbase, len);
	t = qf_xcalloc(1, sizeof(*t));
	t->job = job;
	t->path = qf_xstrdup(path);
	t->partition = partition;
	t->fe = fe;
	t->total = fe->len;
	t->state = QF_TARGET_PENDING;
	t->sink.fd = -1;
	t->rd.fd = -1;
	pthread_mutex_init(&t->qmu, NULL);
	pthread_cond_init(&t->qcv, NULL);
	atomic_init(&t->failed, false);
	job->t = realloc(job->t, (job->nt + 1) * sizeof(*job->t));
	fe->t = realloc(fe->t, (fe->nt + 1) * sizeof(*fe->t));
	if (!job->t || !fe->t)
		abort();
	job->t[job->nt++] = t;
	fe->t[fe->nt++] = t;
	return 0;
}

static int cmp_feed(const void *a, const void *b)
{
	const struct feed *x = *(struct feed *const *)a;
	const struct feed *y = *(struct feed *const *)b;
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
	return qf_err_set(e, err, N_("cannot start threads: %m"));
}

int qf_job_prepare(struct qf_job *job, struct qf_err *e)
{
	int i, ret;

	if (job->prepared)
		return 0;
	if (job->started || job->dead)
		return qf_err_set(e, EINVAL, N_("the job was already started"));
	if (!job->nt)
		return qf_err_set(e, EINVAL, N_("no target given"));
	if (job->opts.mode != QF_MODE_PARTITIONS && !job->pt &&
	    (ret = qf_ptable_read_layout(job->img, &job->pt, e)) < 0) {
		/* No table the job can trust: the disk is copied as it is. */
		job->pt = NULL;
		if (e)
			memset(e, 0, sizeof(*e));
	}
	for (i = 0; i < job->nt; i++)
		if ((ret = target_check(job, job->t[i], e)) < 0)
			return ret;
	if ((ret = targets_check_duplicates(job, e)) < 0)
		return ret;
	for (i = 0; i < job->nt; i++)
		if ((ret = target_plan(job, job->t[i], e)) < 0)
			return ret;
	if (job->opts.mode != QF_MODE_VERIFY_ONLY)
		table_plan(job);
	job->prepared = true;
	return 0;
}

int qf_job_target_count(const struct qf_job *job)
{
	return job->nt;
}

const char *qf_job_target_path(const struct qf_job *job, int i)
{
	return i >= 0 && i < job->nt ? job->t[i]->path : NULL;
}

const struct qf_target_plan *qf_job_target_plan(const struct qf_job *job,
						int i)
{
	if (!job->prepared || i < 0 || i >= job->nt)
		return NULL;
	return &job->t[i]->plan;
}

int qf_job_start(struct qf_job *job, struct qf_err *e)
{
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	long n;
	int i, ret;

	if (job->started || job->dead)
		return qf_err_set(e, EINVAL, N_("the job was already started"));
	if (atomic_load(&job->cancelled))
		return qf_err_set(e, ECANCELED, N_("cancelled"));
	if ((ret = qf_job_prepare(job, e)) < 0)
		return ret;
	job->dead = true;        /* until it has really started */

	if ((ret = targets_open(job, e)) < 0) {
		targets_discard(job);
		return ret;
	}
	/* Every flash leaves a trace, or it does not happen. */
	job->wall_start = (int64_t)time(NULL);
	if (job->log_path && (ret = record_started(job, e)) < 0) {
		targets_discard(job);
		return ret;
	}
	/* Sequential sources are read front to back, partition by partition. */
	qsort(job->fe, job->nfe, sizeof(*job->fe), cmp_feed);

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
	job->wipes_left = verify_only ? 0 : job->nt;
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
	job->started = true;
	for (i = 0; i < job->nt; i++)
		job->t[i]->state = verify_only ? QF_TARGET_VERIFYING
					       : QF_TARGET_WRITING;
	job_update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);

	if ((ret = digest_start(job, e)) < 0 ||
	    (ret = start_threads(job, e)) < 0) {
		pthread_mutex_lock(&job->pmu);
		job->started = false;
		pthread_mutex_unlock(&job->pmu);
		job->joined = true;
		targets_discard(job);
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
	job_wake_locked(job, true);
	pthread_cond_broadcast(&job->pcv);   /* workers waiting for wipes */
	pthread_mutex_unlock(&job->pmu);
	/* Reads waiting for a server (retrying, or a stream's decoder
	 * behind one) give up now rather than after their retries, and so
	 * do the image's own threads (prefetch, decoder) until the next
	 * job starts. */
	qf_image_interrupt(job->img, true);
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
	digest_stop(job);
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
		return job->log_failed ? -EIO : 0;
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
	targets_discard(job);
	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		free(t->cmpbuf);
		free(t->expbuf);
		free(t->fin);
		qf_layout_free(&t->lay);
		free(t->path);
		pthread_mutex_destroy(&t->qmu);
		pthread_cond_destroy(&t->qcv);
		free(t);
	}
	for (i = 0; i < job->nfe; i++) {
		struct feed *fe = job->fe[i];
		free(fe->h);
		for (int k = 0; k < fe->ndr; k++)
			free(fe->dr[k].img);
		free(fe->dr);
		free(fe->t);
		free(fe);
	}
	for (i = 0; i < job->nbufs; i++) {
		free(job->all_bufs[i]->data);
		free(job->all_bufs[i]);
	}
	free(job->all_bufs);
	free(job->workers);
	free(job->t);
	free(job->fe);
	qf_ptable_free(job->pt);
	free(job->log_path);
	close(job->efd);
	pthread_mutex_destroy(&job->plan_mu);
	pthread_mutex_destroy(&job->hash_mu);
	pthread_mutex_destroy(&job->pool_mu);
	pthread_cond_destroy(&job->pool_cv);
	pthread_mutex_destroy(&job->digest_mu);
	pthread_cond_destroy(&job->digest_cv);
	pthread_mutex_destroy(&job->pmu);
	pthread_cond_destroy(&job->pcv);
	free(job);
}
