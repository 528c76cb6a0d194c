/* zip.c - a raw disk image inside a zip archive (libarchive): members
 * stored or compressed with deflate, bzip2, xz or zstd.  The central
 * directory, read with seeks of its own, names the members and gives
 * their sizes; the chosen member is then decoded front to back through
 * the codec's input, so the published checksum still sees every byte of
 * the archive in order.  An archive holding several images needs the
 * member named (qf_codec_open_member); one holding a single image opens
 * as that image. */
#include "codec/codec.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Members no one flashes: the papers that come with an image. */
static const char *const not_images[] = {
	".txt", ".md", ".html", ".htm", ".pdf", ".sha256", ".sha256sum",
	".sha1", ".md5", ".sig", ".asc", ".gpg", ".json", ".xml", ".bmap",
	".yaml", ".yml", ".ini", ".cfg", ".log",
};

struct zip {
	struct archive *a;           /* streaming reader over c->in */
	char *member;                /* the member being decoded */
	uint64_t size;               /* its size, from the central directory */
};

static bool zip_probe(const uint8_t *head, size_t n)
{
	/* A local file header, or the end record of an empty archive. */
	return n >= 4 && head[0] == 'P' && head[1] == 'K' &&
	       ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6));
}

/* --------------------------------------------- the central directory */

struct seekable {
	struct qf_source *src;
	uint64_t pos;
	uint8_t buf[64 << 10];
	struct qf_err err;
};

static la_ssize_t sk_read(struct archive *a, void *ud, const void **out)
{
	struct seekable *s = ud;
	uint64_t left = s->src->size - s->pos;
	size_t n = left < sizeof(s->buf) ? (size_t)left : sizeof(s->buf);

	(void)a;
	*out = s->buf;
	if (!n)
		return 0;
	if (qf_source_pread(s->src, s->buf, n, s->pos, 0, &s->err) < 0)
		return -1;
	s->pos += n;
	return (la_ssize_t)n;
}

static la_int64_t sk_seek(struct archive *a, void *ud, la_int64_t off,
			  int whence)
{
	struct seekable *s = ud;
	int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ?
		       (int64_t)s->pos : (int64_t)s->src->size;

	(void)a;
	if (base + off < 0 || (uint64_t)(base + off) > s->src->size)
		return ARCHIVE_FATAL;
	s->pos = (uint64_t)(base + off);
	return (la_int64_t)s->pos;
}

static la_int64_t sk_skip(struct archive *a, void *ud, la_int64_t n)
{
	struct seekable *s = ud;
	uint64_t left = s->src->size - s->pos;

	(void)a;
	if (n < 0)
		return 0;
	if ((uint64_t)n > left)
		n = (la_int64_t)left;
	s->pos += (uint64_t)n;
	return n;
}

static bool looks_like_image(const char *name, int64_t size)
{
	size_t len = strlen(name);

	if (size <= 0 || (len && name[len - 1] == '/'))
		return false;
	for (size_t i = 0; i < sizeof(not_images) / sizeof(not_images[0]); i++) {
		size_t n = strlen(not_images[i]);
		if (len > n && !strcasecmp(name + len - n, not_images[i]))
			return false;
	}
	return true;
}

static bool name_is(const char *entry, const char *want)
{
	const char *slash = strrchr(entry, '/');
	return !strcmp(entry, want) || (slash && !strcmp(slash + 1, want));
}

