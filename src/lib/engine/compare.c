/* compare.c - verification inside a job: a written target read back and
 * checked against the chunk hashes, and verify-only jobs that compare an
 * existing target with the image op by op. */
#include "engine/job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Verify-only: compare one op's range of the target with the image. */
int compare_op(struct target *t, const struct op *op,
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
		target_add_done(t, n, 0, 0);
		s += n;
	}
	if (s < end)
		target_add_done(t, end - s, 0, 0);
	return 0;
}

static void readback_progress(void *ctx, uint64_t done)
{
	target_set_done(ctx, done);
}

static int readback_expected(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct target *t = ctx;
	struct qf_err e = { 0 };

	return qf_image_read(t->job->img, buf, len, t->fe->vbase + off, &e);
}

/* Read the target back after the flash.  Returns true if the target's
 * final state was set here. */
bool verify_written(struct target *t)
{
	struct qf_job *job = t->job;
	struct feed *fe = t->fe;
	struct qf_readback v = { 0 };
	struct qf_err e = { 0 };
	char msg[QF_ERR_MSG_MAX];
	uint64_t mm = 0;
	struct buf *b;
	int ret;

	target_set_state(t, QF_TARGET_VERIFYING);
	b = pool_get_buf(job);
	v.path = t->path;
	v.len = fe->len;
	v.h = fe->h;
	v.nh = fe->nh;
	v.buf = b->data;
	v.stop = &job->stop;
	v.progress = readback_progress;
	v.expected = qf_image_is_stream(job->img) ? NULL : readback_expected;
	v.ctx = t;
	ret = qf_readback_verify(&v, &mm, &e);
	pool_put(job, b, false);
	if (ret == -ECANCELED) {
		target_set_final(t, QF_TARGET_CANCELLED, ret,
			  _("cancelled during verification"));
	} else if (ret < 0) {
		target_fail(t, ret, e.msg);
	} else if (ret == 1) {
		snprintf(msg, sizeof(msg),
			 _("verification failed: the target differs from the image at byte %llu"),
			 (unsigned long long)mm);
		pthread_mutex_lock(&job->pmu);
		t->mismatch_off = mm;
		pthread_mutex_unlock(&job->pmu);
		target_set_final(t, QF_TARGET_MISMATCH, -EIO, msg);
	} else {
		pthread_mutex_lock(&job->pmu);
		t->verified = true;
		pthread_mutex_unlock(&job->pmu);
		return false;
	}
	return true;
}

void finish_compare(struct target *t)
{
	char msg[QF_ERR_MSG_MAX];

	if (target_stopped_early(t))
		return;
	if (t->mismatch_found) {
		snprintf(msg, sizeof(msg),
			 _("the target differs from the image at byte %llu"),
			 (unsigned long long)t->mismatch);
		pthread_mutex_lock(&t->job->pmu);
		t->mismatch_off = t->mismatch;
		pthread_mutex_unlock(&t->job->pmu);
		target_set_final(t, QF_TARGET_MISMATCH, -EIO, msg);
		return;
	}
	pthread_mutex_lock(&t->job->pmu);
	t->verified = true;
	pthread_mutex_unlock(&t->job->pmu);
	target_set_final(t, QF_TARGET_OK, 0, NULL);
}
