/* view_targets.c - screen 4, where to write: the --target files, then the
 * block devices (with their partitions in partition mode), each with what
 * it is and what is on it now; refused or too small ones are greyed with
 * the reason.  Space selects, nothing is preselected. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>

#define DETAILS_H 6              /* the details box under the list */

static struct ui_list list;
static unsigned seen_visit = ~0u, seen_version = ~0u;
static char cur_path[256];

static int first_selectable(void)
{
	for (int i = 0; i < app.nvis; i++)
		if (app.tg[app.vis[i]].selectable)
			return i;
	return 0;
}

static void sync_cursor(void)
{
	if (seen_visit != app.visit) {
		seen_visit = app.visit;
		seen_version = app.tg_version;
		list.cur = first_selectable();
		list.top = 0;
	} else if (seen_version != app.tg_version) {
		/* The list was rebuilt: stay on the same device if it is
		 * still there. */
		int found = -1;
		for (int i = 0; i < app.nvis; i++)
			if (strcmp(app.tg[app.vis[i]].dev.path, cur_path) == 0)
				found = i;
		list.cur = found >= 0 ? found : first_selectable();
		seen_version = app.tg_version;
	}
	if (list.cur >= 0 && list.cur < app.nvis)
		snprintf(cur_path, sizeof(cur_path), "%s",
			 app.tg[app.vis[list.cur]].dev.path);
}

static void append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (!s || !*s)
		return;
	snprintf(buf + n, len - n, "%s%s", n ? "  " : "", s);
}

/* What a device is: transport, model, vendor, serial, flags. */
static void describe(const struct target *t, char *buf, size_t len)
{
	const struct qf_device *d = &t->dev;
	char tmp[400];

	buf[0] = 0;
	if (d->kind == QF_DEV_FILE) {
		append(buf, len, t->is_new ? _("new file, will be created") : _("file"));
		return;
	}
	append(buf, len, d->transport);
	if (d->vendor[0] && d->model[0])
		snprintf(tmp, sizeof(tmp), "%s %s", d->vendor, d->model);
	else
		snprintf(tmp, sizeof(tmp), "%s%s", d->vendor, d->model);
	append(buf, len, tmp);
	if (d->serial[0]) {
		snprintf(tmp, sizeof(tmp), _("SN %s"), d->serial);
		append(buf, len, tmp);
	}
	if (d->removable)
		append(buf, len, _("removable"));
	if (d->rotational)
		append(buf, len, _("rotational"));
	if (d->readonly)
		append(buf, len, _("read-only"));
}

/* What is on it now, or why it cannot be chosen. */
static void contents(const struct target *t, char *buf, size_t len)
{
	const struct qf_device *d = &t->dev;
	char tmp[400], size[32];

	buf[0] = 0;
	if (d->kind == QF_DEV_FILE) {
		if (!t->is_new && !d->size) {
			append(buf, len, _("now: empty file"));
		} else if (!t->is_new) {
			qf_size_str(d->size, size, sizeof(size));
			snprintf(tmp, sizeof(tmp), _("now: %s file"), size);
			append(buf, len, tmp);
		}
	} else if (d->pttype[0] || d->fs_summary[0]) {
		snprintf(tmp, sizeof(tmp), _("now: %s%s%s"), d->pttype,
			 d->pttype[0] && d->fs_summary[0] ? "; " : "", d->fs_summary);
		append(buf, len, tmp);
	} else {
		append(buf, len, _("now: no partition table or file system found"));
	}
}

/* Everything about the highlighted entry, unabridged. */
static void draw_details(int y, int w)
{
	const struct target *t;
	char buf[1024], size[32];
	int yy = y + 1;

	ui_box(y, 0, DETAILS_H, w, _("Details"), false);
	if (!app.nvis || list.cur >= app.nvis)
		return;
	t = &app.tg[app.vis[list.cur]];
	if (t->dev.kind == QF_DEV_FILE && t->is_new)
		snprintf(size, sizeof(size), "%s", _("new file"));
	else
		qf_size_str(t->dev.size, size, sizeof(size));
	describe(t, buf + 0, sizeof(buf));
	{
		char line[1400];
		snprintf(line, sizeof(line), "%s  %s  %s", t->dev.path, size, buf);
		ui_put(yy++, 2, w - 4, UI_HEADING, line);
	}
	if (t->dev.backing_file[0]) {
		snprintf(buf, sizeof(buf), _("Backing file: %s"), t->dev.backing_file);
		ui_put(yy++, 2, w - 4, UI_NORMAL, buf);
	}
	contents(t, buf, sizeof(buf));
	ui_put(yy++, 2, w - 4, UI_NORMAL, buf);
	if (!t->selectable && yy < y + DETAILS_H - 1) {
		snprintf(buf, sizeof(buf), _("Cannot be selected: %s"), t->why);
		ui_put(yy++, 2, w - 4, UI_ERROR, buf);
	}
}

