/* view_slots.c - the station's slots screen: the physical places (ports)
 * that hold a drive now, and the slots picked before or saved from the
 * last run, each with the drive in it.  Space picks a slot; a port where a
 * new removable drive appears while this screen is open is picked by
 * itself.  Slots
 * holding the running system or the image cannot be picked. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 256

struct row {
	char id[128];
	const struct target *t;      /* the drive in it now, or NULL */
	bool pickable;
	char why[200];
};

static struct row rows[MAX_ROWS];
static int nrows;
static struct ui_list list;
static char cur_id[128];         /* the highlighted slot, kept across lists */
static unsigned seen_visit = ~0u, seen_version = ~0u;
/* The slots that held a drive when the screen was opened, and those
 * seen since: a drive in any other one is new. */
static char (*known)[128];
static int nknown;

static bool is_known(const char *id)
{
	for (int i = 0; i < nknown; i++)
		if (strcmp(known[i], id) == 0)
			return true;
	return false;
}

static void remember(const char *id)
{
	known = realloc(known, (nknown + 1) * sizeof(*known));
	if (!known)
		abort();
	snprintf(known[nknown++], sizeof(*known), "%s", id);
}

static struct row *row_for(const char *id)
{
	for (int i = 0; i < nrows; i++)
		if (strcmp(rows[i].id, id) == 0)
			return &rows[i];
	if (nrows == MAX_ROWS)
		return NULL;
	memset(&rows[nrows], 0, sizeof(rows[nrows]));
	snprintf(rows[nrows].id, sizeof(rows[nrows].id), "%s", id);
	rows[nrows].pickable = true;
	return &rows[nrows++];
}

/* A drive a technician plugs in: removable media, or anything on USB or
 * a card reader.  Only such a drive appearing picks its slot: a disk
 * set up by software (a loop device, say) is picked by hand. */
static bool removable(const struct qf_device *d)
{
	return d->removable || strcmp(d->transport, "usb") == 0 ||
	       strcmp(d->transport, "mmc") == 0;
}

/* Rows from the device list and the picked slots; new drives picked. */
static void build(void)
{
	bool fresh = seen_visit != app.visit;
	bool relisted = seen_version != app.tg_version;

	nrows = 0;
	for (int i = 0; i < app.ntg; i++) {
		const struct target *t = &app.tg[i];
		struct row *r;

		if (t->dev.kind != QF_DEV_DISK || !t->dev.slot[0] || !t->dev.size)
			continue;
		if (!(r = row_for(t->dev.slot)))
			break;
		r->t = t;
		if (t->dev.refusals & (QF_REFUSE_SYSTEM | QF_REFUSE_SOURCE)) {
			r->pickable = false;
			snprintf(r->why, sizeof(r->why), "%s", t->dev.reason);
		}
	}
	for (int i = 0; i < app.nslots; i++)
		row_for(app.slots[i]);
	if (fresh) {
		seen_visit = app.visit;
		nknown = 0;
		for (int i = 0; i < nrows; i++)
			if (rows[i].t)
				remember(rows[i].id);
		list.cur = list.top = 0;
	} else if (relisted && app.devices_loaded) {
		for (int i = 0; i < nrows; i++) {
			struct row *r = &rows[i];

			if (!r->t || is_known(r->id))
				continue;
			remember(r->id);
			if (r->pickable && removable(&r->t->dev) &&
			    app_slot_index(r->id) < 0) {
				app_slot_toggle(r->id);
				app_status(false, _("Slot %s picked: a new drive appeared in it"),
					   r->id);
			}
		}
	}
	seen_version = app.tg_version;
	/* A slot that can no longer be armed is not kept picked. */
	for (int i = 0; i < nrows; i++)
		if (!rows[i].pickable && app_slot_index(rows[i].id) >= 0)
			app_slot_toggle(rows[i].id);
	/* Drives come and go: the highlight stays on its slot. */
	for (int i = 0; !fresh && i < nrows; i++)
		if (strcmp(rows[i].id, cur_id) == 0)
			list.cur = i;
	if (list.cur >= nrows)
		list.cur = nrows ? nrows - 1 : 0;
	if (nrows)
		snprintf(cur_id, sizeof(cur_id), "%s", rows[list.cur].id);
}

