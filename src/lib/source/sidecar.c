/* sidecar.c - checksum lists and bmaps beside a remote image, fetched in
 * parallel (see sidecar.h). */
#include "source/sidecar.h"
#include "source/source.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t side_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t side_cond = PTHREAD_COND_INITIALIZER;
static struct side *sides;

struct side {
	const void *owner;
	char *name;
	const struct qf_open_opts *opts;
	uint64_t max;
	pthread_t thread;
	bool started, done, taken;
	int ret;
	char *text;
	size_t len;
	struct qf_err e;
	struct side *next;
};

/* qf_small_file without looking at what was fetched ahead. */
static int small_file_fetch(const char *name, const struct qf_open_opts *opts,
			    uint64_t max, char **text, size_t *len,
			    struct qf_err *e)
{
	struct qf_source *s = NULL;
	struct qf_err e2 = { 0 };
	int ret = qf_source_open(name, NULL, opts, &s, &e2);

	if (ret < 0) {
		if (ret != -ENOENT && e && !e->code)
			*e = e2;
		return ret;
	}
	if (s->size > max) {
		ret = qf_err_set(e, EFBIG, N_("%s: too large for a checksum or bmap file"),
				 s->name);
		qf_source_close(s);
		return ret;
	}
	*len = (size_t)s->size;
	*text = qf_xmalloc(*len + 1);
	ret = *len ? qf_source_pread(s, *text, *len, 0, 0, e) : 0;
	(*text)[*len] = 0;
	qf_source_close(s);
	if (ret < 0) {
		free(*text);
		*text = NULL;
	}
	return ret;
}

int qf_small_file(const char *name, const struct qf_open_opts *opts,
		  uint64_t max, char **text, size_t *len, struct qf_err *e)
{
	int ret;

	if (qf_sidecar_take(name, max, &ret, text, len, e))
		return ret;
	return small_file_fetch(name, opts, max, text, len, e);
}

static void *side_main(void *arg)
{
	struct side *sd = arg;
	struct qf_err e = { 0 };
	char *text = NULL;
	size_t len = 0;
	int ret = small_file_fetch(sd->name, sd->opts, sd->max, &text, &len,
				      &e);

	pthread_mutex_lock(&side_lock);
	sd->ret = ret;
	sd->text = text;
	sd->len = len;
	sd->e = e;
	sd->done = true;
	pthread_cond_broadcast(&side_cond);
	pthread_mutex_unlock(&side_lock);
	return NULL;
}

void qf_sidecars_fetch(const void *owner, char *const *names, int n,
		       uint64_t max, const struct qf_open_opts *opts)
{
	for (int i = 0; i < n; i++) {
		struct side *sd = qf_xcalloc(1, sizeof(*sd));

		sd->owner = owner;
		sd->name = qf_xstrdup(names[i]);
		sd->opts = opts;
		sd->max = max;
		pthread_mutex_lock(&side_lock);
		sd->next = sides;
		sides = sd;
		/* Without a thread the name is simply fetched when asked. */
		sd->started = pthread_create(&sd->thread, NULL, side_main, sd) == 0;
		if (!sd->started)
			sd->taken = true;
		pthread_mutex_unlock(&side_lock);
	}
}

bool qf_sidecar_take(const char *name, uint64_t max, int *ret, char **text,
		     size_t *len, struct qf_err *e)
{
	struct side *sd;

	pthread_mutex_lock(&side_lock);
	for (sd = sides; sd; sd = sd->next)
		if (!sd->taken && sd->max == max && strcmp(sd->name, name) == 0)
			break;
	if (!sd) {
		pthread_mutex_unlock(&side_lock);
		return false;
	}
	sd->taken = true;
	while (!sd->done)
		pthread_cond_wait(&side_cond, &side_lock);
	pthread_mutex_unlock(&side_lock);
	*ret = sd->ret;
	if (sd->ret == 0) {
		*text = sd->text;
		*len = sd->len;
		sd->text = NULL;
	} else if (sd->ret != -ENOENT && e && !e->code) {
		*e = sd->e;     /* what the fetch said, as qf_small_file would */
	}
	return true;
}

void qf_sidecars_drop(const void *owner)
{
	struct side **pp, *sd, *mine = NULL;

	pthread_mutex_lock(&side_lock);
	for (pp = &sides; (sd = *pp);) {
		if (sd->owner != owner) {
			pp = &sd->next;
			continue;
		}
		*pp = sd->next;
		sd->next = mine;
		mine = sd;
	}
	pthread_mutex_unlock(&side_lock);
	while ((sd = mine)) {
		mine = sd->next;
		if (sd->started)
			pthread_join(sd->thread, NULL);
		free(sd->text);
		free(sd->name);
		free(sd);
	}
}