void view_targets_draw(void)
{
	struct ui_area a = ui_content();
	int lh = a.h - 1 - DETAILS_H, rows = (lh - 2) / 2, y, pw = 20;
	char buf[1024], size[32];

	sync_cursor();
	qf_size_str(app_needed_bytes(), size, sizeof(size));
	if (app.mode == QF_MODE_PARTITIONS)
		snprintf(buf, sizeof(buf),
			 _("Choose targets for the partitions (each needs at least the size of its partition). Selected: %d"),
			 app_selected_count());
	else if (app_needed_bytes())
		snprintf(buf, sizeof(buf),
			 _("Choose targets for the whole disk (%s needed). Selected: %d"),
			 size, app_selected_count());
	else
		snprintf(buf, sizeof(buf), _("Choose targets for the whole disk. Selected: %d"),
			 app_selected_count());
	ui_put(a.y, 1, a.w - 2, UI_NORMAL, buf);
	{
		/* How drives unlike the image are written, in the frame. */
		char title[200];
		snprintf(title, sizeof(title), "%s %s %s %s",
			 _("Targets"), ui_glyph(UI_G_ARROW),
			 app.exact ? _("larger drives: exact copy (e)")
				   : _("larger drives: table fixed up (e)"),
			 app.grow ? _("last partition grown (f)")
				  : _("no growing (f)"));
		ui_box(a.y + 1, a.x, lh, a.w, title, true);
	}
	y = a.y + 2;
	if (!app.devices_loaded) {
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(), _("Looking for devices…"));
		ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
		return;
	}
	if (!app.nvis) {
		ui_wrap(y, 2, a.w - 4, 3, UI_DIM,
			_("No targets found. Insert a drive (the list refreshes by itself) or start with --target FILE."));
		return;
	}
	ui_list_fix(&list, app.nvis, rows);
	/* Long paths (files) take room from the details, up to half. */
	for (int i = list.top; i < app.nvis && i < list.top + rows; i++) {
		const struct target *t = &app.tg[app.vis[i]];
		int need = ui_width(t->dev.path) +
			   (t->dev.kind == QF_DEV_PARTITION ? 3 : 0);
		if (need > pw)
			pw = need < a.w / 2 ? need : a.w / 2;
	}
	for (int i = list.top; i < app.nvis && i < list.top + rows; i++, y += 2) {
		const struct target *t = &app.tg[app.vis[i]];
		bool cur = i == list.cur;
		enum ui_role r = t->selectable ? (cur ? UI_CURSOR : UI_NORMAL)
					       : (cur ? UI_CURSOR_DIM : UI_DIM);
		int indent = t->dev.kind == QF_DEV_PARTITION ? 3 : 0;
		int x;

		ui_row(y, 1, a.w - 2, r, NULL);
		ui_row(y + 1, 1, a.w - 2, r, NULL);
		if (t->selectable)
			ui_put(y, 2, 3, t->selected && !cur ? UI_MARK : r,
			       t->selected ? "[x]" : "[ ]");
		else
			ui_put(y, 2, 3, r, " - ");
		x = 6;
		if (indent)
			ui_put(y, x, indent, r, ui_glyph(UI_G_BRANCH));
		{
			char tail[300];
			ui_tail(t->dev.path, pw - indent, tail, sizeof(tail));
			ui_put(y, x + indent, pw - indent, r, tail);
		}
		x += pw + 1;
		if (!(t->dev.kind == QF_DEV_FILE && t->is_new)) {
			qf_size_str(t->dev.size, size, sizeof(size));
			ui_put(y, x, 10, r, size);
		}
		x += 11;
		describe(t, buf, sizeof(buf));
		ui_put(y, x, a.w - x - 2, r, buf);
		if (!t->selectable)
			snprintf(buf, sizeof(buf), "%s %s", ui_glyph(UI_G_CROSS), t->why);
		else
			contents(t, buf, sizeof(buf));
		if (t->dev.backing_file[0]) {
			size_t n = strlen(buf);
			snprintf(buf + n, sizeof(buf) - n, "  %s", _("backing file:"));
			n = strlen(buf);
			/* The end of a long backing path says more than its start. */
			ui_tail(t->dev.backing_file, a.w - 12 - ui_width(buf),
				buf + n + 1, sizeof(buf) - n - 1);
			buf[n] = ' ';
		}
		ui_put(y + 1, 8, a.w - 10, r, buf);
	}
	if (list.top + rows < app.nvis)
		ui_putf(a.y + lh, a.w - 20, 18, UI_FRAME, " %s %d ",
			_("more:"), app.nvis - list.top - rows);
	draw_details(a.y + 1 + lh, a.w);
}

