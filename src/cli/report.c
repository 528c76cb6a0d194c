/* report.c - qflash -report: the flash log read back through the library
 * (qf_history_read) and printed as an aligned table with a summary line,
 * as CSV (RFC 4180, a header row, one line per flash) or as JSON lines.
 * It answers "which drives got image X" and "how many passed today". */
#include "config.h"

#include "qflash.h"
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "i18n.h"

enum { EXIT_USAGE = 2 };

bool report_flag(struct report_opts *o, const char *name, const char *val)
{
	if (!strcmp(name, "report"))
		o->log = val;
	else if (!strcmp(name, "image"))
		o->image = val;
	else if (!strcmp(name, "since"))
		o->since = val;
	else if (!strcmp(name, "serial"))
		o->serial = val;
	else if (!strcmp(name, "csv"))
		o->csv = true;
	else
		return false;
	return true;
}

bool report_extra(const struct report_opts *o)
{
	return o->image || o->since || o->serial || o->csv;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "qflash: %s\n", msg);
	fprintf(stderr, _("Try 'qflash -help' for more information.\n"));
	return EXIT_USAGE;
}

/* ----------------------------------------------------------------- cells */

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* Columns a UTF-8 string takes: one per character (the log's strings
 * are UTF-8; wide characters are rare in drive models and paths). */
