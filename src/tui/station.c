/* station.c - qflash-tui's station mode: the slots picked for it (saved
 * for the next start), arming the library's station with the image and
 * options chosen on the way, its tiles refreshed from status snapshots,
 * the bell and the flash of a tile when a drive is done, and disarming. */
#include "tui.h"
#include "ui.h"
#include "task.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLASH_SECONDS 3.0        /* a finished tile flashes this long */

static char *xstrdup0(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

/* ------------------------------------------------------------ slot list */

int app_slot_index(const char *id)
{
	for (int i = 0; i < app.nslots; i++)
		if (strcmp(app.slots[i], id) == 0)
			return i;
	return -1;
}

void app_slot_toggle(const char *id)
{
	int i = app_slot_index(id);

	if (i >= 0) {
		free(app.slots[i]);
		memmove(&app.slots[i], &app.slots[i + 1],
			(app.nslots - i - 1) * sizeof(*app.slots));
		app.nslots--;
		return;
	}
	app.slots = realloc(app.slots, (app.nslots + 1) * sizeof(*app.slots));
	if (!app.slots)
		abort();
	app.slots[app.nslots++] = xstrdup0(id);
}

/* Where the slots are kept between runs: beside the flash log. */
static char *slots_file(void)
{
	const char *log = app.log_path;
	const char *slash = log ? strrchr(log, '/') : NULL;
	char *p;

	if (!slash)
		return NULL;
	if (asprintf(&p, "%.*s/station-slots", (int)(slash - log), log) < 0)
		return NULL;
	return p;
}

void app_slots_load(void)
{
	char *path = slots_file(), line[256];
	FILE *f = path ? fopen(path, "re") : NULL;

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] && line[0] != '#' && app_slot_index(line) < 0)
			app_slot_toggle(line);
	}
	app.slots_saved = app.nslots;
	if (f)
		fclose(f);
	free(path);
}

static void slots_save(void)
{
	char *path = slots_file(), *tmp = NULL;
	FILE *f;

	if (!path || asprintf(&tmp, "%s.new", path) < 0) {
		free(path);
		return;
	}
	/* Beside the flash log, whose directory arming the station made. */
	f = fopen(tmp, "we");
	if (f) {
		fputs("# qflash-tui: the slots of the last station armed\n", f);
		for (int i = 0; i < app.nslots; i++)
			fprintf(f, "%s\n", app.slots[i]);
		if (fclose(f) == 0)
			rename(tmp, path);
	}
	free(tmp);
	free(path);
}

/* -------------------------------------------------------------- station */

/* The station's warnings (a certificate that cannot be written, a copy
 * in the cache used without the server) arrive on its threads: the
 * newest waits here for the message line. */
static pthread_mutex_t warn_mu = PTHREAD_MUTEX_INITIALIZER;
static char warn_msg[512];

static void warn_status(void *ctx, const char *msg)
{
	(void)ctx;
	pthread_mutex_lock(&warn_mu);
	snprintf(warn_msg, sizeof(warn_msg), "%s", msg);
	pthread_mutex_unlock(&warn_mu);
}

static void show_warning(void)
{
	pthread_mutex_lock(&warn_mu);
	if (warn_msg[0])
		app_status(true, _("Warning: %s"), warn_msg);
	warn_msg[0] = '\0';
	pthread_mutex_unlock(&warn_mu);
}

/* What the arming task reads while it runs; kept until the next one. */
static struct qf_station_opts arm_opts;

/* Arming opens the image (a remote one is downloaded into the cache
 * first), so it runs on a task; the station screen waits for it. */
