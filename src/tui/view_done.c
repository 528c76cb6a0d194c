/* view_done.c - screen 8: how each target ended (OK with the ranges
 * written again, failed with the reason, verify mismatch with the offset
 * or bad media, cancelled and incomplete), the average speed and time,
 * the flash log; "Flash again" returns to the targets with the same
 * image. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>
#include <string.h>

static int button;              /* 0: Flash again, 1: Quit */
static unsigned seen_visit = ~0u;

static void result_text(const struct qf_target_progress *t, char *buf,
			size_t len, enum ui_role *r, const char **glyph)
{
	char d[32], tot[32];

	*glyph = ui_glyph(UI_G_CROSS);
	*r = UI_ERROR;
	switch (t->state) {
	case QF_TARGET_OK:
		*glyph = ui_glyph(UI_G_CHECK);
		*r = UI_OK;
		snprintf(buf, len, "%s", app.verify ? _("OK, verified") : _("OK"));
		if (t->healed) {
			size_t n = strlen(buf);
			snprintf(buf + n, len - n,
				 _(" (ranges written again after reading back wrong: %u)"),
				 (unsigned)t->healed);
		}
		/* A good flash may come with a note (the log not written). */
		if (t->message[0]) {
			size_t n = strlen(buf);
			snprintf(buf + n, len - n, "; %s", t->message);
			*r = UI_WARN;
		}
		break;
	case QF_TARGET_FAILED:
		snprintf(buf, len, _("failed: %s"), t->message[0] ? t->message :
			 _("unknown error"));
		break;
	case QF_TARGET_MISMATCH:
		if (t->bad_media) {
			/* Where, and that rewriting it did not help. */
			snprintf(buf, len, "%s", t->message);
			break;
		}
		snprintf(buf, len, _("verify mismatch at offset %llu (0x%llx)"),
			 (unsigned long long)t->mismatch_off,
			 (unsigned long long)t->mismatch_off);
		break;
	default:
		/* Cancelled, or stopped before it finished. */
		*r = UI_WARN;
		qf_size_str(t->done, d, sizeof(d));
		qf_size_str(t->total, tot, sizeof(tot));
		snprintf(buf, len, _("cancelled: incomplete, %s of %s written"), d, tot);
		break;
	}
}

/* The image file's SHA-256 against the published one, when either is
 * known. */
static int checksum_line(int y, int w, const struct qf_progress *p)
{
	const char *from = ui_checksum_origin(app.img);
	char buf[400];

	if (p->checksum_ok > 0) {
		snprintf(buf, sizeof(buf), _("Checksum: the image matches the SHA-256 from %s"),
			 from ? from : "?");
		ui_put(y++, 2, w - 4, UI_OK, buf);
	} else if (p->checksum_ok < 0) {
		snprintf(buf, sizeof(buf),
			 _("Checksum: the image does NOT match the SHA-256 from %s (%s); nothing was left that looks like a disk"),
			 from ? from : "?", p->source_sha256[0] ? p->source_sha256 : "?");
		y += ui_wrap(y, 2, w - 4, 2, UI_ERROR, buf);
	} else if (from) {
		snprintf(buf, sizeof(buf), _("Checksum: not checked (the image was not read to its end); SHA-256 from %s"),
			 from);
		ui_put(y++, 2, w - 4, UI_WARN, buf);
	} else if (p->source_sha256[0]) {
		snprintf(buf, sizeof(buf), _("SHA-256 of the image: %s (none published)"),
			 p->source_sha256);
		ui_put(y++, 2, w - 4, UI_NORMAL, buf);
	}
	/* The disk image's own, when a catalog gives it. */
	if (p->disk_checksum_ok > 0) {
		ui_put(y++, 2, w - 4, UI_OK,
		       _("Checksum: the disk image matches its published SHA-256"));
	} else if (p->disk_checksum_ok < 0) {
		y += ui_wrap(y, 2, w - 4, 2, UI_ERROR,
			     _("Checksum: the disk image does NOT match its published SHA-256; nothing was left that looks like a disk"));
	}
	return y;
}