static int cols(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* @s for a table cell: control characters (a file name may hold a
 * newline) as '?', "-" for nothing. */
static char *cell(const char *s)
{
	char *c = xstrdup(s && *s ? s : "-");

	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

/* The log's word for how a flash ended, for people. */
static const char *result_name(const struct qf_history_record *r)
{
	static const struct { const char *id, *name; } words[] = {
		{ "ok", N_("passed") },
		{ "failed", N_("failed") },
		{ "mismatch", N_("mismatch") },
		{ "cancelled", N_("cancelled") },
		{ "interrupted", N_("interrupted") },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(r->result, words[i].id))
			return _(words[i].name);
	return r->result;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* What else a table row has to say: the error, what was healed, what a
 * qualification found. */
static char *note(const struct qf_history_record *r)
{
	char buf[2048] = "", b1[32], b2[32];
	size_t n = 0;

	/* A verify-only job wrote nothing: its "passed" is a comparison. */
	if (!strcmp(r->mode, "verify"))
		n += snprintf(buf + n, sizeof(buf) - n, "%s", _("verify only"));
	if (r->error[0] && n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "; " : "",
			      r->error);
	if (r->healed[0] && strcmp(r->healed, "0") && strcmp(r->healed, "false") &&
	    strcmp(r->healed, "[]") && n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, _("%shealed: %s"),
			      n ? "; " : "", r->healed);
	if (r->have_qualify && r->qualify_claimed && n < sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, _("%susable %s of %s claimed"),
			      n ? "; " : "",
			      qf_size_str(r->qualify_usable, b1, sizeof(b1)),
			      qf_size_str(r->qualify_claimed, b2, sizeof(b2)));
	return cell(buf);
}

/* ------------------------------------------------------------------ table */

enum col {
	C_TIME, C_RESULT, C_TARGET, C_MODEL, C_SERIAL, C_SIZE, C_IMAGE,
	C_SLOT, C_STATION, C_OPERATOR, C_WWN, C_RATE, C_NOTE, NCOLS
};

static const char *const headers[NCOLS] = {
	N_("TIME"), N_("RESULT"), N_("TARGET"), N_("MODEL"), N_("SERIAL"),
	N_("SIZE"), N_("IMAGE"), N_("SLOT"), N_("STATION"), N_("OPERATOR"),
	N_("WWN"), N_("RATE"), N_("NOTE"),
};

static void row_cells(const struct qf_history_record *r, char *c[NCOLS])
{
	char buf[4200];

	c[C_TIME] = cell(qf_history_time_str(r->time, false, buf, sizeof(buf)));
	c[C_RESULT] = cell(result_name(r));
	if (r->partition > 0)
		snprintf(buf, sizeof(buf), _("%s (partition %d)"), r->target,
			 r->partition);
	else
		snprintf(buf, sizeof(buf), "%s", r->target);
	c[C_TARGET] = cell(buf);
	c[C_MODEL] = cell(r->model);
	c[C_SERIAL] = cell(r->serial);
	c[C_SIZE] = cell(r->size ? qf_size_str(r->size, buf, sizeof(buf)) : "");
	snprintf(buf, sizeof(buf), "%s%s%s", base_name(r->image),
		 r->snapshot_id[0] ? "@" : "",
		 r->snapshot_name[0] ? r->snapshot_name : r->snapshot_id);
	c[C_IMAGE] = cell(buf);
	c[C_SLOT] = cell(r->slot);
	c[C_STATION] = cell(r->station);
	c[C_OPERATOR] = cell(r->operator_name);
	c[C_WWN] = cell(r->wwn);
	if (r->rate > 0)
		snprintf(buf, sizeof(buf), _("%.1f MB/s"), r->rate / 1e6);
	else
		buf[0] = '\0';
	c[C_RATE] = cell(buf);
	c[C_NOTE] = note(r);
}

static void print_table(const struct qf_history *h)
{
	char *(*rows)[NCOLS] = calloc(h->count ? h->count : 1, sizeof(*rows));
	bool show[NCOLS];
	int width[NCOLS], last = 0;

	if (!rows)
		abort();
	for (int c = 0; c < NCOLS; c++) {
		/* The station's columns only when some flash has them. */
		show[c] = c < C_SLOT || c > C_WWN;
		width[c] = cols(_(headers[c]));
	}
	for (size_t i = 0; i < h->count; i++) {
		row_cells(&h->rec[i], rows[i]);
		for (int c = 0; c < NCOLS; c++) {
			if (c >= C_SLOT && c <= C_WWN && strcmp(rows[i][c], "-"))
				show[c] = true;
			if (cols(rows[i][c]) > width[c])
				width[c] = cols(rows[i][c]);
		}
	}
	for (int c = 0; c < NCOLS; c++)
		if (show[c])
			last = c;
	/* The header, then the rows: padded but for the last column. */
	for (size_t i = 0; i <= h->count; i++) {
		for (int c = 0; c < NCOLS; c++) {
			const char *s = i ? rows[i - 1][c] : _(headers[c]);

			if (!show[c])
				continue;
			fputs(s, stdout);
			if (c != last)
				printf("%*s", width[c] - cols(s) + 2, "");
		}
		putchar('\n');
	}
	for (size_t i = 0; i < h->count; i++)
		for (int c = 0; c < NCOLS; c++)
			free(rows[i][c]);
	free(rows);
}

static void print_summary(const struct qf_history_counts *c)
{
	printf(ngettext("%zu drive: %zu passed, %zu failed, %zu interrupted",
			"%zu drives: %zu passed, %zu failed, %zu interrupted",
			c->total),
	       c->total, c->passed, c->failed, c->interrupted);
	if (c->cancelled)
		printf(_(", %zu cancelled"), c->cancelled);
	putchar('\n');
}

/* -------------------------------------------------------------------- CSV */

/* One field as RFC 4180 has it: quoted when it holds a comma, a quote,
 * a line break or spaces at an end, quotes doubled. */
static void csv_field(const char *s, bool first)
{
	size_t n = strlen(s);

	if (!first)
		putchar(',');
	if (!strpbrk(s, ",\"\r\n") && !(n && (s[0] == ' ' || s[n - 1] == ' '))) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void csv_u64(uint64_t v, bool known)
{
	char buf[32] = "";

	if (known)
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
	csv_field(buf, false);
}

static void csv_double(double v, const char *fmt)
{
	char buf[64] = "";

	if (v >= 0)
		snprintf(buf, sizeof(buf), fmt, v);
	csv_field(buf, false);
}

/* Fixed English names and the log's own words: for programs, the same
 * in every language. */
static void print_csv(const struct qf_history *h)
{
	static const char *const names[] = {
		"time", "result", "target", "model", "serial", "wwn", "size",
		"image", "source_sha256", "snapshot_id", "snapshot_name", "mode",
		"partition", "bytes_written", "bytes_zeroed", "duration", "rate",
		"adjustments", "verify", "error", "slot", "station", "operator",
		"qualify_claimed", "qualify_usable", "qualify_write_rate",
		"healed", "finished",
	};
	char when[32], fin[32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		csv_field(names[i], i == 0);
	fputs("\r\n", stdout);
	for (size_t i = 0; i < h->count; i++) {
		const struct qf_history_record *r = &h->rec[i];

		qf_history_time_str(r->time, true, when, sizeof(when));
		qf_history_time_str(r->finished, true, fin, sizeof(fin));
		csv_field(when, true);
		csv_field(r->result, false);
		csv_field(r->target, false);
		csv_field(r->model, false);
		csv_field(r->serial, false);
		csv_field(r->wwn, false);
		csv_u64(r->size, r->size > 0);
		csv_field(r->image, false);
		csv_field(r->source_sha256, false);
		csv_field(r->snapshot_id, false);
		csv_field(r->snapshot_name, false);
		csv_field(r->mode, false);
		csv_u64((uint64_t)r->partition, r->partition > 0);
		csv_u64(r->bytes_written, true);
		csv_u64(r->bytes_zeroed, true);
		csv_double(r->duration, "%.3f");
		csv_double(r->rate, "%.0f");
		csv_field(r->adjustments, false);
		csv_field(r->verify, false);
		csv_field(r->error, false);
		csv_field(r->slot, false);
		csv_field(r->station, false);
		csv_field(r->operator_name, false);
		csv_u64(r->qualify_claimed, r->have_qualify);
		csv_u64(r->qualify_usable, r->have_qualify);
		csv_double(r->have_qualify ? r->qualify_write_rate : -1, "%.0f");
		csv_field(r->healed, false);
		csv_field(fin, false);
		fputs("\r\n", stdout);
	}
}

/* -------------------------------------------------------------------- run */

int report_run(const struct report_opts *o, bool json)
{
	struct qf_history_filter f = { .image = o->image, .serial = o->serial };
	struct qf_history h;
	struct qf_err e = { 0 };
	const char *path = o->log;
	char *dflt = NULL;
	char msg[QF_ERR_MSG_MAX + 32];

	if (json && o->csv)
		return usage_error(_("-csv and -json cannot be combined"));
	if (o->image && !*o->image)
		return usage_error(_("-image needs a SHA-256 prefix or a part of the image's name"));
	if (o->since && qf_history_parse_time(o->since, (int64_t)time(NULL),
					      &f.since, &e) < 0) {
		snprintf(msg, sizeof(msg), "-since: %s", e.msg);
		return usage_error(msg);
	}
	/* The library reads the default log for NULL, but the messages
	 * here name the file. */
	if (!strcmp(path, "default") && !(path = dflt = qf_flashlog_default_path())) {
		fprintf(stderr, _("qflash: no default flash log: neither XDG_STATE_HOME nor HOME is set\n"));
		return 1;
	}
	if (qf_history_read(strcmp(path, "-") ? path : "/dev/stdin", &f, &h, &e) < 0) {
		fprintf(stderr, "qflash: %s\n", e.msg);
		free(dflt);
		return 1;
	}
	if (h.skipped)
		fprintf(stderr, ngettext("qflash: warning: %s: %zu line skipped: not a flash record (cut short or damaged)\n",
					 "qflash: warning: %s: %zu lines skipped: not flash records (cut short or damaged)\n",
					 h.skipped),
			path, h.skipped);
	free(dflt);
	if (json) {
		for (size_t i = 0; i < h.count; i++)
			puts(h.rec[i].json);
	} else if (o->csv) {
		print_csv(&h);
	} else {
		if (h.count)
			print_table(&h);
		print_summary(&h.all);
	}
	qf_history_free(&h);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, _("qflash: cannot write the report: %s\n"),
			strerror(errno));
		return 1;
	}
	return 0;
}
