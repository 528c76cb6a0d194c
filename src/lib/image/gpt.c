/* gpt.c - the GUID partition table: the primary header and entries, or
 * the backup when the primary is damaged, each checked (signature, CRCs,
 * self-LBA, bounds) before a partition is taken from it. */
#include "image/ptable_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void pt_gpt_hdr_free(struct gpt_hdr *h)
{
	free(h->array);
	h->array = NULL;
}

static uint64_t round_up(uint64_t v, uint32_t to)
{
	return (v + to - 1) / to * to;
}

int pt_gpt_load(struct dec *d, uint32_t ss, uint64_t lba,
		struct gpt_hdr *h, bool *sig, char *why, size_t wlen,
		struct qf_err *e)
{
	uint8_t *buf = NULL;
	uint64_t off, aoff;
	uint32_t hsize, crc;
	int r = 0;

	memset(h, 0, sizeof(*h));
	*sig = false;
	h->lba = lba;
	if (mul_overflows(lba, ss, &off) || !range_inside(off, ss, d->size)) {
		snprintf(why, wlen, _("LBA %llu is outside the disk"),
			 (unsigned long long)lba);
		goto out;
	}
	buf = qf_xmalloc(ss);
	r = d->read(d->ctx, buf, ss, off, e);
	if (r < 0)
		goto out;
	if (memcmp(buf, "EFI PART", 8) != 0) {
		snprintf(why, wlen, _("no GPT signature at LBA %llu"),
			 (unsigned long long)lba);
		goto out;
	}
	*sig = true;
	h->alt_lba = get_le64(buf + 32);
	hsize = get_le32(buf + 12);
	if (hsize < GPT_HEADER_MIN || hsize > ss) {
		snprintf(why, wlen, _("header size %u is invalid"), hsize);
		goto out;
	}
	crc = get_le32(buf + 16);
	put_le32(buf + 16, 0);
	if (crc32(0, buf, hsize) != crc) {
		snprintf(why, wlen, _("header CRC mismatch at LBA %llu"),
			 (unsigned long long)lba);
		goto out;
	}
	if (get_le64(buf + 24) != lba) {
		snprintf(why, wlen, _("header at LBA %llu says it is at LBA %llu"),
			 (unsigned long long)lba,
			 (unsigned long long)get_le64(buf + 24));
		goto out;
	}
	h->first_usable = get_le64(buf + 40);
	h->last_usable = get_le64(buf + 48);
	memcpy(h->disk_guid, buf + 56, 16);
	h->entries_lba = get_le64(buf + 72);
	h->num_entries = get_le32(buf + 80);
	h->entry_size = get_le32(buf + 84);
	crc = get_le32(buf + 88);
	if (h->first_usable > h->last_usable) {
		snprintf(why, wlen, _("usable area %llu-%llu is empty"),
			 (unsigned long long)h->first_usable,
			 (unsigned long long)h->last_usable);
		goto out;
	}
	if (h->entry_size < GPT_ENTRY_MIN || h->entry_size % 8 != 0) {
		snprintf(why, wlen, _("entry size %u is invalid"),
			 h->entry_size);
		goto out;
	}
	h->array_bytes = (uint64_t)h->num_entries * h->entry_size;
	if (h->num_entries > GPT_MAX_ENTRIES ||
	    h->array_bytes > GPT_MAX_ARRAY) {
		snprintf(why, wlen, _("too many entries (%u of %u bytes)"),
			 h->num_entries, h->entry_size);
		goto out;
	}
	if (mul_overflows(h->entries_lba, ss, &aoff) ||
	    !range_inside(aoff, h->array_bytes, d->size)) {
		snprintf(why, wlen, _("entry array at LBA %llu is outside the disk"),
			 (unsigned long long)h->entries_lba);
		goto out;
	}
	h->array = qf_xmalloc(h->array_bytes);
	r = d->read(d->ctx, h->array, h->array_bytes, aoff, e);
	if (r < 0)
		goto out;
	if (crc32(0, h->array, h->array_bytes) != crc) {
		snprintf(why, wlen, _("entry array CRC mismatch (header at LBA %llu)"),
			 (unsigned long long)lba);
		goto out;
	}
	r = 1;
out:
	free(buf);
	if (r != 1)
		pt_gpt_hdr_free(h);
	return r;
}

int pt_gpt_find(struct dec *d, uint32_t ss, struct gpt_hdr *h,
		bool *backup, bool *seen, char *why, size_t wlen,
		struct qf_err *e)
{
	char pwhy[192], bwhy[192];
	uint64_t cand[2];
	int nc = 0, i, r;
	bool psig, bsig;
	uint64_t nsec = d->size / ss;

