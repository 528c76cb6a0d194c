/* keymap.c - the key table of qflash-tui: every key, the screens it works
 * on, its hint and its help text; and the mapping of raw keys to actions. */
#include "tui.h"
#include "keymap.h"

#include <curses.h>

#define CTRL_KEY(c) ((c) & 0x1f)

static const struct km_entry table[] = {
	{ KM_SOURCE | KM_MODE | KM_TARGETS | KM_HISTORY, N_("↑↓"), N_("Up/Dn"),
	  N_("move"), N_("Move the highlight (also j and k)"), KC_KEYS },
	{ KM_IMAGE | KM_MAP, N_("↑↓"), N_("Up/Dn"),
	  N_("move"), N_("Move or scroll in the focused pane (also j and k)"), 0 },
	{ KM_SOURCE, N_("Enter"), NULL, N_("open"),
	  N_("Enter the directory or open the highlighted image"), KC_BROWSE },
	{ KM_SOURCE, N_("Enter"), NULL, N_("open"),
	  N_("In the catalog: open the image, or fold a folder (also Space)"),
	  KC_CATALOG },
	{ KM_SOURCE, "c", NULL, N_("files"),
	  N_("Switch between the catalog (--catalog) and the file list"),
	  KC_CATALOG },
	{ KM_SOURCE, "c", NULL, N_("catalog"), NULL, KC_KEYS | KC_HAVECAT },
	{ KM_SOURCE, "m", NULL, N_("left out"),
	  N_("In the catalog: the entries it left out, and why"),
	  KC_CATPROB },
	{ KM_SOURCE, "/", NULL, N_("filter"),
	  N_("Filter the file list: type part of a name, Enter to keep it, Esc to clear it"),
	  KC_KEYS | KC_BROWSE },
	{ KM_SOURCE, N_("Enter"), NULL, N_("keep filter"),
	  N_("While filtering: keep the filter and go back to the list"), KC_FILTER },
	{ KM_SOURCE, N_("Esc"), NULL, N_("clear filter"),
	  N_("While filtering: clear the filter"), KC_FILTER },
	{ KM_SOURCE, N_("Tab"), NULL, N_("path/URL"),
	  N_("Switch between the file list and the line for a path or http(s) URL"),
	  KC_BROWSE },
	{ KM_SOURCE, N_("Backspace"), NULL, NULL,
	  N_("Go to the parent directory"), KC_KEYS | KC_BROWSE },
	{ KM_IMAGE | KM_MAP, N_("Tab"), NULL, N_("pane"),
	  N_("Switch to the next pane (Shift-Tab: previous)"), 0 },
	{ KM_IMAGE, N_("Space"), NULL, N_("pick snapshot"),
	  N_("In the snapshots pane: flash the highlighted snapshot instead of the current state"),
	  KC_SNAPS },
	{ KM_IMAGE | KM_MODE, N_("Enter"), NULL, N_("next"),
	  N_("Go on to the next step"), 0 },
	{ KM_TARGETS, N_("Space"), NULL, N_("select"),
	  N_("Select or deselect the highlighted target (greyed ones cannot be selected)"), 0 },
	{ KM_TARGETS, N_("Enter"), NULL, N_("next"),
	  N_("Go on with the selected targets"), 0 },
	{ KM_TARGETS, "r", NULL, NULL,
	  N_("Look for devices again now (the list also refreshes by itself)"), 0 },
	{ KM_TARGETS, "e", NULL, N_("exact"),
	  N_("Write the image unchanged onto larger drives: no partition-table fix-ups"), 0 },
	{ KM_TARGETS, "f", NULL, N_("fill drive"),
	  N_("Grow the last partition and its ext2/3/4 filesystem to fill larger drives"), 0 },
	{ KM_TARGETS, "s", NULL, N_("station"),
	  N_("Station mode: flash every drive plugged into the slots you pick, one after the other"), 0 },
	{ KM_SLOTS, N_("↑↓"), N_("Up/Dn"), N_("move"),
	  N_("Move the highlight (also j and k)"), 0 },
	{ KM_SLOTS, N_("Space"), NULL, N_("pick"),
	  N_("Pick or drop the highlighted slot (a port where a new removable or USB drive appears is picked by itself)"), 0 },
	{ KM_SLOTS, "t", NULL, N_("media test"),
	  N_("Test each drive's medium first: fake capacity, lost writes, read-only, speed"), 0 },
	{ KM_SLOTS, N_("Enter"), NULL, N_("arm"),
	  N_("Go on to arm the station on the picked slots (asks for yes)"), 0 },
	{ KM_SLOTS, "r", NULL, NULL,
	  N_("Look for drives again now (the list also refreshes by itself)"), 0 },
	{ KM_STATION, "p", NULL, N_("pause"),
	  N_("Pause or resume: a paused station starts no new drive; drives being flashed carry on"), 0 },
	{ KM_STATION, "d", NULL, N_("disarm"),
	  N_("Disarm the station and go back to the targets (asks first while drives are being flashed)"), 0 },
	{ KM_STATION, N_("PgUp/PgDn"), NULL, NULL,
	  N_("Show the previous or next slots when they do not all fit"), 0 },
	{ KM_MAP, N_("Enter"), NULL, N_("pick"),
	  N_("Choose a target for the highlighted partition; on \"Continue\": go on"), 0 },
	{ KM_MAP, "x", NULL, N_("clear"),
	  N_("In the list of partitions: do not write the highlighted partition"),
	  KC_PARTS },
	{ KM_CONFIRM, N_("yes Enter"), NULL, N_("write"),
	  N_("Type yes and press Enter to start writing; anything else writes nothing"), 0 },
	{ KM_PROGRESS, N_("c/Esc"), NULL, N_("cancel"),
	  N_("Cancel the flash (asks first)"), 0 },
	{ KM_DONE, "a", NULL, N_("flash again"),
	  N_("Flash the same image to other targets (for example newly inserted drives)"), 0 },
	{ KM_DONE, N_("←→ Enter"), N_("Left/Right Enter"), N_("choose"),
	  N_("Choose a button and press it"), 0 },
	{ KM_IMAGE | KM_MODE | KM_TARGETS | KM_MAP | KM_CONFIRM | KM_SLOTS, N_("Esc"), NULL,
	  N_("back"), N_("Go back one step (also Backspace)"), 0 },
	{ KM_DONE, N_("Esc"), NULL, N_("back"),
	  N_("Back to the targets, with the same ones still selected (to flash them again)"), 0 },
	{ KM_HISTORY, "r", NULL, N_("reload"),
	  N_("Read the flash log again"), 0 },
	{ KM_HISTORY, N_("Esc"), NULL, N_("back"),
	  N_("Back to the screen the history was opened from (also Backspace)"), 0 },
	{ KM_ALL & ~KM_CONFIRM, "?", NULL, N_("help"),
	  N_("Show the keys of this screen"), KC_KEYS },
	{ KM_ALL & ~KM_CONFIRM & ~KM_DONE, "q", NULL, N_("quit"),
	  N_("Quit (asks first while a flash runs or a station is armed)"), KC_KEYS },
	{ KM_DONE, "q", NULL, N_("quit"),
	  N_("Quit at once: nothing runs any more"), KC_KEYS },
	{ KM_SOURCE | KM_DONE, "H", NULL, N_("history"),
	  N_("The flash history: the latest flashes the flash log records, and how many passed today"),
	  KC_KEYS },
	{ KM_ALL, N_("Ctrl-L"), NULL, NULL, N_("Redraw the screen"), 0 },
	{ 0, NULL, NULL, NULL, NULL, 0 },
};

const struct km_entry *km_table(void)
{
	return table;
}

enum km_action km_action(int ch)
{
	switch (ch) {
	case KEY_UP: case 'k':
		return KA_UP;
	case KEY_DOWN: case 'j':
		return KA_DOWN;
	case KEY_LEFT: case 'h':
		return KA_LEFT;
	case KEY_RIGHT: case 'l':
		return KA_RIGHT;
	case KEY_PPAGE:
		return KA_PGUP;
	case KEY_NPAGE:
		return KA_PGDN;
	case KEY_HOME: case 'g':
		return KA_HOME;
	case KEY_END: case 'G':
		return KA_END;
	case '\n': case '\r': case KEY_ENTER:
		return KA_ENTER;
	case ' ':
		return KA_TOGGLE;
	case '\t':
		return KA_TAB;
	case KEY_BTAB:
		return KA_BTAB;
	case 27: case KEY_BACKSPACE: case 127: case CTRL_KEY('h'):
		return KA_BACK;
	case '?': case KEY_F(1):
		return KA_HELP;
	case 'q': case 'Q':
		return KA_QUIT;
	case CTRL_KEY('l'):
		return KA_REDRAW;
	default:
		return KA_NONE;
	}
}
