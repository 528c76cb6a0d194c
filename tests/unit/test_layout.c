/* test_layout.c - partition-table fix-ups checked with the real tools.
 * Images are made here with sgdisk, sfdisk and mkfs on sparse files and
 * decoded through a file callback; each plan is laid over a target file
 * (the image's bytes, then the patches) which sgdisk -v, sfdisk -V and
 * fdisk -l must find sound, with the partitions where they were.  The 4Kn
 * cases look at the target through a loop device with 4096-byte sectors;
 * they need root and are skipped without it. */
#include "config.h"
#include "qflash.h"
#include "image/ptable.h"
#include "image/layout.h"
#include "bytes.h"
#include "tap.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024ull * 1024)
#define GiB (1024 * MiB)
#define TiB (1024 * GiB)
#define STREAM_HEAD (4 * MiB)

static char loops[8][64];
static int nloops;
static bool is_root;

/* ------------------------------------------------------------- commands */

/* Output (stdout and stderr) of a command in a static buffer; its exit
 * status in *rc. */
static const char *run(int *rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *run(int *rc, const char *fmt, ...)
{
	static char out[64 * 1024];
	char cmd[2 * PATH_MAX + 512];
	size_t n = 0, k;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	out[0] = '\0';
	f = popen(cmd, "r");
	if (!f) {
		*rc = -1;
		return out;
	}
	while (n < sizeof(out) - 1 &&
	       (k = fread(out + n, 1, sizeof(out) - 1 - n, f)) > 0)
		n += k;
	out[n] = '\0';
	st = pclose(f);
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	return out;
}

/* Show a tool's output as TAP diagnostics. */
static void diag(const char *out)
{
	const char *s = out, *nl;

	while (*s) {
		nl = strchr(s, '\n');
		printf("#   %.*s\n", (int)(nl ? nl - s : (long)strlen(s)), s);
		if (!nl)
			break;
		s = nl + 1;
	}
}

static void undo(void)
{
	while (nloops > 0)
		sh("losetup -d '%s' >/dev/null 2>&1", loops[--nloops]);
}

static const char *tpath(const char *name)
{
	static char bufs[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", tmpdir, name);
	return bufs[i];
}

/* -------------------------------------------------------------- images */

struct img {
	char path[PATH_MAX];
	int fd;
	uint64_t size;
	uint64_t readable;           /* reads past this fail like a stream's */
	int misses;                  /* reads that failed so */
	struct qf_ptable *pt;        /* as decoded */
};

static int img_read(void *ctx, void *buf, size_t len, uint64_t off,
		    struct qf_err *e)
{
	struct img *im = ctx;
	ssize_t n;

	if (off > im->size || len > im->size - off)
		return qf_err_set(e, EINVAL, "read past the end");
	if (off > im->readable || len > im->readable - off) {
		im->misses++;
		return qf_err_set(e, ESPIPE, "only the head can be read");
	}
	n = pread(im->fd, buf, len, (off_t)off);
	if (n != (ssize_t)len)
		return qf_err_set(e, EIO, "short read");
	return 0;
}

/* (Re)decode the image's table, as far as im->readable lets it. */
static void redecode(struct img *im)
{
	struct qf_err e = { 0 };

	qf_ptable_free(im->pt);
	im->pt = NULL;
	if (qf_ptable_decode(img_read, im, im->size, &im->pt, NULL, NULL,
			     &e) < 0) {
		printf("Bail out! cannot decode %s: %s\n", im->path, e.msg);
		exit(1);
	}
}

/* A sparse file of @size bytes, then @cmd (each %s its path) run on it,
 * then decoded.  Bails out when the tools fail: nothing else could be
 * checked. */
static void make_img(struct img *im, const char *name, uint64_t size,
		     const char *cmd)
{
	char c[2 * PATH_MAX];
	int fd;

	snprintf(im->path, sizeof(im->path), "%s", tpath(name));
	fd = open(im->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		printf("Bail out! cannot create %s: %s\n", im->path,
		       strerror(errno));
		exit(1);
	}
	close(fd);
	if (cmd) {
		snprintf(c, sizeof(c), cmd, im->path, im->path, im->path,
			 im->path);
		if (sh("(%s) >/dev/null 2>&1", c) != 0) {
			printf("Bail out! %s failed\n", c);
			exit(1);
		}
	}
	im->fd = open(im->path, O_RDONLY);
	im->size = size;
	im->readable = UINT64_MAX;
	im->misses = 0;
	im->pt = NULL;
	redecode(im);
}

static void close_img(struct img *im)
{
	if (im->fd >= 0)
		close(im->fd);
	im->fd = -1;
	qf_ptable_free(im->pt);
	im->pt = NULL;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

/* Patches sorted, disjoint and on the target, as promised. */
static bool patches_sane(const struct qf_layout *l, uint64_t tsize)
{
	int i;

	for (i = 0; i < l->npatch; i++) {
		const struct qf_patch *p = &l->patch[i];

		if (!p->data || p->len == 0 || p->off > tsize ||
		    p->len > tsize - p->off)
			return false;
		if (i > 0 && l->patch[i - 1].off + l->patch[i - 1].len > p->off)
			return false;
	}
	return true;
}

static int plan(struct img *im, uint64_t tsize, uint32_t lbs, unsigned flags,
		struct qf_layout *l, const char *what)
{
	struct qf_err e = { 0 };
	int r, i;

	r = qf_layout_plan(img_read, im, im->size, im->pt, tsize, lbs, flags,
			   l, &e);
	if (r < 0) {
		printf("# %s: plan: %s\n", what, e.msg);
		return r;
	}
	printf("# %s: adjust %#x notes %#x mismatch %d grown %d, %d patches\n",
	       what, l->adjust, l->notes, l->sector_mismatch, l->grown,
	       l->npatch);
	for (i = 0; i < l->npatch; i++)
		printf("#   patch %llu+%llu\n",
		       (unsigned long long)l->patch[i].off,
		       (unsigned long long)l->patch[i].len);
	ok(patches_sane(l, tsize),
	   "%s: patches sorted, disjoint, on the target", what);
	return 0;
}

static bool has_patch(const struct qf_layout *l, uint64_t off, uint64_t len)
{
	for (int i = 0; i < l->npatch; i++)
		if (l->patch[i].off == off && l->patch[i].len == len)
			return true;
	return false;
}

enum target_kind {
	FRESH,                       /* a blank drive */
	PATTERN,                     /* old bytes everywhere */
	KEEP,                        /* whatever the file holds already */
};

/* The target as the engine leaves it: the image's bytes (zeros too,
 * unless the drive is blank), then the patches. */
static void make_target(const struct img *im, const struct qf_layout *l,
			const char *path, uint64_t tsize, enum target_kind k)
{
	uint8_t *buf = malloc(MiB);
	uint64_t off;
	int fd, i;

	fd = open(path, O_RDWR | O_CREAT | (k == KEEP ? 0 : O_TRUNC), 0600);
	if (fd < 0 || ftruncate(fd, (off_t)tsize) != 0) {
		printf("Bail out! cannot create %s\n", path);
		exit(1);
	}
	if (k == PATTERN) {
		memset(buf, 0xa5, MiB);
		for (off = 0; off < tsize; off += MiB)
			if (pwrite(fd, buf, MiB, (off_t)off) != (ssize_t)MiB)
				break;
	}
	for (off = 0; off < im->size; off += MiB) {
		size_t n = im->size - off < MiB ? im->size - off : MiB;

		if (pread(im->fd, buf, n, (off_t)off) != (ssize_t)n)
			break;
		if ((k != FRESH || !all_zero(buf, n)) &&
		    pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			break;
	}
	for (i = 0; l && i < l->npatch; i++)
		if (pwrite(fd, l->patch[i].data, l->patch[i].len,
			   (off_t)l->patch[i].off) != (ssize_t)l->patch[i].len)
			printf("# short write of a patch\n");
	close(fd);
	free(buf);
}

/* --------------------------------------------------------------- tools */

/* Words no healthy table makes these tools say. */
static bool alarming(const char *out)
{
	static const char *const words[] = {
		"warning", "mismatch", "corrupt", "not on the end", "invalid",
		"overlap", "problem:", "identified", "error", "damaged",
		"wrong",
	};
	static const char *const all_clear[] = {
		"No errors detected", "No problems found",
	};
	char *s = strdup(out), *p;
	bool bad = false;
	size_t i;

	for (i = 0; i < sizeof(all_clear) / sizeof(all_clear[0]); i++)
		while ((p = strstr(s, all_clear[i])))
			memset(p, ' ', strlen(all_clear[i]));
	for (i = 0; i < sizeof(words) / sizeof(words[0]) && !bad; i++)
		bad = strcasestr(s, words[i]) != NULL;
	free(s);
	return bad;
}

/* sgdisk -v, sfdisk -V and fdisk -l on @dev, all content. */
static void check_tools(const char *what, const char *dev, bool gpt)
{
	const char *out;
	int rc;

	if (gpt) {
		out = run(&rc, "sgdisk -v '%s'", dev);
		if (!ok(rc == 0 && strstr(out, "No problems found") &&
			!alarming(out), "%s: sgdisk -v: no problems found",
			what))
			diag(out);
	}
	out = run(&rc, "sfdisk -V '%s'", dev);
	if (!ok(rc == 0 && strstr(out, "No errors detected") && !alarming(out),
		"%s: sfdisk -V: no errors", what))
		diag(out);
	out = run(&rc, "fdisk -l '%s'", dev);
	if (!ok(rc == 0 && !alarming(out), "%s: fdisk -l: no warning", what))
		diag(out);
}

struct dpart {
	int n;
	unsigned long long start, size;   /* in the dump's sectors */
	char rest[300];                   /* type, uuid, name, flags */
};

struct dump {
	unsigned ss;
	int count;
	struct dpart p[16];
	char label_id[64];
};

/* The partitions of `sfdisk --dump`, device names dropped. */
static bool dump(const char *dev, struct dump *d)
{
	const char *out, *line, *nl;
	int rc;

	memset(d, 0, sizeof(*d));
	d->ss = 512;
	out = run(&rc, "sfdisk --dump '%s'", dev);
	if (rc != 0) {
		diag(out);
		return false;
	}
	for (line = out; *line; line = nl + 1) {
		const char *sep = strstr(line, " : start="), *q, *c;
		struct dpart *p;

		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		if (strncmp(line, "sector-size:", 12) == 0)
			d->ss = (unsigned)strtoul(line + 12, NULL, 10);
		if (strncmp(line, "label-id:", 9) == 0)
			sscanf(line + 9, " %63s", d->label_id);
		if (!sep || sep > nl || d->count == 16)
			continue;
		p = &d->p[d->count++];
		for (q = sep; q > line && q[-1] >= '0' && q[-1] <= '9'; q--)
			;
		p->n = atoi(q);
		sscanf(sep, " : start= %llu , size= %llu", &p->start, &p->size);
		c = strstr(sep, "size=");
		c = c ? strchr(c, ',') : NULL;
		if (c && c < nl) {
			c++;
			while (*c == ' ')
				c++;
			snprintf(p->rest, sizeof(p->rest), "%.*s",
				 (int)(nl - c), c);
		}
	}
	return true;
}

/* The target's partitions are the image's at the same bytes, with the
 * same type, GUIDs, names and flags; only partition @grown has @size
 * bytes (0: unchanged). */
static void check_parts(const char *what, const struct dump *a,
			const struct dump *b, int grown, uint64_t size)
{
	bool same = a->count == b->count && a->count > 0;
	int i;

	for (i = 0; same && i < a->count; i++) {
		const struct dpart *x = &a->p[i], *y = &b->p[i];
		uint64_t want = x->n == grown ? size : x->size * a->ss;

		same = x->n == y->n && x->start * a->ss == y->start * b->ss &&
		       want == y->size * b->ss && strcmp(x->rest, y->rest) == 0;
		if (!same)
			printf("# partition %d: %llu+%llu (%u) %s\n",
			       x->n, x->start, x->size, a->ss, x->rest);
		if (!same)
			printf("#  became %d: %llu+%llu (%u) %s\n", y->n,
			       y->start, y->size, b->ss, y->rest);
	}
	ok(same && strcmp(a->label_id, b->label_id) == 0,
	   "%s: %d partitions at the same bytes, same types, GUIDs and names%s",
	   what, a->count, grown ? ", one grown" : "");
}

static uint64_t le32_at(const char *path, uint64_t off)
{
	uint8_t b[4] = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, b, 4, (off_t)off) != 4)
			memset(b, 0, 4);
		close(fd);
	}
	return get_le32(b);
}

static bool bytes_are(const char *path, uint64_t off, const char *s,
		      size_t n)
{
	char b[16] = { 0 };
	int fd = open(path, O_RDONLY);
	bool same = false;

	if (fd >= 0) {
		same = pread(fd, b, n, (off_t)off) == (ssize_t)n &&
		       memcmp(b, s, n) == 0;
		close(fd);
	}
	return same;
}

static bool attach(const char *file, const char *opts, char *dev, size_t len)
{
	const char *out;
	int rc;

	if (nloops == 8)
		return false;
	out = run(&rc, "losetup -f --show %s '%s'", opts, file);
	if (rc != 0 || strncmp(out, "/dev/loop", 9) != 0) {
		diag(out);
		return false;
	}
	snprintf(dev, len, "%.*s", (int)strcspn(out, "\n"), out);
	snprintf(loops[nloops++], sizeof(loops[0]), "%s", dev);
	return true;
}

static void detach_last(void)
{
	if (nloops > 0)
		sh("losetup -d '%s' >/dev/null 2>&1", loops[--nloops]);
}

/* Partition nodes appear a moment after attaching; some kernels need
 * partx to add them at all. */
static bool wait_part(const char *dev, int n)
{
	char part[80];
	int i;

	snprintf(part, sizeof(part), "%sp%d", dev, n);
	for (i = 0; i < 40 && access(part, F_OK) != 0; i++) {
		if (i == 10)
			sh("partx -a '%s' >/dev/null 2>&1", dev);
		usleep(50000);
	}
	return access(part, F_OK) == 0;
}


/* --------------------------------------------------------------- cases */

#define SGDISK_2 "sgdisk -o -n1:2048:+8M -t1:ef00 -c1:EFI " \
	"-n2:0:+16M -t2:8300 -c2:root %s"
/* The same with an ext4 in partition 2, 4 KiB blocks so that a 4Kn
 * device can hold it too. */
#define SGDISK_2_FS SGDISK_2 " && mkfs.ext4 -q -F -b 4096 -L qfroot %s.fs 16M" \
	" && dd if=%s.fs of=%s bs=1M seek=9 conv=notrunc status=none"
#define SFDISK_PRIMARY \
	"printf 'label: dos\\n,8M,83\\n,16M,83\\n' | sfdisk -q %s"
#define SFDISK_LOGICAL \
	"printf 'label: dos\\n,8M,83\\n,,E\\n,8M,83\\n,8M,83\\n' | sfdisk -q %s"

/* A target built from @l, checked with the tools, its partitions
 * compared with the image's. */
static void check_target_ref(const char *what, const struct img *im,
			     const struct dump *ref, const struct qf_layout *l,
			     const char *name, uint64_t tsize,
			     enum target_kind k, bool gpt)
{
	const char *t = tpath(name);
	struct dump a, b;

	make_target(im, l, t, tsize, k);
	check_tools(what, t, gpt);
	if (!ref && dump(im->path, &a))
		ref = &a;
	if (ok(ref && dump(t, &b), "%s: sfdisk --dump", what))
		check_parts(what, ref, &b, l->grown, l->grown_size);
}

static void check_target(const char *what, const struct img *im,
			 const struct qf_layout *l, const char *name,
			 uint64_t tsize, enum target_kind k, bool gpt)
{
	check_target_ref(what, im, NULL, l, name, tsize, k, gpt);
}

static void test_gpt_larger(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t isz = 64 * MiB, tsz = 256 * MiB;
	const char *t = tpath("old.target");

	make_img(&im, "gpt.img", isz, SGDISK_2);
	ok(strcmp(im.pt->kind, "gpt") == 0 && im.pt->count == 2 &&
	   im.pt->sector_size == 512, "gpt image: 2 partitions");

	if (plan(&im, tsz, 512, 0, &l, "gpt larger") == 0) {
		is_int(l.adjust, QF_ADJ_BACKUP_MOVED | QF_ADJ_PMBR_RESIZED,
		       "gpt larger: backup moved, protective MBR resized");
		ok(!l.sector_mismatch && l.grown == 0 && l.notes == 0,
		   "gpt larger: nothing grown, no note");
		ok(l.npatch == 3 && has_patch(&l, 0, 1024) &&
		   has_patch(&l, isz - 33 * 512, 33 * 512) &&
		   has_patch(&l, tsz - 33 * 512, 33 * 512),
		   "gpt larger: MBR and header, old backup, new backup");
		ok(l.npatch == 3 && all_zero(l.patch[1].data, l.patch[1].len),
		   "gpt larger: the old backup becomes zeros");
		check_target("gpt larger", &im, &l, "larger.target", tsz,
			     PATTERN, true);
		t = tpath("larger.target");
		is_int(le32_at(t, 446 + 12), tsz / 512 - 1,
		       "gpt larger: protective entry covers the target");
		ok(!bytes_are(t, isz - 512, "EFI PART", 8) &&
		   bytes_are(t, tsz - 512, "EFI PART", 8),
		   "gpt larger: backup header at the end, none mid-disk");

		/* the drive held a GPT of its own before */
		t = tpath("old.target");
		make_target(&im, NULL, t, tsz, FRESH);
		sh("sgdisk -o -n1:0:+100M -n2:0:0 '%s' >/dev/null 2>&1", t);
		check_target("gpt over an old gpt", &im, &l, "old.target", tsz,
			     KEEP, true);
		qf_layout_free(&l);
	}

	if (plan(&im, tsz, 512, QF_LAYOUT_GROW, &l, "gpt grow") == 0) {
		is_int(l.adjust, QF_ADJ_BACKUP_MOVED | QF_ADJ_PMBR_RESIZED |
		       QF_ADJ_PART_GROWN, "gpt grow: adjusted and grown");
		ok(l.grown == 2 && l.grown_start == 9 * MiB &&
		   l.grown_old_size == 16 * MiB &&
		   l.grown_size == 255 * MiB - 9 * MiB,
		   "gpt grow: partition 2 grown to 255 MiB, before the backup");
		ok(l.npatch == 3 && has_patch(&l, 0, 34 * 512) &&
		   has_patch(&l, isz - 33 * 512, 33 * 512) &&
		   has_patch(&l, tsz - 33 * 512, 33 * 512),
		   "gpt grow: head with entries, old backup, new backup");
		check_target("gpt grow", &im, &l, "grow.target", tsz, FRESH,
			     true);
		qf_layout_free(&l);
	}

	if (plan(&im, isz, 512, QF_LAYOUT_GROW, &l, "gpt grow in place") == 0) {
		ok(l.adjust == QF_ADJ_PART_GROWN && l.grown == 2 &&
		   l.grown_size == 63 * MiB - 9 * MiB,
		   "gpt grow in place: grown to 63 MiB, backup not moved");
		ok(l.npatch == 2 && has_patch(&l, 512, 33 * 512) &&
		   has_patch(&l, isz - 33 * 512, 33 * 512),
		   "gpt grow in place: header with entries, backup rewritten");
		check_target("gpt grow in place", &im, &l, "inplace.target",
			     isz, FRESH, true);
		qf_layout_free(&l);
	}

	if (plan(&im, isz, 512, 0, &l, "gpt same size") == 0) {
		ok(l.npatch == 0 && l.adjust == 0 && l.notes == 0 &&
		   !l.sector_mismatch, "gpt same size: no patches");
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 512, QF_LAYOUT_EXACT | QF_LAYOUT_GROW, &l,
		 "gpt exact") == 0) {
		ok(l.npatch == 0 && l.adjust == 0 && !l.sector_mismatch,
		   "gpt exact: no patches, even with grow");
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 4096, QF_LAYOUT_EXACT, &l, "gpt exact 4kn") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch,
		   "gpt exact onto 4Kn: no patches, sector size mismatch");
		qf_layout_free(&l);
	}
	{
		struct qf_err e = { 0 };

		is_int(qf_layout_plan(img_read, &im, isz, im.pt, isz - MiB,
				      512, 0, &l, &e), -ENOSPC,
		       "smaller target refused (%s)", e.msg);
		ok(l.npatch == 0 && l.patch == NULL,
		   "smaller target: no patches");
	}
	close_img(&im);
}

