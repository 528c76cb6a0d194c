/* bzip2_blocks.c - bzip2 decoded a block at a time on several threads.
 *
 * A bzip2 stream is "BZh" and a level digit, then blocks, each starting
 * with the 48-bit magic 0x314159265359 and its CRC at any bit position,
 * then the end-of-stream magic 0x177245385090, the stream's combined CRC
 * and padding to a byte.  The reading thread finds the magics by scanning
 * the bits, copies each block's bits into a stream of its own ("BZh",
 * the block moved to the bit after the header, the end magic and the
 * block's CRC as the combined one) and hands it to a worker, which
 * decodes it with libbz2 as the whole stream it now is.  The reader then
 * gives the decoded blocks out in order and checks each stream's combined
 * CRC against the blocks' CRCs.
 *
 * The magics can also turn up inside compressed data (about once in 2^48
 * bit positions).  Whatever does not add up - a block that does not
 * decode, a combined CRC that does not match, a stream that does not end
 * - makes bzp_read return -EAGAIN, and bzip2.c decodes the file again in
 * order with libbz2 alone, which has the last word on whether it is
 * corrupt.  Memory: at most BZP_INFLIGHT blocks, each at most its
 * compressed bits and its decoded bytes (which run-length coding bounds
 * to about 46 MiB for a level-9 block of zeros). */
#include "codec/bzip2_blocks.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_MAGIC 0x314159265359ull
#define EOS_MAGIC 0x177245385090ull
#define MASK48 0xffffffffffffull
#define MAX_THREADS 8
#define MAX_INFLIGHT (MAX_THREADS + 2)
/* Decoded bytes a block may have: 900 kB of run-length code at most,
 * each 5 bytes of it standing for up to 259. */
#define MAX_OUT ((size_t)48 << 20)
/* The compressed bits of a block stay well under this. */
#define MAX_IN ((size_t)4 << 20)

enum job_state { JOB_FREE = 0, JOB_QUEUED, JOB_BUSY, JOB_DONE, JOB_FAILED };

struct job {
	enum job_state state;
	uint8_t *in;                 /* the block as a stream of its own */
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_cap, given;
	uint32_t crc;                /* the block's, from its header */
	/* The stream ends after this block: its stored combined CRC. */
	bool last;
	uint32_t stream_crc;
};

struct bzp {
	struct qf_codec *c;
	/* The compressed bytes [wbase, wbase + wlen) of the file. */
	uint8_t *win;
	size_t wlen, wcap;
	uint64_t wbase;
	bool eof;                    /* the file is all in the window */

	/* Where the reader is, in bits of the file: the next block's magic,
	 * or the start of the next stream when between streams. */
	uint64_t at;
	bool in_stream;
	int level;                   /* '1'..'9' of the stream */
	bool done;                   /* after the last stream */
	uint32_t combined;           /* of the stream's blocks given so far */
	uint64_t emitted;            /* decoded bytes given out */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job jobs[MAX_INFLIGHT];
	int head, count, inflight;   /* ring of jobs, the oldest at head */
	int nthreads;
	pthread_t threads[MAX_THREADS];
	bool stop;
};

/* --------------------------------------------------------------- magics */

/* For the 16 bits at bits 8..23 of a 64-bit window of the file, which
 * magics could lie with their lowest bit at bit s (0..7) of the window:
 * bit s for the block magic, bit 8 + s for the end magic. */
static uint16_t magic_tab[65536];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void make_tab(void)
{
	for (int s = 0; s < 8; s++) {
		magic_tab[(BLOCK_MAGIC >> (8 - s)) & 0xffff] |= (uint16_t)(1u << s);
		magic_tab[(EOS_MAGIC >> (8 - s)) & 0xffff] |= (uint16_t)(1u << (8 + s));
	}
}

/* Bits [@bit, @bit + @n) of the window (n <= 57) as a number. */
static uint64_t get_bits(const struct bzp *p, uint64_t bit, int n)
{
	uint64_t rel = bit - p->wbase * 8, v = 0;
	size_t i = (size_t)(rel / 8);
	int skip = (int)(rel % 8), need = skip + n;

	for (int k = 0; k < (need + 7) / 8; k++)
		v = (v << 8) | p->win[i + k];
	v >>= ((need + 7) / 8) * 8 - need;
	return v & ((1ull << n) - 1);
}