static void free_names(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

/* The regular members of the archive in @src that are @want (or, with
 * @want NULL, that look like disk images), with their sizes: their
 * count, or a negative errno. */
static int list(struct qf_source *src, const char *want, char ***names,
		uint64_t **sizes, struct qf_err *e)
{
	struct seekable *s = qf_xcalloc(1, sizeof(*s));
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	size_t alloc = 0, salloc = 0;
	int n = 0, r, ret;

	*names = NULL;
	*sizes = NULL;
	s->src = src;
	archive_read_support_format_zip_seekable(a);
	archive_read_set_read_callback(a, sk_read);
	archive_read_set_seek_callback(a, sk_seek);
	archive_read_set_skip_callback(a, sk_skip);
	archive_read_set_callback_data(a, s);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		ret = s->err.code ? (*e = s->err, s->err.code) :
		      qf_err_set(e, EINVAL, N_("%s: not a zip archive qflash can read: %s"),
				 src->name, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ent);
		int64_t size = archive_entry_size_is_set(ent) ?
			       archive_entry_size(ent) : -1;

		if (!name || archive_entry_filetype(ent) != AE_IFREG)
			continue;
		if (want ? !name_is(name, want) : !looks_like_image(name, size))
			continue;
		*names = qf_grow(*names, (size_t)n + 1, &alloc, sizeof(**names));
		*sizes = qf_grow(*sizes, (size_t)n, &salloc, sizeof(**sizes));
		(*names)[n] = qf_xstrdup(name);
		(*names)[n + 1] = NULL;
		(*sizes)[n] = size > 0 ? (uint64_t)size : 0;
		n++;
	}
	ret = n;
	if (r != ARCHIVE_EOF)
		ret = s->err.code ? (*e = s->err, s->err.code) :
		      qf_err_set(e, EINVAL, N_("%s: damaged zip archive: %s"),
				 src->name, archive_error_string(a));
out:
	archive_read_free(a);
	free(s);
	if (ret < 0) {
		free_names(*names);
		free(*sizes);
		*names = NULL;
		*sizes = NULL;
	}
	return ret;
}

int qf_zip_images(struct qf_source *src, char ***names, struct qf_err *e)
{
	uint64_t *sizes;
	int n = list(src, NULL, names, &sizes, e);

	if (n >= 0)
		free(sizes);
	return n;
}

/* The member to decode: @want, or the only image in the archive. */
static int choose(struct qf_codec *c, struct zip *z, const char *want,
		  struct qf_err *e)
{
	const char *name = c->in.src->name;
	char **names;
	uint64_t *sizes;
	int n = list(c->in.src, want, &names, &sizes, e), ret = 0;

	if (n < 0)
		return n;
	if (!n && want) {
		ret = qf_err_set(e, ENOENT, N_("%s: the archive has no member %s"),
				 name, want);
	} else if (!n) {
		ret = qf_err_set(e, EMEDIUMTYPE, N_("%s: the archive holds no disk image"),
				 name);
	} else if (n > 1 && !want) {
		char all[400] = "";
		for (int i = 0; i < n; i++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all),
				 "%s%s", i ? ", " : "", names[i]);
		ret = qf_err_set(e, EMLINK,
				 N_("%s: the archive holds several images (%s): name the one to flash"),
				 name, all);
	} else {
		z->member = qf_xstrdup(names[0]);
		z->size = sizes[0];
	}
	free_names(names);
	free(sizes);
	return ret;
}

/* ------------------------------------------------------ the streaming */

static la_ssize_t in_read(struct archive *a, void *ud, const void **out)
{
	struct qf_codec *c = ud;
	struct qf_codec_in *in = &c->in;
	struct qf_err e = { 0 };
	bool eof;
	size_t n;

	if (in->pos == in->len) {
		if (qf_codec_refill(c, &eof, &e) < 0) {
			archive_set_error(a, EIO, "%s", e.msg);
			return -1;
		}
		if (eof)
			return 0;
	}
	*out = in->buf + in->pos;
	n = in->len - in->pos;
	in->pos = in->len;
	return (la_ssize_t)n;
}

/* The largest LZMA dictionary a member may ask for: the format's own
 * limit (1.5 GiB), where xz -9 uses 64 MiB.  libarchive gives liblzma no
 * memory limit, so a member claiming 4 GiB would be allocated that. */
#define LZMA_DICT_MAX ((uint64_t)3 << 29)

/* Refuse a method-14 (LZMA) member whose properties ask for more than
 * LZMA_DICT_MAX, before it is decoded: the local header at @pos, then
 * 2 bytes of version, 2 of properties size, lc/lp/pb and the dictionary
 * size (little-endian). */
