/* qcow2_l2.c - the L1 and L2 tables of a qcow2 layer: loading and
 * checking them at open, a small LRU cache of L2 tables, and qcow2_map,
 * which answers "what is at this virtual offset" in runs, never in
 * per-cluster arrays for the whole disk. */
#include "image/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Whether a standard cluster entry has a host cluster.  With an external
 * data file host offset 0 is a real cluster, marked by the copied bit. */
static bool std_allocated(const struct qcow2 *q, uint64_t l2e)
{
	return (l2e & L2E_OFFSET_MASK) ||
	       (qcow2_has_data_file(q) && (l2e & L2E_COPIED));
}

/* Host offset and length of the compressed data of a compressed entry. */
static void compressed_at(const struct qcow2 *q, uint64_t l2e, uint64_t *coff,
			  uint64_t *clen)
{
	uint64_t nsect = ((l2e >> q->csize_shift) & q->csize_mask) + 1;

	*coff = l2e & q->coff_mask;
	*clen = nsect * 512 - (*coff & 511);
}

/* Check one (extended) L2 entry; @vcluster names it in errors. */
static int check_l2_entry(struct qcow2 *q, uint64_t l2e, uint64_t bitmap,
			  uint64_t vcluster)
{
	uint64_t fsize = q->file->size;
	unsigned long long voff = (unsigned long long)(vcluster << q->cluster_bits);

	if (l2e & L2E_COMPRESSED) {
		uint64_t coff, clen, end;

		compressed_at(q, l2e, &coff, &clen);

		if (qcow2_has_data_file(q))
			return qcow2_bad(q, N_("compressed cluster at virtual offset %llu in an image with an external data file"), voff);
		if (coff & ~L2E_OFFSET_MASK & ~511ull)
			return qcow2_bad(q, N_("compressed cluster at virtual offset %llu has reserved offset bits set"), voff);
		if (q->ext_l2 && bitmap)
			return qcow2_bad(q, N_("compressed cluster at virtual offset %llu has a subcluster bitmap"), voff);
		if (coff >= fsize || add_overflows(coff, clen, &end) ||
		    end > ((fsize + 511) & ~511ull))
			return qcow2_bad(q, N_("compressed cluster at virtual offset %llu lies past the end of the file"), voff);
		return 0;
	}
	if (l2e & L2E_STD_RESERVED)
		return qcow2_bad(q, N_("L2 entry for virtual offset %llu has reserved bits set"), voff);
	/* The zero flag came with version 3, and extended entries use the
	 * bitmap instead (qemu refuses the first at read time). */
	if ((l2e & L2E_ZERO) && q->version < 3)
		return qcow2_bad(q, N_("L2 entry for virtual offset %llu has the zero flag, which version 2 images do not have"), voff);
	if ((l2e & L2E_ZERO) && q->ext_l2)
		return qcow2_bad(q, N_("extended L2 entry for virtual offset %llu has the zero flag set"), voff);
	{
		uint64_t off = l2e & L2E_OFFSET_MASK;

		/* A raw data file is the disk itself: host = guest. */
		if ((q->autoclear & AUTOCLEAR_RAW_DATA) && std_allocated(q, l2e) &&
		    off != (uint64_t)voff)
			return qcow2_bad(q, N_("cluster at virtual offset %llu is at %llu in the raw external data file"),
					 voff, (unsigned long long)off);

		if (off & (q->cluster_size - 1))
			return qcow2_bad(q, N_("data cluster for virtual offset %llu is not aligned to a cluster"), voff);
		if (off && !qcow2_has_data_file(q) && off >= fsize)
			return qcow2_bad(q, N_("data cluster for virtual offset %llu is past the end of the file"), voff);
		if (q->ext_l2) {
			uint32_t a = (uint32_t)bitmap, z = (uint32_t)(bitmap >> 32);
			if (a & z)
				return qcow2_bad(q, N_("subclusters at virtual offset %llu are both allocated and zero"), voff);
			if (a && !std_allocated(q, l2e))
				return qcow2_bad(q, N_("subclusters at virtual offset %llu are allocated without a host cluster"), voff);
		}
	}
	return 0;
}

