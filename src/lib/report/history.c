/* history.c - the flash log read back: its lines streamed through a
 * bounded buffer, each parsed by json-c (logline.c), every "started" line
 * paired with the result line of the same flash, and the records that
 * match a filter counted and kept (the newest N, when asked). */
#include "report/history.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A line longer than this is no record qflash wrote (paths, a message
 * and the station's fields come to a few KiB): it is skipped, and the
 * memory a damaged log can take stays bounded. */
#define LINE_MAX_BYTES ((size_t)1 << 20)
#define BLOCK_BYTES ((size_t)64 << 10)
#define PENDING_BUCKETS 1024

/* ------------------------------------------------------------ the lines */

struct lines {
	int fd;
	char *blk;                   /* what read() gave, [pos, end) unused */
	size_t pos, end;
	char *line;                  /* the line being assembled */
	size_t len, cap;
	bool too_long;               /* longer than LINE_MAX_BYTES: dropped */
};

/* The next line into l->line (NUL-terminated, without its newline): 1,
 * 0 at the end of the file, or a negative errno.  The last line counts
 * without a newline too. */
static int next_line(struct lines *l)
{
	l->len = 0;
	l->too_long = false;
	for (;;) {
		char *nl;
		size_t n;

		if (l->pos == l->end) {
			ssize_t got = read(l->fd, l->blk, BLOCK_BYTES);

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return -errno;
			if (got == 0)
				break;
			l->pos = 0;
			l->end = (size_t)got;
		}
		nl = memchr(l->blk + l->pos, '\n', l->end - l->pos);
		n = (nl ? (size_t)(nl - l->blk) : l->end) - l->pos;
		if (l->len + n > LINE_MAX_BYTES)
			l->too_long = true;
		if (!l->too_long) {
			if (l->len + n + 1 > l->cap) {
				l->cap = l->len + n + 1 > 2 * l->cap ? l->len + n + 1
								    : 2 * l->cap;
				l->line = realloc(l->line, l->cap);
				if (!l->line)
					abort();
			}
			memcpy(l->line + l->len, l->blk + l->pos, n);
			l->len += n;
		}
		l->pos += n + (nl != NULL);
		if (nl)
			goto done;
	}
	if (l->len == 0 && !l->too_long)
		return 0;
done:
	if (!l->line) {
		l->line = qf_xmalloc(1);
		l->cap = 1;
	}
	if (l->too_long)
		l->len = 0;
	l->line[l->len] = '\0';
	return 1;
}

/* ---------------------------------------------- the flashes not ended yet */

/* A "started" record waiting for its result line, found by target,
 * image and partition. */
struct pend {
	struct qf_history_record r;
	uint64_t hash;
	struct pend *next;
};

struct reading {
	const struct qf_history_filter *f;
	bool image_is_sha;           /* f->image may be a digest prefix */
	struct qf_history *h;
	size_t alloc;
	struct pend *pending[PENDING_BUCKETS];
};

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (h ^ 0xff) * 1099511628211u;
}

static uint64_t key_hash(const struct qf_history_record *r)
{
	uint64_t h = fnv(fnv(14695981039346656037u, r->target), r->image);

	return (h ^ (uint64_t)r->partition) * 1099511628211u;
}

static bool same_flash_target(const struct qf_history_record *a,
			      const struct qf_history_record *b)
{
	return a->partition == b->partition && !strcmp(a->target, b->target) &&
	       !strcmp(a->image, b->image);
}

/* -------------------------------------------------- filter and keeping */

static bool hex_prefix(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF");

	return n >= 8 && n <= 64 && !s[n];
}

static bool matches(const struct reading *rd, const struct qf_history_record *r)
{
	const struct qf_history_filter *f = rd->f;

	if (!f)
		return true;
	if (f->since && r->time < f->since)
		return false;
	if (f->serial && strcmp(r->serial, f->serial) != 0)
		return false;
	if (f->image && *f->image && !strstr(r->image, f->image) &&
	    !(rd->image_is_sha &&
	      !strncasecmp(r->source_sha256, f->image, strlen(f->image))))
		return false;
	return true;
}

static void tally(struct qf_history_counts *c, enum qf_history_outcome o)
{
	c->total++;
	switch (o) {
	case QF_HISTORY_PASSED: c->passed++; break;
	case QF_HISTORY_FAILED: c->failed++; break;
	case QF_HISTORY_CANCELLED: c->cancelled++; break;
	case QF_HISTORY_INTERRUPTED: c->interrupted++; break;
	}
}

