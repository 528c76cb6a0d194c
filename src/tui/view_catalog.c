/* view_catalog.c - the source screen's catalog (qflash-tui --catalog): the
 * site's images as a tree of folders with sizes, release dates and
 * whether the cache holds each one, read off the UI thread (kept in the
 * cache, so that it also works without the server); the highlighted
 * entry's description and checksum below; Enter opens an image with the
 * checksum and bmap the catalog gives it, through the cache when the
 * cache holds it. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"
#include "task.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct qf_catalog *cat;
static char *cache_dir;          /* the default cache, when there is one */
static bool loading, files;      /* files: the file list is shown instead */
static char load_error[QF_ERR_MSG_MAX];
static char load_warning[1024];
static bool *folded;             /* per entry: a folder shown closed */
static int *shown;               /* entries not inside a folded folder */
static int nshown;
static struct ui_list list;

/* The catalog's options for the image picked from it, kept while that
 * image is the one open (for opening it again, as a station does). */
static struct {
	char *url, *sha256, *disk_sha256, *origin, *bmap;
	bool cached;
} picked;

static void rebuild(void)
{
	int hide_below = -1;    /* depth under which entries are hidden */

	nshown = 0;
	for (size_t i = 0; cat && i < cat->count; i++) {
		const struct qf_catalog_entry *en = &cat->entries[i];

		if (hide_below >= 0 && en->depth > hide_below)
			continue;
		hide_below = -1;
		shown[nshown++] = (int)i;
		if (en->folder && folded[i])
			hide_below = en->depth;
	}
	ui_list_fix(&list, nshown, 1 << 20);
}

static void load(void)
{
	struct task *t;

	if (loading || !app.catalog_name)
		return;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->kind = TASK_CATALOG;
	t->name = strdup(app.catalog_name);
	t->catalog_cache = cache_dir;
	if (!t->name || task_start(t) < 0) {
		snprintf(load_error, sizeof(load_error),
			 _("Cannot start a thread: %s"), strerror(errno));
		task_free(t);
		return;
	}
	loading = true;
	app.busy++;
	app.busy_what = _("Reading the catalog…");
}

void view_catalog_start(void)
{
	cache_dir = qf_cache_default_dir();
	load();
}

void view_catalog_loaded(struct task *t)
{
	loading = false;
	app.busy--;
	load_error[0] = 0;
	snprintf(load_warning, sizeof(load_warning), "%s", t->warnings);
	if (t->ret < 0) {
		snprintf(load_error, sizeof(load_error), "%s", t->err.msg);
		return;
	}
	qf_catalog_free(cat);
	free(folded);
	free(shown);
	cat = t->cat;
	t->cat = NULL;
	folded = calloc(cat->count ? cat->count : 1, sizeof(*folded));
	shown = calloc(cat->count ? cat->count : 1, sizeof(*shown));
	if (!folded || !shown)
		abort();
	list.cur = list.top = 0;
	rebuild();
	if (load_warning[0])
		app_status(true, _("Warning: %s"), load_warning);
	else if (cat->nmessages)
		app_status(true, P_("The catalog leaves out %zu malformed entry (m: which and why)",
				    "The catalog leaves out %zu malformed entries (m: which and why)",
				    cat->nmessages),
			   cat->nmessages);
}

bool view_catalog_active(void)
{
	return app.catalog_name && !files;
}

void view_catalog_free(void)
{
	qf_catalog_free(cat);
	free(folded);
	free(shown);
	free(cache_dir);
	free(picked.url);
	free(picked.sha256);
	free(picked.disk_sha256);
	free(picked.origin);
	free(picked.bmap);
	memset(&picked, 0, sizeof(picked));
	cat = NULL;
}

bool view_catalog_options(const char *name, struct qf_open_opts *o)
{
	if (!picked.url || strcmp(picked.url, name) != 0)
		return false;
	o->sha256 = picked.sha256;
	o->disk_sha256 = picked.disk_sha256;
	o->sha256_origin = picked.origin;
	o->bmap = picked.bmap;
	if (picked.cached)
		o->cache_dir = cache_dir;
	return true;
}

static void replace(char **dst, const char *s)
{
	free(*dst);
	*dst = s && *s ? strdup(s) : NULL;
	if (s && *s && !*dst)
		abort();
}

static void open_entry(const struct qf_catalog_entry *en)
{
	char *origin = NULL;

	replace(&picked.url, en->url);
	replace(&picked.sha256, en->image_download_sha256);
	replace(&picked.disk_sha256, en->extract_sha256);
	replace(&picked.bmap, en->bmap);
	if (asprintf(&origin, _("the catalog %s"), app.catalog_name) < 0)
		abort();
	free(picked.origin);
	picked.origin = origin;
	picked.cached = en->cached;
	app_open_image(en->url, NULL, true);
}

/* "12.3 GiB", the image's size on the disk (else the download's). */
static void entry_size(const struct qf_catalog_entry *en, char *buf, size_t len)
{
	int64_t n = en->extract_size >= 0 ? en->extract_size : en->image_download_size;

	if (en->folder || n < 0)
		snprintf(buf, len, "%s", en->folder ? "" : "-");
	else
		qf_size_str((uint64_t)n, buf, len);
}

static const char *cached_word(const struct qf_catalog_entry *en)
{
	if (en->folder)
		return "";
	if (!strstr(en->url, "://"))
		return _("local");
	return en->cached ? _("cached") : "";
}

