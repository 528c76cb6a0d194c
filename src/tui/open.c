/* open.c - opening the image off the UI thread, and what the user is
 * asked when the open needs a decision: a file in no known format (flash
 * it as raw?), a local image naming files on a server (read them?), one
 * marked corrupt (open it anyway?), an archive of several images (which
 * one?).  A catalog's checksums and bmap go with the image picked from
 * it. */
#include "tui.h"
#include "ui.h"
#include "task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define xstrdup tui_xstrdup
#define xcalloc tui_xcalloc

static bool open_running;       /* a TASK_OPEN is on its way */

/* An image that failed to open, waiting for the user to say how to open
 * it after all: as raw (no known format), or despite its corrupt bit. */
static struct {
	char *name, *snapshot;
	enum qf_format format;
} pending;

static void pending_clear(void)
{
	free(pending.name);
	free(pending.snapshot);
	memset(&pending, 0, sizeof(pending));
}

static void pending_set(const struct task *t)
{
	pending_clear();
	pending.name = xstrdup(t->name);
	pending.snapshot = t->snapshot ? xstrdup(t->snapshot) : NULL;
	pending.format = t->format;
}

/* The image the user let read its backing files from a server. */
static char *remote_ok;
/* The archive the user picked a member of, and that member. */
static char *member_of, *member;
/* The images of the archive being asked about. */
static char **pick_names;

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void open_image(const char *name, const char *snapshot,
		       enum qf_format format, bool force, bool forward)
{
	struct qf_open_opts co = { 0 };
	struct task *t;

	if (open_running)
		return;
	t = xcalloc(1, sizeof(*t));
	t->kind = TASK_OPEN;
	t->name = xstrdup(name);
	t->snapshot = snapshot ? xstrdup(snapshot) : NULL;
	t->format = format;
	t->force = force;
	/* Once the user let this image read from a server, it may again. */
	t->allow_remote = remote_ok && strcmp(remote_ok, name) == 0;
	t->forward = forward;
	if (member_of && member && strcmp(member_of, name) == 0)
		t->member = xstrdup(member);
	if (view_catalog_options(name, &co)) {
		t->sha256 = dup_or_null(co.sha256);
		t->disk_sha256 = dup_or_null(co.disk_sha256);
		t->sha256_origin = dup_or_null(co.sha256_origin);
		t->bmap = dup_or_null(co.bmap);
		t->cache_dir = dup_or_null(co.cache_dir);
	}
	if (task_start(t) < 0) {
		ui_msg(_("Error"), _("Cannot start a thread: %s"), strerror(errno));
		task_free(t);
		return;
	}
	open_running = true;
	app.busy++;
	app.busy_what = snapshot ? _("Opening the snapshot…") : _("Opening the image…");
}

void app_open_image(const char *name, const char *snapshot, bool forward)
{
	/* The user said yes to this corrupt image already (now another
	 * snapshot of it is wanted): no second question. */
	bool force = app.img_forced && app.image_name &&
		     strcmp(app.image_name, name) == 0;

	open_image(name, snapshot, QF_FORMAT_AUTO, force, forward);
}

/* From the source screen the failed open left us on, or the image
 * screen of another image: on to this one. */
static void open_as_raw(void)
{
	if (pending.name)
		open_image(pending.name, NULL, QF_FORMAT_RAW, false, true);
	pending_clear();
}

static void open_remote(void)
{
	if (pending.name) {
		free(remote_ok);
		remote_ok = xstrdup(pending.name);
		open_image(pending.name, pending.snapshot, pending.format,
			   app.img_forced, true);
	}
	pending_clear();
}

static void open_member(int i)
{
	if (pending.name && pick_names) {
		free(member_of);
		free(member);
		member_of = xstrdup(pending.name);
		member = xstrdup(pick_names[i]);
		open_image(pending.name, NULL, pending.format, false, true);
	}
	pending_clear();
}

