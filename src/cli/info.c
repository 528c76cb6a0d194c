/* info.c - what qflash -info and -list-parts print: the image's header,
 * backing chain, snapshots and bmap, and its partition table, as text or
 * as one JSON object. */
#include "config.h"

#include "cli/info.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "i18n.h"

void cli_info_json(struct qf_image *img)
{
	int n = qf_image_layer_count(img);

	printf("{\"image\":");
	qf_json_string(stdout, qf_image_name(img));
	printf(",\"virtual_size\":%" PRIu64 ",\"chain\":[", qf_image_size(img));
	for (int i = 0; i < n; i++) {
		const struct qf_layer_info *l = qf_image_layer(img, i);
		printf("%s{\"name\":", i ? "," : "");
		qf_json_string(stdout, l->name);
		printf(",\"format\":");
		qf_json_string(stdout, l->format);
		printf(",\"virtual_size\":%" PRIu64 ",\"file_size\":%" PRIu64,
		       l->virtual_size, l->file_size);
		if (!strcmp(l->format, "qcow2")) {
			printf(",\"version\":%u,\"cluster_size\":%u,\"refcount_bits\":%u"
			       ",\"compression\":",
			       l->version, l->cluster_size, l->refcount_bits);
			if (l->compression) qf_json_string(stdout, l->compression); else fputs("null", stdout);
			printf(",\"incompatible_features\":%" PRIu64
			       ",\"compatible_features\":%" PRIu64
			       ",\"autoclear_features\":%" PRIu64
			       ",\"dirty\":%s,\"corrupt\":%s,\"extended_l2\":%s"
			       ",\"lazy_refcounts\":%s,\"snapshots\":%u",
			       l->incompatible, l->compatible,
			       l->autoclear, l->dirty ? "true" : "false",
			       l->corrupt ? "true" : "false",
			       l->extended_l2 ? "true" : "false",
			       l->lazy_refcounts ? "true" : "false",
			       l->nb_snapshots);
			printf(",\"backing_file\":");
			if (l->backing_name) qf_json_string(stdout, l->backing_name); else fputs("null", stdout);
			printf(",\"backing_format\":");
			if (l->backing_format) qf_json_string(stdout, l->backing_format); else fputs("null", stdout);
			printf(",\"data_file\":");
			if (l->data_file) qf_json_string(stdout, l->data_file); else fputs("null", stdout);
			printf(",\"data_file_raw\":%s", l->data_file_raw ? "true" : "false");
		}
		putchar('}');
	}
	printf("],\"snapshots\":[");
	for (int i = 0; i < qf_image_snapshot_count(img); i++) {
		const struct qf_snapshot_info *s = qf_image_snapshot(img, i);
		printf("%s{\"id\":", i ? "," : "");
		qf_json_string(stdout, s->id);
		printf(",\"name\":");
		qf_json_string(stdout, s->name);
		printf(",\"vm_state_size\":%" PRIu64 ",\"disk_size\":%" PRIu64
		       ",\"date_sec\":%" PRId64 ",\"date_nsec\":%u"
		       ",\"vm_clock_nsec\":%" PRIu64 ",\"l1_size\":%u}",
		       s->vm_state_size, s->disk_size, s->date_sec, s->date_nsec,
		       s->vm_clock_nsec, s->l1_size);
	}
	printf("],\"snapshot_selected\":");
	if (qf_image_snapshot_selected(img) >= 0)
		qf_json_string(stdout, qf_image_snapshot(img, qf_image_snapshot_selected(img))->id);
	else
		fputs("null", stdout);
	printf("}\n");
}

