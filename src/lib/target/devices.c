/* devices.c - block-device discovery and target safety.  This is the one
 * place that decides whether a path may be written: it finds disks and
 * partitions in sysfs, describes them (libblkid for their contents) and
 * refuses those that are mounted, used as swap, held by device-mapper/md,
 * read-only, or that hold the running system or the source image.
 * Devices are only ever opened read-only. */
#include "source/source.h"
#include "target/devices.h"
#include "image/ptable.h"

#include <blkid.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Overridable so the holders logic can be tested on a made-up tree where
 * the kernel has no device-mapper or md. */
#ifndef SYSBLOCK
#define SYSBLOCK "/sys/class/block"
#endif
/* dm on md on loop on a partition...: deeper stacks are not real. */
#define MAX_STACK_DEPTH 8

/* Why a device is in a devset: which system mount it carries (for the
 * SYSTEM reason text), or the source image. */
enum { TAG_ROOT = 1, TAG_BOOT = 2, TAG_USR = 4, TAG_SOURCE = 8 };

static const struct {
	const char *dir;
	unsigned tag;
} system_mounts[] = {
	{ "/", TAG_ROOT },
	{ "/boot", TAG_BOOT },
	{ "/usr", TAG_USR },
};

struct mnt {
	dev_t dev;          /* major:minor from mountinfo */
	dev_t src;          /* the /dev/... source's device, 0 if none */
	char *target;
};

struct devset {
	struct {
		dev_t dev;
		unsigned tag;
	} *v;
	size_t n, cap;
};

/* What every judgement needs, gathered once per list or probe call. */
struct ctx {
	struct mnt *mnts;
	size_t nmnts;
	dev_t *swaps;
	size_t nswaps;
	struct devset system;      /* devices carrying /, /boot, /usr */
	struct devset source;      /* devices carrying the source image */
	bool src_file;             /* source is a regular file: */
	dev_t src_dev;             /*   its st_dev and st_ino */
	ino_t src_ino;
};

/* A device and the block devices whose use makes it busy: itself and,
 * for a whole disk, its partitions. */
struct member {
	char name[64];
	dev_t dev;
};

/* ------------------------------------------------------------ helpers */

static void scopy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static char *trim(char *s)
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
	scopy(buf, len, trim(tmp));
	return 0;
}

/* Read a small sysfs attribute, trimmed; "" and -errno when missing. */
static int read_attr(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int read_attr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vread_attr(buf, len, fmt, ap);
	va_end(ap);
	return r;
}

/* A numeric attribute; 0 when missing or not a number. */
static uint64_t read_num(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static uint64_t read_num(const char *fmt, ...)
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

static bool parse_devno(const char *s, dev_t *dev)
{
	unsigned ma, mi;

	if (sscanf(s, "%u:%u", &ma, &mi) != 2)
		return false;
	*dev = makedev(ma, mi);
	return true;
}

/* Device number of the block device with kernel name @name, 0 if none. */
static dev_t name_devno(const char *name)
{
	char buf[32];
	dev_t dev;

	if (read_attr(buf, sizeof(buf), SYSBLOCK "/%s/dev", name) < 0 ||
	    !parse_devno(buf, &dev))
		return 0;
	return dev;
}

static bool is_partition(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), SYSBLOCK "/%s/partition", name);
	return access(path, F_OK) == 0;
}

/* Kernel name of the whole disk holding @name (@name itself for a disk):
 * sysfs nests a partition inside its disk's directory. */
static bool disk_of(const char *name, char *disk, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX], *slash;

	if (!is_partition(name)) {
		scopy(disk, len, name);
		return true;
	}
	snprintf(link, sizeof(link), SYSBLOCK "/%s", name);
	if (!realpath(link, real) || !(slash = strrchr(real, '/')))
		return false;
	*slash = '\0';
	if (!(slash = strrchr(real, '/')))
		return false;
	scopy(disk, len, slash + 1);
	return true;
}

/* Kernel name of block device @dev; false if the kernel does not know it. */
static bool devno_name(dev_t dev, char *name, size_t len)
{
	char link[64], real[PATH_MAX], *slash;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev),
		 minor(dev));
	if (!realpath(link, real) || !(slash = strrchr(real, '/')))
		return false;
	scopy(name, len, slash + 1);
	return true;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* mountinfo and /proc/swaps escape blanks and backslashes as \ooo. */