void app_station_arm(void)
{
	struct qf_station_opts *o = &arm_opts;
	struct task *t;

	if (app.station_arming || app.station)
		return;
	memset(o, 0, sizeof(*o));
	o->image = app.image_name;
	o->open.format = app.open_format;
	o->open.snapshot = app.open_snapshot;
	o->open.force = app.img_forced;
	o->open.allow_remote_backing = app.open_remote;
	o->open.member = app.open_member;
	/* The catalog's checksum and bmap, if it was picked from one. */
	view_catalog_options(app.image_name, &o->open);
	o->open.warn = warn_status;
	o->job.verify = app.verify;
	o->job.exact = app.exact;
	o->job.grow = app.grow;
	o->job.log_path = app.log_path;
	o->qualify = app.qualify;
	o->slots = (const char *const *)app.slots;
	o->nslots = app.nslots;
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->kind = TASK_STATION;
	t->station_opts = o;
	if (task_start(t) < 0) {
		ui_msg(_("The station was not armed"), _("Cannot start a thread: %s"),
		       strerror(errno));
		free(t);
		return;
	}
	app.station_arming = true;
	app.busy++;
	app.busy_what = _("Arming the station…");
	free(app.tiles);
	app.tiles = NULL;
	app.ntiles = 0;
	app_goto(SCR_STATION);
}

void app_station_started(struct task *t)
{
	app.station_arming = false;
	app.busy--;
	if (t->ret < 0) {
		app_goto(SCR_SLOTS);
		ui_msg(_("The station was not armed"), "%s", t->err.msg);
		return;
	}
	app.station = t->station;
	t->station = NULL;
	slots_save();
	free(app.tile_flash);
	app.tile_flash = calloc(app.nslots, sizeof(*app.tile_flash));
	app.station_paused = false;
	app_station_tick();
}

void app_station_tick(void)
{
	struct qf_slot_status *ev = NULL;
	int n;

	show_warning();
	if (!app.station)
		return;
	qf_station_ack_wakeup(app.station);
	n = qf_station_events(app.station, &ev);
	for (int i = 0; i < n; i++) {
		enum qf_slot_state s = ev[i].state;
		int k = app_slot_index(ev[i].id);

		if ((s == QF_SLOT_PASS || s == QF_SLOT_FAIL) && k >= 0) {
			app.tile_flash[k] = qf_now() + FLASH_SECONDS;
			beep();
		}
	}
	free(ev);
	free(app.tiles);
	app.ntiles = qf_station_status(app.station, &app.tiles);
}

bool app_tile_flashing(int i)
{
	double left = app.tile_flash ? app.tile_flash[i] - qf_now() : 0;

	/* On and off twice a second while it lasts. */
	return left > 0 && (int)(left * 2) % 2 == 0;
}

static void disarm_now(void)
{
	qf_station_free(app.station);
	app.station = NULL;
	free(app.tiles);
	app.tiles = NULL;
	app.ntiles = 0;
	app_back_to_targets();
	app_status(false, "%s", _("The station is disarmed"));
}

void app_station_disarm(void)
{
	int busy = app.station ? qf_station_busy(app.station) : 0;
	char q[256];

	if (app.station_arming)
		return;         /* nothing to disarm until it is armed */
	if (!busy) {
		disarm_now();
		return;
	}
	snprintf(q, sizeof(q),
		 P_("%d drive is being flashed. Stop it (it is left with no layout) and disarm? (y/n)",
			  "%d drives are being flashed. Stop them (they are left with no layout) and disarm? (y/n)",
			  busy), busy);
	ui_ask(q, disarm_now);
}

void app_station_pause(void)
{
	if (!app.station)
		return;
	app.station_paused = !app.station_paused;
	qf_station_pause(app.station, app.station_paused);
	app_status(false, "%s", app.station_paused
		   ? _("Paused: new drives wait; drives being flashed carry on")
		   : _("Running: every drive plugged into a slot is flashed"));
}

/* Quitting with a station armed: the main loop's way out stops it. */
int app_station_busy(void)
{
	return app.station ? qf_station_busy(app.station) : 0;
}

void app_station_stop(void)
{
	if (!app.station)
		return;
	qf_station_free(app.station);
	app.station = NULL;
}