static void open_corrupt(void)
{
	if (pending.name)
		open_image(pending.name, pending.snapshot, pending.format, true,
			   true);
	pending_clear();
}

/* A name that promises a format the file turned out not to have: a
 * broken file, not a raw image. */
static bool named_as_format(const char *name)
{
	static const char *const ext[] = {
		".qcow2", ".qcow", ".gz", ".zst", ".xz", ".lz4", ".bz2", ".zip",
	};
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t m = strlen(ext[i]);
		if (n >= m && strcasecmp(name + n - m, ext[i]) == 0)
			return true;
	}
	return false;
}

void app_open_done(struct task *t)
{
	open_running = false;
	app.busy--;
	if (t->ret == -EMEDIUMTYPE && t->format == QF_FORMAT_AUTO &&
	    !named_as_format(t->name)) {
		/* Any file is a raw disk image; only the user knows it is
		 * meant as one. */
		char q[512];

		pending_set(t);
		snprintf(q, sizeof(q),
			 _("%s is in no format qflash knows. Flash it as a raw disk image? (y/n)"),
			 t->name);
		ui_ask(q, open_as_raw);
	} else if (t->ret == -EREMOTE && !t->allow_remote) {
		/* A local file that wants the network: only if the user says
		 * so, as with the CLI's -allow-remote-backing. */
		char q[QF_ERR_MSG_MAX + 160];

		pending_set(t);
		snprintf(q, sizeof(q),
			 _("%s. Read it from there (the server is the image's choice, not yours)? (y/n)"),
			 t->err.msg);
		ui_ask(q, open_remote);
	} else if (t->ret == -EUCLEAN && !t->force) {
		/* The CLI's -force: here the user decides on the spot. */
		char q[QF_ERR_MSG_MAX + 160];

		pending_set(t);
		snprintf(q, sizeof(q),
			 _("%s: the program that wrote it found it inconsistent, so some of what it holds may be wrong. Open it anyway? (y/n)"),
			 t->err.msg);
		ui_ask(q, open_corrupt);
	} else if (t->ret == -EMLINK && t->members) {
		/* The CLI's -member: the user picks from the list. */
		int n = 0;

		pending_set(t);
		for (int i = 0; pick_names && pick_names[i]; i++)
			free(pick_names[i]);
		free(pick_names);
		pick_names = t->members;
		t->members = NULL;
		while (pick_names[n])
			n++;
		ui_pick(_("Which image of the archive?"),
			(const char *const *)pick_names, n, open_member);
	} else if (t->ret < 0) {
		ui_msg(_("Cannot open the image"), "%s", t->err.msg);
	}
	if (t->ret < 0) {
		/* Without an image there is nothing to show but the source. */
		if (!app.img && app.screen != SCR_SOURCE) {
			app.have_source_arg = false;
			app_goto(SCR_SOURCE);
		}
		return;
	}
	if (app.pt)
		qf_ptable_free(app.pt);
	if (app.img)
		qf_image_close(app.img);
	app.img = t->img;
	app.img_forced = t->force;
	app.open_format = t->format;
	app.open_remote = t->allow_remote;
	free(app.open_snapshot);
	free(app.open_member);
	app.open_snapshot = t->snapshot ? xstrdup(t->snapshot) : NULL;
	app.open_member = t->member ? xstrdup(t->member) : NULL;
	app.pt = t->pt;
	t->img = NULL;
	t->pt = NULL;
	snprintf(app.pt_error, sizeof(app.pt_error), "%s", t->pterr.msg);
	if (!app.image_name || strcmp(app.image_name, t->name) != 0) {
		free(app.image_name);
		app.image_name = xstrdup(t->name);
	}
	free(app.map);
	app.map = xcalloc(app.pt && app.pt->count ? app.pt->count : 1,
			  sizeof(*app.map));
	if (t->forward)
		app_goto(SCR_IMAGE);
	if (t->warnings[0])
		app_status(true, _("Warning: %s"), t->warnings);
	/* The device holding the image is refused: list again for it. */
	app_refresh_devices();
}

