/* fuzz_common.c - the parts every harness uses: set-up, opening an input
 * as an image over a memory source, and reading it as the engine does. */
#include "fuzz.h"
#include "image/image.h"

#include <stdlib.h>

/* The map is walked in runs of at most this much, as the engine plans. */
#define RUN_MAX ((uint64_t)1 << 20)
/* Map steps per input at the most: a huge virtual disk of tiny runs
 * would otherwise take minutes.  Its end is mapped on its own. */
#define STEPS_MAX 8192

static uint8_t *buf;

static void quiet(void *ctx, const char *msg)
{
}

void fuzz_init(void)
{
	static bool done;

	if (done)
		return;
	qf_init();
	/* Compressed clusters decode into one buffer of up to 2 MiB. */
	buf = qf_xmalloc(2 * RUN_MAX);
	done = true;
}

int fuzz_image_open(const uint8_t *data, size_t size, const char *name,
		    enum qf_format fmt, const char *snapshot,
		    struct qf_image **out)
{
	struct qf_open_opts o = {
		.format = fmt, .snapshot = snapshot, .force = true,
		.warn = quiet,
	};
	struct qf_source *src;
	struct qf_err e = { 0 };

	qf_source_memory_open(name, data, size, &src);
	return qf_image_open_source(src, &o, out, &e);
}

void fuzz_image_read_all(struct qf_image *img)
{
	uint64_t size = qf_image_size(img), off = 0;
	struct qf_decomp *d = qf_decomp_new();
	struct qf_err e = { 0 };
	struct qf_extent x;

	for (int steps = 0; off < size && steps < STEPS_MAX; steps++) {
		if (qf_image_map(img, off, RUN_MAX, &x, &e) < 0)
			break;
		if (x.len == 0 || x.len > RUN_MAX || x.off != off)
			abort();      /* the map broke its own promise */
		if (off < FUZZ_READ_MAX && x.kind != QF_EXTENT_ZERO &&
		    qf_extent_read(&x, buf, d, &e) < 0)
			break;
		off += x.len;
	}
	if (size && qf_image_map(img, size - 1, RUN_MAX, &x, &e) == 0 &&
	    x.len != 1)
		abort();      /* the last byte is a run of one */
	/* Random reads go through the same map, also near the end. */
	if (size >= 512 && qf_image_read(img, buf, 512, size - 512, &e) == 0)
		qf_image_read(img, buf, 512, 0, &e);
	qf_decomp_free(d);
}

uint64_t fuzz_take(const uint8_t **p, size_t *left, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (*left) {
			v |= (uint64_t)**p << (8 * i);
			(*p)++;
			(*left)--;
		}
	}
	return v;
}