/* The first magic (a block's or the end's) at or after bit @from: 1 with
 * its bit in *@at, 0 when the window holds none (up to its end, less the
 * bytes a magic might still need). */
static int find_magic(const struct bzp *p, uint64_t from, uint64_t *at)
{
	uint64_t rel = from - p->wbase * 8, w = 0;
	size_t start = (size_t)(rel / 8), i;

	/* The window of 8 bytes ending at byte i holds a magic starting at
	 * its byte 0 or 1 (whichever shift): begin 7 bytes early. */
	i = start >= 7 ? start - 7 : 0;
	for (size_t k = i; k < start; k++)
		w = (w << 8) | p->win[k];
	for (i = start; i < p->wlen; i++) {
		uint16_t m;

		w = (w << 8) | p->win[i];
		m = magic_tab[(w >> 8) & 0xffff];
		if (!m || i < 6)
			continue;
		for (int s = 0; s < 8; s++) {
			bool blk = m & (1u << s), end = m & (1u << (8 + s));
			uint64_t v = (w >> s) & MASK48, pos;

			if (!(blk && v == BLOCK_MAGIC) && !(end && v == EOS_MAGIC))
				continue;
			pos = (p->wbase + i + 1) * 8 - (uint64_t)s - 48;
			if (pos < from)
				continue;
			*at = pos;
			return 1;
		}
	}
	return 0;
}

/* --------------------------------------------------------------- input */

/* More of the file into the window, dropping what lies before bit @keep.
 * 0, or 1 at the end of the file, or an error. */
static int more(struct bzp *p, uint64_t keep, struct qf_err *e)
{
	struct qf_codec_in *in = &p->c->in;
	size_t drop = (size_t)(keep / 8 - p->wbase), n;
	bool eof = false;
	int ret;

	if (drop > p->wlen)
		drop = p->wlen;
	if (drop)
		memmove(p->win, p->win + drop, p->wlen - drop);
	p->wlen -= drop;
	p->wbase += drop;
	if (in->pos == in->len) {
		if ((ret = qf_codec_refill(p->c, &eof, e)) < 0)
			return ret;
		if (eof) {
			p->eof = true;
			return 1;
		}
	}
	n = in->len - in->pos;
	if (p->wlen + n > p->wcap) {
		uint8_t *w;

		p->wcap = (p->wlen + n) * 2;
		w = realloc(p->win, p->wcap);
		if (!w)
			abort();     /* as qf_xmalloc does */
		p->win = w;
	}
	memcpy(p->win + p->wlen, in->buf + in->pos, n);
	p->wlen += n;
	in->pos = in->len;
	return 0;
}

/* Bit @bit and @n more are in the window, reading on if they are not:
 * 1 yes, 0 the file ends first, or an error. */
