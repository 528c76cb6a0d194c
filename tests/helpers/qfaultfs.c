/* qfaultfs.c - a FUSE file system for the tests: it serves one file,
 * "disk", whose reads and writes misbehave the way bad flash media do,
 * and a control file, "ctl", that changes the faults while mounted and
 * reports counters.  A loop device over "disk" gives a test a real block
 * device that lies about its capacity, loses writes, fails with EIO,
 * ENOSPC or EROFS at chosen offsets, shortens writes or is slow.
 *
 * qfaultfs --size BYTES --backing FILE [OPTIONS] MOUNTPOINT
 *
 *   --size BYTES              the size "disk" claims (required)
 *   --backing FILE            where stored bytes live (required): created
 *                             sparse if missing, grown to the real
 *                             capacity if shorter, never shrunk
 *   --real-size BYTES         the real capacity, at most --size (default
 *                             --size); offsets wrap modulo it, the way a
 *                             fake-capacity card aliases
 *   --drop-writes-after OFF   bytes written at OFF or beyond are
 *                             acknowledged but not stored (a dead card)
 *   --drop-writes-at OFF[:LEN]
 *                             bytes written inside [OFF, OFF+LEN) are
 *                             acknowledged but not stored, every time
 *                             (bad blocks; LEN defaults to 4096)
 *   --drop-once-at OFF[:LEN]  the same for the first --drop-count writes
 *                             that touch the range only; later ones are
 *                             stored (a transient fault)
 *   --drop-count N            how many writes --drop-once-at loses
 *                             (default 1, at least 1)
 *   --eio-read-at OFF[:LEN]   reads touching [OFF, OFF+LEN) fail with EIO
 *                             (LEN defaults to 4096)
 *   --eio-write-at OFF[:LEN]  writes and zeroing touching it fail with EIO
 *   --enospc-at OFF           writes touching OFF or beyond fail, ENOSPC
 *   --short-writes            each write stores and reports at most half
 *                             its length (but 512 bytes at least)
 *   --delay-us N              sleep N microseconds in each read, write
 *                             and zeroing request
 *   --write-rate BYTES        write at most BYTES per second (all
 *                             requests together)
 *   --ro                      writes and zeroing fail with EROFS
 *   --pidfile FILE            write the daemon's pid to FILE
 *   -f, --foreground          do not detach; print "ready" on stdout once
 *                             the kernel is being served
 *   -d, --debug               libfuse's request trace on stderr (implies -f)
 *   -o OPTS                   more options for libfuse (mount options)
 *   -h, --help
 *
 * BYTES and OFF are decimal, or hex after 0x, with an optional K, M, G
 * or T suffix (powers of 1024).  Without -f the command returns only
 * after the daemon has answered the kernel's first request, so the file
 * can be used as soon as it exits: status 0, 1 if it could not mount, 2
 * on bad usage.  SIGTERM, SIGINT and SIGHUP unmount and end the daemon,
 * and so does umount(8) of the mount point.
 *
 * Faults act in this order: ro, EIO, ENOSPC, short write, dropped bytes;
 * delay-us and write-rate come on top.  Zeroing (fallocate punch-hole or
 * zero-range, which is what a loop device makes of discard and
 * write-zeroes requests) counts as a write for every fault but short
 * writes.  Writes at or past --size fail with ENOSPC, writes crossing it
 * are cut short there; reads stop there.  Truncating "disk" is accepted
 * and changes nothing, as on a block device.
 *
 * Writing ctl: lines of "KEY VALUE" with the keys of the fault options
 * (drop-writes-after, drop-writes-at, drop-once-at, eio-read-at,
 * eio-write-at, enospc-at take "off" to turn the fault off; short-writes
 * and ro take 0 or 1; delay-us, write-rate and drop-count a number as
 * on the command line, 0 for none but for drop-count), "clear" (every
 * fault off, drop-count back to 1) and "reset-counters".  Setting
 * drop-once-at or drop-count, even to the value it has, arms the fault
 * again: the next drop-count writes touching the range are lost.  Blank lines and lines
 * starting with # are ignored.  The lines of one write(2) apply
 * together, or none of them (EINVAL) if one is invalid; a line must not
 * be split across writes (bash's printf writes line by line).
 *
 * Reading ctl: "KEY VALUE" lines, a snapshot taken at open.  First the
 * counters: reads, writes, zeroes (requests that reached the daemon),
 * bytes_read, bytes_written (acknowledged to the kernel), bytes_dropped
 * (acknowledged but not stored, zeroing included), bytes_zeroed,
 * faults_hit (the sum of eio_read_hits, eio_write_hits, enospc_hits,
 * erofs_hits, drop_hits, short_hits; drop_hits counts the requests that
 * lost bytes to any drop fault), drop_once_left (writes drop-once-at
 * still loses).  Then size and real-size, then the
 * faults in the form ctl accepts (e.g. "eio-read-at 1048576:4096").
 */
