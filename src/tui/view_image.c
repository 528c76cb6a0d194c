/* view_image.c - screen 2, what is in the image: the header, the backing
 * chain, the internal snapshots (one can be picked to flash) and the
 * partition table, as four panes that Tab moves between. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum pane { P_HEADER, P_CHAIN, P_SNAPS, P_PARTS, P_COUNT };

static enum pane focus = P_PARTS;
static struct ui_list lists[P_COUNT];
static int rows_of[P_COUNT];    /* visible rows per pane, from the last draw */
static int count_of[P_COUNT];   /* rows per pane */
static unsigned seen_visit = ~0u;
static const struct qf_image *seen_img;

static void reset_if_new(void)
{
	if (seen_visit == app.visit && seen_img == app.img)
		return;
	if (seen_img != app.img) {
		memset(lists, 0, sizeof(lists));
		focus = app.pt && app.pt->count ? P_PARTS : P_HEADER;
		lists[P_SNAPS].cur = qf_image_snapshot_selected(app.img) + 1;
	}
	seen_visit = app.visit;
	seen_img = app.img;
}

/* Lines of the header pane: label and value pairs. */
static int header_lines(char lines[][2][160], int max)
{
	const struct qf_layer_info *L = qf_image_layer(app.img, 0);
	char a[32], b[32];
	int n = 0, sel;

#define LINE(label, ...) do { if (n < max) { \
		snprintf(lines[n][0], 160, "%s", label); \
		snprintf(lines[n][1], 160, __VA_ARGS__); n++; } } while (0)

	if (!L)
		return 0;
	if (L->version)
		LINE(_("Format:"), _("%s version %u"), L->format, L->version);
	else
		LINE(_("Format:"), "%s", L->format);
	qf_size_str(qf_image_size(app.img), a, sizeof(a));
	LINE(_("Virtual size:"), _("%s (%llu bytes)"), a,
	     (unsigned long long)qf_image_size(app.img));
	if (L->cluster_size) {
		qf_size_str(L->cluster_size, a, sizeof(a));
		LINE(_("Cluster size:"), "%s", a);
	}
	if (!strcmp(L->format, "qcow2")) {
		char f[160] = "";

		LINE(_("Compression:"), "%s", L->compression ? L->compression
							: _("none"));
		if (L->lazy_refcounts)
			snprintf(f + strlen(f), sizeof(f) - strlen(f), "%s%s",
				 *f ? ", " : "", _("lazy refcounts"));
		if (L->extended_l2)
			snprintf(f + strlen(f), sizeof(f) - strlen(f), "%s%s",
				 *f ? ", " : "", _("extended L2"));
		if (L->data_file)
			snprintf(f + strlen(f), sizeof(f) - strlen(f), "%s%s",
				 *f ? ", " : "", L->data_file_raw ?
				 _("raw external data file") : _("external data file"));
		if (L->refcount_bits && L->refcount_bits != 16)
			snprintf(f + strlen(f), sizeof(f) - strlen(f), _("%s%u-bit refcounts"),
				 *f ? ", " : "", L->refcount_bits);
		LINE(_("Features:"), "%s", *f ? f : _("none"));
		if (L->corrupt)
			LINE(_("State:"), "%s", _("CORRUPT (marked by its writer)"));
		else if (L->dirty)
			LINE(_("State:"), "%s", _("dirty (not closed cleanly)"));
		else
			LINE(_("State:"), "%s", _("clean"));
	} else {
		qf_size_str(L->file_size, b, sizeof(b));
		LINE(_("File size:"), "%s", b);
	}
	{
		const char *from = ui_checksum_origin(app.img);
		/* The pane is half the screen: the origin's name first. */
		if (from)
			LINE(_("SHA-256:"), _("from %s"), from);
		else
			LINE(_("SHA-256:"), "%s", _("none published"));
	}
	{
		uint64_t mapped;
		bool checked;
		const char *bm = qf_image_bmap(app.img, &mapped, &checked);

		if (bm) {
			qf_size_str(mapped, a, sizeof(a));
			/* The pane is narrow: what the bmap says first, its
			 * name (often the image's) last. */
			LINE(_("Bmap:"), checked ? _("%s mapped, %s")
				: _("%s mapped, no checksums, %s"), a, ui_base_name(bm));
		}
	}
	sel = qf_image_snapshot_selected(app.img);
	if (sel >= 0) {
		const struct qf_snapshot_info *s = qf_image_snapshot(app.img, sel);
		LINE(_("Flashing:"), _("snapshot %s (ID %s)"), s ? s->name : "?",
		     s ? s->id : "?");
	} else {
		LINE(_("Flashing:"), "%s", _("the current state"));
	}
