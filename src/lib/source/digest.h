/* digest.h - message digests of image files (OpenSSL's EVP: SHA-256 with
 * the CPU's instructions where it has them, SHA-1 for old bmap files),
 * and the checksums published beside an image: given by the user, or
 * found as IMAGE.sha256, IMAGE.sha256sum or SHA256SUMS next to it. */
#ifndef QF_DIGEST_H
#define QF_DIGEST_H

#include "source/source.h"

#define QF_DIGEST_MAX 64          /* bytes of the largest digest */

struct qf_digest;

/* "sha256" or "sha1"; NULL when the algorithm is unknown. */
struct qf_digest *qf_digest_new(const char *alg);
void qf_digest_update(struct qf_digest *d, const void *buf, size_t len);
/* The digest (its length returned); @d can be updated again afterwards
 * as if new. */
size_t qf_digest_final(struct qf_digest *d, uint8_t out[QF_DIGEST_MAX]);
void qf_digest_free(struct qf_digest *d);

/* @n bytes as lower-case hex into @out (2n + 1 bytes). */
void qf_hex(const uint8_t *b, size_t n, char *out);
/* @hex (exactly 2n hex digits, any case) into @out; 0 or -EINVAL. */
int qf_hex_parse(const char *hex, uint8_t *out, size_t n);

/* The length of @image (a path or URL) without a URL's query or
 * fragment: files beside it are named there, the query kept after. */
size_t qf_name_path_len(const char *image);

/* The names where a checksum for @image is looked for, in order
 * (IMAGE.sha256, IMAGE.sha256sum, SHA256SUMS in its folder; a URL's
 * query kept), allocated into @names: returns how many. */
#define QF_CHECKSUM_BESIDE 3
int qf_checksum_beside(const char *image, char **names);

/* The SHA-256 of the file called @name in a checksum list in sha256sum
 * format ("HEX  NAME", "HEX *NAME", or the BSD "SHA256 (NAME) = HEX"),
 * lower-case into @hex: 1 found, 0 not listed.  Only the last part of
 * each listed name is compared, as people move lists and images
 * together. */
int qf_sums_lookup(const char *text, size_t len, const char *name,
		   char hex[65]);

/* The published SHA-256 of the image file @image (a path or URL):
 * @given is what the user said (64 hex digits, or a sha256sum-style
 * file), or NULL to look beside the image.  1 with @hex and @origin (the
 * hex given, or the file it came from) filled, 0 when there is none, or a
 * negative errno (a given file that does not list the image, a malformed
 * value). */
int qf_checksum_find(const char *image, const char *given,
		     const struct qf_open_opts *opts, char hex[65],
		     char *origin, size_t olen, struct qf_err *e);

#endif
