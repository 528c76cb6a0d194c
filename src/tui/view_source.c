/* view_source.c - screen 1, choosing the image: a file browser showing
 * directories and image files (filtered by typing '/') and a line to type
 * a path or an http(s) URL. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
	char *name;
	bool dir;
	uint64_t size;
};

static char cwd[PATH_MAX];
static struct entry *ents;
static int nents;
static int *shown;             /* entries passing the filter */
static int nshown;
static struct ui_list list;
static struct ui_field filt, path;
static bool editing_filter;
static bool focus_path;
static bool loaded;
static unsigned seen_visit = ~0u;
static char load_error[PATH_MAX + 256];

static const char *const image_suffixes[] = {
	".qcow2", ".qcow", ".img", ".raw", ".gz", ".zst", ".xz", ".lz4", ".bz2",
	".zip", NULL
};

/* "*.qcow2 *.qcow ...": the suffixes above, for the empty-list note. */
static const char *suffix_patterns(void)
{
	static char buf[128];

	if (!buf[0])
		for (int i = 0; image_suffixes[i]; i++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				 "%s*%s", i ? " " : "", image_suffixes[i]);
	return buf;
}

static bool is_image_name(const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; image_suffixes[i]; i++) {
		size_t k = strlen(image_suffixes[i]);
		if (n > k && strcasecmp(name + n - k, image_suffixes[i]) == 0)
			return true;
	}
	return false;
}

static int cmp_entries(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (strcmp(x->name, "..") == 0)
		return -1;
	if (strcmp(y->name, "..") == 0)
		return 1;
	if (x->dir != y->dir)
		return x->dir ? -1 : 1;
	return strcoll(x->name, y->name);
}

static void free_entries(void)
{
	for (int i = 0; i < nents; i++)
		free(ents[i].name);
	free(ents);
	free(shown);
	ents = NULL;
	shown = NULL;
	nents = nshown = 0;
}

static void apply_filter(void)
{
	nshown = 0;
	for (int i = 0; i < nents; i++) {
		if (filt.len && strcmp(ents[i].name, "..") != 0 &&
		    !strcasestr(ents[i].name, filt.buf))
			continue;
		shown[nshown++] = i;
	}
	/* While filtering, the first match (not "..") is the likely pick. */
	if (filt.len)
		list.cur = nshown > 1 && strcmp(ents[shown[0]].name, "..") == 0;
	ui_list_fix(&list, nshown, 1 << 20);
}

