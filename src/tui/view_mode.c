/* view_mode.c - screen 3, what to write: the whole disk to one or more
 * targets, or (when the image has partitions) partitions mapped to
 * targets of their own. */
#include "tui.h"
#include "ui.h"
#include "keymap.h"

#include <stdio.h>

static struct ui_list list;
static unsigned seen_visit = ~0u;

static int option_count(void)
{
	return app.pt && app.pt->count > 0 ? 2 : 1;
}

static void reset_if_new(void)
{
	if (seen_visit == app.visit)
		return;
	seen_visit = app.visit;
	/* The whole disk comes first and is highlighted on every visit. */
	list.cur = 0;
	list.top = 0;
}

void view_mode_draw(void)
{
	static const char *const titles[2] = {
		N_("Whole disk to one or more targets"),
		N_("Map partitions to targets"),
	};
	struct ui_area a = ui_content();
	char size[32], buf[512];
	int y = a.y + 1, n = option_count();

	reset_if_new();
	qf_size_str(app_needed_bytes(), size, sizeof(size));
	ui_box(a.y, a.x, a.h, a.w, _("What to write"), true);
	y++;
	for (int i = 0; i < n; i++) {
		enum ui_role r = i == list.cur ? UI_CURSOR : UI_NORMAL;
		snprintf(buf, sizeof(buf), "%s %s", i == list.cur ? ">" : " ",
			 _(titles[i]));
		ui_row(y, 3, a.w - 6, r, buf);
		y++;
		if (i == 0) {
			qf_size_str(qf_image_size(app.img), size, sizeof(size));
			snprintf(buf, sizeof(buf),
				 _("Every target gets an exact copy of the %s virtual disk, partition table included."),
				 size);
		} else {
			snprintf(buf, sizeof(buf),
				 _("Each of the image's %d partitions can go to a target of its own (a disk, a partition or a file); the partition table is not written."),
				 app.pt->count);
		}
		y += ui_wrap(y, 5, a.w - 10, 3, UI_DIM, buf) + 1;
	}
	if (n == 1)
		ui_wrap(y, 5, a.w - 10, 2, UI_DIM,
			_("(Mapping partitions is not offered: the image has no partition table.)"));
}

bool view_mode_key(int ch)
{
	enum km_action act = km_action(ch);

	reset_if_new();
	if (ui_list_move(&list, option_count(), option_count(), act))
		return true;
	switch (act) {
	case KA_ENTER:
		app.mode = list.cur == 1 ? QF_MODE_PARTITIONS : QF_MODE_WHOLE_DISK;
		app_goto(SCR_TARGETS);
		return true;
	case KA_BACK:
		app_goto(SCR_IMAGE);
		return true;
	default:
		return false;
	}
}
