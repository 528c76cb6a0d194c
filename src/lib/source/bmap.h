/* bmap.h - block maps (the .bmap files bmaptool writes, versions 1.x and
 * 2.0): which blocks of a raw image hold data, with a digest per range,
 * so that a flash can check what it decodes and zero the rest. */
#ifndef QF_BMAP_H
#define QF_BMAP_H

#include "source/source.h"

struct qf_bmap_range {
	uint64_t start, end;         /* bytes of the image: [start, end) */
	uint8_t sum[32];             /* its digest, when the bmap has them */
};

struct qf_bmap {
	unsigned major, minor;       /* the format version */
	uint64_t image_size;         /* bytes */
	uint64_t block_size;
	uint64_t blocks;             /* BlocksCount */
	uint64_t mapped;             /* bytes in the ranges */
	const char *alg;             /* "sha256", "sha1", or NULL: no digests */
	size_t sum_len;              /* bytes of a digest, 0 without */
	struct qf_bmap_range *r;
	size_t n;
	char *origin;                /* the file it was read from */
};

/* Parse the bmap @text (@len bytes, read from @origin): 0 with *@out, or
 * -EINVAL with a message naming @origin and what is wrong.  The file's
 * own checksum (BmapFileChecksum, BmapFileSHA1) is checked. */
int qf_bmap_parse(const char *text, size_t len, const char *origin,
		  struct qf_bmap **out, struct qf_err *e);
void qf_bmap_free(struct qf_bmap *b);

/* The bmap of the image @image (a path or URL): the file @given, or the
 * one found beside it as bmaptool finds it (IMAGE.bmap, then for
 * x.img.xz x.img.bmap).  1 with *@out, 0 when there is none, or a
 * negative errno (a given file missing, any bmap malformed).  A file
 * found beside the image that cannot be fetched is named in a warning
 * and left out. */
/* The names where the bmap of @image is looked for, in order, allocated
 * into @names: returns how many; *@packed_name when @image's name ends
 * in a compressed format's extension. */
#define QF_BMAP_BESIDE 2
int qf_bmap_beside(const char *image, char **names, bool *packed_name);

int qf_bmap_find(const char *image, const char *given,
		 const struct qf_open_opts *opts, struct qf_bmap **out,
		 struct qf_err *e);

/* Whether byte @off of the image is in one of @b's ranges, and in *@len
 * (at most what it holds on entry) how many bytes from @off are alike. */
bool qf_bmap_run(const struct qf_bmap *b, uint64_t off, uint64_t *len);

/* Checking decoded bytes against a bmap, in the order of the image. */
struct qf_bmap_check;

struct qf_bmap_check *qf_bmap_check_new(const struct qf_bmap *b);
/* @buf holds the image's bytes [@off, @off + @len), @off where the last
 * call ended: the bytes outside every range become zeros, those inside
 * go into the range's digest, checked when the range ends.  0, or
 * -EBADMSG when a range does not match. */
int qf_bmap_check_bytes(struct qf_bmap_check *c, uint8_t *buf, uint64_t off,
			size_t len, const char *name, struct qf_err *e);
void qf_bmap_check_free(struct qf_bmap_check *c);

#endif
