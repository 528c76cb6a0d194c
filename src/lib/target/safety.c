/* safety.c - the one place that decides whether a path may be written:
 * devices that are mounted, used as swap, held by device-mapper/md or a
 * loop device, read-only, or that hold the running system or any file of
 * the source image (a backing layer, a data file) are refused, each with
 * the reason people are shown. */
#include "target/safety.h"
#include "source/source.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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

void safety_reason(struct qf_device *d, const char *fmt, ...)
{
	char text[sizeof(d->reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qf_append(d->reason, sizeof(d->reason), "; ", text);
}

void safety_refuse(struct qf_device *d, unsigned bit, const char *text)
{
	d->refusals |= bit;
	safety_reason(d, "%s", text);
}

void safety_list_add(char *buf, size_t len, const char *word)
{
	qf_append(buf, len, ", ", word);
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

	if (!qf_starts_with(source, "/dev/") || stat(source, &st) != 0 ||
	    !S_ISBLK(st.st_mode))
		return 0;
	return st.st_rdev;
}

static void load_mounts(struct safety_ctx *c)
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
			if (i == 2 && !sysfs_parse_devno(tok, &dev))
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
		qf_unescape(target);
		c->mnts[c->nmnts].dev = dev;
		c->mnts[c->nmnts].src = 0;
		if (source) {
			qf_unescape(source);
			c->mnts[c->nmnts].src = source_devno(source);
		}
		c->mnts[c->nmnts].target = qf_xstrdup(target);
		c->nmnts++;
	}
	free(line);
	fclose(f);
}

static void load_swaps(struct safety_ctx *c)
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
		qf_unescape(tok);
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
static dev_t fs_devno(const struct safety_ctx *c, dev_t dev)
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
static void add_stack(const struct safety_ctx *c, struct devset *s, dev_t dev,
		      unsigned tag, int depth)
{
	char name[64], disk[64], backing[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if (!dev || depth > MAX_STACK_DEPTH ||
	    (devset_tag(s, dev) & tag) == tag ||
	    !sysfs_devno_name(dev, name, sizeof(name)) ||
	    !sysfs_disk_of(name, disk, sizeof(disk)))
		return;
	devset_add(s, dev, tag);
	if (strcmp(name, disk) != 0)
		add_stack(c, s, sysfs_name_devno(disk), tag, depth + 1);

	snprintf(path, sizeof(path), "%s/%s/slaves", qf_sysblock, name);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		if (de->d_name[0] != '.')
			add_stack(c, s, sysfs_name_devno(de->d_name), tag, depth + 1);
	}
	if (dir)
		closedir(dir);

	if (sysfs_attr(backing, sizeof(backing),
		      "%s/%s/loop/backing_file", qf_sysblock, name) == 0 &&
	    stat(backing, &st) == 0)
		add_stack(c, s, fs_devno(c, st.st_dev), tag, depth + 1);
}

/* The local files among @sources; with @stacks also the devices under
 * each (which needs the mounts loaded). */
static void add_sources(struct safety_ctx *c, const char *const *sources,
			bool stacks)
{
	size_t alloc = 0;
	struct stat st;

	for (size_t i = 0; sources && sources[i]; i++) {
		struct safety_src *s;

		if (qf_name_is_url(sources[i]) || stat(sources[i], &st) != 0)
			continue;
		c->srcs = qf_grow(c->srcs, c->nsrcs, &alloc, sizeof(*c->srcs));
		s = &c->srcs[c->nsrcs++];
		memset(s, 0, sizeof(*s));
		s->name = sources[i];
		s->top = i == 0;
		if (S_ISREG(st.st_mode)) {
			s->file = true;
			s->dev = st.st_dev;
			s->ino = st.st_ino;
		}
		if (stacks && S_ISREG(st.st_mode))
			add_stack(c, &s->devs, fs_devno(c, st.st_dev), TAG_SOURCE, 0);
		else if (stacks && S_ISBLK(st.st_mode))
			add_stack(c, &s->devs, st.st_rdev, TAG_SOURCE, 0);
	}
}