int qcow2_load_l1(struct qcow2 *q, uint64_t l1_off, uint32_t l1_size)
{
	uint64_t fsize = q->file->size;
	int ret;

	q->l1_size = l1_size;
	q->l1 = qf_xcalloc(l1_size ? l1_size : 1, sizeof(uint64_t));
	if (!l1_size)
		return 0;
	/* Decoded in place: a 32 MiB table is not held twice. */
	ret = qcow2_read(q, q->l1, (size_t)l1_size * 8, l1_off, q->open_err);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t v = get_be64(&q->l1[i]);
		uint64_t l2 = v & L1E_OFFSET_MASK;
		if (v & L1E_RESERVED)
			return qcow2_bad(q, N_("L1 entry %u has reserved bits set"), i);
		if (l2 & (q->cluster_size - 1))
			return qcow2_bad(q, N_("L2 table at %llu (L1 entry %u) is not aligned to a cluster"),
					 (unsigned long long)l2, i);
		if (l2 && !range_inside(l2, q->cluster_size, fsize))
			return qcow2_bad(q, N_("L2 table at %llu (L1 entry %u) is past the end of the file"),
					 (unsigned long long)l2, i);
		q->l1[i] = l2;
	}
	return 0;
}

/* Slot @sl's table, allocated on first use (a cluster of entries). */
static uint64_t *slot_tab(struct qcow2 *q, struct l2_slot *sl)
{
	if (!sl->tab)
		sl->tab = qf_xmalloc((size_t)q->l2_entries * q->entry_words *
				     sizeof(uint64_t));
	return sl->tab;
}

/* The table at @off, as read from the file (@be, big-endian; it may be
 * the slot's own table), goes into @sl in host byte order. */
static void slot_fill(struct qcow2 *q, struct l2_slot *sl, uint64_t off,
		      const void *be)
{
	size_t n = (size_t)q->l2_entries * q->entry_words;
	uint64_t *tab = slot_tab(q, sl);

	for (size_t i = 0; i < n; i++)
		tab[i] = get_be64((const uint8_t *)be + 8 * i);
	sl->off = off;
	sl->used = ++q->stamp;
}

/* Read (through the cache) the L2 table at @off; returns a pointer valid
 * while q->lock is held. */
static int l2_get(struct qcow2 *q, uint64_t off, const uint64_t **tab,
		  struct qf_err *e)
{
	struct l2_slot *victim = &q->cache[0];
	size_t bytes = (size_t)q->l2_entries * q->entry_words * sizeof(uint64_t);
	int ret;

	for (unsigned i = 0; i < q->ncache; i++) {
		if (q->cache[i].off == off) {
			q->cache[i].used = ++q->stamp;
			*tab = q->cache[i].tab;
			return 0;
		}
		if (q->cache[i].used < victim->used)
			victim = &q->cache[i];
	}
	/* Emptied first: a failed read leaves a table of neither offset. */
	victim->off = 0;
	ret = qcow2_read(q, slot_tab(q, victim), bytes, off, e);
	if (ret < 0)
		return ret;
	slot_fill(q, victim, off, victim->tab);
	*tab = victim->tab;
	return 0;
}

/* A table just read and checked goes into a free slot of the cache, if
 * there is one: the first tables the flash needs are then at hand.  Read
 * again, over a long link, each would wait behind the prefetched data
 * for most of a second, and the whole flash with it. */
static void l2_keep(struct qcow2 *q, uint64_t off, const uint8_t *raw)
{
	for (unsigned i = 0; i < q->ncache; i++)
		if (!q->cache[i].off) {
			slot_fill(q, &q->cache[i], off, raw);
			return;
		}
}

