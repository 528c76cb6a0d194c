/* qualify.c - the qflash CLI's -qualify flag: every target qualified by
 * the library (qf_qualify), all at once on threads of their own, and the
 * verdicts printed in the order the targets were given.  Before a flash,
 * one failed target means nothing is flashed. */
#include "config.h"

#include "qflash.h"
#include "cli/qualify.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

struct one {
	const char *path;
	const char *const *sources;
	struct qf_qualify_result r;
	struct qf_err e;
	int ret;
	pthread_t th;
	bool thread;
};

/* The signal that asked to stop, 0 while none did; also the library's
 * cancel flag. */
static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static void *qualify_one(void *arg)
{
	struct one *o = arg;

	o->ret = qf_qualify(o->path, o->sources, &stop_sig, &o->r, &o->e);
	return NULL;
}

static void print_json(const struct one *o)
{
	const struct qf_qualify_result *r = &o->r;

	printf("{\"event\":\"qualify\",\"target\":");
	qf_json_string(stdout, o->path);
	printf(",\"ok\":%s,\"claimed\":%" PRIu64 ",\"usable\":%" PRIu64
	       ",\"fake\":%s,\"lost_writes\":%s,\"lost_offset\":%" PRIu64
	       ",\"write_errors\":%s,\"error_offset\":%" PRIu64
	       ",\"read_only\":%s,\"write_rate\":%.0f,\"read_rate\":%.0f"
	       ",\"seconds\":%.3f,\"message\":",
	       o->ret == 0 ? "true" : "false", r->claimed, r->usable,
	       r->fake ? "true" : "false", r->lost_writes ? "true" : "false",
	       r->lost_off, r->write_errors ? "true" : "false", r->error_off,
	       r->read_only ? "true" : "false", r->write_rate, r->read_rate,
	       r->seconds);
	qf_json_string(stdout, r->message);
	printf("}\n");
}

int qualify_targets(const char *const *targets, int n,
		    const char *const *sources, bool json, bool flash)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct one *v = calloc((size_t)n, sizeof(*v));
	FILE *out = flash && !json ? stderr : stdout;
	int failed = 0;

	if (!v)
		abort();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (int i = 0; i < n; i++) {
		v[i].path = targets[i];
		v[i].sources = sources;
		v[i].thread = pthread_create(&v[i].th, NULL, qualify_one, &v[i]) == 0;
		if (!v[i].thread)
			qualify_one(&v[i]);
	}
	for (int i = 0; i < n; i++) {
		if (v[i].thread)
			pthread_join(v[i].th, NULL);
		if (v[i].ret < 0)
			failed++;
		if (json)
			print_json(&v[i]);
		else
			fprintf(out, _("%s%s: %s (%.1f s)\n"), flash ? "qflash: " : "",
				v[i].path, v[i].r.message, v[i].r.seconds);
	}
	fflush(stdout);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	free(v);
	if (stop_sig) {
		fprintf(stderr, _("qflash: interrupted by signal %d\n"), (int)stop_sig);
		return stop_sig == SIGINT ? 130 : 143;
	}
	if (failed && flash)
		fprintf(stderr, _("qflash: nothing was flashed: %d of %d targets failed qualification\n"),
			failed, n);
	return failed ? 1 : 0;
}
