/* replay.c - a second decoder over a compressed image, reading it again
 * from its first byte (see replay.h).
 *
 * A stream is decoded once, in order, and only its head and a window of
 * recent bytes stay readable.  Bytes further back can only be had by
 * decoding again: this decoder starts at the beginning of the file when
 * first asked and moves forward only, throwing away what it passes, so
 * reads in increasing order (a target read back from start to end) cost
 * one more pass over the file in all; memory is the decoder's state and
 * one scratch buffer, whatever the size of the image.  A remote file is
 * downloaded again up to the bytes asked for. */
#include "codec/replay.h"
#include "source/bmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Decoded and thrown away per step on the way to a read. */
#define SKIP_STEP ((size_t)1 << 20)

struct qf_replay {
	const struct qf_codec_ops *ops;
	struct qf_source *in;
	const char *member;
	uint64_t expect;
	const struct qf_bmap *bmap;
	struct qf_codec *c;          /* NULL until the first read */
	struct qf_bmap_check *check; /* with a bmap */
	uint64_t pos;                /* decompressed bytes passed */
	uint8_t *scratch;
};

struct qf_replay *qf_replay_new(const struct qf_codec_ops *ops,
				struct qf_source *in, const char *member,
				uint64_t expect, const struct qf_bmap *bmap)
{
	struct qf_replay *r = qf_xcalloc(1, sizeof(*r));

	r->ops = ops;
	r->in = in;
	r->member = member;
	r->expect = expect;
	r->bmap = bmap;
	return r;
}

static void stop(struct qf_replay *r)
{
	qf_codec_close(r->c);
	qf_bmap_check_free(r->check);
	r->c = NULL;
	r->check = NULL;
	r->pos = 0;
}

static int start(struct qf_replay *r, struct qf_err *e)
{
	int ret;

	stop(r);
	if ((ret = qf_codec_open_member(r->ops, r->in, r->member, &r->c, e)) < 0)
		return ret;
	if (r->bmap)
		r->check = qf_bmap_check_new(r->bmap);
	return 0;
}

/* The next @n bytes of the data (all before expect) into @buf. */
static int decode(struct qf_replay *r, uint8_t *buf, size_t n,
		  struct qf_err *e)
{
	size_t got;
	int ret = qf_codec_read(r->c, buf, n, &got, e);

	if (ret == 0 && got < n)
		ret = qf_err_set(e, EIO,
				 N_("%s: the decompressed data ends after %llu bytes, short of the %llu bytes expected"),
				 r->in->name, (unsigned long long)(r->pos + got),
				 (unsigned long long)r->expect);
	if (ret == 0 && r->check)
		ret = qf_bmap_check_bytes(r->check, buf, r->pos, n, r->in->name, e);
	if (ret == 0)
		r->pos += n;
	return ret;
}

int qf_replay_read(struct qf_replay *r, void *buf, size_t len, uint64_t off,
		   struct qf_err *e)
{
	uint8_t *p = buf;
	uint64_t end = off + len, data_end = end < r->expect ? end : r->expect;
	int ret;

	if ((!r->c || off < r->pos) && (ret = start(r, e)) < 0)
		return ret;
	while (r->pos < off && r->pos < r->expect) {
		uint64_t want = (off < r->expect ? off : r->expect) - r->pos;
		size_t n = want < SKIP_STEP ? (size_t)want : SKIP_STEP;

		if (!r->scratch)
			r->scratch = qf_xmalloc(SKIP_STEP);
		if ((ret = decode(r, r->scratch, n, e)) < 0)
			goto fail;
	}
	if (off < data_end && (ret = decode(r, p, (size_t)(data_end - off), e)) < 0)
		goto fail;
	if (end > data_end) {
		uint64_t z = off > data_end ? off : data_end;
		memset(p + (z - off), 0, (size_t)(end - z));
	}
	return 0;
fail:
	/* A decoder that failed halfway is of no more use. */
	stop(r);
	return ret;
}

void qf_replay_free(struct qf_replay *r)
{
	if (!r)
		return;
	stop(r);
	free(r->scratch);
	free(r);
}