/* The L2 tables checked so far, by host offset (never 0): an open
 * addressing hash set, so that a table many L1 entries name is read and
 * checked once. */
struct table_set {
	uint64_t *slot;
	size_t mask, used;
};

static size_t set_hash(uint64_t off, size_t mask)
{
	return (size_t)((off >> 9) * 0x9e3779b97f4a7c15ull >> 17) & mask;
}

/* Add @off; false if it was there already. */
static bool set_add(struct table_set *s, uint64_t off)
{
	size_t i;

	if (2 * (s->used + 1) > s->mask + 1) {
		struct table_set big = { 0 };

		big.mask = s->mask ? 2 * s->mask + 1 : 255;
		big.slot = qf_xcalloc(big.mask + 1, sizeof(uint64_t));
		for (size_t k = 0; s->slot && k <= s->mask; k++)
			if (s->slot[k])
				set_add(&big, s->slot[k]);
		free(s->slot);
		*s = big;
	}
	for (i = set_hash(off, s->mask); s->slot[i]; i = (i + 1) & s->mask)
		if (s->slot[i] == off)
			return false;
	s->slot[i] = off;
	s->used++;
	return true;
}

/* Check the first @n entries of the L2 table at @off, which maps virtual
 * clusters from @first on; @raw holds one cluster. */
static int check_table(struct qcow2 *q, uint64_t off, uint64_t first,
		       uint64_t n, uint8_t *raw)
{
	int ret = qcow2_read(q, raw, q->cluster_size, off, q->open_err);

	for (uint64_t j = 0; ret == 0 && j < n; j++) {
		const uint8_t *p = raw + j * 8 * q->entry_words;
		uint64_t l2e = get_be64(p);
		uint64_t bm = q->ext_l2 ? get_be64(p + 8) : 0;

		ret = check_l2_entry(q, l2e, bm, first + j);
		/* Counted here, where every entry is read anyway. */
		q->ncompressed += (l2e & L2E_COMPRESSED) != 0;
	}
	if (ret == 0)
		l2_keep(q, off, raw);
	return ret;
}

/* Every L2 table the L1 names is checked once, up to the entries the
 * virtual size reaches: the work is linear in the tables, not in the
 * references to them.  A table the last, partly used L1 entry names
 * alone is checked as far as that entry reaches. */
int qcow2_validate_tables(struct qcow2 *q)
{
	uint64_t nclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	uint64_t nfull = nclusters / q->l2_entries;
	uint64_t tail = nclusters % q->l2_entries;
	struct table_set seen = { 0 };
	uint8_t *raw = qf_xmalloc(q->cluster_size);
	int ret = 0;

	/* Over a long link, one round trip per table adds up (a 20 GiB
	 * image has 40): the tables are asked for together first. */
	if (q->file->remote)
		for (uint64_t i = 0; i < q->l1_size && i <= nfull; i++)
			if (q->l1[i] && (i < nfull || tail))
				qf_source_prefetch(q->file, q->l1[i],
						   q->cluster_size);
	for (uint64_t i = 0; ret == 0 && i < q->l1_size && i <= nfull; i++) {
		uint64_t first = i * q->l2_entries;
		uint64_t off = q->l1[i];

		if (!off || (i == nfull && !tail) || !set_add(&seen, off))
			continue;
		ret = check_table(q, off, first, i < nfull ? q->l2_entries : tail,
				  raw);
	}
	free(seen.slot);
	free(raw);
	return ret;
}

void qcow2_cache_init(struct qcow2 *q, uint32_t l1_size)
{
	uint64_t per_table = (uint64_t)q->l2_entries * q->entry_words * 8;

	q->ncache = L2_CACHE_BYTES / per_table;
	/* Never more slots than L2 tables: every lookup scans them all, and
	 * small clusters would make that thousands for a small image. */
	if (q->ncache > l1_size)
		q->ncache = l1_size;
	if (q->ncache < L2_CACHE_MIN)
		q->ncache = L2_CACHE_MIN;
	q->cache = qf_xcalloc(q->ncache, sizeof(*q->cache));
}

