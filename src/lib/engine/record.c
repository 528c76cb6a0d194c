/* record.c - the flash-log records of a job: a "started" line per target
 * before anything is written, so even a killed run leaves a trace, and
 * the result line per target once the last writer is done. */
#include "engine/job.h"
#include "report/flashlog.h"

#include <string.h>

static const char *result_word(enum qf_target_state s)
{
	switch (s) {
	case QF_TARGET_OK: return "ok";
	case QF_TARGET_CANCELLED: return "cancelled";
	case QF_TARGET_MISMATCH: return "mismatch";
	default: return "failed";
	}
}

static const char *const modes[] = {
	[QF_MODE_WHOLE_DISK] = "whole-disk",
	[QF_MODE_PARTITIONS] = "partition",
	[QF_MODE_VERIFY_ONLY] = "verify",
};

/* What every record of target @t says about the job and the target. */
static void fill(const struct qf_job *job, const struct target *t,
		 struct qf_flashlog_entry *en)
{
	int snap = qf_image_snapshot_selected(job->img);

	memset(en, 0, sizeof(*en));
	en->time = job->wall_start;
	/* The resolved name: a relative path means nothing later. */
	en->image = qf_image_layer(job->img, 0)->name;
	en->cache = qf_image_layer(job->img, 0)->cache_use;
	if (snap >= 0) {
		en->snapshot_id = qf_image_snapshot(job->img, snap)->id;
		en->snapshot_name = qf_image_snapshot(job->img, snap)->name;
	}
	en->virtual_size = qf_image_size(job->img);
	en->mode = modes[job->opts.mode];
	en->partition = t->partition;
	en->target = t->path;
	en->model = t->dev.model;
	en->serial = t->dev.serial;
	en->wwn = t->dev.wwn;
	en->target_size = t->tsize;
	en->info = job->opts.record;
}

int record_started(struct qf_job *job, struct qf_err *e)
{
	for (int i = 0; i < job->nt; i++) {
		struct qf_flashlog_entry en;
		int ret;

		fill(job, job->t[i], &en);
		en.result = "started";
		en.verify = "pending";
		en.error = "";
		if ((ret = qf_flashlog_append(job->log_path, &en, e)) < 0)
			return ret;
	}
	return 0;
}

/* Runs after the last writer, so the targets no longer change, and
 * without pmu: a slow log file must not stall progress snapshots.  A log
 * that cannot be written is reported in the targets' messages and fails
 * the job, though not the targets. */
void record_results(struct qf_job *job, struct qf_err *errs)
{
	bool verifying = job->opts.verify ||
			 job->opts.mode == QF_MODE_VERIFY_ONLY;

	for (int i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		struct qf_flashlog_entry en;

		fill(job, t, &en);
		pthread_mutex_lock(&job->digest_mu);
		if (job->digest_state > 0)
			en.source_sha256 = job->src_hex;
		en.published_sha256 = qf_image_checksum(job->img,
							&en.checksum_origin);
		en.checksum_result = job->checksum_ok > 0 ? "ok"
				     : job->checksum_ok < 0 ? "mismatch"
				     : "not checked";
		en.disk_published = qf_image_disk_checksum(job->img, NULL);
		en.disk_sha256 = job->disk_hex;
		en.disk_result = job->disk_ok > 0 ? "ok"
				 : job->disk_ok < 0 ? "mismatch" : "not checked";
		pthread_mutex_unlock(&job->digest_mu);
		en.have_checksum = t->fe->complete && job->hashing;
		en.checksum = t->checksum;
		en.adjusted = t->adjusted;
		en.bytes_written = t->written;
		en.bytes_zeroed = t->zeroed;
		en.duration = t->t_end - job->t_start;
		en.finished = job->wall_start + (int64_t)(en.duration + 0.5);
		en.result = result_word(t->state);
		en.verify = t->state == QF_TARGET_MISMATCH ? "mismatch"
			    : verifying && t->verified ? "ok" : "skipped";
		en.healed = t->nhealed;
		en.healed_at = t->healed_at;
		en.nhealed_at = t->nhealed < HEALED_LOGGED ? t->nhealed
							  : HEALED_LOGGED;
		/* In English: a log is read by whoever comes next. */
		en.error = t->state == QF_TARGET_OK ? "" : t->message_en;
		qf_flashlog_append(job->log_path, &en, &errs[i]);
	}
}