/* The last partition already fills the disk: nothing to grow. */
static void test_gpt_full(void)
{
	struct img im;
	struct qf_layout l;

	make_img(&im, "full.img", 64 * MiB,
		 "sgdisk -o -n1:2048:+8M -n2:0:+8M -n3:0:0 %s");
	if (plan(&im, 64 * MiB, 512, QF_LAYOUT_GROW, &l, "gpt full") == 0) {
		ok(l.npatch == 0 && l.grown == 0 &&
		   l.notes == QF_LAYOUT_NOTE_NO_ROOM,
		   "gpt full: not grown, no patches, no-room note (%s)",
		   qf_layout_note_text(QF_LAYOUT_NOTE_NO_ROOM));
		qf_layout_free(&l);
	}
	if (plan(&im, 128 * MiB, 512, QF_LAYOUT_GROW, &l,
		 "gpt full, larger") == 0) {
		ok(l.grown == 3 && l.grown_size > l.grown_old_size,
		   "gpt full onto a larger target: partition 3 grown");
		check_target("gpt full, larger", &im, &l, "full.target",
			     128 * MiB, FRESH, true);
		qf_layout_free(&l);
	}
	close_img(&im);
}

/* Past 2 TiB the protective entry says 0xFFFFFFFF; the GPT grows on. */
static void test_gpt_huge(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t tsz = 3 * TiB;

	make_img(&im, "gpt.img", 64 * MiB, SGDISK_2);
	if (plan(&im, tsz, 512, QF_LAYOUT_GROW, &l, "gpt 3 TiB") == 0) {
		ok(l.grown == 2 && l.grown_size == tsz - MiB - 9 * MiB,
		   "gpt 3 TiB: partition 2 grown to 3 TiB - 1 MiB");
		check_target("gpt 3 TiB", &im, &l, "huge.target", tsz, FRESH,
			     true);
		is_int(le32_at(tpath("huge.target"), 446 + 12), 0xffffffffu,
		       "gpt 3 TiB: protective entry capped at 0xFFFFFFFF");
		qf_layout_free(&l);
		unlink(tpath("huge.target"));
	}
	close_img(&im);
}