#define FUSE_USE_VERSION 31
#include "config.h"

#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

#define NSEC 1000000000u
/* Offsets and sizes end up in off_t. */
#define MAX_VALUE ((uint64_t)INT64_MAX)
#define DEFAULT_LEN 4096
#define DEFAULT_DROP_COUNT 1
#define SHORT_MIN 512
/* One write to ctl; commands are short lines. */
#define CTL_MAX 4096

struct range {
	bool on;
	uint64_t off, len;      /* off + len <= 2 * MAX_VALUE: no overflow */
};

/* The faults in force.  A request works on a copy taken when it starts,
 * so a change through ctl never meets a request halfway. */
struct faults {
	bool drop_on, enospc_on, short_writes, ro;
	uint64_t drop_after, enospc_at;
	struct range eio_read, eio_write;
	struct range drop_at, drop_once;
	uint64_t drop_count;
	bool rearm;             /* drop-once-at or drop-count was set */
	uint64_t delay_us, write_rate;
};

struct counters {
	uint64_t reads, writes, zeroes;
	uint64_t bytes_read, bytes_written, bytes_dropped, bytes_zeroed;
	uint64_t eio_read_hits, eio_write_hits, enospc_hits, erofs_hits;
	uint64_t drop_hits, short_hits;
};

static struct {
	uint64_t size;          /* what "disk" claims */
	uint64_t real;          /* bytes of the backing file in use, > 0 */
	int fd;                 /* the backing file */
	time_t started;
	int ready_fd;           /* the waiting parent's pipe, or -1 */
	bool foreground;
	const char *pidfile;
	pthread_mutex_t lock;   /* guards the members below */
	struct faults f;
	struct counters c;
	uint64_t once_left;     /* writes drop-once-at still loses */
	uint64_t booked_ns;     /* write bandwidth is booked until then */
} fs = {
	.fd = -1,
	.ready_fd = -1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.f = { .drop_count = DEFAULT_DROP_COUNT },
};

enum kind { NONE, DISK, CTL };

struct handle {
	enum kind kind;
	char *text;             /* ctl: the snapshot reads are served from */
	size_t len;
};

/* ------------------------------------------------------------- parsing */

/* A number: decimal or 0x hex, then (if suffix) K, M, G or T for powers
 * of 1024.  At most MAX_VALUE so that it fits an off_t.  0 or -1. */
static int parse_num(const char *s, bool suffix, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10, shift = 0;
	const char *p = s;
	bool digits = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (MAX_VALUE - d) / base)
			return -1;
		v = v * base + d;
		digits = true;
	}
	if (!digits)
		return -1;
	if (suffix && *p) {
		switch (*p++) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		default: return -1;
		}
	}
	if (*p || v > MAX_VALUE >> shift)
		return -1;
	*out = v << shift;
	return 0;
}

/* "off", or an offset that switches the fault on. */
static int parse_limit(const char *s, bool *on, uint64_t *off)
{
	if (strcmp(s, "off") == 0) {
		*on = false;
		*off = 0;
		return 0;
	}
	if (parse_num(s, true, off) < 0)
		return -1;
	*on = true;
	return 0;
}

/* "off", or OFF[:LEN] with LEN > 0. */
static int parse_range(const char *s, struct range *r)
{
	char buf[64];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	uint64_t off, len = DEFAULT_LEN;

	if (strcmp(s, "off") == 0) {
		memset(r, 0, sizeof(*r));
		return 0;
	}
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (parse_num(buf, true, &off) < 0)
		return -1;
	if (colon && (parse_num(colon + 1, true, &len) < 0 || len == 0))
		return -1;
	r->on = true;
	r->off = off;
	r->len = len;
	return 0;
}

static int parse_bool(const char *s, bool *b)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "on") == 0) {
		*b = true;
		return 0;
	}
	if (strcmp(s, "0") == 0 || strcmp(s, "off") == 0) {
		*b = false;
		return 0;
	}
	return -1;
}

/* Set one fault by its option name; the options and ctl share this, so
 * both spell every fault the same way.  0 or -1. */
static int set_fault(struct faults *f, const char *key, const char *val)
{
	if (strcmp(key, "clear") == 0 && !val) {
		memset(f, 0, sizeof(*f));
		f->drop_count = DEFAULT_DROP_COUNT;
		return 0;
	}
	if (!val)
		return -1;
	if (strcmp(key, "drop-writes-after") == 0)
		return parse_limit(val, &f->drop_on, &f->drop_after);
	if (strcmp(key, "drop-writes-at") == 0)
		return parse_range(val, &f->drop_at);
	if (strcmp(key, "drop-once-at") == 0) {
		f->rearm = true;
		return parse_range(val, &f->drop_once);
	}
	if (strcmp(key, "drop-count") == 0) {
		f->rearm = true;
		return parse_num(val, false, &f->drop_count) < 0 ||
		       f->drop_count == 0 ? -1 : 0;
	}
	if (strcmp(key, "enospc-at") == 0)
		return parse_limit(val, &f->enospc_on, &f->enospc_at);
	if (strcmp(key, "eio-read-at") == 0)
		return parse_range(val, &f->eio_read);
	if (strcmp(key, "eio-write-at") == 0)
		return parse_range(val, &f->eio_write);
	if (strcmp(key, "short-writes") == 0)
		return parse_bool(val, &f->short_writes);
	if (strcmp(key, "ro") == 0)
		return parse_bool(val, &f->ro);
	if (strcmp(key, "delay-us") == 0)
		return parse_num(val, false, &f->delay_us);
	if (strcmp(key, "write-rate") == 0)
		return parse_num(val, true, &f->write_rate);
	return -1;
}

