/* stream.c - gzip- and zstd-compressed raw images as a virtual source of
 * their decompressed bytes.
 *
 * Reads are served from a permanent head (the first QF_STREAM_HEAD bytes,
 * decompressed at open: partition tables, superblocks, and the table region
 * the engine writes last) and from a ring holding the most recently
 * decompressed bytes.  A read past what has been decompressed so far
 * decompresses forward in the calling thread while other readers wait; a
 * read behind the ring fails.  The engine takes chunks in increasing order
 * with a bounded number in flight, so its reads stay inside the ring and it
 * needs no special path for streams.  Memory is the head, the ring, one
 * input buffer and the decoder's window (zstd's default limit, 128 MiB at
 * most), whatever the size of the image. */
#include "codec/stream.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* The engine reads streams strictly in order, so the window only has to
 * hold a chunk being read plus the step being decompressed. */
#define RING_MAX ((size_t)16 << 20)
#define IN_BUF ((size_t)2 << 20)      /* sequential reads of compressed data */
/* Decompressed per step outside the lock, so readers of older bytes are
 * not held up for long. */
#define STEP ((size_t)1 << 20)
#define SCRATCH ((size_t)1 << 20)
#define PEEK_BUF ((size_t)64 << 10)

#define ZSTD_HEADER_MAX 18

/* One pass of decompression over the compressed file. */
struct dec {
	struct qf_source *in;
	enum qf_format fmt;
	uint8_t *buf;                /* IN_BUF bytes of input */
	size_t pos, len;             /* unconsumed input: buf[pos, len) */
	uint64_t next;               /* file offset of the next read */
	z_stream zs;
	bool zinit;
	ZSTD_DStream *zd;
	bool boundary;               /* between two members/frames */
	uint64_t frames;             /* members/frames completed */
};

struct stream {
	struct qf_source s;          /* first: qf_source_close frees us */
	struct qf_source *in;
	uint64_t expect;             /* decompressed bytes (s.size rounds up) */
	bool first_frame_only;       /* remote zstd sized by its first frame */
	uint8_t *head;
	size_t head_len;
	uint8_t *ring;               /* byte v lives at ring[v % ring_cap] */
	size_t ring_cap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu.  Beyond the head, [lo, pos) is in the ring. */
	uint64_t pos, lo;
	bool busy;                   /* a reader is decompressing: the decoder
					is its own, the others wait on cv */
	bool ended;                  /* checked that nothing follows expect */
	struct qf_err err;           /* sticky: the stream is unusable */
	struct dec d;
};

static const struct qf_source_ops stream_ops;

/* ------------------------------------------------------------- decoder */

static uint64_t dec_consumed(const struct dec *d)
{
	return d->next - (d->len - d->pos);
}

static int dec_init(struct dec *d, struct qf_source *in, enum qf_format fmt,
		    struct qf_err *e)
{
	d->in = in;
	d->fmt = fmt;
	d->buf = qf_xmalloc(IN_BUF);
	d->boundary = true;
	if (fmt == QF_FORMAT_GZIP) {
		/* 15 + 16: the gzip wrapper only, any window size. */
		if (inflateInit2(&d->zs, 15 + 16) != Z_OK)
			return qf_err_set(e, ENOMEM, _("%s: cannot set up the gzip decoder"),
					  in->name);
		d->zinit = true;
		return 0;
	}
	if (!(d->zd = ZSTD_createDStream()))
		return qf_err_set(e, ENOMEM, _("%s: cannot set up the zstd decoder"),
				  in->name);
	return 0;
}

static void dec_rewind(struct dec *d)
{
	d->pos = d->len = 0;
	d->next = 0;
	d->boundary = true;
	d->frames = 0;
	if (d->zinit)
		inflateReset(&d->zs);
	if (d->zd)
		ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_only);
}

static void dec_free(struct dec *d)
{
	if (d->zinit)
		inflateEnd(&d->zs);
	ZSTD_freeDStream(d->zd);
	free(d->buf);
}

/* Next block of input; *eof when the file has nothing left. */
static int refill(struct dec *d, bool *eof, struct qf_err *e)
{
	uint64_t left = d->in->size - d->next;
	size_t n = left < IN_BUF ? (size_t)left : IN_BUF;
	int ret;

	*eof = n == 0;
	if (!n)
		return 0;
	if ((ret = qf_source_pread(d->in, d->buf, n, d->next, 0, e)) < 0)
		return ret;
	d->pos = 0;
	d->len = n;
	d->next += n;
	/* Lets an http source fetch the next blocks while we decompress. */
	if (d->in->ops->prefetch && d->next < d->in->size)
		d->in->ops->prefetch(d->in, d->next, 2 * IN_BUF);
	return 0;
}

