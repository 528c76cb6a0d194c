/* status.c - the job's state: target states and the job phase derived
 * from them, the start gate the threads wait at, targets settled when the
 * job stops early, the job closed when the last writer is done, and what
 * front ends see of it (bytes done, rate, ETA, the progress snapshot and
 * the wake-up fd that tells them to take one). */
#include "engine/job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAKE_GAP 0.05

static const char *const phase_names[] = {
	[QF_PHASE_PREPARING] = N_("preparing"),
	[QF_PHASE_WRITING] = N_("writing"),
	[QF_PHASE_SYNCING] = N_("syncing"),
	[QF_PHASE_VERIFYING] = N_("verifying"),
	[QF_PHASE_GROWING] = N_("growing"),
	[QF_PHASE_DONE] = N_("done"),
	[QF_PHASE_FAILED] = N_("failed"),
	[QF_PHASE_CANCELLED] = N_("cancelled"),
};

static const char *const state_names[] = {
	[QF_TARGET_PENDING] = N_("pending"),
	[QF_TARGET_WRITING] = N_("writing"),
	[QF_TARGET_SYNCING] = N_("syncing"),
	[QF_TARGET_VERIFYING] = N_("verifying"),
	[QF_TARGET_GROWING] = N_("growing"),
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
	case QF_TARGET_GROWING: return QF_PHASE_GROWING;
	default: return QF_PHASE_DONE;
	}
}

/* Bytes done in the current phase: the slowest target of a whole-disk job,
 * the sum over targets of a partition job.  Targets that failed or were
 * cancelled do not hold the others back; once none is left (a cancel),
 * the slowest of them says how far the job got.  Under pmu. */
static bool per_partition(const struct qf_job *job)
{
	return job->opts.mode == QF_MODE_PARTITIONS ||
	       (job->nfe && job->fe[0]->partition > 0);
}

static uint64_t job_done_locked(const struct qf_job *job)
{
	bool sum = per_partition(job);
	uint64_t done = sum ? 0 : UINT64_MAX, stopped = UINT64_MAX;
	/* Once the job has ended every target is compared as finished. */
	int phase = job->phase > QF_PHASE_DONE ? QF_PHASE_DONE : (int)job->phase;
	int i;

	for (i = 0; i < job->nt; i++) {
		const struct target *t = job->t[i];
		int rank = state_rank(t->state);
		uint64_t c;

		if (!sum && (t->state == QF_TARGET_FAILED ||
			     t->state == QF_TARGET_CANCELLED)) {
			if (t->done < stopped)
				stopped = t->done;
			continue;
		}
		if (rank == phase)
			c = t->done;
		else
			c = rank < phase ? 0 : t->total;
		if (sum)
			done += c;
		else if (c < done)
			done = c;
	}
	if (done == UINT64_MAX)
		done = stopped;
	return done == UINT64_MAX ? 0 : done;
}

static uint64_t job_total_locked(const struct qf_job *job)
{
	uint64_t total = 0;
	int i;

	if (!per_partition(job))
		return job->nfe ? job->fe[0]->len : 0;
	for (i = 0; i < job->nt; i++)
		total += job->t[i]->total;
	return total;
}

void job_wake_locked(struct qf_job *job, bool force)
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
void job_update_locked(struct qf_job *job, bool force)
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
	job_wake_locked(job, force);
}