/* Why @t may not be selected next to the targets selected already: a
 * disk and its own partition would be opened exclusively twice, and the
 * flash would fail as busy, held by itself.  False if it may be. */
static bool conflict(const struct target *t, char *why, size_t len)
{
	const struct qf_device *d = &t->dev;

	for (int i = 0; i < app.nvis; i++) {
		const struct qf_device *o = &app.tg[app.vis[i]].dev;

		if (!app.tg[app.vis[i]].selected || o == d || d->kind == QF_DEV_FILE ||
		    o->kind == QF_DEV_FILE)
			continue;
		if (strcmp(o->name, d->name) == 0)
			snprintf(why, len, _("it is the same device as %s, which is also selected"),
				 o->path);
		else if (d->kind == QF_DEV_PARTITION && strcmp(d->parent, o->name) == 0)
			snprintf(why, len, _("it is a partition of %s, which is also selected"),
				 o->path);
		else if (o->kind == QF_DEV_PARTITION && strcmp(o->parent, d->name) == 0)
			snprintf(why, len, _("its partition %s is also selected"), o->path);
		else
			continue;
		return true;
	}
	return false;
}

bool view_targets_key(int ch)
{
	struct ui_area a = ui_content();
	int rows = (a.h - 3 - DETAILS_H) / 2;
	enum km_action act = km_action(ch);
	struct target *t;

	sync_cursor();
	if (ui_list_move(&list, app.nvis, rows, act)) {
		sync_cursor();
		return true;
	}
	t = app.nvis ? &app.tg[app.vis[list.cur]] : NULL;
	switch (act) {
	case KA_TOGGLE: {
		char why[600];

		if (!t)
			return true;
		if (!t->selectable)
			app_status(true, _("%s cannot be selected: %s"), t->dev.path,
				   t->why);
		else if (!t->selected && conflict(t, why, sizeof(why)))
			app_status(true, _("%s cannot be selected: %s"), t->dev.path,
				   why);
		else
			t->selected = !t->selected;
		return true;
	}
	case KA_ENTER:
		if (!app_selected_count()) {
			app_status(true, "%s", _("Select at least one target with Space first."));
			return true;
		}
		app_goto(app.mode == QF_MODE_PARTITIONS ? SCR_MAP : SCR_CONFIRM);
		return true;
	case KA_BACK:
		app_goto(SCR_MODE);
		return true;
	default:
		break;
	}
	if (ch == 'r' || ch == KEY_F(5)) {
		app_refresh_devices();
		return true;
	}
	if (ch == 's' || ch == 'S') {
		if (app.mode != QF_MODE_WHOLE_DISK) {
			app_status(true, "%s", _("A station writes the whole disk: choose it on the previous screen"));
			return true;
		}
		app_goto(SCR_SLOTS);
		app_refresh_devices();
		return true;
	}
	/* An exact copy and a grown partition exclude each other. */
	if (ch == 'e') {
		app.exact = !app.exact;
		if (app.exact)
			app.grow = false;
		app_status(false, "%s", app.exact
			   ? _("Larger drives get the image unchanged (no fix-ups)")
			   : _("Larger drives get their partition table fixed up"));
		return true;
	}
	if (ch == 'f') {
		app.grow = !app.grow;
		if (app.grow)
			app.exact = false;
		app_status(false, "%s", app.grow
			   ? _("The last partition and its filesystem grow to fill larger drives")
			   : _("Partitions keep their sizes"));
		return true;
	}
	return false;
}
