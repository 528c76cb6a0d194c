/* compare.c - verification inside a job: a written target read back and
 * checked against the chunk hashes (what it did not keep written again,
 * heal.c), and verify-only jobs that compare an existing target with the
 * image op by op. */
#include "engine/job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Does target @t have fix-ups in [off, off + len)? */
static bool patched(const struct target *t, uint64_t off, uint64_t len)
{
	for (int i = 0; i < t->lay.npatch; i++)
		if (t->lay.patch[i].off < off + len &&
		    off < t->lay.patch[i].off + t->lay.patch[i].len)
			return true;
	return false;
}

int compare_op(struct target *t, const struct op *op, struct qf_err *e)
{
	uint64_t s = op->off, end = op->off + op->len, mm;
	int ret;

	while (s < end) {
		uint64_t n = op->buf ? end - s
			     : (end - s < ZERO_SLICE ? end - s : ZERO_SLICE);
		const unsigned char *want = op->buf ? op->buf->data + (s - op->off)
						    : NULL;

		/* Only the first difference is reported: past a known one
		 * there is nothing left to find. */
		if (atomic_load(&t->job->stop) ||
		    (t->mismatch_found && s >= t->mismatch))
			break;
		/* Where the target got fix-ups, they are what it must hold. */
		if (patched(t, s, n)) {
			if (n > CMP_LEN)
				n = CMP_LEN;
			if (!t->expbuf)
				t->expbuf = buf_memalign(CMP_LEN);
			if (want)
				memcpy(t->expbuf, want, n);
			else
				memset(t->expbuf, 0, n);
			table_patch(t, s, n, t->expbuf);
			want = t->expbuf;
		}
		ret = qf_reader_compare(&t->rd, want, n, s, t->cmpbuf, CMP_LEN,
					&mm, e);
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

/* Read the target back after the flash, healing what it did not keep
 * (heal.c).  Returns true if the target's final state was set here. */
bool verify_written(struct target *t)
{
	struct qf_job *job = t->job;
	struct feed *fe = t->fe;
	struct qf_readback v = { 0 };
	struct qf_readback_result res;
	struct qf_err e = { 0 };
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
	v.expected = heal_expected;
	v.rewrite = heal_rewrite;
	v.healed = heal_healed;
	v.ctx = t;
	ret = qf_readback_verify(&v, &res, &e);
	pool_put(job, b, false);
	if (ret == -ECANCELED) {
		struct qf_err m = { 0 };
		qf_err_set(&m, ECANCELED, N_("cancelled during verification"));
		target_set_final(t, QF_TARGET_CANCELLED, &m);
	} else if (ret < 0) {
		target_fail(t, &e);
	} else if (ret == 1) {
		target_readback_failed(t, &res);
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
	struct qf_err e = { 0 };
	uint64_t mm;
	int ret;

	if (target_stopped_early(t))
		return;
	/* Fix-ups past the image (a backup GPT moved to the end). */
	if (!t->mismatch_found && t->lay.npatch) {
		ret = table_verify(t, true, &mm, &e);
		if (ret < 0) {
			target_fail(t, &e);
			return;
		}
		if (ret == 1) {
			t->mismatch_found = true;
			t->mismatch = mm;
		}
	}
	if (t->mismatch_found) {
		struct qf_err m = { 0 };
		qf_err_set(&m, EIO, N_("the target differs from the image at byte %llu"),
			   (unsigned long long)t->mismatch);
		pthread_mutex_lock(&t->job->pmu);
		t->mismatch_off = t->mismatch;
		pthread_mutex_unlock(&t->job->pmu);
		target_set_final(t, QF_TARGET_MISMATCH, &m);
		return;
	}
	/* The stream's end, past the last bytes read, is the image's too. */
	pthread_mutex_lock(&t->job->digest_mu);
	ret = digest_stream_end(t->job, &e);
	pthread_mutex_unlock(&t->job->digest_mu);
	if (ret < 0) {
		target_fail(t, &e);
		return;
	}
	pthread_mutex_lock(&t->job->pmu);
	t->verified = true;
	pthread_mutex_unlock(&t->job->pmu);
	target_set_final(t, QF_TARGET_OK, NULL);
}
