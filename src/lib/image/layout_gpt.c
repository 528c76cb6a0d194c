/* layout_gpt.c - the GPT on a target unlike the image: the backup moved
 * to the target's end with the protective MBR resized, the last partition
 * grown, or the whole table rewritten for another logical sector size.
 * Built from the primary GPT alone, which a stream shows at its head; the
 * image's backup is never read. */
#include "image/layout_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void gpt_sign(uint8_t *hdr, uint32_t hsize)
{
	put_le32(hdr + 16, 0);
	put_le32(hdr + 16, (uint32_t)crc32(0, hdr, hsize));
}

static uint64_t div_up(uint64_t v, uint64_t to)
{
	return v / to + (v % to != 0);
}

/* Where the partitions are, in bytes. */
struct gpt_span {
	uint64_t min_start;          /* UINT64_MAX when there is none */
	uint64_t max_end;            /* 0 when there is none */
	int last;                    /* index of the entry that ends last */
	uint64_t last_start;
};

/* Read the entries as the decoder does; with @ss2 other than the table's
 * @ss, rewrite each in @ss2-byte sectors too.  Returns 0, or 1 (with a
 * note) when the table cannot be converted. */
static int scan_entries(struct plan *p, struct gpt_hdr *h, uint32_t ss,
			uint32_t ss2, struct gpt_span *sp)
{
	uint32_t i;

	sp->min_start = UINT64_MAX;
	sp->max_end = 0;
	sp->last = -1;
	sp->last_start = 0;
	for (i = 0; i < h->num_entries; i++) {
		uint8_t *ent = h->array + (uint64_t)i * h->entry_size;
		uint64_t first = get_le64(ent + 32), last = get_le64(ent + 40);
		uint64_t start, end;

		if (pt_guid_is_zero(ent))
			continue;
		/* Ignored by the decoder, and by every tool: left alone in
		 * the table's own units, but it has no meaning in others. */
		if (first > last || first < h->first_usable ||
		    last > h->last_usable) {
			if (ss2 == ss)
				continue;
			p->l->notes |= QF_LAYOUT_NOTE_UNUSUAL;
			return 1;
		}
		/* the caller checked the usable area is on the image */
		start = first * ss;
		end = (last + 1) * ss;
		if (ss2 != ss) {
			if (start % ss2 || end % ss2) {
				p->l->notes |= QF_LAYOUT_NOTE_UNALIGNED;
				return 1;
			}
			put_le64(ent + 32, start / ss2);
			put_le64(ent + 40, end / ss2 - 1);
		}
		if (start < sp->min_start)
			sp->min_start = start;
		if (end > sp->max_end) {
			sp->max_end = end;
			sp->last = (int)i;
			sp->last_start = start;
		}
	}
	return 0;
}

/* A protective entry for a disk past 2 TiB says 0xFFFFFFFF, as UEFI
 * asks. */
static uint32_t pmbr_sectors(uint64_t n)
{
	return n < 0xffffffffu ? (uint32_t)n : 0xffffffffu;
}

/* The protective MBR for the new table.  Converted, it has one 0xEE entry
 * from LBA 1 to the end.  Else only an 0xEE entry that reached the image's
 * end is resized: a hybrid MBR's other entries, and a protective entry
 * that covers only part of the disk, mean something to someone. */
