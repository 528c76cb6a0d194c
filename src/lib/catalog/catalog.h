/* catalog.h - the catalog's entry point that front ends do not see: a
 * catalog read from a source that is already open, such as one in memory
 * (the fuzzing harness feeds catalogs this way). */
#ifndef QF_CATALOG_H
#define QF_CATALOG_H

#include "source/source.h"

/* qf_catalog_read from @s, named @name as given; relative names resolve
 * against @s's name.  @s stays the caller's. */
int qf_catalog_read_source(struct qf_source *s, const char *name,
			   struct qf_catalog **out, struct qf_err *e);

#endif