/* A compressed stream can be read only in its first 4 MiB before it is
 * written: the GPT fix-up needs nothing more. */
static void test_stream(void)
{
	struct img im;
	struct qf_layout l, ref;
	bool same;
	int i;

	make_img(&im, "gpt.img", 64 * MiB, SGDISK_2);
	if (plan(&im, 256 * MiB, 512, QF_LAYOUT_GROW, &ref, "file") < 0)
		return;
	im.readable = STREAM_HEAD;
	redecode(&im);
	ok(strcmp(im.pt->kind, "gpt") == 0 && im.pt->count == 2,
	   "stream: the table decodes from the head");
	im.misses = 0;
	if (plan(&im, 256 * MiB, 512, QF_LAYOUT_GROW, &l, "stream") == 0) {
		is_int(im.misses, 0, "stream: nothing read past the head");
		same = l.npatch == ref.npatch && l.adjust == ref.adjust &&
		       l.grown == ref.grown && l.grown_size == ref.grown_size;
		for (i = 0; same && i < l.npatch; i++)
			same = l.patch[i].off == ref.patch[i].off &&
			       l.patch[i].len == ref.patch[i].len &&
			       memcmp(l.patch[i].data, ref.patch[i].data,
				      l.patch[i].len) == 0;
		ok(same, "stream: the same patches as from the whole file");
		check_target("stream", &im, &l, "stream.target", 256 * MiB,
			     FRESH, true);
		qf_layout_free(&l);
	}
	im.misses = 0;
	if (plan(&im, 256 * MiB, 4096, 0, &l, "stream to 4Kn") == 0) {
		ok(im.misses == 0 && (l.adjust & QF_ADJ_SECTOR_SIZE) &&
		   !l.sector_mismatch,
		   "stream to 4Kn: converted from the head alone");
		qf_layout_free(&l);
	}
	qf_layout_free(&ref);
	close_img(&im);
}