/* Oldest first: by start time, then by where in the log they begin. */
static int cmp_rec(const void *a, const void *b)
{
	const struct qf_history_record *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/* Sort, and with a limit drop all but the newest records. */
static void trim(struct qf_history *h, size_t limit)
{
	size_t drop;

	if (!h->count)
		return;
	qsort(h->rec, h->count, sizeof(*h->rec), cmp_rec);
	if (!limit || h->count <= limit)
		return;
	drop = h->count - limit;
	for (size_t i = 0; i < drop; i++)
		logline_clear(&h->rec[i]);
	memmove(h->rec, h->rec + drop, limit * sizeof(*h->rec));
	h->count = limit;
}

/* A record is complete: counted and kept if it matches, freed if not.
 * With a limit, at most twice as many are held as are kept: a trim
 * keeps the newest of those seen, and a record it drops has @limit
 * newer ones already. */
static void finish(struct reading *rd, struct qf_history_record *r)
{
	struct qf_history *h = rd->h;
	size_t limit = rd->f ? rd->f->limit : 0;

	if (!matches(rd, r)) {
		logline_clear(r);
		return;
	}
	tally(&h->all, r->outcome);
	if (rd->f && rd->f->mark && r->time >= rd->f->mark)
		tally(&h->marked, r->outcome);
	h->rec = qf_grow(h->rec, h->count, &rd->alloc, sizeof(*h->rec));
	h->rec[h->count++] = *r;
	memset(r, 0, sizeof(*r));
	if (limit && h->count >= 2 * limit)
		trim(h, limit);
}

/* A started line.  An earlier start of the same target and image that is
 * still waiting never ended: the flash was run again.  (Two starts in the
 * same second both wait: the same file may be the target of two jobs.) */
static void add_started(struct reading *rd, struct qf_history_record *r)
{
	uint64_t hash = key_hash(r);
	struct pend **pp = &rd->pending[hash % PENDING_BUCKETS], *p;

	while ((p = *pp)) {
		if (p->hash == hash && same_flash_target(&p->r, r) &&
		    p->r.time != r->time) {
			*pp = p->next;
			finish(rd, &p->r);
			free(p);
			continue;
		}
		pp = &p->next;
	}
	p = qf_xcalloc(1, sizeof(*p));
	p->r = *r;
	p->hash = hash;
	p->next = rd->pending[hash % PENDING_BUCKETS];
	rd->pending[hash % PENDING_BUCKETS] = p;
	memset(r, 0, sizeof(*r));
}

/* A result line: with the started line of its flash, the one of the same
 * second (both carry the job's start time) or else the latest; alone
 * when there is none (logs older than the started lines). */
static void add_result(struct reading *rd, struct qf_history_record *r)
{
	uint64_t hash = key_hash(r);
	struct pend **pp, **best = NULL;
	bool best_same = false;

	for (pp = &rd->pending[hash % PENDING_BUCKETS]; *pp; pp = &(*pp)->next) {
		struct pend *p = *pp;
		bool same = p->r.time == r->time;

		if (p->hash != hash || !same_flash_target(&p->r, r))
			continue;
		if (!best || (same && !best_same) ||
		    (same == best_same && p->r.line > (*best)->r.line)) {
			best = pp;
			best_same = same;
		}
	}
	if (best) {
		struct pend *p = *best;

		*best = p->next;
		logline_merge(r, &p->r);
		free(p);
	}
	finish(rd, r);
}

static void flush_pending(struct reading *rd)
{
	for (size_t b = 0; b < PENDING_BUCKETS; b++) {
		struct pend *p, *next;

		for (p = rd->pending[b]; p; p = next) {
			next = p->next;
			finish(rd, &p->r);
			free(p);
		}
		rd->pending[b] = NULL;
	}
}

static void drop_pending(struct reading *rd)
{
	for (size_t b = 0; b < PENDING_BUCKETS; b++) {
		struct pend *p, *next;

		for (p = rd->pending[b]; p; p = next) {
			next = p->next;
			logline_clear(&p->r);
			free(p);
		}
		rd->pending[b] = NULL;
	}
}

/* ------------------------------------------------------------- reading */

/* One line: a record added, or the line counted as skipped.  Blank lines
 * are nothing at all. */
static void take_line(struct reading *rd, struct json_tokener *tok,
		      struct lines *l)
{
	struct qf_history_record r;
	struct json_object *o;
	size_t n = l->len;
	bool started;

	while (n && (l->line[n - 1] == '\r' || l->line[n - 1] == ' ' ||
		     l->line[n - 1] == '\t'))
		n--;
	if (!n && !l->too_long)
		return;
	json_tokener_reset(tok);
	o = n ? json_tokener_parse_ex(tok, l->line, (int)n) : NULL;
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n ||
	    logline_record(o, (long)rd->h->lines, &r, &started) < 0) {
		rd->h->skipped++;
		json_object_put(o);
		return;
	}
	json_object_put(o);
	if (started)
		add_started(rd, &r);
	else
		add_result(rd, &r);
}

int qf_history_read(const char *path, const struct qf_history_filter *f,
		    struct qf_history *h, struct qf_err *e)
{
	struct reading rd = { .f = f, .h = h };
	struct lines l = { .fd = -1 };
	struct json_tokener *tok = NULL;
	char *dflt = NULL;
	int ret = 0;

	memset(h, 0, sizeof(*h));
	if (!path && !(path = dflt = qf_flashlog_default_path()))
		return qf_err_set(e, ENOENT,
				  N_("no flash log: neither XDG_STATE_HOME nor HOME is set"));
	rd.image_is_sha = f && f->image && hex_prefix(f->image);
	l.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l.fd < 0) {
		ret = qf_err_set(e, errno, N_("%s: cannot read the flash log: %m"), path);
		goto out;
	}
	l.blk = qf_xmalloc(BLOCK_BYTES);
	/* Depth: a record, its snapshot or qualification, their values. */
	tok = json_tokener_new_ex(16);
	if (!tok) {
		ret = qf_err_set(e, ENOMEM, "%s: %m", path);
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	while ((ret = next_line(&l)) > 0) {
		h->lines++;
		take_line(&rd, tok, &l);
	}
	if (ret < 0) {
		ret = qf_err_set(e, ret, N_("%s: cannot read the flash log: %m"), path);
		goto out;
	}
	flush_pending(&rd);
	trim(h, f ? f->limit : 0);
out:
	if (ret < 0) {
		drop_pending(&rd);
		qf_history_free(h);
	}
	if (tok)
		json_tokener_free(tok);
	if (l.fd >= 0)
		close(l.fd);
	free(l.blk);
	free(l.line);
	free(dflt);
	return ret;
}

void qf_history_free(struct qf_history *h)
{
	for (size_t i = 0; h->rec && i < h->count; i++)
		logline_clear(&h->rec[i]);
	free(h->rec);
	memset(h, 0, sizeof(*h));
}
