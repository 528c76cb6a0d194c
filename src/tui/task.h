/* task.h - work qflash-tui does off the UI thread (opening an image,
 * listing devices, reading the flash log, arming a station), each task on
 * its own thread, finished tasks handed back to the main loop through a
 * pipe it polls. */
#ifndef QF_TUI_TASK_H
#define QF_TUI_TASK_H

#include "qflash.h"

#include <pthread.h>
#include <stdbool.h>

enum task_kind {
	TASK_OPEN, TASK_DEVICES, TASK_HISTORY, TASK_STATION, TASK_CATALOG
};

struct task_file {
	int ret;                 /* qf_device_probe's result */
	struct qf_err err;
	struct qf_device dev;
};

struct task {
	enum task_kind kind;
	/* TASK_OPEN in: image name, snapshot (or NULL); out: image, table */
	char *name;
	char *snapshot;
	enum qf_format format;   /* QF_FORMAT_AUTO unless the user chose */
	bool force;              /* read it even if marked corrupt */
	bool allow_remote;       /* it may read backing files from servers */
	bool forward;            /* go on to the next screen when done */
	char *member;            /* the archive member to open, or NULL */
	/* the checksum and bmap a catalog gives it, and the cache to read
	 * it through (each NULL when none) */
	char *sha256, *disk_sha256, *sha256_origin, *bmap, *cache_dir;
	char **members;          /* out, on -EMLINK: the archive's images */
	struct qf_image *img;
	struct qf_ptable *pt;
	struct qf_err pterr;     /* why pt is NULL */
	char warnings[1024];
	/* TASK_DEVICES in: files given with --target, the image's files
	 * (NULL-terminated, or NULL); out: devices */
	char **files;
	int nfiles;
	char **sources;
	struct task_file *fres;
	struct qf_device *devs;
	int ndevs;
	uint64_t generation;     /* qf_devices_generation() before listing */
	/* TASK_HISTORY in: the log (name above, NULL: the default), the
	 * filter; out: the records */
	struct qf_history_filter filter;
	struct qf_history hist;
	/* TASK_STATION in: the options (the caller keeps them); out: the
	 * armed station (a remote image is downloaded first) */
	const struct qf_station_opts *station_opts;
	struct qf_station *station;
	/* TASK_CATALOG in: its name above, the cache it is kept in (or
	 * NULL; the caller keeps it); out: the catalog, cached flags set */
	const char *catalog_cache;
	struct qf_catalog *cat;
	/* all */
	int ret;
	struct qf_err err;
	pthread_t thread;
	struct task *next;
};

int task_init(void);
/* Readable when a task has finished. */
int task_fd(void);
/* Start @t on its own thread; the task belongs to the runner until
 * task_collect hands it back. */
int task_start(struct task *t);
/* A finished task, or NULL. */
struct task *task_collect(void);
void task_free(struct task *t);

#endif
