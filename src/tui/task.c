/* task.c - runs slow library calls (qf_image_open and qf_ptable_read,
 * qf_devices_list and qf_device_probe, qf_history_read) on worker threads so the UI keeps
 * drawing; finished tasks are queued and announced on a self-pipe. */
#include "tui.h"
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2] = { -1, -1 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct task *done_head;

int task_init(void)
{
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int task_fd(void)
{
	return pipefd[0];
}

/* Warnings arrive on the worker thread: collect them for the UI. */
static void collect_warning(void *ctx, const char *msg)
{
	struct task *t = ctx;
	size_t n = strlen(t->warnings);

	snprintf(t->warnings + n, sizeof(t->warnings) - n, "%s%s",
		 n ? "; " : "", msg);
}

static void run_open(struct task *t)
{
	struct qf_open_opts o;

	memset(&o, 0, sizeof(o));
	o.format = t->format;
	o.snapshot = t->snapshot;
	o.force = t->force;
	o.allow_remote_backing = t->allow_remote;
	o.member = t->member;
	o.sha256 = t->sha256;
	o.sha256_origin = t->sha256_origin;
	o.disk_sha256 = t->disk_sha256;
	o.bmap = t->bmap;
	o.cache_dir = t->cache_dir;
	o.warn = collect_warning;
	o.warn_ctx = t;
	t->ret = qf_image_open(t->name, &o, &t->img, &t->err);
	if (t->ret == -EMLINK) {
		/* Several images in an archive: the user picks one. */
		struct qf_err e2 = { 0 };
		if (qf_image_members(t->name, &o, &t->members, &e2) < 2)
			t->members = NULL;
	}
	if (t->ret < 0)
		return;
	/* A stream's partition table is read from its buffered head. */
	/* An unreadable table still leaves the whole disk to flash. */
	if (qf_ptable_read(t->img, &t->pt, collect_warning, t, &t->pterr) < 0)
		t->pt = NULL;
}

/* The catalog, kept in the cache (so that it reads without the server),
 * with which of its images the cache holds. */
static void run_catalog(struct task *t)
{
	struct qf_open_opts o;

	memset(&o, 0, sizeof(o));
	o.cache_dir = t->catalog_cache;
	o.warn = collect_warning;
	o.warn_ctx = t;
	t->ret = qf_catalog_read(t->name, &o, &t->cat, &t->err);
}

static void run_devices(struct task *t)
{
	t->generation = qf_devices_generation();
	t->fres = calloc(t->nfiles ? t->nfiles : 1, sizeof(*t->fres));
	if (!t->fres) {
		t->ret = qf_err_set(&t->err, ENOMEM, "%s", strerror(ENOMEM));
		return;
	}
	for (int i = 0; i < t->nfiles; i++) {
		t->fres[i].ret = qf_device_probe_sources(t->files[i],
				(const char *const *)t->sources,
				&t->fres[i].dev, &t->fres[i].err);
	}
	t->ret = qf_devices_list_sources((const char *const *)t->sources,
					 &t->devs, &t->err);
	if (t->ret >= 0) {
		t->ndevs = t->ret;
		t->ret = 0;
	} else {
		t->devs = NULL;
		t->ndevs = 0;
	}
}

static void *worker(void *arg)
{
	struct task *t = arg;
	char c = 1;

	if (t->kind == TASK_OPEN)
		run_open(t);
	else if (t->kind == TASK_HISTORY)
		t->ret = qf_history_read(t->name, &t->filter, &t->hist, &t->err);
	else if (t->kind == TASK_STATION)
		t->ret = qf_station_start(t->station_opts, &t->station, &t->err);
	else if (t->kind == TASK_CATALOG)
		run_catalog(t);
	else
		run_devices(t);
	pthread_mutex_lock(&lock);
	t->next = done_head;
	done_head = t;
	pthread_mutex_unlock(&lock);
	while (write(pipefd[1], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

int task_start(struct task *t)
{
	int ret = pthread_create(&t->thread, NULL, worker, t);
	return -ret;
}

struct task *task_collect(void)
{
	struct task *t;
	char buf[64];
	bool more;

	while (read(pipefd[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&lock);
	t = done_head;
	if (t)
		done_head = t->next;
	more = done_head != NULL;
	pthread_mutex_unlock(&lock);
	if (t)
		pthread_join(t->thread, NULL);
	if (more) {
		/* Keep the pipe readable for the ones still queued. */
		char c = 1;
		if (write(pipefd[1], &c, 1) < 0)
			(void)0;
	}
	return t;
}

void task_free(struct task *t)
{
	if (!t)
		return;
	if (t->img)
		qf_image_close(t->img);
	if (t->pt)
		qf_ptable_free(t->pt);
	free(t->name);
	free(t->snapshot);
	free(t->member);
	free(t->sha256);
	free(t->disk_sha256);
	free(t->sha256_origin);
	free(t->bmap);
	free(t->cache_dir);
	qf_catalog_free(t->cat);
	for (int i = 0; t->members && t->members[i]; i++)
		free(t->members[i]);
	free(t->members);
	for (int i = 0; i < t->nfiles; i++)
		free(t->files[i]);
	free(t->files);
	for (int i = 0; t->sources && t->sources[i]; i++)
		free(t->sources[i]);
	free(t->sources);
	free(t->fres);
	free(t->devs);
	if (t->kind == TASK_HISTORY)
		qf_history_free(&t->hist);
	qf_station_free(t->station);
	free(t);
}