static void drive_text(const struct row *r, char *buf, size_t len)
{
	const struct qf_device *d;
	char size[32];

	if (!r->t) {
		snprintf(buf, len, "%s", _("empty"));
		return;
	}
	d = &r->t->dev;
	qf_size_str(d->size, size, sizeof(size));
	snprintf(buf, len, "%s  %s%s%s%s%s", d->path, size, d->model[0] ? "  " : "",
		 d->model, d->serial[0] ? "  SN " : "", d->serial);
}

void view_slots_draw(void)
{
	struct ui_area a = ui_content();
	int lh = a.h - 4, nr = (lh - 2) / 2, y;
	char buf[1024], size[32];

	build();
	qf_size_str(qf_image_size(app.img), size, sizeof(size));
	snprintf(buf, sizeof(buf),
		 _("Station: every drive plugged into a picked slot gets %s (%s), one after the other, hands off. Picked: %d"),
		 app_image_title(), size, app.nslots);
	ui_wrap(a.y, 1, a.w - 2, 2, UI_NORMAL, buf);
	snprintf(buf, sizeof(buf), "%s %s %s", _("Slots"), ui_glyph(UI_G_ARROW),
		 app.qualify ? _("media tested first (t)") : _("no media test (t)"));
	ui_box(a.y + 2, a.x, lh, a.w, buf, true);
	y = a.y + 3;
	if (!app.devices_loaded) {
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(), _("Looking for devices…"));
		ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
		return;
	}
	if (!nrows) {
		ui_wrap(y, 2, a.w - 4, 3, UI_DIM,
			_("No drives found. Plug a drive into each port to use: its port is picked by itself."));
		return;
	}
	ui_list_fix(&list, nrows, nr);
	for (int i = list.top; i < nrows && i < list.top + nr; i++, y += 2) {
		const struct row *r = &rows[i];
		bool cur = i == list.cur, on = app_slot_index(r->id) >= 0;
		enum ui_role role = r->pickable ? (cur ? UI_CURSOR : UI_NORMAL)
						: (cur ? UI_CURSOR_DIM : UI_DIM);
		char tail[200];

		ui_row(y, 1, a.w - 2, role, NULL);
		ui_row(y + 1, 1, a.w - 2, role, NULL);
		ui_put(y, 2, 3, on && !cur ? UI_MARK : role,
		       r->pickable ? (on ? "[x]" : "[ ]") : " - ");
		ui_tail(r->id, a.w - 10, tail, sizeof(tail));
		ui_put(y, 6, a.w - 8, role, tail);
		if (!r->pickable)
			snprintf(buf, sizeof(buf), "%s %s", ui_glyph(UI_G_CROSS), r->why);
		else
			drive_text(r, buf, sizeof(buf));
		ui_put(y + 1, 8, a.w - 10, role, buf);
	}
	y = a.y + 2 + lh;
	snprintf(buf, sizeof(buf), _("Verification: %s   Larger drives: %s%s"),
		 app.verify ? _("on") : _("off"),
		 app.exact ? _("exact copy") : _("table fixed up"),
		 app.grow ? _(", last partition grown") : "");
	ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
	if (app.slots_saved)
		ui_put(y + 1, 2, a.w - 4, UI_DIM,
		       _("The slots of the last station are picked again."));
}

bool view_slots_key(int ch)
{
	struct ui_area a = ui_content();
	int nr = (a.h - 6) / 2;
	enum km_action act = km_action(ch);

	build();
	if (ui_list_move(&list, nrows, nr, act)) {
		if (nrows)
			snprintf(cur_id, sizeof(cur_id), "%s", rows[list.cur].id);
		return true;
	}
	switch (act) {
	case KA_TOGGLE:
		if (!nrows)
			return true;
		if (!rows[list.cur].pickable)
			app_status(true, _("Slot %s cannot be armed: %s"),
				   rows[list.cur].id, rows[list.cur].why);
		else
			app_slot_toggle(rows[list.cur].id);
		return true;
	case KA_ENTER:
		if (!app.nslots) {
			app_status(true, "%s", _("Pick at least one slot with Space first."));
			return true;
		}
		app.arming = true;
		app_goto(SCR_CONFIRM);
		return true;
	case KA_BACK:
		app_goto(SCR_TARGETS);
		return true;
	default:
		break;
	}
	if (ch == 't') {
		app.qualify = !app.qualify;
		app_status(false, "%s", app.qualify
			   ? _("Each drive's medium is tested first: fake capacity, lost writes, speed")
			   : _("Drives are written without a media test"));
		return true;
	}
	if (ch == 'r') {
		app_refresh_devices();
		return true;
	}
	return false;
}
