/* reread.c - an image's bytes read again after the engine's pass over
 * it, to rewrite a range that a target did not keep: random reads for
 * qcow2 chains and raw files (local or http), and for a compressed stream
 * its head, or a replay that decodes the file again from its first byte
 * (codec/replay.h) for what has left the stream's window. */
#include "image/image_int.h"
#include "codec/replay.h"
#include "codec/stream.h"

#include <errno.h>
#include <stdlib.h>

struct qf_reread {
	struct qf_image *img;
	struct qf_replay *replay;    /* a stream's, on first need */
};

struct qf_reread *qf_image_reread_new(struct qf_image *img)
{
	struct qf_reread *r = qf_xcalloc(1, sizeof(*r));

	r->img = img;
	return r;
}

int qf_image_reread(struct qf_reread *r, void *buf, size_t len, uint64_t off,
		    struct qf_err *e)
{
	struct qf_err head = { 0 };
	int ret;

	if (!qf_image_is_stream(r->img))
		return qf_image_read(r->img, buf, len, off, e);
	/* The head (and what a peek decoded) is at hand; only the rest
	 * costs a second decoding pass. */
	ret = qf_image_read(r->img, buf, len, off, &head);
	if (ret != -ESPIPE) {
		if (ret < 0 && e)
			*e = head;
		return ret;
	}
	if (!r->replay)
		r->replay = qf_stream_replay(r->img->layers[0].stream);
	return qf_replay_read(r->replay, buf, len, off, e);
}

void qf_image_reread_free(struct qf_reread *r)
{
	if (!r)
		return;
	qf_replay_free(r->replay);
	free(r);
}