static void test_gpt_backup_only(void)
{
	struct img im;
	struct qf_layout l;
	int fd;

	make_img(&im, "backup.img", 64 * MiB, SGDISK_2);
	/* a flipped byte in the primary header breaks its CRC */
	fd = open(im.path, O_RDWR);
	if (fd < 0 || pwrite(fd, "\x7f", 1, 512 + 40) != 1)
		printf("# cannot damage the primary header\n");
	if (fd >= 0)
		close(fd);
	redecode(&im);
	ok(im.pt->used_backup, "damaged primary: decoder used the backup");
	if (plan(&im, 256 * MiB, 512, QF_LAYOUT_GROW, &l, "backup only") == 0) {
		ok(l.npatch == 0 && l.grown == 0 &&
		   l.notes == QF_LAYOUT_NOTE_BACKUP_ONLY,
		   "damaged primary: no fix-up, a note (%s)",
		   qf_layout_note_text(l.notes));
		qf_layout_free(&l);
	}
	if (plan(&im, 256 * MiB, 4096, 0, &l, "backup only 4kn") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch,
		   "damaged primary onto 4Kn: sector size mismatch");
		qf_layout_free(&l);
	}
	close_img(&im);
}

/* A hybrid MBR's entries mean something to another system: kept. */
static void test_hybrid(void)
{
	struct img im;
	struct qf_layout l;
	uint8_t a[512], b[512];
	int fd;

	make_img(&im, "hybrid.img", 64 * MiB, SGDISK_2 " && sgdisk -h 1 %s");
	ok(im.pt->hybrid_mbr, "hybrid MBR made");
	if (plan(&im, 256 * MiB, 512, 0, &l, "hybrid") == 0) {
		ok(l.adjust == QF_ADJ_BACKUP_MOVED &&
		   l.notes == QF_LAYOUT_NOTE_MBR_KEPT,
		   "hybrid: backup moved, MBR kept with a note");
		check_target("hybrid", &im, &l, "hybrid.target", 256 * MiB,
			     FRESH, true);
		fd = open(tpath("hybrid.target"), O_RDONLY);
		ok(fd >= 0 && pread(fd, b, 512, 0) == 512 &&
		   pread(im.fd, a, 512, 0) == 512 && memcmp(a, b, 512) == 0,
		   "hybrid: the MBR sector is the image's");
		if (fd >= 0)
			close(fd);
		qf_layout_free(&l);
	}
	if (plan(&im, 256 * MiB, 4096, 0, &l, "hybrid 4kn") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch &&
		   (l.notes & QF_LAYOUT_NOTE_NO_CONVERT),
		   "hybrid onto 4Kn: not converted, mismatch");
		qf_layout_free(&l);
	}
	close_img(&im);
}

