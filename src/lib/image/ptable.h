/* ptable.h - the partition-table decoder and the filesystem prober behind
 * qf_ptable_read(), usable on any random-access disk (tests feed memory);
 * devices.c probes block devices with the same prober. */
#ifndef QF_PTABLE_H
#define QF_PTABLE_H

#include "qflash.h"

#include <stddef.h>
#include <stdint.h>

/* Fill @buf with @len bytes of the disk at @off, or fail with a negative
 * errno and a message in @e. */
typedef int (*qf_disk_read_fn)(void *ctx, void *buf, size_t len, uint64_t off,
			       struct qf_err *e);

/* Decode the MBR or GPT of a disk of @disk_size bytes and probe each
 * partition's filesystem.  No table found is not
 * an error: *out gets kind "" and no partitions.  Free with
 * qf_ptable_free. */
int qf_ptable_decode(qf_disk_read_fn read, void *ctx, uint64_t disk_size,
		     struct qf_ptable **out, qf_warn_fn warn, void *warn_ctx,
		     struct qf_err *e);

/* qf_ptable_read without probing filesystems (the fs_* fields stay empty)
 * and without warnings: the table's layout only (partition ranges,
 * head_end, tail_start), cheap enough to compute when a job starts. */
int qf_ptable_read_layout(struct qf_image *img, struct qf_ptable **out,
			  struct qf_err *e);

struct qf_fs_info {
	char type[32];               /* "ext4", "vfat", "swap"... */
	char label[128];
	char uuid[64];
};

/* Ask libblkid what filesystem the bytes [off, off + len) of a disk hold.
 * Only the first 2 MiB and the last 1 MiB of the range are read (that is
 * where superblocks live); they are laid out in a sparse memfd of the
 * range's size.  Returns 0 when a filesystem was recognised, a negative
 * errno otherwise (-ENOENT: nothing found); @fs is zeroed on failure. */
int qf_fs_probe(qf_disk_read_fn read, void *ctx, uint64_t off, uint64_t len,
		struct qf_fs_info *fs);

/* The libblkid superblock probe itself, on [off, off + len) of the open
 * file or device @fd (@len 0: to its end).  Same results as qf_fs_probe. */
int qf_fs_probe_fd(int fd, uint64_t off, uint64_t len, struct qf_fs_info *fs);

#endif
