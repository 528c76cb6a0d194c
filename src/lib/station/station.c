/* station.c - a station's lifecycle: the image checked once, a thread per
 * armed slot (slot.c), the monitor that looks every half second which
 * drive sits in which slot, and the snapshots and events front ends read. */
#include "station/station_int.h"
#include "source/source.h"
#include "target/devices.h"
#include "target/sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *id;
	const char *name;
} slot_states[] = {
	[QF_SLOT_EMPTY] = { "empty", N_("waiting for a drive") },
	[QF_SLOT_CHECKING] = { "checking", N_("checking") },
	[QF_SLOT_QUALIFYING] = { "qualifying", N_("qualifying") },
	[QF_SLOT_WRITING] = { "writing", N_("writing") },
	[QF_SLOT_VERIFYING] = { "verifying", N_("verifying") },
	[QF_SLOT_FINISHING] = { "finishing", N_("finishing") },
	[QF_SLOT_PASS] = { "pass", N_("PASS") },
	[QF_SLOT_FAIL] = { "fail", N_("FAIL") },
	[QF_SLOT_STOPPED] = { "stopped", N_("stopped") },
};

const char *qf_slot_state_id(enum qf_slot_state s)
{
	return (unsigned)s <= QF_SLOT_STOPPED ? slot_states[s].id : "?";
}

const char *qf_slot_state_name(enum qf_slot_state s)
{
	return (unsigned)s <= QF_SLOT_STOPPED ? _(slot_states[s].name) : "?";
}

/* The medium in whole disk @name: its diskseq, which the kernel bumps for
 * every new medium and loop attachment; where there is none, something
 * that changes with the size at least.  0: no medium. */
static uint64_t medium_id(const char *name)
{
	uint64_t size = sysfs_num("%s/%s/size", qf_sysblock, name);
	uint64_t seq = sysfs_num("%s/%s/diskseq", qf_sysblock, name);

	if (!size)
		return 0;
	return seq ? seq : size;
}

/* One look at every whole disk: which armed slot it sits in. */
static void look(struct qf_station *st)
{
	char (*name)[64] = qf_xcalloc(st->nslots, sizeof(*name));
	uint64_t *id = qf_xcalloc(st->nslots, sizeof(*id));
	DIR *dir = opendir(qf_sysblock);
	struct dirent *de;
	bool changed = false;

	while (dir && (de = readdir(dir))) {
		char slot[128];
		uint64_t mid;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(*name))
			continue;
		mid = medium_id(de->d_name);
		if (!mid)
			continue;
		qf_device_slot(de->d_name, slot, sizeof(slot));
		for (int i = 0; i < st->nslots; i++)
			if (strcmp(slot, st->slot_ids[i]) == 0) {
				qf_scopy(name[i], sizeof(name[i]), de->d_name);
				id[i] = mid;
			}
	}
	if (dir)
		closedir(dir);
	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nslots; i++) {
		struct slot *s = &st->slots[i];

		if (strcmp(s->present, name[i]) == 0 && s->present_id == id[i])
			continue;
		qf_scopy(s->present, sizeof(s->present), name[i]);
		s->present_id = id[i];
		changed = true;
	}
	if (changed)
		pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	free(name);
	free(id);
}

static void *monitor_main(void *arg)
{
	struct qf_station *st = arg;
	double every = st->o.poll > 0 ? st->o.poll : 0.5;

	for (;;) {
		struct timespec ts;

		look(st);
		ts = qf_deadline_in(every);
		pthread_mutex_lock(&st->mu);
		if (!st->stopping)
			pthread_cond_timedwait(&st->cv, &st->mu, &ts);
		if (st->stopping) {
			pthread_mutex_unlock(&st->mu);
			return NULL;
		}
		pthread_mutex_unlock(&st->mu);
	}
}

static char *default_station(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		return qf_xstrdup("station");
	host[sizeof(host) - 1] = '\0';
	return qf_xstrdup(host);
}

