/* ui.c - qflash-tui's drawing layer: colour table and monochrome fallback,
 * UTF-8 aware clipping, boxes (ACS or plain ASCII), bars, lists, text
 * fields, modal dialogs and the frame shared by all screens. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <ctype.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

struct ui_color {
	short fg, bg;      /* -1: the terminal's default */
	attr_t cattr;      /* added when colours are used */
	attr_t mono;       /* used instead without colours */
};

static const struct ui_color colors[UI_ROLE_COUNT] = {
	[UI_NORMAL]     = { -1, -1, 0, 0 },
	[UI_TITLE]      = { COLOR_WHITE, COLOR_BLUE, A_BOLD, A_REVERSE | A_BOLD },
	[UI_FRAME]      = { COLOR_BLUE, -1, 0, 0 },
	[UI_FOCUS]      = { COLOR_CYAN, -1, A_BOLD, A_BOLD },
	[UI_HEADING]    = { COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	[UI_CURSOR]     = { COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE },
	[UI_CURSOR_DIM] = { COLOR_BLACK, COLOR_WHITE, A_DIM, A_REVERSE | A_DIM },
	[UI_DIM]        = { -1, -1, A_DIM, A_DIM },
	[UI_ERROR]      = { COLOR_RED, -1, A_BOLD, A_BOLD },
	[UI_OK]         = { COLOR_GREEN, -1, A_BOLD, A_BOLD },
	[UI_WARN]       = { COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE },
	[UI_BAR]        = { COLOR_BLACK, COLOR_GREEN, 0, A_REVERSE },
	[UI_BAR_EMPTY]  = { COLOR_WHITE, COLOR_BLACK, 0, 0 },
	[UI_KEY]        = { COLOR_CYAN, -1, A_BOLD, A_BOLD },
	[UI_INPUT]      = { COLOR_WHITE, COLOR_BLUE, A_BOLD, A_UNDERLINE },
	[UI_MARK]       = { COLOR_GREEN, -1, A_BOLD, A_BOLD },
};

static bool use_colors;
static bool use_ascii;     /* --ascii: no ACS line drawing, ASCII glyphs */
static bool utf8;          /* the locale can show UTF-8 glyphs */
static int want_cy = -1, want_cx = -1;

void ui_setup(enum ui_color_mode mode, bool ascii)
{
	use_ascii = ascii;
	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	use_colors = false;
	if (mode == UI_COLOR_NEVER || !has_colors())
		return;
	if (mode == UI_COLOR_AUTO && getenv("NO_COLOR") && *getenv("NO_COLOR"))
		return;
	if (start_color() != OK)
		return;
	bool defaults = use_default_colors() == OK;
	if (COLOR_PAIRS <= UI_ROLE_COUNT)
		return;
	for (int r = 0; r < UI_ROLE_COUNT; r++) {
		short fg = colors[r].fg, bg = colors[r].bg;
		if (!defaults) {
			fg = fg < 0 ? COLOR_WHITE : fg;
			bg = bg < 0 ? COLOR_BLACK : bg;
		}
		init_pair((short)(r + 1), fg, bg);
	}
	use_colors = true;
}

bool ui_ascii(void)
{
	return use_ascii;
}

bool ui_too_small(void)
{
	return COLS < UI_MIN_COLS || LINES < UI_MIN_LINES;
}

attr_t ui_attr(enum ui_role r)
{
	if (use_colors)
		return COLOR_PAIR(r + 1) | colors[r].cattr;
	return colors[r].mono;
}

const char *ui_glyph(enum ui_glyph g)
{
	static const char *const fancy[] = { "✓", "✗", "→", "…", "└", "·" };
	static const char *const plain[] = { "*", "x", "->", "~", "`-", "-" };

	return (use_ascii || !utf8) ? plain[g] : fancy[g];
}

struct ui_area ui_content(void)
{
	struct ui_area a = { 1, 0, LINES - 3, COLS };
	return a;
}

/* ------------------------------------------------------------------ text */

/* Walk @s, stopping before the character that would pass @maxw columns;
 * returns the bytes covered, *cols the columns they take. */
static size_t measure(const char *s, int maxw, int *cols)
{
	mbstate_t st;
	size_t i = 0, n = strlen(s);
	int w = 0;

	memset(&st, 0, sizeof(st));
	while (i < n) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + i, n - i, &st);
		int cw;
		if (k == (size_t)-1 || k == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			k = 1;
			cw = 1;
		} else {
			if (k == 0)
				k = 1;
			cw = wcwidth(wc);
			if (cw < 0)
				cw = 1;
		}
		if (w + cw > maxw)
			break;
		w += cw;
		i += k;
	}
	*cols = w;
	return i;
}

