/* fuzz_catalog.c - a site's catalog of images read from the fuzzer's
 * bytes in a memory source, named as a local file or as a URL (the first
 * byte chooses), checking what every front end relies on: entries within
 * the bounds, each after its folder and one level below it, checksums
 * that are 64 lower-case hex digits or none, a remote catalog naming only
 * remote files, and every entry found again by its path. */
#include "fuzz.h"
#include "catalog/catalog.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void check_hex(const char *h)
{
	if (!*h)
		return;
	if (strlen(h) != 64)
		abort();
	for (; *h; h++)
		if (!isxdigit((unsigned char)*h) || isupper((unsigned char)*h))
			abort();
}

static void check(const struct qf_catalog *c, bool remote)
{
	if (c->count > QF_CATALOG_MAX_ENTRIES)
		abort();
	for (size_t i = 0; i < c->count; i++) {
		const struct qf_catalog_entry *en = &c->entries[i];
		const struct qf_catalog_entry *p =
			en->parent >= 0 ? &c->entries[en->parent] : NULL;

		if (!*en->name || strchr(en->name, '/') || !en->description ||
		    en->depth >= QF_CATALOG_DEPTH || en->parent >= (int)i ||
		    (p && (!p->folder || p->depth + 1 != en->depth)) ||
		    (!p && en->depth))
			abort();
		if (en->folder) {
			if (*en->url)
				abort();
			continue;
		}
		if (!*en->url || (remote && !qf_name_is_url(en->url)) ||
		    (*en->bmap && remote && !qf_name_is_url(en->bmap)) ||
		    en->extract_size < -1 || en->image_download_size < -1 ||
		    (*en->release_date && strlen(en->release_date) != 10))
			abort();
		check_hex(en->extract_sha256);
		check_hex(en->image_download_sha256);
		if (qf_catalog_find(c, en->path, NULL) != en)
			abort();
		for (const char *d = en->description; *d; d++)
			if ((unsigned char)*d < 0x20)
				abort();
	}
	for (size_t i = 0; i < c->nmessages; i++)
		if (!c->messages[i] || !*c->messages[i])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"/srv/site/lists/catalog.json",
		"https://example.invalid/lists/catalog.json?token=x",
	};
	struct qf_catalog *c = NULL;
	struct qf_source *s;
	bool remote;

	fuzz_init();
	if (!size)
		return 0;
	remote = data[0] & 1;
	qf_source_memory_open(names[remote], data + 1, size - 1, &s);
	if (qf_catalog_read_source(s, names[remote], &c, NULL) == 0) {
		check(c, remote);
		qf_catalog_find(c, "Kiosk", NULL);
		qf_catalog_mark_cached(c, NULL);
		qf_catalog_free(c);
	}
	qf_source_close(s);
	return 0;
}
