/* stream.c - a compressed raw image as a virtual source of its
 * decompressed bytes, whatever the codec (codec.h).
 *
 * Reads are served from a permanent head (the first QF_STREAM_HEAD bytes,
 * decompressed at open: partition tables, superblocks, and the table region
 * the engine writes last) and from a ring holding the most recently
 * decompressed bytes.  A thread of its own decompresses ahead of the
 * readers, as far as the ring holds bytes no reader still reads (it starts
 * with the first read past the head, and stays on one CPU with its
 * decoder's state in that CPU's caches); a read behind the ring fails.
 * The engine takes chunks in increasing order with a bounded number in
 * flight, so its reads stay inside the ring and it needs no special path
 * for streams.  Memory is the head, the ring, the
 * codec's input buffer and its decoder state, whatever the size of the
 * image.
 *
 * With a bmap, a checker thread follows the decoder through the ring: it
 * zeroes what the bmap leaves unmapped and hashes the mapped ranges, and
 * readers only see bytes it has passed.  Decoding and checking then run
 * on two CPUs instead of one after the other. */
#include "codec/stream.h"
#include "codec/codec.h"
#include "codec/peek.h"
#include "codec/replay.h"
#include "source/bmap.h"
#include "source/digest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The engine reads streams strictly in order, so the window only has to
 * hold a chunk being read plus the step being decompressed. */
#ifndef QF_STREAM_RING
#define QF_STREAM_RING ((size_t)16 << 20)
#endif
#define RING_MAX QF_STREAM_RING
/* Decompressed per step outside the lock, so readers of older bytes are
 * not held up for long. */
#define STEP ((size_t)1 << 20)
#define SCRATCH ((size_t)1 << 20)
/* Reads under way at once that the decoder keeps track of; more wait. */
#define MAX_READERS 16

struct stream {
	struct qf_source s;          /* first: qf_source_close frees us */
	struct qf_source *in;
	struct qf_codec *c;
	uint64_t expect;             /* decompressed bytes (s.size rounds up) */
	uint8_t *head;
	size_t head_len;
	uint8_t *ring;               /* byte v lives at ring[v % ring_cap] */
	size_t ring_cap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu.  Beyond the head, [lo, pos) is in the ring. */
	uint64_t pos, lo;
	bool busy;                   /* a reader is decompressing: the codec
					is its own, the others wait on cv */
	bool ended;                  /* checked that nothing follows expect */
	struct qf_digest *tap;       /* of the compressed file, or NULL */
	char hex[65];                /* its result once the file is read */
	struct qf_digest *out;       /* of the decoded image, or NULL: fed by
					the decoding reader (busy) */
	char out_hex[65];            /* its result at the end */
	struct qf_err err;           /* sticky: the stream is unusable */
	struct qf_peek *peek;        /* windows beyond the head, or NULL */
	struct qf_bmap_check *bmap;  /* checks decoded bytes, or NULL */
	const struct qf_bmap *bmap_of; /* the bmap it checks against */
	/* Under mu: the checker thread's progress, [head_len, checked) of the
	 * ring being readable, while @checking. */
	bool checking, stop;
	uint64_t checked;
	pthread_t checker;
	/* Under mu: the decoder thread, and what it may not overwrite: the
	 * starts of the reads under way, else the end of the furthest read
	 * done. */
	bool decoding;
	pthread_t decoder;
	uint64_t active[MAX_READERS];
	int nactive;
	uint64_t done_to;
	bool finishing;              /* no reader comes any more */
	bool interrupted;            /* under mu: reads give up (ECANCELED) */
};

/* Where readers may read up to: what is decoded and, with a bmap,
 * checked.  Called with mu held. */
static uint64_t readable(const struct stream *st)
{
	return st->checking ? st->checked : st->pos;
}

/* Whether everything is decoded and checked, the end included. */
static bool all_done(const struct stream *st)
{
	return st->ended && (!st->checking || st->checked == st->expect);
}

/* The decompressed size the hard way, for formats that do not record it
 * (gzip: ISIZE only holds the size modulo 2^32, of one member) and for
 * zstd and lz4 frames that do not: the whole stream is decompressed once
 * at open and the output thrown away. */
