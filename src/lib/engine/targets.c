/* targets.c - a job's targets before anything is written: every safety
 * refusal the policy gives (reading, for verify-only, harms nothing),
 * the size check, duplicates, what will be adjusted on each (its layout
 * fix-ups, a partition or filesystem grown, space left over), and opening
 * them all before any changes. */
#include "engine/job.h"

#include <errno.h>
#include <stdarg.h>
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
		return qf_err_set(e, errno, "%s: %m", t->path);
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
						  N_("%s: same target as %s"),
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
						  N_("%s is a partition of %s, which is also a target"),
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
			t->tsize = t->rd.size;
			continue;
		}
		if ((ret = qf_sink_open(&t->sink, t->path, job->opts.direct,
					e)) < 0)
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
		job->t[i]->tsize = s->size;
		/* The user vouches that it is blank: zeroing is a no-op. */
		if (job->opts.assume_zeroed)
			s->fresh = true;
	}
	return 0;
}

static int image_read(void *ctx, void *buf, size_t len, uint64_t off,
		      struct qf_err *e)
{
	return qf_image_read(ctx, buf, len, off, e);
}

/* Append a sentence to a "; "-separated text. */
static void say(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* The filesystem of image partition @part, "" when it cannot be told
 * before the flash (a stream shows only its head). */
static void image_fs(struct qf_job *job, const struct qf_partition *part,
		     char *out, size_t len)
{
	struct qf_fs_info fs;

	out[0] = 0;
	if (qf_fs_probe(image_read, job->img, part->start, part->size, &fs) == 0)
		snprintf(out, len, "%s", fs.type);
}

static bool fs_growable(const char *type)
{
	return !type[0] || !strcmp(type, "ext2") || !strcmp(type, "ext3") ||
	       !strcmp(type, "ext4");
}

/* Plan a whole-disk target: the layout fix-ups it gets. */
static int plan_disk(struct qf_job *job, struct target *t, struct qf_err *e)
{
	struct qf_target_plan *pl = &t->plan;
	const struct qf_layout *l = &t->lay;
	uint64_t isize = qf_image_size(job->img), used;
	unsigned flags = 0;
	char a[32], b[32];
	int ret;

	if (job->opts.exact)
		flags |= QF_LAYOUT_EXACT;
	if (job->opts.grow)
		flags |= QF_LAYOUT_GROW;
	if (job->opts.force)
		flags |= QF_LAYOUT_FORCE;
	if (!job->pt)
		goto plain;
	ret = qf_layout_plan(image_read, job->img, isize, job->pt, pl->size,
			     pl->sector_size, flags, &t->lay, e);
	if (ret < 0)
		return ret;
	if (l->sector_mismatch && !job->opts.force)
		return qf_err_set(e, ENOTSUP,
				  N_("%s: the drive has %u-byte sectors but the image's partition table uses %u-byte sectors, and it cannot be converted: the drive would show no partitions (use -force to write it anyway)"),
				  t->path, pl->sector_size, job->pt->sector_size);
	pl->adjust = l->adjust;
	pl->sector_mismatch = l->sector_mismatch;
	if (l->adjust & QF_ADJUST_BACKUP_MOVED)
		say(pl->adjust_text, sizeof(pl->adjust_text), "%s",
		    _("backup GPT moved to the end of the drive"));
	if (l->adjust & QF_ADJUST_PMBR_RESIZED)
		say(pl->adjust_text, sizeof(pl->adjust_text), "%s",
		    _("protective MBR sized to the drive"));
	if (l->adjust & QF_ADJUST_SECTOR_SIZE)
		say(pl->adjust_text, sizeof(pl->adjust_text),
		    _("GPT rewritten for %u-byte sectors"), pl->sector_size);
	if (l->sector_mismatch)
		say(pl->left_text, sizeof(pl->left_text),
		    _("the drive has %u-byte sectors and the image's table %u-byte ones: the drive will show no partitions"),
		    pl->sector_size, job->pt->sector_size);
	if (l->adjust & QF_ADJUST_PART_GROWN) {
		const struct qf_partition *part = qf_ptable_find(job->pt, l->grown);

		pl->grown = l->grown;
		pl->grown_old_size = l->grown_old_size;
		pl->grown_size = l->grown_size;
		say(pl->adjust_text, sizeof(pl->adjust_text),
		    _("partition %d grown from %s to %s"), l->grown,
		    qf_size_str(l->grown_old_size, a, sizeof(a)),
		    qf_size_str(l->grown_size, b, sizeof(b)));
		if (part)
			image_fs(job, part, pl->grown_fs, sizeof(pl->grown_fs));
		if (fs_growable(pl->grown_fs)) {
			pl->adjust |= QF_ADJUST_FS_GROWN;
			say(pl->adjust_text, sizeof(pl->adjust_text),
			    _("its %s filesystem grown after verification"),
			    pl->grown_fs[0] ? pl->grown_fs : "ext2/3/4");
		} else {
			say(pl->left_text, sizeof(pl->left_text),
			    _("%s: filesystem not grown"), pl->grown_fs);
		}
	}
	for (unsigned bit = 1; bit; bit <<= 1)
		if (l->notes & bit)
			say(pl->left_text, sizeof(pl->left_text), "%s",
			    qf_layout_note_text(bit));
plain:
	used = l->grown ? l->grown_start + l->grown_size : isize;
	pl->unused = pl->size > used ? pl->size - used : 0;
	/* Space past the last partition is worth a word when it is more
	 * than the alignment slack of a grown one. */
	if (pl->unused > ((uint64_t)1 << 20) && !l->grown)
		say(pl->left_text, sizeof(pl->left_text),
		    job->opts.exact
		    ? _("the image is smaller than the drive: %s past it are left as they are (-exact)")
		    : _("the image is smaller than the drive: %s past it are not in any partition (-grow would grow the last one)"),
		    qf_size_str(pl->unused, a, sizeof(a)));
	return 0;
}

/* Plan a partition target: its filesystem grown when it is larger. */
static int plan_part(struct qf_job *job, struct target *t)
{
	struct qf_target_plan *pl = &t->plan;
	const struct qf_partition *part = qf_ptable_find(job->pt, t->partition);
	char a[32], b[32], c[32];

	pl->unused = pl->size > t->total ? pl->size - t->total : 0;
	if (!part || pl->unused < ((uint64_t)1 << 20))
		return 0;
	image_fs(job, part, pl->grown_fs, sizeof(pl->grown_fs));
	if (job->opts.grow && fs_growable(pl->grown_fs)) {
		pl->adjust |= QF_ADJUST_FS_GROWN;
		pl->unused = 0;
		say(pl->adjust_text, sizeof(pl->adjust_text),
		    _("its %s filesystem grown from %s to %s after verification"),
		    pl->grown_fs[0] ? pl->grown_fs : "ext2/3/4",
		    qf_size_str(t->total, a, sizeof(a)),
		    qf_size_str(pl->size, b, sizeof(b)));
	} else if (job->opts.grow) {
		say(pl->left_text, sizeof(pl->left_text),
		    _("%s: filesystem not grown"), pl->grown_fs);
	} else {
		say(pl->left_text, sizeof(pl->left_text),
		    _("partition %d is %s on a %s target: %s unused (-grow would grow its filesystem)"),
		    t->partition, qf_size_str(t->total, a, sizeof(a)),
		    qf_size_str(pl->size, b, sizeof(b)),
		    qf_size_str(pl->unused, c, sizeof(c)));
	}
	return 0;
}

int target_plan(struct qf_job *job, struct target *t, struct qf_err *e)
{
	struct qf_target_plan *pl = &t->plan;
	bool device = t->exists && t->dev.kind != QF_DEV_FILE;

	memset(pl, 0, sizeof(*pl));
	/* A file target is made the image's size; a device has its own. */
	pl->size = device || job->opts.mode == QF_MODE_VERIFY_ONLY
		   ? t->dev.size : t->total;
	pl->sector_size = device && t->dev.logical_block ? t->dev.logical_block
							 : 512;
	if (t->partition == 0)
		return plan_disk(job, t, e);
	return job->opts.mode == QF_MODE_PARTITIONS ? plan_part(job, t) : 0;
}
