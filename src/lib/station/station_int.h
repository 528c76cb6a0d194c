/* station_int.h - what the station's files share: the station (station.c:
 * its lifecycle, the monitor that finds which drive sits in which slot,
 * status snapshots and the event list), one slot's run through a drive
 * (slot.c), its state changes (state.c) and the certificate written for
 * each drive (cert.c). */
#ifndef QF_STATION_INT_H
#define QF_STATION_INT_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

struct qf_station;

struct slot {
	struct qf_station *st;
	int index;
	pthread_t thread;
	bool thread_started;
	/* Under st->mu: what the monitor sees in the slot now (name "" when
	 * it is empty) and the medium's identity, which changes when a
	 * drive is swapped. */
	char present[64];
	uint64_t present_id;
	struct qf_slot_status status;
	struct qf_record_info rec;   /* the flash log's station fields */
	atomic_int cancel;           /* the running drive is to stop */
};

struct qf_station {
	struct qf_station_opts o;
	char *image, *station, *operator_name, *cert_dir, *log_path;
	char *cache_dir;             /* the default one, for a URL */
	char **slot_ids;
	char **sources;              /* the image's files, for the safety
					policy (NULL-terminated) */
	uint64_t image_size;

	pthread_mutex_t mu;
	pthread_cond_t cv;           /* the monitor saw a change, or stop */
	bool stopping, stopped, paused;
	struct slot *slots;
	int nslots;
	struct qf_slot_status *events;
	size_t nev, capev;
	int wake[2];                 /* pipe: readable when a slot changed */

	pthread_t monitor;
	bool monitor_started;
};

/* slot.c: the slot thread: waits for a drive, runs it through, waits for
 * its removal, until the station stops. */
void *slot_main(void *arg);

/* state.c: a state change (recorded as an event, under st->mu which the
 * caller holds). */
void station_set_state(struct slot *s, enum qf_slot_state state,
		       const char *reason);
/* The drive the slot held when it started is no longer there. */
bool station_drive_gone(struct slot *s, const char *name, uint64_t id);

/* cert.c: the certificate of one drive, written to st->cert_dir; its
 * path in s->status.certificate, "" when it could not be written (with
 * a warning through the image's warn hook). */
struct qf_progress;
struct qf_qualify_result;
void cert_write(struct slot *s, const struct qf_device *dev,
		const struct qf_progress *p, const char *sha256,
		double t0, double t1, bool pass, const char *reason);

#endif
