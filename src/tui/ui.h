/* ui.h - qflash-tui's drawing layer: the colour table and its monochrome
 * fallback, clipped UTF-8 text, boxes, bars, lists, text fields, dialogs,
 * and the frame (title, message and hint lines) around every screen. */
#ifndef QF_TUI_UI_H
#define QF_TUI_UI_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UI_MIN_COLS 80
#define UI_MIN_LINES 24

enum ui_color_mode { UI_COLOR_AUTO = 0, UI_COLOR_ALWAYS, UI_COLOR_NEVER };

enum ui_role {
	UI_NORMAL = 0,
	UI_TITLE,        /* top line */
	UI_FRAME,        /* box lines */
	UI_FOCUS,        /* box lines and title of the focused pane */
	UI_HEADING,      /* column headers, labels */
	UI_CURSOR,       /* highlighted row */
	UI_CURSOR_DIM,   /* highlighted row that cannot be chosen */
	UI_DIM,          /* greyed out */
	UI_ERROR,
	UI_OK,
	UI_WARN,
	UI_BAR,          /* done part of a progress bar */
	UI_BAR_EMPTY,
	UI_KEY,          /* key names in the hint line */
	UI_INPUT,        /* text fields */
	UI_MARK,         /* selection marks */
	UI_ROLE_COUNT
};

enum ui_glyph {
	UI_G_CHECK,      /* selected / OK */
	UI_G_CROSS,      /* failed / refused */
	UI_G_ARROW,      /* maps to */
	UI_G_ELLIPSIS,
	UI_G_BRANCH,     /* tree: child entry */
	UI_G_DOT,        /* separator */
};

struct ui_area {
	int y, x, h, w;
};

void ui_setup(enum ui_color_mode mode, bool ascii);
bool ui_ascii(void);
bool ui_too_small(void);
attr_t ui_attr(enum ui_role r);
const char *ui_glyph(enum ui_glyph g);
/* The area between the title line and the message/hint lines. */
struct ui_area ui_content(void);

/* Text: display width of UTF-8 @s; print clipped to @w columns (an
 * ellipsis marks a cut); the return value is the columns used. */
int ui_width(const char *s);
int ui_put(int y, int x, int w, enum ui_role r, const char *s);
int ui_putf(int y, int x, int w, enum ui_role r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Fill @w columns with spaces in @r, then print @s over it. */
void ui_row(int y, int x, int w, enum ui_role r, const char *s);
/* Word-wrap @s into at most @maxl lines; returns the lines used. */
int ui_wrap(int y, int x, int w, int maxl, enum ui_role r, const char *s);
/* Cut @s to at most @w columns from the left ("...tail") into @buf. */
void ui_tail(const char *s, int w, char *buf, size_t len);

void ui_box(int y, int x, int h, int w, const char *title, bool focus);
void ui_hline(int y, int x, int w, enum ui_role r);
/* A bar of @w columns, @frac (0..1) of it filled. */
void ui_bar(int y, int x, int w, double frac);

void ui_fmt_time(double seconds, char *buf, size_t len);
void ui_fmt_rate(double bytes_per_s, char *buf, size_t len);
/* The byte counters of a job (data, zeros, image, network) from line @y;
 * returns the next free line. */
struct qf_progress;
int ui_draw_counts(int y, int x, int w, const struct qf_progress *p);
/* The image's published SHA-256 and where it came from, as a short text
 * ("SHA256SUMS", "the given value"), or NULL when none is published. */
const char *ui_checksum_origin(const struct qf_image *img);
/* The last part of a path or URL. */
const char *ui_base_name(const char *path);
const char *ui_spinner(void);

/* Lists: a cursor and the first visible row. */
struct ui_list {
	int cur, top;
};
/* Keep cur inside [0, n) and visible in @rows rows. */
void ui_list_fix(struct ui_list *l, int n, int rows);
/* Move for a km_action; returns true if the key was a movement key. */
bool ui_list_move(struct ui_list *l, int n, int rows, int action);

/* One-line text fields (UTF-8 bytes, edited at the end). */
struct ui_field {
	char buf[1024];
	size_t len;
};
void ui_field_set(struct ui_field *f, const char *s);
/* Printable keys and Backspace; returns true if consumed. */
bool ui_field_key(struct ui_field *f, int ch);
void ui_field_draw(int y, int x, int w, const struct ui_field *f, bool focus);

/* Where to show the terminal cursor after drawing (else hidden). */
void ui_cursor(int y, int x);

/* Modal dialogs: a message (any key closes it) or a yes/no question. */
void ui_msg(const char *title, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ui_ask(const char *question, void (*yes)(void));
/* A list to pick one of @n @items (kept by the caller until chosen):
 * Enter calls @chosen with its index, Esc closes it. */
void ui_pick(const char *title, const char *const *items, int n,
	     void (*chosen)(int));
bool ui_dialog_active(void);
void ui_dialog_close(void);
bool ui_dialog_key(int ch);
void ui_dialog_draw(void);

/* The frame around a screen: title line, message line, hint line (the
 * keys of @screen that work in context @ctx, KC_ bits). */
void ui_frame(int screen, unsigned ctx, const char *title, const char *right,
	      const char *status, bool status_error, const char *busy);
/* A centred box for overlays; returns its inner area. */
struct ui_area ui_overlay(int h, int w, const char *title);

void ui_begin(void);
void ui_finish(void);

#endif