static char *default_operator(void)
{
	const char *env = getenv("SUDO_USER");
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (env && *env)
		return qf_xstrdup(env);
	if (getlogin_r(buf, sizeof(buf)) == 0 && buf[0])
		return qf_xstrdup(buf);
	if ((env = getenv("LOGNAME")) && *env)
		return qf_xstrdup(env);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
		return qf_xstrdup(res->pw_name);
	return qf_xstrdup("");
}

/* The image opened once, before any slot starts: a malformed one is
 * refused here.  Its files are what the safety policy protects. */
static int check_image(struct qf_station *st, struct qf_err *e)
{
	struct qf_image *img = NULL;
	const char *const *files;
	size_t n = 0;
	int ret;

	ret = qf_image_open(st->image, &st->o.open, &img, e);
	if (ret < 0)
		return ret;
	st->image_size = qf_image_size(img);
	/* The resolved name: a relative path means nothing on a page. */
	free(st->image);
	st->image = qf_xstrdup(qf_image_layer(img, 0)->name);
	files = qf_image_files(img);
	while (files && files[n])
		n++;
	st->sources = qf_xcalloc(n + 1, sizeof(*st->sources));
	for (size_t i = 0; i < n; i++)
		st->sources[i] = qf_xstrdup(files[i]);
	qf_image_close(img);
	return 0;
}

static void free_station(struct qf_station *st)
{
	for (int i = 0; i < st->nslots; i++)
		free(st->slot_ids[i]);
	for (size_t i = 0; st->sources && st->sources[i]; i++)
		free(st->sources[i]);
	free(st->sources);
	free(st->slot_ids);
	free(st->slots);
	free(st->events);
	free(st->image);
	free(st->station);
	free(st->operator_name);
	free(st->cert_dir);
	free(st->cache_dir);
	free(st->log_path);
	if (st->wake[0] >= 0)
		close(st->wake[0]);
	if (st->wake[1] >= 0)
		close(st->wake[1]);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int qf_station_start(const struct qf_station_opts *o, struct qf_station **out,
		     struct qf_err *e)
{
	struct qf_station *st;
	int ret;

	*out = NULL;
	if (!o->image || !o->nslots)
		return qf_err_set(e, EINVAL, N_("a station needs an image and at least one slot"));
	st = qf_xcalloc(1, sizeof(*st));
	st->o = *o;
	st->wake[0] = st->wake[1] = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->image = qf_xstrdup(o->image);
	st->station = o->station ? qf_xstrdup(o->station) : default_station();
	st->operator_name = o->operator_name ? qf_xstrdup(o->operator_name)
					     : default_operator();
	st->log_path = o->job.log_path ? qf_xstrdup(o->job.log_path)
				       : qf_flashlog_default_path();
	if (!st->log_path) {
		free_station(st);
		return qf_err_set(e, ENOENT, N_("a station needs a flash log: give one, or set HOME"));
	}
	if (o->cert_dir) {
		st->cert_dir = qf_xstrdup(o->cert_dir);
	} else {
		char *slash = strrchr(st->log_path, '/');
		int dl = slash ? (int)(slash - st->log_path) : 1;

		st->cert_dir = qf_xasprintf("%.*s/certificates", dl,
					    slash ? st->log_path : ".");
	}
	/* Made now, so a directory that cannot be is said before anything
	 * is armed (this also makes the flash log's, beside it). */
	if ((ret = qf_make_dirs(st->cert_dir, 0755)) < 0) {
		ret = qf_err_set(e, -ret, N_("%s: cannot create the directory for the certificates: %m"),
				 st->cert_dir);
		free_station(st);
		return ret;
	}
	/* Every record and certificate names the image's SHA-256. */
	st->o.job.hash_source = true;
	st->o.station = st->station;
	st->o.operator_name = st->operator_name;
	st->o.cert_dir = st->cert_dir;
	st->o.job.log_path = st->log_path;
	/* A remote image is read once: every drive after the first is
	 * flashed from the local copy. */
	if (qf_name_is_url(o->image) && !o->open.cache_dir) {
		st->cache_dir = qf_cache_default_dir();
		st->o.open.cache_dir = st->cache_dir;
	}
	st->o.job.mode = QF_MODE_WHOLE_DISK;
	st->o.slots = NULL;
	if (pipe2(st->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = qf_err_set(e, errno, "pipe: %m");
		free_station(st);
		return ret;
	}
	if ((ret = check_image(st, e)) < 0) {
		free_station(st);
		return ret;
	}
	st->o.image = st->image;
	st->nslots = o->nslots;
	st->slot_ids = qf_xcalloc(o->nslots, sizeof(*st->slot_ids));
	st->slots = qf_xcalloc(o->nslots, sizeof(*st->slots));
	for (int i = 0; i < o->nslots; i++) {
		struct slot *s = &st->slots[i];

		for (int j = 0; j < i; j++)
			if (strcmp(o->slots[i], o->slots[j]) == 0) {
				ret = qf_err_set(e, EINVAL, N_("slot %s is given twice"),
						 o->slots[i]);
				free_station(st);
				return ret;
			}
		st->slot_ids[i] = qf_xstrdup(o->slots[i]);
		s->st = st;
		s->index = i;
		qf_scopy(s->status.id, sizeof(s->status.id), o->slots[i]);
		s->status.eta = -1;
		s->rec.station = st->station;
		s->rec.operator_name = st->operator_name;
		s->rec.slot = st->slot_ids[i];
	}
	/* The first look before any slot thread: a drive already in a slot
	 * is flashed at once. */
	look(st);
	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nslots; i++)
		station_set_state(&st->slots[i], QF_SLOT_EMPTY, NULL);
	pthread_mutex_unlock(&st->mu);
	for (int i = 0; i < st->nslots; i++) {
		if ((ret = pthread_create(&st->slots[i].thread, NULL, slot_main,
					  &st->slots[i])) != 0)
			break;
		st->slots[i].thread_started = true;
	}
	if (ret == 0 && (ret = pthread_create(&st->monitor, NULL, monitor_main,
					      st)) == 0)
		st->monitor_started = true;
	if (ret != 0) {
		qf_station_free(st);
		return qf_err_set(e, ret, "pthread_create: %m");
	}
	*out = st;
	return 0;
}

int qf_station_wakeup_fd(const struct qf_station *st)
{
	return st->wake[0];
}

void qf_station_ack_wakeup(struct qf_station *st)
{
	char buf[64];

	while (read(st->wake[0], buf, sizeof(buf)) > 0) {
	}
}

int qf_station_status(struct qf_station *st, struct qf_slot_status **out)
{
	struct qf_slot_status *v = qf_xcalloc(st->nslots, sizeof(*v));

	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nslots; i++)
		v[i] = st->slots[i].status;
	pthread_mutex_unlock(&st->mu);
	*out = v;
	return st->nslots;
}

