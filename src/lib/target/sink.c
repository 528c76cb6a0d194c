/* sink.c - opening, writing, zeroing and syncing the targets of a job:
 * block devices (exclusive open, BLKZEROOUT, partition re-read) and
 * regular files (created and sized, zero runs punched as holes). */
#include "target/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

/* Source of zeros for devices that cannot zero a range themselves; never
 * written, so it costs no memory beyond the kernel's zero page. */
static unsigned char zero_buf[1 << 20] __attribute__((aligned(4096)));

static int open_blockdev(struct qf_sink *s, bool direct, struct qf_err *e)
{
	int flags = O_WRONLY | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0);
	uint64_t size = 0;
	int lbs = 0;

	/* Exclusive, always: a device another program holds (a mounted
	 * file system, a second flash) is never written. */
	s->fd = open(s->path, flags);
	if (s->fd < 0 && errno == EINVAL && direct) {
		flags &= ~O_DIRECT;
		s->fd = open(s->path, flags);
	}
	if (s->fd < 0) {
		if (errno == EBUSY)
			return qf_err_set(e, EBUSY,
					  N_("%s: device is busy (in use by another program)"),
					  s->path);
		return qf_err_set(e, errno, "%s: %m", s->path);
	}
	s->direct = (flags & O_DIRECT) != 0;
	s->blockdev = true;
	if (ioctl(s->fd, BLKGETSIZE64, &size) < 0)
		return qf_err_set(e, errno, N_("%s: cannot get the device size: %m"),
				  s->path);
	s->size = size;
	if (ioctl(s->fd, BLKSSZGET, &lbs) == 0 && lbs >= 512)
		s->lbs = (unsigned)lbs;
	return 0;
}

static int open_file(struct qf_sink *s, bool direct, struct qf_err *e)
{
	int flags = O_WRONLY | O_CLOEXEC | (direct ? O_DIRECT : 0);

	s->fd = open(s->path, flags);
	if (s->fd < 0 && errno == ENOENT) {
		s->fd = open(s->path, flags | O_CREAT | O_EXCL, 0644);
		if (s->fd < 0 && errno == EINVAL && direct) {
			/* The kernel creates the file before it refuses
			 * O_DIRECT: open what it made. */
			flags &= ~O_DIRECT;
			s->fd = open(s->path, flags | O_CREAT, 0644);
		}
		if (s->fd >= 0)
			s->created = true;
	}
	if (s->fd < 0 && errno == EINVAL && direct) {
		/* Filesystems without O_DIRECT support: write through the page
		 * cache instead of failing. */
		flags &= ~O_DIRECT;
		s->fd = open(s->path, flags);
	}
	if (s->fd < 0)
		return qf_err_set(e, errno, "%s: %m", s->path);
	s->direct = (flags & O_DIRECT) != 0;
	return 0;
}

int qf_sink_open(struct qf_sink *s, const char *path, bool direct,
		 struct qf_err *e)
{
	struct stat st;
	bool exists;
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->lbs = 512;
	s->path = qf_xstrdup(path);
	exists = stat(path, &st) == 0;
	if (exists && S_ISBLK(st.st_mode)) {
		/* A device is written once, front to back: its page cache
		 * would only add a copy and dirty-page throttling (badly so
		 * with several targets), so block devices always get O_DIRECT
		 * where the device takes it. */
		ret = open_blockdev(s, true, e);
	} else if (exists && !S_ISREG(st.st_mode)) {
		ret = qf_err_set(e, EINVAL,
				 N_("%s: neither a block device nor a regular file"),
				 path);
	} else {
		ret = open_file(s, direct, e);
	}
	if (ret < 0)
		qf_sink_discard(s);
	return ret;
}

int qf_sink_set_size(struct qf_sink *s, uint64_t size, struct qf_err *e)
{
	int err = 0;

	if (s->blockdev)
		return 0;
	if (size > (uint64_t)INT64_MAX)
		err = EFBIG;
	else if (ftruncate(s->fd, (off_t)size) < 0)
		err = errno;
	if (err)
		return qf_err_set(e, err, N_("%s: cannot set the file size: %m"),
				  s->path);
	s->size = size;
	/* A file we created was empty: after extending it is all holes. */
	if (s->created)
		s->fresh = true;
	return 0;
}

static void drop_direct(struct qf_sink *s)
{
	int fl = fcntl(s->fd, F_GETFL);

	if (fl >= 0 && fcntl(s->fd, F_SETFL, fl & ~O_DIRECT) == 0)
		s->direct = false;
}