static void unescape(char *s)
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
static void append(char *buf, size_t len, const char *sep, const char *text)
{
	size_t used = strlen(buf);

	if (used) {
		if (used + strlen(sep) + 1 >= len)
			return;
		memcpy(buf + used, sep, strlen(sep) + 1);
		used += strlen(sep);
	}
	scopy(buf + used, len - used, text);
}

/* Add a reason to the device's "; "-separated reason text. */
static void reason_add(struct qf_device *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reason_add(struct qf_device *d, const char *fmt, ...)
{
	char text[sizeof(d->reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	append(d->reason, sizeof(d->reason), "; ", text);
}

static void refuse(struct qf_device *d, unsigned bit, const char *text)
{
	d->refusals |= bit;
	reason_add(d, "%s", text);
}

static void list_add(char *buf, size_t len, const char *word)
{
	append(buf, len, ", ", word);
}

/* ------------------------------------------------------ system state */

static void devset_add(struct devset *s, dev_t dev, unsigned tag)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].dev == dev) {
			s->v[i].tag |= tag;
			return;
		}
	}
	s->v = qf_grow(s->v, s->n, &s->cap, sizeof(*s->v));
	s->v[s->n].dev = dev;
	s->v[s->n].tag = tag;
	s->n++;
}

static unsigned devset_tag(const struct devset *s, dev_t dev)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == dev)
			return s->v[i].tag;
	return 0;
}

/* Only /dev nodes are looked at: stat on other mount sources (network or
 * fuse names) could hang or mean nothing. */
static dev_t source_devno(const char *source)
{
	struct stat st;

	if (!starts_with(source, "/dev/") || stat(source, &st) != 0 ||
	    !S_ISBLK(st.st_mode))
		return 0;
	return st.st_rdev;
}

static void load_mounts(struct ctx *c)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *save, *tok;
	size_t cap = 0, alloc = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *target = NULL, *source = NULL;
		bool tail = false;
		dev_t dev = 0;
		int i = 0, k = 0;

		for (tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save), i++) {
			if (i == 2 && !parse_devno(tok, &dev))
				break;
			if (i == 4)
				target = tok;
			else if (i >= 6 && !tail && strcmp(tok, "-") == 0)
				tail = true;
			else if (tail && ++k == 2)
				source = tok;
		}
		if (!target)
			continue;
		c->mnts = qf_grow(c->mnts, c->nmnts, &alloc, sizeof(*c->mnts));
		unescape(target);
		c->mnts[c->nmnts].dev = dev;
		c->mnts[c->nmnts].src = 0;
		if (source) {
			unescape(source);
			c->mnts[c->nmnts].src = source_devno(source);
		}
		c->mnts[c->nmnts].target = qf_xstrdup(target);
		c->nmnts++;
	}
	free(line);
	fclose(f);
}

static void load_swaps(struct ctx *c)
{
	FILE *f = fopen("/proc/swaps", "re");
	char *line = NULL, *save, *tok;
	size_t cap = 0, alloc = 0;
	struct stat st;
	bool header = true;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		if (header) {
			header = false;
			continue;
		}
		tok = strtok_r(line, " \t\n", &save);
		if (!tok)
			continue;
		unescape(tok);
		/* a swap file lives on a mounted filesystem: MOUNTED covers it */
		if (stat(tok, &st) != 0 || !S_ISBLK(st.st_mode))
			continue;
		c->swaps = qf_grow(c->swaps, c->nswaps, &alloc, sizeof(*c->swaps));
		c->swaps[c->nswaps++] = st.st_rdev;
	}
	free(line);
	fclose(f);
}

/* The block device behind a filesystem's st_dev.  Filesystems such as
 * btrfs report an anonymous device number; their mount source names the
 * real one. */
static dev_t fs_devno(const struct ctx *c, dev_t dev)
{
	char link[64];

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev),
		 minor(dev));
	if (access(link, F_OK) == 0)
		return dev;
	for (size_t i = 0; i < c->nmnts; i++)
		if (c->mnts[i].dev == dev && c->mnts[i].src)
			return c->mnts[i].src;
	return 0;
}

/* Add @dev and everything under it to @s: its whole disk, the slaves of a
 * dm/md device, and the device holding a loop device's backing file.
 * Writing any of those would change what @dev reads. */
