/* report.h - qflash -report (report.c): the flash log read back and
 * printed as a table with a summary, as CSV or as JSON lines. */
#ifndef QF_CLI_REPORT_H
#define QF_CLI_REPORT_H

#include <stdbool.h>

struct report_opts {
	const char *log;             /* -report: a file, "-" or "default" */
	const char *image;           /* -image SHA|NAME */
	const char *since;           /* -since DATE */
	const char *serial;          /* -serial S */
	bool csv;                    /* -csv */
};

/* Take flag @name (without dashes) with value @val when it is one of
 * the report's filters or formats: true if it was. */
bool report_flag(struct report_opts *o, const char *name, const char *val);
/* Whether a filter or format was given (they need -report). */
bool report_extra(const struct report_opts *o);
/* Print the report (@json: JSON lines); returns the exit status: 0, 1
 * when the log cannot be read, 2 for a usage error. */
int report_run(const struct report_opts *o, bool json);

#endif