static int truncated(const struct qf_source *in, enum qf_format fmt,
		     struct qf_err *e)
{
	if (fmt == QF_FORMAT_GZIP)
		return qf_err_set(e, EIO,
				  _("%s: the gzip data is truncated (the file ends inside a gzip member)"),
				  in->name);
	return qf_err_set(e, EIO,
			  _("%s: the zstd data is truncated (the file ends inside a zstd frame)"),
			  in->name);
}

static void frame_done(struct dec *d)
{
	d->frames++;
	d->boundary = true;
}

static int gz_read(struct dec *d, uint8_t *out, size_t n, size_t *got,
		   struct qf_err *e)
{
	while (*got < n) {
		size_t in_avail, room, used, made;
		bool eof;
		int r, ret;

		if (d->pos == d->len) {
			if ((ret = refill(d, &eof, e)) < 0)
				return ret;
			if (eof)
				return d->boundary ? 0 : truncated(d->in, d->fmt, e);
		}
		/* inflate would call it a bad header; say what it is. */
		if (d->boundary && d->frames && d->buf[d->pos] != 0x1f)
			return qf_err_set(e, EINVAL,
					  _("%s: unexpected data after the last gzip member at compressed offset %llu"),
					  d->in->name,
					  (unsigned long long)dec_consumed(d));
		in_avail = d->len - d->pos;
		room = n - *got;
		if (room > UINT_MAX)
			room = UINT_MAX;
		d->zs.next_in = d->buf + d->pos;
		d->zs.avail_in = (uInt)in_avail;
		d->zs.next_out = out + *got;
		d->zs.avail_out = (uInt)room;
		r = inflate(&d->zs, Z_NO_FLUSH);
		used = in_avail - d->zs.avail_in;
		made = room - d->zs.avail_out;
		d->pos += used;
		*got += made;
		if (used || made)
			d->boundary = false;
		if (r == Z_STREAM_END) {
			/* Concatenated members make one stream, as for gzip -d. */
			frame_done(d);
			inflateReset(&d->zs);
			continue;
		}
		if (r == Z_OK || (r == Z_BUF_ERROR && d->pos == d->len))
			continue;
		if (r == Z_MEM_ERROR)
			return qf_err_set(e, ENOMEM, _("%s: out of memory decompressing"),
					  d->in->name);
		return qf_err_set(e, EINVAL,
				  _("%s: corrupt gzip data near compressed offset %llu: %s"),
				  d->in->name, (unsigned long long)dec_consumed(d),
				  d->zs.msg ? d->zs.msg : _("invalid data"));
	}
	return 0;
}

static int zst_read(struct dec *d, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	while (*got < n) {
		ZSTD_inBuffer ib;
		ZSTD_outBuffer ob;
		bool eof = false, progress;
		size_t r;
		int ret;

		if (d->pos == d->len) {
			if ((ret = refill(d, &eof, e)) < 0)
				return ret;
			if (eof && d->boundary)
				return 0;
		}
		ib = (ZSTD_inBuffer){ d->buf, d->len, d->pos };
		ob = (ZSTD_outBuffer){ out + *got, n - *got, 0 };
		/* Handles concatenated and skippable frames by itself. */
		r = ZSTD_decompressStream(d->zd, &ob, &ib);
		if (ZSTD_isError(r) && ZSTD_getErrorCode(r) ==
				       ZSTD_error_frameParameter_windowTooLarge)
			return qf_err_set(e, ENOTSUP,
					  _("%s: the zstd data needs a decompression window larger than 128 MiB (made with --long?), which is not supported"),
					  d->in->name);
		if (ZSTD_isError(r))
			return qf_err_set(e, EINVAL,
					  _("%s: corrupt zstd data near compressed offset %llu: %s"),
					  d->in->name,
					  (unsigned long long)dec_consumed(d),
					  ZSTD_getErrorName(r));
		progress = ib.pos != d->pos || ob.pos != 0;
		d->pos = ib.pos;
		*got += ob.pos;
		if (r == 0) {
			if (progress || !d->boundary)
				frame_done(d);
		} else if (progress) {
			d->boundary = false;
		} else if (eof) {
			return truncated(d->in, d->fmt, e);
		} else {
			return qf_err_set(e, EIO, _("%s: the zstd decoder stopped making progress"),
					  d->in->name);
		}
	}
	return 0;
}

