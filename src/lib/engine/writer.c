/* writer.c - one thread per target: its head and tail wiped, its queue
 * of ops written or zeroed in order, the sync, the read-back (what the
 * drive did not keep written again), the held-back ranges written last
 * and checked, the partition re-read and the filesystem grown. */
#include "engine/job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Granule of zero detection when writing to a target that reads as
 * zeros already. */
#define SPARSE_GRAIN ((uint64_t)64 << 10)

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
	target_add_done(t, op->len, written, (b - a) - written);
	return 0;
}

/* Write one op; held-back ranges were zeroed in its buffer already. */
static int write_op(struct target *t, const struct op *op, struct qf_err *e)
{
	struct qf_job *job = t->job;
	uint64_t a = op->off, b = op->off + op->len, s;
	int ret;

	if (op->buf && t->sink.fresh)
		return write_sparse(t, op, a, b, e);
	if (op->buf) {
		ret = qf_sink_write(&t->sink, op->buf->data, op->len, a, e);
		if (ret < 0)
			return ret;
		target_add_done(t, op->len, op->len, 0);
		return 0;
	}
	for (s = a; s < b; ) {
		uint64_t n = b - s < ZERO_SLICE ? b - s : ZERO_SLICE;
		if (atomic_load(&job->stop))
			return 0;
		if ((ret = qf_sink_zero(&t->sink, s, n, e)) < 0)
			return ret;
		target_add_done(t, n, 0, n);
		s += n;
	}
	return 0;
}

static void table_time(struct target *t, double t0)
{
	pthread_mutex_lock(&t->job->pmu);
	t->t_table = qf_now() - t0;
	pthread_mutex_unlock(&t->job->pmu);
}

static void mark_table_written(struct target *t)
{
	pthread_mutex_lock(&t->job->pmu);
	t->table_written = true;
	t->adjusted |= t->lay.adjust;
	pthread_mutex_unlock(&t->job->pmu);
}

/* Ask the kernel to see the new table: a note when it did not. */
static void reread(struct target *t, struct qf_err *note)
{
	int err;

	if (!t->sink.blockdev || t->dev.kind != QF_DEV_DISK)
		return;
	err = qf_sink_reread_table(&t->sink);
	/* EINVAL: a device that cannot hold partitions (a loop device
	 * without partition scanning) - nothing to say. */
	if (err && err != EINVAL)
		qf_err_append(note, "; ",
			      N_("the kernel did not re-read the partition table: %s"),
			      strerror(err));
}

static void finish_write(struct target *t)
{
	struct qf_job *job = t->job;
	struct qf_err e = { 0 };
	struct qf_err note = { 0 };
	struct qf_readback_result bad;
	double t0;
	int ret;

	if (target_stopped_early(t))
		return;
	target_set_state(t, QF_TARGET_SYNCING);
	if ((ret = qf_sink_sync(&t->sink, &e)) < 0)
		goto fail;
	/* The data is checked while the target still looks blank: a flash
	 * that fails its check never gets a partition table. */
	if (job->opts.verify && verify_written(t))
		return;
	/* An image written to while it was read gave bytes of neither
	 * version: such a target gets no table. */
	if ((ret = qf_image_check_unchanged(job->img, &e)) < 0)
		goto fail;
	/* Nor does an image that is not the one its publisher describes. */
	if ((ret = digest_check(job, &e)) < 0)
		goto fail;
	t0 = qf_now();
	ret = table_write(t, job->opts.verify, &bad, &e);
	table_time(t, t0);
	if (ret != 0) {
		/* Take the table away again: better blank than a layout
		 * over bytes that were not checked. */
		struct qf_err e2 = { 0 };
		table_unwrite(t, &e2);
		if (ret < 0)
			goto fail;
		target_readback_failed(t, &bad);
		return;
	}
	mark_table_written(t);
	reread(t, &note);
	if (t->plan.adjust & QF_ADJUST_FS_GROWN) {
		target_set_state(t, QF_TARGET_GROWING);
		if ((ret = grow_filesystem(t, &note, &e)) < 0)
			goto fail;
	}
	target_set_final(t, QF_TARGET_OK, &note);
	return;
fail:
	target_fail(t, &e);
}

void *writer_main(void *arg)
{
	struct target *t = arg;
	struct qf_job *job = t->job;
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	struct op *op;
	bool last;

	if (!job_wait_gate(job))
		return NULL;
	if (!verify_only) {
		struct qf_err e = { 0 };
		double t0 = qf_now();
		int ret = table_wipe(t, &e);

		pthread_mutex_lock(&job->pmu);
		t->t_wipe = qf_now() - t0;
		pthread_mutex_unlock(&job->pmu);
		if (ret < 0)
			target_fail(t, &e);
		job_wiped(job);
	}
	while ((op = queue_pop(t))) {
		if (!atomic_load(&t->failed) && !atomic_load(&job->stop)) {
			struct qf_err e = { 0 };
			int ret = verify_only ? compare_op(t, op, &e)
					      : write_op(t, op, &e);
			if (ret < 0)
				target_fail(t, &e);
		}
		op_release(job, op);
	}
	if (verify_only)
		finish_compare(t);
	else
		finish_write(t);
	heal_end(t);
	if (t->opened)
		qf_sink_close(&t->sink);
	if (t->rd_open)
		qf_reader_close(&t->rd);
	t->opened = t->rd_open = false;
	pthread_mutex_lock(&job->pmu);
	last = --job->writers_left == 0;
	pthread_mutex_unlock(&job->pmu);
	if (last)
		job_finalize(job);
	return NULL;
}