int ui_width(const char *s)
{
	int cols;
	measure(s, 1 << 30, &cols);
	return cols;
}

int ui_put(int y, int x, int w, enum ui_role r, const char *s)
{
	int cols, total;
	size_t bytes;

	if (!s || y < 0 || y >= LINES || x >= COLS)
		return 0;
	if (x + w > COLS)
		w = COLS - x;
	if (w <= 0)
		return 0;
	attrset(ui_attr(r));
	total = ui_width(s);
	if (total <= w) {
		mvaddstr(y, x, s);
		cols = total;
	} else {
		const char *ell = ui_glyph(UI_G_ELLIPSIS);
		int ew = ui_width(ell);
		bytes = measure(s, w - ew, &cols);
		mvaddnstr(y, x, s, (int)bytes);
		addstr(ell);
		cols += ew;
	}
	attrset(A_NORMAL);
	return cols;
}

int ui_putf(int y, int x, int w, enum ui_role r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ui_put(y, x, w, r, buf);
}

void ui_row(int y, int x, int w, enum ui_role r, const char *s)
{
	if (x + w > COLS)
		w = COLS - x;
	if (w <= 0 || y < 0 || y >= LINES)
		return;
	attrset(ui_attr(r));
	mvhline(y, x, ' ', w);
	attrset(A_NORMAL);
	if (s)
		ui_put(y, x, w, r, s);
}

void ui_tail(const char *s, int w, char *buf, size_t len)
{
	const char *ell = ui_glyph(UI_G_ELLIPSIS);
	int total = ui_width(s), ew = ui_width(ell);
	const char *p = s;

	if (total <= w || w <= ew) {
		snprintf(buf, len, "%s", s);
		return;
	}
	/* Skip characters until the rest fits next to the ellipsis. */
	while (*p && ui_width(p) > w - ew) {
		p++;
		while ((*p & 0xC0) == 0x80)
			p++;
	}
	snprintf(buf, len, "%s%s", ell, p);
}

/* Word-wrap @s; with @draw false only count the lines. */
static int wrap(int y, int x, int w, int maxl, enum ui_role r, const char *s,
		bool draw)
{
	int line = 0;
	const char *p = s;

	if (w <= 0)
		return 0;
	while (*p && line < maxl) {
		const char *nl = strchr(p, '\n');
		size_t seg = nl ? (size_t)(nl - p) : strlen(p);
		char buf[1024];
		int cols;
		size_t fit;

		if (seg >= sizeof(buf))
			seg = sizeof(buf) - 1;
		memcpy(buf, p, seg);
		buf[seg] = 0;
		fit = measure(buf, w, &cols);
		if (fit < seg) {
			/* Break at the last space that fits, if any. */
			size_t brk = fit;
			while (brk > 0 && buf[brk] != ' ')
				brk--;
			if (brk > 0)
				fit = brk;
			buf[fit] = 0;
			if (draw)
				ui_put(y + line, x, w, r, buf);
			p += fit;
			while (*p == ' ')
				p++;
		} else {
			if (draw)
				ui_put(y + line, x, w, r, buf);
			p += seg;
			if (*p == '\n')
				p++;
		}
		line++;
	}
	return line;
}

