/* keymap.h - what each key means on each screen, and the help texts that
 * describe them (one table, so hints, help and behaviour agree). */
#ifndef QF_TUI_KEYMAP_H
#define QF_TUI_KEYMAP_H

#include <stdbool.h>

enum km_action {
	KA_NONE = 0,
	KA_UP,
	KA_DOWN,
	KA_LEFT,
	KA_RIGHT,
	KA_PGUP,
	KA_PGDN,
	KA_HOME,
	KA_END,
	KA_ENTER,
	KA_TOGGLE,
	KA_TAB,
	KA_BTAB,
	KA_BACK,
	KA_HELP,
	KA_QUIT,
	KA_REDRAW,
};

/* Screens, as bits, for the table below (same order as enum tui_screen). */
#define KM_SOURCE   (1u << 0)
#define KM_IMAGE    (1u << 1)
#define KM_MODE     (1u << 2)
#define KM_TARGETS  (1u << 3)
#define KM_MAP      (1u << 4)
#define KM_CONFIRM  (1u << 5)
#define KM_PROGRESS (1u << 6)
#define KM_DONE     (1u << 7)
#define KM_SLOTS    (1u << 8)
#define KM_STATION  (1u << 9)
#define KM_HISTORY  (1u << 10)
#define KM_ALL      0x7ffu

/* Where on its screens a key works, for the hint line: a screen with
 * more than one place to be in (a pane, a text field) says which one has
 * the keys now (view_*_context); the others always have KC_KEYS.  The
 * help overlay lists every key of the screen, its text says where. */
#define KC_KEYS     (1u << 0)   /* no text field takes the keys */
#define KC_BROWSE   (1u << 1)   /* source: the list or the path line */
#define KC_FILTER   (1u << 2)   /* source: typing a filter */
#define KC_SNAPS    (1u << 3)   /* image: the snapshots pane */
#define KC_PARTS    (1u << 4)   /* map: the list of partitions */
#define KC_CATALOG  (1u << 5)   /* source: the catalog is shown */
#define KC_CATPROB  (1u << 6)   /* source: the catalog left entries out */
#define KC_HAVECAT  (1u << 7)   /* source: files shown, a catalog given */

struct km_entry {
	unsigned screens;
	const char *key;         /* label, N_() */
	const char *key_ascii;   /* label with --ascii, or NULL for the same */
	const char *hint;        /* short, for the hint line; NULL: help only */
	const char *help;        /* one line for the help overlay */
	unsigned ctx;            /* KC_ bits all needed for the hint; 0: none */
};

/* The general meaning of a key outside text fields. */
enum km_action km_action(int ch);

/* Entries of the table, terminated by one with key == NULL. */
const struct km_entry *km_table(void);

/* Screen bit for a screen number (enum tui_screen). */
static inline unsigned km_screen_bit(int screen)
{
	return 1u << screen;
}

#endif