static int gpt_pmbr(struct plan *p, uint8_t *mbr, uint64_t nsec2,
		    bool convert, bool *changed)
{
	const struct qf_ptable *pt = p->pt;
	uint64_t nsec = p->d.size / pt->sector_size;
	int i, slot = -1, nee = 0;

	for (i = 0; i < 4; i++) {
		struct mbr_entry m;
		uint32_t want;

		pt_mbr_entry(mbr, i, &m);
		if (m.type != 0xee)
			continue;
		nee++;
		slot = i;
		if (convert)
			continue;
		if ((m.sectors != 0xffffffffu &&
		     (uint64_t)m.start + m.sectors < nsec) ||
		    m.start >= nsec2) {
			p->l->notes |= QF_LAYOUT_NOTE_MBR_KEPT;
			continue;
		}
		want = pmbr_sectors(nsec2 - m.start);
		if (want != m.sectors) {
			lo_mbr_resize(mbr, i, 0, want);
			*changed = true;
		}
	}
	if (pt->hybrid_mbr)
		p->l->notes |= QF_LAYOUT_NOTE_MBR_KEPT;
	if (convert) {
		if (pt->hybrid_mbr || nee != 1) {
			p->l->notes |= QF_LAYOUT_NOTE_NO_CONVERT;
			return 1;
		}
		put_le32(mbr + MBR_ENTRIES_OFF + 16 * slot + 8, 1);
		lo_chs_put(mbr + MBR_ENTRIES_OFF + 16 * slot + 1, 1);
		lo_mbr_resize(mbr, slot, 0, pmbr_sectors(nsec2 - 1));
		*changed = true;
	}
	return 0;
}

static void clear(uint8_t *buf, uint64_t n, uint64_t a, uint64_t b)
{
	if (a < n)
		memset(buf + a, 0, (b < n ? b : n) - a);
}

/* Converted, the new head [0, @len) replaces the image's bytes there.
 * Only the image's own table may be overwritten, or zeros: anything else
 * could belong to a boot loader the new table must not destroy.  The
 * boot code before the MBR's table is carried over. */
static int check_head(struct plan *p, const struct gpt_hdr *h, uint32_t ss,
		      uint64_t asec, uint64_t len, struct qf_err *e)
{
	uint64_t n = len < p->d.size ? len : p->d.size;
	uint8_t *buf;
	int r;

	if (n <= MBR_SIZE)
		return 0;
	buf = qf_xmalloc(n);
	r = lo_read(p, buf, n, 0, e);
	if (r == 0) {
		clear(buf, n, ss, 2 * (uint64_t)ss);
		clear(buf, n, h->entries_lba * ss,
		      (h->entries_lba + asec) * ss);
		if (!qf_buf_is_zero(buf + MBR_SIZE, n - MBR_SIZE)) {
			p->l->notes |= QF_LAYOUT_NOTE_HEAD_DATA;
			r = 1;
		}
	}
	free(buf);
	return r;
}

/* The image's old backup GPT: the header where the primary says, and the
 * entries just before it where they normally are.  It is cleared so no
 * stale GPT is left in the middle of the target; a partition's bytes, or
 * the usable area, are never touched. */
static int clear_old_backup(struct plan *p, const struct gpt_hdr *h,
			    uint32_t ss, uint64_t asec,
			    const struct gpt_span *sp, struct qf_err *e)
{
	uint64_t lo, hi;

	if (h->alt_lba <= 1 || h->alt_lba >= p->d.size / ss)
		return 0;
	lo = (h->alt_lba > asec ? h->alt_lba - asec : 0) * ss;
	if (lo < (h->last_usable + 1) * ss)
		lo = (h->last_usable + 1) * ss;
	if (lo < sp->max_end)
		lo = sp->max_end;
	hi = (h->alt_lba + 1) * ss;
	return lo < hi ? lo_put(p, lo, hi - lo, NULL, e) : 0;
}

/* Zeros over the part of [@a, @b) at or past @from. */
static int clear_past(struct plan *p, uint64_t a, uint64_t b, uint64_t from,
		      struct qf_err *e)
{
	if (a < from)
		a = from;
	return a < b ? lo_put(p, a, b - a, NULL, e) : 0;
}

/* Rebuild the GPT for the target in @ss2-byte sectors (the table's own,
 * or the target's to convert it): the primary header's alternate and last
 * usable LBAs, the backup entries and header at the target's last LBAs,
 * the protective MBR and the grown partition; converted, the whole head
 * too.  Returns 0 (done, or left alone with a note), 1 when it cannot be
 * done (a note says why, nothing is patched), or a negative errno. */
