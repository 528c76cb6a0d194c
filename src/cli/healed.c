/* healed.c - what qflash's summary says of the ranges that read back
 * wrong after a flash with -verify and were written again: how many came
 * right, and, for a drive where one stayed wrong, that it is bad media
 * and where. */
#include "config.h"

#include "cli/healed.h"
#include "i18n.h"

#include <inttypes.h>

void healed_json(FILE *f, const struct qf_target_progress *t)
{
	fprintf(f, ",\"healed\":%" PRIu32, t->healed);
	if (t->state == QF_TARGET_MISMATCH)
		fprintf(f, ",\"bad_media\":%s", t->bad_media ? "true" : "false");
}

void healed_say(const struct qf_target_progress *t, bool flashed)
{
	if (t->healed)
		fprintf(stderr, _("qflash: %s: note: the drive did not keep every write; ranges that read back wrong and were written again until right: %" PRIu32 "\n"),
			t->path, t->healed);
	/* A flash's mismatch is one that writing again did not mend (bad
	 * media), or could not (the reason). */
	if (t->state == QF_TARGET_MISMATCH && flashed && t->message[0])
		fprintf(stderr, _("qflash: %s: %s\n"), t->path, t->message);
}