/* Decompress @n bytes into @out; *got < n only at a clean end of the
 * stream (all input used, not inside a member/frame). */
static int dec_read(struct dec *d, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	*got = 0;
	if (d->fmt == QF_FORMAT_GZIP)
		return gz_read(d, out, n, got, e);
	return zst_read(d, out, n, got, e);
}

/* The decompressed size the hard way.  Used for gzip (ISIZE only holds the
 * size modulo 2^32, of one member, and files may hold many) and for zstd
 * frames that do not record their size: the whole stream is decompressed
 * once at open and the output thrown away. */
static int count_all(struct dec *d, uint64_t *total, struct qf_err *e)
{
	uint8_t *scratch = qf_xmalloc(SCRATCH);
	uint64_t t = 0;
	size_t got;
	int ret;

	do {
		if ((ret = dec_read(d, scratch, SCRATCH, &got, e)) < 0)
			break;
		if (add_overflows(t, got, &t)) {
			ret = qf_err_set(e, EFBIG, _("%s: the decompressed image is too large"),
					 d->in->name);
			break;
		}
	} while (got == SCRATCH);
	free(scratch);
	*total = t;
	return ret;
}

/* ------------------------------------------------------- zstd headers */

/* Decode the frame header at @p (@avail bytes there, magic included):
 * its length, content size (UINT64_MAX when not recorded) and whether a
 * checksum follows the last block.  False when it is malformed or cut. */
static bool zstd_header(const uint8_t *p, size_t avail, size_t *hlen,
			uint64_t *fcs, bool *checksum)
{
	static const uint8_t dict_len[4] = { 0, 1, 2, 4 };
	unsigned fhd, single;
	size_t fcs_len, h;

	if (avail < 5)
		return false;
	fhd = p[4];
	if (fhd & 0x08)
		return false;        /* reserved bit */
	single = fhd >> 5 & 1;
	*checksum = fhd >> 2 & 1;
	fcs_len = (fhd >> 6) == 0 ? single : (size_t)1 << (fhd >> 6);
	h = 5 + !single + dict_len[fhd & 3];
	if (h + fcs_len > avail)
		return false;
	switch (fcs_len) {
	case 0: *fcs = UINT64_MAX; break;
	case 1: *fcs = p[h]; break;
	case 2: *fcs = get_le16(p + h) + 256u; break;
	case 4: *fcs = get_le32(p + h); break;
	default: *fcs = get_le64(p + h); break;
	}
	*hlen = h + fcs_len;
	return true;
}

/* Small reads of header bytes through one buffer. */
struct peek {
	struct qf_source *in;
	uint8_t *buf;
	uint64_t off;
	size_t len;
};

/* Point *p at @n bytes at @off; returns 1 when the file ends first. */
static int peek_at(struct peek *pk, uint64_t off, size_t n, const uint8_t **p,
		   struct qf_err *e)
{
	if (!range_inside(off, n, pk->in->size))
		return 1;
	if (off < pk->off || off + n > pk->off + pk->len) {
		uint64_t left = pk->in->size - off;
		size_t len = left < PEEK_BUF ? (size_t)left : PEEK_BUF;
		int ret = qf_source_pread(pk->in, pk->buf, len, off, 0, e);
		if (ret < 0)
			return ret;
		pk->off = off;
		pk->len = len;
	}
	*p = pk->buf + (off - pk->off);
	return 0;
}

/* Sum the content sizes recorded in every frame header of a local zstd
 * file, following the block headers from frame to frame without
 * decompressing.  *known is false when some frame does not record it. */
static int zstd_walk(struct qf_source *in, uint64_t *total, bool *known,
		     struct qf_err *e)
{
	struct peek pk = { in, qf_xmalloc(PEEK_BUF), 0, 0 };
	uint64_t off = 0, sum = 0;
	int ret = 0;