int ui_wrap(int y, int x, int w, int maxl, enum ui_role r, const char *s)
{
	return wrap(y, x, w, maxl, r, s, true);
}

/* ------------------------------------------------------- boxes and bars */

void ui_hline(int y, int x, int w, enum ui_role r)
{
	if (w <= 0)
		return;
	attrset(ui_attr(r));
	if (use_ascii)
		mvhline(y, x, '-', w);
	else
		mvhline(y, x, ACS_HLINE, w);
	attrset(A_NORMAL);
}

void ui_box(int y, int x, int h, int w, const char *title, bool focus)
{
	chtype ul = ACS_ULCORNER, ur = ACS_URCORNER, ll = ACS_LLCORNER,
	       lr = ACS_LRCORNER, hl = ACS_HLINE, vl = ACS_VLINE;
	enum ui_role r = focus ? UI_FOCUS : UI_FRAME;

	if (h < 2 || w < 2)
		return;
	if (use_ascii) {
		ul = ur = ll = lr = '+';
		hl = '-';
		vl = '|';
	}
	attrset(ui_attr(r));
	mvaddch(y, x, ul);
	mvhline(y, x + 1, hl, w - 2);
	mvaddch(y, x + w - 1, ur);
	mvvline(y + 1, x, vl, h - 2);
	mvvline(y + 1, x + w - 1, vl, h - 2);
	mvaddch(y + h - 1, x, ll);
	mvhline(y + h - 1, x + 1, hl, w - 2);
	mvaddch(y + h - 1, x + w - 1, lr);
	attrset(A_NORMAL);
	if (title && *title && w > 6) {
		char buf[512];
		snprintf(buf, sizeof(buf), " %s ", title);
		ui_put(y, x + 2, w - 4, focus ? UI_FOCUS : UI_HEADING, buf);
	}
}

void ui_bar(int y, int x, int w, double frac)
{
	int fill;

	if (w < 3)
		return;
	if (!(frac >= 0))
		frac = 0;
	if (frac > 1)
		frac = 1;
	ui_put(y, x, 1, UI_NORMAL, "[");
	ui_put(y, x + w - 1, 1, UI_NORMAL, "]");
	w -= 2;
	fill = (int)(frac * w + 0.5);
	attrset(ui_attr(UI_BAR));
	mvhline(y, x + 1, use_ascii ? '#' : ' ', fill);
	attrset(ui_attr(UI_BAR_EMPTY));
	mvhline(y, x + 1 + fill, use_ascii ? '.' : ' ', w - fill);
	attrset(A_NORMAL);
}

int ui_draw_counts(int y, int x, int w, const struct qf_progress *p)
{
	char buf[256], s1[32], s2[32], s3[32];

	qf_size_str(p->bytes_written, s1, sizeof(s1));
	qf_size_str(p->bytes_zeroed, s2, sizeof(s2));
	qf_size_str(p->bytes_read, s3, sizeof(s3));
	snprintf(buf, sizeof(buf), _("Data written: %s   Zeros: %s   Read from image: %s"),
		 s1, s2, s3);
	ui_put(y++, x, w, UI_NORMAL, buf);
	if (p->net_bytes || p->net_retries) {
		qf_size_str(p->net_bytes, s1, sizeof(s1));
		ui_fmt_rate(p->net_rate, s2, sizeof(s2));
		snprintf(buf, sizeof(buf), _("Network: %s received, %s, %u retries"),
			 s1, s2, (unsigned)p->net_retries);
		ui_put(y++, x, w, UI_NORMAL, buf);
	}
	return y;
}

