/* devices.c - block-device discovery: disks and partitions found in
 * sysfs, described (identity from sysfs and udev, what they hold from
 * libblkid) and judged by the safety policy (safety.c), plus a cheap
 * generation token for noticing drives that come and go.  Devices are only
 * ever opened read-only. */
#include "target/safety.h"
#include "target/devices.h"
#include "image/ptable.h"
#include "source/source.h"

#include <blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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

	snprintf(link, sizeof(link), "%s/%s", qf_sysblock, disk);
	if (!realpath(link, real))
		real[0] = '\0';
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		if ((transports[i].name_prefix &&
		     qf_starts_with(disk, transports[i].name_prefix)) ||
		    (transports[i].path_part &&
		     strstr(real, transports[i].path_part))) {
			qf_scopy(out, len, transports[i].transport);
			return;
		}
	}
	qf_scopy(out, len, "scsi");
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
		if (qf_starts_with(line, "E:") &&
		    strncmp(line + 2, key, klen) == 0 && line[2 + klen] == '=') {
			qf_scopy(out, len, qf_trim(line + 3 + klen));
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
		if (sysfs_attr(buf, len, "%s/%s/%s", qf_sysblock, disk, *attrs) == 0 &&
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
	static const char *const wwn_attrs[] = { "wwid", "device/wwid", NULL };
	dev_t dev = sysfs_name_devno(disk);

	if (!read_first(d->model, sizeof(d->model), disk, model_attrs))
		udev_prop(dev, "ID_MODEL", d->model, sizeof(d->model));
	read_first(d->vendor, sizeof(d->vendor), disk, vendor_attrs);
	if (qf_starts_with(d->vendor, "0x"))    /* a PCI id (virtio), not a name */
		d->vendor[0] = '\0';
	if (!d->vendor[0])
		udev_prop(dev, "ID_VENDOR", d->vendor, sizeof(d->vendor));
	/* udev's short serial is the one printed on USB sticks' labels */
	if (!udev_prop(dev, "ID_SERIAL_SHORT", d->serial, sizeof(d->serial)))
		read_first(d->serial, sizeof(d->serial), disk, serial_attrs);
	if (!read_first(d->wwn, sizeof(d->wwn), disk, wwn_attrs))
		udev_prop(dev, "ID_WWN", d->wwn, sizeof(d->wwn));
	qf_device_slot(disk, d->slot, sizeof(d->slot));
	d->diskseq = sysfs_num("%s/%s/diskseq", qf_sysblock, disk);
}

void qf_device_slot(const char *disk, char *out, size_t len)
{
	if (!udev_prop(sysfs_name_devno(disk), "ID_PATH", out, len))
		qf_scopy(out, len, disk);
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
	qf_scopy(out, len, fs.type);
	if (fs.label[0])
		qf_append(out, len, " ", fs.label);
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
	qf_scopy(d->pttype, sizeof(d->pttype), pt);
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
			safety_list_add(d->fs_summary, sizeof(d->fs_summary), fs);
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
		uint64_t start = sysfs_num("%s/%s/start", qf_sysblock, name);

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

/* Fill @d for the kernel block device @name; @path is the node to use
 * (NULL: /dev/NAME).  Every refusal but BUSY is decided here. */
static void describe(const struct safety_ctx *c, const char *name,
		     const char *path, bool content, struct qf_device *d)
{
	char disk[64], backing[PATH_MAX];
	struct safety_member *m;
	uint64_t sectors;
	size_t nm;
	dev_t dev = sysfs_name_devno(name);

	memset(d, 0, sizeof(*d));
	d->exists = true;
	qf_scopy(d->name, sizeof(d->name), name);
	if (path)
		qf_scopy(d->path, sizeof(d->path), path);
	else
		snprintf(d->path, sizeof(d->path), "/dev/%s", name);
	if (!sysfs_disk_of(name, disk, sizeof(disk)))
		qf_scopy(disk, sizeof(disk), name);
	d->kind = QF_DEV_DISK;
	if (strcmp(disk, name) != 0) {
		d->kind = QF_DEV_PARTITION;
		qf_scopy(d->parent, sizeof(d->parent), disk);
	}

	sectors = sysfs_num("%s/%s/size", qf_sysblock, name);  /* always 512-byte */
	d->size = sectors > UINT64_MAX / 512 ? 0 : sectors * 512;
	d->logical_block = (uint32_t)sysfs_num("%s/%s/queue/logical_block_size",
					      qf_sysblock, disk);
	if (!d->logical_block)
		d->logical_block = 512;
	d->removable = sysfs_num("%s/%s/removable", qf_sysblock, disk) != 0;
	d->rotational = sysfs_num("%s/%s/queue/rotational", qf_sysblock, disk) != 0;
	d->readonly = sysfs_num("%s/%s/ro", qf_sysblock, name) != 0 ||
		      sysfs_num("%s/%s/ro", qf_sysblock, disk) != 0;
	identity_of(disk, d);
	transport_of(disk, d->transport, sizeof(d->transport));
	sysfs_attr(backing, sizeof(backing), "%s/%s/loop/backing_file", qf_sysblock,
		  disk);
	qf_scopy(d->backing_file, sizeof(d->backing_file), backing);
	probe_content(d, name, content);

	m = safety_members(name, d->kind == QF_DEV_PARTITION, &nm);
	safety_check_mounted(c, m, nm, d);
	safety_check_in_use(c, m, nm, d);
	free(m);
	if (d->readonly)
		safety_refuse(d, QF_REFUSE_READONLY, _("read-only"));
	safety_check_stacks(c, dev, backing, d);
}

/* ---------------------------------------------------------- listing */

/* Devices that are never targets: RAM disks, optical drives, floppies,
 * detached loop devices, unused zram, hidden multipath paths. */
static bool skip_disk(const char *disk)
{
	char backing[8];

	if (qf_starts_with(disk, "ram") || qf_starts_with(disk, "sr") ||
	    qf_starts_with(disk, "fd"))
		return true;
	if (qf_starts_with(disk, "zram") &&
	    sysfs_num("%s/%s/size", qf_sysblock, disk) == 0)
		return true;
	if (qf_starts_with(disk, "loop") &&
	    sysfs_attr(backing, sizeof(backing),
		      "%s/%s/loop/backing_file", qf_sysblock, disk) < 0)
		return true;
	return sysfs_num("%s/%s/hidden", qf_sysblock, disk) != 0;
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

int qf_devices_list_sources(const char *const *sources,
			    struct qf_device **out, struct qf_err *e)
{
	struct entry *ent = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	struct safety_ctx c;
	DIR *dir;

	*out = NULL;
	dir = opendir(qf_sysblock);
	if (!dir) {
		int err = errno;
		return qf_err_set(e, err,
				  N_("cannot list block devices in %s: %m"),
				  qf_sysblock);
	}
	while ((de = readdir(dir))) {
		struct entry en;

		if (de->d_name[0] == '.')
			continue;
		memset(&en, 0, sizeof(en));
		qf_scopy(en.name, sizeof(en.name), de->d_name);
		if (!sysfs_disk_of(en.name, en.disk, sizeof(en.disk)))
			continue;
		if (strcmp(en.disk, en.name) != 0)
			en.partno = sysfs_num("%s/%s/partition", qf_sysblock, en.name);
		if (skip_disk(en.disk))
			continue;
		ent = qf_grow(ent, n, &alloc, sizeof(*ent));
		ent[n++] = en;
	}
	closedir(dir);
	if (n)
		qsort(ent, n, sizeof(*ent), entry_cmp);

	safety_ctx_init(&c, sources);
	*out = qf_xcalloc(n, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		describe(&c, ent[i].name, NULL, true, &(*out)[i]);
	safety_ctx_free(&c);
	free(ent);
	return (int)n;
}

int qf_devices_list(const char *source_path, struct qf_device **out,
		    struct qf_err *e)
{
	const char *const one[] = { source_path, NULL };

	return qf_devices_list_sources(one, out, e);
}

/* ---------------------------------------------------------- probing */

static int probe_path(const char *path, const char *const *sources,
		      bool content, struct qf_device *out, struct qf_err *e)
{
	char real[PATH_MAX], name[64];
	struct stat st;
	struct safety_ctx c;
	int fd;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	out->kind = QF_DEV_FILE;
	if (!path || !path[0])
		return qf_err_set(e, EINVAL, N_("no target path given"));
	qf_scopy(out->path, sizeof(out->path), path);

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		/* Writing through a dangling link would create its target
		 * somewhere the user did not name. */
		if (!realpath(path, real)) {
			safety_refuse(out, QF_REFUSE_NOT_FOUND,
			       _("is a symbolic link to nothing"));
			goto out;
		}
		path = real;
		qf_scopy(out->path, sizeof(out->path), real);
	}
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			safety_check_missing(path, out);
		else {
			out->refusals |= QF_REFUSE_NOT_FOUND;
			safety_reason(out, _("cannot be accessed: %s"),
				   strerror(errno));
		}
		goto out;
	}
	out->exists = true;
	if (S_ISREG(st.st_mode)) {
		/* Mounts, swaps and device stacks only matter for devices. */
		safety_ctx_files(&c, sources);
		safety_check_file(&c, path, &st, out);
		goto out;
	}
	if (!S_ISBLK(st.st_mode)) {
		safety_refuse(out, QF_REFUSE_NOT_BLOCK,
		       _("not a block device or regular file"));
		goto out;
	}
	if (!sysfs_devno_name(st.st_rdev, name, sizeof(name))) {
		/* a stale node whose device is gone */
		safety_refuse(out, QF_REFUSE_NOT_FOUND, _("no such device"));
		goto out;
	}
	safety_ctx_init(&c, sources);
	describe(&c, name, path, content, out);

	/* An exclusive open fails while anything holds the device; say so
	 * only when the reasons above do not already explain it. */
	fd = open(path, O_RDONLY | O_EXCL | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else if (errno == EBUSY &&
		 !(out->refusals & (QF_REFUSE_MOUNTED | QF_REFUSE_SWAP |
				    QF_REFUSE_HELD)))
		safety_refuse(out, QF_REFUSE_BUSY, _("in use by another program"));
out:
	safety_ctx_free(&c);
	return 0;
}

int qf_device_probe_sources(const char *path, const char *const *sources,
			    struct qf_device *out, struct qf_err *e)
{
	return probe_path(path, sources, true, out, e);
}

int qf_device_probe(const char *path, const char *source_path,
		    struct qf_device *out, struct qf_err *e)
{
	const char *const one[] = { source_path, NULL };

	return probe_path(path, one, true, out, e);
}

int qf_device_check(const char *path, const char *const *sources,
		    struct qf_device *out, struct qf_err *e)
{
	return probe_path(path, sources, false, out, e);
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
	DIR *dir = opendir(qf_sysblock);

	while (dir && (de = readdir(dir))) {
		uint64_t eh;

		if (de->d_name[0] == '.')
			continue;
		eh = fnv1a(basis, de->d_name, strlen(de->d_name) + 1);
		sysfs_attr(buf, sizeof(buf), "%s/%s/size", qf_sysblock, de->d_name);
		eh = fnv1a(eh, buf, strlen(buf) + 1);
		sysfs_attr(buf, sizeof(buf), "%s/%s/ro", qf_sysblock, de->d_name);
		eh = fnv1a(eh, buf, strlen(buf) + 1);
		if (qf_starts_with(de->d_name, "loop")) {
			sysfs_attr(buf, sizeof(buf),
				  "%s/%s/loop/backing_file", qf_sysblock, de->d_name);
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
