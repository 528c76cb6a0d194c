/* mbr.c - the MBR of a disk and its chain of extended boot records, in
 * Linux's numbering (primaries 1-4, logicals from 5). */
#include "image/ptable_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pt_mbr_entry(const uint8_t *sec, int i, struct mbr_entry *m)
{
	const uint8_t *p = sec + MBR_ENTRIES_OFF + 16 * i;

	m->boot = p[0];
	m->type = p[4];
	m->start = get_le32(p + 8);
	m->sectors = get_le32(p + 12);
}

bool pt_mbr_used(const struct mbr_entry *m)
{
	return m->type != 0 && m->sectors != 0;
}

bool pt_mbr_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

bool pt_mbr_has_signature(const uint8_t *sec)
{
	return sec[MBR_SIG_OFF] == 0x55 && sec[MBR_SIG_OFF + 1] == 0xaa;
}

bool pt_looks_like_boot_sector(const uint8_t *sec)
{
	uint16_t bps = get_le16(sec + 11);

	if (sec[0] != 0xeb && sec[0] != 0xe9)
		return false;
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096)
		return false;
	return memcmp(sec + 54, "FAT", 3) == 0 ||
	       memcmp(sec + 82, "FAT", 3) == 0 ||
	       memcmp(sec + 3, "NTFS    ", 8) == 0 ||
	       memcmp(sec + 3, "EXFAT   ", 8) == 0;
}

static bool mbr_add(struct dec *d, int number, uint64_t lba,
		    const struct mbr_entry *m, bool logical)
{
	struct qf_partition *p;
	uint64_t start, size;

	if (!pt_sectors_inside(d, lba, m->sectors, MBR_SIZE, &start, &size)) {
		qf_warn(&d->warn, _("partition %d (sectors %llu+%lu) lies outside the disk; ignored"),
			number, (unsigned long long)lba,
			(unsigned long)m->sectors);
		return false;
	}
	p = pt_add_part(d);
	p->number = number;
	p->start = start;
	p->size = size;
	snprintf(p->type, sizeof(p->type), "0x%02x", m->type);
	snprintf(p->type_name, sizeof(p->type_name), "%s",
		 pt_mbr_type_name(m->type));
	p->bootable = m->boot == 0x80;
	p->logical = logical;
	return true;
}

void pt_ebr_slots(const uint8_t *sec, int *data, int *link)
{
	struct mbr_entry m;
	int i;

	*data = *link = -1;
	for (i = 0; i < 4; i++) {
		pt_mbr_entry(sec, i, &m);
		if (!pt_mbr_used(&m))
			continue;
		if (pt_mbr_extended(m.type)) {
			if (*link < 0)
				*link = i;
		} else if (*data < 0) {
			*data = i;
		}
	}
}

/* Each EBR holds one logical partition (start relative to that EBR) and a
 * link to the next EBR (relative to the start of the extended partition).
 * The chain comes from the disk, so it is bounded, loop-checked and every
 * EBR must lie on the disk; a bad link ends the chain with a warning. */
int pt_mbr_walk_ebrs(struct dec *d, uint64_t ext_lba, int *next,
		     pt_ebr_fn fn, void *arg, struct qf_err *e)
{
	uint64_t seen[MBR_MAX_LOGICAL];
	uint8_t sec[MBR_SIZE];
	uint64_t ebr = ext_lba;
	int n = 0;

	for (;;) {
		struct mbr_entry m;
		uint64_t off;
		int i, r, data, link;

		for (i = 0; i < n; i++) {
			if (seen[i] == ebr) {
				qf_warn(&d->warn, _("extended partition chain loops back to sector %llu; stopped there"),
					(unsigned long long)ebr);
				return 0;
			}
		}
		if (n == MBR_MAX_LOGICAL) {
			qf_warn(&d->warn, _("more than %d extended boot records; the rest are ignored"),
				MBR_MAX_LOGICAL);
			return 0;
		}
		seen[n++] = ebr;
		if (mul_overflows(ebr, MBR_SIZE, &off) ||
		    !range_inside(off, MBR_SIZE, d->size)) {
			qf_warn(&d->warn, _("extended boot record at sector %llu is outside the disk; chain stopped"),
				(unsigned long long)ebr);
			return 0;
		}
		r = d->read(d->ctx, sec, MBR_SIZE, off, e);
		if (r < 0)
			return r;
		if (!pt_mbr_has_signature(sec)) {
			qf_warn(&d->warn, _("extended boot record at sector %llu has no 0x55AA signature; chain stopped"),
				(unsigned long long)ebr);
			return 0;
		}
		pt_ebr_slots(sec, &data, &link);
		r = fn(arg, ebr, sec, data >= 0 ? (*next)++ : 0);
		if (r != 0)
			return r < 0 ? r : 0;
		if (link < 0)
			return 0;
		pt_mbr_entry(sec, link, &m);
		ebr = ext_lba + m.start;
	}
}

static int add_logical(void *arg, uint64_t ebr, const uint8_t *sec,
		       int number)
{
	struct mbr_entry m;
	int data, link;

	if (number == 0)
		return 0;
	pt_ebr_slots(sec, &data, &link);
	pt_mbr_entry(sec, data, &m);
	mbr_add(arg, number, ebr + m.start, &m, true);
	return 0;
}

int pt_mbr_decode(struct dec *d, const uint8_t *sec, struct qf_err *e)
{
	struct qf_ptable *pt = d->pt;
	int i, next = 5, r;
	uint64_t head = UINT64_MAX;

	snprintf(pt->kind, sizeof(pt->kind), "dos");
	snprintf(pt->disk_id, sizeof(pt->disk_id), "0x%08x",
		 get_le32(sec + MBR_DISK_ID_OFF));
	for (i = 0; i < 4; i++) {
		struct mbr_entry m;

		pt_mbr_entry(sec, i, &m);
		if (!pt_mbr_used(&m))
			continue;
		if (!mbr_add(d, i + 1, m.start, &m, false))
			continue;
		if (pt_mbr_extended(m.type)) {
			r = pt_mbr_walk_ebrs(d, m.start, &next, add_logical, d,
					      e);
			if (r < 0)
				return r;
		}
	}
	for (i = 0; i < pt->count; i++)
		if (pt->parts[i].start < head)
			head = pt->parts[i].start;
	pt->head_end = head == UINT64_MAX || head < MBR_SIZE ? MBR_SIZE : head;
	return 0;
}

bool pt_part_is_extended(const struct qf_ptable *pt,
			 const struct qf_partition *p)
{
	return !p->logical && strcmp(pt->kind, "dos") == 0 &&
	       pt_mbr_extended((uint8_t)strtoul(p->type, NULL, 16));
}
