/* healed.h - what qflash's summary says of the ranges a flash had to
 * write again (healed.c). */
#ifndef QF_CLI_HEALED_H
#define QF_CLI_HEALED_H

#include "qflash.h"

#include <stdbool.h>
#include <stdio.h>

/* The fields of a -json "result" event: "healed" and, for a mismatch,
 * "bad_media". */
void healed_json(FILE *f, const struct qf_target_progress *t);
/* The lines of the text summary, after the one giving the target's
 * state: how many ranges were healed and, for a target that was written
 * (@flashed) and mismatches, why writing again did not help. */
void healed_say(const struct qf_target_progress *t, bool flashed);

#endif
