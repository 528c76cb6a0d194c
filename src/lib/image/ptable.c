/* ptable.c - partition tables: the MBR (mbr.c) or the GPT (gpt.c) of a
 * virtual disk, turned into a list of partitions and the filesystems
 * libblkid finds on them (fsprobe.c).  Every structure is read through a
 * callback, so tables built in memory decode exactly like images do. */
#include "image/ptable_int.h"
#include "image/image_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int cmp_number(const void *a, const void *b)
{
	const struct qf_partition *x = a, *y = b;
	return (x->number > y->number) - (x->number < y->number);
}


static void probe_all(struct dec *d)
{
	uint64_t *offs = NULL;
	int i;

	if (d->peek && d->pt->count) {
		offs = qf_xcalloc((size_t)d->pt->count, sizeof(*offs));
		for (i = 0; i < d->pt->count; i++)
			offs[i] = d->pt->parts[i].start;
		d->peek(d->ctx, offs, (size_t)d->pt->count);
	}

	for (i = 0; i < d->pt->count; i++) {
		struct qf_partition *p = &d->pt->parts[i];
		struct qf_fs_info fs;

		/* An extended partition only holds EBRs and logicals. */
		if (pt_part_is_extended(d->pt, p))
			continue;
		if (qf_fs_probe(d->read, d->ctx, p->start, p->size, &fs) < 0)
			continue;
		snprintf(p->fs_type, sizeof(p->fs_type), "%s", fs.type);
		snprintf(p->fs_label, sizeof(p->fs_label), "%s", fs.label);
		snprintf(p->fs_uuid, sizeof(p->fs_uuid), "%s", fs.uuid);
	}
	if (offs) {
		d->peek(d->ctx, NULL, 0);
		free(offs);
	}
}


/* ------------------------------------------------------------ entry points */

/* The decoder behind every entry point; d->pt is made here. */
static int decode(struct dec *d, struct qf_ptable **out, struct qf_err *e)
{
	uint8_t sec[MBR_SIZE];
	struct qf_ptable *pt;
	bool pmbr = false, others = false;
	int i, r = 0;

	*out = NULL;
	pt = d->pt = qf_xcalloc(1, sizeof(*pt));
	pt->sector_size = MBR_SIZE;
	pt->tail_start = d->size;
	if (d->size < MBR_SIZE)
		goto done;
	r = d->read(d->ctx, sec, MBR_SIZE, 0, e);
	if (r < 0)
		goto fail;
	if (!pt_mbr_has_signature(sec))
		goto done;
	for (i = 0; i < 4; i++) {
		struct mbr_entry m;

		pt_mbr_entry(sec, i, &m);
		/* only 0x00 and 0x80 are boot flags: anything else is code */
		if (m.boot & 0x7f)
			goto done;
		if (m.type == 0xee)
			pmbr = true;
		else if (pt_mbr_used(&m))
			others = true;
	}

	if (pmbr) {
		static const uint32_t sizes[] = { 512, 4096 };
		struct gpt_hdr h;
		char why[512], first_why[512] = "";
		bool backup, seen, any_seen = false;
		size_t s;

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			r = pt_gpt_find(d, sizes[s], &h, &backup, &seen, why,
				     sizeof(why), e);
			if (r < 0)
				goto fail;
			if (r == 1) {
				pt->hybrid_mbr = others;
				r = pt_gpt_decode(d, sizes[s], &h, backup, why);
				pt_gpt_hdr_free(&h);
				if (r < 0)
					goto fail;
				goto probe;
			}
			if (seen && !any_seen)
				snprintf(first_why, sizeof(first_why), "%s",
					 why);
			any_seen |= seen;
		}
		if (!any_seen)
			snprintf(first_why, sizeof(first_why), "%s",
				 _("the protective MBR announces a GPT but no GPT header was found"));
		r = qf_err_set(e, EINVAL, N_("GPT damaged: %s"), first_why);
		goto fail;
	}
	if (pt_looks_like_boot_sector(sec))
		goto done;
	r = pt_mbr_decode(d, sec, e);
	if (r < 0)
		goto fail;
probe:
	if (d->probe_fs)
		probe_all(d);
	if (pt->count > 1)
		qsort(pt->parts, pt->count, sizeof(pt->parts[0]), cmp_number);
done:
	*out = pt;
	return 0;
fail:
	qf_ptable_free(pt);
	return r;
}

int qf_ptable_decode(qf_disk_read_fn read, void *ctx, uint64_t disk_size,
		     struct qf_ptable **out, qf_warn_fn warn, void *warn_ctx,
		     struct qf_err *e)
{
	struct dec d = {
		.read = read, .ctx = ctx, .size = disk_size,
		.warn = { .warn = warn, .warn_ctx = warn_ctx },
		.probe_fs = true,
	};

	return decode(&d, out, e);
}

static int image_read(void *ctx, void *buf, size_t len, uint64_t off,
		      struct qf_err *e)
{
	return qf_image_read(ctx, buf, len, off, e);
}

static void image_peek(void *ctx, const uint64_t *offs, size_t n)
{
	qf_image_peek(ctx, offs, n);
}

int qf_ptable_read(struct qf_image *img, struct qf_ptable **out,
		   qf_warn_fn warn, void *warn_ctx, struct qf_err *e)
{
	struct dec d = {
		.read = image_read, .ctx = img, .size = qf_image_size(img),
		.warn = { .warn = warn, .warn_ctx = warn_ctx },
		.probe_fs = true, .peek = image_peek,
	};

	return decode(&d, out, e);
}

int qf_ptable_read_layout(struct qf_image *img, struct qf_ptable **out,
			  struct qf_err *e)
{
	struct dec d = {
		.read = image_read, .ctx = img, .size = qf_image_size(img),
	};

	return decode(&d, out, e);
}

void qf_ptable_free(struct qf_ptable *pt)
{
	if (!pt)
		return;
	free(pt->parts);
	free(pt);
}

const struct qf_partition *qf_ptable_find(const struct qf_ptable *pt,
					  int number)
{
	int i;

	if (!pt)
		return NULL;
	for (i = 0; i < pt->count; i++)
		if (pt->parts[i].number == number)
			return &pt->parts[i];
	return NULL;
}