static void add_stack(const struct ctx *c, struct devset *s, dev_t dev,
		      unsigned tag, int depth)
{
	char name[64], disk[64], backing[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if (!dev || depth > MAX_STACK_DEPTH ||
	    (devset_tag(s, dev) & tag) == tag ||
	    !devno_name(dev, name, sizeof(name)) ||
	    !disk_of(name, disk, sizeof(disk)))
		return;
	devset_add(s, dev, tag);
	if (strcmp(name, disk) != 0)
		add_stack(c, s, name_devno(disk), tag, depth + 1);

	snprintf(path, sizeof(path), SYSBLOCK "/%s/slaves", name);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] != '.')
			add_stack(c, s, name_devno(de->d_name), tag, depth + 1);
	}
	if (dir)
		closedir(dir);

	if (read_attr(backing, sizeof(backing),
		      SYSBLOCK "/%s/loop/backing_file", name) == 0 &&
	    stat(backing, &st) == 0)
		add_stack(c, s, fs_devno(c, st.st_dev), tag, depth + 1);
}

/* Stat the source image into @st and, when it is a local regular file,
 * note its identity in @c: all that judging a file target needs.  False
 * when there is no local source. */
static bool source_stat(struct ctx *c, const char *source_path,
			struct stat *st)
{
	if (!source_path || qf_name_is_url(source_path) ||
	    stat(source_path, st) != 0)
		return false;
	if (S_ISREG(st->st_mode)) {
		c->src_file = true;
		c->src_dev = st->st_dev;
		c->src_ino = st->st_ino;
	}
	return true;
}

static void ctx_init(struct ctx *c, const char *source_path)
{
	struct stat st;

	memset(c, 0, sizeof(*c));
	load_mounts(c);
	load_swaps(c);
	for (size_t i = 0; i < sizeof(system_mounts) / sizeof(system_mounts[0]);
	     i++) {
		if (stat(system_mounts[i].dir, &st) == 0)
			add_stack(c, &c->system, fs_devno(c, st.st_dev),
				  system_mounts[i].tag, 0);
	}
	if (!source_stat(c, source_path, &st))
		return;
	if (S_ISREG(st.st_mode))
		add_stack(c, &c->source, fs_devno(c, st.st_dev), TAG_SOURCE, 0);
	else if (S_ISBLK(st.st_mode))
		add_stack(c, &c->source, st.st_rdev, TAG_SOURCE, 0);
}

static void ctx_free(struct ctx *c)
{
	for (size_t i = 0; i < c->nmnts; i++)
		free(c->mnts[i].target);
	free(c->mnts);
	free(c->swaps);
	free(c->system.v);
	free(c->source.v);
}

/* ------------------------------------------------------ description */

/* @name itself, plus its partitions when it is a whole disk. */
static struct member *members_of(const char *name, bool partition, size_t *n)
{
	struct member *m = qf_xcalloc(1, sizeof(*m));
	size_t alloc = 1;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	scopy(m[0].name, sizeof(m[0].name), name);
	m[0].dev = name_devno(name);
	*n = 1;
	if (partition)
		return m;
	snprintf(path, sizeof(path), SYSBLOCK "/%s/", name);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		char attr[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(attr, sizeof(attr), SYSBLOCK "/%s/%s/partition", name,
			 de->d_name);
		if (access(attr, F_OK) != 0)
			continue;
		m = qf_grow(m, *n, &alloc, sizeof(*m));
		scopy(m[*n].name, sizeof(m[*n].name), de->d_name);
		m[*n].dev = name_devno(de->d_name);
		(*n)++;
	}
	if (dir)
		closedir(dir);
	return m;
}

/* First match wins: kernel names that give the bus away, then the sysfs
 * device path (a USB stick is an "sd" disk like a SATA one). */
static const struct {
	const char *name_prefix;
	const char *path_part;
	const char *transport;
} transports[] = {
	{ "loop", NULL, "loop" },
	{ "nvme", NULL, "nvme" },
	{ "mmcblk", NULL, "mmc" },
	{ NULL, "/usb", "usb" },
	{ "vd", "/virtio", "virtio" },
	{ NULL, "/ata", "sata" },
	{ "dm-", NULL, "dm" },
	{ "md", NULL, "md" },
	{ "nbd", NULL, "nbd" },
	{ NULL, "/devices/virtual/", "virtual" },
};

