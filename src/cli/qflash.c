/* qflash.c - the scripted front end.  Parses the flags (those of the tool
 * qflash started from, plus new ones), opens the image, prints information
 * or configures a job and watches its progress.  All image and device I/O
 * happens in the library. */
#include "config.h"

#include "qflash.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "i18n.h"
#include "cli/cache.h"

enum { EXIT_USAGE = 2 };

struct wpart {
	int number;
	char *path;
};

static struct {
	const char *src;
	const char **dst;
	int ndst;
	bool list_parts, info, json, debug, force, verify, verify_only;
	bool direct, assume_zeroed, insecure, exact, grow, allow_remote;
	bool hash_source, no_bmap;
	const char *sha256, *bmap, *member;
	const char *write_parts;
	struct wpart *parts;         /* -write-parts, parsed: */
	int nparts;
	char *parts_spec;            /*   the paths point into this copy */
	const char *snapshot;
	enum qf_format format;
	const char *log;
	const char *cacert;
	const char *cache;
	uint64_t cache_max;
	const char **headers;
	int nheaders;
	int threads;
} opt;

static volatile sig_atomic_t got_signal;


static void on_signal(int sig)
{
	got_signal = sig;
}

/* One row per flag: the table drives parsing and --help alike. */
enum arg { ARG_NONE, ARG_VALUE };
struct flag {
	const char *name;
	enum arg arg;
	const char *metavar;
	const char *help;
};

static const struct flag flags[] = {
	{ "src", ARG_VALUE, N_("IMAGE"), N_("image to read: a qcow2 file, a raw file with -format raw, or an http(s) URL") },
	{ "dst", ARG_VALUE, N_("TARGET"), N_("write the whole virtual disk to TARGET (file or block device); repeat for several") },
	{ "list-parts", ARG_NONE, NULL, N_("print the image's partition table") },
	{ "write-parts", ARG_VALUE, N_("N=TARGET,..."), N_("write partition N of the image to TARGET") },
	{ "info", ARG_NONE, NULL, N_("print the image header, backing chain and snapshots") },
	{ "json", ARG_NONE, NULL, N_("print -info and -list-parts as JSON; progress as JSON lines") },
	{ "snapshot", ARG_VALUE, N_("NAME|ID"), N_("read an internal snapshot instead of the active state") },
	{ "format", ARG_VALUE, N_("FMT"), N_("source format: auto (default), qcow2, raw, gzip, zstd, xz, bzip2, lz4, zip") },
	{ "force", ARG_NONE, NULL, N_("read images marked corrupt; write a drive whose sector size the image's table cannot be converted to") },
	{ "verify", ARG_NONE, NULL, N_("read every target back and compare after writing") },
	{ "verify-only", ARG_NONE, NULL, N_("compare existing targets with the image, write nothing") },
	{ "threads", ARG_VALUE, N_("N"), N_("decompression threads (default: online CPUs)") },
	{ "direct", ARG_NONE, NULL, N_("write files with O_DIRECT too (block devices always are)") },
	{ "assume-zeroed", ARG_NONE, NULL, N_("targets are known to be blank: do not zero") },
	{ "exact", ARG_NONE, NULL, N_("write the image unchanged: no partition-table fix-ups for larger drives") },
	{ "grow", ARG_NONE, NULL, N_("grow the last partition and its ext2/3/4 filesystem to fill a larger target") },
	{ "log", ARG_VALUE, N_("FILE"), N_("append a JSON record per target to FILE") },
	{ "cacert", ARG_VALUE, N_("FILE"), N_("extra CA certificates for https") },
	{ "insecure", ARG_NONE, NULL, N_("do not verify https certificates") },
	{ "allow-remote-backing", ARG_NONE, NULL, N_("let a local image's backing or data files be read from a server") },
	{ "sha256", ARG_VALUE, N_("HEX|FILE"), N_("the image file's published SHA-256, or a sha256sum-style file listing it (default: IMAGE.sha256, IMAGE.sha256sum or SHA256SUMS beside it)") },
	{ "hash-source", ARG_NONE, NULL, N_("compute the image file's SHA-256 for the log even when none is published") },
	{ "bmap", ARG_VALUE, N_("FILE"), N_("the bmap of a compressed raw image: its ranges are checked as they are decoded, the rest is zeroed (default: IMAGE.bmap, or x.img.bmap for x.img.xz, beside it)") },
	{ "no-bmap", ARG_NONE, NULL, N_("use no bmap, even when one lies beside the image") },
	{ "member", ARG_VALUE, N_("NAME"), N_("the member of a zip archive to flash, when it holds several images") },
	{ "header", ARG_VALUE, N_("'NAME: VALUE'"), N_("extra HTTP request header; repeatable") },
	{ "cache", ARG_VALUE, N_("DIR"), N_("keep local copies of remote images in DIR and flash from them once downloaded") },
	{ "cache-max", ARG_VALUE, N_("SIZE"), N_("bound the -cache directory to SIZE (e.g. 40G; default: 16G or half the space it may use)") },
	{ "debug", ARG_NONE, NULL, N_("print diagnostics") },
	{ "help", ARG_NONE, NULL, N_("show this help") },
	{ "version", ARG_NONE, NULL, N_("show the version") },
	{ NULL, 0, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, _("Usage: qflash -src IMAGE [-dst TARGET]... [options]\n"
		     "Write a qcow2 virtual disk (or a raw image) to drives or files.\n\n"));
	for (const struct flag *fl = flags; fl->name; fl++) {
		char left[64];
		snprintf(left, sizeof(left), "-%s%s%s", fl->name,
			 fl->metavar ? " " : "", fl->metavar ? _(fl->metavar) : "");
		fprintf(f, "  %-24s %s\n", left, _(fl->help));
	}
	fprintf(f, _("\nFlags may be spelled -flag or --flag, values as -flag VALUE or -flag=VALUE.\n"
		     "Exit status: 0 success, 1 failure, 2 usage error, 130/143 interrupted.\n"));
}

