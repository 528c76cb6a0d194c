/* sysfs.c - reading sysfs attributes and naming block devices (kernel
 * name, device number, whole disk of a partition), plus the string helpers
 * the device modules share. */
#include "target/sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <ctype.h>

const char *qf_sysblock = "/sys/class/block";

void qf_scopy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

char *qf_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int vread_attr(char *buf, size_t len, const char *fmt, va_list ap)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	ssize_t n;
	int fd, r;

	buf[0] = '\0';
	r = vsnprintf(path, sizeof(path), fmt, ap);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (len > sizeof(tmp))
		len = sizeof(tmp);
	n = read(fd, tmp, len - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (n < 0)
		return r;
	tmp[n] = '\0';
	qf_scopy(buf, len, qf_trim(tmp));
	return 0;
}

/* Read a small sysfs attribute, trimmed; "" and -errno when missing. */
int sysfs_attr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread_attr(buf, len, fmt, ap);
	va_end(ap);
	return r;
}

/* A numeric attribute; 0 when missing or not a number. */
uint64_t sysfs_num(const char *fmt, ...)
{
	char buf[32], *end;
	unsigned long long v;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread_attr(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r < 0 || !buf[0])
		return 0;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || *end)
		return 0;
	return v;
}

bool sysfs_parse_devno(const char *s, dev_t *dev)
{
	unsigned ma, mi;

	if (sscanf(s, "%u:%u", &ma, &mi) != 2)
		return false;
	*dev = makedev(ma, mi);
	return true;
}

/* Device number of the block device with kernel name @name, 0 if none. */
dev_t sysfs_name_devno(const char *name)
{
	char buf[32];
	dev_t dev;

	if (sysfs_attr(buf, sizeof(buf), "%s/%s/dev", qf_sysblock, name) < 0 ||
	    !sysfs_parse_devno(buf, &dev))
		return 0;
	return dev;
}

bool sysfs_is_partition(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/partition", qf_sysblock, name);
	return access(path, F_OK) == 0;
}

/* Kernel name of the whole disk holding @name (@name itself for a disk):
 * sysfs nests a partition inside its disk's directory. */
bool sysfs_disk_of(const char *name, char *disk, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX], *slash;

	if (!sysfs_is_partition(name)) {
		qf_scopy(disk, len, name);
		return true;
	}
	snprintf(link, sizeof(link), "%s/%s", qf_sysblock, name);
	if (!realpath(link, real) || !(slash = strrchr(real, '/')))
		return false;
	*slash = '\0';
	if (!(slash = strrchr(real, '/')))
		return false;
	qf_scopy(disk, len, slash + 1);
	return true;
}

/* Kernel name of block device @dev; false if the kernel does not know it. */
bool sysfs_devno_name(dev_t dev, char *name, size_t len)
{
	char link[64], real[PATH_MAX], *slash;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev),
		 minor(dev));
	if (!realpath(link, real) || !(slash = strrchr(real, '/')))
		return false;
	qf_scopy(name, len, slash + 1);
	return true;
}

bool qf_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* mountinfo and /proc/swaps escape blanks and backslashes as \ooo. */
void qf_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Append @text to @buf after @sep (unless @buf is empty); a text that no
 * longer fits is cut, never overflowing. */
void qf_append(char *buf, size_t len, const char *sep, const char *text)
{
	size_t used = strlen(buf);

	if (used) {
		if (used + strlen(sep) + 1 >= len)
			return;
		memcpy(buf + used, sep, strlen(sep) + 1);
		used += strlen(sep);
	}
	qf_scopy(buf + used, len - used, text);
}
