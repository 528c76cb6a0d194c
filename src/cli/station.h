/* station.h - qflash -station (station.c): a station without a screen. */
#ifndef QF_CLI_STATION_H
#define QF_CLI_STATION_H

#include "qflash.h"

struct cli_station {
	bool on;                     /* -station */
	bool qualify;                /* -qualify */
	const char **slots;          /* -slot, repeatable */
	int nslots;
	const char *name;            /* -station-name */
	const char *operator_name;   /* -operator */
	const char *cert_dir;        /* -cert-dir */
};

/* Runs the station on image @src until SIGINT or SIGTERM, printing a JSON
 * line per slot state change on stdout.  Returns the exit status. */
int cli_station_run(const char *src, const struct cli_station *cs,
		    const struct qf_open_opts *oo, const struct qf_job_opts *jo);

#endif
