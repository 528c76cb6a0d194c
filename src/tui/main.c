/* main.c - qflash-tui: options, signals, terminal setup and restore, the
 * main loop (keys, background task results, job progress, device
 * hot-plug), and the actions the screens use to move between steps
 * (opening an image: open.c). */
#include "tui.h"
#include "ui.h"
#include "keymap.h"
#include "task.h"
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct app app;

static volatile sig_atomic_t got_signal;
static SCREEN *term;
static bool dev_running;        /* a TASK_DEVICES is on its way */
static bool dev_again;          /* list again when it is back */
static uint64_t dev_gen;        /* generation of the current list */
static double dev_checked;      /* when the generation was last read */
static char *demo_dir;


#define xstrdup tui_xstrdup
#define xcalloc tui_xcalloc

char *tui_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p) {
		perror("qflash-tui");
		abort();
	}
	return p;
}

void *tui_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p) {
		perror("qflash-tui");
		abort();
	}
	return p;
}

/* ---------------------------------------------------------------- status */

void app_status(bool error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(app.status, sizeof(app.status), fmt, ap);
	va_end(ap);
	app.status_error = error;
}

const char *app_image_title(void)
{
	const char *n = app.image_name, *s;

	if (!n)
		return "";
	s = strrchr(n, '/');
	return s && s[1] ? s + 1 : n;
}

/* A flash is recorded in the log after it ends: say before it starts
 * when that cannot work (the engine finds out only then). */
static void check_log(void)
{
	struct qf_err e = { 0 };

	app.log_error[0] = 0;
	if (app.log_path && qf_flashlog_check(app.log_path, &e) < 0)
		snprintf(app.log_error, sizeof(app.log_error), "%s", e.msg);
}

static void prepare_flash(void);

void app_goto(enum tui_screen s)
{
	app.screen = s;
	app.visit++;
	app.help = false;
	app.status[0] = 0;
	if (s != SCR_CONFIRM)
		app.arming = false;
	if (s == SCR_TARGETS || s == SCR_MAP || s == SCR_SLOTS)
		app_classify_targets();
	if (s == SCR_CONFIRM)
		check_log();
	if (s == SCR_CONFIRM && !app.arming) {
		prepare_flash();
	} else {
		app_drop_pending();
	}
}

/* The engine adds a failed log append to the targets' messages, as
 * "LOG: cannot ...": that part of @t's message, or NULL. */
static const char *log_note(const struct qf_target_progress *t)
{
	size_t n = app.log_path ? strlen(app.log_path) : 0;
	const char *p = t->message;

	while (n && (p = strstr(p, app.log_path))) {
		if (p[n] == ':' && p[n + 1] == ' ' &&
		    (p == t->message ||
		     (p - t->message >= 2 && p[-2] == ';' && p[-1] == ' ')))
			return p;
		p += n;
	}
	return NULL;
}

/* --------------------------------------------------------------- targets */

