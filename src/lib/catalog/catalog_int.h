/* catalog_int.h - what the catalog's files share: the catalog being
 * built from a manifest (catalog.c walks its tree) and the checks of one
 * entry's members (fields.c). */
#ifndef QF_CATALOG_INT_H
#define QF_CATALOG_INT_H

#include "internal.h"

#include <json-c/json.h>

/* Messages kept at the most; past them one more says how many were not. */
#define CATALOG_MAX_MESSAGES 1000

struct catalog_build {
	struct qf_catalog *c;
	const char *base;            /* what relative names resolve against */
	size_t alloc, amsg;
	size_t seen;                 /* entry objects met, kept or not */
	size_t dropped_msgs;         /* messages past CATALOG_MAX_MESSAGES */
};

/* fields.c: add "PATH: MESSAGE" (@fmt English, marked N_()) to the
 * catalog's messages. */
void catalog_problem(struct catalog_build *b, const char *path,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The entry's name in @obj into *@name (caller frees): false, with a
 * message naming the entry by @label, when it is missing or unusable. */
bool catalog_name(struct catalog_build *b, struct json_object *obj,
		  const char *label, char **name);
/* Fill @en (name, path and place already set) from @obj's other members:
 * a folder's description, an image's url, sizes, checksums, date, bmap
 * and signature.  Every problem is a message naming @en->path; false
 * when there was any (what was filled is the caller's to free). */
bool catalog_fields(struct catalog_build *b, struct json_object *obj,
		    struct qf_catalog_entry *en);
/* Free the strings of @en. */
void catalog_entry_clear(struct qf_catalog_entry *en);

#endif
