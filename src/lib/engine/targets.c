/* targets.c - a job's targets before anything is written: every safety
 * refusal the policy gives (minus what the job's mode and -force allow),
 * the size check, duplicates, and opening them all before any changes. */
#include "engine/job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* "too small: ..." without the path; both sizes in one unit. */
static void too_small_text(char *buf, size_t len, uint64_t need, uint64_t have)
{
	char need_s[32], have_s[32];

	qf_size_pair_str(need, have, need_s, have_s, sizeof(need_s));
	snprintf(buf, len, _("too small: %s needed, %s available"), need_s,
		 have_s);
}

static int err_too_small(const struct target *t, uint64_t have,
			 struct qf_err *e)
{
	char why[128];

	too_small_text(why, sizeof(why), t->total, have);
	return qf_err_set(e, ENOSPC, "%s: %s", t->path, why);
}

/* Safety checks on one target before anything is opened for writing. */
int target_check(struct qf_job *job, struct target *t,
		 struct qf_err *e)
{
	bool verify_only = job->opts.mode == QF_MODE_VERIFY_ONLY;
	char why[384];
	struct stat sb;
	unsigned bad;
	bool small;
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
	if ((ret = qf_device_check(t->path, qf_image_files(job->img), &t->dev,
				   e)) < 0)
		return ret;
	bad = t->dev.refusals & ~(unsigned)QF_REFUSE_TOO_SMALL;
	if (verify_only)
		/* Reading does no harm to a mounted or busy device. */
		bad &= QF_REFUSE_NOT_FOUND | QF_REFUSE_NOT_BLOCK;
	else if (job->opts.force)
		bad &= ~(unsigned)QF_REFUSE_FORCEABLE;
	small = !verify_only && t->dev.kind != QF_DEV_FILE &&
		t->dev.size < t->total;
	if (bad) {
		size_t n;

		if (bad == t->dev.refusals && t->dev.reason[0])
			snprintf(why, sizeof(why), "%s", t->dev.reason);
		else
			qf_refusal_text(bad, why, sizeof(why));
		/* Every reason at once: dealing with one must not reveal
		 * the next only on the following try. */
		n = strlen(why);
		if (small && n + 2 < sizeof(why)) {
			snprintf(why + n, sizeof(why) - n, "; ");
			too_small_text(why + n + 2, sizeof(why) - n - 2,
				       t->total, t->dev.size);
		}
		return qf_err_set(e, EPERM, "%s: %s", t->path, why);
	}
	if (small)
		return err_too_small(t, t->dev.size, e);
	return 0;
}

static bool partition_of(const struct target *p, const struct target *disk)
{
	return p->dev.kind == QF_DEV_PARTITION && disk->dev.kind == QF_DEV_DISK &&
	       strcmp(p->dev.parent, disk->dev.name) == 0;
}

int targets_check_duplicates(struct qf_job *job, struct qf_err *e)
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
			/* Both opened exclusively, the second would fail as
			 * busy, held by this very job.  Reading both is fine. */
			if (job->opts.mode == QF_MODE_VERIFY_ONLY)
				continue;
			if (partition_of(b, a)) {
				struct target *t = a;
				a = b;
				b = t;
			}
			if (partition_of(a, b))
				return qf_err_set(e, EINVAL,
						  _("%s is a partition of %s, which is also a target"),
						  a->path, b->path);
		}
	}
	return 0;
}

void targets_discard(struct qf_job *job)
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

int targets_open(struct qf_job *job, struct qf_err *e)
{
	int i, ret;

	for (i = 0; i < job->nt; i++) {
		struct target *t = job->t[i];
		if (job->opts.mode == QF_MODE_VERIFY_ONLY) {
			if ((ret = qf_reader_open(&t->rd, t->path, e)) < 0)
				return ret;
			t->rd_open = true;
			t->cmpbuf = buf_memalign(CMP_LEN);
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
