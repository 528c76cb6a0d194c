/* catalog.c - a site's catalog of images (the os_list JSON of Raspberry
 * Pi Imager): the manifest read whole through a source (bounded to
 * QF_CATALOG_MAX_BYTES) and parsed with json-c, its tree walked into a
 * flat list of entries, depth first, leaving out each malformed entry
 * with a message; finding an entry by path or name, and which entries the
 * cache holds.  The members of one entry are checked in fields.c. */
#include "catalog/catalog.h"
#include "catalog/catalog_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* json-c's nesting bound: deeper than any catalog may go (an entry is
 * two levels, its object and its folder's array), so that too deep an
 * entry gets its own message rather than the whole file failing. */
#define JSON_DEPTH (4 * QF_CATALOG_DEPTH + 8)

/* Whether a kept entry inside folder @parent is called @name. */
static bool taken(const struct qf_catalog *c, int parent, const char *name)
{
	for (size_t i = parent + 1; i < c->count; i++)
		if (c->entries[i].parent == parent &&
		    strcmp(c->entries[i].name, name) == 0)
			return true;
	return false;
}

static void walk(struct catalog_build *b, struct json_object *list,
		 int depth, int parent, const char *ppath);

/* Entry @i (0-based) of the folder @ppath ("" at the top). */
static void entry(struct catalog_build *b, struct json_object *obj,
		  size_t i, int depth, int parent, const char *ppath)
{
	struct qf_catalog *c = b->c;
	struct qf_catalog_entry en = { .depth = depth, .parent = parent };
	struct json_object *sub = NULL;
	char *name, *label;
	int self;

	label = *ppath ? qf_xasprintf("%s/#%zu", ppath, i + 1)
		       : qf_xasprintf("#%zu", i + 1);
	if (!json_object_is_type(obj, json_type_object)) {
		catalog_problem(b, label, N_("is not an object"));
		free(label);
		return;
	}
	if (!catalog_name(b, obj, label, &name)) {
		free(label);
		return;
	}
	free(label);
	en.name = name;
	en.path = *ppath ? qf_xasprintf("%s/%s", ppath, name) : qf_xstrdup(name);
	if (depth >= QF_CATALOG_DEPTH) {
		catalog_problem(b, en.path, N_("is nested deeper than %d levels"),
				QF_CATALOG_DEPTH);
		goto drop;
	}
	if (taken(c, parent, name)) {
		catalog_problem(b, en.path, N_("another entry before it has this name"));
		goto drop;
	}
	if (json_object_object_get_ex(obj, "subitems", &sub) && sub) {
		if (!json_object_is_type(sub, json_type_array)) {
			catalog_problem(b, en.path, N_("subitems is not a list"));
			goto drop;
		}
		en.folder = true;
	}
	if (!catalog_fields(b, obj, &en))
		goto drop;
	c->entries = qf_grow(c->entries, c->count, &b->alloc, sizeof(*c->entries));
	self = (int)c->count;
	c->entries[c->count++] = en;
	if (sub)
		walk(b, sub, depth + 1, self, c->entries[self].path);
	return;
drop:
	catalog_entry_clear(&en);
}

static void walk(struct catalog_build *b, struct json_object *list,
		 int depth, int parent, const char *ppath)
{
	size_t n = json_object_array_length(list);

	for (size_t i = 0; i < n; i++) {
		if (++b->seen > QF_CATALOG_MAX_ENTRIES) {
			if (b->seen == QF_CATALOG_MAX_ENTRIES + 1)
				catalog_problem(b, *ppath ? ppath : b->c->name,
						N_("the catalog has more than %d entries: the rest are left out"),
						QF_CATALOG_MAX_ENTRIES);
			return;
		}
		entry(b, json_object_array_get_idx(list, i), i, depth, parent, ppath);
	}
}

