/* view_station.c - the armed station: a tile per slot with its state and
 * bar, the drive in it (model, serial, size), speed and time left, the
 * last result with its reason and the copies made; a tile flashes when
 * its drive is done.  p pauses, d disarms (asking while drives are being
 * flashed). */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>

#define TILE_H 8

static int first;                /* the first tile shown */

static enum ui_role state_role(enum qf_slot_state s)
{
	switch (s) {
	case QF_SLOT_PASS: return UI_OK;
	case QF_SLOT_FAIL: return UI_ERROR;
	case QF_SLOT_EMPTY: case QF_SLOT_STOPPED: return UI_DIM;
	default: return UI_HEADING;
	}
}

static bool running(enum qf_slot_state s)
{
	return s >= QF_SLOT_CHECKING && s <= QF_SLOT_FINISHING;
}

static void draw_tile(int y, int x, int w, int i)
{
	const struct qf_slot_status *s = &app.tiles[i];
	bool flash = app_tile_flashing(i);
	char buf[1024], a[32], b[32], title[160];
	int iw = w - 4;

	ui_tail(s->id, w - 6, title, sizeof(title));
	ui_box(y, x, TILE_H, w, title, flash);
	if (flash)
		for (int r = 1; r < TILE_H - 1; r++)
			ui_row(y + r, x + 1, w - 2, UI_CURSOR, NULL);
	/* State, and the bar while a drive is in the works. */
	snprintf(buf, sizeof(buf), "%s", qf_slot_state_name(s->state));
	ui_put(y + 1, x + 2, 14, flash ? UI_CURSOR : state_role(s->state), buf);
	if (running(s->state) || s->state == QF_SLOT_PASS) {
		ui_bar(y + 1, x + 17, iw - 23, s->fraction);
		ui_putf(y + 1, x + w - 7, 6, flash ? UI_CURSOR : UI_NORMAL, "%3.0f%%",
			s->fraction * 100);
	} else if (s->state == QF_SLOT_EMPTY) {
		ui_put(y + 1, x + 17, iw - 15, flash ? UI_CURSOR : UI_DIM,
		       _("plug in a drive"));
	}
	/* The drive. */
	if (s->device[0]) {
		qf_size_str(s->size, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s  %s%s%s%s%s", s->device, s->size ? a : "",
			 s->model[0] ? "  " : "", s->model,
			 s->serial[0] ? "  SN " : "", s->serial);
		ui_put(y + 2, x + 2, iw, flash ? UI_CURSOR : UI_NORMAL, buf);
	}
	if (running(s->state)) {
		ui_fmt_rate(s->rate, a, sizeof(a));
		ui_fmt_time(s->eta, b, sizeof(b));
		snprintf(buf, sizeof(buf), _("Speed: %s   ETA: %s"), a, b);
		ui_put(y + 3, x + 2, iw, flash ? UI_CURSOR : UI_NORMAL, buf);
	} else if (s->state == QF_SLOT_PASS || s->state == QF_SLOT_FAIL) {
		ui_put(y + 3, x + 2, iw, flash ? UI_CURSOR : UI_WARN, _("remove the drive"));
	}
	/* The last result, with its reason. */
	if (s->result != QF_SLOT_EMPTY) {
		snprintf(buf, sizeof(buf), _("Last: %s%s%s"),
			 qf_slot_state_name(s->result),
			 s->result == QF_SLOT_FAIL && s->reason[0] ? " " : "",
			 s->result == QF_SLOT_FAIL ? s->reason : "");
		ui_wrap(y + 4, x + 2, iw, 2, flash ? UI_CURSOR : state_role(s->result), buf);
	} else if (s->state == QF_SLOT_QUALIFYING && s->reason[0]) {
		ui_wrap(y + 4, x + 2, iw, 2, UI_NORMAL, s->reason);
	}
	snprintf(buf, sizeof(buf), _("Copies: %u   Failed: %u"), s->copies, s->failures);
	ui_put(y + 6, x + 2, iw, flash ? UI_CURSOR : UI_NORMAL, buf);
}

static int per_row(int w)
{
	return w >= 120 ? 3 : w >= 76 ? 2 : 1;
}

void view_station_draw(void)
{
	struct ui_area a = ui_content();
	int cols = per_row(a.w), tw = a.w / cols, fit = (a.h - 2) / TILE_H * cols;
	unsigned copies = 0, failures = 0;
	char buf[512], size[32];
	int busy = 0;

	for (int i = 0; i < app.ntiles; i++) {
		copies += app.tiles[i].copies;
		failures += app.tiles[i].failures;
		busy += running(app.tiles[i].state);
	}
	if (!app.station) {
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(),
			 _("Arming the station: opening the image (a remote one is downloaded once, into the cache)…"));
		ui_wrap(a.y + 1, 2, a.w - 4, 3, UI_NORMAL, buf);
		return;
	}
	qf_size_str(qf_image_size(app.img), size, sizeof(size));
	snprintf(buf, sizeof(buf), P_("%s %s (%s), %d slot; copies: %u, failed: %u, flashing: %d",
				      "%s %s (%s), %d slots; copies: %u, failed: %u, flashing: %d",
				      app.ntiles),
		 app.station_paused ? _("PAUSED:") : _("Armed:"), app_image_title(), size,
		 app.ntiles, copies, failures, busy);
	ui_put(a.y, 1, a.w - 2, app.station_paused ? UI_WARN : UI_HEADING, buf);
	if (fit < cols)
		fit = cols;
	if (first >= app.ntiles)
		first = 0;
	for (int i = first; i < app.ntiles && i < first + fit; i++) {
		int k = i - first;

		draw_tile(a.y + 1 + k / cols * TILE_H, a.x + k % cols * tw, tw, i);
	}
	if (first + fit < app.ntiles)
		ui_putf(a.y + a.h - 1, a.w - 24, 22, UI_FRAME, " %s %d (PgDn) ",
			_("more:"), app.ntiles - first - fit);
}

bool view_station_key(int ch)
{
	struct ui_area a = ui_content();
	int cols = per_row(a.w), fit = (a.h - 2) / TILE_H * cols;
	enum km_action act = km_action(ch);

	if (fit < cols)
		fit = cols;
	if (act == KA_PGDN || act == KA_DOWN) {
		if (first + fit < app.ntiles)
			first += fit;
		return true;
	}
	if (act == KA_PGUP || act == KA_UP) {
		first = first > fit ? first - fit : 0;
		return true;
	}
	if (ch == 'p' || ch == 'P') {
		app_station_pause();
		return true;
	}
	if (ch == 'd' || ch == 'D') {
		app_station_disarm();
		return true;
	}
	return false;
}
