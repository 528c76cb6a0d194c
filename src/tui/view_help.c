/* view_help.c - the help overlay: the keys of the current screen, from
 * the key table, over whatever the screen shows; any key closes it. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

/* The key label of @k as shown now. */
static const char *label(const struct km_entry *k)
{
	return _(ui_ascii() && k->key_ascii ? k->key_ascii : k->key);
}

void view_help_draw(void)
{
	const struct km_entry *k;
	struct ui_area a;
	int n = 0, kw = 0, w = COLS - 4, tw, y;

	for (k = km_table(); k->key; k++)
		if ((k->screens & km_screen_bit(app.screen)) && k->help &&
		    ui_width(label(k)) > kw)
			kw = ui_width(label(k));
	/* The text column: the box, its margins and the key column off. */
	tw = w - 4 - kw - 2;
	for (k = km_table(); k->key; k++)
		if ((k->screens & km_screen_bit(app.screen)) && k->help)
			n += ui_width(_(k->help)) > tw ? 2 : 1;
	a = ui_overlay(n + 4, w, _("Keys"));
	y = a.y;
	for (k = km_table(); k->key && y < a.y + a.h - 2; k++) {
		if (!(k->screens & km_screen_bit(app.screen)) || !k->help)
			continue;
		ui_put(y, a.x, kw, UI_KEY, label(k));
		y += ui_wrap(y, a.x + kw + 2, tw, 2, UI_NORMAL, _(k->help));
	}
	ui_put(a.y + a.h - 1, a.x, a.w, UI_DIM, _("Press any key to close this help."));
}

bool view_help_key(int ch)
{
	(void)ch;
	app.help = false;
	return true;
}