static enum qcow2_kind sc_kind(const struct qcow2 *q, uint64_t l2e,
			       uint64_t bm, unsigned sc)
{
	if (!q->ext_l2) {
		if (l2e & L2E_ZERO)
			return QCOW2_ZERO;
		return std_allocated(q, l2e) ? QCOW2_DATA : QCOW2_UNALLOCATED;
	}
	if (bm & (1ull << (32 + sc)))
		return QCOW2_ZERO;
	if (bm & (1ull << sc))
		return QCOW2_DATA;
	return QCOW2_UNALLOCATED;
}

int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t maxlen,
	      struct qcow2_run *run, struct qf_err *e)
{
	uint64_t cmask = q->cluster_size - 1;
	uint64_t l2_span = (uint64_t)q->l2_entries << q->cluster_bits;
	uint64_t end, pos = off;
	bool first = true;
	int ret = 0;

	if (off >= q->size)
		return qf_err_set(e, EINVAL, "%s: map past the end (%llu)",
				  q->file->name, (unsigned long long)off);
	if (maxlen > q->size - off)
		maxlen = q->size - off;
	end = off + maxlen;
	memset(run, 0, sizeof(*run));

	pthread_mutex_lock(&q->lock);
	while (pos < end) {
		uint64_t l1i = pos / l2_span;
		const uint64_t *tab;

		if (l1i >= q->l1_size || !q->l1[l1i]) {
			/* A whole L2 range unallocated. */
			uint64_t stop = (l1i + 1) * l2_span;
			if (first)
				run->kind = QCOW2_UNALLOCATED;
			else if (run->kind != QCOW2_UNALLOCATED)
				break;
			first = false;
			pos = stop < end ? stop : end;
			continue;
		}
		if ((ret = l2_get(q, q->l1[l1i], &tab, e)) < 0)
			break;
		/* Walk entries of this table while the kind stays the same. */
		while (pos < end && pos / l2_span == l1i) {
			uint64_t ci = (pos >> q->cluster_bits) % q->l2_entries;
			uint64_t l2e = tab[ci * q->entry_words];
			uint64_t bm = q->ext_l2 ? tab[ci * 2 + 1] : 0;
			uint64_t cstart = pos & ~cmask;
			enum qcow2_kind k;
			uint64_t stop, host = 0;

			if (l2e & L2E_COMPRESSED) {
				uint64_t clen;

				if (!first)
					goto done;
				run->kind = QCOW2_COMPRESSED;
				compressed_at(q, l2e, &run->coff, &clen);
				run->clen = (uint32_t)clen;
				run->skip = (uint32_t)(pos - cstart);
				stop = cstart + q->cluster_size;
				pos = stop < end ? stop : end;
				goto done;
			}
			/* Standard cluster: walk its subclusters (one step
			 * covering the whole cluster without extended L2). */
			{
				uint64_t scsize = 1ull << q->sc_bits;
				unsigned sc = (unsigned)((pos - cstart) >> q->sc_bits);
				k = sc_kind(q, l2e, bm, sc);
				stop = (pos & ~(scsize - 1)) + scsize;
				host = (l2e & L2E_OFFSET_MASK) + (pos - cstart);
				if (first) {
					run->kind = k;
					if (k == QCOW2_DATA)
						run->host_off = host;
				} else if (k != run->kind ||
					   (k == QCOW2_DATA &&
					    run->host_off + (pos - off) != host)) {
					goto done;
				}
				first = false;
				pos = stop < end ? stop : end;
			}
		}
	}
done:
	pthread_mutex_unlock(&q->lock);
	if (ret < 0)
		return ret;
	run->len = pos - off;
	return 0;
}
