/* slot.c - one slot of a station: it waits for a drive, runs it through
 * the checks, qualification, flash and verification as a job of its own
 * (so a failing, slow or removed drive never holds up another slot),
 * writes its certificate, shows PASS or FAIL and waits for its removal. */
#include "station/station_int.h"
#include "report/flashlog.h"
#include "target/devices.h"
#include "target/sysfs.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set(struct slot *s, enum qf_slot_state state, const char *reason)
{
	pthread_mutex_lock(&s->st->mu);
	station_set_state(s, state, reason);
	pthread_mutex_unlock(&s->st->mu);
}

static bool gone(struct slot *s, const char *name, uint64_t id)
{
	bool g;

	pthread_mutex_lock(&s->st->mu);
	g = station_drive_gone(s, name, id);
	pthread_mutex_unlock(&s->st->mu);
	return g;
}

/* A drive that ended before a job could say so gets its flash-log record
 * here: one record per drive, whatever stopped it. */
static void log_early(struct slot *s, const struct qf_device *dev,
		      const char *path, const char *reason)
{
	struct qf_station *st = s->st;
	struct qf_flashlog_entry en = { 0 };
	struct qf_err e = { 0 };

	en.time = (int64_t)time(NULL);
	en.finished = en.time;
	en.image = st->image;
	en.virtual_size = st->image_size;
	en.mode = "whole-disk";
	en.target = path;
	en.model = dev->model;
	en.serial = dev->serial;
	en.wwn = dev->wwn;
	en.target_size = dev->size;
	en.info = &s->rec;
	en.result = "failed";
	en.verify = "skipped";
	en.error = reason;
	if (qf_flashlog_append(st->log_path, &en, &e) < 0)
		qf_warn(&st->o.open, "%s", e.msg);
}

static enum qf_slot_state state_of(enum qf_target_state t)
{
	switch (t) {
	case QF_TARGET_PENDING:
	case QF_TARGET_WRITING:
	case QF_TARGET_SYNCING: return QF_SLOT_WRITING;
	case QF_TARGET_VERIFYING: return QF_SLOT_VERIFYING;
	default: return QF_SLOT_FINISHING;
	}
}

/* The flash itself: a job with this one target, watched until it ends.
 * Returns the job's final progress in @p (the caller frees it). */
static int flash(struct slot *s, const char *path, const char *name,
		 uint64_t id, struct qf_progress *p, bool *removed,
		 struct qf_err *e)
{
	struct qf_station *st = s->st;
	struct qf_job_opts jo = st->o.job;
	struct qf_image *img = NULL;
	struct qf_job *job;
	bool cancelled = false;
	int ret;

	memset(p, 0, sizeof(*p));
	if ((ret = qf_image_open(st->image, &st->o.open, &img, e)) < 0)
		return ret;
	jo.record = &s->rec;
	job = qf_job_new(img, &jo);
	if ((ret = qf_job_add_target(job, path, 0, e)) < 0 ||
	    (ret = qf_job_start(job, e)) < 0) {
		qf_job_free(job);
		qf_image_close(img);
		return ret;
	}
	set(s, QF_SLOT_WRITING, "");
	for (;;) {
		struct pollfd pfd = { .fd = qf_job_wakeup_fd(job), .events = POLLIN };
		struct qf_progress now;
		enum qf_slot_state state;

		poll(&pfd, 1, 250);
		qf_job_ack_wakeup(job);
		if (!cancelled && (atomic_load(&s->cancel) || gone(s, name, id))) {
			*removed = gone(s, name, id);
			qf_job_cancel(job);
			cancelled = true;
		}
		if (qf_job_progress(job, &now) < 0)
			continue;
		state = now.ntargets ? state_of(now.targets[0].state)
				     : QF_SLOT_WRITING;
		pthread_mutex_lock(&st->mu);
		s->status.fraction = now.total ? (double)now.done / (double)now.total
					       : 0;
		s->status.rate = now.rate;
		s->status.eta = now.eta;
		/* Forward only: the table written last is synced again after
		 * the verification. */
		if (state > s->status.state && now.phase < QF_PHASE_DONE)
			station_set_state(s, state, NULL);
		pthread_mutex_unlock(&st->mu);
		qf_progress_free(&now);
		if (now.phase >= QF_PHASE_DONE)
			break;
	}
	ret = qf_job_wait(job, p);
	qf_job_free(job);
	qf_image_close(img);
	return ret;
}

static void clear_drive(struct slot *s)
{
	struct qf_slot_status *v = &s->status;

	v->device[0] = v->model[0] = v->serial[0] = v->wwn[0] = '\0';
	v->size = 0;
	v->fraction = v->rate = 0;
	v->eta = -1;
}