#undef LINE
	return n;
}

static void draw_header(int y, int x, int h, int w)
{
	char lines[12][2][160];
	int n = header_lines(lines, 12), rows = h - 2, lw = 0;
	struct ui_list *l = &lists[P_HEADER];

	ui_box(y, x, h, w, _("Header"), focus == P_HEADER);
	for (int i = 0; i < n; i++)
		if (ui_width(lines[i][0]) > lw)
			lw = ui_width(lines[i][0]);
	if (lw > w / 2)
		lw = w / 2;
	count_of[P_HEADER] = n;
	rows_of[P_HEADER] = rows;
	/* A pane without a cursor scrolls: keep top == cur. */
	if (l->cur > n - rows)
		l->cur = n - rows > 0 ? n - rows : 0;
	for (int i = 0; i < rows && l->cur + i < n; i++) {
		const char *v = lines[l->cur + i][1];
		enum ui_role r = UI_NORMAL;
		if (!strcmp(v, _("CORRUPT (marked by its writer)")))
			r = UI_ERROR;
		else if (!strcmp(v, _("dirty (not closed cleanly)")))
			r = UI_WARN;
		ui_put(y + 1 + i, x + 2, lw, UI_HEADING, lines[l->cur + i][0]);
		ui_put(y + 1 + i, x + 3 + lw, w - lw - 5, r, v);
	}
}

static void draw_chain(int y, int x, int h, int w)
{
	int n = qf_image_layer_count(app.img), rows = h - 2;
	struct ui_list *l = &lists[P_CHAIN];
	char title[64];

	snprintf(title, sizeof(title), _("Backing chain (%d)"), n);
	ui_box(y, x, h, w, title, focus == P_CHAIN);
	count_of[P_CHAIN] = 2 * n;
	rows_of[P_CHAIN] = rows;
	if (l->cur > 2 * n - rows)
		l->cur = 2 * n - rows > 0 ? 2 * n - rows : 0;
	for (int row = 0; row < rows; row++) {
		int line = l->cur + row, i = line / 2;
		const struct qf_layer_info *L = qf_image_layer(app.img, i);
		char vs[32], fs[32], buf[600];

		if (i >= n || !L)
			break;
		if (line % 2 == 0) {
			char tail[520];
			ui_tail(L->name, w - 8, tail, sizeof(tail));
			snprintf(buf, sizeof(buf), "%d %s", i, tail);
			ui_put(y + 1 + row, x + 2, w - 4, i == 0 ? UI_HEADING : UI_NORMAL,
			       buf);
		} else {
			qf_size_str(L->virtual_size, vs, sizeof(vs));
			qf_size_str(L->file_size, fs, sizeof(fs));
			snprintf(buf, sizeof(buf), _("%s, virtual %s, file %s"),
				 L->format, vs, fs);
			ui_put(y + 1 + row, x + 4, w - 6, UI_NORMAL, buf);
		}
	}
}

