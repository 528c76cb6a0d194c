/* digest.c - SHA-256/SHA-1 through OpenSSL's EVP, hex, and finding the
 * checksum an image's publisher printed beside it. */
#include "source/digest.h"
#include "source/sidecar.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A checksum list is small; anything larger is not one. */

struct qf_digest {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

struct qf_digest *qf_digest_new(const char *alg)
{
	const EVP_MD *md = !strcmp(alg, "sha256") ? EVP_sha256()
			   : !strcmp(alg, "sha1") ? EVP_sha1() : NULL;
	struct qf_digest *d;

	if (!md)
		return NULL;
	d = qf_xcalloc(1, sizeof(*d));
	d->md = md;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, md, NULL) != 1)
		abort();     /* out of memory: nothing sane to do */
	return d;
}

void qf_digest_update(struct qf_digest *d, const void *buf, size_t len)
{
	if (len && EVP_DigestUpdate(d->ctx, buf, len) != 1)
		abort();
}

size_t qf_digest_final(struct qf_digest *d, uint8_t out[QF_DIGEST_MAX])
{
	unsigned n = 0;

	if (EVP_DigestFinal_ex(d->ctx, out, &n) != 1 ||
	    EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1)
		abort();
	return n;
}

void qf_digest_free(struct qf_digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

void qf_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int qf_hex_parse(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int a = hexval((unsigned char)hex[2 * i]);
		int b = hexval((unsigned char)hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return -EINVAL;
		out[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

static const char *base_name(const char *s, size_t len, size_t *blen)
{
	const char *b = s;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '/')
			b = s + i + 1;
	*blen = len - (size_t)(b - s);
	return b;
}

/* One line of a list: its digest (64 hex digits) and its name. */
static bool parse_line(const char *l, size_t n, const char **hex,
		       const char **name, size_t *nlen)
{
	while (n && (l[n - 1] == '\r' || l[n - 1] == ' '))
		n--;
	if (n > 7 && !strncmp(l, "SHA256 (", 8)) {
		/* BSD style: SHA256 (NAME) = HEX */
		const char *close = NULL;
		/* The line is not NUL-terminated: ") = " ends by its end. */
		for (size_t i = n - 3; i-- > 8;)
			if (!memcmp(l + i, ") = ", 4)) {
				close = l + i;
				break;
			}
		if (!close || (size_t)(l + n - (close + 4)) != 64)
			return false;
		*name = l + 8;
		*nlen = (size_t)(close - *name);
		*hex = close + 4;
		return true;
	}
	if (n < 66 || (l[64] != ' ' && l[64] != '\t'))
		return false;
	*hex = l;
	*name = l + 65;
	*nlen = n - 65;
	/* "HEX  NAME" (text) or "HEX *NAME" (binary) */
	if (*nlen && (**name == ' ' || **name == '*')) {
		(*name)++;
		(*nlen)--;
	}
	return *nlen > 0;
}

int qf_sums_lookup(const char *text, size_t len, const char *name,
		   char hex[65])
{
	size_t want_len, pos = 0;
	const char *want = base_name(name, strlen(name), &want_len);

	while (pos < len) {
		const char *l = text + pos, *eol = memchr(l, '\n', len - pos);
		size_t n = eol ? (size_t)(eol - l) : len - pos;
		const char *h, *nm, *b;
		size_t nl, bl;

		pos += n + 1;
		if (!parse_line(l, n, &h, &nm, &nl))
			continue;
		b = base_name(nm, nl, &bl);
		if (bl != want_len || memcmp(b, want, bl) != 0)
			continue;
		for (int i = 0; i < 64; i++) {
			if (hexval((unsigned char)h[i]) < 0)
				return 0;
			hex[i] = (char)tolower((unsigned char)h[i]);
		}
		hex[64] = 0;
		return 1;
	}
	return 0;
}

static bool is_hex64(const char *s)
{
	uint8_t tmp[32];
	return qf_hex_parse(s, tmp, sizeof(tmp)) == 0;
}

/* A file that holds just a digest (the bare hex, or sha256sum's output
 * for one file under another name): 1 with @hex filled. */
static int bare_digest(const char *text, size_t len, char hex[65])
{
	char first[65];

	if (len < 64 || (len > 64 && !isspace((unsigned char)text[64])))
		return 0;
	memcpy(first, text, 64);
	first[64] = 0;
	if (!is_hex64(first))
		return 0;
	for (int k = 0; k < 65; k++)
		hex[k] = (char)tolower((unsigned char)first[k]);
	return 1;
}

/* The length of @image without a URL's query or fragment: the names
 * beside it are found next to the path and keep the query (a token). */
size_t qf_name_path_len(const char *image)
{
	if (!strstr(image, "://"))
		return strlen(image);
	return strcspn(image, "?#");
}

/* Where a checksum came from, as it may be shown: a URL without its
 * credentials. */
static void set_origin(char *origin, size_t olen, const char *name)
{
	char *shown = qf_url_redact(name);

	snprintf(origin, olen, "%s", shown);
	free(shown);
}

int qf_checksum_beside(const char *image, char **names)
{
	size_t plen = qf_name_path_len(image), blen;
	const char *base = base_name(image, plen, &blen);
	const char *query = image + plen;

	names[0] = qf_xasprintf("%.*s.sha256%s", (int)plen, image, query);
	names[1] = qf_xasprintf("%.*s.sha256sum%s", (int)plen, image, query);
	names[2] = qf_xasprintf("%.*sSHA256SUMS%s", (int)(base - image), image,
				query);
	return QF_CHECKSUM_BESIDE;
}

int qf_checksum_find(const char *image, const char *given,
		     const struct qf_open_opts *opts, char hex[65],
		     char *origin, size_t olen, struct qf_err *e)
{
	char *beside[QF_CHECKSUM_BESIDE];
	size_t plen = qf_name_path_len(image), blen;
	const char *base = base_name(image, plen, &blen);
	char *path = qf_xasprintf("%.*s", (int)plen, image);
	char *text = NULL, *cand;
	struct qf_err e2;
	size_t len = 0;
	int ret, nb;

	if (given && is_hex64(given)) {
		for (int i = 0; i < 64; i++)
			hex[i] = (char)tolower((unsigned char)given[i]);
		hex[64] = 0;
		snprintf(origin, olen, "%s", opts && opts->sha256_origin
			 ? opts->sha256_origin : "-sha256");
		free(path);
		return 1;
	}
	if (given) {
		set_origin(origin, olen, given);
		if ((ret = qf_small_file(given, opts, QF_SUMS_MAX, &text, &len, e)) < 0) {
			free(path);
			return ret == -ENOENT
			       ? qf_err_set(e, ENOENT, N_("%s: no such checksum file"),
					    origin)
			       : ret;
		}
		ret = qf_sums_lookup(text, len, path, hex);
		free(path);
		/* A file holding one digest only is for this image too. */
		if (!ret)
			ret = bare_digest(text, len, hex);
		free(text);
		if (!ret)
			return qf_err_set(e, ENOENT,
					  N_("%s: lists no checksum for %.*s"), origin,
					  (int)blen, base);
		return 1;
	}
	nb = qf_checksum_beside(image, beside);
	for (int i = 0; i < nb; i++) {
		cand = beside[i];
		beside[i] = NULL;
		e2 = (struct qf_err){ 0 };
		ret = qf_small_file(cand, opts, QF_SUMS_MAX, &text, &len, &e2);
		if (ret == -ENOENT) {
			free(cand);
			continue;
		}
		/* Nobody asked for this file: one that cannot be read (a
		 * server that answers every path with a page, an outage)
		 * leaves the image unchecked, said as a warning. */
		if (ret < 0) {
			qf_warn(opts, _("%s; the image is not checked against it"),
				e2.msg);
			free(cand);
			continue;
		}
		ret = qf_sums_lookup(text, len, path, hex);
		/* IMAGE.sha256 may hold the bare digest (SHA256SUMS may not:
		 * it is about many files). */
		if (!ret && i < nb - 1)
			ret = bare_digest(text, len, hex);
		free(text);
		if (ret) {
			set_origin(origin, olen, cand);
			free(cand);
			for (int k = i + 1; k < nb; k++)
				free(beside[k]);
			free(path);
			return 1;
		}
		free(cand);
	}
	free(path);
	return 0;
}