static int count_all(struct qf_codec *c, uint64_t *total, struct qf_err *e)
{
	uint8_t *scratch = qf_xmalloc(SCRATCH);
	uint64_t t = 0;
	size_t got;
	int ret;

	do {
		if ((ret = qf_codec_read(c, scratch, SCRATCH, &got, e)) < 0)
			break;
		if (add_overflows(t, got, &t)) {
			ret = qf_err_set(e, EFBIG, N_("%s: the decompressed image is too large"),
					 c->in.src->name);
			break;
		}
	} while (got == SCRATCH);
	free(scratch);
	*total = t;
	return ret;
}

/* ------------------------------------------------------------ reading */

/* Nothing may follow the expected size: check by decoding on. */
static int finish(struct stream *st, struct qf_err *e)
{
	uint8_t extra[4096];
	size_t got;
	int ret = qf_codec_read(st->c, extra, sizeof(extra), &got, e);

	if (ret < 0 || !got)
		return ret;
	if (st->c->size_of_first_frame)
		return qf_err_set(e, EINVAL,
				  N_("%s: more data follows the first %s frame; the size of a remote %s image of several frames cannot be known in advance (download it first)"),
				  st->s.name, st->c->ops->name, st->c->ops->name);
	return qf_err_set(e, EINVAL,
			  N_("%s: the decompressed data is longer than the %llu bytes expected"),
			  st->s.name, (unsigned long long)st->expect);
}

static int short_err(const struct stream *st, uint64_t at, struct qf_err *e)
{
	return qf_err_set(e, EIO,
			  N_("%s: the decompressed data ends after %llu bytes, short of the %llu bytes expected"),
			  st->s.name, (unsigned long long)at,
			  (unsigned long long)st->expect);
}

/* Once the whole compressed file has gone through the tap. */
static void digest_done(struct stream *st)
{
	uint8_t md[QF_DIGEST_MAX];
	size_t n;

	if (!st->tap || st->hex[0] || st->c->in.tapped != st->in->size)
		return;
	n = qf_digest_final(st->tap, md);
	qf_hex(md, n, st->hex);
}

/* Decoded bytes [@at, @at + @n) into the image's digest, which is done
 * at the end.  Called by whoever decodes (busy, or the open). */
static void disk_feed(struct stream *st, const uint8_t *p, size_t n,
		      uint64_t at)
{
	uint8_t md[QF_DIGEST_MAX];

	if (!st->out)
		return;
	qf_digest_update(st->out, p, n);
	if (at + n == st->expect)
		qf_hex(md, qf_digest_final(st->out, md), st->out_hex);
}

/* The bytes the next step decodes, at most STEP and up to the ring's
 * wrap and the end. */
static size_t step_len(const struct stream *st)
{
	size_t idx = (size_t)(st->pos % st->ring_cap), k = STEP;

	if (k > st->ring_cap - idx)
		k = st->ring_cap - idx;
	if (k > st->expect - st->pos)
		k = (size_t)(st->expect - st->pos);
	return k;
}

/* The first byte a reader may still want: the lowest start of the reads
 * under way, else the end of the furthest read done - or, with a bmap,
 * the next mapped byte from there: the engine does not read what the
 * bmap leaves unmapped, so the decoder runs through it on its own.  With
 * mu held. */
static uint64_t keep_from(const struct stream *st)
{
	uint64_t low = st->nactive ? st->active[0] : st->done_to;
	uint64_t len = UINT64_MAX - low;

	if (st->finishing)
		return st->expect;
	for (int i = 1; i < st->nactive; i++)
		if (st->active[i] < low)
			low = st->active[i];
	if (!st->nactive && st->bmap_of && low < st->expect &&
	    !qf_bmap_run(st->bmap_of, low, &len))
		low = len > st->expect - low ? st->expect : low + len;
	return low;
}

/* One step of decompression into the ring by the reader holding busy.
 * Called and returns with mu held; drops it while decompressing. */
