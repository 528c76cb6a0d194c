/* logline.c - one line of the flash log read back: its JSON object (json-c)
 * turned into a struct qf_history_record, fields read by name and by kind
 * so that the ones other versions add or leave out cost nothing; and the
 * times the log and people write. */
#include "report/history.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The record's strings, in the order they are packed: all of them live in
 * one block that starts with the JSON text, so a record is one
 * allocation besides its struct and one free. */
#define S(f) offsetof(struct qf_history_record, f)
static const size_t str_fields[] = {
	S(json), S(result), S(target), S(model), S(serial), S(wwn), S(image),
	S(source_sha256), S(snapshot_id), S(snapshot_name), S(mode),
	S(adjustments), S(verify), S(error), S(slot), S(station),
	S(operator_name), S(healed),
};
#undef S
enum { NSTR = sizeof(str_fields) / sizeof(str_fields[0]) };

static const char **field(struct qf_history_record *r, size_t i)
{
	return (const char **)((char *)r + str_fields[i]);
}

/* Point the string fields of @r at copies of @vals, in one block. */
static void pack(struct qf_history_record *r, const char *const vals[NSTR])
{
	size_t len[NSTR], total = 0;
	char *p;

	for (size_t i = 0; i < NSTR; i++)
		total += (len[i] = strlen(vals[i])) + 1;
	p = qf_xmalloc(total);
	for (size_t i = 0; i < NSTR; i++) {
		memcpy(p, vals[i], len[i] + 1);
		*field(r, i) = p;
		p += len[i] + 1;
	}
}

void logline_clear(struct qf_history_record *r)
{
	free((char *)r->json);
	memset(r, 0, sizeof(*r));
}

/* The value of @key as text: strings as they are, numbers and booleans
 * (a slot may be a number) and anything else as their JSON; "" for
 * missing and null.  Owned by @o. */
static const char *text(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* A finite number at @key into *@d. */
static bool number(struct json_object *o, const char *key, double *d)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v ||
	    !(json_object_is_type(v, json_type_int) ||
	      json_object_is_type(v, json_type_double)))
		return false;
	*d = json_object_get_double(v);
	return isfinite(*d);
}

/* A byte count: a number from 0 to 2^64 - 1, else 0. */
static uint64_t count(struct json_object *o, const char *key)
{
	struct json_object *v;
	double d;

	if (!number(o, key, &d) || d < 0)
		return 0;
	json_object_object_get_ex(o, key, &v);
	if (json_object_is_type(v, json_type_int))
		return json_object_get_uint64(v);
	return d < 18446744073709551616.0 ? (uint64_t)d : 0;
}

static double number_or(struct json_object *o, const char *key, double dflt)
{
	double d;

	return number(o, key, &d) ? d : dflt;
}

/* A time the log gives as ISO 8601 text (UTC unless it says otherwise)
 * or as epoch seconds; 0 when it gives none. */
static int64_t when(struct json_object *o, const char *key)
{
	int64_t t;
	double d;

	if (number(o, key, &d))
		return d > 0 && d < 1e15 ? (int64_t)d : 0;
	return logline_parse_iso(text(o, key), false, &t) == 0 ? t : 0;
}

/* The words of an array of strings, ", "-separated, in a new string. */
static char *words(struct json_object *o, const char *key)
{
	struct json_object *v;
	char *out = qf_xstrdup(""), *next;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return out;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		struct json_object *w = json_object_array_get_idx(v, i);
		if (!json_object_is_type(w, json_type_string))
			continue;
		next = qf_xasprintf("%s%s%s", out, *out ? ", " : "",
				    json_object_get_string(w));
		free(out);
		out = next;
	}
	return out;
}

static enum qf_history_outcome outcome_of(const char *result)
{
	if (!strcmp(result, "ok"))
		return QF_HISTORY_PASSED;
	if (!strcmp(result, "cancelled"))
		return QF_HISTORY_CANCELLED;
	return QF_HISTORY_FAILED;
}

