/* igzip.c - gzip-compressed raw images decoded by ISA-L's igzip, several
 * times faster than zlib; built instead of gzip.c when configure finds
 * ISA-L.  The same rules as there: concatenated members make one stream,
 * anything else after the last member is an error, and the size is
 * found by a counting pass (gzip records it only modulo 2^32, per
 * member). */
#include "codec/codec.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>

struct igz {
	struct inflate_state st;
	bool boundary;               /* between two members */
	uint64_t members;            /* members completed */
};

static bool igz_probe(const uint8_t *head, size_t n)
{
	return n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

static void member_start(struct igz *g)
{
	isal_inflate_reset(&g->st);
	/* The gzip header and trailer (CRC-32, length) are checked too. */
	g->st.crc_flag = ISAL_GZIP;
	g->boundary = true;
}

static int igz_open(struct qf_codec *c, struct qf_err *e)
{
	struct igz *g = qf_xcalloc(1, sizeof(*g));

	isal_inflate_init(&g->st);
	member_start(g);
	c->priv = g;
	return 0;
}

static int igz_fail(struct qf_codec *c, int r, struct qf_err *e)
{
	const char *name = c->in.src->name;
	unsigned long long off = qf_codec_consumed(c);

	switch (r) {
	case ISAL_INVALID_WRAPPER:
	case ISAL_UNSUPPORTED_METHOD:
		return qf_err_set(e, EINVAL,
				  N_("%s: bad gzip member header near compressed offset %llu"),
				  name, off);
	case ISAL_INCORRECT_CHECKSUM:
		return qf_err_set(e, EINVAL,
				  N_("%s: corrupt gzip data: the CRC-32 or length of the member ending near compressed offset %llu does not match its data"),
				  name, off);
	default:
		return qf_err_set(e, EINVAL,
				  N_("%s: corrupt gzip data near compressed offset %llu"),
				  name, off);
	}
}

static int igz_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	struct igz *g = c->priv;
	struct qf_codec_in *in = &c->in;

	while (*got < n) {
		size_t room, made, used;
		bool eof = false;
		int r, ret;

		if (in->pos == in->len) {
			if ((ret = qf_codec_refill(c, &eof, e)) < 0)
				return ret;
			if (eof && g->boundary)
				return 0;
		}
		/* igzip would call it a bad header; say what it is. */
		if (!eof && g->boundary && g->members && in->buf[in->pos] != 0x1f)
			return qf_err_set(e, EINVAL,
					  N_("%s: unexpected data after the last gzip member at compressed offset %llu"),
					  in->src->name,
					  (unsigned long long)qf_codec_consumed(c));
		room = n - *got;
		if (room > UINT32_MAX)
			room = UINT32_MAX;
		/* At the end of the file igzip may still hold input it has
		 * read ahead: it is called with none to finish. */
		g->st.next_in = in->buf + in->pos;
		g->st.avail_in = (uint32_t)(in->len - in->pos);
		g->st.next_out = out + *got;
		g->st.avail_out = (uint32_t)room;
		r = isal_inflate(&g->st);
		/* At the end of a member igzip hands back what it read past
		 * the trailer; that is never before this buffer. */
		used = (size_t)(g->st.next_in - (in->buf + in->pos));
		made = room - g->st.avail_out;
		in->pos += used;
		*got += made;
		if (r < 0)
			return igz_fail(c, r, e);
		if (g->st.block_state == ISAL_BLOCK_FINISH) {
			g->members++;
			member_start(g);
		} else if (used || made) {
			g->boundary = false;
		} else if (eof) {
			return qf_err_set(e, EIO,
					  N_("%s: the gzip data is truncated (the file ends inside a gzip member)"),
					  in->src->name);
		}
	}
	return 0;
}

static void igz_rewind(struct qf_codec *c)
{
	struct igz *g = c->priv;

	member_start(g);
	g->members = 0;
}

static void igz_close(struct qf_codec *c)
{
	free(c->priv);
}

const struct qf_codec_ops qf_codec_gzip = {
	.name = "gzip",
	.format = QF_FORMAT_GZIP,
	.probe = igz_probe,
	.open = igz_open,
	.read = igz_read,
	.rewind = igz_rewind,
	.close = igz_close,
};
