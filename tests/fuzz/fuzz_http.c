/* fuzz_http.c - http responses judged from the fuzzer's bytes: the header
 * lines (status lines, Content-Range, ETag, Last-Modified) as curl hands
 * them over, the status code, and the body, for the first request (the
 * probe that learns size and validators) and one range request after it.
 *
 * Input: status of each response (2 bytes each), flags (1), offset and
 * length of the range asked for (4 each), where the destination is split
 * in two (1), the size of the body's pieces (1); then the first
 * response's header lines up to an empty line, the second's up to the
 * next, and the second's body. */
#include "fuzz.h"
#include "source/http_int.h"

#include <stdlib.h>
#include <string.h>

#define DEST_MAX ((size_t)64 << 10)

/* The next line of [*p, *p + *left), with its '\n'; 0 at an empty line
 * (consumed) or the end. */
static size_t next_line(const uint8_t **p, size_t *left, const uint8_t **line)
{
	const uint8_t *nl = memchr(*p, '\n', *left);
	size_t n = nl ? (size_t)(nl - *p) + 1 : *left;

	*line = *p;
	*p += n;
	*left -= n;
	if (n == 1 || (n == 2 && (*line)[0] == '\r'))
		return 0;
	return n;
}

/* Each line in a buffer of its own, as long as the line: a read past it
 * is a finding. */
static void feed_headers(struct xfer *x, const uint8_t **p, size_t *left)
{
	const uint8_t *line;
	size_t n;

	while (*left && (n = next_line(p, left, &line))) {
		char *copy = qf_xmalloc(n);

		memcpy(copy, line, n);
		if (http_on_header(copy, 1, n, x) != n)
			abort();
		free(copy);
	}
}

/* The body in pieces of @piece bytes, until the transfer is aborted. */
static void feed_body(struct xfer *x, const uint8_t *p, size_t left,
		      size_t piece)
{
	while (left) {
		size_t n = left < piece ? left : piece;
		char *copy = qf_xmalloc(n);

		memcpy(copy, p, n);
		n = http_on_body(copy, 1, n, x);
		free(copy);
		if (!n)
			return;
		p += n;
		left -= n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char name[] = "http://fuzz.invalid/disk.qcow2";
	static uint8_t dest[DEST_MAX];
	struct http_source *hs = qf_xcalloc(1, sizeof(*hs));
	struct xfer x = { .hs = hs, .probe = true };
	const uint8_t *p = data;
	size_t left = size;
	long status1 = (long)(fuzz_take(&p, &left, 2) % 1000);
	long status2 = (long)(fuzz_take(&p, &left, 2) % 1000);
	unsigned flags = (unsigned)fuzz_take(&p, &left, 1);
	uint64_t req_off = fuzz_take(&p, &left, 4);
	uint64_t req_len = fuzz_take(&p, &left, 4);
	size_t split = (size_t)fuzz_take(&p, &left, 1);
	size_t piece = (size_t)fuzz_take(&p, &left, 1) + 1;
	struct seg segs[2];
	struct cursor cur = { 0 };

	fuzz_init();
	hs->s.name = name;
	/* The probe: only its headers count. */
	feed_headers(&x, &p, &left);
	http_judge_response(&x, status1, flags & 1 ? 0 : -1);
	if (x.err || !hs->s.size)
		goto out;

	/* A range inside what the probe learned, as reads ask for. */
	req_off %= hs->s.size;
	if (req_len > hs->s.size - req_off)
		req_len = hs->s.size - req_off;
	if (req_len > DEST_MAX)
		req_len = DEST_MAX;
	if (!req_len)
		req_len = 1;
	segs[0] = (struct seg){ dest, (size_t)(req_len * split / 256) };
	segs[1] = (struct seg){ dest + segs[0].n, (size_t)req_len - segs[0].n };
	x = (struct xfer){
		.hs = hs, .req_off = req_off, .req_len = req_len,
		.segs = segs[0].n ? segs : segs + 1, .cur = &cur,
	};
	feed_headers(&x, &p, &left);
	http_judge_response(&x, status2, flags & 2 ? 0 : -1);
	feed_body(&x, p, left, piece);
	if (!x.err && x.received > x.accept)
		abort();      /* more kept than the response announced */
out:
	free(hs);
	return 0;
}
