/* bmap.c - reading bmap files with expat, finding them beside an image,
 * and checking decoded bytes against their ranges (see bmap.h). */
#include "internal.h"
#include "source/bmap.h"
#include "source/digest.h"
#include "source/sidecar.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bmap of a few terabytes in short ranges stays below this. */
#define TEXT_MAX 256

enum field { F_NONE, F_IMAGE_SIZE, F_BLOCK_SIZE, F_BLOCKS, F_MAPPED,
	     F_CKTYPE, F_FILE_SUM, F_RANGE };

struct parse {
	XML_Parser xp;
	struct qf_bmap *b;
	size_t alloc;
	int depth;
	bool seen_root, in_map;
	enum field f;
	char text[TEXT_MAX];
	size_t tlen;
	char range_sum[TEXT_MAX];
	char file_sum[TEXT_MAX];
	char cktype[TEXT_MAX];
	uint64_t mapped_blocks;      /* in the ranges read so far */
	uint64_t decl_mapped;        /* what MappedBlocksCount says */
	bool have_size, have_bs, have_blocks, have_mapped;
	int sums;                    /* ranges with a digest */
	char why[300];
};

static void stop(struct parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stop(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	XML_StopParser(p->xp, XML_FALSE);
}

#define FAIL(...) do { stop(p, __VA_ARGS__); return; } while (0)

/* The text of an element without the blanks around it. */
static char *trimmed(struct parse *p)
{
	char *s = p->text;
	size_t n = p->tlen;

	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = 0;
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static bool parse_u64(const char *s, const char **end, uint64_t *v)
{
	uint64_t x = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*v = x;
	return true;
}

static bool whole_u64(const char *s, uint64_t *v)
{
	const char *end;
	return parse_u64(s, &end, v) && !*end;
}

static const char *attr(const XML_Char **a, const char *name)
{
	for (; a && a[0]; a += 2)
		if (!strcmp(a[0], name))
			return a[1];
	return NULL;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **a)
{
	struct parse *p = ud;
	const char *v;

	p->depth++;
	p->tlen = 0;
	p->f = F_NONE;
	if (p->depth == 1) {
		unsigned maj, min;
		char c;

		if (strcmp(name, "bmap"))
			FAIL("the root element is <%s>, not <bmap>", name);
		p->seen_root = true;
		v = attr(a, "version");
		if (!v || sscanf(v, "%u.%u%c", &maj, &min, &c) != 2)
			FAIL("<bmap> has no version of the form MAJOR.MINOR");
		if (maj < 1 || maj > 2)
			FAIL("bmap version %s is not supported (1.x and 2.x are)", v);
		p->b->major = maj;
		p->b->minor = min;
		return;
	}
	if (p->depth == 2) {
		static const struct { const char *n; enum field f; } names[] = {
			{ "ImageSize", F_IMAGE_SIZE }, { "BlockSize", F_BLOCK_SIZE },
			{ "BlocksCount", F_BLOCKS }, { "MappedBlocksCount", F_MAPPED },
			{ "ChecksumType", F_CKTYPE }, { "BmapFileChecksum", F_FILE_SUM },
			{ "BmapFileSHA1", F_FILE_SUM },
		};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(name, names[i].n))
				p->f = names[i].f;
		p->in_map = !strcmp(name, "BlockMap");
		return;
	}
	if (p->depth == 3 && p->in_map && !strcmp(name, "Range")) {
		p->f = F_RANGE;
		v = attr(a, "chksum");
		if (!v)
			v = attr(a, "sha1");
		snprintf(p->range_sum, sizeof(p->range_sum), "%s", v ? v : "");
	}
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct parse *p = ud;

	if (p->f == F_NONE)
		return;
	if (p->tlen + (size_t)len >= sizeof(p->text))
		FAIL("an element holds more text than any bmap field");
	memcpy(p->text + p->tlen, s, (size_t)len);
	p->tlen += (size_t)len;
}

static void add_range(struct parse *p, const char *s)
{
	struct qf_bmap *b = p->b;
	uint64_t first, last;
	const char *end;
	struct qf_bmap_range *r;

	if (!parse_u64(s, &end, &first))
		FAIL("range '%s' is not FIRST-LAST", s);
	last = first;
	if (*end == '-' && !parse_u64(end + 1, &end, &last))
		FAIL("range '%s' is not FIRST-LAST", s);
	if (*end)
		FAIL("range '%s' is not FIRST-LAST", s);
	if (!p->have_bs || !p->have_size)
		FAIL("a range comes before the image and block sizes");
	if (last < first || last >= b->blocks)
		FAIL("range %s lies outside the image's %llu blocks", s,
			    (unsigned long long)b->blocks);
	if (b->n && first * b->block_size < b->r[b->n - 1].end)
		FAIL("range %s overlaps or precedes the one before it", s);
	r = qf_grow(b->r, b->n, &p->alloc, sizeof(*r));
	b->r = r;
	r = &b->r[b->n++];
	memset(r, 0, sizeof(*r));
	r->start = first * b->block_size;
	r->end = (last + 1) * b->block_size;
	if (r->end > b->image_size)
		r->end = b->image_size;
	p->mapped_blocks += last - first + 1;
	b->mapped += r->end - r->start;
	if (p->range_sum[0]) {
		size_t n = strlen(p->range_sum);
		if (n > 2 * sizeof(r->sum) || n % 2 ||
		    qf_hex_parse(p->range_sum, r->sum, n / 2) < 0)
			FAIL("range %s has a malformed checksum", s);
		if (p->sums && n / 2 != b->sum_len)
			FAIL("range %s has a checksum of another length", s);
		b->sum_len = n / 2;
		p->sums++;
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	struct parse *p = ud;
	struct qf_bmap *b = p->b;
	enum field f = p->f;
	char *s = trimmed(p);
	uint64_t v = 0;

	p->depth--;
	p->f = F_NONE;
	if (p->depth == 1)
		p->in_map = false;
	switch (f) {
	case F_NONE:
		return;
	case F_CKTYPE:
		snprintf(p->cktype, sizeof(p->cktype), "%s", s);
		return;
	case F_FILE_SUM:
		snprintf(p->file_sum, sizeof(p->file_sum), "%s", s);
		return;
	case F_RANGE:
		add_range(p, s);
		return;
	default:
		break;
	}
	if (!whole_u64(s, &v))
		FAIL("<%s> is not a number: '%s'", name, s);
	switch (f) {
	case F_IMAGE_SIZE:
		b->image_size = v;
		p->have_size = true;
		break;
	case F_BLOCK_SIZE:
		if (v == 0 || v > ((uint64_t)1 << 30))
			FAIL("block size %llu is out of range",
				    (unsigned long long)v);
		b->block_size = v;
		p->have_bs = true;
		break;
	case F_BLOCKS:
		b->blocks = v;
		p->have_blocks = true;
		break;
	default:
		p->decl_mapped = v;
		p->have_mapped = true;
		break;
	}
	/* The block count follows from the sizes; ranges are checked
	 * against it. */
	if (p->have_size && p->have_bs && p->have_blocks &&
	    b->blocks != b->image_size / b->block_size +
			 (b->image_size % b->block_size != 0))
		stop(p, "%llu blocks of %llu bytes do not make an image of %llu bytes",
		     (unsigned long long)b->blocks,
		     (unsigned long long)b->block_size,
		     (unsigned long long)b->image_size);
}

/* The file's own checksum: the digest of the file with its value
 * replaced by zeros, as bmaptool computes it. */
static int check_file_sum(const struct parse *p, const char *text, size_t len)
{
	const char *alg = strlen(p->file_sum) == 40 ? "sha1" : "sha256";
	size_t n = strlen(p->file_sum);
	uint8_t want[QF_DIGEST_MAX], got[QF_DIGEST_MAX];
	struct qf_digest *d;
	char *copy;
	size_t gl;

	if ((n != 40 && n != 64) || qf_hex_parse(p->file_sum, want, n / 2) < 0)
		return -1;
	copy = qf_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = 0;
	for (char *at = copy; (at = strstr(at, p->file_sum)); at += n)
		memset(at, '0', n);
	d = qf_digest_new(alg);
	qf_digest_update(d, copy, len);
	gl = qf_digest_final(d, got);
	qf_digest_free(d);
	free(copy);
	return gl == n / 2 && !memcmp(got, want, gl) ? 0 : -1;
}

int qf_bmap_parse(const char *text, size_t len, const char *origin,
		  struct qf_bmap **out, struct qf_err *e)
{
	struct parse p = { 0 };
	struct qf_bmap *b = qf_xcalloc(1, sizeof(*b));
	int ok;

	*out = NULL;
	p.b = b;
	p.xp = XML_ParserCreate(NULL);
	if (!p.xp) {
		free(b);
		return qf_err_set(e, ENOMEM, N_("%s: out of memory reading the bmap"),
				  origin);
	}
	XML_SetUserData(p.xp, &p);
	XML_SetElementHandler(p.xp, on_start, on_end);
	XML_SetCharacterDataHandler(p.xp, on_text);
	ok = len <= INT32_MAX &&
	     XML_Parse(p.xp, text, (int)len, XML_TRUE) == XML_STATUS_OK;
	if (!ok && !p.why[0])
		snprintf(p.why, sizeof(p.why), "%s at line %lu",
			 XML_ErrorString(XML_GetErrorCode(p.xp)),
			 (unsigned long)XML_GetCurrentLineNumber(p.xp));
	XML_ParserFree(p.xp);
	/* First, as an edited file breaks the rules below too. */
	if (!p.why[0] && p.file_sum[0] && check_file_sum(&p, text, len) < 0)
		snprintf(p.why, sizeof(p.why), "%s",
			 "the file does not match its own checksum (damaged or edited)");
	if (!p.why[0] && !p.seen_root)
		snprintf(p.why, sizeof(p.why), "%s", "no <bmap> element");
	if (!p.why[0] && (!p.have_size || !p.have_bs || !p.have_blocks))
		snprintf(p.why, sizeof(p.why), "%s",
			 "ImageSize, BlockSize or BlocksCount is missing");
	if (!p.why[0] && b->image_size == 0)
		snprintf(p.why, sizeof(p.why), "%s", "the image size is 0");
	if (!p.why[0] && p.have_mapped && p.decl_mapped != p.mapped_blocks)
		snprintf(p.why, sizeof(p.why),
			 "MappedBlocksCount is %llu, but the ranges hold %llu blocks",
			 (unsigned long long)p.decl_mapped,
			 (unsigned long long)p.mapped_blocks);
	if (!p.why[0] && p.sums && (size_t)p.sums != b->n)
		snprintf(p.why, sizeof(p.why), "%s",
			 "some ranges have a checksum and others do not");
	if (!p.why[0] && p.sums) {
		const char *want = b->sum_len == 20 ? "sha1" :
				   b->sum_len == 32 ? "sha256" : NULL;
		if (!want || (p.cktype[0] && strcmp(p.cktype, want)))
			snprintf(p.why, sizeof(p.why),
				 "the ranges' checksums are not of the type %s",
				 p.cktype[0] ? p.cktype : "sha1");
		b->alg = want;
	}
	if (p.why[0]) {
		qf_bmap_free(b);
		return qf_err_set(e, EINVAL, N_("%s: not a usable bmap: %s"),
				  origin, p.why);
	}
	b->origin = qf_xstrdup(origin);
	*out = b;
	return 0;
}

void qf_bmap_free(struct qf_bmap *b)
{
	if (!b)
		return;
	free(b->r);
	free(b->origin);
	free(b);
}

/* ------------------------------------------------------------ finding */

static const char *const packed[] = { ".gz", ".xz", ".bz2", ".lz4", ".zst",
				      ".zip" };

/* Read and parse @name: 1, 0 when it is not there, or an error. */
static int load(const char *name, const struct qf_open_opts *opts,
		bool found, struct qf_bmap **out, struct qf_err *e)
{
	struct qf_err e2 = { 0 };
	char *text = NULL, *shown;
	size_t len = 0;
	int ret = qf_small_file(name, opts, QF_BMAP_MAX, &text, &len, &e2);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0 && found) {
		qf_warn(opts, _("%s; the image is flashed without its bmap"), e2.msg);
		return 0;
	}
	if (ret < 0) {
		if (e && !e->code)
			*e = e2;
		return ret;
	}
	/* Named without the credentials a URL's query may hold. */
	shown = qf_url_redact(name);
	ret = qf_bmap_parse(text, len, shown, out, e);
	free(shown);
	free(text);
	return ret < 0 ? ret : 1;
}

int qf_bmap_beside(const char *image, char **names, bool *packed_name)
{
	/* A URL keeps its query (a token) after the name that changes. */
	size_t plen = qf_name_path_len(image);
	const char *query = image + plen;
	int n = 0;

	*packed_name = false;
	names[n++] = qf_xasprintf("%.*s.bmap%s", (int)plen, image, query);
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		size_t k = strlen(packed[i]);
		if (plen <= k || strncmp(image + plen - k, packed[i], k))
			continue;
		names[n++] = qf_xasprintf("%.*s.bmap%s", (int)(plen - k), image,
					  query);
		*packed_name = true;
		break;
	}
	return n;
}

