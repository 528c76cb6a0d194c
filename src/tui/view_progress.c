/* view_progress.c - screen 7: the running flash, one bar per target plus
 * the overall rate, time, phase and byte counts; 'c' or Esc cancels after
 * asking, and the screen then names the targets left incomplete. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>

static bool target_finished(enum qf_target_state s)
{
	return s == QF_TARGET_OK || s == QF_TARGET_FAILED ||
	       s == QF_TARGET_MISMATCH;
}

static void draw_target(int y, int w, const struct qf_target_progress *t)
{
	char buf[1024], d[32], tot[32];
	double frac = t->total ? (double)t->done / (double)t->total : 0;
	enum ui_role r = UI_NORMAL;
	int bw = w - 40;

	if (t->state == QF_TARGET_FAILED || t->state == QF_TARGET_MISMATCH)
		r = UI_ERROR;
	else if (t->state == QF_TARGET_OK)
		r = UI_OK;
	if (t->partition > 0)
		snprintf(buf, sizeof(buf), _("partition %d %s %s"), t->partition,
			 ui_glyph(UI_G_ARROW), t->path);
	else
		snprintf(buf, sizeof(buf), "%s", t->path);
	ui_put(y, 2, w - 24, UI_HEADING, buf);
	ui_put(y, w - 20, 19, r, qf_target_state_name(t->state));
	if (bw < 10)
		bw = 10;
	ui_bar(y + 1, 4, bw, frac);
	qf_size_str(t->done, d, sizeof(d));
	qf_size_str(t->total, tot, sizeof(tot));
	snprintf(buf, sizeof(buf), "%5.1f%%  %s / %s", frac * 100, d, tot);
	ui_put(y + 1, 5 + bw, w - bw - 6, UI_NORMAL, buf);
	if (t->state == QF_TARGET_FAILED && t->message[0])
		ui_put(y + 1, 5 + bw, w - bw - 6, UI_ERROR, t->message);
}

void view_progress_draw(void)
{
	struct ui_area a = ui_content();
	const struct qf_progress *p = &app.prog;
	int y = a.y + 1, bottom = a.y + a.h - 6, shown = 0;
	char buf[1024], s1[32], s2[32], s3[32], phase[64];

	ui_box(a.y, a.x, a.h, a.w, _("Flashing"), true);
	qf_size_str(qf_image_size(app.img), s1, sizeof(s1));
	snprintf(buf, sizeof(buf), _("Writing %s (%s) %s, verification %s"),
		 app_image_title(), s1,
		 app.mode == QF_MODE_PARTITIONS ? _("partition by partition") :
						  _("as a whole disk"),
		 app.verify ? _("on") : _("off"));
	ui_put(y++, 2, a.w - 4, UI_NORMAL, buf);
	y++;
	if (!app.have_prog) {
		snprintf(buf, sizeof(buf), "%s %s", ui_spinner(), _("Starting…"));
		ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
		return;
	}
	for (int i = 0; i < p->ntargets; i++) {
		if (y + 2 > bottom - (app.cancel_requested ? 1 : 0))
			break;
		draw_target(y, a.w, &p->targets[i]);
		y += 2;
		shown++;
	}
	if (shown < p->ntargets)
		ui_putf(y, 2, a.w - 4, UI_HEADING, _("… and %d more targets"),
			p->ntargets - shown);

	if (app.cancel_requested) {
		/* Say which targets will be left half written. */
		char list[800] = "";
		for (int i = 0; i < p->ntargets; i++) {
			if (target_finished(p->targets[i].state))
				continue;
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
				 p->targets[i].path);
		}
		snprintf(buf, sizeof(buf), _("Cancelling… incomplete: %s"),
			 list[0] ? list : _("none"));
		ui_put(bottom - 1, 2, a.w - 4, UI_WARN, buf);
	}

	y = bottom;
	ui_hline(y++, 1, a.w - 2, UI_FRAME);
	ui_put(y, 2, 10, UI_HEADING, _("Overall"));
	ui_bar(y, 12, a.w - 30, p->total ? (double)p->done / (double)p->total : 0);
	ui_putf(y++, a.w - 17, 15, UI_NORMAL, "%5.1f%%",
		p->total ? 100.0 * (double)p->done / (double)p->total : 0.0);
	ui_fmt_rate(p->rate, s1, sizeof(s1));
	ui_fmt_time(p->elapsed, s2, sizeof(s2));
	ui_fmt_time(p->eta, s3, sizeof(s3));
	/* Waiting for the server is not writing at 0.0 MB/s. */
	if (p->net_retrying)
		snprintf(phase, sizeof(phase), _("reconnecting (retry %u)"),
			 (unsigned)p->net_retrying);
	else
		snprintf(phase, sizeof(phase), "%s", qf_phase_name(p->phase));
	snprintf(buf, sizeof(buf), _("Phase: %s   Speed: %s   Elapsed: %s   ETA: %s"),
		 phase, s1, s2, s3);
	ui_put(y++, 2, a.w - 4, UI_NORMAL, buf);
	y = ui_draw_counts(y, 2, a.w - 4, p);
}

bool view_progress_key(int ch)
{
	/* Esc would mean "back" elsewhere; here there is no going back. */
	if (ch == 'c' || ch == 'C' || km_action(ch) == KA_BACK) {
		app_ask_cancel();
		return true;
	}
	return false;
}