static void test_no_table(void)
{
	struct img im;
	struct qf_layout l;

	make_img(&im, "blank.img", 8 * MiB, NULL);
	if (plan(&im, 64 * MiB, 4096, QF_LAYOUT_GROW, &l, "no table") == 0) {
		ok(l.npatch == 0 && l.adjust == 0 && l.notes == 0 &&
		   !l.sector_mismatch, "no table: nothing to do");
		qf_layout_free(&l);
	}
	close_img(&im);
}

static void test_mbr_primary(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t tsz = 256 * MiB;

	make_img(&im, "mbr.img", 64 * MiB, SFDISK_PRIMARY);
	ok(strcmp(im.pt->kind, "dos") == 0 && im.pt->count == 2,
	   "mbr image made");
	if (plan(&im, tsz, 512, 0, &l, "mbr larger") == 0) {
		ok(l.npatch == 0 && l.adjust == 0,
		   "mbr larger: an MBR needs nothing");
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 512, QF_LAYOUT_GROW, &l, "mbr grow") == 0) {
		ok(l.adjust == QF_ADJ_PART_GROWN && l.grown == 2 &&
		   l.grown_start == 9 * MiB && l.grown_old_size == 16 * MiB &&
		   l.grown_size == tsz - 9 * MiB,
		   "mbr grow: partition 2 to the end of the target");
		ok(l.npatch == 1 && has_patch(&l, 0, 512),
		   "mbr grow: one patch, the MBR");
		check_target("mbr grow", &im, &l, "mbr.target", tsz, PATTERN,
			     false);
		qf_layout_free(&l);
	}
	if (plan(&im, tsz + 512 * 1000, 512, QF_LAYOUT_GROW, &l,
		 "mbr grow unaligned") == 0) {
		ok(l.grown_size == tsz - 9 * MiB,
		   "mbr grow: the end aligned down to 1 MiB");
		check_target("mbr grow unaligned", &im, &l, "mbr.target",
			     tsz + 512 * 1000, FRESH, false);
		qf_layout_free(&l);
	}
	if (plan(&im, 3 * TiB, 512, QF_LAYOUT_GROW, &l, "mbr 3 TiB") == 0) {
		ok(l.grown == 2 &&
		   l.grown_start + l.grown_size == 2 * TiB - MiB &&
		   (l.notes & QF_LAYOUT_NOTE_MBR_LIMIT),
		   "mbr 3 TiB: grown to 2 TiB - 1 MiB, noted (%s)",
		   qf_layout_note_text(QF_LAYOUT_NOTE_MBR_LIMIT));
		check_target("mbr 3 TiB", &im, &l, "mbr3t.target", 3 * TiB,
			     FRESH, false);
		unlink(tpath("mbr3t.target"));
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 4096, QF_LAYOUT_GROW, &l, "mbr 4kn") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch &&
		   l.notes == QF_LAYOUT_NOTE_NO_CONVERT,
		   "mbr onto 4Kn: no patches, mismatch (%s)",
		   qf_layout_note_text(QF_LAYOUT_NOTE_NO_CONVERT));
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 4096, QF_LAYOUT_GROW | QF_LAYOUT_FORCE, &l,
		 "mbr 4kn forced") == 0) {
		ok(l.sector_mismatch && l.grown == 2 && l.npatch == 1,
		   "mbr onto 4Kn forced: grown in 512-byte units, mismatch");
		qf_layout_free(&l);
	}
	close_img(&im);
}