static void die_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("qflash: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, _("\nTry 'qflash -help' for more information.\n"));
	exit(EXIT_USAGE);
}

static void push(const char ***v, int *n, const char *s)
{
	*v = realloc(*v, sizeof(**v) * (*n + 2));
	if (!*v)
		abort();
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int parse_int(const char *name, const char *v)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (*v == 0 || *end || n < 0 || n > 1024)
		die_usage(_("-%s: '%s' is not a valid number"), name, v);
	return (int)n;
}

static enum qf_format parse_format(const char *s)
{
	if (!s || !strcmp(s, "auto"))
		return QF_FORMAT_AUTO;
	if (!strcmp(s, "qcow2"))
		return QF_FORMAT_QCOW2;
	if (!strcmp(s, "raw"))
		return QF_FORMAT_RAW;
	if (!strcmp(s, "xz"))
		return QF_FORMAT_XZ;
	if (!strcmp(s, "bzip2") || !strcmp(s, "bz2"))
		return QF_FORMAT_BZIP2;
	if (!strcmp(s, "lz4"))
		return QF_FORMAT_LZ4;
	if (!strcmp(s, "zip"))
		return QF_FORMAT_ZIP;
	if (!strcmp(s, "gzip") || !strcmp(s, "gz"))
		return QF_FORMAT_GZIP;
	if (!strcmp(s, "zstd") || !strcmp(s, "zst"))
		return QF_FORMAT_ZSTD;
	die_usage(_("-format: unknown format '%s'"), s);
	return QF_FORMAT_AUTO;
}

/* "N=TARGET,..." into opt.parts. */
static void parse_write_parts(const char *value)
{
	char *spec = strdup(value), *save = NULL;

	if (!spec)
		abort();
	opt.parts_spec = spec;
	for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		long n;

		if (!eq || eq == tok || !eq[1])
			die_usage(_("-write-parts: '%s' is not N=TARGET"), tok);
		*eq = 0;
		n = strtol(tok, &end, 10);
		if (*end || n < 1 || n > 256)
			die_usage(_("-write-parts: '%s' is not a partition number"), tok);
		opt.parts = realloc(opt.parts, sizeof(*opt.parts) * (opt.nparts + 1));
		if (!opt.parts)
			abort();
		opt.parts[opt.nparts].number = (int)n;
		opt.parts[opt.nparts].path = eq + 1;
		opt.nparts++;
	}
	if (!opt.nparts)
		die_usage(_("-write-parts: '%s' names no partition"), value);
}

