/* view_confirm.c - screen 6: exactly what will be overwritten, and the
 * typed confirmation.  Only "yes" starts the flash; anything else goes
 * back to the targets having written nothing. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct ui_field answer;
static unsigned seen_visit = ~0u;

static void reset_if_new(void)
{
	if (seen_visit == app.visit)
		return;
	seen_visit = app.visit;
	ui_field_set(&answer, "");
}

/* What the prepared job will do to the target at @path. */
static const struct qf_target_plan *plan_for(const char *path)
{
	for (int i = 0; app.pending && i < qf_job_target_count(app.pending); i++)
		if (strcmp(qf_job_target_path(app.pending, i), path) == 0)
			return qf_job_target_plan(app.pending, i);
	return NULL;
}

/* One target: what it is (after @lead, if any, on a line of its own),
 * what is on it now, and what will be adjusted on it or left as it is.
 * Returns the lines used. */
static int draw_target(int y, int x, int w, const char *lead,
		       const struct target *t)
{
	const struct qf_device *d = &t->dev;
	char buf[1024], size[32];
	int n = 0;

	if (lead[0]) {
		ui_put(y + n++, x, w, UI_HEADING, lead);
		x += 2;
		w -= 2;
	}
	if (d->kind == QF_DEV_FILE && t->is_new)
		snprintf(size, sizeof(size), "%s", _("new file"));
	else
		qf_size_str(d->size, size, sizeof(size));
	snprintf(buf, sizeof(buf), "%s  %s%s%s%s%s", d->path, size,
		 d->model[0] ? "  " : "", d->model, d->serial[0] ? "  SN " : "",
		 d->serial);
	ui_put(y + n++, x, w, UI_HEADING, buf);
	if (d->kind == QF_DEV_FILE && t->is_new) {
		snprintf(buf, sizeof(buf), "%s", _("now: does not exist yet"));
	} else if (d->kind == QF_DEV_FILE && !d->size) {
		snprintf(buf, sizeof(buf), "%s", _("now: an empty file"));
	} else if (d->kind == QF_DEV_FILE) {
		snprintf(buf, sizeof(buf), _("now: a file of %s"), size);
	} else if (d->pttype[0] || d->fs_summary[0]) {
		snprintf(buf, sizeof(buf), _("now: %s%s%s"), d->pttype,
			 d->pttype[0] && d->fs_summary[0] ? "; " : "", d->fs_summary);
	} else {
		snprintf(buf, sizeof(buf), "%s",
			 _("now: no partition table or file system found"));
	}
	ui_put(y + n++, x + 4, w - 4, UI_NORMAL, buf);
	{
		const struct qf_target_plan *pl = plan_for(d->path);
		if (pl && pl->adjust_text[0]) {
			snprintf(buf, sizeof(buf), _("will adjust: %s"), pl->adjust_text);
			n += ui_wrap(y + n, x + 4, w - 4, 2, UI_NORMAL, buf);
		}
		if (pl && pl->left_text[0]) {
			snprintf(buf, sizeof(buf), _("note: %s"), pl->left_text);
			n += ui_wrap(y + n, x + 4, w - 4, 2, UI_WARN, buf);
		}
	}
	return n;
}

/* Arming a station: the image, the slots, and what happens to a drive
 * plugged into one of them. */
static int draw_station(int y, int last, int w)
{
	char buf[1024], size[32];
	int shown = 0;

	qf_size_str(qf_image_size(app.img), size, sizeof(size));
	snprintf(buf, sizeof(buf),
		 _("The station will write the whole disk of %s (%s) to EVERY drive plugged into these slots, from now until it is disarmed; everything on those drives will be OVERWRITTEN:"),
		 app_image_title(), size);
	y += ui_wrap(y, 2, w - 4, 3, UI_WARN, buf);
	for (int i = 0; i < app.nslots; i++) {
		const char *now = _("empty");
		char dev[400];

		if (y + 1 > last)
			break;
		for (int k = 0; k < app.ntg; k++) {
			const struct qf_device *d = &app.tg[k].dev;

			if (d->kind == QF_DEV_DISK && d->size &&
			    strcmp(d->slot, app.slots[i]) == 0) {
				qf_size_str(d->size, size, sizeof(size));
				snprintf(dev, sizeof(dev), _("now holds %s, %s%s%s: it is written at once"),
					 d->path, size, d->model[0] ? ", " : "", d->model);
				now = dev;
			}
		}
		snprintf(buf, sizeof(buf), "%s  %s %s", app.slots[i], ui_glyph(UI_G_ARROW), now);
		ui_put(y++, 3, w - 6, UI_HEADING, buf);
		shown++;
	}
	if (shown < app.nslots)
		ui_putf(y++, 3, w - 6, UI_HEADING, _("… and %d more"), app.nslots - shown);
	snprintf(buf, sizeof(buf), _("Each drive: checks, %sflash, %s, certificate, PASS or FAIL; then remove it."),
		 app.qualify ? _("media test, ") : "",
		 app.verify ? _("verification") : _("no verification"));
	y += ui_wrap(y + 1, 2, w - 4, 2, UI_NORMAL, buf);
	return y;
}

