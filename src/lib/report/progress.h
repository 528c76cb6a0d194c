/* progress.h - transfer rate over a sliding window and time left
 * (progress.c): pure maths, kept apart from anything that shows it. */
#ifndef QF_PROGRESS_H
#define QF_PROGRESS_H

#include "internal.h"

/* Rate over a sliding window of (time, bytes done) samples. */

#define QF_RATE_SAMPLES 64

struct qf_rate {
	double window;               /* seconds */
	double min_gap;              /* samples closer than this are dropped */
	int head, count;             /* ring of samples, head = next slot */
	double t[QF_RATE_SAMPLES];
	uint64_t v[QF_RATE_SAMPLES];
};

void qf_rate_init(struct qf_rate *r, double window);
/* Record that @done bytes were done at time @now (seconds, monotonic).
 * A value lower than the last sample restarts the window. */
void qf_rate_sample(struct qf_rate *r, double now, uint64_t done);
/* Bytes per second between the oldest sample inside the window and
 * (@now, @done); 0 when unknown. */
double qf_rate_get(const struct qf_rate *r, double now, uint64_t done);
/* Seconds left at @rate, 0 when finished, -1 when unknown. */
double qf_eta(uint64_t done, uint64_t total, double rate);

#endif