void app_refresh_devices(void)
{
	struct task *t;

	if (dev_running) {
		dev_again = true;
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->kind = TASK_DEVICES;
	t->nfiles = app.ncmd_targets;
	t->files = xcalloc(app.ncmd_targets, sizeof(char *));
	for (int i = 0; i < app.ncmd_targets; i++)
		t->files[i] = xstrdup(app.cmd_targets[i]);
	/* Copies: the image may be closed (another one opened) before the
	 * task is done.  URLs name no local file: the probes ignore them. */
	if (app.img) {
		const char *const *f = qf_image_files(app.img);
		int n = 0;

		while (f[n])
			n++;
		t->sources = xcalloc(n + 1, sizeof(char *));
		for (int i = 0; i < n; i++)
			t->sources[i] = xstrdup(f[i]);
	}
	if (task_start(t) < 0) {
		task_free(t);
		return;
	}
	dev_running = true;
	dev_checked = qf_now();
}

static struct target *old_entry(struct target *old, int nold, const char *path)
{
	for (int i = 0; i < nold; i++)
		if (strcmp(old[i].dev.path, path) == 0)
			return &old[i];
	return NULL;
}

static void add_target(struct target *list, int *n, const struct qf_device *d,
		       struct target *old, int nold)
{
	struct target *t = &list[(*n)++];
	struct target *o = old_entry(old, nold, d->path);

	memset(t, 0, sizeof(*t));
	t->dev = *d;
	t->selected = o && o->selected;
}

static void devices_done(struct task *t)
{
	struct target *list, *old = app.tg;
	int n = 0, nold = app.ntg, cap;

	dev_running = false;
	dev_gen = t->generation;
	if (t->ret < 0)
		app_status(true, "%s", t->err.msg);
	cap = t->nfiles + t->ndevs;
	list = xcalloc(cap, sizeof(*list));

	/* Files given with --target first, in the order given. */
	for (int i = 0; i < t->nfiles; i++) {
		struct task_file *f = &t->fres[i];
		struct qf_device d;
		bool is_new = false;

		if (f->ret < 0) {
			memset(&d, 0, sizeof(d));
			snprintf(d.path, sizeof(d.path), "%s", t->files[i]);
			d.kind = QF_DEV_FILE;
			d.refusals = QF_REFUSE_NOT_FOUND;
			snprintf(d.reason, sizeof(d.reason), "%.*s",
				 (int)sizeof(d.reason) - 1, f->err.msg);
		} else {
			d = f->dev;
			/* The engine creates missing files. */
			is_new = !d.exists && d.kind == QF_DEV_FILE;
		}
		add_target(list, &n, &d, old, nold);
		list[n - 1].cmdline = true;
		list[n - 1].is_new = is_new;
	}
	/* Then whole disks, each followed by its partitions. */
	for (int i = 0; i < t->ndevs; i++) {
		const struct qf_device *d = &t->devs[i];
		bool dup = false;

		if (d->kind == QF_DEV_PARTITION)
			continue;
		for (int k = 0; k < n; k++)
			dup |= strcmp(list[k].dev.path, d->path) == 0;
		if (dup)
			continue;
		add_target(list, &n, d, old, nold);
		for (int j = 0; j < t->ndevs; j++)
			if (t->devs[j].kind == QF_DEV_PARTITION &&
			    strcmp(t->devs[j].parent, d->name) == 0)
				add_target(list, &n, &t->devs[j], old, nold);
	}
	/* Partitions whose disk was not listed. */
	for (int i = 0; i < t->ndevs; i++) {
		const struct qf_device *d = &t->devs[i];
		bool seen = false;

		if (d->kind != QF_DEV_PARTITION)
			continue;
		for (int k = 0; k < n; k++)
			seen |= strcmp(list[k].dev.path, d->path) == 0;
		if (!seen)
			add_target(list, &n, d, old, nold);
	}
	free(old);
	app.tg = list;
	app.ntg = n;
	app.tg_version++;
	app.devices_loaded = true;
	app_classify_targets();
	if (dev_again) {
		dev_again = false;
		app_refresh_devices();
	}
}

uint64_t app_needed_bytes(void)
{
	uint64_t need = 0;

	if (!app.img)
		return 0;
	if (app.mode != QF_MODE_PARTITIONS)
		return qf_image_size(app.img);
	/* Partition mode: a target must hold at least one partition. */
	for (int i = 0; app.pt && i < app.pt->count; i++)
		if (app.pt->parts[i].size && (!need || app.pt->parts[i].size < need))
			need = app.pt->parts[i].size;
	return need;
}

void app_classify_targets(void)
{
	uint64_t need = app_needed_bytes();
	bool parts = app.mode == QF_MODE_PARTITIONS;

	free(app.vis);
	app.vis = xcalloc(app.ntg, sizeof(int));
	app.nvis = 0;
	for (int i = 0; i < app.ntg; i++) {
		struct target *t = &app.tg[i];
		t->selectable = true;
		t->why[0] = 0;
		if (t->dev.refusals) {
			/* Every refusal comes with its reason. */
			t->selectable = false;
			snprintf(t->why, sizeof(t->why), "%s", t->dev.reason);
		}
		/* Too small as well: all reasons are shown at once. */
		if (t->dev.kind != QF_DEV_FILE && need && t->dev.size < need) {
			char have[32], want[32], small[128];
			size_t n = strlen(t->why);

			qf_size_pair_str(t->dev.size, need, have, want, sizeof(have));
			snprintf(small, sizeof(small), _("too small: %s, needs %s"),
				 have, want);
			snprintf(t->why + n, sizeof(t->why) - n, "%s%s",
				 n ? "; " : "", small);
			t->selectable = false;
		}
		if (t->dev.kind == QF_DEV_PARTITION && !parts) {
			t->selected = false;
			continue;
		}
		if (!t->selectable)
			t->selected = false;
		app.vis[app.nvis++] = i;
	}
	/* Mappings to targets that went away or were deselected lapse. */
	for (int i = 0; app.map && app.pt && i < app.pt->count; i++) {
		struct target *t = app.map[i][0] ? app_find_target(app.map[i]) : NULL;
		if (!t || !t->selected)
			app.map[i][0] = 0;
	}
}

struct target *app_find_target(const char *path)
{
	for (int i = 0; i < app.ntg; i++)
		if (strcmp(app.tg[i].dev.path, path) == 0)
			return &app.tg[i];
	return NULL;
}

int app_selected_count(void)
{
	int n = 0;
	for (int i = 0; i < app.nvis; i++)
		n += app.tg[app.vis[i]].selected;
	return n;
}

/* ------------------------------------------------------------------ jobs */

void app_drop_pending(void)
{
	qf_job_free(app.pending);
	app.pending = NULL;
	app.pending_error[0] = 0;
}

/* A job with the chosen targets and options, not started. */
static struct qf_job *new_job(struct qf_err *e)
{
	struct qf_job_opts o;
	struct qf_job *job;
	int ret = 0;

	memset(&o, 0, sizeof(o));
	o.mode = app.mode;
	o.verify = app.verify;
	o.exact = app.exact;
	o.grow = app.grow;
	o.force = app.force_sector;
	o.log_path = app.log_path;
	job = qf_job_new(app.img, &o);
	if (!job) {
		qf_err_set(e, ENOMEM, "%s", _("Cannot create the flash job"));
		return NULL;
	}
	if (app.mode == QF_MODE_PARTITIONS) {
		for (int i = 0; ret == 0 && app.pt && i < app.pt->count; i++)
			if (app.map[i][0])
				ret = qf_job_add_target(job, app.map[i],
							app.pt->parts[i].number, e);
	} else {
		for (int i = 0; ret == 0 && i < app.nvis; i++)
			if (app.tg[app.vis[i]].selected)
				ret = qf_job_add_target(job, app.tg[app.vis[i]].dev.path,
							0, e);
	}
	if (ret < 0) {
		qf_job_free(job);
		return NULL;
	}
	return job;
}

static void accept_sector_size(void)
{
	app.force_sector = true;
	prepare_flash();
}

/* What the confirm screen shows: every target checked and what will be
 * adjusted on it, before anything is opened for writing. */
static void prepare_flash(void)
{
	struct qf_err e = { 0 };

	app_drop_pending();
	app.pending = new_job(&e);
	if (app.pending && qf_job_prepare(app.pending, &e) < 0) {
		qf_job_free(app.pending);
		app.pending = NULL;
	}
	if (app.pending)
		return;
	snprintf(app.pending_error, sizeof(app.pending_error), "%s", e.msg);
	/* A drive with other sectors than the image's table: the user may
	 * still want it written, knowing it will show no partitions. */
	if (e.code == -ENOTSUP && !app.force_sector)
		ui_ask(_("The drive's sector size does not match the image's partition table, which cannot be converted: the drive would show no partitions. Write it anyway? (y/n)"),
		       accept_sector_size);
}

void app_start_flash(void)
{
	struct qf_err e = { 0 };
	struct qf_job *job = app.pending;
	int ret = 0;

	app.pending = NULL;
	if (!job && app.pending_error[0]) {
		ui_msg(_("Nothing was written"), "%s", app.pending_error);
		return;
	}
	if (!job && !(job = new_job(&e))) {
		ui_msg(_("Nothing was written"), "%s", e.msg);
		app_goto(SCR_TARGETS);
		return;
	}
	ret = qf_job_start(job, &e);
	if (ret < 0) {
		qf_job_free(job);
		app_goto(SCR_TARGETS);
		ui_msg(_("Nothing was written"), "%s", e.msg);
		app_refresh_devices();
		return;
	}
	app.job = job;
	app.cancel_requested = false;
	app.have_prog = false;
	app_goto(SCR_PROGRESS);
}

static bool job_running(void)
{
	return app.job && !app.have_final;
}

static void do_cancel(void)
{
	if (!job_running())
		return;
	qf_job_cancel(app.job);
	app.cancel_requested = true;
}

void app_ask_cancel(void)
{
	if (!job_running() || app.cancel_requested)
		return;
	ui_ask(_("Cancel the flash? (y/n)"), do_cancel);
}

static void finish_flash(void)
{
	int ret = qf_job_wait(app.job, &app.final);

	app.have_final = true;
	if (app.have_prog) {
		qf_progress_free(&app.prog);
		app.have_prog = false;
	}
	/* What the engine met when it wrote the log. */
	app.log_error[0] = 0;
	for (int i = 0; i < app.final.ntargets; i++) {
		const char *note = log_note(&app.final.targets[i]);
		if (note) {
			snprintf(app.log_error, sizeof(app.log_error), "%s", note);
			break;
		}
	}
	/* A cancel is the user's choice, not a failure. */
	app.exit_code = (ret == 0 || ret == -ECANCELED) ? 0 : 1;
	ui_dialog_close();
	app_goto(SCR_DONE);
}

/* After finish_flash: the job has ended (qf_job_free would stop it
 * otherwise). */
static void free_job(void)
{
	if (app.have_prog)
		qf_progress_free(&app.prog);
	if (app.have_final)
		qf_progress_free(&app.final);
	app.have_prog = app.have_final = false;
	qf_job_free(app.job);
	app.job = NULL;
}

void app_flash_again(void)
{
	for (int i = 0; i < app.ntg; i++)
		app.tg[i].selected = false;
	for (int i = 0; app.pt && i < app.pt->count; i++)
		app.map[i][0] = 0;
	app_back_to_targets();
}

/* From the done screen, keeping the selection (and partition map):
 * the same targets again, or some of them. */
void app_back_to_targets(void)
{
	free_job();
	app_goto(SCR_TARGETS);
	app_refresh_devices();
}

static void quit_now(void)
{
	if (job_running())
		do_cancel();
	app_station_stop();
	app.quit = true;
}

void app_request_quit(void)
{
	int busy = app_station_busy();

	if (busy) {
		char q[256];

		snprintf(q, sizeof(q),
			 P_("%d drive is being flashed. Stop it (it is left with no layout) and quit? (y/n)",
			    "%d drives are being flashed. Stop them (they are left with no layout) and quit? (y/n)",
			    busy), busy);
		ui_ask(q, quit_now);
	} else if (app.station)
		ui_ask(_("The station is armed. Disarm it and quit? (y/n)"), quit_now);
	else if (job_running())
		ui_ask(_("A flash is running. Cancel it and quit? (y/n)"), quit_now);
	else
		app.quit = true;
}

/* ------------------------------------------------------------- main loop */

static const char *screen_title(enum tui_screen s)
{
	static const char *const titles[SCR_COUNT] = {
		[SCR_SOURCE] = N_("Choose an image"),
		[SCR_IMAGE] = N_("Image"),
		[SCR_MODE] = N_("What to write"),
		[SCR_TARGETS] = N_("Targets"),
		[SCR_MAP] = N_("Map partitions to targets"),
		[SCR_CONFIRM] = N_("Confirm"),
		[SCR_PROGRESS] = N_("Flashing"),
		[SCR_DONE] = N_("Done"),
		[SCR_SLOTS] = N_("Station slots"),
		[SCR_STATION] = N_("Station"),
		[SCR_HISTORY] = N_("Flash history"),
	};
	return _(titles[s]);
}

static unsigned screen_context(void)
{
	switch (app.screen) {
	case SCR_SOURCE: return view_source_context();
	case SCR_IMAGE: return view_image_context();
	case SCR_MAP: return view_map_context();
	default: return KC_KEYS;
	}
}

static void draw(void)
{
	static void (*const draws[SCR_COUNT])(void) = {
		view_source_draw, view_image_draw, view_mode_draw,
		view_targets_draw, view_map_draw, view_confirm_draw,
		view_progress_draw, view_done_draw, view_slots_draw,
		view_station_draw, view_history_draw,
	};

	ui_begin();
	if (ui_too_small()) {
		const char *msg = _("Terminal too small (need 80x24)");
		int w = ui_width(msg);
		ui_put(LINES / 2, w < COLS ? (COLS - w) / 2 : 0, COLS, UI_ERROR, msg);
		ui_finish();
		return;
	}
	ui_frame(app.screen, screen_context(), screen_title(app.screen),
		 app_image_title(), app.status, app.status_error,
		 app.busy ? app.busy_what : NULL);
	draws[app.screen]();
	if (app.help)
		view_help_draw();
	ui_dialog_draw();
	ui_finish();
}

static void handle_key(int ch)
{
	static bool (*const keys[SCR_COUNT])(int) = {
		view_source_key, view_image_key, view_mode_key,
		view_targets_key, view_map_key, view_confirm_key,
		view_progress_key, view_done_key, view_slots_key,
		view_station_key, view_history_key,
	};

	if (ch == KEY_RESIZE)
		return;           /* ncurses has the new size; the next draw uses it */
	if (ui_dialog_active()) {
		ui_dialog_key(ch);
		return;
	}
	if (app.help) {
		view_help_key(ch);
		return;
	}
	if (keys[app.screen](ch))
		return;
	switch (km_action(ch)) {
	case KA_HELP:
		app.help = true;
		break;
	case KA_QUIT:
		app_request_quit();
		break;
	case KA_REDRAW:
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
}

static void handle_tasks(void)
{
	struct task *t;

	while ((t = task_collect())) {
		if (t->kind == TASK_OPEN)
			app_open_done(t);
		else if (t->kind == TASK_HISTORY)
			view_history_loaded(t);
		else if (t->kind == TASK_CATALOG)
			view_catalog_loaded(t);
		else if (t->kind == TASK_STATION)
			app_station_started(t);
		else
			devices_done(t);
		task_free(t);
	}
}

static void tick(void)
{
	if (job_running()) {
		if (app.have_prog)
			qf_progress_free(&app.prog);
		app.have_prog = qf_job_progress(app.job, &app.prog) == 0;
		if (app.have_prog && (app.prog.phase == QF_PHASE_DONE ||
				      app.prog.phase == QF_PHASE_FAILED ||
				      app.prog.phase == QF_PHASE_CANCELLED))
			finish_flash();
	}
	app_station_tick();
	/* Hot-plug: the generation is cheap to read, listing is not. */
	if (app.img && (app.screen == SCR_TARGETS || app.screen == SCR_MAP ||
			app.screen == SCR_SLOTS) &&
	    !dev_running && qf_now() - dev_checked >= 1.0) {
		dev_checked = qf_now();
		if (qf_devices_generation() != dev_gen)
			app_refresh_devices();
	}
}

static void main_loop(void)
{
	while (!app.quit && !got_signal) {
		struct pollfd pf[4];
		int n = 0, ch;

		draw();
		pf[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = task_fd(), .events = POLLIN };
		if (app.job)
			pf[n++] = (struct pollfd){ .fd = qf_job_wakeup_fd(app.job),
						   .events = POLLIN };
		if (app.station)
			pf[n++] = (struct pollfd){ .fd = qf_station_wakeup_fd(app.station),
						   .events = POLLIN };
		if (poll(pf, n, 100) < 0 && errno != EINTR)
			break;
		if (got_signal)
			break;
		if (pf[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			got_signal = SIGHUP;    /* the terminal went away */
			break;
		}
		if (pf[1].revents & POLLIN)
			handle_tasks();
		if (app.job && n > 2 && (pf[2].revents & POLLIN))
			qf_job_ack_wakeup(app.job);
		while (!app.quit && !got_signal && (ch = getch()) != ERR)
			handle_key(ch);
		tick();
	}
}

/* ----------------------------------------------------------- setup, exit */

static void on_signal(int sig)
{
	got_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll() must return so the loop sees the flag. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static int start_curses(enum ui_color_mode color, bool ascii)
{
	term = newterm(NULL, stdout, stdin);
	if (!term)
		return -1;
	set_term(term);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	/* Long enough to keep arrow-key sequences whole on a local terminal,
	 * short enough that Esc answers within the 100 ms a person notices. */
	set_escdelay(25);
	ui_setup(color, ascii);
	return 0;
}

static void stop_curses(void)
{
	if (!term)
		return;
	endwin();
	delscreen(term);
	term = NULL;
}

int main(int argc, char **argv)
{
	struct tui_args args = { .color = UI_COLOR_AUTO };
	char *image;
	int ret, sig;

	setlocale(LC_ALL, "");
	qf_init();
#ifdef ENABLE_NLS
	textdomain(PACKAGE);
#endif
	if ((ret = tui_parse_args(argc, argv, &args)) >= 0)
		return ret;
	image = args.image;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, _("qflash-tui: needs a terminal (use qflash for scripts)\n"));
		return 2;
	}
	if (args.demo && tui_make_demo(&image, &demo_dir) < 0)
		return 1;
	if (!app.log_path)
		app.log_path = qf_flashlog_default_path();
	app_slots_load();
	if (task_init() < 0) {
		perror("qflash-tui");
		return 1;
	}
	install_signals();
	if (start_curses(args.color, args.ascii) < 0) {
		fprintf(stderr, _("qflash-tui: cannot set up the terminal (TERM=%s)\n"),
			getenv("TERM") ? getenv("TERM") : "");
		return 1;
	}

	app.have_source_arg = image != NULL;
	if (image) {
		app.screen = SCR_IMAGE;
		app_open_image(image, NULL, false);
		free(image);
	} else {
		app.screen = SCR_SOURCE;
	}
	if (app.catalog_name)
		view_catalog_start();
	main_loop();

	/* Every way out (quit, signal, lost terminal) ends here: stop the
	 * job cleanly before giving the terminal back. */
	sig = got_signal;
	if (job_running()) {
		qf_job_cancel(app.job);
		qf_job_wait(app.job, NULL);
	}
	app_station_stop();
	stop_curses();
	view_catalog_free();
	if (demo_dir)
		fprintf(stderr, _("qflash-tui: the demo files are in %s\n"), demo_dir);
	if (sig == SIGINT)
		return 130;
	if (sig == SIGTERM)
		return 143;
	if (sig == SIGHUP)
		return 129;
	return app.exit_code;
}
