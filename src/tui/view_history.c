/* view_history.c - the flash history: the latest flashes the flash log
 * records, newest first (time, result, drive, size, image), how many
 * passed and failed today, and the details of the highlighted one.  The
 * log is read off the UI thread (task.c) and only its newest
 * HISTORY_LIMIT records are kept; Esc returns to the screen it was
 * opened from. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"
#include "task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_LIMIT 1000

static struct qf_history hist;
static bool have_hist;
static char load_error[QF_ERR_MSG_MAX];
static bool loading;
static enum tui_screen back_to = SCR_SOURCE;
static struct ui_list list;

static void load(void)
{
	struct task *t;
	int64_t today = 0;

	if (loading)
		return;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->kind = TASK_HISTORY;
	if (app.log_path && !(t->name = strdup(app.log_path)))
		abort();
	t->filter.limit = HISTORY_LIMIT;
	if (qf_history_parse_time("today", (int64_t)time(NULL), &today, NULL) == 0)
		t->filter.mark = today;
	if (task_start(t) < 0) {
		snprintf(load_error, sizeof(load_error), _("Cannot start a thread: %s"),
			 strerror(errno));
		task_free(t);
		return;
	}
	loading = true;
	app.busy++;
	app.busy_what = _("Reading the flash log…");
}

void view_history_show(void)
{
	if (app.screen != SCR_HISTORY)
		back_to = app.screen;
	app_goto(SCR_HISTORY);
	list.cur = list.top = 0;
	load();
}

void view_history_loaded(struct task *t)
{
	loading = false;
	app.busy--;
	if (have_hist)
		qf_history_free(&hist);
	have_hist = false;
	load_error[0] = 0;
	if (t->ret < 0) {
		snprintf(load_error, sizeof(load_error), "%s", t->err.msg);
		return;
	}
	hist = t->hist;
	memset(&t->hist, 0, sizeof(t->hist));
	have_hist = true;
}

/* Rows of the list in content area @a: the box, the summary and header
 * lines, and the details below take the rest. */
static int list_rows(struct ui_area a)
{
	return a.h - 9;
}

/* Record @i of the list: the newest first. */
static const struct qf_history_record *shown(int i)
{
	return &hist.rec[hist.count - 1 - (size_t)i];
}

static void result_of(const struct qf_history_record *r, const char **word,
		      enum ui_role *role)
{
	switch (r->outcome) {
	case QF_HISTORY_PASSED:
		*word = _("passed");
		*role = UI_OK;
		break;
	case QF_HISTORY_CANCELLED:
		*word = _("cancelled");
		*role = UI_WARN;
		break;
	case QF_HISTORY_INTERRUPTED:
		*word = _("interrupted");
		*role = UI_WARN;
		break;
	default:
		*word = strcmp(r->result, "mismatch") ? _("failed") : _("mismatch");
		*role = UI_ERROR;
		break;
	}
}

/* Control characters (a log's error or file name may hold a newline)
 * as '?' in place. */
static char *printable(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* The drive as people know it: model and serial, else its path (the end
 * of it, in @w columns: the file name tells most). */
static void drive_of(const struct qf_history_record *r, int w, char *buf,
		     size_t len)
{
	if (r->model[0] || r->serial[0])
		snprintf(buf, len, "%s%s%s", r->model,
			 r->model[0] && r->serial[0] ? " " : "", r->serial);
	else
		ui_tail(r->target, w, buf, len);
	printable(buf);
}

/* "A: x   B: y" of the parts that are not empty, into @buf. */
static void add_part(char *buf, size_t len, const char *label, const char *v)
{
	size_t n = strlen(buf);

	if (v && *v && n < len)
		snprintf(buf + n, len - n, "%s%s %s", n ? "   " : "", label, v);
	printable(buf);
}

static void draw_details(int y, int w, const struct qf_history_record *r)
{
	char buf[1600] = "", size[32], rate[32];

	add_part(buf, sizeof(buf), _("Target:"), r->target);
	add_part(buf, sizeof(buf), _("Serial:"), r->serial);
	add_part(buf, sizeof(buf), _("WWN:"), r->wwn);
	ui_put(y++, 2, w, UI_NORMAL, buf);
	buf[0] = 0;
	add_part(buf, sizeof(buf), _("Image:"), r->image);
	add_part(buf, sizeof(buf), _("SHA-256:"), r->source_sha256);
	ui_put(y++, 2, w, UI_NORMAL, buf);
	if (r->error[0]) {
		snprintf(buf, sizeof(buf), "%s", r->error);
		ui_wrap(y, 2, w, 2, UI_ERROR, printable(buf));
		return;
	}
	buf[0] = 0;
	add_part(buf, sizeof(buf), _("Station:"), r->station);
	add_part(buf, sizeof(buf), _("Slot:"), r->slot);
	add_part(buf, sizeof(buf), _("Operator:"), r->operator_name);
	add_part(buf, sizeof(buf), _("Verify:"), r->verify);
	if (r->rate > 0) {
		ui_fmt_rate(r->rate, rate, sizeof(rate));
		add_part(buf, sizeof(buf), _("Rate:"), rate);
	}
	if (r->have_qualify && r->qualify_usable) {
		qf_size_str(r->qualify_usable, size, sizeof(size));
		add_part(buf, sizeof(buf), _("Usable:"), size);
	}
	add_part(buf, sizeof(buf), _("Healed:"), r->healed);
	ui_put(y, 2, w, UI_DIM, buf);
}

static void draw_summary(int y, int w)
{
	const struct qf_history_counts *c = &hist.marked;
	char buf[512];
	int x;

	snprintf(buf, sizeof(buf), _("Today: %zu passed, %zu failed, %zu interrupted"),
		 c->passed, c->failed, c->interrupted);
	if (c->cancelled) {
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, _(", %zu cancelled"), c->cancelled);
	}
	x = 2 + ui_put(y, 2, w, c->failed ? UI_ERROR : UI_OK, buf);
	if (hist.all.total > hist.count)
		snprintf(buf, sizeof(buf), _("%zu flashes in the log, the newest %zu shown"),
			 hist.all.total, hist.count);
	else
		snprintf(buf, sizeof(buf), ngettext("%zu flash in the log", "%zu flashes in the log",
						    hist.all.total), hist.all.total);
	if (hist.skipped) {
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n,
			 ngettext("; %zu damaged line skipped", "; %zu damaged lines skipped",
				  hist.skipped), hist.skipped);
	}
	if (x + 3 < 2 + w)
		ui_put(y, x + 3, 2 + w - x - 3, hist.skipped ? UI_WARN : UI_DIM, buf);
}