/* --------------------------------------------------------- accounting */

/* Copy the faults for one request and count the request. */
static void begin(struct faults *f, uint64_t *requests)
{
	pthread_mutex_lock(&fs.lock);
	*f = fs.f;
	(*requests)++;
	pthread_mutex_unlock(&fs.lock);
}

static void count(uint64_t *c, uint64_t n)
{
	pthread_mutex_lock(&fs.lock);
	*c += n;
	pthread_mutex_unlock(&fs.lock);
}

static uint64_t faults_hit(const struct counters *c)
{
	return c->eio_read_hits + c->eio_write_hits + c->enospc_hits +
	       c->erofs_hits + c->drop_hits + c->short_hits;
}

/* Does [o, o + len) touch the range?  o + len <= fs.size. */
static bool touches(const struct range *r, uint64_t o, uint64_t len)
{
	return r->on && o < r->off + r->len && r->off < o + len;
}

/* The parts of a request that are acknowledged but not stored: at most
 * one range per drop fault, possibly overlapping. */
struct drops {
	int n;
	uint64_t a[3], b[3];
};

static void drop_add(struct drops *d, uint64_t off, uint64_t end,
		     uint64_t o, uint64_t len)
{
	d->a[d->n] = off > o ? off : o;
	d->b[d->n] = end < o + len ? end : o + len;
	d->n++;
}

/* What of [o, o + len) the faults drop; a request touching the
 * drop-once range uses up one of its writes. */
static void drops_for(const struct faults *f, uint64_t o, uint64_t len,
		      struct drops *d)
{
	bool once = false;

	d->n = 0;
	if (f->drop_on && o + len > f->drop_after)
		drop_add(d, f->drop_after, o + len, o, len);
	if (touches(&f->drop_at, o, len))
		drop_add(d, f->drop_at.off, f->drop_at.off + f->drop_at.len, o, len);
	if (touches(&f->drop_once, o, len)) {
		pthread_mutex_lock(&fs.lock);
		if (fs.once_left > 0) {
			fs.once_left--;
			once = true;
		}
		pthread_mutex_unlock(&fs.lock);
	}
	if (once)
		drop_add(d, f->drop_once.off, f->drop_once.off + f->drop_once.len,
			 o, len);
}

/* The end of the run from @p (before @end) that @d drops (*dropped) or
 * keeps. */
static uint64_t run_end(const struct drops *d, uint64_t p, uint64_t end,
			bool *dropped)
{
	uint64_t q = p;
	bool grew = true;

	*dropped = false;
	/* Through every drop that covers p, and those they run into. */
	while (grew) {
		grew = false;
		for (int i = 0; i < d->n; i++)
			if (d->a[i] <= q && q < d->b[i]) {
				q = d->b[i];
				grew = *dropped = true;
			}
	}
	if (*dropped)
		return q < end ? q : end;
	q = end;
	for (int i = 0; i < d->n; i++)
		if (d->a[i] > p && d->a[i] < q)
			q = d->a[i];
	return q;
}

static int backing_write(const char *buf, size_t len, uint64_t o);
static int backing_zero(uint64_t len, uint64_t o);

/* Store the request's bytes (@buf, or zeros when NULL) but for what @d
 * drops; *stored says how many were kept. */
static int store(const char *buf, uint64_t o, uint64_t len,
		 const struct drops *d, uint64_t *stored)
{
	uint64_t p = o, end = o + len;

	*stored = 0;
	while (p < end) {
		bool dropped;
		uint64_t q = run_end(d, p, end, &dropped);
		int r = 0;

		if (!dropped && buf)
			r = backing_write(buf + (p - o), (size_t)(q - p), p);
		else if (!dropped)
			r = backing_zero(q - p, p);
		if (r < 0)
			return r;
		if (!dropped)
			*stored += q - p;
		p = q;
	}
	return 0;
}

/* --------------------------------------------------------------- time */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void pause_us(uint64_t us)
{
	struct timespec ts;

	if (!us)
		return;
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000 * 1000);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Book len bytes of the write bandwidth and sleep until they are due:
 * booking under the lock makes the rate hold for all threads together
 * rather than for each.  len <= INT_MAX, so len / rate * NSEC and
 * len % rate * NSEC stay below 2^64. */
