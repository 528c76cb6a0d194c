/* safety.h - the policy that decides whether a block device or file may
 * be written (safety.c): the system state gathered once per call (mounts,
 * swaps, the devices under /, /boot, /usr and under each file of the
 * source image) and the checks that turn it into refusals with their
 * reasons. */
#ifndef QF_SAFETY_H
#define QF_SAFETY_H

#include "target/sysfs.h"

#include <sys/stat.h>

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

/* One local file of the source image: the image itself (the first), a
 * backing layer or an external data file. */
struct safety_src {
	const char *name;          /* the caller's string */
	bool top;                  /* the image itself */
	struct devset devs;        /* devices carrying it */
	bool file;                 /* a regular file: */
	dev_t dev;                 /*   its st_dev and st_ino */
	ino_t ino;
};

/* What every judgement needs, gathered once per list or probe call. */
struct safety_ctx {
	struct mnt *mnts;
	size_t nmnts;
	dev_t *swaps;
	size_t nswaps;
	struct devset system;      /* devices carrying /, /boot, /usr */
	struct safety_src *srcs;   /* the image's local files */
	size_t nsrcs;
};

/* A device and the block devices whose use makes it busy: itself and,
 * for a whole disk, its partitions. */
struct safety_member {
	char name[64];
	dev_t dev;
};

/* @sources: the image's files, NULL-terminated, the image first (may be
 * NULL; URLs and missing files are left out). */
void safety_ctx_init(struct safety_ctx *c, const char *const *sources);
/* Only what judging a regular file target needs: which of @sources are
 * regular files, and their identities. */
void safety_ctx_files(struct safety_ctx *c, const char *const *sources);
void safety_ctx_free(struct safety_ctx *c);
/* @name itself, plus its partitions when it is a whole disk. */
struct safety_member *safety_members(const char *name, bool partition,
				     size_t *n);

/* Add a reason to the device's "; "-separated reason text. */
void safety_reason(struct qf_device *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void safety_refuse(struct qf_device *d, unsigned bit, const char *text);
void safety_list_add(char *buf, size_t len, const char *word);

/* The refusals of a block device @dev (kernel name in @m[0]) whose whole
 * disk has the loop backing file @backing ("" if none). */
void safety_check_mounted(const struct safety_ctx *c,
			  const struct safety_member *m, size_t nm,
			  struct qf_device *d);
void safety_check_in_use(const struct safety_ctx *c,
			 const struct safety_member *m, size_t nm,
			 struct qf_device *d);
void safety_check_stacks(const struct safety_ctx *c, dev_t dev,
			 const char *backing, struct qf_device *d);
/* The refusals of a regular file, and of a path that does not exist. */
void safety_check_file(const struct safety_ctx *c, const char *path,
		       const struct stat *st, struct qf_device *d);
void safety_check_missing(const char *path, struct qf_device *d);

#endif