/* The document @text as JSON into *@out: the whole of it, nothing after. */
static int parse_json(const char *name, const char *text, size_t len,
		      struct json_object **out, struct qf_err *e)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	struct json_object *doc;
	enum json_tokener_error err;
	size_t end;
	int ret = 0;

	if (!tok)
		return qf_err_set(e, ENOMEM, N_("%s: out of memory"), name);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (!doc || err != json_tokener_success)
		ret = qf_err_set(e, EBADMSG, N_("%s: not JSON: %s at byte %zu"),
				 name, err == json_tokener_continue
				 ? "unexpected end of file"
				 : json_tokener_error_desc(err), end);
	else if (end < len)
		ret = qf_err_set(e, EBADMSG, N_("%s: not JSON: more after the end at byte %zu"),
				 name, end);
	json_tokener_free(tok);
	if (ret < 0)
		json_object_put(doc);
	else
		*out = doc;
	return ret;
}

static int parse(const char *name, const char *base, const void *text,
		 size_t len, struct qf_catalog **out, struct qf_err *e)
{
	struct qf_catalog *c;
	struct catalog_build b = { .base = base };
	struct json_object *doc = NULL, *list = NULL;
	int ret;

	if ((ret = parse_json(name, text, len, &doc, e)) < 0)
		return ret;
	if (json_object_is_type(doc, json_type_array))
		list = doc;
	else if (!json_object_is_type(doc, json_type_object) ||
		 !json_object_object_get_ex(doc, "os_list", &list) ||
		 !json_object_is_type(list, json_type_array)) {
		json_object_put(doc);
		return qf_err_set(e, EBADMSG,
				  N_("%s: not a catalog: neither a list of images nor an object with one as os_list"),
				  name);
	}
	c = qf_xcalloc(1, sizeof(*c));
	c->name = qf_xstrdup(name);
	b.c = c;
	walk(&b, list, 0, -1, "");
	if (b.dropped_msgs) {
		c->messages = qf_grow(c->messages, c->nmessages, &b.amsg,
				      sizeof(*c->messages));
		c->messages[c->nmessages++] = qf_xasprintf(
			_("%zu more problems are not shown"), b.dropped_msgs);
	}
	json_object_put(doc);
	*out = c;
	return 0;
}

/* The catalog in @s, named @name; relative names resolve against @base. */
static int read_text(struct qf_source *s, const char *name, const char *base,
		     struct qf_catalog **out, struct qf_err *e)
{
	char *text;
	int ret;

	*out = NULL;
	if (s->size > QF_CATALOG_MAX_BYTES)
		return qf_err_set(e, EFBIG, N_("%s: a catalog is %llu MiB at the most"),
				  name, (unsigned long long)(QF_CATALOG_MAX_BYTES >> 20));
	text = qf_xmalloc((size_t)s->size + 1);
	ret = s->size ? qf_source_pread(s, text, (size_t)s->size, 0, 0, e) : 0;
	if (ret == 0)
		ret = parse(name, base, text, (size_t)s->size, out, e);
	free(text);
	return ret;
}

int qf_catalog_read_source(struct qf_source *s, const char *name,
			   struct qf_catalog **out, struct qf_err *e)
{
	/* Relative names resolve against the absolute path or the URL. */
	return read_text(s, name, s->name, out, e);
}

/* The cached flags from the cache at @dir, which is not made to ask. */
static void mark_from(struct qf_catalog *c, const char *dir)
{
	struct qf_err e = { 0 };
	struct qf_cache *cache;
	struct stat st;

	if (stat(dir, &st) == 0 && (cache = qf_cache_open(dir, 0, &e))) {
		qf_catalog_mark_cached(c, cache);
		qf_cache_close(cache);
	}
}

/* A catalog on a server, through the cache at o->cache_dir: the copy
 * there is checked against the server (ETag, Last-Modified) and used
 * when the server cannot be reached, which o->warn hears.  Its relative
 * names still resolve against the URL. */
static int read_cached(const char *url, const struct qf_open_opts *o,
		       struct qf_catalog **out, bool *no_cache, struct qf_err *e)
{
	struct qf_open_opts co = *o;
	struct qf_cache_info info = { 0 };
	struct qf_source *s = NULL;
	struct qf_cache *cache;
	char *local = NULL;
	int ret;