static void test_mbr_logical(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t tsz = 256 * MiB;
	struct dump a;

	make_img(&im, "logical.img", 64 * MiB, SFDISK_LOGICAL);
	ok(strcmp(im.pt->kind, "dos") == 0 && im.pt->count == 4 &&
	   qf_ptable_find(im.pt, 6), "mbr with logicals made");
	if (plan(&im, tsz, 512, QF_LAYOUT_GROW, &l, "logical grow") == 0) {
		ok(l.grown == 6 && l.grown_start == 38912 * 512ull &&
		   l.grown_size == tsz - 38912 * 512ull,
		   "logical grow: partition 6 to the end of the target");
		ok(l.npatch == 3 && has_patch(&l, 0, 512) &&
		   has_patch(&l, 18432 * 512ull, 512) &&
		   has_patch(&l, 36864 * 512ull, 512),
		   "logical grow: the MBR and two EBRs");
		/* the extended partition grows with it, to the end */
		if (ok(dump(im.path, &a) && a.count == 4 && a.p[1].n == 2,
		       "logical grow: image dump")) {
			a.p[1].size = tsz / 512 - 18432;
			check_target_ref("logical grow", &im, &a, &l,
					 "logical.target", tsz, FRESH, false);
		}
		qf_layout_free(&l);
	}
	/* the EBRs lie past the head a stream can show */
	im.readable = STREAM_HEAD;
	if (plan(&im, tsz, 512, QF_LAYOUT_GROW, &l, "logical stream") == 0) {
		ok(l.npatch == 0 && l.grown == 0 &&
		   l.notes == QF_LAYOUT_NOTE_UNREADABLE,
		   "logical in a stream: not grown, a note (%s)",
		   qf_layout_note_text(QF_LAYOUT_NOTE_UNREADABLE));
		qf_layout_free(&l);
	}
	close_img(&im);
}