static void transport_of(const char *disk, char *out, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX];

	snprintf(link, sizeof(link), SYSBLOCK "/%s", disk);
	if (!realpath(link, real))
		real[0] = '\0';
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		if ((transports[i].name_prefix &&
		     starts_with(disk, transports[i].name_prefix)) ||
		    (transports[i].path_part &&
		     strstr(real, transports[i].path_part))) {
			scopy(out, len, transports[i].transport);
			return;
		}
	}
	scopy(out, len, "scsi");
}

/* Value of "E:KEY=" in udev's database entry for @dev, if udev runs. */
static bool udev_prop(dev_t dev, const char *key, char *out, size_t len)
{
	char path[64], *line = NULL;
	size_t cap = 0, klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/run/udev/data/b%u:%u", major(dev),
		 minor(dev));
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		if (starts_with(line, "E:") &&
		    strncmp(line + 2, key, klen) == 0 && line[2 + klen] == '=') {
			scopy(out, len, trim(line + 3 + klen));
			found = out[0] != '\0';
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* The first non-empty one of @attrs (NULL-terminated) under @disk. */
static bool read_first(char *buf, size_t len, const char *disk,
		       const char *const *attrs)
{
	for (; *attrs; attrs++)
		if (read_attr(buf, len, SYSBLOCK "/%s/%s", disk, *attrs) == 0 &&
		    buf[0])
			return true;
	return false;
}

static void identity_of(const char *disk, struct qf_device *d)
{
	/* mmc cards call their model "name"; a dm device has only a name */
	static const char *const model_attrs[] = {
		"device/model", "device/name", "dm/name", NULL
	};
	static const char *const vendor_attrs[] = { "device/vendor", NULL };
	static const char *const serial_attrs[] = {
		"serial", "device/serial", "device/wwid", NULL
	};
	dev_t dev = name_devno(disk);

	if (!read_first(d->model, sizeof(d->model), disk, model_attrs))
		udev_prop(dev, "ID_MODEL", d->model, sizeof(d->model));
	read_first(d->vendor, sizeof(d->vendor), disk, vendor_attrs);
	if (starts_with(d->vendor, "0x"))    /* a PCI id (virtio), not a name */
		d->vendor[0] = '\0';
	if (!d->vendor[0])
		udev_prop(dev, "ID_VENDOR", d->vendor, sizeof(d->vendor));
	/* udev's short serial is the one printed on USB sticks' labels */
	if (!udev_prop(dev, "ID_SERIAL_SHORT", d->serial, sizeof(d->serial)))
		read_first(d->serial, sizeof(d->serial), disk, serial_attrs);
}

/* "TYPE LABEL" of the filesystem found in [off, off+size) of @fd (size 0:
 * to the end). */
static bool probe_fs(int fd, uint64_t off, uint64_t size, char *out,
		     size_t len)
{
	struct qf_fs_info fs;

	out[0] = '\0';
	if (qf_fs_probe_fd(fd, off, size, &fs) < 0)
		return false;
	scopy(out, len, fs.type);
	if (fs.label[0])
		append(out, len, " ", fs.label);
	return true;
}

/* Partition table of a whole disk and a summary of the filesystems in its
 * partitions ("vfat EFI, ext4 root"). */
static void probe_table(int fd, struct qf_device *d)
{
	blkid_probe pr = blkid_new_probe();
	blkid_partlist pl;
	const char *pt = NULL;
	int n;

	if (!pr)
		return;
	if (blkid_probe_set_device(pr, fd, 0, 0) != 0)
		goto out;
	blkid_probe_enable_superblocks(pr, 0);
	blkid_probe_enable_partitions(pr, 1);
	if (blkid_do_safeprobe(pr) != 0 ||
	    blkid_probe_lookup_value(pr, "PTTYPE", &pt, NULL) != 0)
		goto out;
	scopy(d->pttype, sizeof(d->pttype), pt);
	pl = blkid_probe_get_partitions(pr);
	n = pl ? blkid_partlist_numof_partitions(pl) : 0;
	for (int i = 0; i < n; i++) {
		blkid_partition p = blkid_partlist_get_partition(pl, i);
		blkid_loff_t start, size;
		char fs[96];

		if (!p || blkid_partition_is_extended(p))
			continue;
		start = blkid_partition_get_start(p);
		size = blkid_partition_get_size(p);
		if (start < 0 || size <= 0 || start > INT64_MAX / 512 ||
		    size > INT64_MAX / 512)
			continue;
		if (probe_fs(fd, (uint64_t)start * 512, (uint64_t)size * 512,
			     fs, sizeof(fs)))
			list_add(d->fs_summary, sizeof(d->fs_summary), fs);
	}
out:
	blkid_free_probe(pr);
}

/* Read-only state from the device itself and, when @content, what is on
 * it now (partition table, filesystems), which people choosing a target
 * want and a job's safety checks do not.  A partition without a /dev
 * node (no udev to make it) is read through its disk. */
static void probe_content(struct qf_device *d, const char *name, bool content)
{
	char path[PATH_MAX];
	uint64_t off = 0, size = 0;
	int fd, ro = 0;

	fd = open(d->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (ioctl(fd, BLKROGET, &ro) == 0 && ro)
			d->readonly = true;
	} else if (d->kind == QF_DEV_PARTITION) {
		uint64_t start = read_num(SYSBLOCK "/%s/start", name);

		snprintf(path, sizeof(path), "/dev/%s", d->parent);
		if (start > UINT64_MAX / 512 || !d->size)
			return;
		off = start * 512;
		size = d->size;
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0)
		return;
	if (content && d->kind == QF_DEV_DISK)
		probe_table(fd, d);
	if (content && !d->pttype[0])
		probe_fs(fd, off, size, d->fs_summary, sizeof(d->fs_summary));
	close(fd);
}

static void check_mounted(const struct ctx *c, const struct member *m,
			  size_t nm, struct qf_device *d)
{
	char where[sizeof(d->reason)] = "";

	for (size_t i = 0; i < c->nmnts; i++) {
		for (size_t j = 0; j < nm; j++) {
			if (m[j].dev && (c->mnts[i].dev == m[j].dev ||
					 c->mnts[i].src == m[j].dev)) {
				list_add(where, sizeof(where), c->mnts[i].target);
				break;
			}
		}
	}
	if (where[0]) {
		d->refusals |= QF_REFUSE_MOUNTED;
		reason_add(d, _("mounted at %s"), where);
	}
}

static void check_in_use(const struct ctx *c, const struct member *m,
			 size_t nm, struct qf_device *d)
{
	char holders[sizeof(d->reason)] = "", path[PATH_MAX];
	bool swap = false;
	struct dirent *de;
	DIR *dir;

	for (size_t j = 0; j < nm; j++) {
		for (size_t i = 0; i < c->nswaps; i++)
			if (m[j].dev && c->swaps[i] == m[j].dev)
				swap = true;
		snprintf(path, sizeof(path), SYSBLOCK "/%s/holders", m[j].name);
		dir = opendir(path);
		while (dir && (de = readdir(dir)))
			if (de->d_name[0] != '.')
				list_add(holders, sizeof(holders), de->d_name);
		if (dir)
			closedir(dir);
	}
	if (swap) {
		refuse(d, QF_REFUSE_SWAP, _("used as swap"));
	}
	if (holders[0]) {
		d->refusals |= QF_REFUSE_HELD;
		reason_add(d, _("in use by %s"), holders);
	}
}

/* @backing: the whole disk's loop backing file, "" if none (in full:
 * d->backing_file may be cut short). */
static void check_stacks(const struct ctx *c, dev_t dev, const char *backing,
			 struct qf_device *d)
{
	unsigned tag = devset_tag(&c->system, dev);
	struct stat st;

	if (tag) {
		d->refusals |= QF_REFUSE_SYSTEM;
		if (tag & TAG_ROOT)
			reason_add(d, "%s",
				   _("holds the system's root filesystem"));
		if ((tag & TAG_BOOT) && !(tag & TAG_ROOT))
			reason_add(d, _("holds the system's %s filesystem"),
				   "/boot");
		if ((tag & TAG_USR) && !(tag & TAG_ROOT))
			reason_add(d, _("holds the system's %s filesystem"),
				   "/usr");
	}

	/* Also a loop device (or its partition) whose backing file is the
	 * source: writing it would overwrite the image being read. */
	if (devset_tag(&c->source, dev) ||
	    (c->src_file && backing[0] && stat(backing, &st) == 0 &&
	     st.st_dev == c->src_dev && st.st_ino == c->src_ino)) {
		refuse(d, QF_REFUSE_SOURCE, _("holds the source image"));
	}
}

/* Fill @d for the kernel block device @name; @path is the node to use
 * (NULL: /dev/NAME).  Every refusal but BUSY is decided here. */
static void describe(const struct ctx *c, const char *name, const char *path,
		     bool content, struct qf_device *d)
{
	char disk[64], backing[PATH_MAX];
	struct member *m;
	uint64_t sectors;
	size_t nm;
	dev_t dev = name_devno(name);

	memset(d, 0, sizeof(*d));
	d->exists = true;
	scopy(d->name, sizeof(d->name), name);
	if (path)
		scopy(d->path, sizeof(d->path), path);
	else
		snprintf(d->path, sizeof(d->path), "/dev/%s", name);
	if (!disk_of(name, disk, sizeof(disk)))
		scopy(disk, sizeof(disk), name);
	d->kind = QF_DEV_DISK;
	if (strcmp(disk, name) != 0) {
		d->kind = QF_DEV_PARTITION;
		scopy(d->parent, sizeof(d->parent), disk);
	}

	sectors = read_num(SYSBLOCK "/%s/size", name);  /* always 512-byte */
	d->size = sectors > UINT64_MAX / 512 ? 0 : sectors * 512;
	d->logical_block = (uint32_t)read_num(SYSBLOCK
					      "/%s/queue/logical_block_size",
					      disk);
	if (!d->logical_block)
		d->logical_block = 512;
	d->removable = read_num(SYSBLOCK "/%s/removable", disk) != 0;
	d->rotational = read_num(SYSBLOCK "/%s/queue/rotational", disk) != 0;
	d->readonly = read_num(SYSBLOCK "/%s/ro", name) != 0 ||
		      read_num(SYSBLOCK "/%s/ro", disk) != 0;
	identity_of(disk, d);
	transport_of(disk, d->transport, sizeof(d->transport));
	read_attr(backing, sizeof(backing), SYSBLOCK "/%s/loop/backing_file",
		  disk);
	scopy(d->backing_file, sizeof(d->backing_file), backing);
	probe_content(d, name, content);

	m = members_of(name, d->kind == QF_DEV_PARTITION, &nm);
	check_mounted(c, m, nm, d);
	check_in_use(c, m, nm, d);
	free(m);
	if (d->readonly)
		refuse(d, QF_REFUSE_READONLY, _("read-only"));
	check_stacks(c, dev, backing, d);
}

/* ---------------------------------------------------------- listing */

/* Devices that are never targets: RAM disks, optical drives, floppies,
 * detached loop devices, unused zram, hidden multipath paths. */
static bool skip_disk(const char *disk)
{
	char backing[8];

	if (starts_with(disk, "ram") || starts_with(disk, "sr") ||
	    starts_with(disk, "fd"))
		return true;
	if (starts_with(disk, "zram") &&
	    read_num(SYSBLOCK "/%s/size", disk) == 0)
		return true;
	if (starts_with(disk, "loop") &&
	    read_attr(backing, sizeof(backing),
		      SYSBLOCK "/%s/loop/backing_file", disk) < 0)
		return true;
	return read_num(SYSBLOCK "/%s/hidden", disk) != 0;
}

struct entry {
	char name[64], disk[64];
	uint64_t partno;       /* 0 for a whole disk */
};

/* Disks in natural name order (loop2 before loop10), each followed by
 * its partitions by number. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int r = strverscmp(x->disk, y->disk);

	if (r)
		return r;
	if (x->partno != y->partno)
		return x->partno < y->partno ? -1 : 1;
	return strverscmp(x->name, y->name);
}

int qf_devices_list(const char *source_path, struct qf_device **out,
		    struct qf_err *e)
{
	struct entry *ent = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	struct ctx c;
	DIR *dir;

	*out = NULL;
	dir = opendir(SYSBLOCK);
	if (!dir) {
		int err = errno;
		return qf_err_set(e, err,
				  _("cannot list block devices in %s: %s"),
				  SYSBLOCK, strerror(err));
	}
	while ((de = readdir(dir))) {
		struct entry en;

		if (de->d_name[0] == '.')
			continue;
		memset(&en, 0, sizeof(en));
		scopy(en.name, sizeof(en.name), de->d_name);
		if (!disk_of(en.name, en.disk, sizeof(en.disk)))
			continue;
		if (strcmp(en.disk, en.name) != 0)
			en.partno = read_num(SYSBLOCK "/%s/partition", en.name);
		if (skip_disk(en.disk))
			continue;
		ent = qf_grow(ent, n, &alloc, sizeof(*ent));
		ent[n++] = en;
	}
	closedir(dir);
	if (n)
		qsort(ent, n, sizeof(*ent), entry_cmp);

	ctx_init(&c, source_path);
	*out = qf_xcalloc(n, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		describe(&c, ent[i].name, NULL, true, &(*out)[i]);
	ctx_free(&c);
	free(ent);
	return (int)n;
}

/* ---------------------------------------------------------- probing */

/* Loop devices reading the file @st: writing it changes what they hold,
 * which may be a mounted filesystem. */
static void check_loop_backing(const struct stat *st, struct qf_device *d)
{
	char loops[sizeof(d->reason)] = "", backing[PATH_MAX];
	struct dirent *de;
	struct stat bst;
	DIR *dir = opendir(SYSBLOCK);

	while (dir && (de = readdir(dir))) {
		if (starts_with(de->d_name, "loop") &&
		    read_attr(backing, sizeof(backing),
			      SYSBLOCK "/%s/loop/backing_file", de->d_name) == 0 &&
		    stat(backing, &bst) == 0 && bst.st_dev == st->st_dev &&
		    bst.st_ino == st->st_ino)
			list_add(loops, sizeof(loops), de->d_name);
	}
	if (dir)
		closedir(dir);
	if (loops[0]) {
		d->refusals |= QF_REFUSE_HELD;
		reason_add(d, _("in use by %s"), loops);
	}
}

static void probe_file(const struct ctx *c, const char *path,
		       const struct stat *st, struct qf_device *d)
{
	struct statvfs vfs;

	d->size = (uint64_t)st->st_size;
	if (c->src_file && st->st_dev == c->src_dev && st->st_ino == c->src_ino)
		refuse(d, QF_REFUSE_SOURCE, _("is the source image"));
	check_loop_backing(st, d);
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		refuse(d, QF_REFUSE_READONLY, _("on a read-only filesystem"));
}

/* A target that does not exist yet is fine if it can be created: it is
 * a file to be, unless it names a device node that is not there. */
static void probe_missing(const char *path, struct qf_device *d)
{
	char *dir, *slash;
	struct statvfs vfs;
	struct stat st;

	if (starts_with(path, "/dev/")) {
		refuse(d, QF_REFUSE_NOT_FOUND, _("does not exist"));
		return;
	}
	dir = qf_xstrdup(path);
	slash = strrchr(dir, '/');
	if (!slash) {
		free(dir);
		dir = qf_xstrdup(".");
	} else if (slash == dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		d->refusals |= QF_REFUSE_NOT_FOUND;
		reason_add(d, _("directory %s does not exist"), dir);
	} else if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		refuse(d, QF_REFUSE_READONLY, _("on a read-only filesystem"));
	}
	free(dir);
}

