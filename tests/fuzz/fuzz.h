/* fuzz.h - what the libFuzzer harnesses share (fuzz_common.c): the
 * library set up once, and an opened image read the way the engine reads
 * it, extent by extent, within bounds that keep one input fast. */
#ifndef QF_FUZZ_H
#define QF_FUZZ_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Virtual bytes read from one input at the most: past them the map is
 * still walked, but nothing is read. */
#define FUZZ_READ_MAX ((uint64_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* qf_init, once per process. */
void fuzz_init(void);

/* Open @data as an image of format @fmt, as it would open from a file
 * called @name; 0 or a negative errno (a refused input). */
int fuzz_image_open(const uint8_t *data, size_t size, const char *name,
		    enum qf_format fmt, const char *snapshot,
		    struct qf_image **out);

/* Walk the allocation map of @img over its whole virtual size and read
 * the extents of the first FUZZ_READ_MAX bytes; stops at the first
 * error, which is what a malformed image gives and not a finding. */
void fuzz_image_read_all(struct qf_image *img);

/* Take @n bytes from the front of [*p, *p + *left) as a little-endian
 * number (missing bytes are zeros). */
uint64_t fuzz_take(const uint8_t **p, size_t *left, size_t n);

#endif
