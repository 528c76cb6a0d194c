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
#define KM_ALL      0xffu

struct km_entry {
	unsigned screens;
	const char *key;         /* label, N_() */
	const char *key_ascii;   /* label with --ascii, or NULL for the same */
	const char *hint;        /* short, for the hint line; NULL: help only */
	const char *help;        /* one line for the help overlay */
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