static void advance(struct stream *st)
{
	struct qf_err e = { 0 };
	uint64_t pos = st->pos;
	int ret;

	if (pos == st->expect) {
		pthread_mutex_unlock(&st->mu);
		ret = finish(st, &e);
		if (ret == 0)
			ret = qf_codec_tap_rest(st->c, &e);
		pthread_mutex_lock(&st->mu);
		if (ret == 0) {
			st->ended = true;
			digest_done(st);
		}
	} else {
		size_t idx = (size_t)(pos % st->ring_cap), k = step_len(st), got;

		/* Bytes the checker has not passed are not overwritten. */
		while (st->checking && pos + k > st->checked + st->ring_cap &&
		       !st->err.code && !st->stop)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->err.code || st->stop)
			return;
		/* The bytes about to be overwritten leave the window first, so
		 * readers copying under mu never see them change. */
		if (pos + k - st->lo > st->ring_cap)
			st->lo = pos + k - st->ring_cap;
		pthread_mutex_unlock(&st->mu);
		ret = qf_codec_read(st->c, st->ring + idx, k, &got, &e);
		if (ret == 0 && got < k)
			ret = short_err(st, pos + got, &e);
		if (ret == 0)
			disk_feed(st, st->ring + idx, k, pos);
		if (ret == 0 && st->bmap && !st->checking)
			ret = qf_bmap_check_bytes(st->bmap, st->ring + idx, pos, k,
						  st->s.name, &e);
		pthread_mutex_lock(&st->mu);
		if (ret == 0)
			st->pos = pos + k;
	}
	if (ret < 0)
		st->err = e;
}

/* One step decoded by the caller, who holds mu and has seen busy false;
 * the others hear of it. */
static void step(struct stream *st)
{
	st->busy = true;
	advance(st);
	st->busy = false;
	pthread_cond_broadcast(&st->cv);
}

/* The decoder thread: a step at a time while the ring has room that no
 * reader still needs, to the end of the data and the check of it. */
