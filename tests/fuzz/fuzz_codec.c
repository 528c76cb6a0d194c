/* fuzz_codec.c - one compressed format's decoder on the fuzzer's bytes,
 * built once per format (FUZZ_FORMAT, e.g. QF_FORMAT_GZIP): straight
 * through qf_codec_open/size/read, rewound once, and then as an image
 * (the stream layer: sizing pass, head, ring, trailing data). */
#include "fuzz.h"
#include "codec/codec.h"

#include <stdlib.h>

#ifndef FUZZ_FORMAT
#error "FUZZ_FORMAT names the format this harness decodes"
#endif

/* Decompressed bytes taken from one input at the most: a tiny input may
 * stand for gigabytes of zeros.  Inputs that decode to more are not
 * opened as images either: the stream's sizing pass has no such bound. */
#define OUT_MAX ((uint64_t)2 << 20)
#define STEP ((size_t)256 << 10)

/* Read @c to its end (or OUT_MAX); the bytes decoded, or -1 on error. */
static int64_t drain(struct qf_codec *c, uint8_t *out)
{
	struct qf_err e = { 0 };
	uint64_t total = 0;
	size_t got;

	do {
		if (qf_codec_read(c, out, STEP, &got, &e) < 0)
			return -1;
		if (got > STEP)
			abort();
		total += got;
	} while (got == STEP && total < OUT_MAX);
	return (int64_t)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *out;
	const struct qf_codec_ops *ops = qf_codec_for(FUZZ_FORMAT);
	struct qf_source *src;
	struct qf_codec *c;
	struct qf_image *img;
	struct qf_err e = { 0 };
	uint64_t usize = 0;
	bool known;
	int64_t first = -1;

	fuzz_init();
	if (!out)
		out = qf_xmalloc(STEP);
	qf_source_memory_open("fuzz.img.z", data, size, &src);
	if (qf_codec_open(ops, src, &c, &e) == 0) {
		if (qf_codec_size(c, &usize, &known, &e) == 0) {
			first = drain(c, out);
			qf_codec_rewind(c);
			/* The same bytes decode the same way twice. */
			if (first >= 0 && (uint64_t)first < OUT_MAX &&
			    drain(c, out) != first)
				abort();
		}
		qf_codec_close(c);
	}
	qf_source_close(src);

	if (first < (int64_t)OUT_MAX &&
	    fuzz_image_open(data, size, "fuzz.img.z", FUZZ_FORMAT, NULL, &img) == 0) {
		fuzz_image_read_all(img);
		qf_image_close(img);
	}
	return 0;
}
