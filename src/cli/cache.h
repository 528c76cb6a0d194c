/* cache.h - the qflash CLI's -cache and -cache-max (cache.c): remote
 * images read from a local copy, and the download shown as it goes. */
#ifndef QFLASH_CLI_CACHE_H
#define QFLASH_CLI_CACHE_H

#include "qflash.h"

/* "123", "512M", "16G", "1.5TiB" (powers of 1024) in bytes; 0 when @s
 * is not a size (or no bytes, which no cache can be bounded to). */
uint64_t cli_parse_size(const char *s);
/* Open images through the cache at @dir, bounded by @max (0: the
 * default), showing downloads on stderr (as JSON lines on stdout with
 * @json), and stopping them at SIGINT or SIGTERM. */
void cli_cache_setup(struct qf_open_opts *oo, const char *dir, uint64_t max,
		     bool json);
/* The exit status of a download stopped by a signal (130, 143), saying
 * so with @e's message (unless NULL); else 0. */
int cli_cache_interrupted(const struct qf_err *e);

#endif