int qf_sink_write(struct qf_sink *s, const void *buf, size_t len,
		  uint64_t off, struct qf_err *e)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL && s->direct) {
				/* An unaligned tail (odd-sized image): finish
				 * through the page cache. */
				drop_direct(s);
				if (!s->direct)
					continue;
			}
			return qf_err_set(e, errno, N_("%s: write error at %llu: %m"),
					  s->path, (unsigned long long)off);
		}
		if (n == 0)
			return qf_err_set(e, ENOSPC, N_("%s: write error at %llu: %m"),
					  s->path, (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_zeros(struct qf_sink *s, uint64_t off, uint64_t len,
		       struct qf_err *e)
{
	while (len) {
		size_t n = len < sizeof(zero_buf) ? (size_t)len : sizeof(zero_buf);
		int ret = qf_sink_write(s, zero_buf, n, off, e);
		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

static bool unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL ||
	       err == ENOTTY || err == ENOSYS;
}

/* Punch a hole that reads back as zeros: 0 done, 1 the kernel will not
 * (no_punch is set and the caller falls back), or an error.  EBUSY (a
 * device whose page cache cannot be dropped) falls back too. */
static int punch(struct qf_sink *s, uint64_t off, uint64_t len,
		 struct qf_err *e)
{
	if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) == 0)
		return 0;
	if (!unsupported(errno) && errno != EBUSY)
		return qf_err_set(e, errno, N_("%s: cannot zero %llu bytes at %llu: %m"),
				  s->path, (unsigned long long)len,
				  (unsigned long long)off);
	s->no_punch = true;
	return 1;
}

static int zero_device(struct qf_sink *s, uint64_t off, uint64_t len,
		       struct qf_err *e)
{
	uint64_t a = (off + s->lbs - 1) / s->lbs * s->lbs;
	uint64_t b = (off + len) / s->lbs * s->lbs;
	uint64_t range[2];
	int ret;

	if (a >= b)
		return write_zeros(s, off, len, e);
	/* Zeroing that may unmap (thin provisioning, loop devices over
	 * sparse files, SSDs with write-zeroes) is the cheapest call that
	 * still guarantees zeros on read; the kernel refuses it rather than
	 * falling back, and BLKZEROOUT is the next best. */
	if (!s->no_punch && (ret = punch(s, a, b - a, e)) <= 0) {
		if (ret < 0)
			return ret;
		goto edges;
	}
	range[0] = a;
	range[1] = b - a;
	if (ioctl(s->fd, BLKZEROOUT, range) < 0) {
		int err = errno;
		/* A device whose page cache cannot be dropped refuses
		 * BLKZEROOUT with EBUSY: write zeros instead. */
		if (!unsupported(err) && err != EBUSY)
			return qf_err_set(e, err, N_("%s: cannot zero %llu bytes at %llu: %m"),
					  s->path, (unsigned long long)(b - a),
					  (unsigned long long)a);
		s->no_zeroout = true;
		return write_zeros(s, off, len, e);
	}
edges:
	ret = write_zeros(s, off, a - off, e);
	if (ret == 0)
		ret = write_zeros(s, b, off + len - b, e);
	return ret;
}

int qf_sink_zero(struct qf_sink *s, uint64_t off, uint64_t len,
		 struct qf_err *e)
{
	if (!len || s->fresh)
		return 0;
	if (s->blockdev) {
		if (!s->no_zeroout)
			return zero_device(s, off, len, e);
	} else if (!s->no_punch) {
		int ret = punch(s, off, len, e);
		if (ret <= 0)
			return ret;
	}
	return write_zeros(s, off, len, e);
}

int qf_sink_sync(struct qf_sink *s, struct qf_err *e)
{
	while (fdatasync(s->fd) < 0) {
		if (errno != EINTR)
			return qf_err_set(e, errno, N_("%s: sync failed: %m"), s->path);
	}
	/* The device was written around the page cache (O_DIRECT, zeroing
	 * ioctls): drop what the cache still holds of it, so that whoever
	 * reads it next (blkid, a partitioner, cmp) reads the new bytes. */
	if (s->blockdev)
		(void)ioctl(s->fd, BLKFLSBUF, 0);
	return 0;
}

int qf_sink_reread_table(struct qf_sink *s)
{
	if (!s->blockdev)
		return 0;
	return ioctl(s->fd, BLKRRPART) < 0 ? errno : 0;
}

void qf_sink_close(struct qf_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->path);
	s->path = NULL;
}

void qf_sink_discard(struct qf_sink *s)
{
	if (s->created && s->path)
		unlink(s->path);
	s->created = false;
	qf_sink_close(s);
}