/* One drive, from its checks to its result. */
static void run_drive(struct slot *s, const char *name, uint64_t id)
{
	struct qf_station *st = s->st;
	struct qf_device dev = { 0 };
	struct qf_progress p = { 0 };
	struct qf_err e = { 0 };
	char path[80], reason[QF_ERR_MSG_MAX] = "";
	double t0 = (double)time(NULL);
	bool pass = false, removed = false, ran = false;
	int ret;

	snprintf(path, sizeof(path), "/dev/%s", name);
	pthread_mutex_lock(&st->mu);
	clear_drive(s);
	qf_scopy(s->status.device, sizeof(s->status.device), path);
	s->status.reason[0] = '\0';
	s->rec.qualified = false;
	atomic_store(&s->cancel, st->stopping);
	station_set_state(s, QF_SLOT_CHECKING, "");
	pthread_mutex_unlock(&st->mu);

	/* Every safety check, without reading what is on the drive. */
	ret = qf_device_check(path, (const char *const *)st->sources, &dev, &e);
	if (ret == 0) {
		pthread_mutex_lock(&st->mu);
		memcpy(s->status.model, dev.model, sizeof(s->status.model));
		memcpy(s->status.serial, dev.serial, sizeof(s->status.serial));
		memcpy(s->status.wwn, dev.wwn, sizeof(s->status.wwn));
		s->status.size = dev.size;
		pthread_mutex_unlock(&st->mu);
	}
	if (ret < 0) {
		qf_scopy(reason, sizeof(reason), e.msg);
	} else if (dev.kind != QF_DEV_DISK) {
		snprintf(reason, sizeof(reason), _("%s is not a whole disk"), path);
	} else if (dev.refusals) {
		snprintf(reason, sizeof(reason), _("refused: %s"), dev.reason);
	} else if (dev.size < st->image_size) {
		char a[32], b[32];

		qf_size_pair_str(dev.size, st->image_size, a, b, sizeof(a));
		snprintf(reason, sizeof(reason),
			 _("too small: the drive holds %s, the image needs %s"),
			 a, b);
	} else if (st->o.qualify) {
		struct qf_qualify_result q = { 0 };

		set(s, QF_SLOT_QUALIFYING, "");
		ret = qf_qualify(path, (const char *const *)st->sources,
				 (volatile const int *)&s->cancel, &q, &e);
		s->rec.qualified = true;
		s->rec.claimed = q.claimed;
		s->rec.usable = q.usable;
		s->rec.write_rate = q.write_rate;
		/* The verdict without the path: the slot names the drive. */
		if (ret < 0)
			qf_scopy(reason, sizeof(reason), q.message[0] ? q.message : e.msg);
		else
			set(s, QF_SLOT_QUALIFYING, q.message);
	}
	if (!reason[0] && !atomic_load(&s->cancel)) {
		ran = true;
		ret = flash(s, path, name, id, &p, &removed, &e);
		if (ret == 0) {
			pass = true;
		} else if (removed) {
			qf_scopy(reason, sizeof(reason), _("the drive was removed before it was done"));
		} else if (p.ntargets && p.targets[0].message[0]) {
			qf_scopy(reason, sizeof(reason), p.targets[0].message);
		} else {
			qf_scopy(reason, sizeof(reason), e.msg[0] ? e.msg : strerror(-ret));
		}
	} else if (!reason[0]) {
		qf_scopy(reason, sizeof(reason), _("the station stopped"));
	}
	if (!ran)
		log_early(s, &dev, path, reason);
	cert_write(s, &dev, ran ? &p : NULL, p.source_sha256, t0,
		   (double)time(NULL), pass, reason);
	qf_progress_free(&p);

	pthread_mutex_lock(&st->mu);
	s->status.eta = -1;
	if (pass) {
		s->status.fraction = 1;
		s->status.copies++;
		s->status.result = QF_SLOT_PASS;
		station_set_state(s, QF_SLOT_PASS, "");
	} else if (st->stopping && !removed) {
		station_set_state(s, QF_SLOT_STOPPED, reason);
	} else {
		s->status.failures++;
		s->status.result = QF_SLOT_FAIL;
		station_set_state(s, QF_SLOT_FAIL, reason);
	}
	pthread_mutex_unlock(&st->mu);
}

void *slot_main(void *arg)
{
	struct slot *s = arg;
	struct qf_station *st = s->st;
	char done[64] = "";
	uint64_t done_id = 0;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		char name[64];
		uint64_t id;

		/* A drive, not paused, and not the one just done. */
		while (!st->stopping &&
		       (!s->present[0] || st->paused ||
			!station_drive_gone(s, done, done_id)))
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->stopping)
			break;
		qf_scopy(name, sizeof(name), s->present);
		id = s->present_id;
		pthread_mutex_unlock(&st->mu);

		run_drive(s, name, id);
		qf_scopy(done, sizeof(done), name);
		done_id = id;

		/* "Remove the drive": the result stays until it is gone. */
		pthread_mutex_lock(&st->mu);
		while (!st->stopping && !station_drive_gone(s, name, id))
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->stopping)
			break;
		clear_drive(s);
		station_set_state(s, QF_SLOT_EMPTY, NULL);
	}
	if (s->status.state == QF_SLOT_EMPTY)
		station_set_state(s, QF_SLOT_STOPPED, "");
	pthread_mutex_unlock(&st->mu);
	return NULL;
}
