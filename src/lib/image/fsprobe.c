/* fsprobe.c - which filesystem a range of a disk holds, asked of
 * libblkid: on an open device, or on bytes read through a callback and
 * laid out in a sparse memfd. */
#include "internal.h"
#include "image/ptable.h"

#include <blkid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Superblocks sit near the start (ext*, xfs, btrfs, vfat, ...) or the end
 * (md 0.90/1.0, ZFS labels) of a filesystem. */
#define PROBE_HEAD       (2u << 20)
#define PROBE_TAIL       (1u << 20)
#define COPY_CHUNK       (1u << 20)

static int copy_range(qf_disk_read_fn read, void *ctx, int fd, uint64_t off,
		      uint64_t from, uint64_t to, uint8_t *buf)
{
	struct qf_err e = { 0 };

	while (from < to) {
		size_t n = to - from > COPY_CHUNK ? COPY_CHUNK : to - from;
		size_t done = 0;
		int r = read(ctx, buf, n, off + from, &e);

		if (r < 0)
			return r;
		/* Zero chunks stay holes: the memfd may be terabytes long. */
		while (!qf_buf_is_zero(buf, n) && done < n) {
			ssize_t w = pwrite(fd, buf + done, n - done,
					   (off_t)(from + done));
			if (w < 0)
				return -errno;
			done += w;
		}
		from += n;
	}
	return 0;
}

static void copy_value(blkid_probe pr, const char *name, char *out,
		       size_t len)
{
	const char *v = NULL;

	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
		snprintf(out, len, "%s", v);
}

int qf_fs_probe_fd(int fd, uint64_t off, uint64_t len, struct qf_fs_info *fs)
{
	blkid_probe pr;
	int r;

	memset(fs, 0, sizeof(*fs));
	if (off > INT64_MAX || len > INT64_MAX)
		return -EINVAL;
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	/* The superblocks chain is on by default and its default flags ask
	 * for TYPE, LABEL and UUID; the partitions chain is off. */
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off,
				   (blkid_loff_t)len) != 0) {
		r = -EIO;
		goto out;
	}
	r = blkid_do_safeprobe(pr);
	if (r != 0) {
		/* 1: nothing found, -2: ambivalent (several signatures) */
		r = r == -1 ? -EIO : -ENOENT;
		goto out;
	}
	copy_value(pr, "TYPE", fs->type, sizeof(fs->type));
	copy_value(pr, "LABEL", fs->label, sizeof(fs->label));
	copy_value(pr, "UUID", fs->uuid, sizeof(fs->uuid));
	r = fs->type[0] ? 0 : -ENOENT;
out:
	blkid_free_probe(pr);
	if (r < 0)
		memset(fs, 0, sizeof(*fs));
	return r;
}

int qf_fs_probe(qf_disk_read_fn read, void *ctx, uint64_t off, uint64_t len,
		struct qf_fs_info *fs)
{
	uint8_t *buf = NULL;
	uint64_t head, tail;
	int fd, r;

	memset(fs, 0, sizeof(*fs));
	if (len == 0)
		return -ENOENT;
	if (!range_inside(off, len, UINT64_MAX) || len > INT64_MAX)
		return -EINVAL;
	fd = memfd_create("qflash-probe", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
		goto out;
	}
	buf = qf_xmalloc(COPY_CHUNK);
	head = len < PROBE_HEAD ? len : PROBE_HEAD;
	tail = len > PROBE_TAIL ? len - PROBE_TAIL : 0;
	if (tail < head)
		tail = head;
	r = copy_range(read, ctx, fd, off, 0, head, buf);
	if (r < 0)
		goto out;
	/* A stream only has its head readable: probe what could be read
	 * rather than nothing. */
	copy_range(read, ctx, fd, off, tail, len, buf);
	r = qf_fs_probe_fd(fd, 0, len, fs);
out:
	free(buf);
	close(fd);
	return r;
}

