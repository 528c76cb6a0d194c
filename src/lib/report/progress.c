/* progress.c - transfer rate over a sliding window and time left.  Pure
 * maths on (time, bytes) samples: no locking, no formatting. */
#include "report/progress.h"

#include <math.h>
#include <string.h>

void qf_rate_init(struct qf_rate *r, double window)
{
	memset(r, 0, sizeof(*r));
	r->window = window > 0 ? window : 3.0;
	/* Enough samples to span the window twice over, so a burst of updates
	 * cannot push every sample of the window out of the ring. */
	r->min_gap = 2.0 * r->window / QF_RATE_SAMPLES;
}

static int slot(const struct qf_rate *r, int age)
{
	/* age 0 is the newest sample */
	return ((r->head - 1 - age) % QF_RATE_SAMPLES + QF_RATE_SAMPLES) %
	       QF_RATE_SAMPLES;
}

void qf_rate_sample(struct qf_rate *r, double now, uint64_t done)
{
	if (!isfinite(now))
		return;
	if (r->count) {
		int last = slot(r, 0);
		if (done < r->v[last] || now < r->t[last]) {
			/* Progress went backwards (a new phase) or the clock did:
			 * what came before says nothing about the rate now. */
			r->count = 0;
		} else if (now - r->t[last] < r->min_gap) {
			return;
		}
	}
	r->t[r->head] = now;
	r->v[r->head] = done;
	r->head = (r->head + 1) % QF_RATE_SAMPLES;
	if (r->count < QF_RATE_SAMPLES)
		r->count++;
}

double qf_rate_get(const struct qf_rate *r, double now, uint64_t done)
{
	int i, pick = -1;
	double dt;

	if (!r->count || !isfinite(now))
		return 0;
	/* Oldest sample still inside the window; if every sample is older
	 * (updates stalled), the newest one gives the average since then. */
	for (i = r->count - 1; i >= 0; i--) {
		int s = slot(r, i);
		if (r->t[s] >= now - r->window) {
			pick = s;
			break;
		}
	}
	if (pick < 0)
		pick = slot(r, 0);
	dt = now - r->t[pick];
	/* Below a tenth of a second the quotient is mostly noise. */
	if (dt < 0.1 || done < r->v[pick])
		return 0;
	return (double)(done - r->v[pick]) / dt;
}

double qf_eta(uint64_t done, uint64_t total, double rate)
{
	double left;

	if (done >= total)
		return 0;
	if (!(rate > 0) || !isfinite(rate))
		return -1;
	left = (double)(total - done) / rate;
	return isfinite(left) ? left : -1;
}
