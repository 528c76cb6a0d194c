/* test_devices.c - device discovery and target refusals, checked on real
 * loop devices.  Needs root and losetup; skipped (1..0) without them.
 * Everything attached or mounted here is undone on exit, also on failure. */
#include "config.h"
#include "qflash.h"
#include "tap.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define MAX_UNDO 16

static char loops[MAX_UNDO][64], mounts[MAX_UNDO][PATH_MAX],
	    dmnames[MAX_UNDO][64];
static int nloops, nmounts, ndm;

/* Undo in reverse order: mounts, then device-mapper, then loops. */
static void undo(void)
{
	while (nmounts > 0) {
		const char *m = mounts[--nmounts];
		if (sh("umount '%s' >/dev/null 2>&1", m) != 0)
			sh("umount -l '%s' >/dev/null 2>&1", m);
	}
	while (ndm > 0)
		sh("dmsetup remove --noudevsync '%s' >/dev/null 2>&1", dmnames[--ndm]);
	while (nloops > 0)
		sh("losetup -d '%s' >/dev/null 2>&1", loops[--nloops]);
}

/* Attach @file with losetup (@opts e.g. "-r"); the /dev path goes to @dev. */
static bool attach(const char *file, const char *opts, char *dev, size_t len)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	bool ok_ = false;

	if (nloops == MAX_UNDO)
		return false;
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s '%s' 2>/dev/null",
		 opts, file);
	p = popen(cmd, "r");
	if (!p)
		return false;
	if (fgets(dev, (int)len, p)) {
		dev[strcspn(dev, "\n")] = '\0';
		ok_ = strncmp(dev, "/dev/loop", 9) == 0;
	}
	if (pclose(p) != 0)
		ok_ = false;
	if (ok_)
		snprintf(loops[nloops++], sizeof(loops[0]), "%s", dev);
	return ok_;
}

static bool mount_on(const char *dev, const char *dir)
{
	if (nmounts == MAX_UNDO || mkdir(dir, 0700) != 0 ||
	    sh("mount '%s' '%s' >/dev/null 2>&1", dev, dir) != 0)
		return false;
	snprintf(mounts[nmounts++], sizeof(mounts[0]), "%s", dir);
	return true;
}

static void unmount_last(void)
{
	if (nmounts > 0)
		sh("umount '%s' >/dev/null 2>&1", mounts[--nmounts]);
}

