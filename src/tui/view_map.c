/* view_map.c - screen 5 (partition mode): which target each image
 * partition goes to.  The picker offers only the selected targets large
 * enough for the partition and not yet used by another one; partitions
 * left without a target are not written. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>

static struct ui_list left, right;
static bool focus_right;
static unsigned seen_visit = ~0u;
static int cand[1024];          /* indices into app.tg; -1: do not write */
static int ncand;

static int nparts(void)
{
	return app.pt ? app.pt->count : 0;
}

static int mapped_count(void)
{
	int n = 0;
	for (int i = 0; i < nparts(); i++)
		n += app.map[i][0] != 0;
	return n;
}

static bool used_by_other(const char *path, int part)
{
	for (int i = 0; i < nparts(); i++)
		if (i != part && strcmp(app.map[i], path) == 0)
			return true;
	return false;
}

static bool fits(const struct target *t, const struct qf_partition *p)
{
	return t->dev.kind == QF_DEV_FILE || t->dev.size >= p->size;
}

/* The picker's entries for partition @part. */
static void candidates(int part)
{
	const struct qf_partition *p = &app.pt->parts[part];

	ncand = 0;
	for (int i = 0; i < app.nvis && ncand < 1023; i++) {
		const struct target *t = &app.tg[app.vis[i]];
		if (t->selected && fits(t, p) && !used_by_other(t->dev.path, part))
			cand[ncand++] = app.vis[i];
	}
	cand[ncand++] = -1;
}

static void reset_if_new(void)
{
	if (seen_visit == app.visit)
		return;
	seen_visit = app.visit;
	left.cur = left.top = 0;
	right.cur = right.top = 0;
	focus_right = false;
}

static void draw_left(int y, int h, int w)
{
	int n = nparts(), rows = h - 3;
	char buf[600], size[32];

	ui_box(y, 0, h, w, _("Image partitions"), !focus_right);
	ui_put(y + 1, 2, 3, UI_HEADING, "#");
	ui_put(y + 1, 6, 10, UI_HEADING, _("Size"));
	ui_put(y + 1, 17, 30, UI_HEADING, _("Type, name, file system"));
	ui_put(y + 1, 49, w - 51, UI_HEADING, _("Target"));
	ui_list_fix(&left, n + 1, rows);
	for (int i = left.top; i <= n && i < left.top + rows; i++) {
		int yy = y + 2 + i - left.top;
		enum ui_role r = (!focus_right && i == left.cur) ? UI_CURSOR : UI_NORMAL;

		ui_row(yy, 1, w - 2, r, NULL);
		if (i == n) {
			snprintf(buf, sizeof(buf), _("Continue %s (%d of %d partitions mapped)"),
				 ui_glyph(UI_G_ARROW), mapped_count(), n);
			ui_put(yy, 2, w - 4, r == UI_CURSOR ? r : UI_HEADING, buf);
			continue;
		}
		const struct qf_partition *p = &app.pt->parts[i];
		ui_putf(yy, 2, 3, r, "%d", p->number);
		qf_size_str(p->size, size, sizeof(size));
		ui_put(yy, 6, 10, r, size);
		snprintf(buf, sizeof(buf), "%s%s%s%s%s", p->type_name,
			 p->name[0] ? ", " : "", p->name, p->fs_type[0] ? ", " : "",
			 p->fs_type);
		ui_put(yy, 17, 30, r, buf);
		if (app.map[i][0]) {
			char tail[300];
			snprintf(buf, sizeof(buf), "%s ", ui_glyph(UI_G_ARROW));
			ui_tail(app.map[i], w - 54, tail, sizeof(tail));
			strncat(buf, tail, sizeof(buf) - strlen(buf) - 1);
			ui_put(yy, 49, w - 51, r == UI_CURSOR ? r : UI_MARK, buf);
		} else {
			ui_put(yy, 49, w - 51, r == UI_CURSOR ? r : UI_DIM,
			       _("(not written)"));
		}
	}
}

