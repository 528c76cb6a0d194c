/* peek.c - a second pass of a decoder over the head of a compressed
 * image, keeping the bytes at the start of each partition (see peek.h). */
#include "internal.h"
#include "codec/peek.h"

#include <stdlib.h>
#include <string.h>

struct window {
	uint64_t off;
	size_t len;                  /* filled so far */
	uint8_t *buf;
};

struct qf_peek {
	size_t n;
	struct window w[QF_PEEK_MAX];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Decode from @at (where @c stands) up to @to, keeping the bytes that
 * fall in the windows of @p; *end true when the data ended. */
static int run_to(struct qf_codec *c, struct qf_peek *p, uint64_t *at,
		  uint64_t to, uint8_t *scratch, bool *end, struct qf_err *e)
{
	while (*at < to) {
		size_t want = to - *at < QF_PEEK_WINDOW ? (size_t)(to - *at)
							: QF_PEEK_WINDOW, got;
		int ret = qf_codec_read(c, scratch, want, &got, e);

		if (ret < 0)
			return ret;
		for (size_t i = 0; i < p->n; i++) {
			struct window *w = &p->w[i];
			uint64_t lo = w->off > *at ? w->off : *at;
			uint64_t hi = w->off + QF_PEEK_WINDOW;

			if (hi > *at + got)
				hi = *at + got;
			if (lo >= hi)
				continue;
			memcpy(w->buf + (lo - w->off), scratch + (lo - *at),
			       (size_t)(hi - lo));
			if (lo - w->off + (hi - lo) > w->len)
				w->len = (size_t)(lo - w->off + (hi - lo));
		}
		*at += got;
		if (got < want) {
			*end = true;
			return 0;
		}
	}
	return 0;
}

struct qf_peek *qf_peek_run(const struct qf_codec_ops *ops,
			    struct qf_source *in, const char *member,
			    const uint64_t *offs, size_t n, struct qf_err *e)
{
	struct qf_peek *p = qf_xcalloc(1, sizeof(*p));
	uint64_t sorted[QF_PEEK_MAX], at = 0;
	struct qf_codec *c = NULL;
	uint8_t *scratch = NULL;
	bool end = false;
	size_t k = 0;

	/* The first windows in the disk's order; duplicates once. */
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		if (offs[i] >= QF_PEEK_LIMIT)
			continue;
		for (size_t j = 0; j < k; j++)
			dup |= sorted[j] == offs[i];
		if (dup)
			continue;
		if (k < QF_PEEK_MAX) {
			sorted[k++] = offs[i];
			continue;
		}
		/* Full: keep the lowest offsets. */
		qsort(sorted, k, sizeof(sorted[0]), cmp_u64);
		if (offs[i] < sorted[k - 1])
			sorted[k - 1] = offs[i];
	}
	qsort(sorted, k, sizeof(sorted[0]), cmp_u64);
	for (size_t i = 0; i < k; i++) {
		p->w[i].off = sorted[i];
		p->w[i].buf = qf_xmalloc(QF_PEEK_WINDOW);
	}
	p->n = k;
	if (!k)
		return p;
	if (qf_codec_open_member(ops, in, member, &c, e) < 0)
		goto fail;
	scratch = qf_xmalloc(QF_PEEK_WINDOW);
	for (size_t i = 0; i < k && !end; i++)
		if (run_to(c, p, &at, p->w[i].off + QF_PEEK_WINDOW, scratch,
			   &end, e) < 0)
			goto fail;
	free(scratch);
	qf_codec_close(c);
	return p;
fail:
	free(scratch);
	if (c)
		qf_codec_close(c);
	qf_peek_free(p);
	return NULL;
}

bool qf_peek_read(const struct qf_peek *p, void *buf, size_t len,
		  uint64_t off)
{
	for (size_t i = 0; p && i < p->n; i++) {
		const struct window *w = &p->w[i];
		if (off >= w->off && len <= w->len && off - w->off <= w->len - len) {
			memcpy(buf, w->buf + (off - w->off), len);
			return true;
		}
	}
	return false;
}

void qf_peek_free(struct qf_peek *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->w[i].buf);
	free(p);
}
