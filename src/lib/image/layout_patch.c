/* layout_patch.c - the patch list a layout plan builds, the reads it makes
 * of an image that may be a stream, and the MBR entry edits both the MBR
 * and the GPT planner need. */
#include "image/layout_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Nothing patched here comes near this; more means a broken table. */
#define PATCH_MAX (64 * MiB)
#define CHS_HEADS 255
#define CHS_SECTORS 63

void lo_free_patches(struct qf_layout *l)
{
	int i;

	for (i = 0; i < l->npatch; i++)
		free(l->patch[i].data);
	free(l->patch);
	l->patch = NULL;
	l->npatch = 0;
}

/* Lay @len bytes of @data (zeros when NULL) over the target at @off.  A
 * later call wins where it overlaps an earlier one, so an old structure
 * can be cleared and a new one written over part of it; patches that
 * touch are merged, which keeps the list sorted and disjoint. */
int lo_put(struct plan *p, uint64_t off, uint64_t len, const void *data,
	   struct qf_err *e)
{
	struct qf_layout *l = p->l;
	uint64_t end, lo, hi;
	uint8_t *buf;
	int i, j, k;

	if (len == 0)
		return 0;
	if (!range_inside(off, len, p->target_size))
		return qf_err_set(e, EINVAL, N_("partition-table fix-up of %llu bytes at %llu lies past the end of the target (%llu bytes)"),
				  (unsigned long long)len,
				  (unsigned long long)off,
				  (unsigned long long)p->target_size);
	end = off + len;
	for (i = 0; i < l->npatch && l->patch[i].off + l->patch[i].len < off;
	     i++)
		;
	for (j = i; j < l->npatch && l->patch[j].off <= end; j++)
		;
	lo = off;
	hi = end;
	if (j > i) {
		if (l->patch[i].off < lo)
			lo = l->patch[i].off;
		if (l->patch[j - 1].off + l->patch[j - 1].len > hi)
			hi = l->patch[j - 1].off + l->patch[j - 1].len;
	}
	if (hi - lo > PATCH_MAX)
		return qf_err_set(e, EFBIG, N_("partition-table fix-up of %llu bytes at %llu is too large"),
				  (unsigned long long)(hi - lo),
				  (unsigned long long)lo);
	buf = qf_xcalloc(1, hi - lo);
	for (k = i; k < j; k++) {
		memcpy(buf + (l->patch[k].off - lo), l->patch[k].data,
		       l->patch[k].len);
		free(l->patch[k].data);
	}
	if (data)
		memcpy(buf + (off - lo), data, len);
	else
		memset(buf + (off - lo), 0, len);
	if (j == i) {
		l->patch = qf_grow(l->patch, (size_t)l->npatch, &p->cap,
				   sizeof(*l->patch));
		memmove(l->patch + i + 1, l->patch + i,
			(size_t)(l->npatch - i) * sizeof(*l->patch));
		l->npatch++;
	} else {
		memmove(l->patch + i + 1, l->patch + j,
			(size_t)(l->npatch - j) * sizeof(*l->patch));
		l->npatch -= j - i - 1;
	}
	l->patch[i].off = lo;
	l->patch[i].len = hi - lo;
	l->patch[i].data = buf;
	return 0;
}

/* ----------------------------------------------------------------- reads */

/* Before a stream is written only its head can be read (-ESPIPE
 * elsewhere).  A structure out of reach is left as it is, with a note,
 * rather than failing the plan: returns 1 for such a miss, else @r. */
int lo_miss(struct plan *p, int r, struct qf_err *e)
{
	if (r != -ESPIPE)
		return r;
	p->l->notes |= QF_LAYOUT_NOTE_UNREADABLE;
	if (e)
		memset(e, 0, sizeof(*e));
	return 1;
}

int lo_read(struct plan *p, void *buf, size_t len, uint64_t off,
	    struct qf_err *e)
{
	return lo_miss(p, p->d.read(p->d.ctx, buf, len, off, e), e);
}

/* ------------------------------------------------------------ MBR entries */

/* The CHS address of @lba in the 255-head, 63-sector geometry tools
 * assume today, or the customary 1023/254/63 past what CHS can say:
 * fdisk compares CHS with LBA on small disks, so a resized entry needs
 * both. */
void lo_chs_put(uint8_t *p, uint64_t lba)
{
	uint64_t c = lba / (CHS_HEADS * CHS_SECTORS);
	unsigned h = (unsigned)(lba / CHS_SECTORS % CHS_HEADS);
	unsigned s = (unsigned)(lba % CHS_SECTORS) + 1;

	if (c > 1023) {
		c = 1023;
		h = CHS_HEADS - 1;
		s = CHS_SECTORS;
	}
	p[0] = (uint8_t)h;
	p[1] = (uint8_t)(s | (c >> 2 & 0xc0));
	p[2] = (uint8_t)c;
}

/* Give entry @slot of the MBR or EBR @sec @sectors sectors (at least
 * one); its start is relative to sector @base. */
void lo_mbr_resize(uint8_t *sec, int slot, uint64_t base, uint32_t sectors)
{
	uint8_t *ent = sec + MBR_ENTRIES_OFF + 16 * slot;

	put_le32(ent + 12, sectors);
	lo_chs_put(ent + 5, base + get_le32(ent + 8) + sectors - 1);
}