static void draw_right(int y, int h, int w)
{
	int part = left.cur, rows = h - 2;
	char title[128], buf[600], size[32];

	if (part >= nparts()) {
		ui_box(y, 0, h, w, _("Target"), focus_right);
		ui_wrap(y + 1, 2, w - 4, rows, UI_DIM,
			_("Move to a partition and press Enter to choose its target."));
		return;
	}
	snprintf(title, sizeof(title), _("Target for partition %d"),
		 app.pt->parts[part].number);
	ui_box(y, 0, h, w, title, focus_right);
	candidates(part);
	ui_list_fix(&right, ncand, rows);
	for (int i = right.top; i < ncand && i < right.top + rows; i++) {
		int yy = y + 1 + i - right.top;
		enum ui_role r = (focus_right && i == right.cur) ? UI_CURSOR : UI_NORMAL;

		ui_row(yy, 1, w - 2, r, NULL);
		if (cand[i] < 0) {
			ui_put(yy, 2, w - 4, r == UI_CURSOR ? r : UI_DIM,
			       _("(do not write this partition)"));
			continue;
		}
		const struct target *t = &app.tg[cand[i]];
		bool current = strcmp(app.map[part], t->dev.path) == 0;
		if (t->dev.kind == QF_DEV_FILE)
			snprintf(size, sizeof(size), "%s", _("file"));
		else
			qf_size_str(t->dev.size, size, sizeof(size));
		snprintf(buf, sizeof(buf), "%s %s  %s  %s", current ? "(*)" : "( )",
			 t->dev.path, size, t->dev.model);
		ui_put(yy, 2, w - 4, r, buf);
	}
	if (ncand == 1)
		ui_wrap(y + 2, 2, w - 4, rows - 1, UI_DIM,
			_("No selected target is large enough and free; go back (Esc) to select more."));
}

void view_map_draw(void)
{
	struct ui_area a = ui_content();
	int lh = nparts() + 4;

	reset_if_new();
	if (lh > a.h / 2 + 2)
		lh = a.h / 2 + 2;
	draw_left(a.y, lh, a.w);
	draw_right(a.y + lh, a.h - lh, a.w);
}

static void pick(void)
{
	int part = left.cur;

	candidates(part);
	if (right.cur < 0 || right.cur >= ncand)
		return;
	if (cand[right.cur] < 0)
		app.map[part][0] = 0;
	else
		snprintf(app.map[part], sizeof(app.map[part]), "%s",
			 app.tg[cand[right.cur]].dev.path);
	focus_right = false;
	if (left.cur < nparts())
		left.cur++;
}

static void open_picker(void)
{
	int part = left.cur;

	candidates(part);
	right.cur = right.top = 0;
	for (int i = 0; i < ncand; i++)
		if (cand[i] >= 0 && strcmp(app.tg[cand[i]].dev.path, app.map[part]) == 0)
			right.cur = i;
	focus_right = true;
}

unsigned view_map_context(void)
{
	reset_if_new();
	return KC_KEYS | (focus_right ? 0 : KC_PARTS);
}

bool view_map_key(int ch)
{
	struct ui_area a = ui_content();
	enum km_action act = km_action(ch);
	int n = nparts();

	reset_if_new();
	if (focus_right) {
		if (left.cur >= n) {
			focus_right = false;
			return true;
		}
		candidates(left.cur);
		if (ui_list_move(&right, ncand, a.h / 2, act))
			return true;
		switch (act) {
		case KA_ENTER:
		case KA_TOGGLE:
			pick();
			return true;
		case KA_TAB:
		case KA_BTAB:
		case KA_BACK:
		case KA_LEFT:
			focus_right = false;
			return true;
		default:
			return false;
		}
	}
	if (ui_list_move(&left, n + 1, a.h / 2, act))
		return true;
	switch (act) {
	case KA_ENTER:
		if (left.cur < n) {
			open_picker();
		} else if (!mapped_count()) {
			app_status(true, "%s", _("Choose a target for at least one partition first."));
		} else {
			app_goto(SCR_CONFIRM);
		}
		return true;
	case KA_TOGGLE:
	case KA_TAB:
	case KA_BTAB:
	case KA_RIGHT:
		if (left.cur < n)
			open_picker();
		return true;
	case KA_BACK:
		app_goto(SCR_TARGETS);
		return true;
	default:
		break;
	}
	if ((ch == 'x' || ch == KEY_DC) && left.cur < n) {
		app.map[left.cur][0] = 0;
		return true;
	}
	return false;
}