/* Partitions not on 4 KiB boundaries, or a head with data where the
 * 4Kn table would go: no conversion, a mismatch. */
static void test_no_conversion(void)
{
	struct img im;
	struct qf_layout l;
	int fd;

	make_img(&im, "odd.img", 64 * MiB,
		 "sgdisk -o -n1:2048:+8M -n2:18433:+16M %s");
	if (plan(&im, 128 * MiB, 4096, 0, &l, "unaligned") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch &&
		   l.notes == QF_LAYOUT_NOTE_UNALIGNED,
		   "unaligned onto 4Kn: no patches, mismatch (%s)",
		   qf_layout_note_text(l.notes));
		qf_layout_free(&l);
	}
	if (plan(&im, 128 * MiB, 4096, QF_LAYOUT_FORCE, &l,
		 "unaligned forced") == 0) {
		ok(l.sector_mismatch && l.npatch == 3 &&
		   l.adjust == (QF_ADJ_BACKUP_MOVED | QF_ADJ_PMBR_RESIZED),
		   "unaligned forced: fixed in 512-byte units, mismatch");
		check_target("unaligned forced", &im, &l, "odd.target",
			     128 * MiB, FRESH, true);
		qf_layout_free(&l);
	}
	close_img(&im);

	make_img(&im, "early.img", 64 * MiB, "sgdisk -o -a 8 -n1:40:+8M %s");
	if (plan(&im, 128 * MiB, 4096, 0, &l, "early partition") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch &&
		   l.notes == QF_LAYOUT_NOTE_HEAD_DATA,
		   "partition at 20 KiB: the 4Kn head does not fit (%s)",
		   qf_layout_note_text(l.notes));
		qf_layout_free(&l);
	}
	close_img(&im);

	/* a byte of something at 30000 is past the new head, at 20000 not */
	make_img(&im, "loader.img", 64 * MiB, SGDISK_2);
	fd = open(im.path, O_RDWR);
	if (fd < 0 || pwrite(fd, "\x42", 1, 30000) != 1)
		printf("# cannot write into the head\n");
	if (plan(&im, 128 * MiB, 4096, 0, &l, "data past the new head") == 0) {
		ok(!l.sector_mismatch && (l.adjust & QF_ADJ_SECTOR_SIZE),
		   "data past the 4Kn head: converted");
		qf_layout_free(&l);
	}
	if (fd < 0 || pwrite(fd, "\x42", 1, 20000) != 1)
		printf("# cannot write into the head\n");
	if (fd >= 0)
		close(fd);
	if (plan(&im, 128 * MiB, 4096, 0, &l, "data in the new head") == 0) {
		ok(l.npatch == 0 && l.sector_mismatch &&
		   l.notes == QF_LAYOUT_NOTE_HEAD_DATA,
		   "data where the 4Kn head would go: not converted");
		qf_layout_free(&l);
	}
	close_img(&im);
}

/* ----------------------------------------------------------- 4Kn cases */

static uint64_t num(const char *fmt, const char *arg)
{
	const char *out;
	int rc;

	out = run(&rc, fmt, arg);
	return rc == 0 ? strtoull(out, NULL, 10) : 0;
}

/* The target seen through a loop device with 4096-byte sectors: what a
 * 4Kn drive or a USB bridge reporting 4096 shows. */
static void check_4kn(const char *what, const struct img *im,
		      const struct qf_layout *l, const char *name,
		      uint64_t tsize)
{
	const char *t = tpath(name), *out;
	char dev[64], part[80], sys[128];
	struct dump a, b;
	int rc;

	make_target(im, l, t, tsize, PATTERN);
	if (!attach(t, "-P --sector-size 4096", dev, sizeof(dev))) {
		ok(0, "%s: losetup --sector-size 4096", what);
		return;
	}
	is_int(num("blockdev --getss '%s'", dev), 4096,
	       "%s: %s has 4096-byte sectors", what, dev);
	ok(wait_part(dev, 1) && wait_part(dev, 2),
	   "%s: the kernel sees partitions 1 and 2", what);
	check_tools(what, dev, true);
	if (ok(dump(im->path, &a) && dump(dev, &b) && b.ss == 4096,
	       "%s: sfdisk --dump in 4096-byte sectors", what))
		check_parts(what, &a, &b, l->grown, l->grown_size);
	/* the kernel's own view: sysfs counts 512-byte units */
	snprintf(part, sizeof(part), "%sp2", dev);
	snprintf(sys, sizeof(sys), "/sys/class/block/%sp2/start",
		 strrchr(dev, '/') + 1);
	ok(num("cat '%s'", sys) * 512 == 9 * MiB &&
	   num("blockdev --getsize64 '%s'", part) ==
	   (l->grown == 2 ? l->grown_size : 16 * MiB),
	   "%s: partition 2 at 9 MiB with the right size for the kernel", what);
	out = run(&rc, "blkid -p -o value -s LABEL '%s'", part);
	ok(rc == 0 && strncmp(out, "qfroot", 6) == 0,
	   "%s: the ext4 on partition 2 is found (%.*s)", what,
	   (int)strcspn(out, "\n"), out);
	detach_last();
}