static int check_lzma_dict(struct qf_codec *c, int64_t pos, struct qf_err *e)
{
	uint8_t h[30], p[9];
	uint64_t data, dict;
	int r;

	if (pos < 0)
		return 0;
	if ((r = qf_source_pread(c->in.src, h, sizeof(h), (uint64_t)pos, 0,
				 e)) < 0)
		return r;
	if (memcmp(h, "PK\3\4", 4) || (h[8] | h[9] << 8) != 14)
		return 0;
	data = (uint64_t)pos + 30 + (h[26] | h[27] << 8) + (h[28] | h[29] << 8);
	if ((r = qf_source_pread(c->in.src, p, sizeof(p), data, 0, e)) < 0)
		return r;
	dict = (uint64_t)p[5] | (uint64_t)p[6] << 8 | (uint64_t)p[7] << 16 |
	       (uint64_t)p[8] << 24;
	if (dict > LZMA_DICT_MAX)
		return qf_err_set(e, EINVAL,
				  N_("%s: damaged zip archive: member %s asks for a %llu MiB LZMA dictionary (at most %llu MiB)"),
				  c->in.src->name, ((struct zip *)c->priv)->member,
				  (unsigned long long)(dict >> 20),
				  (unsigned long long)(LZMA_DICT_MAX >> 20));
	return 0;
}

static int start(struct qf_codec *c, struct qf_err *e)
{
	struct zip *z = c->priv;
	struct archive_entry *ent;
	int r;

	z->a = archive_read_new();
	archive_read_support_format_zip_streamable(z->a);
	archive_read_set_read_callback(z->a, in_read);
	archive_read_set_callback_data(z->a, c);
	if (archive_read_open1(z->a) != ARCHIVE_OK)
		return qf_err_set(e, EINVAL, N_("%s: damaged zip archive: %s"),
				  c->in.src->name, archive_error_string(z->a));
	while ((r = archive_read_next_header(z->a, &ent)) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(ent);
		if (n && !strcmp(n, z->member))
			return check_lzma_dict(c, archive_read_header_position(z->a),
					       e);
		if (archive_read_data_skip(z->a) != ARCHIVE_OK)
			break;
	}
	return qf_err_set(e, EINVAL, N_("%s: damaged zip archive: %s"),
			  c->in.src->name, archive_error_string(z->a) ?
			  archive_error_string(z->a) : "member not found in order");
}

static void zip_close(struct qf_codec *c);

static int zip_open(struct qf_codec *c, struct qf_err *e)
{
	struct zip *z = qf_xcalloc(1, sizeof(*z));
	int ret;

	c->priv = z;
	if ((ret = choose(c, z, c->member, e)) < 0 ||
	    (ret = start(c, e)) < 0) {
		zip_close(c);
		c->priv = NULL;
	}
	return ret;
}

static int zip_size(struct qf_codec *c, uint64_t *size, bool *known,
		    struct qf_err *e)
{
	struct zip *z = c->priv;

	(void)e;
	*size = z->size;
	*known = z->size > 0;
	return 0;
}

static int zip_read(struct qf_codec *c, uint8_t *out, size_t n, size_t *got,
		    struct qf_err *e)
{
	struct zip *z = c->priv;

	while (*got < n) {
		la_ssize_t r = archive_read_data(z->a, out + *got, n - *got);

		if (r == 0)
			return 0;
		if (r < 0)
			return qf_err_set(e, EIO, N_("%s: cannot decode %s in the archive: %s"),
					  c->in.src->name, z->member,
					  archive_error_string(z->a));
		*got += (size_t)r;
	}
	return 0;
}

static void zip_rewind(struct qf_codec *c)
{
	struct zip *z = c->priv;
	struct qf_err e = { 0 };

	archive_read_free(z->a);
	z->a = NULL;
	/* An error here shows at the next read. */
	if (start(c, &e) < 0 && !z->a)
		z->a = archive_read_new();
}

static void zip_close(struct qf_codec *c)
{
	struct zip *z = c->priv;

	if (!z)
		return;
	if (z->a)
		archive_read_free(z->a);
	free(z->member);
	free(z);
}

const struct qf_codec_ops qf_codec_zip = {
	.name = "zip",
	.format = QF_FORMAT_ZIP,
	.probe = zip_probe,
	.open = zip_open,
	.size = zip_size,
	.read = zip_read,
	.rewind = zip_rewind,
	.close = zip_close,
};
