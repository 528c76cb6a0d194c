/* catalog.c - qflash -catalog: a site's catalog of images read through
 * the library (qf_catalog_read), printed as an indented tree with sizes,
 * dates and whether each image is in the cache (-list), or as JSON lines
 * (-json); and -src catalog:NAME, which flashes the entry's url with its
 * image_download_sha256 enforced as -sha256 would and its bmap as -bmap.
 * What the catalog leaves out, and why, goes to stderr. */
#include "config.h"

#include "cli/catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "i18n.h"

#define PREFIX "catalog:"

enum { EXIT_USAGE = 2 };

bool catalog_flag(struct cli_catalog *o, const char *name, const char *val)
{
	if (!strcmp(name, "catalog"))
		o->file = val;
	else if (!strcmp(name, "list"))
		o->list = true;
	else
		return false;
	return true;
}

const char *catalog_usage(const struct cli_catalog *o, const char *src,
			  bool other_work)
{
	bool pick = src && !strncmp(src, PREFIX, strlen(PREFIX));

	if (o->list && !o->file)
		return _("-list needs -catalog");
	if (pick && !o->file)
		return _("-src catalog:NAME needs -catalog");
	if (o->list && (src || other_work))
		return _("-catalog -list only lists: not with -src, -dst or other work");
	if (o->file && !o->list && !pick)
		return _("-catalog needs -list or -src catalog:NAME");
	if (pick && !src[strlen(PREFIX)])
		return _("-src catalog:NAME names no entry");
	return NULL;
}

/* ----------------------------------------------------------------- -list */

/* The characters of UTF-8 @s (one column each: wide ones are rare in
 * catalogs) and, in *@cut, how many bytes of it fit in @max columns. */
static int utf8_fit(const char *s, int max, size_t *cut)
{
	int n = 0;
	size_t i;

	*cut = strlen(s);
	for (i = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == max)
			*cut = i;
	return n;
}

static int term_width(void)
{
	struct winsize ws;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col >= 40)
		return ws.ws_col;
	return 100;
}

static const char *cached_word(const struct qf_catalog_entry *en)
{
	if (en->folder)
		return "";
	if (!strstr(en->url, "://"))
		return _("local");
	return en->cached ? _("yes") : _("no");
}

static void print_tree(const struct qf_catalog *c)
{
	int wname = utf8_fit(_("NAME"), 0, &(size_t){ 0 }), width = term_width();
	int wsize = 9, wdesc;
	size_t cut;

	for (size_t i = 0; i < c->count; i++) {
		const struct qf_catalog_entry *en = &c->entries[i];
		int w = 2 * en->depth + utf8_fit(en->name, 0, &cut) + en->folder;

		if (w > wname)
			wname = w;
	}
	if (wname > 48)
		wname = 48;
	wdesc = width - wname - wsize - 10 - 6 - 4 * 2;
	printf("%-*s  %*s  %-10s  %-6s  %s\n", wname, _("NAME"), wsize, _("SIZE"),
	       _("DATE"), _("CACHED"), _("DESCRIPTION"));
	for (size_t i = 0; i < c->count; i++) {
		const struct qf_catalog_entry *en = &c->entries[i];
		char label[1024], size[32] = "-";
		int room = wname - 2 * en->depth - en->folder, n;

		n = utf8_fit(en->name, room > 1 ? room - 1 : 1, &cut);
		if (n > room)
			snprintf(label, sizeof(label), "%*s%.*s~", 2 * en->depth, "",
				 (int)cut, en->name);
		else
			snprintf(label, sizeof(label), "%*s%s%s", 2 * en->depth, "",
				 en->name, en->folder ? "/" : "");
		n = utf8_fit(label, 0, &cut);
		if (en->extract_size >= 0)
			qf_size_str((uint64_t)en->extract_size, size, sizeof(size));
		printf("%s%*s  %*s  %-10s  %-6s  ", label, wname > n ? wname - n : 0,
		       "", wsize, en->folder ? "" : size,
		       en->release_date[0] ? en->release_date : en->folder ? "" : "-",
		       cached_word(en));
		if (utf8_fit(en->description, wdesc, &cut) > wdesc && wdesc > 3) {
			utf8_fit(en->description, wdesc - 3, &cut);
			printf("%.*s...\n", (int)cut, en->description);
		} else {
			printf("%s\n", en->description);
		}
	}
}

static void json_member(const char *key, const char *value)
{
	printf(",\"%s\":", key);
	qf_json_string(stdout, value);
}