static void test_to_4kn(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t isz = 64 * MiB, tsz = 128 * MiB;

	make_img(&im, "fs.img", isz, SGDISK_2_FS);
	if (plan(&im, tsz, 4096, 0, &l, "to 4Kn") == 0) {
		is_int(l.adjust, QF_ADJ_SECTOR_SIZE | QF_ADJ_BACKUP_MOVED |
		       QF_ADJ_PMBR_RESIZED, "to 4Kn: converted");
		ok(!l.sector_mismatch && l.notes == 0, "to 4Kn: no mismatch");
		ok(l.npatch == 3 && has_patch(&l, 0, 6 * 4096) &&
		   has_patch(&l, isz - 33 * 512, 33 * 512) &&
		   has_patch(&l, tsz - 5 * 4096, 5 * 4096),
		   "to 4Kn: new head, old backup cleared, new backup");
		if (is_root)
			check_4kn("to 4Kn", &im, &l, "4kn.target", tsz);
		else
			ok(1, "to 4Kn on a loop device # SKIP needs root");
		qf_layout_free(&l);
	}
	if (plan(&im, tsz, 4096, QF_LAYOUT_GROW, &l, "to 4Kn, grown") == 0) {
		ok(l.grown == 2 && l.grown_size == 127 * MiB - 9 * MiB,
		   "to 4Kn, grown: partition 2 to 127 MiB");
		if (is_root)
			check_4kn("to 4Kn, grown", &im, &l, "4kn-grow.target",
				  tsz);
		else
			ok(1, "to 4Kn, grown, on a loop # SKIP needs root");
		qf_layout_free(&l);
	}
	close_img(&im);
}

/* A 4Kn image (made on a loop device) onto a 512-byte target. */
static void test_from_4kn(void)
{
	struct img im;
	struct qf_layout l;
	const uint64_t isz = 64 * MiB, tsz = 128 * MiB;
	struct dump a;
	char dev[64];
	bool made;

	if (!is_root) {
		ok(1, "from 4Kn # SKIP needs root to make a 4Kn image");
		return;
	}
	make_img(&im, "4k.img", isz, NULL);
	if (!attach(im.path, "--sector-size 4096", dev, sizeof(dev))) {
		ok(0, "from 4Kn: losetup --sector-size 4096");
		close_img(&im);
		return;
	}
	made = sh("sgdisk -o -n1:256:+8M -t1:ef00 -c1:EFI -n2:0:+16M -t2:8300 "
		  "-c2:root '%s' >/dev/null 2>&1", dev) == 0 && dump(dev, &a);
	detach_last();
	if (!ok(made, "from 4Kn: image made on %s", dev)) {
		close_img(&im);
		return;
	}
	redecode(&im);
	is_int(im.pt->sector_size, 4096,
	       "from 4Kn: the image has 4096-byte sectors");
	if (plan(&im, tsz, 512, 0, &l, "from 4Kn") == 0) {
		is_int(l.adjust, QF_ADJ_SECTOR_SIZE | QF_ADJ_BACKUP_MOVED |
		       QF_ADJ_PMBR_RESIZED, "from 4Kn: converted");
		ok(l.npatch == 3 && has_patch(&l, 0, 6 * 4096) &&
		   has_patch(&l, isz - 5 * 4096, 5 * 4096) &&
		   has_patch(&l, tsz - 33 * 512, 33 * 512),
		   "from 4Kn: new head, old head and backup cleared, new backup");
		check_target_ref("from 4Kn", &im, &a, &l, "from4k.target", tsz,
				 PATTERN, true);
		qf_layout_free(&l);
	}
	close_img(&im);
}

int main(void)
{
	static const char *const tools[] = { "sgdisk", "sfdisk", "fdisk",
					     "mkfs.ext4", "blkid" };
	const char *path = getenv("PATH");
	char newpath[4096];
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	qf_init();
	snprintf(newpath, sizeof(newpath), "%s:/usr/sbin:/sbin",
		 path ? path : "/usr/bin:/bin");
	setenv("PATH", newpath, 1);
	setenv("LC_ALL", "C", 1);
	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		if (!have(tools[i])) {
			printf("1..0 # SKIP %s missing\n", tools[i]);
			return 0;
		}
	}
	if (!scratch_init("layout", undo))
		return 0;
	is_root = geteuid() == 0 && have("losetup");

	test_gpt_larger();
	test_gpt_full();
	test_gpt_huge();
	test_stream();
	test_gpt_backup_only();
	test_hybrid();
	test_no_table();
	test_mbr_primary();
	test_mbr_logical();
	test_no_conversion();
	test_to_4kn();
	test_from_4kn();
	return tap_done();
}
