/* layout_mbr.c - growing the last partition of an MBR, primary or
 * logical, to the end of the target within what 32-bit sectors can say. */
#include "image/layout_int.h"

#include <stdlib.h>
#include <string.h>

/* The exclusive end, in sectors, of what an MBR partition may reach:
 * libfdisk keeps the last sector below 2^32 - 1, and so does this. */
#define MBR_END_MAX 0xffffffffull

/* The partition GROW grows: the one that ends last, not counting an
 * extended partition (it only holds others). */
static const struct qf_partition *last_part(const struct qf_ptable *pt)
{
	const struct qf_partition *g = NULL;
	int i;

	for (i = 0; i < pt->count; i++) {
		const struct qf_partition *q = &pt->parts[i];

		if (pt_part_is_extended(pt, q))
			continue;
		if (!g || q->start + q->size > g->start + g->size)
			g = q;
	}
	return g;
}

/* What @g (inside @ext, or NULL) may grow to, in bytes: @limit, but not
 * into anything that starts after it, aligned down to 1 MiB. */
static uint64_t grow_end(const struct qf_ptable *pt,
			 const struct qf_partition *g,
			 const struct qf_partition *ext, uint64_t limit)
{
	uint64_t gend = g->start + g->size;
	int i;

	for (i = 0; i < pt->count; i++) {
		const struct qf_partition *q = &pt->parts[i];

		if (q != g && q != ext && q->start >= gend && q->start < limit)
			limit = q->start;
	}
	return limit / MiB * MiB;
}

struct ebr_find {
	int number;                  /* the logical partition sought */
	bool found, have_prev;
	uint64_t lba, prev_lba;
	uint64_t max_lba;            /* the chain's last EBR on the disk */
	uint8_t sec[MBR_SIZE];       /* its EBR */
	uint8_t prev[MBR_SIZE];      /* the EBR that links to it */
};

/* The whole chain is walked: an EBR without a partition may sit past the
 * one sought, where growing it would bury that EBR. */
static int find_ebr(void *arg, uint64_t lba, const uint8_t *sec, int number)
{
	struct ebr_find *f = arg;

	if (lba > f->max_lba)
		f->max_lba = lba;
	if (f->found)
		return 0;
	if (number == f->number) {
		f->found = true;
		f->lba = lba;
		memcpy(f->sec, sec, MBR_SIZE);
		return 0;
	}
	f->have_prev = true;
	f->prev_lba = lba;
	memcpy(f->prev, sec, MBR_SIZE);
	return 0;
}

/* A logical partition grows in its EBR; the link to that EBR in the one
 * before it covers the EBR and its partition, as libfdisk writes it; and
 * the extended partition must hold it all.  The chains are walked in the
 * decoder's order so the numbers mean the same. */
static int grow_logical(struct plan *p, const struct qf_partition *g,
			const struct qf_partition *ext, uint8_t *mbr,
			uint64_t end, struct qf_err *e)
{
	const struct qf_ptable *pt = p->pt;
	uint64_t lba = end / MBR_SIZE, ext_lba = ext->start / MBR_SIZE;
	struct ebr_find *f = qf_xcalloc(1, sizeof(*f));
	struct mbr_entry m;
	int i, next = 5, data = -1, link, r = 0;
	bool odd = false;

	f->number = g->number;
	for (i = 0; i < pt->count && !f->found && r == 0; i++) {
		if (!pt_part_is_extended(pt, &pt->parts[i]))
			continue;
		f->have_prev = false;
		f->max_lba = 0;
		r = pt_mbr_walk_ebrs(&p->d, pt->parts[i].start / MBR_SIZE,
				     &next, find_ebr, f, e);
		odd = f->found && &pt->parts[i] != ext;
	}
	r = lo_miss(p, r, e);
	if (r != 0)
		goto out;
	if (f->found) {
		pt_ebr_slots(f->sec, &data, &link);
		pt_mbr_entry(f->sec, data, &m);
		odd |= (f->lba + m.start) * MBR_SIZE != g->start ||
		       f->max_lba * MBR_SIZE >= g->start + g->size;
	}
	if (!f->found || odd) {
		p->l->notes |= QF_LAYOUT_NOTE_UNUSUAL;
		r = 1;
		goto out;
	}
	lo_mbr_resize(f->sec, data, f->lba, (uint32_t)(lba - f->lba - m.start));
	r = lo_put(p, f->lba * MBR_SIZE, MBR_SIZE, f->sec, e);
	if (r == 0 && f->have_prev) {
		pt_ebr_slots(f->prev, &data, &link);
		if (link >= 0)
			pt_mbr_entry(f->prev, link, &m);
		if (link >= 0 && ext_lba + m.start == f->lba) {
			lo_mbr_resize(f->prev, link, ext_lba,
				      (uint32_t)(lba - f->lba));
			r = lo_put(p, f->prev_lba * MBR_SIZE, MBR_SIZE,
				   f->prev, e);
		}
	}
	if (r == 0 && end > ext->start + ext->size)
		lo_mbr_resize(mbr, ext->number - 1, 0,
			      (uint32_t)(lba - ext_lba));
out:
	free(f);
	return r;
}

