/* writer.c - one thread per target: its queue of ops written or zeroed
 * in order, the partition-table region written last, the sync, the
 * partition re-read and the read-back. */
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

/* Write one op, leaving out the partition-table region. */
static int write_op(struct target *t, const struct op *op, struct qf_err *e)
{
	struct qf_job *job = t->job;
	const struct feed *fe = op->fe;
	uint64_t a = op->off, b = op->off + op->len, s;
	int ret;

	if (a < fe->head_end)
		a = fe->head_end < b ? fe->head_end : b;
	if (b > fe->tail_start)
		b = fe->tail_start > a ? fe->tail_start : a;
	if (a < b && op->buf && t->sink.fresh)
		return write_sparse(t, op, a, b, e);
	if (a < b && op->buf) {
		ret = qf_sink_write(&t->sink, op->buf->data + (a - op->off), b - a,
				    a, e);
		if (ret < 0)
			return ret;
		target_add_done(t, op->len, b - a, 0);
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
	target_add_done(t, op->len - (b - a), 0, 0);
	return 0;
}

static int write_table_region(struct target *t, struct qf_err *e)
{
	struct feed *fe = t->fe;
	int ret;

	if (fe->head_end &&
	    (ret = qf_sink_write(&t->sink, fe->head_buf, fe->head_end, 0, e)) < 0)
		return ret;
	if (fe->tail_start < fe->len &&
	    (ret = qf_sink_write(&t->sink, fe->tail_buf,
				 fe->len - fe->tail_start, fe->tail_start, e)) < 0)
		return ret;
	return qf_sink_sync(&t->sink, e);
}

static void finish_write(struct target *t)
{
	struct qf_job *job = t->job;
	struct feed *fe = t->fe;
	struct qf_err e = { 0 };
	char note[QF_ERR_MSG_MAX] = "";
	int ret;

	if (target_stopped_early(t))
		return;
	target_set_state(t, QF_TARGET_SYNCING);
	if ((ret = qf_sink_sync(&t->sink, &e)) < 0)
		goto fail;
	/* Only now that the rest is on the device does the disk get a
	 * partition table: an interrupted flash leaves no half-valid disk
	 * that the system would try to mount. */
	if (fe->head_buf || fe->tail_buf) {
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
	target_set_final(t, QF_TARGET_OK, 0, note);
	return;
fail:
	target_fail(t, ret, e.msg);
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
	while ((op = queue_pop(t))) {
		if (!atomic_load(&t->failed) && !atomic_load(&job->stop)) {
			struct qf_err e = { 0 };
			int ret = verify_only ? compare_op(t, op, &e)
					      : write_op(t, op, &e);
			if (ret < 0)
				target_fail(t, ret, e.msg);
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
		job_finalize(job);
	return NULL;
}