static void json_size(const char *key, int64_t v)
{
	if (v < 0)
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%" PRId64, key, v);
}

static void print_json(const struct qf_catalog *c)
{
	for (size_t i = 0; i < c->count; i++) {
		const struct qf_catalog_entry *en = &c->entries[i];

		printf("{\"event\":\"entry\"");
		json_member("path", en->path);
		json_member("name", en->name);
		printf(",\"depth\":%d,\"folder\":%s", en->depth,
		       en->folder ? "true" : "false");
		json_member("description", en->description);
		if (!en->folder) {
			json_member("url", en->url_shown);
			json_member("release_date", en->release_date);
			json_size("extract_size", en->extract_size);
			json_member("extract_sha256", en->extract_sha256);
			json_size("image_download_size", en->image_download_size);
			json_member("image_download_sha256", en->image_download_sha256);
			json_member("bmap", en->bmap);
			json_member("signature", en->signature);
			printf(",\"cached\":%s", en->cached ? "true" : "false");
		}
		printf("}\n");
	}
	for (size_t i = 0; i < c->nmessages; i++) {
		printf("{\"event\":\"problem\"");
		json_member("message", c->messages[i]);
		printf("}\n");
	}
}

/* ------------------------------------------------------------------ pick */

static int pick(struct cli_catalog *o, const char **src, struct qf_open_opts *oo,
		const char **cache_dir)
{
	struct qf_err e = { 0 };
	const struct qf_catalog_entry *en =
		qf_catalog_find(o->cat, *src + strlen(PREFIX), &e);

	if (!en) {
		fprintf(stderr, "qflash: %s\n", e.msg);
		if (o->cat->nmessages)
			fprintf(stderr, _("qflash: %s: some entries are left out as malformed: -catalog %s -list says which and why\n"),
				o->file, o->file);
		return 1;
	}
	/* Two checksums (or bmaps) for one image would have to agree: the
	 * catalog's is the one, and another is a mistake to point out. */
	if ((en->image_download_sha256[0] && oo->sha256) ||
	    (en->bmap[0] && oo->bmap)) {
		fprintf(stderr, _("qflash: %s: the catalog gives its SHA-256 and bmap: -sha256 and -bmap are not for it\n"),
			en->path);
		return EXIT_USAGE;
	}
	if (en->image_download_sha256[0]) {
		oo->sha256 = en->image_download_sha256;
		if (asprintf(&o->origin, _("the catalog %s"), o->file) < 0)
			abort();
		oo->sha256_origin = o->origin;
	}
	if (en->extract_sha256[0]) {
		oo->disk_sha256 = en->extract_sha256;
		if (!o->origin && asprintf(&o->origin, _("the catalog %s"), o->file) < 0)
			abort();
		oo->sha256_origin = o->origin;
	}
	if (en->bmap[0])
		oo->bmap = en->bmap;
	/* A copy in the cache is read from there (checked against the
	 * server when it can be reached): it flashes offline too. */
	if (!*cache_dir && en->cached)
		*cache_dir = o->cache;
	*src = en->url;
	return -1;
}

int catalog_run(struct cli_catalog *o, const char **src,
		struct qf_open_opts *oo, const char **cache_dir, bool json)
{
	struct qf_open_opts ro = { 0 };
	struct qf_err e = { 0 };

	if (!o->file)
		return -1;
	/* The server's options, not the image's; the catalog is kept in the
	 * cache, so that it can be read without the server. */
	if (!*cache_dir)
		o->cache = qf_cache_default_dir();
	ro.cacert = oo->cacert;
	ro.insecure = oo->insecure;
	ro.headers = oo->headers;
	ro.warn = oo->warn;
	ro.cache_dir = *cache_dir ? *cache_dir : o->cache;
	if (qf_catalog_read(o->file, &ro, &o->cat, &e) < 0) {
		fprintf(stderr, "qflash: %s\n", e.msg);
		return 1;
	}
	if (!o->list)
		return pick(o, src, oo, cache_dir);
	for (size_t i = 0; i < o->cat->nmessages; i++)
		fprintf(stderr, "qflash: %s: %s\n", o->file, o->cat->messages[i]);
	if (json)
		print_json(o->cat);
	else
		print_tree(o->cat);
	return 0;
}

void catalog_done(struct cli_catalog *o)
{
	qf_catalog_free(o->cat);
	free(o->origin);
	free(o->cache);
	o->cat = NULL;
	o->origin = NULL;
	o->cache = NULL;
}
