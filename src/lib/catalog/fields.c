/* fields.c - the members of one catalog entry, each checked by kind
 * before it is taken: names, texts, sizes (whole, non-negative numbers),
 * SHA-256 digests (64 hex digits), dates (YYYY-MM-DD, a real day) and
 * the names of files (http(s) URLs or paths, resolved against the
 * catalog).  Members of the wrong kind are errors; null is "not given".
 * Each problem becomes a message naming the entry by its path. */
#include "catalog/catalog_int.h"
#include "source/source.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255
#define TEXT_MAX_LEN 4096
#define URL_MAX_LEN 8192

void catalog_problem(struct catalog_build *b, const char *path,
		     const char *fmt, ...)
{
	struct qf_catalog *c = b->c;
	struct qf_err e = { 0 };
	va_list ap;

	if (c->nmessages >= CATALOG_MAX_MESSAGES) {
		b->dropped_msgs++;
		return;
	}
	va_start(ap, fmt);
	qf_err_vset(&e, EINVAL, fmt, ap);
	va_end(ap);
	c->messages = qf_grow(c->messages, c->nmessages, &b->amsg,
			      sizeof(*c->messages));
	c->messages[c->nmessages++] = qf_xasprintf("%s: %s", path, e.msg);
}

void catalog_entry_clear(struct qf_catalog_entry *en)
{
	const char **s[] = {
		&en->name, &en->path, &en->description, &en->url,
		&en->url_shown, &en->bmap, &en->signature, &en->release_date,
		&en->extract_sha256, &en->image_download_sha256,
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		free((char *)*s[i]);
		*s[i] = NULL;
	}
}

/* The member @key of @obj when given (not missing, not null). */
static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* The string member @key into *@out (NULL when not given): false with a
 * message when it is no string, holds a NUL or is longer than @max. */
static bool string(struct catalog_build *b, struct json_object *obj,
		   const char *key, size_t max, const char *path,
		   const char **out)
{
	struct json_object *v = member(obj, key);
	const char *s;

	*out = NULL;
	if (!v)
		return true;
	if (!json_object_is_type(v, json_type_string)) {
		catalog_problem(b, path, N_("%s is not a string"), key);
		return false;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		catalog_problem(b, path, N_("%s holds a NUL character"), key);
		return false;
	}
	if (strlen(s) > max) {
		catalog_problem(b, path, N_("%s is longer than %zu bytes"), key, max);
		return false;
	}
	*out = s;
	return true;
}

bool catalog_name(struct catalog_build *b, struct json_object *obj,
		  const char *label, char **name)
{
	const char *s;

	*name = NULL;
	if (!string(b, obj, "name", NAME_MAX_LEN, label, &s))
		return false;
	if (!s || !*s) {
		catalog_problem(b, label, N_("has no name"));
		return false;
	}
	if (has_control(s) || strchr(s, '/')) {
		/* '/' separates the folders of a path (catalog:FOLDER/NAME). */
		catalog_problem(b, label, N_("the name holds a control character or '/'"));
		return false;
	}
	*name = qf_xstrdup(s);
	return true;
}

/* A size in bytes: -1 when not given. */
static bool size(struct catalog_build *b, struct json_object *obj,
		 const char *key, const char *path, int64_t *out)
{
	struct json_object *v = member(obj, key);
	int64_t n;

	*out = -1;
	if (!v)
		return true;
	if (!json_object_is_type(v, json_type_int)) {
		catalog_problem(b, path, N_("%s is not a whole number of bytes"), key);
		return false;
	}
	n = json_object_get_int64(v);
	if (n < 0) {
		catalog_problem(b, path, N_("%s is negative"), key);
		return false;
	}
	/* json-c saturates what an int64 cannot hold. */
	if (n == INT64_MAX) {
		catalog_problem(b, path, N_("%s is too large"), key);
		return false;
	}
	*out = n;
	return true;
}