static void throttle(uint64_t rate, uint64_t len)
{
	struct timespec ts;
	uint64_t start, need, end;

	if (!rate || !len)
		return;
	need = len / rate * NSEC + len % rate * NSEC / rate;
	pthread_mutex_lock(&fs.lock);
	start = now_ns();
	if (fs.booked_ns > start)
		start = fs.booked_ns;
	end = need > UINT64_MAX - start ? UINT64_MAX : start + need;
	fs.booked_ns = end;
	pthread_mutex_unlock(&fs.lock);
	ts.tv_sec = (time_t)(end / NSEC);
	ts.tv_nsec = (long)(end % NSEC);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ------------------------------------------------------ backing file */

/* The backing offset of claimed offset o, and how many of len bytes
 * from there are contiguous before the real capacity wraps. */
static size_t piece(uint64_t o, size_t len, off_t *pos)
{
	uint64_t p = o % fs.real;

	*pos = (off_t)p;
	return len < fs.real - p ? len : (size_t)(fs.real - p);
}

static int backing_read(char *buf, size_t len, uint64_t o)
{
	while (len > 0) {
		off_t pos;
		size_t n = piece(o, len, &pos);
		ssize_t r = pread(fs.fd, buf, n, pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			/* Someone cut the backing file short: what is gone
			 * reads as zeros, like a hole. */
			memset(buf, 0, n);
			r = (ssize_t)n;
		}
		buf += r;
		len -= (size_t)r;
		o += (uint64_t)r;
	}
	return 0;
}

static int backing_write(const char *buf, size_t len, uint64_t o)
{
	while (len > 0) {
		off_t pos;
		size_t n = piece(o, len, &pos);
		ssize_t r = pwrite(fs.fd, buf, n, pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		buf += r;
		len -= (size_t)r;
		o += (uint64_t)r;
	}
	return 0;
}

/* Zeros for backing files that cannot zero a range themselves. */
static const char zeros[65536];

static int backing_zero_piece(off_t pos, size_t n)
{
	size_t done = 0;

	/* KEEP_SIZE always: the backing file never grows past its size. */
	if (fallocate(fs.fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, pos,
		      (off_t)n) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	if (fallocate(fs.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos,
		      (off_t)n) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	while (done < n) {
		size_t k = n - done < sizeof(zeros) ? n - done : sizeof(zeros);
		ssize_t r = pwrite(fs.fd, zeros, k, pos + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

static int backing_zero(uint64_t len, uint64_t o)
{
	/* Zeroing the whole real capacity zeroes everything a longer range
	 * could alias to. */
	if (len >= fs.real)
		return backing_zero_piece(0, (size_t)fs.real);
	while (len > 0) {
		off_t pos;
		size_t n = piece(o, (size_t)len, &pos);
		int r = backing_zero_piece(pos, n);

		if (r < 0)
			return r;
		len -= n;
		o += n;
	}
	return 0;
}

/* ------------------------------------------------------------ "disk" */

static int disk_read(char *buf, size_t len, off_t off)
{
	struct faults f;
	uint64_t o;
	int r;

	begin(&f, &fs.c.reads);
	pause_us(f.delay_us);
	if (off < 0)
		return -EINVAL;
	o = (uint64_t)off;
	if (o >= fs.size || len == 0)
		return 0;
	if (len > fs.size - o)
		len = (size_t)(fs.size - o);
	/* The reply is an int. */
	if (len > INT_MAX)
		len = INT_MAX;
	if (touches(&f.eio_read, o, len)) {
		count(&fs.c.eio_read_hits, 1);
		return -EIO;
	}
	r = backing_read(buf, len, o);
	if (r < 0)
		return r;
	count(&fs.c.bytes_read, len);
	return (int)len;
}

/* The faults writes and zeroing share; 0 lets the request through. */
static int write_faults(const struct faults *f, uint64_t o, uint64_t len)
{
	if (f->ro) {
		count(&fs.c.erofs_hits, 1);
		return -EROFS;
	}
	if (touches(&f->eio_write, o, len)) {
		count(&fs.c.eio_write_hits, 1);
		return -EIO;
	}
	if (f->enospc_on && o + len > f->enospc_at) {
		count(&fs.c.enospc_hits, 1);
		return -ENOSPC;
	}
	return 0;
}

static int disk_write(const char *buf, size_t len, off_t off)
{
	struct faults f;
	struct drops d;
	uint64_t o, stored;
	int r;

	begin(&f, &fs.c.writes);
	pause_us(f.delay_us);
	if (off < 0)
		return -EINVAL;
	o = (uint64_t)off;
	if (len == 0)
		return 0;
	/* Nothing lies past the claimed end: a write starting there finds
	 * no space, one reaching over it is cut short there. */
	if (o >= fs.size)
		return -ENOSPC;
	if (len > fs.size - o)
		len = (size_t)(fs.size - o);
	if (len > INT_MAX)
		len = INT_MAX;
	r = write_faults(&f, o, len);
	if (r < 0)
		return r;
	if (f.short_writes) {
		size_t n = len / 2;

		if (n < SHORT_MIN)
			n = len < SHORT_MIN ? len : SHORT_MIN;
		if (n < len) {
			count(&fs.c.short_hits, 1);
			len = n;
		}
	}
	throttle(f.write_rate, len);
	drops_for(&f, o, len, &d);
	if ((r = store(buf, o, len, &d, &stored)) < 0)
		return r;
	pthread_mutex_lock(&fs.lock);
	fs.c.bytes_written += len;
	if (stored < len) {
		fs.c.bytes_dropped += len - stored;
		fs.c.drop_hits++;
	}
	pthread_mutex_unlock(&fs.lock);
	return (int)len;
}

static int disk_fallocate(int mode, off_t off, off_t length)
{
	struct faults f;
	struct drops d;
	uint64_t o, len, stored;
	int r;

	begin(&f, &fs.c.zeroes);
	pause_us(f.delay_us);
	if (off < 0 || length <= 0)
		return -EINVAL;
	o = (uint64_t)off;
	len = (uint64_t)length;
	if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) &&
	    (mode & ~FALLOC_FL_KEEP_SIZE) != FALLOC_FL_ZERO_RANGE &&
	    (mode & ~FALLOC_FL_KEEP_SIZE) != 0)
		return -EOPNOTSUPP;
	/* Only KEEP_SIZE may reach past the end: the file cannot grow. */
	if (o >= fs.size || len > fs.size - o) {
		if (!(mode & FALLOC_FL_KEEP_SIZE))
			return -ENOSPC;
		if (o >= fs.size)
			return 0;
		len = fs.size - o;
	}
	/* Preallocation: every byte of a drive is there already. */
	if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0)
		return 0;
	r = write_faults(&f, o, len);
	if (r < 0)
		return r;
	throttle(f.write_rate, len < INT_MAX ? len : INT_MAX);
	drops_for(&f, o, len, &d);
	if ((r = store(NULL, o, len, &d, &stored)) < 0)
		return r;
	pthread_mutex_lock(&fs.lock);
	fs.c.bytes_zeroed += len;
	if (stored < len) {
		fs.c.bytes_dropped += len - stored;
		fs.c.drop_hits++;
	}
	pthread_mutex_unlock(&fs.lock);
	return 0;
}

/* ------------------------------------------------------------- "ctl" */

static void put_limit(FILE *m, const char *key, bool on, uint64_t v)
{
	if (on)
		fprintf(m, "%s %" PRIu64 "\n", key, v);
	else
		fprintf(m, "%s off\n", key);
}

static void put_range(FILE *m, const char *key, const struct range *r)
{
	if (r->on)
		fprintf(m, "%s %" PRIu64 ":%" PRIu64 "\n", key, r->off, r->len);
	else
		fprintf(m, "%s off\n", key);
}

static int ctl_snapshot(struct handle *h)
{
	struct counters c;
	struct faults f;
	uint64_t once_left;
	FILE *m;

	pthread_mutex_lock(&fs.lock);
	c = fs.c;
	f = fs.f;
	once_left = fs.once_left;
	pthread_mutex_unlock(&fs.lock);
	m = open_memstream(&h->text, &h->len);
	if (!m)
		return -ENOMEM;
	fprintf(m, "reads %" PRIu64 "\nwrites %" PRIu64 "\nzeroes %" PRIu64 "\n",
		c.reads, c.writes, c.zeroes);
	fprintf(m, "bytes_read %" PRIu64 "\nbytes_written %" PRIu64 "\n"
		"bytes_dropped %" PRIu64 "\nbytes_zeroed %" PRIu64 "\n",
		c.bytes_read, c.bytes_written, c.bytes_dropped, c.bytes_zeroed);
	fprintf(m, "faults_hit %" PRIu64 "\neio_read_hits %" PRIu64 "\n"
		"eio_write_hits %" PRIu64 "\nenospc_hits %" PRIu64 "\n"
		"erofs_hits %" PRIu64 "\ndrop_hits %" PRIu64 "\n"
		"short_hits %" PRIu64 "\n",
		faults_hit(&c), c.eio_read_hits, c.eio_write_hits,
		c.enospc_hits, c.erofs_hits, c.drop_hits, c.short_hits);
	fprintf(m, "drop_once_left %" PRIu64 "\n", once_left);
	fprintf(m, "size %" PRIu64 "\nreal-size %" PRIu64 "\n", fs.size, fs.real);
	put_limit(m, "drop-writes-after", f.drop_on, f.drop_after);
	put_range(m, "drop-writes-at", &f.drop_at);
	put_range(m, "drop-once-at", &f.drop_once);
	fprintf(m, "drop-count %" PRIu64 "\n", f.drop_count);
	put_range(m, "eio-read-at", &f.eio_read);
	put_range(m, "eio-write-at", &f.eio_write);
	put_limit(m, "enospc-at", f.enospc_on, f.enospc_at);
	fprintf(m, "short-writes %d\nro %d\n", f.short_writes, f.ro);
	fprintf(m, "delay-us %" PRIu64 "\nwrite-rate %" PRIu64 "\n",
		f.delay_us, f.write_rate);
	if (fclose(m) != 0) {
		free(h->text);
		h->text = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int ctl_read(const struct handle *h, char *buf, size_t len, off_t off)
{
	if (off < 0)
		return -EINVAL;
	if (!h->text || (uint64_t)off >= h->len)
		return 0;
	if (len > h->len - (size_t)off)
		len = h->len - (size_t)off;
	memcpy(buf, h->text + off, len);
	return (int)len;
}

/* A drop-once fault just set loses its next drop-count writes.  Called
 * with fs.lock held, or before the daemon serves. */
static void arm(struct faults *f)
{
	if (f->rearm)
		fs.once_left = f->drop_count;
	f->rearm = false;
}

/* Apply every line of one write, or none. */
static int ctl_write(const char *buf, size_t len)
{
	char text[CTL_MAX + 1], *line, *save = NULL;
	struct faults nf;
	bool reset = false;

	if (len > CTL_MAX)
		return -EINVAL;
	memcpy(text, buf, len);
	text[len] = '\0';
	if (strlen(text) != len)
		return -EINVAL;
	pthread_mutex_lock(&fs.lock);
	nf = fs.f;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *key, *val, *extra, *ws = NULL;

		key = strtok_r(line, " \t\r", &ws);
		if (!key || key[0] == '#')
			continue;
		val = strtok_r(NULL, " \t\r", &ws);
		extra = strtok_r(NULL, " \t\r", &ws);
		if (extra)
			goto bad;
		if (strcmp(key, "reset-counters") == 0 && !val)
			reset = true;
		else if (set_fault(&nf, key, val) < 0)
			goto bad;
	}
	/* A new rate starts from now, not from what the old one booked. */
	if (nf.write_rate != fs.f.write_rate)
		fs.booked_ns = 0;
	arm(&nf);
	fs.f = nf;
	if (reset)
		memset(&fs.c, 0, sizeof(fs.c));
	pthread_mutex_unlock(&fs.lock);
	return (int)len;
bad:
	pthread_mutex_unlock(&fs.lock);
	return -EINVAL;
}

/* ------------------------------------------------------ fuse callbacks */

static enum kind kind_of(const char *path)
{
	if (strcmp(path, "/disk") == 0)
		return DISK;
	if (strcmp(path, "/ctl") == 0)
		return CTL;
	return NONE;
}

/* The mount is served from here on: let the parent return, and let go of
 * its stdout and stderr, which may be a pipe someone reads to the end. */
static void announce_ready(void)
{
	int null;

	if (fs.foreground) {
		printf("ready\n");
		fflush(stdout);
		return;
	}
	if (fs.ready_fd < 0)
		return;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	while (write(fs.ready_fd, "R", 1) < 0 && errno == EINTR)
		;
	close(fs.ready_fd);
	fs.ready_fd = -1;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Every read and write must reach the daemon: a page cached by the
	 * kernel would let a dead card pass a read-back, and stale
	 * attributes or ctl contents would hide a change. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 1;
	announce_ready();
	return NULL;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = fs.started;
	st->st_blksize = 4096;
	if (strcmp(path, "/") == 0) {
		st->st_ino = 1;
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	switch (kind_of(path)) {
	case DISK:
		st->st_ino = 2;
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = (off_t)fs.size;
		/* A drive claims all of its blocks. */
		st->st_blocks = (blkcnt_t)((fs.size + 511) / 512);
		return 0;
	case CTL:
		/* Size 0 like a /proc file: direct_io reads ignore it. */
		st->st_ino = 3;
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		return 0;
	case NONE:
		break;
	}
	return -ENOENT;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "disk", NULL, 0, 0);
	fill(buf, "ctl", NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	enum kind k = kind_of(path);
	struct handle *h;

	if (k == NONE)
		return -ENOENT;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->kind = k;
	if (k == CTL && (fi->flags & O_ACCMODE) != O_WRONLY) {
		int r = ctl_snapshot(h);

		if (r < 0) {
			free(h);
			return r;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h) {
		free(h->text);
		free(h);
	}
	return 0;
}

/* A drive cannot change its size: truncation (dd without
 * conv=notrunc, a shell's > on ctl) succeeds and does nothing. */
static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)fi;
	if (kind_of(path) == NONE)
		return -ENOENT;
	return size < 0 ? -EINVAL : 0;
}

static int fs_read(const char *path, char *buf, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h->kind == CTL)
		return ctl_read(h, buf, len, off);
	return disk_read(buf, len, off);
}

static int fs_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h->kind == CTL)
		return ctl_write(buf, len);
	return disk_write(buf, len, off);
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)path;
	if (h->kind != DISK)
		return -EOPNOTSUPP;
	return disk_fallocate(mode, off, len);
}

/* Every write has gone to the backing file by pwrite already; whether it
 * would survive a crash of this machine does not matter to a test. */
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return 0;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.release = fs_release,
	.truncate = fs_truncate,
	.read = fs_read,
	.write = fs_write,
	.fallocate = fs_fallocate,
	.fsync = fs_fsync,
};