/* Only the form: whether the server takes it is for the request to tell. */
static void check_header(const char *h)
{
	if (!strchr(h, ':') || strpbrk(h, "\r\n"))
		die_usage(_("-header: '%s' is not 'NAME: VALUE'"), h);
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		const struct flag *fl;
		char buf[64];

		if (a[0] != '-' || a[1] == 0)
			die_usage(_("unexpected argument '%s'"), a);
		name = a + 1 + (a[1] == '-');
		if (strcmp(name, "h") == 0)
			name = "help";
		eq = strchr(name, '=');
		if (eq) {
			snprintf(buf, sizeof(buf), "%.*s", (int)(eq - name), name);
			name = buf;
			val = eq + 1;
		}
		for (fl = flags; fl->name; fl++)
			if (strcmp(fl->name, name) == 0)
				break;
		if (!fl->name)
			die_usage(_("unknown flag '%s'"), a);
		if (fl->arg == ARG_VALUE && !val) {
			if (i + 1 >= argc)
				die_usage(_("-%s needs a value"), fl->name);
			val = argv[++i];
		} else if (fl->arg == ARG_NONE && val) {
			die_usage(_("-%s takes no value"), fl->name);
		}

		if (!strcmp(name, "src")) opt.src = val;
		else if (!strcmp(name, "dst")) push(&opt.dst, &opt.ndst, val);
		else if (!strcmp(name, "list-parts")) opt.list_parts = true;
		else if (!strcmp(name, "write-parts")) opt.write_parts = val;
		else if (!strcmp(name, "info")) opt.info = true;
		else if (!strcmp(name, "json")) opt.json = true;
		else if (!strcmp(name, "snapshot")) opt.snapshot = val;
		else if (!strcmp(name, "format")) opt.format = parse_format(val);
		else if (!strcmp(name, "force")) opt.force = true;
		else if (!strcmp(name, "verify")) opt.verify = true;
		else if (!strcmp(name, "verify-only")) opt.verify_only = true;
		else if (!strcmp(name, "threads")) opt.threads = parse_int(name, val);
		else if (!strcmp(name, "direct")) opt.direct = true;
		else if (!strcmp(name, "assume-zeroed")) opt.assume_zeroed = true;
		else if (!strcmp(name, "exact")) opt.exact = true;
		else if (!strcmp(name, "grow")) opt.grow = true;
		else if (!strcmp(name, "log")) opt.log = val;
		else if (!strcmp(name, "cacert")) opt.cacert = val;
		else if (!strcmp(name, "insecure")) opt.insecure = true;
		else if (!strcmp(name, "allow-remote-backing")) opt.allow_remote = true;
		else if (!strcmp(name, "sha256")) opt.sha256 = val;
		else if (!strcmp(name, "hash-source")) opt.hash_source = true;
		else if (!strcmp(name, "bmap")) opt.bmap = val;
		else if (!strcmp(name, "no-bmap")) opt.no_bmap = true;
		else if (!strcmp(name, "member")) opt.member = val;
		else if (!strcmp(name, "cache")) opt.cache = val;
		else if (!strcmp(name, "cache-max") && !(opt.cache_max = cli_parse_size(val)))
			die_usage(_("-cache-max: '%s' is not a size"), val);
		else if (!strcmp(name, "header")) {
			check_header(val);
			push(&opt.headers, &opt.nheaders, val);
		}
		else if (!strcmp(name, "debug")) opt.debug = true;
		else if (!strcmp(name, "help")) { usage(stdout); exit(0); }
		else if (!strcmp(name, "version")) {
			printf("qflash %s\n", qf_version());
			exit(0);
		}
	}
	if (!opt.src)
		die_usage(_("-src is required"));
	if (!opt.ndst && !opt.write_parts && !opt.list_parts && !opt.info)
		die_usage(_("nothing to do: give -dst, -write-parts, -list-parts or -info"));
	if (opt.ndst && opt.write_parts)
		die_usage(_("-dst and -write-parts cannot be combined"));
	if (opt.verify_only && !opt.ndst && !opt.write_parts)
		die_usage(_("-verify-only needs -dst or -write-parts"));
	if (opt.exact && opt.grow)
		die_usage(_("-exact and -grow cannot be combined"));
	if (opt.cache_max && !opt.cache)
		die_usage(_("-cache-max needs -cache"));
	/* After the loop: a repeated -write-parts counts with its last
	 * value, like every other flag. */
	if (opt.write_parts)
		parse_write_parts(opt.write_parts);
}

