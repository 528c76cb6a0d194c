/* cache.c - the qflash CLI's -cache and -cache-max: sizes as people write
 * them, the open options that read remote images through the library's
 * cache, and a download's progress (a line redrawn on a terminal, one
 * line per phase otherwise, JSON lines with -json). */
#include "config.h"

#include "cli/cache.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "i18n.h"

uint64_t cli_parse_size(const char *s)
{
	static const char units[] = "KMGTPE";
	const char *u;
	char *end;
	double v, mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0 || isspace((unsigned char)*s))
		return 0;
	if (*end) {
		u = strchr(units, toupper((unsigned char)*end));
		if (!u || !*u)
			return 0;
		for (const char *p = units; p <= u; p++)
			mult *= 1024;
		end++;
		if (*end && strcasecmp(end, "iB") && strcasecmp(end, "B"))
			return 0;
	}
	v *= mult;
	return v < 18446744073709551615.0 ? (uint64_t)v : 0;
}

struct shown {
	bool json;
	int phase;                 /* the last shown, -1 for none */
	double last, start;
	uint64_t start_done;
};

static struct shown shown = { .phase = -1 };

static const char *const phase_id[] = {
	[QF_CACHE_WAITING] = "waiting",
	[QF_CACHE_DOWNLOADING] = "downloading",
	[QF_CACHE_CHECKING] = "checking",
};

static const char *phase_text(enum qf_cache_phase ph)
{
	switch (ph) {
	case QF_CACHE_WAITING: return _("waiting for another download of it into the cache");
	case QF_CACHE_DOWNLOADING: return _("downloading into the cache");
	default: return _("checking its copy in the cache");
	}
}

static void on_progress(void *ctx, const char *name, enum qf_cache_phase ph,
			uint64_t done, uint64_t total)
{
	struct shown *s = ctx;
	double now = qf_now(), rate;
	bool first = s->phase != (int)ph, end = total && done >= total;
	char b1[32], b2[32];

	if (first) {
		s->phase = (int)ph;
		s->start = now;
		s->start_done = done;
	} else if (!end && now - s->last < (s->json ? 1.0 : 0.2)) {
		return;
	}
	s->last = now;
	if (s->json) {
		printf("{\"event\":\"cache\",\"phase\":\"%s\",\"name\":", phase_id[ph]);
		qf_json_string(stdout, name);
		printf(",\"done\":%" PRIu64 ",\"total\":%" PRIu64 "}\n", done, total);
		fflush(stdout);
		return;
	}
	if (!isatty(STDERR_FILENO)) {
		if (first)
			fprintf(stderr, _("qflash: %s: %s\n"), name, phase_text(ph));
		return;
	}
	rate = now > s->start ? (double)(done - s->start_done) / (now - s->start) : 0;
	fprintf(stderr, "\r\033[K%5.1f%%  %s / %s  %6.1f MB/s  %s",
		total ? 100.0 * (double)done / (double)total : 100.0,
		qf_size_str(done, b1, sizeof(b1)), qf_size_str(total, b2, sizeof(b2)),
		rate / 1e6, phase_text(ph));
	if (end) {
		fputc('\n', stderr);
		s->phase = -1;
	}
}

/* Set by the handlers; the library's cancel flag.  The job installs
 * handlers of its own once the image is open. */
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

void cli_cache_setup(struct qf_open_opts *oo, const char *dir, uint64_t max,
		     bool json)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	shown.json = json;
	oo->cache_dir = dir;
	oo->cache_max = max;
	oo->cache_progress = on_progress;
	oo->cache_ctx = &shown;
	oo->cancel = &got_signal;
}

int cli_cache_interrupted(const struct qf_err *e)
{
	if (!got_signal)
		return 0;
	if (e)
		fprintf(stderr, _("qflash: %s (signal %d)\n"), e->msg, (int)got_signal);
	return got_signal == SIGINT ? 130 : 143;
}