static void load_dir(void)
{
	DIR *d;
	struct dirent *de;
	int cap = 64;

	free_entries();
	load_error[0] = 0;
	loaded = true;
	if (!cwd[0] && !getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	d = opendir(cwd);
	if (!d) {
		snprintf(load_error, sizeof(load_error), "%s: %s", cwd,
			 strerror(errno));
		shown = calloc(1, sizeof(int));
		return;
	}
	ents = calloc(cap, sizeof(*ents));
	while (ents && (de = readdir(d))) {
		struct stat st;
		bool dir;

		if (de->d_name[0] == '.' && strcmp(de->d_name, "..") != 0)
			continue;
		if (strcmp(de->d_name, "..") == 0 && strcmp(cwd, "/") == 0)
			continue;
		/* A large directory of other files costs no stat each (one
		 * on a hung network mount would freeze the screen). */
		if (de->d_type != DT_DIR && de->d_type != DT_LNK &&
		    de->d_type != DT_UNKNOWN && !is_image_name(de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		dir = S_ISDIR(st.st_mode);
		if (!dir && !(S_ISREG(st.st_mode) && is_image_name(de->d_name)))
			continue;
		if (nents == cap) {
			struct entry *n = realloc(ents, 2 * cap * sizeof(*ents));
			if (!n)
				break;
			ents = n;
			cap *= 2;
		}
		ents[nents].name = strdup(de->d_name);
		ents[nents].dir = dir;
		ents[nents].size = (uint64_t)st.st_size;
		if (ents[nents].name)
			nents++;
	}
	closedir(d);
	qsort(ents, nents, sizeof(*ents), cmp_entries);
	shown = calloc(nents ? nents : 1, sizeof(int));
	list.cur = list.top = 0;
	apply_filter();
}

static void enter_dir(const char *name)
{
	char next[PATH_MAX * 2], real[PATH_MAX];

	if (name[0] == '/')
		snprintf(next, sizeof(next), "%s", name);
	else
		snprintf(next, sizeof(next), "%s/%s", cwd, name);
	if (!realpath(next, real)) {
		app_status(true, "%s: %s", next, strerror(errno));
		return;
	}
	snprintf(cwd, sizeof(cwd), "%s", real);
	ui_field_set(&filt, "");
	editing_filter = false;
	load_dir();
}

/* "~", "~/..." and "~user/..." into @out, as a shell would: people type
 * them.  False when @p has no such prefix or the home is unknown. */
static bool expand_tilde(const char *p, char *out, size_t len)
{
	const char *rest = strchrnul(p, '/'), *home = NULL;
	struct passwd pw, *res = NULL;
	char pwbuf[2048], user[256];

	if (p[0] != '~')
		return false;
	if (rest == p + 1) {
		home = getenv("HOME");
		if ((!home || !*home) &&
		    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			home = res->pw_dir;
	} else {
		snprintf(user, sizeof(user), "%.*s", (int)(rest - p - 1), p + 1);
		if (getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
			home = res->pw_dir;
	}
	if (!home || !*home)
		return false;
	snprintf(out, len, "%s%s", home, rest);
	return true;
}

static void open_path(const char *p)
{
	char expanded[PATH_MAX];
	struct stat st;

	if (!*p)
		return;
	if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
		app_open_image(p, NULL, true);
		return;
	}
	if (expand_tilde(p, expanded, sizeof(expanded)))
		p = expanded;
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		enter_dir(p);
		focus_path = false;
		return;
	}
	if (p[0] == '/') {
		app_open_image(p, NULL, true);
	} else {
		char full[PATH_MAX * 2];
		snprintf(full, sizeof(full), "%s/%s", cwd, p);
		app_open_image(full, NULL, true);
	}
}

/* Coming back to this screen starts in the list, where q quits. */
static void reset_if_new(void)
{
	if (seen_visit == app.visit)
		return;
	seen_visit = app.visit;
	focus_path = false;
	editing_filter = false;
}

void view_source_draw(void)
{
	struct ui_area a = ui_content();
	int bh = a.h - 3, rows = bh - 2, y;
	char title[PATH_MAX + 64], tail[PATH_MAX + 8];

	reset_if_new();
	if (view_catalog_active()) {
		view_catalog_draw(&a);
		return;
	}
	if (!loaded)
		load_dir();
	ui_tail(cwd, a.w - 24, tail, sizeof(tail));
	if (filt.len || editing_filter)
		snprintf(title, sizeof(title), _("%s (filter: %s)"), tail, filt.buf);
	else
		snprintf(title, sizeof(title), "%s", tail);
	ui_box(a.y, a.x, bh, a.w, title, !focus_path);
	ui_list_fix(&list, nshown, rows);
	y = a.y + 1;
	if (load_error[0])
		ui_put(y, 2, a.w - 4, UI_ERROR, load_error);
	else if (!nshown) {
		char note[256];

		snprintf(note, sizeof(note), _("No image files here (%s)"),
			 suffix_patterns());
		ui_put(y, 2, a.w - 4, UI_DIM, note);
	}
	for (int i = list.top; i < nshown && i < list.top + rows; i++, y++) {
		struct entry *en = &ents[shown[i]];
		bool cur = i == list.cur && !focus_path;
		enum ui_role r = cur ? UI_CURSOR : (en->dir ? UI_HEADING : UI_NORMAL);
		char name[PATH_MAX + 2], size[32];

		snprintf(name, sizeof(name), "%s%s", en->name, en->dir ? "/" : "");
		ui_row(y, 1, a.w - 2, r, NULL);
		ui_put(y, 2, a.w - 16, r, name);
		if (!en->dir) {
			qf_size_str(en->size, size, sizeof(size));
			ui_put(y, a.w - 13, 11, r, size);
		}
	}
	y = a.y + bh;
	if (editing_filter) {
		ui_put(y, 1, 20, UI_HEADING, _("Filter:"));
		ui_field_draw(y, 22, a.w - 24, &filt, true);
	} else {
		ui_put(y, 1, a.w - 2, UI_DIM,
		       _("Type / to filter the list; Tab to type a path or URL."));
	}
	ui_put(y + 1, 1, 20, focus_path ? UI_FOCUS : UI_HEADING, _("Path or URL:"));
	ui_field_draw(y + 1, 22, a.w - 24, &path, focus_path);
}

unsigned view_source_context(void)
{
	reset_if_new();
	if (view_catalog_active())
		return view_catalog_context();
	if (editing_filter)
		return KC_FILTER;
	return focus_path ? KC_BROWSE
			  : KC_KEYS | KC_BROWSE | (app.catalog_name ? KC_HAVECAT : 0);
}

bool view_source_key(int ch)
{
	struct ui_area a = ui_content();
	int rows = a.h - 5;
	enum km_action act = km_action(ch);

	reset_if_new();
	if (view_catalog_active())
		return view_catalog_key(ch);
	if (editing_filter) {
		if (ch == 27) {
			ui_field_set(&filt, "");
			editing_filter = false;
		} else if (act == KA_ENTER || act == KA_TAB ||
			   ch == KEY_DOWN || ch == KEY_UP) {
			/* Only the arrows: j and k are letters of names. */
			editing_filter = false;
		} else if (ui_field_key(&filt, ch)) {
			/* Backspace in an empty filt ends the filtering. */
			if (!filt.len && (ch == KEY_BACKSPACE || ch == 127 || ch == 8))
				editing_filter = false;
		}
		apply_filter();
		return true;
	}
	if (focus_path) {
		if (act == KA_TAB || act == KA_BTAB || ch == 27)
			focus_path = false;
		else if (act == KA_ENTER)
			open_path(path.buf);
		else
			ui_field_key(&path, ch);
		return true;
	}
	if (ui_list_move(&list, nshown, rows, act))
		return true;
	switch (act) {
	case KA_ENTER:
		if (nshown) {
			struct entry *en = &ents[shown[list.cur]];
			if (en->dir)
				enter_dir(en->name);
			else
				open_path(en->name);
		}
		return true;
	case KA_TAB:
	case KA_BTAB:
		focus_path = true;
		return true;
	case KA_BACK:
		if (ch == 27 && filt.len) {
			ui_field_set(&filt, "");
			apply_filter();
		} else if (ch != 27) {
			enter_dir("..");
		}
		return true;
	default:
		break;
	}
	if (ch == '/') {
		editing_filter = true;
		return true;
	}
	if (ch == 'c' && app.catalog_name) {
		view_catalog_toggle();
		return true;
	}
	if (ch == KEY_F(5)) {
		load_dir();
		return true;
	}
	if (ch == 'H') {
		view_history_show();
		return true;
	}
	return false;
}
