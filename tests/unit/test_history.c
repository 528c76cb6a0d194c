/* test_history.c - the flash log read back: the times -since takes (dates,
 * ISO 8601 with zones and fractions, today and yesterday across a change
 * of daylight saving time) and the pairing of started and result lines
 * (a flash run again after a kill, two jobs in the same second, results
 * without a started line, the newest N kept). */
#include "internal.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char logpath[] = "/tmp/qflash-test-history.XXXXXX";

static int64_t t_of(const char *s)
{
	int64_t t = -1;

	if (qf_history_parse_time(s, 0, &t, NULL) < 0)
		return -1;
	return t;
}

static void write_log(const char *text)
{
	FILE *f = fopen(logpath, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

#define LINE(time, target, result) \
	"{\"time\":\"" time "\",\"image\":\"/i.img\",\"target\":\"" target \
	"\",\"result\":\"" result "\"}\n"

/* The results of the records read, oldest first, as "target=result,". */
static const char *read_all(const struct qf_history_filter *f, struct qf_history *h)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = 0;
	if (qf_history_read(logpath, f, h, NULL) < 0)
		return "error";
	for (size_t i = 0; i < h->count; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s=%s,", h->rec[i].target,
			      h->rec[i].result);
	return buf;
}

int main(void)
{
	struct qf_history h;
	const char *got;
	struct qf_history_filter f = { 0 };
	int64_t today, yesterday;
	int fd;

	qf_init();
	setenv("TZ", "UTC", 1);
	tzset();
	is_int(t_of("2026-12-01"), 1796083200, "a date is midnight");
	is_int(t_of("2026-12-01T14:30"), 1796135400, "minutes without seconds");
	is_int(t_of("2026-12-01 14:30:15.250"), 1796135415, "a space for T, a fraction");
	is_int(t_of("2026-12-01T14:30:15+01:00"), 1796131815, "a zone east of UTC");
	is_int(t_of("2026-12-01T14:30:15-0530"), 1796155215, "a zone without a colon");
	is_int(t_of("2024-02-29"), 1709164800, "a leap day");
	ok(t_of("2025-02-29") < 0, "no leap day in 2025");
	ok(t_of("2026-12-01T24:00") < 0 && t_of("2026-12-1") < 0 &&
	   t_of("2026-12-01T14:30Zjunk") < 0 && t_of("") < 0 && t_of("soon") < 0,
	   "malformed times refused");

	/* In a zone with daylight saving time, "yesterday" of the day after
	 * the change is still a midnight. */
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
		ok(1, "# SKIP no time zone data");
	} else if (qf_history_parse_time("TODAY", 1792980000, &today, NULL) == 0 &&
		   qf_history_parse_time("yesterday", 1792980000, &yesterday, NULL) == 0) {
		/* 2026-10-26 03:00 CET; the clocks went back on the 25th. */
		is_int(today, 1792969200, "today: local midnight (CET)");
		is_int(yesterday, 1792879200, "yesterday: local midnight (CEST), 25 hours before");
		is_int(t_of("2026-07-01"), 1782856800, "a date is local midnight (CEST)");
	} else {
		ok(0, "today and yesterday parsed");
	}
	setenv("TZ", "UTC", 1);
	tzset();

	fd = mkstemp(logpath);
	if (fd < 0)
		abort();
	close(fd);

	/* Killed, run again, finished: the first start was interrupted. */
	write_log(LINE("2026-01-01T10:00:00Z", "/dev/sdb", "started")
		  LINE("2026-01-01T10:05:00Z", "/dev/sdb", "started")
		  LINE("2026-01-01T10:05:00Z", "/dev/sdb", "ok"));
	got = read_all(NULL, &h);
	ok(!strcmp(got, "/dev/sdb=interrupted,/dev/sdb=ok,"),
	   "a flash run again after a kill: %s", got);
	is_int(h.all.interrupted, 1, "one interrupted");
	is_int(h.rec[1].line, 2, "the finished flash begins at its started line");
	qf_history_free(&h);

	/* Two jobs' lines interleaved: each result finds its own start. */
	write_log(LINE("2026-01-01T10:00:00Z", "/dev/sdb", "started")
		  LINE("2026-01-01T10:00:00Z", "/dev/sdc", "started")
		  LINE("2026-01-01T10:00:01Z", "/dev/sdd", "started")
		  LINE("2026-01-01T10:00:00Z", "/dev/sdc", "failed")
		  LINE("2026-01-01T10:00:01Z", "/dev/sdd", "ok")
		  LINE("2026-01-01T10:00:00Z", "/dev/sdb", "cancelled"));
	got = read_all(NULL, &h);
	ok(!strcmp(got, "/dev/sdb=cancelled,/dev/sdc=failed,/dev/sdd=ok,"),
	   "interleaved jobs paired: %s", got);
	ok(h.all.total == 3 && h.all.passed == 1 && h.all.failed == 1 &&
	   h.all.cancelled == 1 && h.all.interrupted == 0, "and counted");
	qf_history_free(&h);

	/* Results without started lines (older logs); the newest two kept,
	 * all counted. */
	write_log(LINE("2026-01-03T10:00:00Z", "/dev/c", "ok")
		  LINE("2026-01-01T10:00:00Z", "/dev/a", "ok")
		  LINE("2026-01-04T10:00:00Z", "/dev/d", "mismatch")
		  LINE("2026-01-02T10:00:00Z", "/dev/b", "ok")
		  LINE("2026-01-05T10:00:00Z", "/dev/e", "started"));
	f.limit = 2;
	f.mark = t_of("2026-01-04");
	got = read_all(&f, &h);
	ok(!strcmp(got, "/dev/d=mismatch,/dev/e=interrupted,"),
	   "the newest two, oldest first: %s", got);
	ok(h.all.total == 5 && h.all.passed == 3 && h.marked.total == 2 &&
	   h.marked.failed == 1 && h.marked.interrupted == 1,
	   "every record counted, the marked ones apart");
	qf_history_free(&h);
	f.limit = 0;
	f.mark = 0;
	f.since = t_of("2026-01-02T10:00:00Z");
	got = read_all(&f, &h);
	ok(!strcmp(got, "/dev/b=ok,/dev/c=ok,/dev/d=mismatch,/dev/e=interrupted,"),
	   "since: at or after the time: %s", got);
	qf_history_free(&h);

	/* A log without a final newline, and one of nothing. */
	write_log(LINE("2026-01-01T10:00:00Z", "/dev/sdb", "ok") "{\"result\":\"ok\",\"target\":\"/x\"}");
	got = read_all(NULL, &h);
	ok(!strcmp(got, "/x=ok,/dev/sdb=ok,") && h.skipped == 0,
	   "the last line counts without its newline: %s", got);
	is_int(h.rec[0].time, 0, "a record without a time has time 0");
	qf_history_free(&h);
	write_log("");
	ok(qf_history_read(logpath, NULL, &h, NULL) == 0 && h.count == 0 &&
	   h.lines == 0, "an empty log");
	qf_history_free(&h);

	{
		char b[32];
		ok(!strcmp(qf_history_time_str(1796135415, true, b, sizeof(b)),
			   "2026-12-01T14:30:15Z"), "UTC as the log writes it");
		ok(!strcmp(qf_history_time_str(0, false, b, sizeof(b)), ""),
		   "no time, no text");
	}
	unlink(logpath);
	return tap_done();
}