int qf_station_events(struct qf_station *st, struct qf_slot_status **out)
{
	int n;

	pthread_mutex_lock(&st->mu);
	*out = st->events;
	n = (int)st->nev;
	st->events = NULL;
	st->nev = st->capev = 0;
	pthread_mutex_unlock(&st->mu);
	return n;
}

void qf_station_pause(struct qf_station *st, bool paused)
{
	pthread_mutex_lock(&st->mu);
	st->paused = paused;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

int qf_station_busy(struct qf_station *st)
{
	int n = 0;

	pthread_mutex_lock(&st->mu);
	for (int i = 0; i < st->nslots; i++) {
		enum qf_slot_state s = st->slots[i].status.state;

		n += s >= QF_SLOT_CHECKING && s <= QF_SLOT_FINISHING;
	}
	pthread_mutex_unlock(&st->mu);
	return n;
}

void qf_station_stop(struct qf_station *st)
{
	pthread_mutex_lock(&st->mu);
	if (st->stopped) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	st->stopping = st->stopped = true;
	for (int i = 0; i < st->nslots; i++)
		atomic_store(&st->slots[i].cancel, 1);
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	for (int i = 0; i < st->nslots; i++)
		if (st->slots[i].thread_started)
			pthread_join(st->slots[i].thread, NULL);
	if (st->monitor_started)
		pthread_join(st->monitor, NULL);
}

void qf_station_free(struct qf_station *st)
{
	if (!st)
		return;
	qf_station_stop(st);
	free_station(st);
}