int logline_record(struct json_object *o, long line,
		   struct qf_history_record *r, bool *started)
{
	const char *vals[NSTR];
	struct json_object *snap = NULL, *q = NULL;
	char *adjust;
	double d;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object) || !*text(o, "result") ||
	    !*text(o, "target"))
		return -1;
	*started = !strcmp(text(o, "result"), "started");
	/* Until its result line turns up (logline_merge), a flash that
	 * started is one that never ended. */
	if (*started)
		json_object_object_add(o, "result",
				       json_object_new_string("interrupted"));
	r->outcome = *started ? QF_HISTORY_INTERRUPTED
			      : outcome_of(text(o, "result"));
	r->time = when(o, "time");
	if (!r->time)
		r->time = when(o, "started_at");
	r->finished = when(o, "finished");
	r->size = count(o, "target_size");
	d = number_or(o, "partition", 0);
	r->partition = d >= 1 && d <= 65536 ? (int)d : 0;
	r->bytes_written = count(o, "bytes_written");
	r->bytes_zeroed = count(o, "bytes_zeroed");
	r->duration = number_or(o, "duration", -1);
	r->rate = number_or(o, "rate", -1);
	if (r->rate < 0 && r->duration > 0 && r->bytes_written + r->bytes_zeroed)
		r->rate = (double)(r->bytes_written + r->bytes_zeroed) / r->duration;
	if (json_object_object_get_ex(o, "qualify", &q) &&
	    json_object_is_type(q, json_type_object)) {
		r->have_qualify = true;
		r->qualify_claimed = count(q, "claimed");
		r->qualify_usable = count(q, "usable");
		r->qualify_write_rate = number(q, "write_rate", &d) ? d : -1;
	}
	if (!json_object_object_get_ex(o, "snapshot", &snap) ||
	    !json_object_is_type(snap, json_type_object))
		snap = NULL;
	adjust = words(o, "adjustments");

	vals[i++] = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE);
	vals[i++] = text(o, "result");
	vals[i++] = text(o, "target");
	vals[i++] = text(o, "model");
	vals[i++] = text(o, "serial");
	vals[i++] = text(o, "wwn");
	vals[i++] = text(o, "image");
	vals[i++] = text(o, "source_sha256");
	vals[i++] = snap ? text(snap, "id") : "";
	vals[i++] = snap ? text(snap, "name") : "";
	vals[i++] = text(o, "mode");
	vals[i++] = adjust;
	vals[i++] = text(o, "verify");
	vals[i++] = text(o, "error");
	vals[i++] = text(o, "slot");
	vals[i++] = text(o, "station");
	vals[i++] = text(o, "operator");
	vals[i++] = text(o, "healed");
	pack(r, vals);
	free(adjust);
	r->line = line;
	return 0;
}

void logline_merge(struct qf_history_record *res,
		   struct qf_history_record *start)
{
	const char *vals[NSTR];
	char *old = (char *)res->json;

	/* The JSON stays the result line's: it says how the flash ended. */
	for (size_t i = 0; i < NSTR; i++) {
		const char *v = *field(res, i);
		vals[i] = *v || i == 0 ? v : *field(start, i);
	}
	pack(res, vals);
	free(old);
	if (!res->time)
		res->time = start->time;
	if (!res->size)
		res->size = start->size;
	res->line = start->line;
	logline_clear(start);
}

/* ------------------------------------------------------------------ times */

/* @n digits at *@p as a number, moving *@p past them; -1 if not digits. */
static int digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

static int month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int logline_parse_iso(const char *s, bool local, int64_t *out)
{
	const char *p = s;
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	bool zone = false;
	time_t t;

	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 ||
	    *p++ != '-' || (d = digits(&p, 2)) < 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if ((h = digits(&p, 2)) < 0 || *p++ != ':' || (mi = digits(&p, 2)) < 0)
			return -1;
		if (*p == ':') {
			p++;
			if ((sec = digits(&p, 2)) < 0)
				return -1;
			/* A fraction says nothing a report needs. */
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*p == 'Z' || *p == 'z') {
			zone = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;

			if ((oh = digits(&p, 2)) < 0)
				return -1;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && (om = digits(&p, 2)) < 0)
				return -1;
			if (oh > 23 || om > 59)
				return -1;
			zone = true;
			off = sign * (oh * 3600 + om * 60);
		}
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (local && !zone) {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	} else {
		t = timegm(&tm);
	}
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t - off;
	return 0;
}

int qf_history_parse_time(const char *s, int64_t now, int64_t *out,
			  struct qf_err *e)
{
	bool today = !strcasecmp(s, "today"), yesterday = !strcasecmp(s, "yesterday");

	if (today || yesterday) {
		time_t t = (time_t)now;
		struct tm tm;

		if (!localtime_r(&t, &tm))
			return qf_err_set(e, EINVAL, N_("'%s': the clock is out of range"), s);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_mday -= yesterday;
		tm.tm_isdst = -1;     /* midnight may be on the other side of a change */
		if ((t = mktime(&tm)) == (time_t)-1)
			return qf_err_set(e, EINVAL, N_("'%s': the clock is out of range"), s);
		*out = (int64_t)t;
		return 0;
	}
	if (logline_parse_iso(s, true, out) == 0)
		return 0;
	return qf_err_set(e, EINVAL,
			  N_("'%s' is not a date (YYYY-MM-DD), an ISO 8601 time, today or yesterday"),
			  s);
}

const char *qf_history_time_str(int64_t t, bool utc, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (t > 0 && (utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)))
		strftime(buf, len, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}