static void draw_snaps(int y, int x, int h, int w)
{
	int n = qf_image_snapshot_count(app.img), rows = h - 2;
	int sel = qf_image_snapshot_selected(app.img) + 1;
	struct ui_list *l = &lists[P_SNAPS];
	char title[64];

	snprintf(title, sizeof(title), _("Snapshots (%d)"), n);
	ui_box(y, x, h, w, title, focus == P_SNAPS);
	count_of[P_SNAPS] = n + 1;
	rows_of[P_SNAPS] = rows;
	ui_list_fix(l, n + 1, rows);
	for (int i = l->top; i <= n && i < l->top + rows; i++) {
		int yy = y + 1 + i - l->top;
		enum ui_role r = (focus == P_SNAPS && i == l->cur) ? UI_CURSOR : UI_NORMAL;
		char buf[400];

		ui_row(yy, x + 1, w - 2, r, NULL);
		ui_put(yy, x + 2, 4, r == UI_CURSOR ? r : UI_MARK, i == sel ? "(*)" : "( )");
		if (i == 0) {
			ui_put(yy, x + 6, w - 8, r, _("current state (no snapshot)"));
		} else {
			const struct qf_snapshot_info *s = qf_image_snapshot(app.img, i - 1);
			char date[32] = "", ds[32], vs[32];
			time_t t = (time_t)s->date_sec;
			struct tm tm;

			if (localtime_r(&t, &tm))
				strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
			qf_size_str(s->disk_size, ds, sizeof(ds));
			qf_size_str(s->vm_state_size, vs, sizeof(vs));
			snprintf(buf, sizeof(buf), _("ID %-4s %-20s %s  disk %s  VM state %s"),
				 s->id, s->name, date, ds, vs);
			ui_put(yy, x + 6, w - 8, r, buf);
		}
	}
}

/* The partition table's columns: number, start, size, type, name, file
 * system, label. */
#define NCOLS 7

static void put_cells(int y, int x, enum ui_role r, const int *wid,
		      const char *const *cell)
{
	for (int i = 0; i < NCOLS; i++) {
		ui_put(y, x, wid[i], r, cell[i]);
		x += wid[i] + 1;
	}
}

static void draw_parts(int y, int x, int h, int w)
{
	const struct qf_ptable *pt = app.pt;
	struct ui_list *l = &lists[P_PARTS];
	int rows = h - 3, iw = w - 4;
	int cn = 3, cs = 10, cz = 10, ct, cm, cf = 7, cl;
	char title[128];

	if (pt && pt->kind[0])
		snprintf(title, sizeof(title), _("Partitions (%s, %d)%s"),
			 strcmp(pt->kind, "dos") == 0 ? "MBR" : "GPT", pt->count,
			 pt->used_backup ? _(", backup GPT used") : "");
	else
		snprintf(title, sizeof(title), "%s", _("Partitions"));
	ui_box(y, x, h, w, title, focus == P_PARTS);
	count_of[P_PARTS] = pt ? pt->count : 0;
	rows_of[P_PARTS] = rows;
	if (!pt || !pt->kind[0] || !pt->count) {
		const char *msg = !pt && app.pt_error[0] ? app.pt_error :
			_("No partition table found: the image can only be written as a whole disk.");
		ui_wrap(y + 1, x + 2, iw, h - 2, !pt && app.pt_error[0] ? UI_ERROR : UI_DIM,
			msg);
		return;
	}
	/* Spare columns go to the type, name and label. */
	ct = 18 + (iw - 76) / 3;
	cm = 12 + (iw - 76) / 3;
	if (ct < 12)
		ct = 12;
	if (cm < 8)
		cm = 8;
	cl = iw - cn - cs - cz - ct - cm - cf - 6;
	if (cl < 6)
		cl = 6;
	const int wid[NCOLS] = { cn, cs, cz, ct, cm, cf, cl };
	const char *head[NCOLS] = { "#", _("Start"), _("Size"), _("Type"),
				    _("Name"), _("FS"), _("Label") };

	put_cells(y + 1, x + 2, UI_HEADING, wid, head);
	ui_list_fix(l, pt->count, rows);
	for (int i = l->top; i < pt->count && i < l->top + rows; i++) {
		const struct qf_partition *p = &pt->parts[i];
		int yy = y + 2 + i - l->top;
		enum ui_role r = (focus == P_PARTS && i == l->cur) ? UI_CURSOR : UI_NORMAL;
		char num[16], start[32], size[32];
		const char *cell[NCOLS] = {
			num, qf_size_str(p->start, start, sizeof(start)),
			qf_size_str(p->size, size, sizeof(size)),
			p->type_name[0] ? p->type_name : p->type, p->name,
			p->fs_type, p->fs_label,
		};

		snprintf(num, sizeof(num), "%d", p->number);
		ui_row(yy, x + 1, w - 2, r, NULL);
		put_cells(yy, x + 2, r, wid, cell);
	}
}