void cli_info_text(struct qf_image *img)
{
	char b1[32], b2[32];
	int n = qf_image_layer_count(img);

	printf(_("image:          %s\n"), qf_image_name(img));
	printf(_("virtual size:   %s (%" PRIu64 " bytes)\n"),
	       qf_size_str(qf_image_size(img), b1, sizeof(b1)), qf_image_size(img));
	for (int i = 0; i < n; i++) {
		const struct qf_layer_info *l = qf_image_layer(img, i);
		if (i == 0)
			printf(_("format:         %s\n"), l->format);
		else
			printf(_("backing layer %d: %s (%s)\n"), i, l->name, l->format);
		if (i)
			printf(_("  virtual size: %s, file size: %s\n"),
			       qf_size_str(l->virtual_size, b1, sizeof(b1)),
			       qf_size_str(l->file_size, b2, sizeof(b2)));
		else
			printf(_("file size:      %s\n"), qf_size_str(l->file_size, b1, sizeof(b1)));
		if (strcmp(l->format, "qcow2"))
			continue;
		printf(_("%sversion:        %u\n"), i ? "  " : "", l->version);
		printf(_("%scluster size:   %u\n"), i ? "  " : "", l->cluster_size);
		printf(_("%scompression:    %s\n"), i ? "  " : "",
		       l->compression ? l->compression : _("none"));
		printf(_("%srefcount bits:  %u\n"), i ? "  " : "", l->refcount_bits);
		printf(_("%sfeatures:       %s%s%s%s%s\n"), i ? "  " : "",
		       l->extended_l2 ? "extended_l2 " : "",
		       l->lazy_refcounts ? "lazy_refcounts " : "",
		       l->data_file ? "data_file " : "",
		       l->dirty ? _("DIRTY ") : "", l->corrupt ? _("CORRUPT ") : "");
		if (l->backing_name)
			printf(_("%sbacking file:   %s%s%s%s\n"), i ? "  " : "",
			       l->backing_name, l->backing_format ? " (" : "",
			       l->backing_format ? l->backing_format : "",
			       l->backing_format ? ")" : "");
		if (l->data_file)
			printf(_("%sdata file:      %s%s\n"), i ? "  " : "", l->data_file,
			       l->data_file_raw ? _(" (raw)") : "");
	}
	{
		uint64_t mapped;
		bool checked;
		const char *bm = qf_image_bmap(img, &mapped, &checked);
		if (bm)
			printf(_("bmap:           %s (%s mapped%s)\n"), bm,
			       qf_size_str(mapped, b1, sizeof(b1)),
			       checked ? _(", checked per range") : "");
	}
	if (qf_image_snapshot_count(img)) {
		printf(_("snapshots:\n"));
		printf("  %-6s %-20s %12s %s\n", _("ID"), _("NAME"), _("VM STATE"), _("DATE"));
		for (int i = 0; i < qf_image_snapshot_count(img); i++) {
			const struct qf_snapshot_info *s = qf_image_snapshot(img, i);
			char date[32];
			time_t t = (time_t)s->date_sec;
			struct tm tm;
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
			printf("  %-6s %-20s %12s %s\n", s->id, s->name,
			       qf_size_str(s->vm_state_size, b1, sizeof(b1)), date);
		}
	}
}

void cli_parts(struct qf_image *img, const struct qf_ptable *pt, bool json)
{
	char b[32];

	if (json) {
		printf("{\"image\":");
		qf_json_string(stdout, qf_image_name(img));
		printf(",\"table\":");
		qf_json_string(stdout, pt->kind);
		printf(",\"disk_id\":");
		qf_json_string(stdout, pt->disk_id);
		printf(",\"sector_size\":%u,\"partitions\":[", pt->sector_size);
		for (int i = 0; i < pt->count; i++) {
			const struct qf_partition *p = &pt->parts[i];
			uint32_t ss = pt->sector_size ? pt->sector_size : 512;
			printf("%s{\"number\":%d,\"start\":%" PRIu64 ",\"end\":%" PRIu64
			       ",\"size\":%" PRIu64 ",\"start_sector\":%" PRIu64
			       ",\"end_sector\":%" PRIu64 ",\"sectors\":%" PRIu64 ",\"type\":",
			       i ? "," : "", p->number, p->start, p->start + p->size - 1,
			       p->size, p->start / ss, (p->start + p->size) / ss - 1,
			       p->size / ss);
			qf_json_string(stdout, p->type);
			printf(",\"type_name\":");
			qf_json_string(stdout, p->type_name);
			printf(",\"name\":");
			qf_json_string(stdout, p->name);
			printf(",\"uuid\":");
			qf_json_string(stdout, p->uuid);
			printf(",\"bootable\":%s,\"logical\":%s,\"fs_type\":",
			       p->bootable ? "true" : "false", p->logical ? "true" : "false");
			qf_json_string(stdout, p->fs_type);
			printf(",\"fs_label\":");
			qf_json_string(stdout, p->fs_label);
			printf(",\"fs_uuid\":");
			qf_json_string(stdout, p->fs_uuid);
			putchar('}');
		}
		printf("]}\n");
		return;
	}
	if (!pt->kind[0]) {
		printf(_("%s: no partition table\n"), qf_image_name(img));
		return;
	}
	printf(_("Partition table: %s, disk id %s, %u-byte sectors\n"),
	       !strcmp(pt->kind, "dos") ? "MBR" : "GPT", pt->disk_id, pt->sector_size);
	printf("%-3s %12s %12s %10s  %-24s %-16s %-8s %s\n", "#", _("START"),
	       _("END"), _("SIZE"), _("TYPE"), _("NAME"), _("FS"), _("LABEL"));
	for (int i = 0; i < pt->count; i++) {
		const struct qf_partition *p = &pt->parts[i];
		uint32_t ss = pt->sector_size ? pt->sector_size : 512;
		printf("%-3d %12" PRIu64 " %12" PRIu64 " %10s  %-24.24s %-16.16s %-8s %s\n",
		       p->number, p->start / ss, (p->start + p->size) / ss - 1,
		       qf_size_str(p->size, b, sizeof(b)), p->type_name, p->name,
		       p->fs_type, p->fs_label);
	}
}
