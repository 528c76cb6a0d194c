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

#include "cli/healed.h"
#include "i18n.h"
#include "cli/qualify.h"
#include "cli/station.h"
#include "cli/info.h"
#include "cli/report.h"
#include "cli/cache.h"
#include "cli/catalog.h"

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
	bool hash_source, no_bmap, qualify;
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
	struct cli_station st;       /* -station and its flags */
	struct report_opts report;   /* -report and its filters */
	struct cli_catalog cat;      /* -catalog, -list */
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
	{ "qualify", ARG_NONE, NULL, N_("check every -dst target for fake capacity, lost writes and write protection (writing to it) before anything is flashed; without -src, only that") },
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
	{ "station", ARG_NONE, NULL, N_("run a station: flash every drive plugged into a -slot, until SIGINT or SIGTERM, with a JSON line per change") },
	{ "slot", ARG_VALUE, N_("ID"), N_("a station's slot: a port as udev's ID_PATH names it, or a kernel name (sdb, loop7); repeatable") },
	{ "station-name", ARG_VALUE, N_("NAME"), N_("the station's name in records and certificates (default: the host name)") },
	{ "operator", ARG_VALUE, N_("NAME"), N_("who runs the station, for records and certificates (default: the login name)") },
	{ "cert-dir", ARG_VALUE, N_("DIR"), N_("where a station writes a certificate per drive (default: certificates beside the flash log)") },
	{ "report", ARG_VALUE, N_("LOG"), N_("print the flashes a flash log records, as a table with a summary (LOG: a file, - for standard input, or default for the one qflash-tui writes by default); -json prints them as JSON lines") },
	{ "image", ARG_VALUE, N_("SHA|NAME"), N_("with -report: only flashes of this image (a SHA-256 prefix of 8 or more hex digits, or part of its path or URL)") },
	{ "since", ARG_VALUE, N_("DATE"), N_("with -report: only flashes since DATE (YYYY-MM-DD, an ISO 8601 time, today or yesterday)") },
	{ "serial", ARG_VALUE, N_("S"), N_("with -report: only flashes of the drive with serial number S") },
	{ "csv", ARG_NONE, NULL, N_("with -report: print CSV (RFC 4180) with a header row") },
	{ "cache", ARG_VALUE, N_("DIR"), N_("keep local copies of remote images in DIR and flash from them once downloaded") },
	{ "cache-max", ARG_VALUE, N_("SIZE"), N_("bound the -cache directory to SIZE (e.g. 40G; default: 16G or half the space it may use)") },
	{ "catalog", ARG_VALUE, N_("URL|FILE"), N_("a site's catalog of images (JSON, as Raspberry Pi Imager's os_list): with -list, print it; with -src catalog:NAME, flash its entry NAME (or FOLDER/NAME) with the checksum and bmap the catalog gives") },
	{ "list", ARG_NONE, NULL, N_("with -catalog: print its entries as a tree (as JSON lines with -json), and what it leaves out on stderr") },
	{ "debug", ARG_NONE, NULL, N_("print diagnostics") },
	{ "help", ARG_NONE, NULL, N_("show this help") },
	{ "version", ARG_NONE, NULL, N_("show the version") },
	{ NULL, 0, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, _("Usage: qflash -src IMAGE [-dst TARGET]... [options]\n"
		     "       qflash -qualify -dst TARGET... [-json]\n"
		     "       qflash -station -src IMAGE -slot ID... [options]\n"
		     "Write a qcow2 virtual disk (or a raw image) to drives or files.\n\n"));
	fprintf(f, _("   or: qflash -report LOG [-image SHA|NAME] [-since DATE] [-serial S] [-csv|-json]\n"
		     "Print what a flash log records: which drives got which image, and how each flash ended.\n\n"));
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
		if (report_flag(&opt.report, name, val) ||
		    catalog_flag(&opt.cat, name, val))
			continue;

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
		else if (!strcmp(name, "qualify")) opt.qualify = true;
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
		else if (!strcmp(name, "station")) opt.st.on = true;
		else if (!strcmp(name, "slot")) push(&opt.st.slots, &opt.st.nslots, val);
		else if (!strcmp(name, "station-name")) opt.st.name = val;
		else if (!strcmp(name, "operator")) opt.st.operator_name = val;
		else if (!strcmp(name, "cert-dir")) opt.st.cert_dir = val;
		else if (!strcmp(name, "debug")) opt.debug = true;
		else if (!strcmp(name, "help")) { usage(stdout); exit(0); }
		else if (!strcmp(name, "version")) {
			printf("qflash %s\n", qf_version());
			exit(0);
		}
	}
	if (opt.report.log && (opt.src || opt.ndst || opt.write_parts))
		die_usage(_("-report cannot be combined with -src, -dst or -write-parts"));
	if (!opt.report.log && report_extra(&opt.report))
		die_usage(_("-image, -since, -serial and -csv go with -report"));
	if (opt.report.log)
		return;
	const char *why = catalog_usage(&opt.cat, opt.src, opt.ndst ||
					opt.write_parts || opt.info ||
					opt.list_parts || opt.st.on);
	if (why)
		die_usage("%s", why);
	if (opt.cat.list)
		return;
	if (opt.qualify && !opt.st.on &&
	    (!opt.ndst || opt.write_parts || opt.verify_only))
		die_usage(_("-qualify needs -dst targets, and writes to them: not with -write-parts or -verify-only"));
	if (!opt.src && (opt.st.on || !(opt.qualify && !opt.info && !opt.list_parts)))
		die_usage(_("-src is required"));
	if (opt.st.on && (opt.ndst || opt.write_parts || opt.verify_only ||
			  opt.list_parts || opt.info))
		die_usage(_("-station takes -slot, not -dst, -write-parts, -verify-only, -list-parts or -info"));
	if (opt.st.on && !opt.st.nslots)
		die_usage(_("-station needs at least one -slot"));
	if (!opt.st.on && (opt.st.nslots || opt.st.name || opt.st.operator_name ||
			   opt.st.cert_dir))
		die_usage(_("-slot, -station-name, -operator and -cert-dir go with -station"));
	if (!opt.st.on && !opt.ndst && !opt.write_parts && !opt.list_parts && !opt.info)
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
	want = qf_image_disk_checksum(img, &origin);
	if (want && p->disk_checksum_ok > 0)
		fprintf(stderr, _("qflash: the disk image matches its published SHA-256 (%s)\n"),
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
			healed_json(stdout, t);
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
		healed_say(t, mode != QF_MODE_VERIFY_ONLY);
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

static struct qf_job_opts job_opts(void)
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

	return jo;
}