static int mbr_grow(struct plan *p, struct qf_err *e)
{
	const struct qf_ptable *pt = p->pt;
	const struct qf_partition *g = last_part(pt), *ext = NULL;
	struct qf_layout *l = p->l;
	uint8_t mbr[MBR_SIZE];
	uint64_t limit = p->target_size, end;
	int i, r;

	if (!g) {
		l->notes |= QF_LAYOUT_NOTE_NO_ROOM;
		return 0;
	}
	for (i = 0; g->logical && i < pt->count && !ext; i++) {
		const struct qf_partition *q = &pt->parts[i];

		if (pt_part_is_extended(pt, q) && g->start > q->start &&
		    g->start - q->start < q->size)
			ext = q;
	}
	if (g->logical && !ext) {
		l->notes |= QF_LAYOUT_NOTE_UNUSUAL;
		return 0;
	}
	if (limit > MBR_END_MAX * MBR_SIZE) {
		limit = MBR_END_MAX * MBR_SIZE;
		l->notes |= QF_LAYOUT_NOTE_MBR_LIMIT;
	}
	end = grow_end(pt, g, ext, limit);
	if (end <= g->start + g->size) {
		l->notes |= QF_LAYOUT_NOTE_NO_ROOM;
		return 0;
	}
	r = lo_read(p, mbr, MBR_SIZE, 0, e);
	if (r != 0)
		return r < 0 ? r : 0;
	if (g->logical) {
		r = grow_logical(p, g, ext, mbr, end, e);
		if (r != 0)
			return r < 0 ? r : 0;
	} else {
		struct mbr_entry m;

		pt_mbr_entry(mbr, g->number - 1, &m);
		if ((uint64_t)m.start * MBR_SIZE != g->start) {
			l->notes |= QF_LAYOUT_NOTE_UNUSUAL;
			return 0;
		}
		lo_mbr_resize(mbr, g->number - 1, 0,
			      (uint32_t)(end / MBR_SIZE - m.start));
	}
	r = lo_put(p, 0, MBR_SIZE, mbr, e);
	if (r < 0)
		return r;
	l->adjust |= QF_ADJ_PART_GROWN;
	l->grown = g->number;
	l->grown_start = g->start;
	l->grown_old_size = g->size;
	l->grown_size = end - g->start;
	return 0;
}

int lo_plan_mbr(struct plan *p, bool mismatch, struct qf_err *e)
{
	if (mismatch) {
		p->l->notes |= QF_LAYOUT_NOTE_NO_CONVERT;
		p->l->sector_mismatch = true;
		if (!(p->flags & QF_LAYOUT_FORCE))
			return 0;
	}
	if (!(p->flags & QF_LAYOUT_GROW))
		return 0;
	return mbr_grow(p, e);
}