	*backup = false;
	r = pt_gpt_load(d, ss, 1, h, &psig, pwhy, sizeof(pwhy), e);
	*seen = psig;
	if (r != 0)
		return r;
	if (psig && h->alt_lba > 1 && h->alt_lba < nsec)
		cand[nc++] = h->alt_lba;
	if (nsec > 2 && (nc == 0 || cand[0] != nsec - 1))
		cand[nc++] = nsec - 1;
	snprintf(bwhy, sizeof(bwhy), _("not found"));
	for (i = 0; i < nc; i++) {
		char w[192];

		r = pt_gpt_load(d, ss, cand[i], h, &bsig, w, sizeof(w), e);
		if (r < 0)
			return r;
		if (r == 1) {
			*backup = true;
			*seen = true;
			snprintf(why, wlen, "%s", pwhy);
			return 1;
		}
		/* Keep the reason from a header that was at least there. */
		if (bsig || i == 0)
			snprintf(bwhy, sizeof(bwhy), "%s", w);
		*seen |= bsig;
	}
	snprintf(why, wlen, _("primary header: %s; backup header: %s"),
		 pwhy, bwhy);
	return 0;
}

/* Where the backup GPT begins, for tail_start: from the backup header if
 * it can be read, else estimated from the primary (entries just before the
 * alternate header).  The disk end means nothing is there. */
static uint64_t gpt_tail(struct dec *d, uint32_t ss, const struct gpt_hdr *h,
			 bool backup)
{
	uint64_t nsec = d->size / ss, lba, off;
	struct gpt_hdr alt;
	struct qf_err e2 = { 0 };
	char why[192];
	bool sig;

	if (backup) {
		lba = h->lba < h->entries_lba ? h->lba : h->entries_lba;
	} else if (h->alt_lba > 1 && h->alt_lba < nsec &&
		   pt_gpt_load(d, ss, h->alt_lba, &alt, &sig, why, sizeof(why),
			    &e2) == 1) {
		lba = alt.lba < alt.entries_lba ? alt.lba : alt.entries_lba;
		pt_gpt_hdr_free(&alt);
	} else if (h->alt_lba > 1 && h->alt_lba < nsec) {
		uint64_t asec = round_up(h->array_bytes, ss) / ss;
		lba = h->alt_lba > asec ? h->alt_lba - asec : h->alt_lba;
		if (lba <= h->last_usable)
			lba = h->alt_lba;
	} else {
		return d->size;
	}
	if (mul_overflows(lba, ss, &off) || off > d->size)
		return d->size;
	return off;
}

int pt_gpt_decode(struct dec *d, uint32_t ss, const struct gpt_hdr *h,
		  bool backup, const char *why)
{
	struct qf_ptable *pt = d->pt;
	uint64_t head = UINT64_MAX, table_end, usable_off, aoff;
	uint32_t i;

	snprintf(pt->kind, sizeof(pt->kind), "gpt");
	pt_guid_str(h->disk_guid, pt->disk_id, sizeof(pt->disk_id));
	pt->sector_size = ss;
	pt->used_backup = backup;
	if (backup)
		qf_warn(&d->warn, _("the primary GPT is damaged (%s); using the backup GPT at LBA %llu"),
			why, (unsigned long long)h->lba);

	for (i = 0; i < h->num_entries; i++) {
		const uint8_t *ent = h->array + (uint64_t)i * h->entry_size;
		uint64_t first = get_le64(ent + 32), last = get_le64(ent + 40);
		uint64_t start, size;
		struct qf_partition *p;

		if (pt_guid_is_zero(ent))
			continue;
		if (first > last || first < h->first_usable ||
		    last > h->last_usable) {
			qf_warn(&d->warn, _("GPT partition %u (LBA %llu-%llu) is outside the usable area; ignored"),
				i + 1, (unsigned long long)first,
				(unsigned long long)last);
			continue;
		}
		if (!pt_sectors_inside(d, first, last - first + 1, ss, &start,
				    &size)) {
			qf_warn(&d->warn, _("GPT partition %u (LBA %llu-%llu) lies outside the disk; ignored"),
				i + 1, (unsigned long long)first,
				(unsigned long long)last);
			continue;
		}
		p = pt_add_part(d);
		p->number = (int)i + 1;
		p->start = start;
		p->size = size;
		pt_guid_str(ent, p->type, sizeof(p->type));
		snprintf(p->type_name, sizeof(p->type_name), "%s",
			 pt_gpt_type_name(p->type));
		pt_utf16le_to_utf8(ent + GPT_NAME_OFF, GPT_NAME_UNITS, p->name,
				sizeof(p->name));
		pt_guid_str(ent + 16, p->uuid, sizeof(p->uuid));
		/* attribute bit 2: legacy BIOS bootable */
		p->bootable = (get_le64(ent + 48) & 4) != 0;
		if (start < head)
			head = start;
	}

	/* The primary array may have to be assumed where it normally is when
	 * only the backup could be read. */
	if (backup || mul_overflows(h->entries_lba, ss, &aoff))
		aoff = 2 * (uint64_t)ss;
	if (add_overflows(aoff, round_up(h->array_bytes, ss), &table_end))
		table_end = d->size;
	if (table_end < 2 * (uint64_t)ss)
		table_end = 2 * (uint64_t)ss;
	if (head == UINT64_MAX) {
		if (mul_overflows(h->first_usable, ss, &usable_off))
			usable_off = d->size;
		head = usable_off;
	}
	pt->head_end = head > table_end ? head : table_end;
	if (pt->head_end > d->size)
		pt->head_end = d->size;
	pt->tail_start = gpt_tail(d, ss, h, backup);
	if (pt->tail_start < pt->head_end)
		pt->tail_start = pt->head_end;
	return 0;
}

