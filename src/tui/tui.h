/* tui.h - the model qflash-tui's screens share: options, the open image,
 * the target list, the running job; the actions main.c offers the screens;
 * and each screen's two entry points. */
#ifndef QF_TUI_H
#define QF_TUI_H

#include "config.h"
#include "qflash.h"

#include <stdbool.h>
#include <stdint.h>

#include "i18n.h"

enum tui_screen {
	SCR_SOURCE = 0,
	SCR_IMAGE,
	SCR_MODE,
	SCR_TARGETS,
	SCR_MAP,
	SCR_CONFIRM,
	SCR_PROGRESS,
	SCR_DONE,
	SCR_SLOTS,               /* station: which slots to arm */
	SCR_STATION,             /* station: a tile per slot */
	SCR_HISTORY,
	SCR_COUNT
};

/* One entry of the targets screen. */
struct target {
	struct qf_device dev;
	bool cmdline;            /* given with --target */
	bool is_new;             /* a file that does not exist yet */
	bool selectable;
	bool selected;
	char why[256];           /* why it cannot be selected */
};

struct app {
	/* options */
	char **cmd_targets;
	int ncmd_targets;
	bool verify;
	char *log_path;
	/* why the flash log cannot be written ("" if it can), checked on
	 * the way to the confirm screen and after a flash */
	char log_error[QF_ERR_MSG_MAX];
	bool have_source_arg;    /* an IMAGE was given: no Source screen */
	char *catalog_name;      /* --catalog: the site's catalog of images */

	/* navigation */
	enum tui_screen screen;
	unsigned visit;          /* changes on every screen change */
	bool help;
	bool quit;
	int exit_code;

	/* the image */
	char *image_name;
	struct qf_image *img;
	bool img_forced;         /* opened although marked corrupt */
	struct qf_ptable *pt;
	char pt_error[QF_ERR_MSG_MAX];   /* why pt is NULL */
	int busy;                /* background tasks running */
	const char *busy_what;   /* translated */

	/* mode and targets */
	enum qf_job_mode mode;
	struct target *tg;
	int ntg;
	int *vis;                /* entries shown in the current mode */
	int nvis;
	bool devices_loaded;
	unsigned tg_version;     /* changes when the list is rebuilt */
	/* Partition mode: target path per image partition (index into
	 * pt->parts), "" when the partition is not written. */
	char (*map)[256];

	/* how a drive unlike the image is written (targets screen) */
	bool exact;              /* the image unchanged: no fix-ups */
	bool grow;               /* the last partition and its filesystem */
	bool force_sector;       /* the user accepted a sector-size mismatch */

	/* the flash: prepared for the confirm screen, then running */
	struct qf_job *pending;
	char pending_error[QF_ERR_MSG_MAX];   /* why it cannot be prepared */
	struct qf_job *job;
	struct qf_progress prog;
	bool have_prog;
	bool cancel_requested;
	struct qf_progress final;
	bool have_final;

	/* how the image was opened, for a station to open it again */
	enum qf_format open_format;
	char *open_snapshot, *open_member;
	bool open_remote;

	/* station mode */
	bool arming;             /* the confirm screen arms a station */
	bool qualify;            /* test each drive's medium first */
	char **slots;            /* the slots picked (ids) */
	int nslots;
	int slots_saved;         /* how many came from the last run */
	struct qf_station *station;
	bool station_arming;     /* qf_station_start runs on a task */
	bool station_paused;
	struct qf_slot_status *tiles;   /* the last snapshot */
	int ntiles;
	double *tile_flash;      /* per slot: flash its tile until then */

	/* message line */
	char status[512];
	bool status_error;
};

extern struct app app;

/* main.c */
char *tui_xstrdup(const char *s);
void *tui_xcalloc(size_t n, size_t m);
void app_goto(enum tui_screen s);
/* open.c: open @name (at @snapshot, or NULL) on a task, going on to the
 * image screen when @forward; the task handed back to app_open_done. */
struct task;
void app_open_image(const char *name, const char *snapshot, bool forward);
void app_open_done(struct task *t);
void app_refresh_devices(void);
void app_classify_targets(void);
uint64_t app_needed_bytes(void);
int app_selected_count(void);
struct target *app_find_target(const char *path);
void app_start_flash(void);
/* Drop the job prepared for the confirm screen, if any. */
void app_drop_pending(void);
void app_ask_cancel(void);
void app_flash_again(void);
void app_back_to_targets(void);
void app_request_quit(void);
/* station.c */
int app_slot_index(const char *id);
void app_slot_toggle(const char *id);
void app_slots_load(void);
void app_station_arm(void);
struct task;
void app_station_started(struct task *t);
void app_station_tick(void);
bool app_tile_flashing(int i);
void app_station_disarm(void);
void app_station_pause(void);
int app_station_busy(void);
void app_station_stop(void);
void app_status(bool error, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *app_image_title(void);

/* Screens: draw into the content area; handle a key, returning false for
 * keys the screen leaves to the global handler (?, q, ...). */
void view_source_draw(void);
bool view_source_key(int ch);
void view_image_draw(void);
bool view_image_key(int ch);
void view_mode_draw(void);
bool view_mode_key(int ch);
void view_targets_draw(void);
bool view_targets_key(int ch);
void view_map_draw(void);
bool view_map_key(int ch);
void view_confirm_draw(void);
bool view_confirm_key(int ch);
void view_progress_draw(void);
bool view_progress_key(int ch);
void view_done_draw(void);
bool view_done_key(int ch);
void view_slots_draw(void);
bool view_slots_key(int ch);
void view_station_draw(void);
bool view_station_key(int ch);
void view_help_draw(void);
bool view_help_key(int ch);
void view_history_draw(void);
bool view_history_key(int ch);
/* The history screen: shown over the current screen (Esc returns to it),
 * the flash log read off the UI thread; its task handed back when done. */
struct task;
void view_history_show(void);
void view_history_loaded(struct task *t);
/* The source screen's catalog (view_catalog.c): read it (on a task,
 * handed back to view_catalog_loaded), whether it is shown rather than
 * the file list, the open options of the image picked from it (false
 * when @name is not that image), and its part of the source screen. */
void view_catalog_start(void);
void view_catalog_loaded(struct task *t);
bool view_catalog_active(void);
void view_catalog_toggle(void);
bool view_catalog_options(const char *name, struct qf_open_opts *o);
struct ui_area;
void view_catalog_draw(const struct ui_area *a);
bool view_catalog_key(int ch);
unsigned view_catalog_context(void);
void view_catalog_free(void);
/* Where the keys go now on screens with more than one place (KC_ bits of
 * keymap.h); the other screens have KC_KEYS. */
unsigned view_source_context(void);
unsigned view_image_context(void);
unsigned view_map_context(void);

#endif