	cache = qf_cache_open(o->cache_dir, o->cache_max, e);
	if (!cache) {
		*no_cache = true;
		return -ENOENT;
	}
	/* The catalog's own checksum is whatever is published beside it;
	 * an image's options do not apply to it. */
	co.sha256 = NULL;
	co.sha256_origin = NULL;
	ret = qf_cache_fetch(cache, url, &co, &local, &info, o->cancel, NULL,
			     NULL, e);
	if (ret == 0)
		ret = qf_source_open(local, NULL, NULL, &s, e);
	if (ret == 0)
		ret = read_text(s, url, url, out, e);
	if (ret == 0) {
		(*out)->offline = info.use == QF_CACHE_OFFLINE;
		(*out)->stored = info.stored;
		qf_catalog_mark_cached(*out, cache);
	}
	qf_source_close(s);
	free(local);
	qf_cache_close(cache);
	return ret;
}

int qf_catalog_read(const char *name, const struct qf_open_opts *o,
		    struct qf_catalog **out, struct qf_err *e)
{
	struct qf_source *s = NULL;
	int ret;

	*out = NULL;
	if (o && o->cache_dir && qf_name_is_url(name)) {
		struct qf_err ce = { 0 };
		bool no_cache = false;

		ret = read_cached(name, o, out, &no_cache, &ce);
		if (!no_cache) {
			if (ret < 0)
				*e = ce;
			return ret;
		}
		/* No cache to keep it in: read it from the server alone. */
		qf_warn(o, _("%s; the catalog is read without it"), ce.msg);
	}
	if ((ret = qf_source_open(name, NULL, o, &s, e)) < 0)
		return ret;
	ret = qf_catalog_read_source(s, name, out, e);
	qf_source_close(s);
	if (ret == 0 && o && o->cache_dir)
		mark_from(*out, o->cache_dir);
	return ret;
}

const struct qf_catalog_entry *qf_catalog_find(const struct qf_catalog *c,
					       const char *spec,
					       struct qf_err *e)
{
	const struct qf_catalog_entry *found = NULL;
	bool folder = false;
	size_t n = 0;

	/* Its path first: a top-level image's path is its name. */
	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->entries[i].path, spec) == 0) {
			if (!c->entries[i].folder)
				return &c->entries[i];
			folder = true;
		}
	for (size_t i = 0; i < c->count; i++)
		if (!c->entries[i].folder && strcmp(c->entries[i].name, spec) == 0) {
			found = &c->entries[i];
			n++;
		}
	if (n == 1)
		return found;
	if (n) {
		qf_err_set(e, EMLINK, N_("%s: %zu images are called %s (give its path):"),
			   c->name, n, spec);
		for (size_t i = 0, shown = 0; i < c->count && shown < 5; i++)
			if (!c->entries[i].folder &&
			    strcmp(c->entries[i].name, spec) == 0) {
				qf_err_append(e, shown ? ", " : " ", "%s",
					      c->entries[i].path);
				shown++;
			}
	} else if (folder) {
		qf_err_set(e, EISDIR, N_("%s: %s is a folder of the catalog, not an image"),
			   c->name, spec);
	} else {
		qf_err_set(e, ENOENT, N_("%s: no image called %s in the catalog"),
			   c->name, spec);
	}
	return NULL;
}

void qf_catalog_mark_cached(struct qf_catalog *c, struct qf_cache *cache)
{
	for (size_t i = 0; i < c->count; i++) {
		struct qf_catalog_entry *en = &c->entries[i];

		en->cached = !en->folder && cache && qf_name_is_url(en->url) &&
			     qf_cache_has(cache, en->url, NULL);
	}
}

void qf_catalog_free(struct qf_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->count; i++)
		catalog_entry_clear(&c->entries[i]);
	for (size_t i = 0; i < c->nmessages; i++)
		free(c->messages[i]);
	free(c->entries);
	free(c->messages);
	free(c->name);
	free(c);
}