/* --------------------------------------------------------------- main */

static const char usage_text[] =
"usage: qfaultfs --size BYTES --backing FILE [OPTIONS] MOUNTPOINT\n"
"\n"
"Serve MOUNTPOINT/disk, a file of --size bytes that misbehaves like bad\n"
"flash media, and MOUNTPOINT/ctl to change the faults and read counters.\n"
"\n"
"  --size BYTES              the size \"disk\" claims (required)\n"
"  --backing FILE            where stored bytes live (required; created\n"
"                            sparse if missing, grown if shorter)\n"
"  --real-size BYTES         real capacity <= --size; offsets wrap modulo it\n"
"  --drop-writes-after OFF   writes at OFF or beyond are acknowledged, not\n"
"                            stored\n"
"  --drop-writes-at OFF[:LEN]\n"
"                            bytes written in the range are acknowledged,\n"
"                            never stored (LEN 4096)\n"
"  --drop-once-at OFF[:LEN]  the same for the first --drop-count writes\n"
"                            touching the range only\n"
"  --drop-count N            writes --drop-once-at loses (default 1)\n"
"  --eio-read-at OFF[:LEN]   EIO for reads touching the range (LEN 4096)\n"
"  --eio-write-at OFF[:LEN]  EIO for writes and zeroing touching the range\n"
"  --enospc-at OFF           ENOSPC for writes touching OFF or beyond\n"
"  --short-writes            each write stores and reports at most half its\n"
"                            length (512 bytes at least)\n"
"  --delay-us N              sleep N microseconds per read and write request\n"
"  --write-rate BYTES        limit writes to BYTES per second\n"
"  --ro                      writes fail with EROFS\n"
"  --pidfile FILE            write the daemon's pid to FILE\n"
"  -f, --foreground          do not detach; print \"ready\" when serving\n"
"  -d, --debug               libfuse's request trace (implies -f)\n"
"  -o OPTS                   more libfuse/mount options\n"
"  -h, --help                this text\n"
"\n"
"BYTES and OFF: decimal or 0x hex, optional K, M, G, T (powers of 1024).\n"
"Without -f, qfaultfs returns once the mount is served.  SIGTERM or\n"
"umount(8) unmount it.\n"
"\n"
"ctl takes lines \"KEY VALUE\" (KEY: a fault option without its dashes;\n"
"\"off\" turns offsets off, 0/1 for short-writes and ro; setting\n"
"drop-once-at or drop-count arms it again), \"clear\" and\n"
"\"reset-counters\"; reading it gives counters and settings as \"KEY VALUE\".\n";

