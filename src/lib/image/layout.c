/* layout.c - the partition-table fix-ups for a target that differs from
 * the image: which planner applies (layout_mbr.c, layout_gpt.c), what is
 * refused, and the notes a UI shows.  Everything is built from the head
 * of the image (MBR, EBRs, primary GPT), because that is all a stream
 * shows before it is written. */
#include "image/layout_int.h"

#include <errno.h>
#include <string.h>

static bool sector_size_ok(uint32_t ss)
{
	return ss >= 512 && ss <= 65536 && (ss & (ss - 1)) == 0;
}

int qf_layout_plan(qf_disk_read_fn read, void *ctx, uint64_t image_size,
		   const struct qf_ptable *pt, uint64_t target_size,
		   uint32_t target_lbs, unsigned flags, struct qf_layout *out,
		   struct qf_err *e)
{
	struct plan p = {
		.d = { .read = read, .ctx = ctx, .size = image_size },
		.pt = pt, .target_size = target_size, .target_lbs = target_lbs,
		.flags = flags, .l = out,
	};
	bool mismatch;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (!read || !pt || !sector_size_ok(pt->sector_size))
		return qf_err_set(e, EINVAL, N_("no partition table to plan from"));
	if (!sector_size_ok(target_lbs))
		return qf_err_set(e, EINVAL, N_("a logical sector size of %u bytes is not supported"),
				  target_lbs);
	if (target_size < image_size)
		return qf_err_set(e, ENOSPC, N_("the target (%llu bytes) is smaller than the image (%llu bytes)"),
				  (unsigned long long)target_size,
				  (unsigned long long)image_size);
	if (!pt->kind[0])
		return 0;
	mismatch = target_lbs != pt->sector_size;
	if (flags & QF_LAYOUT_EXACT) {
		out->sector_mismatch = mismatch;
		return 0;
	}
	if (!mismatch && target_size == image_size && !(flags & QF_LAYOUT_GROW))
		return 0;
	if (strcmp(pt->kind, "gpt") == 0)
		r = lo_plan_gpt(&p, mismatch, e);
	else if (strcmp(pt->kind, "dos") == 0)
		r = lo_plan_mbr(&p, mismatch, e);
	if (r < 0)
		qf_layout_free(out);
	return r < 0 ? r : 0;
}

void qf_layout_free(struct qf_layout *l)
{
	if (!l)
		return;
	lo_free_patches(l);
	memset(l, 0, sizeof(*l));
}

static const struct {
	unsigned note;
	const char *text;
} notes[] = {
	{ QF_LAYOUT_NOTE_MBR_LIMIT,
	  N_("MBR limit: the partition was not grown past 2 TiB") },
	{ QF_LAYOUT_NOTE_NO_ROOM,
	  N_("the last partition was not grown: there is no room after it") },
	{ QF_LAYOUT_NOTE_MBR_KEPT,
	  N_("the MBR's own partition entries were left as they are") },
	{ QF_LAYOUT_NOTE_BACKUP_ONLY,
	  N_("the primary GPT is damaged: the partition table was left as it is") },
	{ QF_LAYOUT_NOTE_UNREADABLE,
	  N_("part of the partition table cannot be read before the image is written: it was left as it is") },
	{ QF_LAYOUT_NOTE_NO_BACKUP_ROOM,
	  N_("there is no room for the backup GPT after the last partition: the table was left as it is") },
	{ QF_LAYOUT_NOTE_UNALIGNED,
	  N_("the partitions are not aligned to the target's sector size: the table cannot be converted") },
	{ QF_LAYOUT_NOTE_HEAD_DATA,
	  N_("the table rewritten for the target's sector size would overwrite data before the first partition") },
	{ QF_LAYOUT_NOTE_NO_CONVERT,
	  N_("an MBR or a hybrid MBR cannot be converted to the target's sector size") },
	{ QF_LAYOUT_NOTE_UNUSUAL,
	  N_("the partition table is laid out unusually: it was left as it is") },
};

const char *qf_layout_note_text(unsigned note)
{
	size_t i;

	for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (notes[i].note == note)
			return _(notes[i].text);
	return "";
}