void target_set_state(struct target *t, enum qf_target_state s)
{
	struct qf_job *job = t->job;

	pthread_mutex_lock(&job->pmu);
	t->state = s;
	if (s == QF_TARGET_VERIFYING)
		t->done = 0;
	if (state_final(s))
		t->t_end = qf_now();
	job_update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

void target_add_done(struct target *t, uint64_t done, uint64_t written,
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
	job_update_locked(job, false);
	pthread_mutex_unlock(&job->pmu);
}

void target_set_done(struct target *t, uint64_t done)
{
	pthread_mutex_lock(&t->job->pmu);
	t->done = done;
	job_update_locked(t->job, false);
	pthread_mutex_unlock(&t->job->pmu);
}

/* The target's messages from @m, without a leading "PATH: ": every
 * report names the target already. */
static void take_message(struct target *t, const struct qf_err *m)
{
	size_t pl = strlen(t->path);
	const char *a = m ? m->msg : "", *b = m ? m->msg_en : "";

	if (strncmp(a, t->path, pl) == 0 && a[pl] == ':' && a[pl + 1] == ' ')
		a += pl + 2;
	if (strncmp(b, t->path, pl) == 0 && b[pl] == ':' && b[pl + 1] == ' ')
		b += pl + 2;
	snprintf(t->message, sizeof(t->message), "%s", a);
	snprintf(t->message_en, sizeof(t->message_en), "%s", b);
}

void target_set_final(struct target *t, enum qf_target_state s,
		      const struct qf_err *m)
{
	struct qf_job *job = t->job;

	pthread_mutex_lock(&job->pmu);
	t->state = s;
	t->err = m ? m->code : 0;
	take_message(t, m);
	t->t_end = qf_now();
	job_update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
}

static bool all_failed_locked(const struct qf_job *job)
{
	int i;

	for (i = 0; i < job->nt; i++)
		if (!atomic_load(&job->t[i]->failed))
			return false;
	return true;
}

/* A target failed: drop it, keep the others going.  When none is left
 * there is nothing to produce for. */
void target_fail(struct target *t, const struct qf_err *m)
{
	struct qf_job *job = t->job;
	bool none_left;

	pthread_mutex_lock(&job->pmu);
	atomic_store(&t->failed, true);
	t->state = QF_TARGET_FAILED;
	t->err = m->code < 0 ? m->code : -EIO;
	take_message(t, m);
	t->t_end = qf_now();
	none_left = all_failed_locked(job);
	job_update_locked(job, true);
	pthread_mutex_unlock(&job->pmu);
	if (none_left) {
		atomic_store(&job->stop, true);
		pool_kick(job);
	}
}

void target_healed(struct target *t, uint64_t off)
{
	pthread_mutex_lock(&t->job->pmu);
	if (t->nhealed < HEALED_LOGGED)
		t->healed_at[t->nhealed] = off;
	t->nhealed++;
	job_update_locked(t->job, true);
	pthread_mutex_unlock(&t->job->pmu);
}

void target_readback_failed(struct target *t,
			    const struct qf_readback_result *r)
{
	unsigned long long off = r->mismatch;
	struct qf_err m = { 0 };
	char size[32];

	qf_size_str(r->mismatch, size, sizeof(size));
	switch (r->why) {
	case QF_BAD_DIFFERS:
		qf_err_set(&m, EIO,
			   N_("verification failed: the target differs from the image at byte %llu"),
			   off);
		if (r->cannot.code) {
			qf_err_append(&m, "; ", N_("it could not be written again:"));
			qf_err_join(&m, " ", &r->cannot);
		}
		break;
	case QF_BAD_STAYS:
		qf_err_set(&m, EIO,
			   N_("bad media: the bytes at offset %llu (%s) read back wrong after %d rewrites"),
			   off, size, QF_HEAL_TRIES);
		break;
	case QF_BAD_RELAPSED:
		qf_err_set(&m, EIO,
			   N_("bad media: the bytes at offset %llu (%s) read back right once rewritten, then wrong again after later writes"),
			   off, size);
		break;
	case QF_BAD_TOO_MANY:
		qf_err_set(&m, EIO,
			   N_("bad media: more than %d ranges read back wrong and had to be written again; the next one at offset %llu (%s)"),
			   QF_HEAL_MAX, off, size);
		break;
	}
	pthread_mutex_lock(&t->job->pmu);
	t->mismatch_off = r->mismatch;
	t->bad_media = r->why != QF_BAD_DIFFERS;
	pthread_mutex_unlock(&t->job->pmu);
	target_set_final(t, QF_TARGET_MISMATCH, &m);
}

/* The image cannot be read: every target is incomplete. */
void job_fail(struct qf_job *job, const struct qf_err *e)
{
	pthread_mutex_lock(&job->pmu);
	if (!job->fatal.code)
		job->fatal = *e;
	pthread_mutex_unlock(&job->pmu);
	atomic_store(&job->stop, true);
	pool_kick(job);
}

/* Settle a target whose job stopped (cancel, image error) or that failed
 * already; returns false when it is to be finished normally. */
bool target_stopped_early(struct target *t)
{
	struct qf_job *job = t->job;
	struct qf_err m = { 0 };

	if (atomic_load(&t->failed))
		return true;
	if (atomic_load(&job->cancelled)) {
		qf_err_set(&m, ECANCELED,
			   job->opts.mode == QF_MODE_VERIFY_ONLY
			   ? N_("cancelled") : N_("cancelled: the target is incomplete"));
		target_set_final(t, QF_TARGET_CANCELLED, &m);
		return true;
	}
	pthread_mutex_lock(&job->pmu);
	m = job->fatal;
	pthread_mutex_unlock(&job->pmu);
	if (!m.code && t->fe->complete)
		return false;
	if (!m.code)
		qf_err_set(&m, EIO, N_("the job stopped early"));
	if (job->opts.mode != QF_MODE_VERIFY_ONLY)
		qf_err_append(&m, " ", N_("(the target is incomplete)"));
	target_fail(t, &m);
	return true;
}

/* Threads start before the job is checked and wait here: true once it
 * may run, false when starting failed. */
bool job_wait_gate(struct qf_job *job)
{
	int gate;

	pthread_mutex_lock(&job->pmu);
	while (job->gate == 0)
		pthread_cond_wait(&job->pcv, &job->pmu);
	gate = job->gate;
	pthread_mutex_unlock(&job->pmu);
	return gate > 0;
}

void job_wait_wiped(struct qf_job *job)
{
	pthread_mutex_lock(&job->pmu);
	while (job->wipes_left > 0 && !atomic_load(&job->stop))
		pthread_cond_wait(&job->pcv, &job->pmu);
	pthread_mutex_unlock(&job->pmu);
}

void job_wiped(struct qf_job *job)
{
	pthread_mutex_lock(&job->pmu);
	if (--job->wipes_left == 0)
		pthread_cond_broadcast(&job->pcv);
	pthread_mutex_unlock(&job->pmu);
}

/* A log error after what the target's message says already. */
static void append_message(struct target *t, const struct qf_err *m)
{
	struct qf_err both = { 0 };

	snprintf(both.msg, sizeof(both.msg), "%s", t->message);
	snprintf(both.msg_en, sizeof(both.msg_en), "%s", t->message_en);
	qf_err_join(&both, "; ", m);
	memcpy(t->message, both.msg, sizeof(t->message));
	memcpy(t->message_en, both.msg_en, sizeof(t->message_en));
}

void job_finalize(struct qf_job *job)
{
	struct qf_err *errs = qf_xcalloc(job->nt ? job->nt : 1, sizeof(*errs));
	int i, ok = 0;

	if (job->log_path)
		record_results(job, errs);
	pthread_mutex_lock(&job->pmu);
	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];

		ok += t->state == QF_TARGET_OK;
		if (errs[i].code)
			job->log_failed = true;
		if (errs[i].code)
			append_message(t, &errs[i]);
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
	job_wake_locked(job, true);
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
		uint32_t retrying;

		if (!s || !s->remote)
			continue;
		p->net_bytes += atomic_load(&s->bytes_read) - job->src_base_bytes[i];
		p->net_retries += (uint32_t)atomic_load(&s->retries) -
				  job->src_base_retries[i];
		retrying = (uint32_t)atomic_load(&s->retrying);
		if (retrying > p->net_retrying)
			p->net_retrying = retrying;
	}
	p->targets = qf_xcalloc(job->nt ? job->nt : 1, sizeof(*p->targets));
	p->ntargets = job->nt;

	pthread_mutex_lock(&job->digest_mu);
	if (job->digest_state > 0)
		memcpy(p->source_sha256, job->src_hex, sizeof(p->source_sha256));
	p->checksum_ok = job->checksum_ok;
	p->disk_checksum_ok = job->disk_ok;
	pthread_mutex_unlock(&job->digest_mu);
	pthread_mutex_lock(&job->pmu);
	p->phase = job->phase;
	if (job->started)
		p->elapsed = (job->finished ? job->t_end : now) - job->t_start;
	p->total = job_total_locked(job);
	p->done = job_done_locked(job);
	if (job->finished) {
		p->rate = p->elapsed > 0 ? (double)p->done / p->elapsed : 0;
		p->eta = 0;
		/* A source's own prefetch may still wait, for nobody now. */
		p->net_retrying = 0;
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
		tp->healed = t->nhealed;
		tp->bad_media = t->bad_media;
		tp->adjusted = t->adjusted;
		tp->wipe_seconds = t->t_wipe;
		tp->table_seconds = t->t_table;
		memcpy(tp->model, t->dev.model, sizeof(tp->model));
		memcpy(tp->serial, t->dev.serial, sizeof(tp->serial));
		tp->written = t->written;
		tp->zeroed = t->zeroed;
		/* The checksum is final only once production has ended. */
		if ((t->state == QF_TARGET_OK || t->state == QF_TARGET_MISMATCH) &&
		    t->fe->complete && job->hashing) {
			tp->have_checksum = true;
			tp->checksum = t->checksum;
		}
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