enum {
	OPT_SIZE = 256,
	OPT_BACKING,
	OPT_REAL,
	OPT_PIDFILE,
	OPT_FAULT,
};

/* Fault options carry OPT_FAULT and are applied by their name. */
static const struct option longopts[] = {
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "backing", required_argument, NULL, OPT_BACKING },
	{ "real-size", required_argument, NULL, OPT_REAL },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "drop-writes-after", required_argument, NULL, OPT_FAULT },
	{ "drop-writes-at", required_argument, NULL, OPT_FAULT },
	{ "drop-once-at", required_argument, NULL, OPT_FAULT },
	{ "drop-count", required_argument, NULL, OPT_FAULT },
	{ "eio-read-at", required_argument, NULL, OPT_FAULT },
	{ "eio-write-at", required_argument, NULL, OPT_FAULT },
	{ "enospc-at", required_argument, NULL, OPT_FAULT },
	{ "short-writes", no_argument, NULL, OPT_FAULT },
	{ "delay-us", required_argument, NULL, OPT_FAULT },
	{ "write-rate", required_argument, NULL, OPT_FAULT },
	{ "ro", no_argument, NULL, OPT_FAULT },
	{ "foreground", no_argument, NULL, 'f' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void bad_usage(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("qfaultfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry qfaultfs --help.\n", stderr);
	exit(2);
}

/* Open (or create) the backing file and make it hold the real capacity;
 * a hole costs nothing, and reading it gives the zeros a new card has. */
static int open_backing(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "qfaultfs: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "qfaultfs: %s: not a regular file\n", path);
		return -1;
	}
	if ((uint64_t)st.st_size < fs.real && ftruncate(fd, (off_t)fs.real) < 0) {
		fprintf(stderr, "qfaultfs: %s: cannot grow to %" PRIu64 " bytes: %s\n",
			path, fs.real, strerror(errno));
		return -1;
	}
	return fd;
}