void ui_fmt_time(double s, char *buf, size_t len)
{
	unsigned long t;

	if (!(s >= 0) || s > 360000 * 24) {
		snprintf(buf, len, "--:--");
		return;
	}
	t = (unsigned long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

void ui_fmt_rate(double bps, char *buf, size_t len)
{
	if (!(bps >= 0))
		bps = 0;
	snprintf(buf, len, "%.1f MB/s", bps / 1e6);
}

const char *ui_spinner(void)
{
	static const char *const fancy[] = {
		"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };
	static const char *const plain[] = { "|", "/", "-", "\\" };
	struct timespec ts;
	long tick;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	tick = ts.tv_sec * 10 + ts.tv_nsec / 100000000;
	if (use_ascii || !utf8)
		return plain[tick % 4];
	return fancy[tick % 10];
}

/* ----------------------------------------------------------------- lists */

void ui_list_fix(struct ui_list *l, int n, int rows)
{
	if (rows < 1)
		rows = 1;
	if (l->cur >= n)
		l->cur = n - 1;
	if (l->cur < 0)
		l->cur = 0;
	if (l->top > l->cur)
		l->top = l->cur;
	if (l->cur >= l->top + rows)
		l->top = l->cur - rows + 1;
	if (l->top > n - rows)
		l->top = n - rows;
	if (l->top < 0)
		l->top = 0;
}

bool ui_list_move(struct ui_list *l, int n, int rows, int action)
{
	switch (action) {
	case KA_UP: l->cur--; break;
	case KA_DOWN: l->cur++; break;
	case KA_PGUP: l->cur -= rows > 1 ? rows - 1 : 1; break;
	case KA_PGDN: l->cur += rows > 1 ? rows - 1 : 1; break;
	case KA_HOME: l->cur = 0; break;
	case KA_END: l->cur = n - 1; break;
	default: return false;
	}
	ui_list_fix(l, n, rows);
	return true;
}

/* ---------------------------------------------------------- text fields */

void ui_field_set(struct ui_field *f, const char *s)
{
	snprintf(f->buf, sizeof(f->buf), "%s", s);
	f->len = strlen(f->buf);
}

bool ui_field_key(struct ui_field *f, int ch)
{
	if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		/* Drop a whole UTF-8 character. */
		while (f->len > 0) {
			unsigned char c = (unsigned char)f->buf[--f->len];
			if ((c & 0xC0) != 0x80)
				break;
		}
		f->buf[f->len] = 0;
		return true;
	}
	if (ch == 21) {             /* Ctrl-U */
		f->len = 0;
		f->buf[0] = 0;
		return true;
	}
	if (ch >= 32 && ch < 256 && ch != 127) {
		if (f->len + 1 < sizeof(f->buf)) {
			f->buf[f->len++] = (char)ch;
			f->buf[f->len] = 0;
		}
		return true;
	}
	return false;
}

void ui_field_draw(int y, int x, int w, const struct ui_field *f, bool focus)
{
	char shown[1100];
	int cols;

	if (w < 2)
		return;
	ui_row(y, x, w, UI_INPUT, NULL);
	/* Show the end of long input: that is where typing happens. */
	ui_tail(f->buf, w - 1, shown, sizeof(shown));
	cols = ui_put(y, x, w - 1, UI_INPUT, shown);
	if (focus)
		ui_cursor(y, x + cols);
}

void ui_cursor(int y, int x)
{
	want_cy = y;
	want_cx = x;
}

/* --------------------------------------------------------------- dialogs */

enum dlg_kind { DLG_NONE, DLG_MSG, DLG_ASK, DLG_PICK };

static struct {
	enum dlg_kind kind;
	char title[128];
	char text[QF_ERR_MSG_MAX + 256];
	void (*yes)(void);
	/* DLG_PICK */
	const char *const *items;
	int n, cur;
	void (*chosen)(int);
} dlg;

void ui_msg(const char *title, const char *fmt, ...)
{
	va_list ap;

	dlg.kind = DLG_MSG;
	snprintf(dlg.title, sizeof(dlg.title), "%s", title);
	va_start(ap, fmt);
	vsnprintf(dlg.text, sizeof(dlg.text), fmt, ap);
	va_end(ap);
	dlg.yes = NULL;
}

void ui_ask(const char *question, void (*yes)(void))
{
	dlg.kind = DLG_ASK;
	snprintf(dlg.title, sizeof(dlg.title), "%s", _("Question"));
	snprintf(dlg.text, sizeof(dlg.text), "%s", question);
	dlg.yes = yes;
}

void ui_pick(const char *title, const char *const *items, int n,
	     void (*chosen)(int))
{
	dlg.kind = DLG_PICK;
	snprintf(dlg.title, sizeof(dlg.title), "%s", title);
	dlg.items = items;
	dlg.n = n;
	dlg.cur = 0;
	dlg.chosen = chosen;
}

static bool pick_key(int ch)
{
	switch (km_action(ch)) {
	case KA_UP:
		if (dlg.cur > 0)
			dlg.cur--;
		return true;
	case KA_DOWN:
		if (dlg.cur < dlg.n - 1)
			dlg.cur++;
		return true;
	case KA_ENTER: {
		void (*chosen)(int) = dlg.chosen;
		dlg.kind = DLG_NONE;
		if (chosen)
			chosen(dlg.cur);
		return true;
	}
	default:
		break;
	}
	if (ch == 27 || ch == 'q')
		dlg.kind = DLG_NONE;
	return true;
}

static void pick_draw(void)
{
	int w = 44, rows = dlg.n, top = 0;
	struct ui_area a;

	for (int i = 0; i < dlg.n; i++)
		if (ui_width(dlg.items[i]) + 8 > w)
			w = ui_width(dlg.items[i]) + 8;
	if (w > 70)
		w = 70;
	if (rows > LINES - 8)
		rows = LINES - 8 > 1 ? LINES - 8 : 1;
	if (dlg.cur >= rows)
		top = dlg.cur - rows + 1;
	a = ui_overlay(rows + 4, w, dlg.title);
	for (int i = 0; i < rows && top + i < dlg.n; i++)
		ui_put(a.y + i, a.x, a.w, top + i == dlg.cur ? UI_CURSOR : UI_NORMAL,
		       dlg.items[top + i]);
	ui_put(a.y + a.h - 1, a.x, a.w, UI_KEY, _("Up/Down choose  Enter open  Esc cancel"));
}

bool ui_dialog_active(void)
{
	return dlg.kind != DLG_NONE;
}

void ui_dialog_close(void)
{
	dlg.kind = DLG_NONE;
}

bool ui_dialog_key(int ch)
{
	/* TRANSLATORS: the key that answers "yes" in (y/n) questions. */
	const char *ykey = _("y");

	if (dlg.kind == DLG_PICK)
		return pick_key(ch);
	if (dlg.kind == DLG_MSG) {
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER || ch == 27 ||
		    ch == ' ' || ch == 'q')
			dlg.kind = DLG_NONE;
		return true;
	}
	if (dlg.kind == DLG_ASK) {
		if (ch == 'y' || ch == 'Y' || ch == (unsigned char)ykey[0] ||
		    ch == toupper((unsigned char)ykey[0])) {
			void (*yes)(void) = dlg.yes;
			dlg.kind = DLG_NONE;
			if (yes)
				yes();
		} else if (ch == 'n' || ch == 'N' || ch == 27 || ch == '\n' ||
			   ch == '\r' || ch == KEY_ENTER || ch == 'q') {
			dlg.kind = DLG_NONE;
		}
		return true;
	}
	return false;
}

struct ui_area ui_overlay(int h, int w, const char *title)
{
	struct ui_area a;

	if (w > COLS - 2)
		w = COLS - 2;
	if (h > LINES - 2)
		h = LINES - 2;
	a.y = (LINES - h) / 2;
	a.x = (COLS - w) / 2;
	for (int i = 0; i < h; i++)
		ui_row(a.y + i, a.x, w, UI_NORMAL, NULL);
	ui_box(a.y, a.x, h, w, title, true);
	a.y += 1;
	a.x += 2;
	a.h = h - 2;
	a.w = w - 4;
	return a;
}

void ui_dialog_draw(void)
{
	const char *hint;
	struct ui_area a;
	int w, lines = 0, tw;

	if (dlg.kind == DLG_NONE)
		return;
	if (dlg.kind == DLG_PICK) {
		pick_draw();
		return;
	}
	/* Questions carry their own "(y/n)". */
	hint = dlg.kind == DLG_ASK ? "" : _("Press Enter to continue");
	tw = ui_width(dlg.text);
	w = tw + 6;
	if (w < 44)
		w = 44;
	if (w > 70)
		w = 70;
	if (w > COLS - 2)
		w = COLS - 2;
	lines = wrap(0, 0, w - 4, LINES, UI_NORMAL, dlg.text, false);
	if (lines > LINES - 6)
		lines = LINES - 6;
	a = ui_overlay(lines + (hint[0] ? 4 : 3), w, dlg.title);
	ui_wrap(a.y + 1, a.x, a.w, lines, UI_NORMAL, dlg.text);
	if (hint[0])
		ui_put(a.y + a.h - 1, a.x, a.w, UI_KEY, hint);
}

/* ----------------------------------------------------------------- frame */

static void draw_hints(int screen, unsigned ctx)
{
	const struct km_entry *k;
	int x = 1, y = LINES - 1;

	for (k = km_table(); k->key; k++) {
		const char *key, *hint;
		int need;

		if (!(k->screens & km_screen_bit(screen)) || !k->hint ||
		    (k->ctx & ~ctx))
			continue;
		key = _(use_ascii && k->key_ascii ? k->key_ascii : k->key);
		hint = _(k->hint);
		need = ui_width(key) + 1 + ui_width(hint);
		if (x + need >= COLS)
			break;
		x += ui_put(y, x, COLS - x, UI_KEY, key) + 1;
		x += ui_put(y, x, COLS - x, UI_NORMAL, hint) + 2;
	}
}

void ui_frame(int screen, unsigned ctx, const char *title, const char *right,
	      const char *status, bool status_error, const char *busy)
{
	char buf[512];
	int rw = right ? ui_width(right) : 0;

	ui_row(0, 0, COLS, UI_TITLE, NULL);
	snprintf(buf, sizeof(buf), " qflash-tui %s %s", ui_glyph(UI_G_DOT), title);
	if (right && rw + 2 < COLS - ui_width(buf) - 2) {
		ui_put(0, 0, COLS - rw - 2, UI_TITLE, buf);
		ui_put(0, COLS - rw - 1, rw, UI_TITLE, right);
	} else if (right) {
		int lw = ui_put(0, 0, COLS / 2, UI_TITLE, buf);
		char tail[512];
		ui_tail(right, COLS - lw - 2, tail, sizeof(tail));
		ui_put(0, lw + 1, COLS - lw - 2, UI_TITLE, tail);
	} else {
		ui_put(0, 0, COLS, UI_TITLE, buf);
	}
	if (busy) {
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(), busy);
		ui_put(LINES - 2, 1, COLS - 2, UI_WARN, buf);
	} else if (status && *status) {
		ui_put(LINES - 2, 1, COLS - 2, status_error ? UI_ERROR : UI_OK,
		       status);
	}
	draw_hints(screen, ctx);
}

void ui_begin(void)
{
	want_cy = want_cx = -1;
	erase();
}

void ui_finish(void)
{
	if (want_cy >= 0) {
		curs_set(1);
		move(want_cy, want_cx);
	} else {
		curs_set(0);
	}
	refresh();
}

const char *ui_checksum_origin(const struct qf_image *img)
{
	const char *origin = NULL;

	if (!img || !qf_image_checksum(img, &origin))
		return NULL;
	if (!origin || !strcmp(origin, "-sha256"))
		return _("the given value");
	return ui_base_name(origin);
}

const char *ui_base_name(const char *path)
{
	/* A path or URL: the file's name says enough on a bench. */
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}