static int have(struct bzp *p, uint64_t bit, uint64_t n, struct qf_err *e)
{
	while ((p->wbase + p->wlen) * 8 < bit + n) {
		int ret = more(p, p->at, e);
		if (ret < 0)
			return ret;
		if (ret)
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------- workers */

/* Append @n bits of @v (n <= 57) at bit @pos of @buf (zeroed ahead). */
static void put_bits(uint8_t *buf, uint64_t *pos, uint64_t v, int n)
{
	for (int k = n - 1; k >= 0; k--, (*pos)++)
		if ((v >> k) & 1)
			buf[*pos / 8] |= (uint8_t)(0x80 >> (*pos % 8));
}

/* Block bits [@from, @to) of the window as a stream of their own. */
static void wrap_block(const struct bzp *p, struct job *j, uint64_t from,
		       uint64_t to)
{
	uint64_t nbits = to - from, rel = from - p->wbase * 8, pos = 32;
	size_t i = (size_t)(rel / 8), nbytes;
	int sh = (int)(rel % 8);
	uint8_t *o;

	j->in_len = 4 + (size_t)((nbits + 80 + 7) / 8);
	o = j->in = qf_xcalloc(1, j->in_len + 8);
	o[0] = 'B';
	o[1] = 'Z';
	o[2] = 'h';
	o[3] = (uint8_t)p->level;
	/* The block's bits from bit 32 on, a byte at a time. */
	nbytes = (size_t)(nbits / 8);
	for (size_t k = 0; k < nbytes; k++) {
		unsigned v = (unsigned)p->win[i + k] << 8 | p->win[i + k + 1];
		o[4 + k] = (uint8_t)(v >> (8 - sh));
	}
	pos += (uint64_t)nbytes * 8;
	put_bits(o, &pos, get_bits(p, from + (uint64_t)nbytes * 8,
				   (int)(nbits % 8)), (int)(nbits % 8));
	put_bits(o, &pos, EOS_MAGIC, 48);
	put_bits(o, &pos, j->crc, 32);
}

static bool decode(struct job *j)
{
	bz_stream bs;
	bool ok = false;
	int r;

	memset(&bs, 0, sizeof(bs));
	if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK)
		return false;
	j->out_cap = (size_t)1 << 20;
	j->out = malloc(j->out_cap);
	bs.next_in = (char *)j->in;
	bs.avail_in = (unsigned)j->in_len;
	while (j->out) {
		bs.next_out = (char *)j->out + j->out_len;
		bs.avail_out = (unsigned)(j->out_cap - j->out_len);
		r = BZ2_bzDecompress(&bs);
		j->out_len = j->out_cap - bs.avail_out;
		if (r == BZ_STREAM_END) {
			ok = true;
			break;
		}
		if (r != BZ_OK || (bs.avail_out && !bs.avail_in))
			break;
		if (!bs.avail_out) {
			uint8_t *n;
			if (j->out_cap >= MAX_OUT)
				break;
			n = realloc(j->out, j->out_cap * 2);
			if (!n)
				break;
			j->out = n;
			j->out_cap *= 2;
		}
	}
	BZ2_bzDecompressEnd(&bs);
	free(j->in);
	j->in = NULL;
	return ok;
}

static void *worker(void *arg)
{
	struct bzp *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct job *j = NULL;

		for (int k = 0; k < p->count && !j; k++) {
			struct job *c = &p->jobs[(p->head + k) % MAX_INFLIGHT];
			if (c->state == JOB_QUEUED)
				j = c;
		}
		if (!j) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		j->state = JOB_BUSY;
		pthread_mutex_unlock(&p->mu);
		bool ok = decode(j);
		pthread_mutex_lock(&p->mu);
		j->state = ok ? JOB_DONE : JOB_FAILED;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* -------------------------------------------------------------- reader */

/* The next stream's header at p->at (a byte boundary): 1 found, 0 the
 * file ends cleanly, -EAGAIN for anything else. */
static int stream_header(struct bzp *p, struct qf_err *e)
{
	uint64_t v;
	int ret = have(p, p->at, 32, e);

	if (ret < 0)
		return ret;
	if (!ret) {
		/* Nothing, or less than a header, left. */
		if ((p->wbase + p->wlen) * 8 == p->at)
			return 0;
		return -EAGAIN;
	}
	v = get_bits(p, p->at, 32);
	if ((v >> 8) != 0x425a68 || (v & 0xff) < '1' || (v & 0xff) > '9')
		return -EAGAIN;
	p->level = (int)(v & 0xff);
	p->at += 32;
	p->in_stream = true;
	return 1;
}

/* Queue the block at p->at, or end the stream: 1 when a block was
 * queued or a stream ended, 0 at the end of the file, or an error. */
static int next_block(struct bzp *p, struct qf_err *e)
{
	uint64_t end, v;
	struct job *j;
	int ret;

	if (!p->in_stream) {
		ret = stream_header(p, e);
		if (ret <= 0)
			return ret;
	}
	if ((ret = have(p, p->at, 80, e)) <= 0)
		return ret < 0 ? ret : -EAGAIN;
	v = get_bits(p, p->at, 48);
	if (v == EOS_MAGIC) {
		/* An empty stream, or the end after the last block given. */
		p->in_stream = false;
		if (p->count) {
			j = &p->jobs[(p->head + p->count - 1) % MAX_INFLIGHT];
			j->last = true;
			j->stream_crc = (uint32_t)get_bits(p, p->at + 48, 32);
		} else if (get_bits(p, p->at + 48, 32) != 0) {
			return -EAGAIN;    /* an empty stream's is 0 */
		}
		p->at = (p->at + 80 + 7) / 8 * 8;
		return 1;
	}
	if (v != BLOCK_MAGIC)
		return -EAGAIN;
	/* Its end: the next magic, reading on until one is there (and
	 * scanning only the new bytes, less a magic's length). */
	for (uint64_t from = p->at + 80;;) {
		uint64_t top;

		if (find_magic(p, from, &end))
			break;
		top = (p->wbase + p->wlen) * 8;
		if (top - p->at > MAX_IN * 8)
			return -EAGAIN;
		if (top > from + 56)
			from = top - 56;
		if ((ret = more(p, p->at, e)) < 0)
			return ret;
		if (ret)
			return -EAGAIN;    /* the file ends inside a block */
	}
	if ((ret = have(p, end, 80, e)) <= 0)
		return ret < 0 ? ret : -EAGAIN;
	j = &p->jobs[(p->head + p->count) % MAX_INFLIGHT];
	memset(j, 0, sizeof(*j));
	j->crc = (uint32_t)get_bits(p, p->at + 48, 32);
	wrap_block(p, j, p->at, end);
	pthread_mutex_lock(&p->mu);
	j->state = JOB_QUEUED;
	p->count++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->at = end;
	return 1;
}

int bzp_read(struct bzp *p, uint8_t *out, size_t n, size_t *got,
	     struct qf_err *e)
{
	while (*got < n) {
		struct job *j;
		size_t k;
		int ret;

		/* Keep every worker busy and one more block waiting. */
		while (!p->done && p->count < p->nthreads + 2) {
			ret = next_block(p, e);
			if (ret < 0)
				return ret;
			if (ret == 0)
				p->done = true;
		}
		if (!p->count)
			return 0;
		j = &p->jobs[p->head];
		pthread_mutex_lock(&p->mu);
		while (j->state == JOB_QUEUED || j->state == JOB_BUSY)
			pthread_cond_wait(&p->cv, &p->mu);
		pthread_mutex_unlock(&p->mu);
		if (j->state == JOB_FAILED)
			return -EAGAIN;
		k = j->out_len - j->given < n - *got ? j->out_len - j->given
						     : n - *got;
		memcpy(out + *got, j->out + j->given, k);
		j->given += k;
		*got += k;
		p->emitted += k;
		if (j->given < j->out_len)
			continue;
		p->combined = (p->combined << 1 | p->combined >> 31) ^ j->crc;
		if (j->last && p->combined != j->stream_crc)
			return -EAGAIN;
		if (j->last)
			p->combined = 0;
		free(j->out);
		pthread_mutex_lock(&p->mu);
		j->state = JOB_FREE;
		p->head = (p->head + 1) % MAX_INFLIGHT;
		p->count--;
		pthread_mutex_unlock(&p->mu);
	}
	return 0;
}

uint64_t bzp_emitted(const struct bzp *p)
{
	return p->emitted;
}

struct bzp *bzp_new(struct qf_codec *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct bzp *p;

	if (cpus < 2)
		return NULL;         /* nothing to gain */
	pthread_once(&tab_once, make_tab);
	p = qf_xcalloc(1, sizeof(*p));
	p->c = c;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (long i = 0; i < cpus && i < MAX_THREADS; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
			p->nthreads++;
	if (!p->nthreads) {
		bzp_free(p);
		return NULL;
	}
	return p;
}

void bzp_free(struct bzp *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (int i = 0; i < MAX_INFLIGHT; i++) {
		free(p->jobs[i].in);
		if (p->jobs[i].state != JOB_FREE)
			free(p->jobs[i].out);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->win);
	free(p);
}