static int probe_path(const char *path, const char *source_path,
		      bool content, struct qf_device *out, struct qf_err *e)
{
	char real[PATH_MAX], name[64];
	struct stat st, sst;
	struct ctx c;
	int fd;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	out->kind = QF_DEV_FILE;
	if (!path || !path[0])
		return qf_err_set(e, EINVAL, "%s", _("no target path given"));
	scopy(out->path, sizeof(out->path), path);

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		/* Writing through a dangling link would create its target
		 * somewhere the user did not name. */
		if (!realpath(path, real)) {
			refuse(out, QF_REFUSE_NOT_FOUND,
			       _("is a symbolic link to nothing"));
			goto out;
		}
		path = real;
		scopy(out->path, sizeof(out->path), real);
	}
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			probe_missing(path, out);
		else {
			out->refusals |= QF_REFUSE_NOT_FOUND;
			reason_add(out, _("cannot be accessed: %s"),
				   strerror(errno));
		}
		goto out;
	}
	out->exists = true;
	if (S_ISREG(st.st_mode)) {
		/* Mounts, swaps and device stacks only matter for devices. */
		source_stat(&c, source_path, &sst);
		probe_file(&c, path, &st, out);
		goto out;
	}
	if (!S_ISBLK(st.st_mode)) {
		refuse(out, QF_REFUSE_NOT_BLOCK,
		       _("not a block device or regular file"));
		goto out;
	}
	if (!devno_name(st.st_rdev, name, sizeof(name))) {
		/* a stale node whose device is gone */
		refuse(out, QF_REFUSE_NOT_FOUND, _("no such device"));
		goto out;
	}
	ctx_init(&c, source_path);
	describe(&c, name, path, content, out);

	/* An exclusive open fails while anything holds the device; say so
	 * only when the reasons above do not already explain it. */
	fd = open(path, O_RDONLY | O_EXCL | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else if (errno == EBUSY &&
		 !(out->refusals & (QF_REFUSE_MOUNTED | QF_REFUSE_SWAP |
				    QF_REFUSE_HELD)))
		refuse(out, QF_REFUSE_BUSY, _("in use by another program"));
out:
	ctx_free(&c);
	return 0;
}