/* Detach: the parent stays until the child's init callback says the
 * kernel is being served (or the child dies), so whoever started us can
 * use the file as soon as we return.  Returns in the child only. */
static void detach(void)
{
	int p[2];
	pid_t pid;
	char c;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("qfaultfs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("qfaultfs: fork");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		fs.ready_fd = p[1];
		/* Out of the caller's session: its ^C or hangup must not
		 * take the mount down behind a test's cleanup. */
		setsid();
		return;
	}
	close(p[1]);
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	/* _exit: the child owns everything else (atexit handlers, leak
	 * checks) from here. */
	if (n == 1 && c == 'R')
		_exit(0);
	/* The child said why on stderr. */
	waitpid(pid, NULL, 0);
	_exit(1);
}

static char *pidfile_abs;

static void write_pidfile(void)
{
	FILE *f;

	if (!fs.pidfile)
		return;
	f = fopen(fs.pidfile, "w");
	if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
		fprintf(stderr, "qfaultfs: %s: %s\n", fs.pidfile, strerror(errno));
		exit(1);
	}
	/* Removed at the end, after the daemon has left the directory. */
	pidfile_abs = realpath(fs.pidfile, NULL);
}

static void remove_pidfile(void)
{
	if (pidfile_abs)
		unlink(pidfile_abs);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	const char *backing = NULL;
	char *mnt;
	struct fuse *f;
	struct stat st;
	bool have_size = false, have_real = false, debug = false;
	int c, idx, ret;

	while ((c = getopt_long(argc, argv, "fdo:h", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_SIZE:
			if (parse_num(optarg, true, &fs.size) < 0 || fs.size == 0)
				bad_usage("bad --size: %s", optarg);
			have_size = true;
			break;
		case OPT_REAL:
			if (parse_num(optarg, true, &fs.real) < 0 || fs.real == 0)
				bad_usage("bad --real-size: %s", optarg);
			have_real = true;
			break;
		case OPT_BACKING:
			backing = optarg;
			break;
		case OPT_PIDFILE:
			fs.pidfile = optarg;
			break;
		case OPT_FAULT:
			if (set_fault(&fs.f, longopts[idx].name,
				      optarg ? optarg : "1") < 0)
				bad_usage("bad --%s%s%s", longopts[idx].name,
					  optarg ? " " : "", optarg ? optarg : "");
			break;
		case 'f':
			fs.foreground = true;
			break;
		case 'd':
			debug = fs.foreground = true;
			break;
		case 'o':
			if (fuse_opt_add_arg(&args, "-o") < 0 ||
			    fuse_opt_add_arg(&args, optarg) < 0)
				return 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("Try qfaultfs --help.\n", stderr);
			return 2;
		}
	}
	if (!have_size)
		bad_usage("--size is required");
	if (!backing)
		bad_usage("--backing is required");
	if (optind != argc - 1)
		bad_usage("give one mount point");
	if (!have_real)
		fs.real = fs.size;
	arm(&fs.f);
	if (fs.real > fs.size)
		bad_usage("--real-size is larger than --size");
	/* The daemon leaves the working directory; unmounting at the end
	 * needs the absolute path. */
	mnt = realpath(argv[optind], NULL);
	if (!mnt || stat(mnt, &st) < 0) {
		fprintf(stderr, "qfaultfs: %s: %s\n", argv[optind], strerror(errno));
		free(mnt);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "qfaultfs: %s: not a directory\n", argv[optind]);
		free(mnt);
		return 1;
	}
	fs.fd = open_backing(backing);
	if (fs.fd < 0) {
		free(mnt);
		return 1;
	}
	fs.started = time(NULL);

	/* argv[0] first: libfuse parses the list like a command line. */
	if (fuse_opt_insert_arg(&args, 0, argv[0]) < 0 ||
	    fuse_opt_add_arg(&args, "-ofsname=qfaultfs,subtype=qfaultfs") < 0 ||
	    (debug && fuse_opt_add_arg(&args, "-d") < 0))
		return 1;
	if (!fs.foreground)
		detach();
	/* Before mounting, so a failure leaves nothing mounted; the parent
	 * returns only after init, when the file is complete. */
	write_pidfile();
	f = fuse_new(&args, &ops, sizeof(ops), NULL);
	if (!f)
		goto fail;
	if (fuse_mount(f, mnt) != 0) {
		fuse_destroy(f);
		goto fail;
	}
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		goto fail;
	}
	if (chdir("/") < 0)
		perror("qfaultfs: chdir /");
	ret = fuse_loop_mt(f, 0);
	fuse_remove_signal_handlers(fuse_get_session(f));
	fuse_unmount(f);
	fuse_destroy(f);
	fuse_opt_free_args(&args);
	remove_pidfile();
	free(mnt);
	/* A positive value is the signal that ended the loop: a clean stop. */
	return ret < 0 ? 1 : 0;
fail:
	remove_pidfile();
	free(mnt);
	return 1;
}
