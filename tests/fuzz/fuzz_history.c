/* fuzz_history.c - the flash log read back (qf_history_read) from the
 * fuzzer's bytes in a memfd: once whole, once filtered and limited to the
 * newest two records, checking what every reader relies on (counts that
 * add up, records sorted and within the limit, no NULL strings). */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void check(const struct qf_history *h, size_t limit)
{
	const struct qf_history_counts *c = &h->all;

	if (c->passed + c->failed + c->cancelled + c->interrupted != c->total ||
	    h->count > c->total || (limit && h->count > limit) ||
	    h->marked.total > c->total || h->skipped > h->lines)
		abort();
	for (size_t i = 0; i < h->count; i++) {
		const struct qf_history_record *r = &h->rec[i];

		if (!r->json || !r->result || !r->target || !r->image ||
		    !r->serial || !r->healed || !r->operator_name || !*r->target)
			abort();
		if (i && (r->time < r[-1].time ||
			  (r->time == r[-1].time && r->line < r[-1].line)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qf_history_filter f = {
		.image = "disk", .since = 1, .limit = 2, .mark = 1700000000,
	};
	struct qf_history h;
	char path[64];
	int fd;

	fuzz_init();
	fd = memfd_create("flash.log", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (qf_history_read(path, NULL, &h, NULL) == 0) {
		check(&h, 0);
		qf_history_free(&h);
	}
	if (qf_history_read(path, &f, &h, NULL) == 0) {
		check(&h, f.limit);
		qf_history_free(&h);
	}
	close(fd);
	return 0;
}