static int gpt_fix(struct plan *p, uint32_t ss2, struct qf_err *e)
{
	const struct qf_ptable *pt = p->pt;
	struct qf_layout *l = p->l;
	uint32_t ss = pt->sector_size, hsize;
	bool convert = ss2 != ss, pmbr = false, grown = false, sig;
	uint64_t nsec = p->d.size / ss, nsec2 = p->target_size / ss2;
	uint64_t asec, asec2, fu2, lu2, elba2, hlen;
	uint8_t mbr[MBR_SIZE], *hdr, *hs = NULL, *head = NULL, *tail = NULL;
	struct gpt_span sp;
	struct gpt_hdr h;
	char why[192];
	int r;

	r = pt_gpt_load(&p->d, ss, 1, &h, &sig, why, sizeof(why), e);
	if (r == 0)
		return qf_err_set(e, EINVAL, N_("the primary GPT is not sound: %s"),
				  why);
	if (r < 0)
		return lo_miss(p, r, e);
	hdr = qf_xmalloc(ss);
	r = lo_read(p, hdr, ss, ss, e);
	if (r == 0)
		r = lo_read(p, mbr, MBR_SIZE, 0, e);
	if (r != 0)
		goto out;
	hsize = get_le32(hdr + 12);
	asec = div_up(h.array_bytes, ss);
	asec2 = div_up(h.array_bytes, ss2);
	/* Entries in the head, before the usable area, and that area on the
	 * image: else the new backup could land on something. */
	if (h.entries_lba < 2 || h.entries_lba + asec > h.first_usable ||
	    h.last_usable >= nsec || hsize > ss2) {
		l->notes |= QF_LAYOUT_NOTE_UNUSUAL;
		r = 1;
		goto out;
	}
	r = scan_entries(p, &h, ss, ss2, &sp);
	if (r != 0)
		goto out;
	elba2 = h.entries_lba;
	fu2 = h.first_usable;
	if (convert) {
		/* A gap the old table kept between its entries and the usable
		 * area is kept in bytes; without one there is none. */
		elba2 = 2;
		fu2 = 2 + asec2;
		if (h.first_usable > h.entries_lba + asec &&
		    div_up(h.first_usable * ss, ss2) > fu2)
			fu2 = div_up(h.first_usable * ss, ss2);
		if (sp.min_start != UINT64_MAX && fu2 * ss2 > sp.min_start) {
			l->notes |= QF_LAYOUT_NOTE_HEAD_DATA;
			r = 1;
			goto out;
		}
	}
	if (nsec2 < asec2 + 3 || nsec2 - 2 - asec2 < fu2 ||
	    (nsec2 - 1 - asec2) * ss2 < sp.max_end) {
		l->notes |= QF_LAYOUT_NOTE_NO_BACKUP_ROOM;
		r = 1;
		goto out;
	}
	lu2 = nsec2 - 2 - asec2;

	if (p->flags & QF_LAYOUT_GROW) {
		uint64_t end = (lu2 + 1) * ss2 / MiB * MiB;

		if (sp.last >= 0 && end > sp.max_end) {
			uint8_t *ent = h.array +
				       (uint64_t)sp.last * h.entry_size;

			put_le64(ent + 40, end / ss2 - 1);
			grown = true;
			l->adjust |= QF_ADJ_PART_GROWN;
			l->grown = sp.last + 1;
			l->grown_start = sp.last_start;
			l->grown_old_size = sp.max_end - sp.last_start;
			l->grown_size = end - sp.last_start;
		} else {
			l->notes |= QF_LAYOUT_NOTE_NO_ROOM;
		}
	}
	/* Same place, same units, nothing grown: the image is right as it is */
	if (!convert && !grown && p->target_size == p->d.size) {
		r = 0;
		goto out;
	}
	r = gpt_pmbr(p, mbr, nsec2, convert, &pmbr);
	if (r == 0 && convert)
		r = check_head(p, &h, ss, asec, (2 + asec2) * ss2, e);
	if (r != 0)
		goto out;

	/* Everything is known to fit: from here on only patches. */
	hs = qf_xcalloc(1, ss2);
	memcpy(hs, hdr, hsize);
	put_le64(hs + 24, 1);
	put_le64(hs + 32, nsec2 - 1);
	put_le64(hs + 40, fu2);
	put_le64(hs + 48, lu2);
	put_le64(hs + 72, elba2);
	put_le32(hs + 88, (uint32_t)crc32(0, h.array, (uInt)h.array_bytes));
	gpt_sign(hs, hsize);
	tail = qf_xcalloc(asec2 + 1, ss2);
	memcpy(tail, h.array, h.array_bytes);
	memcpy(tail + asec2 * ss2, hs, ss2);
	put_le64(tail + asec2 * ss2 + 24, nsec2 - 1);
	put_le64(tail + asec2 * ss2 + 32, 1);
	put_le64(tail + asec2 * ss2 + 72, nsec2 - 1 - asec2);
	gpt_sign(tail + asec2 * ss2, hsize);

	r = clear_old_backup(p, &h, ss, asec, &sp, e);
	if (r == 0 && convert) {
		hlen = (2 + asec2) * ss2;
		head = qf_xcalloc(1, hlen);
		memcpy(head, mbr, MBR_SIZE);
		memcpy(head + ss2, hs, ss2);
		memcpy(head + 2 * ss2, h.array, h.array_bytes);
		/* what is left of the old header and entries past the new */
		r = clear_past(p, ss, 2 * (uint64_t)ss, hlen, e);
		if (r == 0)
			r = clear_past(p, h.entries_lba * ss,
				       (h.entries_lba + asec) * ss, hlen, e);
		if (r == 0)
			r = lo_put(p, 0, hlen, head, e);
	} else if (r == 0) {
		if (pmbr)
			r = lo_put(p, 0, MBR_SIZE, mbr, e);
		if (r == 0)
			r = lo_put(p, ss, ss, hs, e);
		if (r == 0 && grown)
			r = lo_put(p, h.entries_lba * ss, h.array_bytes,
				   h.array, e);
	}
	if (r == 0)
		r = lo_put(p, (nsec2 - 1 - asec2) * ss2, (asec2 + 1) * ss2,
			   tail, e);
	if (r == 0) {
		if (pmbr)
			l->adjust |= QF_ADJ_PMBR_RESIZED;
		if (convert || h.alt_lba != nsec2 - 1)
			l->adjust |= QF_ADJ_BACKUP_MOVED;
		if (convert)
			l->adjust |= QF_ADJ_SECTOR_SIZE;
	}
out:
	free(hdr);
	free(hs);
	free(head);
	free(tail);
	pt_gpt_hdr_free(&h);
	return r;
}

/* Convert when the target's sector size differs; when that cannot be
 * done, FORCE still gets the fix-ups in the table's own units. */
int lo_plan_gpt(struct plan *p, bool mismatch, struct qf_err *e)
{
	struct qf_layout *l = p->l;
	int r;

	if (p->pt->used_backup) {
		l->notes |= QF_LAYOUT_NOTE_BACKUP_ONLY;
		l->sector_mismatch = mismatch;
		return 0;
	}
	if (mismatch) {
		r = gpt_fix(p, p->target_lbs, e);
		if (r != 1)
			return r;
		lo_free_patches(l);
		p->cap = 0;
		l->adjust = 0;
		l->grown = 0;
		l->grown_start = l->grown_old_size = l->grown_size = 0;
		l->sector_mismatch = true;
		if (!(p->flags & QF_LAYOUT_FORCE))
			return 0;
	}
	r = gpt_fix(p, p->pt->sector_size, e);
	return r < 0 ? r : 0;
}