	*known = false;
	while (off < in->size) {
		uint64_t left = in->size - off, fcs;
		size_t n = left < ZSTD_HEADER_MAX ? (size_t)left : ZSTD_HEADER_MAX;
		size_t hlen;
		const uint8_t *p;
		bool cks;
		uint32_t magic;

		if (n < 4 || (ret = peek_at(&pk, off, n, &p, e)) != 0)
			break;
		magic = get_le32(p);
		if ((magic & ZSTD_MAGIC_SKIPPABLE_MASK) ==
		    ZSTD_MAGIC_SKIPPABLE_START) {
			if (n < 8 || add_overflows(off, 8 + (uint64_t)get_le32(p + 4), &off)) {
				ret = 1;
				break;
			}
			continue;
		}
		if (magic != ZSTD_MAGICNUMBER) {
			ret = qf_err_set(e, EINVAL,
					 _("%s: unexpected data at compressed offset %llu (not a zstd frame)"),
					 in->name, (unsigned long long)off);
			goto out;
		}
		if (!zstd_header(p, n, &hlen, &fcs, &cks)) {
			ret = qf_err_set(e, EINVAL,
					 _("%s: bad zstd frame header at compressed offset %llu"),
					 in->name, (unsigned long long)off);
			goto out;
		}
		if (fcs == UINT64_MAX)
			goto out;    /* not recorded: count by decompressing */
		if (add_overflows(sum, fcs, &sum)) {
			ret = qf_err_set(e, EFBIG, _("%s: the decompressed image is too large"),
					 in->name);
			goto out;
		}
		off += hlen;
		for (;;) {
			uint32_t bh;
			unsigned type;

			if ((ret = peek_at(&pk, off, 3, &p, e)) != 0)
				goto out;
			bh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
			type = bh >> 1 & 3;
			if (type == 3) {
				ret = qf_err_set(e, EINVAL,
						 _("%s: bad zstd block header at compressed offset %llu"),
						 in->name, (unsigned long long)off);
				goto out;
			}
			/* An RLE block stores its byte once. */
			off += 3 + (type == 1 ? 1 : bh >> 3);
			if (bh & 1)
				break;
		}
		if (cks)
			off += 4;
	}
	if (ret == 0 && off == in->size) {
		*known = true;
		*total = sum;
	} else if (ret >= 0) {
		ret = 1;     /* a frame runs past the end of the file */
	}
out:
	free(pk.buf);
	/* 1: the file ended inside a frame */
	return ret > 0 ? truncated(in, QF_FORMAT_ZSTD, e) : ret;
}

/* A remote file cannot be walked cheaply (one request per block): take the
 * first frame's size, and check at its end that nothing else follows. */
static int zstd_first_size(struct qf_source *in, uint64_t *total, bool *known,
			   struct qf_err *e)
{
	uint8_t hdr[ZSTD_HEADER_MAX];
	size_t n = in->size < sizeof(hdr) ? (size_t)in->size : sizeof(hdr);
	size_t hlen;
	uint64_t fcs;
	bool cks;
	int ret;

	*known = false;
	if ((ret = qf_source_pread(in, hdr, n, 0, 0, e)) < 0)
		return ret;
	if (n >= 4 && get_le32(hdr) == ZSTD_MAGICNUMBER &&
	    zstd_header(hdr, n, &hlen, &fcs, &cks) && fcs != UINT64_MAX) {
		*total = fcs;
		*known = true;
	}
	return 0;
}

/* ------------------------------------------------------------ reading */

/* Nothing may follow the expected size: check by decoding on. */
static int finish(struct stream *st, struct qf_err *e)
{
	uint8_t extra[4096];
	size_t got;
	int ret = dec_read(&st->d, extra, sizeof(extra), &got, e);

	if (ret < 0 || !got)
		return ret;
	if (st->first_frame_only)
		return qf_err_set(e, EINVAL,
				  _("%s: more data follows the first zstd frame; the size of a remote zstd image of several frames cannot be known in advance (download it first)"),
				  st->s.name);
	return qf_err_set(e, EINVAL,
			  _("%s: the decompressed data is longer than the %llu bytes expected"),
			  st->s.name, (unsigned long long)st->expect);
}

static int short_err(const struct stream *st, uint64_t at, struct qf_err *e)
{
	return qf_err_set(e, EIO,
			  _("%s: the decompressed data ends after %llu bytes, short of the %llu bytes expected"),
			  st->s.name, (unsigned long long)at,
			  (unsigned long long)st->expect);
}