void view_confirm_draw(void)
{
	struct ui_area a = ui_content();
	int y = a.y + 1, last = a.y + a.h - 6, shown = 0, total = 0;
	char buf[1024], size[32];

	reset_if_new();
	ui_box(a.y, a.x, a.h, a.w, _("Confirm"), true);
	if (app.arming) {
		draw_station(y, last, a.w);
	} else if (app.mode == QF_MODE_PARTITIONS) {
		ui_wrap(y, 2, a.w - 4, 2, UI_WARN,
			_("These partitions of the image will be written; everything on the targets will be OVERWRITTEN:"));
		y += 2;
		for (int i = 0; app.pt && i < app.pt->count; i++) {
			const struct qf_partition *p = &app.pt->parts[i];
			struct target *t = app.map[i][0] ? app_find_target(app.map[i]) : NULL;
			char lead[300];

			if (!t)
				continue;
			total++;
			if (y + 3 > last)
				continue;
			qf_size_str(p->size, size, sizeof(size));
			snprintf(lead, sizeof(lead), _("Partition %d (%s, %s) %s"),
				 p->number, p->type_name, size, ui_glyph(UI_G_ARROW));
			y += draw_target(y, 3, a.w - 6, lead, t);
			shown++;
		}
	} else {
		qf_size_str(qf_image_size(app.img), size, sizeof(size));
		snprintf(buf, sizeof(buf),
			 _("The whole disk of %s (%s) will be written to these targets; everything on them will be OVERWRITTEN:"),
			 app_image_title(), size);
		y += ui_wrap(y, 2, a.w - 4, 2, UI_WARN, buf);
		for (int i = 0; i < app.nvis; i++) {
			struct target *t = &app.tg[app.vis[i]];
			if (!t->selected)
				continue;
			total++;
			if (y + 2 > last)
				continue;
			y += draw_target(y, 3, a.w - 6, "", t);
			shown++;
		}
	}
	if (shown < total)
		ui_putf(y++, 3, a.w - 6, UI_HEADING, _("… and %d more"), total - shown);
	if (!app.arming && app.pending_error[0] && y + 2 <= last) {
		snprintf(buf, sizeof(buf), _("Cannot be written: %s"), app.pending_error);
		ui_wrap(y, 2, a.w - 4, 2, UI_ERROR, buf);
	}
	y = last + 1;
	ui_put(y++, 2, a.w - 4, UI_NORMAL, app.verify ?
	       _("Verification: on (every target is read back and compared)") :
	       _("Verification: off"));
	/* The reason may take the line above the prompt. */
	if (app.log_error[0]) {
		snprintf(buf, sizeof(buf), _("Flash log: %s; the flash cannot be recorded, so it cannot start"),
			 app.log_error);
		ui_wrap(y, 2, a.w - 4, 2, UI_ERROR, buf);
	} else {
		snprintf(buf, sizeof(buf), _("Flash log: %s"),
			 app.log_path ? app.log_path : "-");
		ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
	}
	y += 2;
	{
		const char *prompt = _("Type yes and press Enter to write:");
		int pw = ui_width(prompt);
		ui_put(y, 2, a.w - 4, UI_HEADING, prompt);
		ui_field_draw(y, 3 + pw, 12, &answer, true);
		ui_put(y, 16 + pw, a.w - 18 - pw, UI_DIM, _("(Esc: back)"));
	}
}

static bool confirmed(const char *s)
{
	char word[64];
	size_t n;

	while (*s == ' ')
		s++;
	snprintf(word, sizeof(word), "%.63s", s);
	n = strlen(word);
	while (n && word[n - 1] == ' ')
		word[--n] = 0;
	/* "yes" always works; a translation may add its own word. */
	return strcasecmp(word, "yes") == 0 || strcasecmp(word, _("yes")) == 0;
}

bool view_confirm_key(int ch)
{
	enum km_action act = km_action(ch);

	reset_if_new();
	if (ch == 27) {
		app_goto(app.arming ? SCR_SLOTS
			 : app.mode == QF_MODE_PARTITIONS ? SCR_MAP : SCR_TARGETS);
		return true;
	}
	if (act == KA_ENTER && app.arming) {
		if (confirmed(answer.buf) && !app.log_error[0]) {
			app_station_arm();
		} else {
			app_goto(SCR_SLOTS);
			app_status(true, "%s", _("Not confirmed: the station was not armed"));
		}
		return true;
	}
	if (act == KA_ENTER) {
		if (confirmed(answer.buf)) {
			app_start_flash();
		} else {
			app_goto(SCR_TARGETS);
			app_status(true, "%s", _("Not confirmed: nothing was written"));
		}
		return true;
	}
	if (ch == 12)                   /* Ctrl-L stays a redraw */
		return false;
	ui_field_key(&answer, ch);
	return true;
}
