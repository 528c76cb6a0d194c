/* history.h - what the reader of the flash log (history.c) needs of
 * logline.c: one line's JSON object turned into a struct
 * qf_history_record, records merged and freed, and the times the log
 * writes. */
#ifndef QF_HISTORY_H
#define QF_HISTORY_H

#include "internal.h"

struct json_object;

/* The record in line @line's object @o: 0, with *@started telling a
 * "started" line (its record says "interrupted" until a result line
 * takes its place), or -1 when @o is no flash record (no "result" or
 * "target").  The record's strings are its own: logline_clear frees
 * them.  @o may be changed. */
int logline_record(struct json_object *o, long line,
		   struct qf_history_record *r, bool *started);
/* The result record @res of the flash that @start began: what the result
 * line does not say is taken from the started line, and the record
 * begins at the started line.  Both are consumed; the merge is in @res. */
void logline_merge(struct qf_history_record *res,
		   struct qf_history_record *start);
void logline_clear(struct qf_history_record *r);

/* An ISO 8601 date or time ("2026-12-01T23:48:11Z", see
 * qf_history_parse_time): 0 and the epoch seconds in *@out, or -1.  A
 * time without a zone is local when @local, else UTC. */
int logline_parse_iso(const char *s, bool local, int64_t *out);

#endif
