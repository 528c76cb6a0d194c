/* layout_int.h - what the parts of the layout planner share: the plan
 * being built (layout.c starts it), the patch list with the reads and
 * MBR entry edits both planners make (layout_patch.c), and the MBR and
 * GPT planners themselves (layout_mbr.c, layout_gpt.c). */
#ifndef QF_LAYOUT_INT_H
#define QF_LAYOUT_INT_H

#include "image/layout.h"
#include "image/ptable_int.h"

#define MiB (1024 * 1024ull)

struct plan {
	struct dec d;                /* the image, read as the decoders do */
	const struct qf_ptable *pt;
	uint64_t target_size;
	uint32_t target_lbs;
	unsigned flags;
	struct qf_layout *l;
	size_t cap;                  /* patches allocated */
};

/* layout_patch.c */
void lo_free_patches(struct qf_layout *l);
/* Lay @len bytes of @data (zeros when NULL) over the target at @off; a
 * later patch wins where it overlaps an earlier one. */
int lo_put(struct plan *p, uint64_t off, uint64_t len, const void *data,
	   struct qf_err *e);
/* @r from a read: -ESPIPE (a stream's tail, not readable yet) becomes 1
 * with the UNREADABLE note, anything else is returned as it is. */
int lo_miss(struct plan *p, int r, struct qf_err *e);
/* Read the image: 0, 1 for a stream's tail (noted), or a negative errno. */
int lo_read(struct plan *p, void *buf, size_t len, uint64_t off,
	    struct qf_err *e);
/* The 3-byte CHS address of @lba at @p, as fdisk and sgdisk write it. */
void lo_chs_put(uint8_t *p, uint64_t lba);
/* Give entry @slot of the MBR or EBR @sec @sectors sectors (at least one),
 * its start being relative to sector @base; the CHS end follows. */
void lo_mbr_resize(uint8_t *sec, int slot, uint64_t base, uint32_t sectors);

/* layout_mbr.c, layout_gpt.c: 0 (done, or left alone with a note) or a
 * negative errno.  @mismatch: the target's sector size is another. */
int lo_plan_mbr(struct plan *p, bool mismatch, struct qf_err *e);
int lo_plan_gpt(struct plan *p, bool mismatch, struct qf_err *e);

#endif