int qf_bmap_find(const char *image, const char *given,
		 const struct qf_open_opts *opts, struct qf_bmap **out,
		 struct qf_err *e)
{
	char *names[QF_BMAP_BESIDE], *cand;
	bool packed_name;
	int ret = 0, n;

	*out = NULL;
	if (given) {
		ret = load(given, opts, false, out, e);
		if (ret)
			return ret;
		cand = qf_url_redact(given);
		ret = qf_err_set(e, ENOENT, N_("%s: no such bmap file"), cand);
		free(cand);
		return ret;
	}
	n = qf_bmap_beside(image, names, &packed_name);
	for (int i = 0; i < n; i++) {
		if (!ret)
			ret = load(names[i], opts, true, out, e);
		free(names[i]);
	}
	return ret;
}

bool qf_bmap_run(const struct qf_bmap *b, uint64_t off, uint64_t *len)
{
	size_t lo = 0, hi = b->n;
	uint64_t to;

	/* The first range that ends after @off (they are sorted and
	 * disjoint: the parser refuses others). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->r[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < b->n && b->r[lo].start <= off) {
		to = b->r[lo].end;
		if (to - off < *len)
			*len = to - off;
		return true;
	}
	if (lo < b->n && b->r[lo].start - off < *len)
		*len = b->r[lo].start - off;
	return false;
}

/* ----------------------------------------------------------- checking */

struct qf_bmap_check {
	const struct qf_bmap *b;
	size_t i;                    /* the range being read, or the next */
	struct qf_digest *d;
};

struct qf_bmap_check *qf_bmap_check_new(const struct qf_bmap *b)
{
	struct qf_bmap_check *c = qf_xcalloc(1, sizeof(*c));

	c->b = b;
	if (b->alg)
		c->d = qf_digest_new(b->alg);
	return c;
}

int qf_bmap_check_bytes(struct qf_bmap_check *c, uint8_t *buf, uint64_t off,
			size_t len, const char *name, struct qf_err *e)
{
	const struct qf_bmap *b = c->b;
	uint64_t pos = off, end = off + len;

	while (pos < end) {
		const struct qf_bmap_range *r = c->i < b->n ? &b->r[c->i] : NULL;
		uint64_t to;

		if (!r || pos < r->start) {
			/* Unmapped: zeros, whatever the image holds there. */
			to = r && r->start < end ? r->start : end;
			memset(buf + (pos - off), 0, (size_t)(to - pos));
			pos = to;
			continue;
		}
		if (pos >= r->end) {
			c->i++;
			continue;
		}
		to = r->end < end ? r->end : end;
		if (c->d)
			qf_digest_update(c->d, buf + (pos - off), (size_t)(to - pos));
		pos = to;
		if (pos < r->end)
			break;
		c->i++;
		if (c->d) {
			uint8_t got[QF_DIGEST_MAX];
			size_t n = qf_digest_final(c->d, got);

			if (n != b->sum_len || memcmp(got, r->sum, n))
				return qf_err_set(e, EBADMSG,
						  N_("%s: bytes %llu-%llu do not match their %s in %s: the image is damaged or not the one the bmap was made for"),
						  name, (unsigned long long)r->start,
						  (unsigned long long)r->end - 1,
						  b->alg, b->origin);
		}
	}
	return 0;
}

void qf_bmap_check_free(struct qf_bmap_check *c)
{
	if (!c)
		return;
	qf_digest_free(c->d);
	free(c);
}
