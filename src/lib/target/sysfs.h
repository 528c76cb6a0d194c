/* sysfs.h - block devices as sysfs names them, and the small string
 * helpers the device modules share (sysfs.c).  Everything is read from
 * qf_sysblock, which tests point at a made-up tree where the kernel cannot
 * produce the case (device-mapper or md holders). */
#ifndef QF_SYSFS_H
#define QF_SYSFS_H

#include "internal.h"

#include <sys/types.h>

extern const char *qf_sysblock;      /* "/sys/class/block" */

/* Copy @src into @dst of @size bytes, cut if needed, always terminated. */
void qf_scopy(char *dst, size_t size, const char *src);
char *qf_trim(char *s);
/* Read a small sysfs attribute, trimmed; "" and -errno when missing. */
int sysfs_attr(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A numeric attribute; 0 when missing or not a number. */
uint64_t sysfs_num(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool sysfs_parse_devno(const char *s, dev_t *dev);
/* Device number of the block device with kernel name @name, 0 if none. */
dev_t sysfs_name_devno(const char *name);
bool sysfs_is_partition(const char *name);
/* Kernel name of the whole disk holding @name (@name itself for a disk). */
bool sysfs_disk_of(const char *name, char *disk, size_t len);
/* Kernel name of block device @dev; false if the kernel does not know it. */
bool sysfs_devno_name(dev_t dev, char *name, size_t len);
bool qf_starts_with(const char *s, const char *prefix);
/* mountinfo and /proc/swaps escape blanks and backslashes as \ooo. */
void qf_unescape(char *s);
/* Append @text to @buf after @sep (unless @buf is empty); a text that no
 * longer fits is cut, never overflowing. */
void qf_append(char *buf, size_t len, const char *sep, const char *text);

#endif
