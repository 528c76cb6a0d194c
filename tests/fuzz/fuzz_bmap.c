/* fuzz_bmap.c - bmap files (bmaptool's XML, versions 1.x and 2.0) from
 * the fuzzer's bytes: parsed, and when accepted, its ranges checked
 * against a buffer of zeros in the order a flash reads them. */
#include "fuzz.h"
#include "source/bmap.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qf_bmap *b = NULL;
	struct qf_err e = { 0 };

	fuzz_init();
	if (qf_bmap_parse((const char *)data, size, "fuzz.bmap", &b, &e) == 0) {
		struct qf_bmap_check *c = qf_bmap_check_new(b);
		uint8_t buf[4096];
		uint64_t off = 0;

		/* Ranges are ordered, inside the image, and add up. */
		for (size_t i = 0; i < b->n; i++)
			if (b->r[i].start >= b->r[i].end || b->r[i].end > b->image_size ||
			    (i && b->r[i].start < b->r[i - 1].end))
				abort();
		/* The first 64 KiB of the image, as a stream would give it. */
		while (off < b->image_size && off < (64u << 10)) {
			size_t n = b->image_size - off < sizeof(buf)
				   ? (size_t)(b->image_size - off) : sizeof(buf);
			struct qf_err e2 = { 0 };

			memset(buf, 0xa5, n);
			if (qf_bmap_check_bytes(c, buf, off, n, "fuzz.img", &e2) < 0)
				break;
			off += n;
		}
		qf_bmap_check_free(c);
		qf_bmap_free(b);
	}
	return 0;
}