/* Lower-case hex of a SHA-256 into *@out ("" when not given). */
static bool sha256(struct catalog_build *b, struct json_object *obj,
		   const char *key, const char *path, const char **out)
{
	const char *s;
	char *hex;
	size_t n;

	*out = NULL;
	if (!string(b, obj, key, 64, path, &s))
		return false;
	if (!s) {
		*out = qf_xstrdup("");
		return true;
	}
	n = strspn(s, "0123456789abcdefABCDEF");
	if (n != 64 || s[n]) {
		catalog_problem(b, path, N_("%s is not 64 hex digits"), key);
		return false;
	}
	hex = qf_xstrdup(s);
	for (char *p = hex; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	*out = hex;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD naming a day of the Gregorian calendar. */
static bool is_date(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return false;
	if (s[10])
		return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static bool date(struct catalog_build *b, struct json_object *obj,
		 const char *path, const char **out)
{
	const char *s;

	*out = NULL;
	if (!string(b, obj, "release_date", 10, path, &s)) {
		/* A longer text is no date either: one message. */
		return false;
	}
	if (s && !is_date(s)) {
		catalog_problem(b, path, N_("release_date is not a date as YYYY-MM-DD"));
		return false;
	}
	*out = qf_xstrdup(s ? s : "");
	return true;
}

/* Whether @s starts with a URL scheme ("ftp:", "file:"). */
static bool has_scheme(const char *s)
{
	size_t n;

	if (!isalpha((unsigned char)s[0]))
		return false;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	return s[n] == ':';
}

/* The "." and ".." segments of @url's path taken out, as RFC 3986
 * (5.2.4) does, so that one file has one URL (the cache's key); in
 * place.  ".." at the root stays at the root. */
static void remove_dots(char *url)
{
	char *path = strstr(url, "://"), *end, *in, *out;

	if (!path || !(path = strchr(path + 3, '/')))
		return;
	end = path + strcspn(path, "?#");
	for (in = out = path; in < end;) {
		/* @in is at a '/': the segment is up to the next one. */
		size_t n = strcspn(in + 1, "/?#") + 1;

		if (in + n > end)
			n = (size_t)(end - in);
		if (n == 2 && in[1] == '.') {
			in += n;
			if (in == end)
				*out++ = '/';
		} else if (n == 3 && in[1] == '.' && in[2] == '.') {
			while (out > path && *--out != '/')
				;
			in += n;
			if (in == end)
				*out++ = '/';
		} else {
			memmove(out, in, n);
			out += n;
			in += n;
		}
	}
	if (out == path)
		*out++ = '/';
	memmove(out, end, strlen(end) + 1);
}

/* @name resolved against the catalog @base.  A catalog on a server
 * names files on servers only: a path from its root is on its own
 * origin, as in a web page. */
static char *resolve(const char *name, const char *base)
{
	if (qf_name_is_url(base) && name[0] == '/') {
		char *origin, *r;

		if (name[1] == '/')
			return qf_xasprintf("%.*s%s",
					    (int)(strstr(base, "://") - base + 1),
					    base, name);
		origin = qf_url_origin(base);
		r = qf_xasprintf("%s%s", origin, name);
		free(origin);
		return r;
	}
	return qf_resolve_name(name, base);
}

/* The file named by member @key, resolved, into *@out ("" when not
 * given; then a message when @required). */
static bool file_name(struct catalog_build *b, struct json_object *obj,
		      const char *key, bool required, const char *path,
		      const char **out)
{
	const char *s;

	*out = NULL;
	if (!string(b, obj, key, URL_MAX_LEN, path, &s))
		return false;
	if (!s || !*s) {
		if (required) {
			catalog_problem(b, path, N_("has no %s"), key);
			return false;
		}
		*out = qf_xstrdup("");
		return true;
	}
	if (has_control(s) || (has_scheme(s) && !qf_name_is_url(s))) {
		catalog_problem(b, path, N_("%s is not an http(s) URL or a path"), key);
		return false;
	}
	if (qf_name_is_url(s) && !s[strcspn(s, ":") + 3]) {
		catalog_problem(b, path, N_("%s names no server"), key);
		return false;
	}
	*out = resolve(s, b->base);
	remove_dots((char *)*out);
	return true;
}

bool catalog_fields(struct catalog_build *b, struct json_object *obj,
		    struct qf_catalog_entry *en)
{
	const char *p = en->path, *desc;
	bool ok = string(b, obj, "description", TEXT_MAX_LEN, p, &desc);

	/* Shown on one line of a list: no control character gets through. */
	en->description = qf_xstrdup(desc ? desc : "");
	for (char *d = (char *)en->description; *d; d++)
		if ((unsigned char)*d < 0x20 || *d == 0x7f)
			*d = ' ';
	if (en->folder) {
		en->url = qf_xstrdup("");
		en->url_shown = qf_xstrdup("");
		en->bmap = qf_xstrdup("");
		en->signature = qf_xstrdup("");
		en->release_date = qf_xstrdup("");
		en->extract_sha256 = qf_xstrdup("");
		en->image_download_sha256 = qf_xstrdup("");
		en->extract_size = en->image_download_size = -1;
		return ok;
	}
	/* Every member is checked, so one reading tells all that is wrong. */
	ok &= file_name(b, obj, "url", true, p, &en->url);
	ok &= file_name(b, obj, "bmap", false, p, &en->bmap);
	ok &= file_name(b, obj, "signature", false, p, &en->signature);
	ok &= size(b, obj, "extract_size", p, &en->extract_size);
	ok &= size(b, obj, "image_download_size", p, &en->image_download_size);
	ok &= sha256(b, obj, "extract_sha256", p, &en->extract_sha256);
	ok &= sha256(b, obj, "image_download_sha256", p,
		     &en->image_download_sha256);
	ok &= date(b, obj, p, &en->release_date);
	if (en->url)
		en->url_shown = qf_url_redact(en->url);
	return ok;
}