static void warn_cb(void *ctx, const char *msg)
{
	fprintf(stderr, _("qflash: warning: %s\n"), msg);
}

/* ---------------------------------------------------------------- output */


static void print_info_json(struct qf_image *img)
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

static void print_info_text(struct qf_image *img)
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

static void print_parts(struct qf_image *img, const struct qf_ptable *pt)
{
	char b[32];

	if (opt.json) {
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

/* -------------------------------------------------------------- the job */

static void show_progress(const struct qf_progress *p, bool final)
{
	char b1[32], b2[32], eta[32] = "--:--", phase[64];
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 0;

	if (opt.json) {
		printf("{\"event\":\"progress\",\"phase\":\"%s\",\"done\":%" PRIu64
		       ",\"total\":%" PRIu64 ",\"rate\":%.0f,\"eta\":%.1f"
		       ",\"bytes_read\":%" PRIu64 ",\"bytes_written\":%" PRIu64
		       ",\"bytes_zeroed\":%" PRIu64 ",\"net_bytes\":%" PRIu64
		       ",\"net_rate\":%.0f,\"net_retries\":%u,\"net_retrying\":%u}\n",
		       qf_phase_id(p->phase), p->done, p->total, p->rate, p->eta,
		       p->bytes_read, p->bytes_written, p->bytes_zeroed,
		       p->net_bytes, p->net_rate, p->net_retries, p->net_retrying);
		fflush(stdout);
		return;
	}
	if (!isatty(STDERR_FILENO))
		return;
	if (p->eta >= 0 && isfinite(p->eta)) {
		long s = (long)p->eta;
		snprintf(eta, sizeof(eta), "%ld:%02ld", s / 60, s % 60);
	}
	if (p->net_retrying)
		snprintf(phase, sizeof(phase), _("reconnecting (retry %u)"),
			 (unsigned)p->net_retrying);
	else
		snprintf(phase, sizeof(phase), "%s", qf_phase_name(p->phase));
	fprintf(stderr, "\r\033[K%5.1f%%  %s / %s  %6.1f MB/s  ETA %s  %s",
		pct, qf_size_str(p->done, b1, sizeof(b1)), qf_size_str(p->total, b2, sizeof(b2)),
		p->rate / 1e6, eta, phase);
	if (p->net_bytes)
		fprintf(stderr, _("  net %.1f MB/s"), p->net_rate / 1e6);
	if (p->net_retries)
		fprintf(stderr, _("  (%u retries)"), p->net_retries);
	if (final)
		fputc('\n', stderr);
}

/* What the image file was checked against, and how it went. */
static void print_checksum(const struct qf_image *img, const struct qf_progress *p)
{
	const char *origin = NULL;
	const char *want = qf_image_checksum(img, &origin);

	if (opt.json) {
		if (!want && !p->source_sha256[0])
			return;
		printf("{\"event\":\"checksum\",\"source_sha256\":");
		qf_json_string(stdout, p->source_sha256);
		printf(",\"published_sha256\":");
		qf_json_string(stdout, want ? want : "");
		printf(",\"origin\":");
		qf_json_string(stdout, origin ? origin : "");
		printf(",\"result\":\"%s\"}\n", p->checksum_ok > 0 ? "ok"
		       : p->checksum_ok < 0 ? "mismatch" : "not checked");
		return;
	}
	if (want && p->checksum_ok > 0)
		fprintf(stderr, _("qflash: the image file matches its published SHA-256 (%s)\n"),
			origin);
	else if (p->source_sha256[0] && (opt.debug || opt.hash_source))
		fprintf(stderr, _("qflash: SHA-256 of the image file: %s\n"),
			p->source_sha256);
}

static void print_results(const struct qf_progress *p, enum qf_job_mode mode)
{
	for (int i = 0; i < p->ntargets; i++) {
		const struct qf_target_progress *t = &p->targets[i];
		if (opt.json) {
			printf("{\"event\":\"result\",\"target\":");
			qf_json_string(stdout, t->path);
			printf(",\"partition\":%d,\"state\":\"%s\",\"bytes\":%" PRIu64
			       ",\"error\":", t->partition,
			       qf_target_state_id(t->state), t->done);
			qf_json_string(stdout, t->message);
			if (t->state == QF_TARGET_MISMATCH)
				printf(",\"mismatch_offset\":%" PRIu64, t->mismatch_off);
			printf(",\"table_written\":%s}\n", t->table_written ? "true" : "false");
			continue;
		}
		switch (t->state) {
		case QF_TARGET_OK:
			if (opt.debug || p->ntargets > 1 || opt.verify || opt.verify_only)
				fprintf(stderr, _("qflash: %s: %s\n"), t->path,
					opt.verify_only ? _("matches the image")
					: opt.verify ? _("written and verified")
					: _("written"));
			if (t->message[0])
				fprintf(stderr, _("qflash: %s: note: %s\n"), t->path, t->message);
			break;
		case QF_TARGET_MISMATCH:
			fprintf(stderr, _("qflash: %s: verification failed: first difference at byte %" PRIu64 "\n"),
				t->path, t->mismatch_off);
			break;
		default: {
			/* The engine's message already says whether the target is
			 * incomplete; add why a whole-disk target cannot be
			 * mistaken for a good one. */
			bool region = !t->table_written &&
				      mode == QF_MODE_WHOLE_DISK;
			fprintf(stderr, _("qflash: %s: %s%s\n"), t->path,
				t->message[0] ? t->message : qf_target_state_name(t->state),
				region ? _("; its partition table region was not written") : "");
			break;
		}
		}
	}
}

/* What the job will do to each target beyond copying the image, and
 * what it leaves as it is: said before the first byte is written. */
static void print_plans(const struct qf_job *job)
{
	for (int i = 0; i < qf_job_target_count(job); i++) {
		const struct qf_target_plan *pl = qf_job_target_plan(job, i);
		const char *path = qf_job_target_path(job, i);

		if (!pl)
			break;
		if (opt.json) {
			printf("{\"event\":\"plan\",\"target\":");
			qf_json_string(stdout, path);
			printf(",\"size\":%" PRIu64 ",\"sector_size\":%u"
			       ",\"adjust\":%u,\"grown\":%d,\"unused\":%" PRIu64
			       ",\"adjusted\":", pl->size, pl->sector_size,
			       pl->adjust, pl->grown, pl->unused);
			qf_json_string(stdout, pl->adjust_text);
			printf(",\"left\":");
			qf_json_string(stdout, pl->left_text);
			printf("}\n");
			continue;
		}
		if (pl->adjust_text[0])
			fprintf(stderr, _("qflash: %s: will adjust: %s\n"), path,
				pl->adjust_text);
		if (pl->left_text[0])
			fprintf(stderr, _("qflash: %s: note: %s\n"), path,
				pl->left_text);
	}
}

static int run_job(struct qf_image *img)
{
	struct qf_job_opts jo = {
		.mode = opt.verify_only ? QF_MODE_VERIFY_ONLY
			: opt.write_parts ? QF_MODE_PARTITIONS : QF_MODE_WHOLE_DISK,
		.threads = opt.threads,
		.verify = opt.verify,
		.direct = opt.direct,
		.assume_zeroed = opt.assume_zeroed,
		.force = opt.force,
		.exact = opt.exact,
		.grow = opt.grow,
		.hash_source = opt.hash_source,
		.log_path = opt.log,
	};
	struct qf_err e = { 0 };
	struct qf_progress p;
	struct qf_job *job;
	struct sigaction sa = { .sa_handler = on_signal };
	double last = 0;
	int ret, fd;

	job = qf_job_new(img, &jo);
	ret = 0;
	for (int i = 0; i < opt.nparts && ret == 0; i++)
		ret = qf_job_add_target(job, opt.parts[i].path, opt.parts[i].number, &e);
	for (int i = 0; i < opt.ndst && ret == 0; i++)
		ret = qf_job_add_target(job, opt.dst[i], 0, &e);
	if (ret == 0 && (ret = qf_job_prepare(job, &e)) == 0)
		print_plans(job);
	if (ret == 0) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		ret = qf_job_start(job, &e);
	}
	if (ret < 0) {
		fprintf(stderr, "qflash: %s\n", e.msg);
		qf_job_free(job);
		return 1;
	}

	fd = qf_job_wakeup_fd(job);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		bool ended;
		int r = poll(&pfd, 1, 200);

		if (r > 0)
			qf_job_ack_wakeup(job);
		if (got_signal) {
			qf_job_cancel(job);
			break;
		}
		if (qf_job_progress(job, &p) < 0)
			break;
		ended = p.phase == QF_PHASE_DONE || p.phase == QF_PHASE_FAILED ||
			p.phase == QF_PHASE_CANCELLED;
		if (!ended && qf_now() - last >= (opt.json ? 1.0 : 0.2)) {
			show_progress(&p, false);
			last = qf_now();
		}
		qf_progress_free(&p);
		if (ended)
			break;
	}
	ret = qf_job_wait(job, &p);
	show_progress(&p, true);
	print_results(&p, jo.mode);
	print_checksum(img, &p);
	if (got_signal) {
		if (ret == 0)
			fprintf(stderr, _("qflash: interrupted by signal %d after every target was complete\n"),
				(int)got_signal);
		else
			fprintf(stderr, _("qflash: interrupted by signal %d\n"), (int)got_signal);
		qf_progress_free(&p);
		qf_job_free(job);
		return got_signal == SIGINT ? 130 : 143;
	}
	if (opt.debug) {
		fprintf(stderr, "qflash: debug: %.3f s, read %" PRIu64 ", decompressed %" PRIu64
			", written %" PRIu64 ", zeroed %" PRIu64 "\n", p.elapsed,
			p.bytes_read, p.bytes_decompressed, p.bytes_written, p.bytes_zeroed);
		for (int i = 0; i < p.ntargets; i++)
			fprintf(stderr, "qflash: debug: %s: wipe %.4f s, table %.4f s\n",
				p.targets[i].path, p.targets[i].wipe_seconds,
				p.targets[i].table_seconds);
	}
	qf_progress_free(&p);
	qf_job_free(job);
	return ret == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct qf_open_opts oo = { 0 };
	struct qf_image *img = NULL;
	struct qf_err e = { 0 };
	int status = 0, ret;

	setlocale(LC_ALL, "");
	qf_init();
#ifdef ENABLE_NLS
	textdomain(PACKAGE);
#endif
	parse_args(argc, argv);

	oo.format = opt.format;
	oo.snapshot = opt.snapshot;
	oo.force = opt.force;
	oo.cacert = opt.cacert;
	oo.insecure = opt.insecure;
	oo.allow_remote_backing = opt.allow_remote;
	oo.sha256 = opt.sha256;
	oo.hash_source = opt.hash_source;
	oo.bmap = opt.bmap;
	oo.no_bmap = opt.no_bmap;
	oo.member = opt.member;
	oo.headers = opt.headers;
	oo.warn = warn_cb;
	if (opt.cache)
		cli_cache_setup(&oo, opt.cache, opt.cache_max, opt.json);

	if ((ret = qf_image_open(opt.src, &oo, &img, &e)) < 0) {
		if (cli_cache_interrupted(&e))
			return cli_cache_interrupted(NULL);
		/* The library leaves the flags that help to the front end. */
		fprintf(stderr, "qflash: %s%s\n", e.msg,
			ret == -EMEDIUMTYPE ? _(" (use -format raw for a raw disk image)")
			: ret == -EUCLEAN ? _("; use -force to read it anyway")
			: ret == -EREMOTE ? _("; use -allow-remote-backing to let it")
			: ret == -EMLINK ? _(" with -member NAME") : "");
		return 1;
	}
	if (opt.debug)
		for (int i = 0; i < qf_image_layer_count(img); i++)
			fprintf(stderr, "qflash: debug: layer %d: %s (%s, %" PRIu64 " bytes)\n",
				i, qf_image_layer(img, i)->name, qf_image_layer(img, i)->format,
				qf_image_layer(img, i)->virtual_size);
	if (opt.info) {
		if (opt.json)
			print_info_json(img);
		else
			print_info_text(img);
	}
	if (opt.list_parts) {
		struct qf_ptable *pt = NULL;
		if (qf_ptable_read(img, &pt, warn_cb, NULL, &e) < 0) {
			fprintf(stderr, "qflash: %s\n", e.msg);
			status = 1;
		} else {
			print_parts(img, pt);
			qf_ptable_free(pt);
		}
	}
	if (status == 0 && (opt.ndst || opt.write_parts))
		status = run_job(img);
	qf_image_close(img);
	free(opt.dst);
	free(opt.headers);
	free(opt.parts);
	free(opt.parts_spec);
	return status;
}