void safety_ctx_files(struct safety_ctx *c, const char *const *sources)
{
	memset(c, 0, sizeof(*c));
	add_sources(c, sources, false);
}

void safety_ctx_init(struct safety_ctx *c, const char *const *sources)
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
	add_sources(c, sources, true);
}

void safety_ctx_free(struct safety_ctx *c)
{
	for (size_t i = 0; i < c->nmnts; i++)
		free(c->mnts[i].target);
	free(c->mnts);
	free(c->swaps);
	free(c->system.v);
	for (size_t i = 0; i < c->nsrcs; i++)
		free(c->srcs[i].devs.v);
	free(c->srcs);
}

/* Refuse @d for being (@is) or holding source file @s: the image itself,
 * or a file it reads through, named since nothing else tells which. */
static void refuse_source(const struct safety_src *s, bool is,
			  struct qf_device *d)
{
	char text[sizeof(d->reason)];

	if (s->top)
		snprintf(text, sizeof(text), "%s", is ? _("is the source image")
					     : _("holds the source image"));
	else
		snprintf(text, sizeof(text), is ? _("is a layer of the image: %s")
					 : _("holds a layer of the image: %s"),
			 s->name);
	safety_refuse(d, QF_REFUSE_SOURCE, text);
}

struct safety_member *safety_members(const char *name, bool partition,
				     size_t *n)
{
	struct safety_member *m = qf_xcalloc(1, sizeof(*m));
	size_t alloc = 1;
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	qf_scopy(m[0].name, sizeof(m[0].name), name);
	m[0].dev = sysfs_name_devno(name);
	*n = 1;
	if (partition)
		return m;
	snprintf(path, sizeof(path), "%s/%s/", qf_sysblock, name);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		char attr[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(attr, sizeof(attr), "%s/%s/%s/partition", qf_sysblock, name,
			 de->d_name);
		if (access(attr, F_OK) != 0)
			continue;
		m = qf_grow(m, *n, &alloc, sizeof(*m));
		qf_scopy(m[*n].name, sizeof(m[*n].name), de->d_name);
		m[*n].dev = sysfs_name_devno(de->d_name);
		(*n)++;
	}
	if (dir)
		closedir(dir);
	return m;
}

void safety_check_mounted(const struct safety_ctx *c,
			  const struct safety_member *m, size_t nm,
			  struct qf_device *d)
{
	char where[sizeof(d->reason)] = "";

	for (size_t i = 0; i < c->nmnts; i++) {
		for (size_t j = 0; j < nm; j++) {
			if (m[j].dev && (c->mnts[i].dev == m[j].dev ||
					 c->mnts[i].src == m[j].dev)) {
				safety_list_add(where, sizeof(where), c->mnts[i].target);
				break;
			}
		}
	}
	if (where[0]) {
		d->refusals |= QF_REFUSE_MOUNTED;
		safety_reason(d, _("mounted at %s"), where);
	}
}

void safety_check_in_use(const struct safety_ctx *c,
			 const struct safety_member *m, size_t nm,
			 struct qf_device *d)
{
	char holders[sizeof(d->reason)] = "", path[PATH_MAX];
	bool swap = false;
	struct dirent *de;
	DIR *dir;

	for (size_t j = 0; j < nm; j++) {
		for (size_t i = 0; i < c->nswaps; i++)
			if (m[j].dev && c->swaps[i] == m[j].dev)
				swap = true;
		snprintf(path, sizeof(path), "%s/%s/holders", qf_sysblock, m[j].name);
		dir = opendir(path);
		while (dir && (de = readdir(dir)))
			if (de->d_name[0] != '.')
				safety_list_add(holders, sizeof(holders), de->d_name);
		if (dir)
			closedir(dir);
	}
	if (swap) {
		safety_refuse(d, QF_REFUSE_SWAP, _("used as swap"));
	}
	if (holders[0]) {
		d->refusals |= QF_REFUSE_HELD;
		safety_reason(d, _("in use by %s"), holders);
	}
}

/* @backing: the whole disk's loop backing file, "" if none (in full:
 * d->backing_file may be cut short). */
