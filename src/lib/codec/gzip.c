/* gzip.c - gzip-compressed raw images (zlib): concatenated members make
 * one stream, as for gzip -d; anything else after the last member is an
 * error, not ignored.  gzip records the size only modulo 2^32 and per
 * member, so the stream is sized by a decoding pass. */
#include "codec/codec.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

struct gz {
	z_stream zs;
	bool boundary;               /* between two members */
	uint64_t members;            /* members completed */
};

static bool gz_probe(const uint8_t *head, size_t n)
{
	return n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

static int gz_open(struct qf_codec *c, struct qf_err *e)
{
	struct gz *g = qf_xcalloc(1, sizeof(*g));

	/* 15 + 16: the gzip wrapper only, any window size. */
	if (inflateInit2(&g->zs, 15 + 16) != Z_OK) {
		free(g);
		return qf_err_set(e, ENOMEM, N_("%s: cannot set up the gzip decoder"),
				  c->in.src->name);
	}
	g->boundary = true;
	c->priv = g;
	return 0;
}

static int gz_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		   struct qf_err *e)
{
	struct gz *g = c->priv;
	struct qf_codec_in *in = &c->in;

	while (*got < n) {
		size_t in_avail, room, used, made;
		bool eof;
		int r, ret;

		if (in->pos == in->len) {
			if ((ret = qf_codec_refill(c, &eof, e)) < 0)
				return ret;
			if (eof)
				return g->boundary ? 0 :
				       qf_err_set(e, EIO,
						  N_("%s: the gzip data is truncated (the file ends inside a gzip member)"),
						  in->src->name);
		}
		/* inflate would call it a bad header; say what it is. */
		if (g->boundary && g->members && in->buf[in->pos] != 0x1f)
			return qf_err_set(e, EINVAL,
					  N_("%s: unexpected data after the last gzip member at compressed offset %llu"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c));
		in_avail = in->len - in->pos;
		room = n - *got;
		if (room > UINT_MAX)
			room = UINT_MAX;
		g->zs.next_in = in->buf + in->pos;
		g->zs.avail_in = (uInt)in_avail;
		g->zs.next_out = out + *got;
		g->zs.avail_out = (uInt)room;
		r = inflate(&g->zs, Z_NO_FLUSH);
		used = in_avail - g->zs.avail_in;
		made = room - g->zs.avail_out;
		in->pos += used;
		*got += made;
		if (used || made)
			g->boundary = false;
		if (r == Z_STREAM_END) {
			g->members++;
			g->boundary = true;
			inflateReset(&g->zs);
			continue;
		}
		if (r == Z_OK || (r == Z_BUF_ERROR && in->pos == in->len))
			continue;
		if (r == Z_MEM_ERROR)
			return qf_err_set(e, ENOMEM, N_("%s: out of memory decompressing"),
					  in->src->name);
		return qf_err_set(e, EINVAL,
				  N_("%s: corrupt gzip data near compressed offset %llu: %s"),
				  in->src->name,
				  (unsigned long long)qf_codec_consumed(c),
				  g->zs.msg ? g->zs.msg : N_("invalid data"));
	}
	return 0;
}

static void gz_rewind(struct qf_codec *c)
{
	struct gz *g = c->priv;

	inflateReset(&g->zs);
	g->boundary = true;
	g->members = 0;
}

static void gz_close(struct qf_codec *c)
{
	struct gz *g = c->priv;

	if (!g)
		return;
	inflateEnd(&g->zs);
	free(g);
}

const struct qf_codec_ops qf_codec_gzip = {
	.name = "gzip",
	.format = QF_FORMAT_GZIP,
	.probe = gz_probe,
	.open = gz_open,
	.read = gz_read,
	.rewind = gz_rewind,
	.close = gz_close,
};
