/* station.c - qflash -station: the station of qflash-tui without a screen,
 * for a service manager.  Every slot state change is one JSON line on
 * stdout, flushed at once; SIGINT or SIGTERM stops it, cancelling the
 * drives being flashed (which are left with no layout). */
#include "config.h"

#include "cli/station.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "i18n.h"

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void put_key(const char *key, const char *val)
{
	printf(",\"%s\":", key);
	qf_json_string(stdout, val);
}

/* Opens the line: {"time":"2026-12-02T10:11:12Z" as the flash log has it. */
static void put_time(double when)
{
	char buf[32];

	printf("{\"time\":");
	qf_json_string(stdout, qf_history_time_str((int64_t)when, true, buf,
						   sizeof(buf)));
}

static void print_event(const struct qf_slot_status *s)
{
	put_time(s->time);
	put_key("event", "slot");
	put_key("slot", s->id);
	put_key("state", qf_slot_state_id(s->state));
	put_key("device", s->device);
	put_key("model", s->model);
	put_key("serial", s->serial);
	put_key("wwn", s->wwn);
	printf(",\"size\":%llu,\"copies\":%u,\"failures\":%u",
	       (unsigned long long)s->size, s->copies, s->failures);
	put_key("result", s->result == QF_SLOT_EMPTY ? ""
			  : qf_slot_state_id(s->result));
	put_key("reason", s->reason);
	put_key("certificate", s->certificate);
	printf("}\n");
}

static void drain(struct qf_station *st)
{
	struct qf_slot_status *ev = NULL;
	int n = qf_station_events(st, &ev);

	for (int i = 0; i < n; i++)
		print_event(&ev[i]);
	free(ev);
	fflush(stdout);
}

int cli_station_run(const char *src, const struct cli_station *cs,
		    const struct qf_open_opts *oo, const struct qf_job_opts *jo)
{
	struct qf_station_opts so = {
		.image = src,
		.open = *oo,
		.job = *jo,
		.qualify = cs->qualify,
		.station = cs->name,
		.operator_name = cs->operator_name,
		.cert_dir = cs->cert_dir,
		.slots = cs->slots,
		.nslots = cs->nslots,
	};
	struct sigaction sa = { .sa_handler = on_stop };
	struct qf_station *st;
	struct qf_err e = { 0 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (qf_station_start(&so, &st, &e) < 0) {
		fprintf(stderr, "qflash: %s\n", e.msg);
		return 1;
	}
	put_time((double)time(NULL));
	put_key("event", "armed");
	put_key("image", src);
	printf(",\"slots\":[");
	for (int i = 0; i < cs->nslots; i++) {
		if (i)
			putchar(',');
		qf_json_string(stdout, cs->slots[i]);
	}
	printf("]}\n");
	while (!stop_signal) {
		struct pollfd pfd = { .fd = qf_station_wakeup_fd(st), .events = POLLIN };

		if (poll(&pfd, 1, 500) > 0)
			qf_station_ack_wakeup(st);
		drain(st);
	}
	qf_station_stop(st);
	drain(st);
	put_time((double)time(NULL));
	put_key("event", "stopped");
	printf(",\"signal\":%d}\n", (int)stop_signal);
	fflush(stdout);
	qf_station_free(st);
	return 0;
}