void safety_check_stacks(const struct safety_ctx *c, dev_t dev,
			 const char *backing, struct qf_device *d)
{
	unsigned tag = devset_tag(&c->system, dev);
	struct stat st;

	if (tag) {
		d->refusals |= QF_REFUSE_SYSTEM;
		if (tag & TAG_ROOT)
			safety_reason(d, "%s",
				   _("holds the system's root filesystem"));
		if ((tag & TAG_BOOT) && !(tag & TAG_ROOT))
			safety_reason(d, _("holds the system's %s filesystem"),
				   "/boot");
		if ((tag & TAG_USR) && !(tag & TAG_ROOT))
			safety_reason(d, _("holds the system's %s filesystem"),
				   "/usr");
	}

	/* Also a loop device (or its partition) whose backing file is a
	 * source file: writing it would overwrite the image being read. */
	if (backing[0] && stat(backing, &st) != 0)
		backing = "";
	for (size_t i = 0; i < c->nsrcs; i++) {
		const struct safety_src *s = &c->srcs[i];

		if (devset_tag(&s->devs, dev) ||
		    (s->file && backing[0] && st.st_dev == s->dev &&
		     st.st_ino == s->ino)) {
			refuse_source(s, false, d);
			return;
		}
	}
}

/* Loop devices reading the file @st: writing it changes what they hold,
 * which may be a mounted filesystem. */
static void check_loop_backing(const struct stat *st, struct qf_device *d)
{
	char loops[sizeof(d->reason)] = "", backing[PATH_MAX];
	struct dirent *de;
	struct stat bst;
	DIR *dir = opendir(qf_sysblock);

	while (dir && (de = readdir(dir))) {
		if (qf_starts_with(de->d_name, "loop") &&
		    sysfs_attr(backing, sizeof(backing),
			      "%s/%s/loop/backing_file", qf_sysblock, de->d_name) == 0 &&
		    stat(backing, &bst) == 0 && bst.st_dev == st->st_dev &&
		    bst.st_ino == st->st_ino)
			safety_list_add(loops, sizeof(loops), de->d_name);
	}
	if (dir)
		closedir(dir);
	if (loops[0]) {
		d->refusals |= QF_REFUSE_HELD;
		safety_reason(d, _("in use by %s"), loops);
	}
}

void safety_check_file(const struct safety_ctx *c, const char *path,
		       const struct stat *st, struct qf_device *d)
{
	struct statvfs vfs;

	d->size = (uint64_t)st->st_size;
	for (size_t i = 0; i < c->nsrcs; i++) {
		if (c->srcs[i].file && st->st_dev == c->srcs[i].dev &&
		    st->st_ino == c->srcs[i].ino) {
			refuse_source(&c->srcs[i], true, d);
			break;
		}
	}
	check_loop_backing(st, d);
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		safety_refuse(d, QF_REFUSE_READONLY, _("on a read-only filesystem"));
}

/* A target that does not exist yet is fine if it can be created: it is
 * a file to be, unless it names a device node that is not there. */
void safety_check_missing(const char *path, struct qf_device *d)
{
	char *dir, *slash;
	struct statvfs vfs;
	struct stat st;

	if (qf_starts_with(path, "/dev/")) {
		safety_refuse(d, QF_REFUSE_NOT_FOUND, _("does not exist"));
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
		safety_reason(d, _("directory %s does not exist"), dir);
	} else if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		safety_refuse(d, QF_REFUSE_READONLY, _("on a read-only filesystem"));
	}
	free(dir);
}

static const struct {
	unsigned bit;
	const char *text;
} refusal_texts[] = {
	{ QF_REFUSE_MOUNTED, N_("mounted") },
	{ QF_REFUSE_SWAP, N_("used as swap") },
	{ QF_REFUSE_HELD, N_("in use by device-mapper, RAID or LVM") },
	{ QF_REFUSE_READONLY, N_("read-only") },
	{ QF_REFUSE_SYSTEM, N_("holds the running system") },
	{ QF_REFUSE_SOURCE, N_("holds the source image or one of its layers") },
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
