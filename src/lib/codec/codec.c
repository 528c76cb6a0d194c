/* codec.c - an open codec: the calls every format goes through and the
 * sequential input every decoder reads its compressed bytes from. */
#include "codec/codec.h"
#include "source/digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Sequential reads of compressed data: large enough that an http source
 * serves them from its prefetched chunks, small enough to stay in cache. */
#define IN_BUF ((size_t)2 << 20)

int qf_codec_open(const struct qf_codec_ops *ops, struct qf_source *src,
		  struct qf_codec **out, struct qf_err *e)
{
	return qf_codec_open_member(ops, src, NULL, out, e);
}

int qf_codec_open_member(const struct qf_codec_ops *ops,
			 struct qf_source *src, const char *member,
			 struct qf_codec **out, struct qf_err *e)
{
	struct qf_codec *c = qf_xcalloc(1, sizeof(*c));
	int ret;

	c->ops = ops;
	c->member = member;
	c->in.src = src;
	/* A small file needs no more room than it has bytes. */
	c->in.cap = src->size && src->size < IN_BUF ? (size_t)src->size : IN_BUF;
	c->in.buf = qf_xmalloc(c->in.cap);
	if ((ret = ops->open(c, e)) < 0) {
		free(c->in.buf);
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

int qf_codec_size(struct qf_codec *c, uint64_t *size, bool *known,
		  struct qf_err *e)
{
	*known = false;
	return c->ops->size ? c->ops->size(c, size, known, e) : 0;
}

int qf_codec_read(struct qf_codec *c, void *out, size_t n, size_t *got,
		  struct qf_err *e)
{
	*got = 0;
	return c->ops->read(c, out, n, got, e);
}

void qf_codec_rewind(struct qf_codec *c)
{
	c->in.pos = c->in.len = 0;
	c->in.next = 0;
	c->ops->rewind(c);
}

void qf_codec_close(struct qf_codec *c)
{
	if (!c)
		return;
	c->ops->close(c);
	free(c->in.buf);
	free(c);
}

int qf_codec_refill(struct qf_codec *c, bool *eof, struct qf_err *e)
{
	struct qf_codec_in *in = &c->in;
	uint64_t left = in->src->size - in->next;
	size_t n = left < in->cap ? (size_t)left : in->cap;
	int ret;

	*eof = n == 0;
	if (!n)
		return 0;
	/* Lets an http source fetch the next blocks while we decompress:
	 * the whole rest, this read included, which it fetches as far ahead
	 * as its window (what the link holds) allows, so that the first
	 * reads already go out side by side. */
	if (in->src->remote)
		qf_source_prefetch(in->src, in->next, in->src->size - in->next);
	if ((ret = qf_source_pread(in->src, in->buf, n, in->next, 0, e)) < 0)
		return ret;
	if (in->tap && in->next == in->tapped) {
		qf_digest_update(in->tap, in->buf, n);
		in->tapped += n;
	}
	in->pos = 0;
	in->len = n;
	in->next += n;
	/* A local file: the next two reads. */
	if (!in->src->remote && in->next < in->src->size)
		qf_source_prefetch(in->src, in->next, 2 * in->cap);
	return 0;
}

int qf_codec_tap_rest(struct qf_codec *c, struct qf_err *e)
{
	struct qf_codec_in *in = &c->in;
	uint8_t *buf;
	int ret = 0;

	if (!in->tap || in->tapped >= in->src->size)
		return 0;
	buf = qf_xmalloc(in->cap);
	while (in->tapped < in->src->size && ret == 0) {
		uint64_t left = in->src->size - in->tapped;
		size_t n = left < in->cap ? (size_t)left : in->cap;

		ret = qf_source_pread(in->src, buf, n, in->tapped, 0, e);
		if (ret == 0) {
			qf_digest_update(in->tap, buf, n);
			in->tapped += n;
		}
	}
	free(buf);
	return ret;
}

int qf_codec_peek_at(struct qf_codec_peek *pk, uint64_t off, size_t n,
		     const uint8_t **p, struct qf_err *e)
{
	if (!range_inside(off, n, pk->in->size))
		return 1;
	if (off < pk->off || off + n > pk->off + pk->len) {
		uint64_t left = pk->in->size - off;
		size_t len = left < QF_CODEC_PEEK_BUF ? (size_t)left
						      : QF_CODEC_PEEK_BUF;
		int ret = qf_source_pread(pk->in, pk->buf, len, off, 0, e);

		if (ret < 0)
			return ret;
		pk->off = off;
		pk->len = len;
	}
	*p = pk->buf + (off - pk->off);
	return 0;
}

int qf_codec_walk(struct qf_source *in, size_t header_max,
		  qf_codec_frame_fn frame, uint64_t *total, bool *known,
		  struct qf_err *e)
{
	struct qf_codec_peek pk = { in, qf_xmalloc(QF_CODEC_PEEK_BUF), 0, 0 };
	uint64_t off = 0, sum = 0, size;
	int ret = 0;

	*known = false;
	while (off < in->size) {
		uint64_t left = in->size - off;
		size_t n = left < header_max ? (size_t)left : header_max;
		const uint8_t *p;

		if (n < 4 || (ret = qf_codec_peek_at(&pk, off, n, &p, e)) != 0)
			break;
		if ((get_le32(p) & QF_CODEC_SKIPPABLE_MASK) ==
		    QF_CODEC_SKIPPABLE_MAGIC) {
			if (n < 8 || add_overflows(off, 8 + (uint64_t)get_le32(p + 4), &off)) {
				ret = 1;
				break;
			}
			continue;
		}
		if ((ret = frame(&pk, p, n, &off, &size, e)) != 0)
			break;
		if (size == UINT64_MAX)
			goto out;    /* not recorded: count by decompressing */
		if (add_overflows(sum, size, &sum)) {
			ret = qf_err_set(e, EFBIG, N_("%s: the decompressed image is too large"),
					 in->name);
			break;
		}
	}
	if (ret == 0 && off == in->size) {
		*known = true;
		*total = sum;
	} else if (ret == 0) {
		ret = 1;     /* a frame runs past the end of the file */
	}
out:
	free(pk.buf);
	return ret;
}

uint64_t qf_codec_consumed(const struct qf_codec *c)
{
	return c->in.next - (c->in.len - c->in.pos);
}