static void *decode_main(void *arg)
{
	struct stream *st = arg;

	pthread_mutex_lock(&st->mu);
	while (!st->stop && !st->err.code && !st->ended) {
		if (st->pos < st->expect &&
		    st->pos + step_len(st) > keep_from(st) + st->ring_cap) {
			pthread_cond_wait(&st->cv, &st->mu);
			continue;
		}
		step(st);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* The decoder thread, unless it runs or has nothing left to do; without
 * one (it could not be made) readers decode in turn.  With mu held. */
static void start_decoder(struct stream *st)
{
	if (!st->decoding && !st->ended && !st->busy && !st->err.code)
		st->decoding = pthread_create(&st->decoder, NULL, decode_main,
					      st) == 0;
}

static void reader_add(struct stream *st, uint64_t off)
{
	while (st->nactive == MAX_READERS)
		pthread_cond_wait(&st->cv, &st->mu);
	st->active[st->nactive++] = off;
	/* A read past what the decoder keeps for the others lets it on. */
	pthread_cond_broadcast(&st->cv);
}

static void reader_done(struct stream *st, uint64_t off, uint64_t end)
{
	for (int i = 0; i < st->nactive; i++)
		if (st->active[i] == off) {
			st->active[i] = st->active[--st->nactive];
			break;
		}
	if (end > st->done_to)
		st->done_to = end;
	pthread_cond_broadcast(&st->cv);
}

static void ring_copy(const struct stream *st, uint8_t *dst, uint64_t off,
		      uint64_t len)
{
	while (len) {
		size_t i = (size_t)(off % st->ring_cap);
		size_t n = st->ring_cap - i;

		if (n > len)
			n = (size_t)len;
		memcpy(dst, st->ring + i, n);
		dst += n;
		off += n;
		len -= n;
	}
}

static int stream_pread(struct qf_source *s, void *buf, size_t len,
			uint64_t off, struct qf_err *e)
{
	struct stream *st = (struct stream *)s;
	uint8_t *p = buf;
	uint64_t end = off + len, data_end, a;
	bool need_end;
	int ret = 0;

	if (off < st->head_len) {
		size_t n = st->head_len - off < len ? (size_t)(st->head_len - off)
						    : len;
		memcpy(p, st->head + off, n);
		p += n;
		off += n;
		len -= n;
	}
	if (!len)
		return 0;
	/* Bytes past the decompressed data are the zeros of its last sector;
	 * a read that reaches the end also checks that the stream ends. */
	data_end = end < st->expect ? end : st->expect;
	if (data_end < off)
		data_end = off;
	need_end = end >= st->expect;

	pthread_mutex_lock(&st->mu);
	reader_add(st, off);
	/* The first read past the head starts the decoder. */
	start_decoder(st);
	for (a = off;;) {
		if (st->err.code) {
			ret = st->err.code;
			if (e && !e->code)
				*e = st->err;
			break;
		}
		if (st->interrupted) {
			ret = qf_err_set(e, ECANCELED, N_("%s: cancelled"),
					 s->name);
			break;
		}
		if (a < data_end && a < st->lo) {
			ret = qf_err_set(e, EIO,
					 N_("%s: byte %llu of the decompressed image has already streamed past (the window starts at %llu); compressed images can only be read in order"),
					 s->name, (unsigned long long)a,
					 (unsigned long long)st->lo);
			break;
		}
		if (a < data_end && a < readable(st)) {
			uint64_t r = readable(st);
			uint64_t b = data_end < r ? data_end : r;
			ring_copy(st, p + (a - off), a, b - a);
			a = b;
		}
		if (a >= data_end && (!need_end || all_done(st)))
			break;
		/* The decoder thread is on it; without one, the reader
		 * decodes.  All this read wants is decoded (or the stream is):
		 * the checker is behind.  Decoding further would let the
		 * window run past slower readers. */
		if (st->decoding || st->busy || st->ended ||
		    (data_end <= st->pos && !(need_end && st->pos == st->expect))) {
			pthread_cond_wait(&st->cv, &st->mu);
			continue;
		}
		step(st);
	}
	reader_done(st, off, end < st->expect ? end : st->expect);
	pthread_mutex_unlock(&st->mu);
	if (ret == 0 && end > data_end)
		memset(p + (data_end - off), 0, (size_t)(end - data_end));
	return ret;
}

int qf_stream_finish(struct qf_source *s, const atomic_bool *cancel,
		     struct qf_err *e)
{
	struct stream *st = (struct stream *)s;
	int ret = 0;

	pthread_mutex_lock(&st->mu);
	st->finishing = true;
	pthread_cond_broadcast(&st->cv);
	start_decoder(st);
	while (!st->err.code && !all_done(st) && !st->stop) {
		if (cancel && atomic_load(cancel)) {
			ret = qf_err_set(e, ECANCELED, N_("cancelled"));
			break;
		}
		if (st->decoding || st->busy || st->ended) {
			/* Awake now and then to hear of a cancel. */
			struct timespec ts = qf_deadline_in(0.1);
			pthread_cond_timedwait(&st->cv, &st->mu, &ts);
		} else {
			step(st);
		}
	}
	if (!ret && st->err.code) {
		ret = st->err.code;
		if (e && !e->code)
			*e = st->err;
	}
	pthread_mutex_unlock(&st->mu);
	return ret;
}

/* The checker: the bmap's checks over [checked, pos) of the ring, in
 * order, a step at a time outside the lock (the decoder does not
 * overwrite what it has not passed, readers do not read it). */
static void *check_main(void *arg)
{
	struct stream *st = arg;
	struct qf_err e = { 0 };

	pthread_mutex_lock(&st->mu);
	while (st->checked < st->expect) {
		uint64_t from = st->checked;
		size_t idx, n;
		int ret;

		if (st->stop || st->err.code)
			break;
		if (from == st->pos) {
			pthread_cond_wait(&st->cv, &st->mu);
			continue;
		}
		idx = (size_t)(from % st->ring_cap);
		n = st->pos - from < STEP ? (size_t)(st->pos - from) : STEP;
		if (n > st->ring_cap - idx)
			n = st->ring_cap - idx;
		pthread_mutex_unlock(&st->mu);
		ret = qf_bmap_check_bytes(st->bmap, st->ring + idx, from, n,
					  st->s.name, &e);
		pthread_mutex_lock(&st->mu);
		if (ret < 0 && !st->err.code)
			st->err = e;
		if (ret == 0)
			st->checked = from + n;
		pthread_cond_broadcast(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Readers waiting for the decoder give up; the compressed file's source
 * is interrupted too, so that a decoder waiting for a server gets its
 * answer at once. */
static void stream_interrupt(struct qf_source *s, bool on)
{
	struct stream *st = (struct stream *)s;

	pthread_mutex_lock(&st->mu);
	st->interrupted = on;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	qf_source_interrupt(st->in, on);
}

static void stream_close(struct qf_source *s)
{
	struct stream *st = (struct stream *)s;

	pthread_mutex_lock(&st->mu);
	st->stop = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	if (st->checking)
		pthread_join(st->checker, NULL);
	if (st->decoding)
		pthread_join(st->decoder, NULL);
	qf_codec_close(st->c);
	qf_digest_free(st->tap);
	qf_digest_free(st->out);
	free(st->head);
	free(st->ring);
	qf_peek_free(st->peek);
	qf_bmap_check_free(st->bmap);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
}

static const struct qf_source_ops stream_ops = {
	.pread = stream_pread,
	.interrupt = stream_interrupt,
	.close = stream_close,
};

/* ---------------------------------------------------------------- open */

/* @have (a digest of @st's) into @hex once it is known: 1, else 0. */
static int digest_copy(struct stream *st, const char *have, char hex[65])
{
	int done;

	pthread_mutex_lock(&st->mu);
	done = have[0] != 0;
	if (done)
		memcpy(hex, have, 65);
	pthread_mutex_unlock(&st->mu);
	return done;
}

int qf_stream_digest(struct qf_source *s, char hex[65])
{
	struct stream *st = (struct stream *)s;

	return digest_copy(st, st->hex, hex);
}

int qf_stream_disk_digest(struct qf_source *s, char hex[65])
{
	struct stream *st = (struct stream *)s;

	return digest_copy(st, st->out_hex, hex);
}

int qf_stream_open(struct qf_source *in, enum qf_format fmt,
		   const struct qf_stream_opts *o, struct qf_source **out,
		   struct qf_err *e)
{
	const struct qf_codec_ops *ops = qf_codec_for(fmt);
	struct stream *st = qf_xcalloc(1, sizeof(*st));
	uint64_t expect = 0;
	bool known = false;
	size_t got;
	int ret;

	st->s.ops = &stream_ops;
	st->s.name = qf_xstrdup(in->name);
	st->s.remote = in->remote;
	st->s.under = in;
	st->s.fd = -1;
	st->s.dev = in->dev;
	st->s.ino = in->ino;
	st->in = in;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);

	if (!ops) {
		ret = qf_err_set(e, EINVAL, N_("%s: is not a %s image"), in->name,
				 qf_format_name(fmt));
		goto fail;
	}
	if ((ret = qf_codec_open_member(ops, in, o ? o->member : NULL, &st->c,
					e)) < 0)
		goto fail;
	if (o && o->digest) {
		st->tap = qf_digest_new("sha256");
		st->c->in.tap = st->tap;
	}
	if (o && o->disk_digest)
		st->out = qf_digest_new("sha256");
	if (o && o->bmap) {
		st->bmap = qf_bmap_check_new(o->bmap);
		st->bmap_of = o->bmap;
		expect = o->bmap->image_size;
		known = true;
	} else if (o && o->size) {
		expect = o->size;
		known = true;
	} else if ((ret = qf_codec_size(st->c, &expect, &known, e)) < 0) {
		goto fail;
	}
	if (!known) {
		ret = count_all(st->c, &expect, e);
		if (ret == 0)
			ret = qf_codec_tap_rest(st->c, e);
		if (ret < 0)
			goto fail;
		/* The whole file went by: the checksum is known before
		 * anything is written. */
		digest_done(st);
		qf_codec_rewind(st->c);
	}
	if (expect > UINT64_MAX - 511) {
		ret = qf_err_set(e, EFBIG, N_("%s: the decompressed image is too large"),
				 in->name);
		goto fail;
	}
	st->expect = expect;
	/* Whole sectors, as qemu reads raw files. */
	st->s.size = (expect + 511) & ~(uint64_t)511;

	st->head_len = expect < QF_STREAM_HEAD ? (size_t)expect
					       : (size_t)QF_STREAM_HEAD;
	st->head = qf_xmalloc(st->head_len);
	ret = qf_codec_read(st->c, st->head, st->head_len, &got, e);
	if (ret == 0 && got < st->head_len)
		ret = short_err(st, got, e);
	if (ret == 0)
		disk_feed(st, st->head, st->head_len, 0);
	if (ret == 0 && st->bmap)
		ret = qf_bmap_check_bytes(st->bmap, st->head, 0, st->head_len,
					  st->s.name, e);
	if (ret == 0 && expect == st->head_len)
		ret = finish(st, e);
	if (ret == 0 && expect == st->head_len)
		ret = qf_codec_tap_rest(st->c, e);
	if (ret == 0 && expect == st->head_len)
		digest_done(st);
	if (ret < 0)
		goto fail;
	st->pos = st->lo = st->done_to = st->head_len;
	st->ended = expect == st->head_len;
	if (!st->ended) {
		uint64_t rest = expect - st->head_len;
		st->ring_cap = rest < RING_MAX ? (size_t)rest : RING_MAX;
		st->ring = qf_xmalloc(st->ring_cap);
		st->checked = st->head_len;
		if (st->bmap)
			st->checking = pthread_create(&st->checker, NULL,
						      check_main, st) == 0;
	}
	*out = &st->s;
	return 0;
fail:
	qf_source_close(&st->s);
	return ret;
}

int qf_stream_read_head(struct qf_source *s, void *buf, size_t len,
			uint64_t off, struct qf_err *e)
{
	struct stream *st = (struct stream *)s;
	/* An image that fits in the head reads whole, tail zeros included
	 * (its end was checked at open). */
	uint64_t limit = st->expect == st->head_len ? s->size : st->head_len;

	if (!range_inside(off, len, limit) && qf_peek_read(st->peek, buf, len, off))
		return 0;
	if (!range_inside(off, len, limit))
		return qf_err_set(e, ESPIPE,
				  N_("%s: a compressed image can only be read in order: only its first %llu bytes can be read at random (read of %zu bytes at %llu)"),
				  s->name, (unsigned long long)st->head_len, len,
				  (unsigned long long)off);
	return stream_pread(s, buf, len, off, e);
}



int qf_stream_peek(struct qf_source *s, const uint64_t *offs, size_t n,
		   struct qf_err *e)
{
	struct stream *st = (struct stream *)s;
	uint64_t want[QF_PEEK_MAX];
	size_t k = 0;

	qf_peek_free(st->peek);
	st->peek = NULL;
	/* A remote file would be fetched twice; the head covers windows
	 * inside it, and an image that fits in the head needs none. */
	if (st->in->remote || st->expect == st->head_len)
		return 0;
	for (size_t i = 0; i < n && k < QF_PEEK_MAX; i++)
		if (offs[i] + QF_PEEK_WINDOW > st->head_len && offs[i] < st->expect)
			want[k++] = offs[i];
	if (!k)
		return 0;
	st->peek = qf_peek_run(st->c->ops, st->in, st->c->member, want, k, e);
	return st->peek ? 0 : e && e->code ? e->code : -EIO;
}

void qf_stream_peek_done(struct qf_source *s)
{
	struct stream *st = (struct stream *)s;

	qf_peek_free(st->peek);
	st->peek = NULL;
}

struct qf_replay *qf_stream_replay(struct qf_source *s)
{
	struct stream *st = (struct stream *)s;

	return qf_replay_new(st->c->ops, st->in, st->c->member, st->expect,
			     st->bmap_of);
}
