/* catalog.h - qflash -catalog (catalog.c): a site's catalog of images
 * listed as a tree or as JSON lines (-list), and -src catalog:NAME
 * flashing an entry with the checksum and bmap the catalog gives it. */
#ifndef QFLASH_CLI_CATALOG_H
#define QFLASH_CLI_CATALOG_H

#include "qflash.h"

struct cli_catalog {
	const char *file;            /* -catalog URL|FILE */
	bool list;                   /* -list */
	struct qf_catalog *cat;      /* read by catalog_run */
	char *origin;                /* "the catalog X", for the checksum */
	char *cache;                 /* the default cache, when none is given */
};

/* Take flag @name (without dashes) when it is -catalog or -list: true
 * if it was. */
bool catalog_flag(struct cli_catalog *o, const char *name, const char *val);
/* What is wrong with these flags next to -src @src, -sha256 @sha256 and
 * -bmap @bmap (translated), or NULL when nothing is. */
const char *catalog_usage(const struct cli_catalog *o, const char *src,
			  bool other_work);
/* With -catalog: read it with @oo's http options through the cache at
 * *@cache_dir (or the default cache, which keeps it for offline use),
 * then either print it (-list, saying which entries are cached) and
 * return the exit status, or point *@src and @oo's sha256 and bmap at the
 * entry -src catalog:NAME names and return -1 (the caller goes on to
 * flash; an entry the default cache holds sets *@cache_dir to it, so
 * that it is read from there), or return 1 or 2 when that fails.
 * Without -catalog: -1. */
int catalog_run(struct cli_catalog *o, const char **src,
		struct qf_open_opts *oo, const char **cache_dir, bool json);
void catalog_done(struct cli_catalog *o);

#endif