void view_done_draw(void)
{
	struct ui_area a = ui_content();
	const struct qf_progress *p = &app.final;
	int y = a.y + 1, ok = 0, bad = 0, cancelled = 0, last = a.y + a.h - 8;
	char buf[1200], s1[32], s2[32];

	if (seen_visit != app.visit) {
		seen_visit = app.visit;
		button = 0;
	}
	ui_box(a.y, a.x, a.h, a.w, _("Result"), true);
	for (int i = 0; i < p->ntargets; i++) {
		enum qf_target_state s = p->targets[i].state;
		if (s == QF_TARGET_OK)
			ok++;
		else if (s == QF_TARGET_FAILED || s == QF_TARGET_MISMATCH)
			bad++;
		else
			cancelled++;
	}
	if (bad)
		snprintf(buf, sizeof(buf), _("The flash failed for %d of %d targets."),
			 bad, p->ntargets);
	else if (cancelled)
		snprintf(buf, sizeof(buf), _("The flash was cancelled: %d of %d targets complete."),
			 ok, p->ntargets);
	else
		snprintf(buf, sizeof(buf), _("Flash complete: %d of %d targets OK."),
			 ok, p->ntargets);
	ui_put(y++, 2, a.w - 4, bad ? UI_ERROR : cancelled ? UI_WARN : UI_OK, buf);
	y = checksum_line(y, a.w, p);
	y++;
	for (int i = 0; i < p->ntargets && y < last; i++) {
		const struct qf_target_progress *t = &p->targets[i];
		const char *glyph;
		enum ui_role r;
		char res[800], name[400];

		result_text(t, res, sizeof(res), &r, &glyph);
		if (t->partition > 0)
			snprintf(name, sizeof(name), _("partition %d %s %s"), t->partition,
				 ui_glyph(UI_G_ARROW), t->path);
		else
			snprintf(name, sizeof(name), "%s", t->path);
		ui_put(y, 2, 2, r, glyph);
		ui_put(y, 5, a.w - 7, UI_HEADING, name);
		y++;
		y += ui_wrap(y, 7, a.w - 9, last - y > 2 ? 2 : 1, r, res);
	}
	y = last + 1;
	{
		/* After a cancel the overall count may be zero: use the
		 * furthest target. */
		uint64_t done = p->done;
		for (int i = 0; i < p->ntargets; i++)
			if (p->targets[i].done > done)
				done = p->targets[i].done;
		ui_fmt_rate(p->elapsed > 0 ? (double)done / p->elapsed : 0, s1,
			    sizeof(s1));
	}
	ui_fmt_time(p->elapsed, s2, sizeof(s2));
	snprintf(buf, sizeof(buf), _("Average speed: %s   Time: %s"), s1, s2);
	ui_put(y++, 2, a.w - 4, UI_NORMAL, buf);
	y = ui_draw_counts(y, 2, a.w - 4, p);
	if (app.log_error[0]) {
		int n;

		snprintf(buf, sizeof(buf), _("Flash log: not written: %s"),
			 app.log_error);
		/* Two lines at most, then without the gap to the buttons. */
		n = ui_wrap(y, 2, a.w - 4, 2, UI_ERROR, buf);
		y += n + (n < 2);
	} else {
		snprintf(buf, sizeof(buf), _("Flash log: %s"),
			 app.log_path ? app.log_path : "-");
		ui_put(y, 2, a.w - 4, UI_NORMAL, buf);
		y += 2;
	}
	{
		char b0[128], b1[128];
		int x = 2;
		snprintf(b0, sizeof(b0), "[ %s ]", _("Flash again"));
		snprintf(b1, sizeof(b1), "[ %s ]", _("Quit"));
		x += ui_put(y, x, a.w - 4, button == 0 ? UI_CURSOR : UI_NORMAL, b0) + 2;
		ui_put(y, x, a.w - x - 2, button == 1 ? UI_CURSOR : UI_NORMAL, b1);
	}
}

bool view_done_key(int ch)
{
	switch (km_action(ch)) {
	case KA_LEFT:
	case KA_UP:
	case KA_BTAB:
		button = 0;
		return true;
	case KA_RIGHT:
	case KA_DOWN:
	case KA_TAB:
		button = 1;
		return true;
	case KA_ENTER:
		if (button == 0)
			app_flash_again();
		else
			app_request_quit();
		return true;
	case KA_BACK:
		app_back_to_targets();
		return true;
	default:
		break;
	}
	if (ch == 'a' || ch == 'A') {
		app_flash_again();
		return true;
	}
	if (ch == 'H') {
		view_history_show();
		return true;
	}
	return false;
}