static int run_job(struct qf_image *img)
{
	struct qf_job_opts jo = job_opts();
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
	if (ret == 0 && opt.qualify &&
	    (ret = qualify_targets(opt.dst, opt.ndst, qf_image_files(img), opt.json, true))) {
		qf_job_free(job);
		return ret;
	}
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
	if (opt.report.log)
		return report_run(&opt.report, opt.json);
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
	if ((ret = catalog_run(&opt.cat, &opt.src, &oo, &opt.cache, opt.json)) >= 0)
		return ret;
	if (!opt.src)
		return qualify_targets(opt.dst, opt.ndst, NULL, opt.json, false);
	if (opt.cache)
		cli_cache_setup(&oo, opt.cache, opt.cache_max, opt.json);

	if (opt.st.on) {
		struct qf_job_opts jo = job_opts();

		opt.st.qualify = opt.qualify;
		return cli_station_run(opt.src, &opt.st, &oo, &jo);
	}
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
			cli_info_json(img);
		else
			cli_info_text(img);
	}
	if (opt.list_parts) {
		struct qf_ptable *pt = NULL;
		if (qf_ptable_read(img, &pt, warn_cb, NULL, &e) < 0) {
			fprintf(stderr, "qflash: %s\n", e.msg);
			status = 1;
		} else {
			cli_parts(img, pt, opt.json);
			qf_ptable_free(pt);
		}
	}
	if (status == 0 && (opt.ndst || opt.write_parts))
		status = run_job(img);
	qf_image_close(img);
	free(opt.dst);
	free(opt.headers);
	free(opt.st.slots);
	free(opt.parts);
	free(opt.parts_spec);
	catalog_done(&opt.cat);
	return status;
}