static void draw_details(int y, int w, const struct qf_catalog_entry *en)
{
	char line[1024], dl[32] = "";
	const char *sum = en->image_download_sha256;
	bool any = sum[0] || en->extract_sha256[0];

	if (en->description[0])
		ui_put(y, 2, w, UI_NORMAL, en->description);
	y++;
	if (en->folder)
		return;
	ui_put(y++, 2, w, UI_DIM, en->url_shown);
	if (en->image_download_size >= 0)
		qf_size_str((uint64_t)en->image_download_size, dl, sizeof(dl));
	/* The file's checksum, else the disk's; both are checked. */
	if (sum[0])
		snprintf(line, sizeof(line), _("SHA-256 %s"), sum);
	else if (en->extract_sha256[0])
		snprintf(line, sizeof(line), _("SHA-256 of the disk image %s"),
			 en->extract_sha256);
	else
		snprintf(line, sizeof(line), "%s", _("No SHA-256 given"));
	if (dl[0])
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 _("; download %s"), dl);
	ui_put(y, 2, w, any ? UI_DIM : UI_WARN, line);
}

static void title_of(char *buf, size_t len, int w)
{
	const char *fmt = cat && cat->offline
		? _("Catalog %s, offline: from the cache (%s)")
		: _("Catalog %s");
	char tail[1024], when[32] = "?";
	struct tm tm;
	time_t t = cat ? (time_t)cat->stored : 0;
	int room;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	/* The tail of the name gives way to what is said of it (the date
	 * takes 16 columns, the box's corners and title spaces 6). */
	room = w - ui_width(fmt) - 16 - 6;

	ui_tail(app.catalog_name, room < 12 ? 12 : room, tail, sizeof(tail));
	snprintf(buf, len, fmt, tail, when);
}

void view_catalog_draw(const struct ui_area *ap)
{
	struct ui_area a = *ap;
	int bh = a.h - 4, rows = bh - 3, y = a.y + 1, wname, wsz = 10, wdate = 10;
	int wcache = ui_width(_("cached")) > 6 ? ui_width(_("cached")) : 6;
	char title[1200];

	title_of(title, sizeof(title), a.w - 4);
	ui_box(a.y, a.x, bh, a.w, title, true);
	wname = a.w - 4 - wsz - wdate - wcache - 6;
	if (loading && !cat) {
		ui_putf(y, 2, a.w - 4, UI_DIM, "%s %s", ui_spinner(),
			_("Reading the catalog…"));
		return;
	}
	if (!cat) {
		ui_wrap(y, 2, a.w - 4, bh - 2, UI_ERROR, load_error);
		ui_put(a.y + bh, 1, a.w - 2, UI_DIM,
		       _("r: read it again; c: the file list instead."));
		return;
	}
	ui_put(y, 2, wname, UI_HEADING, _("Name"));
	ui_put(y, 2 + wname + 2, wsz, UI_HEADING, _("Size"));
	ui_put(y, 2 + wname + 2 + wsz + 2, wdate, UI_HEADING, _("Released"));
	ui_put(y, a.w - 2 - wcache, wcache, UI_HEADING, _("Cache"));
	y++;
	if (!nshown)
		ui_put(y, 2, a.w - 4, UI_DIM, _("The catalog lists no usable image."));
	ui_list_fix(&list, nshown, rows);
	for (int i = list.top; i < nshown && i < list.top + rows; i++, y++) {
		int k = shown[i];
		const struct qf_catalog_entry *en = &cat->entries[k];
		bool cur = i == list.cur;
		enum ui_role r = cur ? UI_CURSOR : en->folder ? UI_HEADING : UI_NORMAL;
		char name[1100], size[32];

		snprintf(name, sizeof(name), "%*s%s%s%s", 2 * en->depth, "",
			 en->folder ? (folded[k] ? "+ " : "- ") : "", en->name,
			 en->folder ? "/" : "");
		entry_size(en, size, sizeof(size));
		ui_row(y, 1, a.w - 2, r, NULL);
		ui_put(y, 2, wname, r, name);
		ui_put(y, 2 + wname + 2, wsz, r, size);
		ui_put(y, 2 + wname + 2 + wsz + 2, wdate, r, en->release_date);
		ui_put(y, a.w - 2 - wcache, wcache,
		       cur ? r : en->cached ? UI_OK : UI_DIM, cached_word(en));
	}
	if (nshown)
		draw_details(a.y + bh, a.w - 4, &cat->entries[shown[list.cur]]);
}

unsigned view_catalog_context(void)
{
	return KC_KEYS | KC_CATALOG | (cat && cat->nmessages ? KC_CATPROB : 0);
}

static void show_problems(void)
{
	char text[4096] = "";
	size_t n = 0;

	for (size_t i = 0; i < cat->nmessages && n + 2 < sizeof(text); i++)
		n += snprintf(text + n, sizeof(text) - n, "%s%s", i ? "\n" : "",
			      cat->messages[i]);
	ui_msg(_("Entries the catalog leaves out"), "%s", text);
}

void view_catalog_toggle(void)
{
	files = !files;
}

bool view_catalog_key(int ch)
{
	struct ui_area a = ui_content();
	enum km_action act = km_action(ch);

	if (ch == 'c') {
		files = true;
		return true;
	}
	if (ch == 'r' || ch == KEY_F(5)) {
		load();
		return true;
	}
	if (ch == 'H') {
		view_history_show();
		return true;
	}
	if (!cat)
		return false;
	if (ch == 'm' && cat->nmessages) {
		show_problems();
		return true;
	}
	if (ui_list_move(&list, nshown, a.h - 7, act))
		return true;
	if (nshown && (act == KA_ENTER || act == KA_TOGGLE)) {
		int k = shown[list.cur];
		const struct qf_catalog_entry *en = &cat->entries[k];

		if (en->folder) {
			folded[k] = !folded[k];
			rebuild();
		} else if (act == KA_ENTER) {
			open_entry(en);
		}
		return true;
	}
	return false;
}