static void make_file(const char *path, long long size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, size) != 0) {
		printf("Bail out! cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

static const char *base(const char *dev)
{
	const char *s = strrchr(dev, '/');
	return s ? s + 1 : dev;
}

/* Index of kernel name @name in a device list, -1 if absent. */
static int find(const struct qf_device *d, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return i;
	return -1;
}

static int list(const char *source, struct qf_device **d)
{
	struct qf_err e = { 0 };
	int n = qf_devices_list(source, d, &e);

	if (n < 0)
		printf("# qf_devices_list: %s\n", e.msg);
	return n;
}

static void probe(const char *path, const char *source, struct qf_device *d)
{
	struct qf_err e = { 0 };

	if (qf_device_probe(path, source, d, &e) != 0)
		printf("# qf_device_probe %s: %s\n", path, e.msg);
	printf("# %s: refusals %#x \"%s\"\n", path, d->refusals, d->reason);
}

/* Whole-disk kernel name holding "/", or false when "/" is not on a block
 * device the kernel lists (overlay or tmpfs root in a container). */
static bool root_disk(char *name, size_t len)
{
	char link[64], real[PATH_MAX], attr[PATH_MAX + 16], *slash;
	struct stat st;

	if (stat("/", &st) != 0)
		return false;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(st.st_dev),
		 minor(st.st_dev));
	if (!realpath(link, real) || !(slash = strrchr(real, '/')))
		return false;
	snprintf(attr, sizeof(attr), "%s/partition", real);
	if (access(attr, F_OK) == 0) {
		*slash = '\0';
		if (!(slash = strrchr(real, '/')))
			return false;
	}
	snprintf(name, len, "%s", slash + 1);
	return true;
}

static void test_loop_disk(const char *img, const char *dev)
{
	struct qf_device *d = NULL, p;
	char real[PATH_MAX], link[PATH_MAX + 8];
	int n, i;

	n = list(NULL, &d);
	i = find(d, n, base(dev));
	ok(i >= 0, "list has %s", dev);
	if (i >= 0) {
		ok(d[i].kind == QF_DEV_DISK, "loop device is a whole disk");
		ok(strcmp(d[i].transport, "loop") == 0, "transport is loop (%s)",
		   d[i].transport);
		ok(realpath(img, real) && strcmp(d[i].backing_file, real) == 0,
		   "backing file is %s (%s)", img, d[i].backing_file);
		is_int(d[i].size, 32 * MIB, "size from sysfs");
		is_int(d[i].logical_block, 512, "logical block size");
		ok(strcmp(d[i].path, dev) == 0, "path is %s", d[i].path);
		is_int(d[i].refusals, 0, "fresh loop device has no refusal (%s)",
		       d[i].reason);
	} else {
		for (int k = 0; k < 6; k++)
			ok(0, "listed loop device");
	}
	free(d);

	probe(dev, NULL, &p);
	ok(p.kind == QF_DEV_DISK && strcmp(p.name, base(dev)) == 0,
	   "probe names the kernel device");
	is_int(p.refusals, 0, "probe: writable");
	ok(p.reason[0] == '\0', "probe: no reason text");

	snprintf(link, sizeof(link), "%s/link", tmpdir);
	if (symlink(dev, link) == 0) {
		probe(link, NULL, &p);
		ok(strcmp(p.name, base(dev)) == 0 && strcmp(p.path, dev) == 0,
		   "a symlink is resolved to %s (%s)", dev, p.path);
	} else {
		ok(0, "symlink: %s", strerror(errno));
	}
}

static void test_readonly(const char *img, uint64_t gen_before)
{
	struct qf_device *d = NULL, p;
	char dev[64];
	int n, i;

	if (!attach(img, "-r", dev, sizeof(dev))) {
		ok(0, "losetup -r %s", img);
		return;
	}
	ok(qf_devices_generation() != gen_before,
	   "generation changes when a loop device is attached");
	probe(dev, NULL, &p);
	ok(p.refusals & QF_REFUSE_READONLY, "read-only loop is refused");
	ok(p.readonly, "readonly flag set");
	n = list(NULL, &d);
	i = find(d, n, base(dev));
	ok(i >= 0 && (d[i].refusals & QF_REFUSE_READONLY),
	   "listed read-only loop is refused");
	free(d);
}

static void test_mounted(const char *dev)
{
	struct qf_device *d = NULL, p;
	char mnt[PATH_MAX];
	uint64_t g;
	int n, i;

	if (!have("mkfs.ext4") ||
	    sh("mkfs.ext4 -q -F -L qftest '%s' >/dev/null 2>&1", dev) != 0) {
		ok(1, "mounted # SKIP mkfs.ext4 not usable");
		return;
	}
	snprintf(mnt, sizeof(mnt), "%s/mnt", tmpdir);
	g = qf_devices_generation();
	if (!mount_on(dev, mnt)) {
		ok(0, "mount %s on %s", dev, mnt);
		return;
	}
	ok(qf_devices_generation() != g, "generation changes on mount");
	probe(dev, NULL, &p);
	ok(p.refusals & QF_REFUSE_MOUNTED, "mounted device is refused");
	ok(strstr(p.reason, mnt) != NULL, "reason names the mount point");
	ok(!(p.refusals & QF_REFUSE_BUSY),
	   "BUSY is not added when MOUNTED explains it");
	ok(strstr(p.fs_summary, "ext4 qftest") != NULL,
	   "fs summary from libblkid (%s)", p.fs_summary);
	n = list(NULL, &d);
	i = find(d, n, base(dev));
	ok(i >= 0 && (d[i].refusals & QF_REFUSE_MOUNTED) &&
	   strstr(d[i].reason, mnt), "listed mounted device is refused");
	free(d);
	unmount_last();
	probe(dev, NULL, &p);
	is_int(p.refusals, 0, "no refusal once unmounted");
}

static void test_source(const char *img, const char *dev)
{
	struct qf_device *d = NULL, p;
	char other[PATH_MAX], missing[PATH_MAX];
	int n, i;

	probe(dev, img, &p);
	ok(p.refusals & QF_REFUSE_SOURCE,
	   "loop backed by the source image is refused");
	ok(strstr(p.reason, "source") != NULL, "reason mentions the source");
	n = list(img, &d);
	i = find(d, n, base(dev));
	ok(i >= 0 && (d[i].refusals & QF_REFUSE_SOURCE),
	   "listed loop backed by the source is refused");
	free(d);

	probe(img, img, &p);
	ok(p.kind == QF_DEV_FILE && (p.refusals & QF_REFUSE_SOURCE),
	   "the source file itself is refused as a target");
	ok(p.refusals & QF_REFUSE_HELD,
	   "a file backing a loop device is refused");

	snprintf(other, sizeof(other), "%s/target.img", tmpdir);
	make_file(other, MIB);
	probe(other, img, &p);
	ok(p.kind == QF_DEV_FILE && p.refusals == 0 && p.size == MIB,
	   "another regular file is a fine target");

	snprintf(missing, sizeof(missing), "%s/new.img", tmpdir);
	probe(missing, img, &p);
	ok(p.kind == QF_DEV_FILE && p.refusals == 0 && p.size == 0,
	   "a file to be created is a fine target");

	snprintf(missing, sizeof(missing), "%s/nodir/new.img", tmpdir);
	probe(missing, img, &p);
	ok(p.refusals == QF_REFUSE_NOT_FOUND,
	   "a file in a missing directory is refused");

	probe("/dev/qflash-no-such-device", NULL, &p);
	ok(p.refusals == QF_REFUSE_NOT_FOUND, "a missing /dev node is refused");

	probe("/dev/null", NULL, &p);
	ok(p.refusals == QF_REFUSE_NOT_BLOCK, "a character device is refused");
	probe(tmpdir, NULL, &p);
	ok(p.refusals == QF_REFUSE_NOT_BLOCK, "a directory is refused");
}

static void test_partitions(void)
{
	struct qf_device *d = NULL, p;
	char img[PATH_MAX], dev[64], part1[80], part2[80], mnt[PATH_MAX];
	char dm[64];
	int n, i, j, k;

	if (!have("sfdisk")) {
		ok(1, "partitions # SKIP sfdisk missing");
		return;
	}
	snprintf(img, sizeof(img), "%s/parted.img", tmpdir);
	make_file(img, 32 * MIB);
	if (sh("printf 'label: gpt\\n,8M,L\\n,,L\\n' | sfdisk -q '%s' "
	       ">/dev/null 2>&1", img) != 0 ||
	    !attach(img, "-P", dev, sizeof(dev))) {
		ok(0, "partitioned loop device");
		return;
	}
	snprintf(part1, sizeof(part1), "%sp1", dev);
	snprintf(part2, sizeof(part2), "%sp2", dev);
	/* some kernels do not scan loop partitions themselves */
	if (access(part2, F_OK) != 0)
		sh("partx -a '%s' >/dev/null 2>&1", dev);
	if (access(part2, F_OK) != 0) {
		ok(1, "partitions # SKIP no partition nodes for %s", dev);
		return;
	}

	n = list(NULL, &d);
	i = find(d, n, base(dev));
	j = find(d, n, base(part1));
	k = find(d, n, base(part2));
	ok(i >= 0 && j == i + 1 && k == i + 2,
	   "partitions follow their disk in order");
	ok(j >= 0 && d[j].kind == QF_DEV_PARTITION &&
	   strcmp(d[j].parent, base(dev)) == 0, "partition names its parent");
	ok(j >= 0 && d[j].size == 8 * MIB, "partition size");
	ok(i >= 0 && strcmp(d[i].pttype, "gpt") == 0, "disk has a gpt table");
	free(d);

	if (!have("mkfs.ext4") ||
	    sh("mkfs.ext4 -q -F -L second '%s' >/dev/null 2>&1", part2) != 0) {
		ok(1, "partition mount # SKIP mkfs.ext4 not usable");
		return;
	}
	snprintf(mnt, sizeof(mnt), "%s/pmnt", tmpdir);
	if (!mount_on(part2, mnt)) {
		ok(0, "mount %s", part2);
		return;
	}
	probe(dev, NULL, &p);
	ok((p.refusals & QF_REFUSE_MOUNTED) && strstr(p.reason, mnt),
	   "a disk with a mounted partition is refused");
	ok(strstr(p.fs_summary, "ext4 second") != NULL,
	   "disk summary lists partition filesystems (%s)", p.fs_summary);
	probe(part1, NULL, &p);
	is_int(p.refusals, 0, "its unmounted sibling partition is writable");
	probe(part2, NULL, &p);
	ok(p.refusals & QF_REFUSE_MOUNTED, "the mounted partition is refused");
	unmount_last();

	snprintf(dm, sizeof(dm), "qftest-%d", (int)getpid());
	if (!have("dmsetup") ||
	    sh("dmsetup create --noudevsync '%s' --table '0 2048 linear %s 0' "
	       ">/dev/null 2>&1", dm, part1) != 0) {
		/* The decision itself is covered by test_holders on a
		 * made-up sysfs tree; only the real stack needs dm. */
		printf("# device-mapper not usable here: real holders not tried\n");
		return;
	}
	snprintf(dmnames[ndm++], sizeof(dmnames[0]), "%s", dm);
	probe(part1, NULL, &p);
	ok(p.refusals & QF_REFUSE_HELD, "a partition under device-mapper is held");
	probe(dev, NULL, &p);
	ok(p.refusals & QF_REFUSE_HELD, "so is its disk");
}

static void test_system(void)
{
	struct qf_device *d = NULL;
	char disk[64];
	int n, i;

	if (!root_disk(disk, sizeof(disk))) {
		ok(1, "system disk # SKIP / is not on a listed block device");
		return;
	}
	n = list(NULL, &d);
	i = find(d, n, disk);
	ok(i >= 0 && (d[i].refusals & QF_REFUSE_SYSTEM),
	   "root disk %s is refused as the system disk", disk);
	ok(i >= 0 && strstr(d[i].reason, "root"), "reason: %s",
	   i >= 0 ? d[i].reason : "");
	free(d);
}

static void test_text(void)
{
	char buf[200], small[12];

	qf_refusal_text(QF_REFUSE_MOUNTED | QF_REFUSE_SYSTEM, buf, sizeof(buf));
	ok(strcmp(buf, "mounted; holds the running system") == 0,
	   "refusal text: %s", buf);
	qf_refusal_text(0, buf, sizeof(buf));
	ok(buf[0] == '\0', "no refusal, no text");
	qf_refusal_text(~0u, small, sizeof(small));
	ok(strlen(small) < sizeof(small), "text is cut to the buffer");
}

int main(void)
{
	char img1[PATH_MAX], img2[PATH_MAX], dev1[64];
	uint64_t g0, a, b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	qf_init();
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	if (!have("losetup")) {
		printf("1..0 # SKIP losetup missing\n");
		return 0;
	}
	if (!scratch_init("devices", undo))
		return 0;

	snprintf(img1, sizeof(img1), "%s/disk1.img", tmpdir);
	snprintf(img2, sizeof(img2), "%s/disk2.img", tmpdir);
	make_file(img1, 32 * MIB);
	make_file(img2, 32 * MIB);
	/* Containers often lack loop devices: that is a skip, not a failure. */
	if (!attach(img1, "", dev1, sizeof(dev1))) {
		printf("1..0 # SKIP cannot attach a loop device\n");
		return 0;
	}

	test_text();
	test_loop_disk(img1, dev1);
	g0 = qf_devices_generation();
	/* Tests running in parallel attach devices too: a few tries find a
	 * quiet moment, in which two reads must agree. */
	for (int i = 0; i < 5; i++) {
		a = qf_devices_generation();
		b = qf_devices_generation();
		if (a == b)
			break;
		usleep(200000);
	}
	ok(a == b, "generation is stable while nothing changes");
	test_readonly(img2, g0);
	test_mounted(dev1);
	test_source(img1, dev1);
	test_partitions();
	test_system();
	return tap_done();
}