void view_history_draw(void)
{
	struct ui_area a = ui_content();
	int w = a.w - 4, rows = list_rows(a), y = a.y + 1;
	int tw = 19, rw = 11, sw = 10, dw, iw, x;
	char title[600], tail[512];

	ui_tail(app.log_path ? app.log_path : "-", a.w - 24, tail, sizeof(tail));
	snprintf(title, sizeof(title), _("Flash log: %s"), tail);
	ui_box(a.y, a.x, a.h, a.w, title, true);
	if (load_error[0]) {
		ui_wrap(y, 2, w, 3, UI_ERROR, load_error);
		return;
	}
	if (!have_hist)
		return;
	draw_summary(y++, w);
	if (!hist.count) {
		ui_put(y + 1, 2, w, UI_DIM, _("No flash recorded yet."));
		return;
	}
	/* Time, result and size fixed; the drive and the image share the rest. */
	dw = (w - tw - rw - sw - 8) * 5 / 9;
	iw = w - tw - rw - sw - 8 - dw;
	x = 2;
	ui_put(y, x, tw, UI_HEADING, _("TIME"));
	ui_put(y, x += tw + 2, rw, UI_HEADING, _("RESULT"));
	ui_put(y, x += rw + 2, dw, UI_HEADING, _("DRIVE"));
	ui_put(y, x += dw + 2, sw, UI_HEADING, _("SIZE"));
	ui_put(y, x += sw + 2, iw, UI_HEADING, _("IMAGE"));
	y++;
	ui_list_fix(&list, (int)hist.count, rows);
	for (int i = list.top; i < (int)hist.count && i < list.top + rows; i++, y++) {
		const struct qf_history_record *r = shown(i);
		bool cur = i == list.cur;
		const char *word;
		enum ui_role role, base = cur ? UI_CURSOR : UI_NORMAL;
		char when[32], drive[300], size[32] = "-", image[300];

		result_of(r, &word, &role);
		qf_history_time_str(r->time, false, when, sizeof(when));
		drive_of(r, dw, drive, sizeof(drive));
		if (r->size)
			qf_size_str(r->size, size, sizeof(size));
		ui_row(y, 1, a.w - 2, base, NULL);
		x = 2;
		ui_put(y, x, tw, base, when);
		ui_put(y, x += tw + 2, rw, cur ? base : role, word);
		ui_put(y, x += rw + 2, dw, base, drive);
		ui_put(y, x += dw + 2, sw, base, size);
		snprintf(image, sizeof(image), "%s", ui_base_name(r->image));
		ui_put(y, x += sw + 2, iw, base, printable(image));
	}
	ui_hline(a.y + a.h - 6, a.x + 1, a.w - 2, UI_FRAME);
	draw_details(a.y + a.h - 5, w, shown(list.cur));
}

bool view_history_key(int ch)
{
	struct ui_area a = ui_content();
	enum km_action act = km_action(ch);

	if (have_hist && ui_list_move(&list, (int)hist.count, list_rows(a), act))
		return true;
	if (act == KA_BACK) {
		app_goto(back_to);
		return true;
	}
	if (ch == 'r' || ch == KEY_F(5)) {
		load();
		return true;
	}
	return false;
}