static void note_counters(struct stream *st)
{
	atomic_store(&st->s.bytes_read, atomic_load(&st->in->bytes_read));
	atomic_store(&st->s.retries, atomic_load(&st->in->retries));
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
		pthread_mutex_lock(&st->mu);
		if (ret == 0)
			st->ended = true;
	} else {
		size_t idx = (size_t)(pos % st->ring_cap), k = STEP, got;

		if (k > st->ring_cap - idx)
			k = st->ring_cap - idx;
		if (k > st->expect - pos)
			k = (size_t)(st->expect - pos);
		/* The bytes about to be overwritten leave the window first, so
		 * readers copying under mu never see them change. */
		if (pos + k - st->lo > st->ring_cap)
			st->lo = pos + k - st->ring_cap;
		pthread_mutex_unlock(&st->mu);
		ret = dec_read(&st->d, st->ring + idx, k, &got, &e);
		if (ret == 0 && got < k)
			ret = short_err(st, pos + got, &e);
		pthread_mutex_lock(&st->mu);
		if (ret == 0)
			st->pos = pos + k;
	}
	note_counters(st);
	if (ret < 0)
		st->err = e;
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
	for (a = off;;) {
		if (st->err.code) {
			ret = st->err.code;
			if (e && !e->code)
				*e = st->err;
			break;
		}
		if (a < data_end && a < st->lo) {
			ret = qf_err_set(e, EIO,
					 _("%s: byte %llu of the decompressed image has already streamed past (the window starts at %llu); compressed images can only be read in order"),
					 s->name, (unsigned long long)a,
					 (unsigned long long)st->lo);
			break;
		}
		if (a < data_end && a < st->pos) {
			uint64_t b = data_end < st->pos ? data_end : st->pos;
			ring_copy(st, p + (a - off), a, b - a);
			a = b;
		}
		if (a >= data_end && (!need_end || st->ended))
			break;
		if (st->busy) {
			pthread_cond_wait(&st->cv, &st->mu);
			continue;
		}
		st->busy = true;
		advance(st);
		st->busy = false;
		pthread_cond_broadcast(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	if (ret == 0 && end > data_end)
		memset(p + (data_end - off), 0, (size_t)(end - data_end));
	return ret;
}

static void stream_close(struct qf_source *s)
{
	struct stream *st = (struct stream *)s;

	dec_free(&st->d);
	free(st->head);
	free(st->ring);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
}

static const struct qf_source_ops stream_ops = {
	.pread = stream_pread,
	.close = stream_close,
};

/* ---------------------------------------------------------------- open */

int qf_stream_open(struct qf_source *in, enum qf_format fmt,
		   struct qf_source **out, struct qf_err *e)
{
	struct stream *st = qf_xcalloc(1, sizeof(*st));
	uint64_t expect = 0;
	bool known = false;
	size_t got;
	int ret;

	st->s.ops = &stream_ops;
	st->s.name = qf_xstrdup(in->name);
	st->s.remote = in->remote;
	st->s.fd = -1;
	st->s.dev = in->dev;
	st->s.ino = in->ino;
	st->in = in;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);

	if ((ret = dec_init(&st->d, in, fmt, e)) < 0)
		goto fail;
	if (fmt == QF_FORMAT_ZSTD && !in->remote)
		ret = zstd_walk(in, &expect, &known, e);
	else if (fmt == QF_FORMAT_ZSTD)
		ret = zstd_first_size(in, &expect, &known, e);
	if (ret < 0)
		goto fail;
	st->first_frame_only = known && in->remote;
	if (!known) {
		ret = count_all(&st->d, &expect, e);
		note_counters(st);
		if (ret < 0)
			goto fail;
		dec_rewind(&st->d);
	}
	if (expect > UINT64_MAX - 511) {
		ret = qf_err_set(e, EFBIG, _("%s: the decompressed image is too large"),
				 in->name);
		goto fail;
	}
	st->expect = expect;
	/* Whole sectors, as qemu reads raw files. */
	st->s.size = (expect + 511) & ~(uint64_t)511;

	st->head_len = expect < QF_STREAM_HEAD ? (size_t)expect
					       : (size_t)QF_STREAM_HEAD;
	st->head = qf_xmalloc(st->head_len);
	ret = dec_read(&st->d, st->head, st->head_len, &got, e);
	if (ret == 0 && got < st->head_len)
		ret = short_err(st, got, e);
	if (ret == 0 && expect == st->head_len)
		ret = finish(st, e);
	note_counters(st);
	if (ret < 0)
		goto fail;
	st->pos = st->lo = st->head_len;
	st->ended = expect == st->head_len;
	if (!st->ended) {
		uint64_t rest = expect - st->head_len;
		st->ring_cap = rest < RING_MAX ? (size_t)rest : RING_MAX;
		st->ring = qf_xmalloc(st->ring_cap);
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

	if (!range_inside(off, len, limit))
		return qf_err_set(e, ESPIPE,
				  _("%s: a compressed image can only be read in order: only its first %llu bytes can be read at random (read of %zu bytes at %llu)"),
				  s->name, (unsigned long long)st->head_len, len,
				  (unsigned long long)off);
	return stream_pread(s, buf, len, off, e);
}

