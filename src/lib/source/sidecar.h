/* sidecar.h - the small files that may sit beside a remote image
 * (checksum lists, bmaps) fetched all at once.
 *
 * Looking for them one after the other costs a connection and a round
 * trip each, which on a long link adds seconds before the first byte of
 * the image.  qf_sidecars_fetch starts one thread per name; qf_small_file
 * then takes a name's answer from there (waiting for it if needed) and
 * asks the server itself for any other name. */
#ifndef QF_SIDECAR_H
#define QF_SIDECAR_H

#include "qflash.h"

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* The whole of the small file @name (a path or URL; a checksum list, a
 * bmap) NUL-terminated into *@text: 0, -ENOENT when it is not there,
 * -EFBIG when it holds more than @max bytes, or another error. */
int qf_small_file(const char *name, const struct qf_open_opts *opts,
		  uint64_t max, char **text, size_t *len, struct qf_err *e);

/* The largest checksum list and bmap read. */
#define QF_SUMS_MAX ((uint64_t)1 << 20)
#define QF_BMAP_MAX ((uint64_t)64 << 20)

/* Start fetching @names (copied), each as qf_small_file(name, opts, @max)
 * would, on behalf of @owner, with @opts (which must stay valid until
 * qf_sidecars_drop). */
void qf_sidecars_fetch(const void *owner, char *const *names, int n,
		       uint64_t max, const struct qf_open_opts *opts);

/* If @name is being or was fetched with @max: true with what qf_small_file would
 * have returned in *@ret (and *@text, *@len, @e).  Each answer is taken
 * once. */
bool qf_sidecar_take(const char *name, uint64_t max, int *ret, char **text,
		     size_t *len, struct qf_err *e);

/* Wait for @owner's fetches and forget what was not taken. */
void qf_sidecars_drop(const void *owner);

#endif