int qf_device_probe(const char *path, const char *source_path,
		    struct qf_device *out, struct qf_err *e)
{
	return probe_path(path, source_path, true, out, e);
}

int qf_device_check(const char *path, const char *source_path,
		    struct qf_device *out, struct qf_err *e)
{
	return probe_path(path, source_path, false, out, e);
}

/* ------------------------------------------------------- generation */

static uint64_t fnv1a(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_file(uint64_t h, const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return h;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		h = fnv1a(h, buf, (size_t)n);
	close(fd);
	return h;
}

/* Only sysfs attributes and two proc files are read, no device is opened:
 * cheap enough for a once-a-second refresh. */
uint64_t qf_devices_generation(void)
{
	const uint64_t basis = 0xcbf29ce484222325ULL;
	uint64_t h, sum = 0;
	char buf[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(SYSBLOCK);

	while (dir && (de = readdir(dir))) {
		uint64_t eh;

		if (de->d_name[0] == '.')
			continue;
		eh = fnv1a(basis, de->d_name, strlen(de->d_name) + 1);
		read_attr(buf, sizeof(buf), SYSBLOCK "/%s/size", de->d_name);
		eh = fnv1a(eh, buf, strlen(buf) + 1);
		read_attr(buf, sizeof(buf), SYSBLOCK "/%s/ro", de->d_name);
		eh = fnv1a(eh, buf, strlen(buf) + 1);
		if (starts_with(de->d_name, "loop")) {
			read_attr(buf, sizeof(buf),
				  SYSBLOCK "/%s/loop/backing_file", de->d_name);
			eh = fnv1a(eh, buf, strlen(buf) + 1);
		}
		/* a sum does not depend on readdir's order */
		sum += mix64(eh);
	}
	if (dir)
		closedir(dir);
	h = hash_file(basis, "/proc/self/mountinfo");
	h = hash_file(h, "/proc/swaps");
	return mix64(h ^ sum);
}

/* ------------------------------------------------------------- text */

static const struct {
	unsigned bit;
	const char *text;
} refusal_texts[] = {
	{ QF_REFUSE_MOUNTED, N_("mounted") },
	{ QF_REFUSE_SWAP, N_("used as swap") },
	{ QF_REFUSE_HELD, N_("in use by device-mapper, RAID or LVM") },
	{ QF_REFUSE_READONLY, N_("read-only") },
	{ QF_REFUSE_SYSTEM, N_("holds the running system") },
	{ QF_REFUSE_SOURCE, N_("holds the source image") },
	{ QF_REFUSE_TOO_SMALL, N_("too small for the image") },
	{ QF_REFUSE_BUSY, N_("in use by another program") },
	{ QF_REFUSE_NOT_FOUND, N_("does not exist") },
	{ QF_REFUSE_NOT_BLOCK, N_("not a block device or regular file") },
};

void qf_refusal_text(unsigned refusals, char *buf, size_t len)
{
	size_t used = 0;

	if (!buf || !len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(refusal_texts) / sizeof(refusal_texts[0]);
	     i++) {
		int r;

		if (!(refusals & refusal_texts[i].bit))
			continue;
		r = snprintf(buf + used, len - used, "%s%s", used ? "; " : "",
			     _(refusal_texts[i].text));
		if (r < 0 || (size_t)r >= len - used)
			return;
		used += (size_t)r;
	}
}
