/* state.c - a slot's state changes, each kept as an event (a copy of the
 * slot's status at that moment) for the front end and announced on the
 * station's wake-up pipe, and whether the drive a slot started with is
 * still the one in it. */
#include "station/station_int.h"
#include "target/sysfs.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static void wake(struct qf_station *st)
{
	char c = 1;

	/* A full pipe already says it. */
	if (write(st->wake[1], &c, 1) < 0) {
	}
}

void station_set_state(struct slot *s, enum qf_slot_state state,
		       const char *reason)
{
	struct qf_station *st = s->st;

	s->status.state = state;
	if (reason)
		qf_scopy(s->status.reason, sizeof(s->status.reason), reason);
	s->status.time = (double)time(NULL);
	s->status.seq++;
	st->events = qf_grow(st->events, st->nev, &st->capev,
			     sizeof(*st->events));
	st->events[st->nev++] = s->status;
	wake(st);
}

bool station_drive_gone(struct slot *s, const char *name, uint64_t id)
{
	return strcmp(s->present, name) != 0 || s->present_id != id;
}
