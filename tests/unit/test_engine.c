/* test_engine.c - the engine's progress maths: rate window and ETA,
 * including empty, stalled, backwards and non-finite inputs. */
#include "engine/engine.h"
#include "report/progress.h"
#include "tap.h"

#include <math.h>

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-6 * (fabs(b) > 1 ? fabs(b) : 1);
}

static void test_eta(void)
{
	ok(qf_eta(100, 100, 0) == 0, "eta: finished is 0 even without a rate");
	ok(qf_eta(200, 100, 5) == 0, "eta: done past total is 0");
	ok(qf_eta(0, 0, 0) == 0, "eta: empty job is 0");
	ok(qf_eta(50, 100, 0) < 0, "eta: no rate is unknown");
	ok(qf_eta(50, 100, -3) < 0, "eta: negative rate is unknown");
	ok(qf_eta(50, 100, NAN) < 0, "eta: NaN rate is unknown");
	ok(qf_eta(50, 100, INFINITY) < 0, "eta: infinite rate is unknown");
	ok(near(qf_eta(50, 100, 10), 5), "eta: 50 bytes at 10 B/s is 5 s");
	ok(qf_eta(0, UINT64_MAX, 1e-300) < 0, "eta: overflowing quotient is unknown");
	ok(near(qf_eta(1, 4, 3), 1), "eta: odd numbers divide exactly");
}

static void test_rate_basic(void)
{
	struct qf_rate r;

	qf_rate_init(&r, 3.0);
	ok(qf_rate_get(&r, 10, 100) == 0, "rate: no sample, no rate");
	qf_rate_sample(&r, 0, 0);
	ok(qf_rate_get(&r, 0.05, 10) == 0, "rate: under 0.1 s is unknown");
	ok(near(qf_rate_get(&r, 1, 100), 100), "rate: 100 bytes in 1 s");
	ok(near(qf_rate_get(&r, 2, 100), 50), "rate: 100 bytes in 2 s");
	ok(qf_rate_get(&r, NAN, 100) == 0, "rate: NaN time gives no rate");
	ok(qf_rate_get(&r, 1, 0) == 0, "rate: no progress is 0");

	qf_rate_init(&r, 0);
	ok(r.window > 0, "rate: zero window falls back to a default");
}

static void test_rate_window(void)
{
	struct qf_rate r;
	double t;
	uint64_t v = 0;

	/* 10 s at 10 B/s, then 10 s at 1000 B/s: a 3 s window only sees the
	 * second speed. */
	qf_rate_init(&r, 3.0);
	for (t = 0; t <= 10.0001; t += 0.1) {
		qf_rate_sample(&r, t, v);
		v += 1;
	}
	for (; t <= 20.0001; t += 0.1) {
		v += 100;
		qf_rate_sample(&r, t, v);
	}
	ok(fabs(qf_rate_get(&r, t, v) - 1000) < 40,
	   "rate: window follows the new speed (%.1f)", qf_rate_get(&r, t, v));

	/* Updates much faster than min_gap must not push the whole window
	 * out of the ring. */
	qf_rate_init(&r, 3.0);
	qf_rate_sample(&r, 0, 0);
	v = 0;
	for (t = 0; t < 3.0; t += 0.0001) {
		v += 1;
		qf_rate_sample(&r, t, v);
	}
	ok(r.count < QF_RATE_SAMPLES, "rate: bursts are thinned (%d samples)",
	   r.count);
	ok(fabs(qf_rate_get(&r, 3.0, v) - 10000) < 600,
	   "rate: burst rate is kept (%.0f)", qf_rate_get(&r, 3.0, v));
}

static void test_rate_odd(void)
{
	struct qf_rate r;

	/* Stalled: the last sample is long gone, the rate is the average
	 * since it rather than nothing. */
	qf_rate_init(&r, 3.0);
	qf_rate_sample(&r, 0, 0);
	qf_rate_sample(&r, 1, 100);
	ok(near(qf_rate_get(&r, 10, 190), 10), "rate: stalled updates average since the last sample");
	ok(qf_rate_get(&r, 10, 100) == 0, "rate: no progress since is 0");

	/* Progress going backwards (a new phase) restarts the window. */
	qf_rate_sample(&r, 11, 5);
	ok(r.count == 1, "rate: a lower value restarts the window");
	ok(near(qf_rate_get(&r, 12, 105), 100), "rate: counted from the restart");

	/* The clock going backwards restarts too, and a query before the
	 * newest sample is no rate. */
	qf_rate_sample(&r, 5, 200);
	ok(r.count == 1, "rate: an earlier time restarts the window");
	ok(qf_rate_get(&r, 4, 300) == 0, "rate: query before the samples is 0");

	/* A value below the picked sample (caller bug) gives no rate rather
	 * than a huge unsigned difference. */
	ok(qf_rate_get(&r, 6, 100) == 0, "rate: done below the sample is 0");

	qf_rate_init(&r, 3.0);
	qf_rate_sample(&r, INFINITY, 10);
	ok(r.count == 0, "rate: non-finite time is ignored");
}

int main(void)
{
	test_eta();
	test_rate_basic();
	test_rate_window();
	test_rate_odd();
	return tap_done();
}