void view_image_draw(void)
{
	struct ui_area a = ui_content();
	int hh, sh, ph, nsnap, nlayers, hw;
	char lines[12][2][160];

	if (!app.img) {
		char buf[600];
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(), _("Opening the image…"));
		ui_put(a.y + a.h / 2, 2, a.w - 4, UI_NORMAL, buf);
		return;
	}
	reset_if_new();
	nsnap = qf_image_snapshot_count(app.img);
	nlayers = qf_image_layer_count(app.img);
	hh = header_lines(lines, 12);
	if (hh < 2 * nlayers)
		hh = 2 * nlayers;
	hh += 2;
	sh = 2 + (nsnap + 1 > 4 ? 4 : nsnap + 1);
	/* The partition table gets what is left, but at least 5 rows. */
	if (hh > a.h - sh - 5)
		hh = a.h - sh - 5;
	ph = a.h - hh - sh;
	hw = a.w / 2;
	draw_header(a.y, a.x, hh, hw);
	draw_chain(a.y, a.x + hw, hh, a.w - hw);
	draw_snaps(a.y + hh, a.x, sh, a.w);
	draw_parts(a.y + hh + sh, a.x, ph, a.w);
}

static void pick_snapshot(void)
{
	int want = lists[P_SNAPS].cur - 1;
	const struct qf_snapshot_info *s;

	if (want == qf_image_snapshot_selected(app.img))
		return;
	s = want >= 0 ? qf_image_snapshot(app.img, want) : NULL;
	/* Reopening gives the snapshot's own partition table too. */
	app_open_image(app.image_name, s ? s->id : NULL, false);
}

unsigned view_image_context(void)
{
	if (app.img)
		reset_if_new();
	return KC_KEYS | (app.img && focus == P_SNAPS ? KC_SNAPS : 0);
}

bool view_image_key(int ch)
{
	enum km_action act = km_action(ch);
	struct ui_list *l;

	if (!app.img)
		return act == KA_ENTER || act == KA_TAB;
	reset_if_new();
	l = &lists[focus];
	switch (act) {
	case KA_TAB:
		focus = (focus + 1) % P_COUNT;
		return true;
	case KA_BTAB:
		focus = (focus + P_COUNT - 1) % P_COUNT;
		return true;
	case KA_ENTER:
		if (app.busy) {
			app_status(true, "%s", _("Please wait until the image is open."));
			return true;
		}
		app_goto(SCR_MODE);
		return true;
	case KA_TOGGLE:
		if (focus == P_SNAPS && !app.busy)
			pick_snapshot();
		return true;
	case KA_BACK:
		/* Also when the image was given on the command line: back
		 * is where another one can be chosen. */
		app.have_source_arg = false;
		app_goto(SCR_SOURCE);
		return true;
	default:
		break;
	}
	if (focus == P_HEADER || focus == P_CHAIN) {
		/* Scrolling panes: cur is the first visible line. */
		int max = count_of[focus] - rows_of[focus];
		if (act == KA_UP && l->cur > 0)
			l->cur--;
		else if (act == KA_DOWN && l->cur < max)
			l->cur++;
		return act == KA_UP || act == KA_DOWN;
	}
	return ui_list_move(l, count_of[focus], rows_of[focus], act);
}
