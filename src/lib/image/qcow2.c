/* qcow2.c - reading one qcow2 layer.
 *
 * Owns the header, its extensions, the snapshot table, the L1 table in use
 * and a small cache of L2 tables.  qcow2_open checks every field against the
 * specification (docs/interop/qcow2.txt in qemu) and walks every L2 table the
 * chosen L1 refers to, so a malformed image is refused before the engine
 * writes anything.  qcow2_map then answers "what is at this virtual offset"
 * in runs, never in per-cluster arrays for the whole disk. */
#include "image/qcow2.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_V2_LEN 72
#define HDR_V3_MIN 104

#define INCOMPAT_DIRTY     (1ull << 0)
#define INCOMPAT_CORRUPT   (1ull << 1)
#define INCOMPAT_DATA_FILE (1ull << 2)
#define INCOMPAT_COMPRESS  (1ull << 3)
#define INCOMPAT_EXTL2     (1ull << 4)
#define INCOMPAT_KNOWN     0x1full
#define COMPAT_LAZY        (1ull << 0)
#define AUTOCLEAR_RAW_DATA (1ull << 1)

#define EXT_END          0x00000000u
#define EXT_BACKING_FMT  0xe2792acau
#define EXT_FEATURES     0x6803f857u
#define EXT_BITMAPS      0x23852875u
#define EXT_CRYPTO       0x0537be77u
#define EXT_DATA_FILE    0x44415441u

#define L1E_OFFSET_MASK  0x00fffffffffffe00ull
#define L1E_RESERVED     0x7f000000000001ffull
#define L2E_COPIED       (1ull << 63)
#define L2E_COMPRESSED   (1ull << 62)
#define L2E_ZERO         (1ull << 0)
#define L2E_OFFSET_MASK  0x00fffffffffffe00ull
#define L2E_STD_RESERVED 0x3f000000000001feull

#define MAX_L1_BYTES       (32u << 20)
#define MAX_SNAPSHOTS      65536u
#define MAX_SNAP_TABLE     (64u << 20)
#define MAX_BACKING_NAME   1023u
#define L2_CACHE_BYTES     (8u << 20)
#define L2_CACHE_MIN       4

struct feature_name {
	uint8_t type, bit;
	char name[47];
};

struct l2_slot {
	uint64_t off;             /* host offset of the table, 0 = empty */
	uint64_t *tab;            /* entries in host byte order */
	uint64_t used;            /* LRU stamp */
};

struct qcow2 {
	struct qf_source *file;
	struct qf_source *data;   /* == file unless an external data file */
	const struct qf_open_opts *opts;

	uint32_t version, cluster_bits, cluster_size, refcount_order;
	uint32_t header_length, crypt_method;
	uint64_t size;            /* as qemu sees it: whole sectors */
	uint64_t incompat, compat, autoclear;
	bool ext_l2;
	uint32_t l2_entries;      /* entries per L2 table */
	uint32_t entry_words;     /* 1, or 2 with extended L2 */
	uint32_t sc_bits;         /* log2 of the subcluster size */
	enum qf_compression ctype;
	int csize_shift;
	uint64_t csize_mask, coff_mask;

	char *backing_name, *backing_fmt, *data_file_name;
	struct feature_name *features;
	size_t nfeatures;

	uint32_t l1_size;         /* entries in the L1 being read */
	uint64_t *l1;
	int snap_selected;
	struct qf_snapshot_info *snaps;
	uint32_t nsnaps;

	struct qf_err *open_err;  /* only during qcow2_open */

	pthread_mutex_t lock;
	struct l2_slot *cache;
	unsigned ncache;
	uint64_t stamp;
};

bool qcow2_probe(const void *buf, size_t len)
{
	return len >= 4 && get_be32(buf) == QCOW2_MAGIC;
}

/* Name an unknown feature bit from the image's own feature name table. */
static const char *feature_name(const struct qcow2 *q, int type, int bit)
{
	for (size_t i = 0; i < q->nfeatures; i++)
		if (q->features[i].type == type && q->features[i].bit == bit)
			return q->features[i].name;
	return NULL;
}

/* Report a malformed image: "FILE: reason", into the error of the
 * qcow2_open call in progress (q->open_err), so the checks need not carry
 * it in every argument list. */

static int bad(struct qcow2 *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad(struct qcow2 *q, const char *fmt, ...)
{
	char msg[QF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return qf_err_set(q->open_err, EINVAL, "%s: %s", q->file->name, msg);
}

static int read_at(struct qcow2 *q, void *buf, size_t len, uint64_t off,
		   struct qf_err *e)
{
	return qf_source_pread(q->file, buf, len, off, 0, e);
}

static int parse_extensions(struct qcow2 *q, const uint8_t *c0)
{
	uint64_t pos = q->header_length;

	while (pos + 8 <= q->cluster_size) {
		uint32_t type = get_be32(c0 + pos);
		uint32_t len = get_be32(c0 + pos + 4);
		uint64_t data = pos + 8, next;

		/* The area may also fill the first cluster without an end. */
		if (type == EXT_END)
			break;
		next = data + (((uint64_t)len + 7) & ~7ull);
		if (next > q->cluster_size)
			return bad(q, _("header extension 0x%08x at %llu runs past the first cluster"),
				   type, (unsigned long long)pos);
		switch (type) {
		case EXT_BACKING_FMT:
			if (len == 0 || len > 255)
				return bad(q, _("backing file format extension has a bad length (%u)"), len);
			free(q->backing_fmt);
			q->backing_fmt = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_DATA_FILE:
			if (len == 0 || len > 4096)
				return bad(q, _("external data file name extension has a bad length (%u)"), len);
			free(q->data_file_name);
			q->data_file_name = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_FEATURES:
			if (len % 48)
				return bad(q, _("feature name table length %u is not a multiple of 48"), len);
			free(q->features);
			q->nfeatures = len / 48;
			q->features = qf_xcalloc(q->nfeatures ? q->nfeatures : 1,
						 sizeof(*q->features));
			for (size_t i = 0; i < q->nfeatures; i++) {
				const uint8_t *f = c0 + data + i * 48;
				q->features[i].type = f[0];
				q->features[i].bit = f[1];
				memcpy(q->features[i].name, f + 2, 46);
				q->features[i].name[46] = 0;
			}
			break;
		case EXT_CRYPTO:
			if (len != 16)
				return bad(q, _("encryption header pointer has a bad length (%u)"), len);
			break;
		case EXT_BITMAPS:
			/* Dirty bitmaps do not change what the disk reads as. */
		default:
			break;
		}
		pos = next;
	}
	return 0;
}

static int check_features(struct qcow2 *q)
{
	uint64_t unknown = q->incompat & ~INCOMPAT_KNOWN;

	if (q->crypt_method == 1)
		return bad(q, _("image is encrypted (AES); encrypted images are not supported"));
	if (q->crypt_method == 2)
		return bad(q, _("image is encrypted (LUKS); encrypted images are not supported"));
	if (q->crypt_method != 0)
		return bad(q, _("unknown encryption method %u"), q->crypt_method);
	if (unknown) {
		char names[256] = "";
		size_t used = 0;
		for (int bit = 0; bit < 64; bit++) {
			const char *n;
			if (!(unknown & (1ull << bit)))
				continue;
			n = feature_name(q, 0, bit);
			if (n && *n)
				used += snprintf(names + used, sizeof(names) - used,
						 "%s%s (bit %d)", used ? ", " : "", n, bit);
			else
				used += snprintf(names + used, sizeof(names) - used,
						 "%sbit %d", used ? ", " : "", bit);
			if (used >= sizeof(names))
				break;
		}
		return bad(q, _("unsupported incompatible feature: %s"), names);
	}
	if ((q->incompat & INCOMPAT_CORRUPT) && !(q->opts && q->opts->force))
		return bad(q, _("image is marked corrupt; use -force to read it anyway"));
	if (q->incompat & INCOMPAT_EXTL2) {
		if (q->cluster_bits < 14)
			return bad(q, _("extended L2 entries need clusters of at least 16 KiB (cluster size is %u)"),
				   q->cluster_size);
		q->ext_l2 = true;
	}
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && !(q->incompat & INCOMPAT_DATA_FILE))
		return bad(q, _("raw external data bit set without an external data file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && !q->data_file_name)
		return bad(q, _("image uses an external data file but does not name it"));
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && q->backing_name)
		return bad(q, _("raw external data file combined with a backing file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && q->nsnaps)
		return bad(q, _("internal snapshots are not allowed with an external data file"));
	return 0;
}

/* Parse the header in @c0: the active L1 table is at *@active_l1, the
 * snapshot table at *@snap_table. */
static int parse_header(struct qcow2 *q, const uint8_t *c0, size_t c0len,
			uint64_t *active_l1, uint64_t *snap_table)
{
	const uint8_t *h = c0;
	uint64_t fsize = q->file->size;
	uint64_t backing_off, l1_off, rt_off, snap_off, raw_size;
	uint32_t backing_len, rt_clusters;
	uint64_t span, need_l1, l1_bytes;
	int ret;

	q->version = get_be32(h + 4);
	if (q->version != 2 && q->version != 3)
		return bad(q, _("unsupported qcow2 version %u"), q->version);
	q->cluster_bits = get_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return bad(q, _("cluster_bits %u out of range (9 to 21)"), q->cluster_bits);
	q->cluster_size = 1u << q->cluster_bits;
	if (fsize < HDR_V2_LEN)
		return bad(q, _("file is too short for a qcow2 header"));

	backing_off = get_be64(h + 8);
	backing_len = get_be32(h + 16);
	raw_size = get_be64(h + 24);
	q->crypt_method = get_be32(h + 32);
	q->l1_size = get_be32(h + 36);
	l1_off = get_be64(h + 40);
	rt_off = get_be64(h + 48);
	rt_clusters = get_be32(h + 56);
	q->nsnaps = get_be32(h + 60);
	snap_off = get_be64(h + 64);

	if (q->version == 2) {
		q->header_length = HDR_V2_LEN;
		q->refcount_order = 4;
	} else {
		q->incompat = get_be64(h + 72);
		q->compat = get_be64(h + 80);
		q->autoclear = get_be64(h + 88);
		q->refcount_order = get_be32(h + 96);
		q->header_length = get_be32(h + 100);
		if (q->header_length < HDR_V3_MIN)
			return bad(q, _("header length %u is shorter than 104 bytes"), q->header_length);
		if (q->header_length % 8)
			return bad(q, _("header length %u is not a multiple of 8"), q->header_length);
		if (q->header_length > q->cluster_size)
			return bad(q, _("header length %u is larger than a cluster"), q->header_length);
		if (q->refcount_order > 6)
			return bad(q, _("refcount order %u is larger than 6"), q->refcount_order);
	}
	if (q->header_length > c0len)
		return bad(q, _("header runs past the end of the file"));

	/* Compression type lives in the additional fields. */
	q->ctype = QF_COMPRESSION_DEFLATE;
	if (q->header_length > 104) {
		uint8_t ct = h[104];
		if (ct > 1)
			return bad(q, _("unknown compression type %u"), ct);
		if (ct != 0 && !(q->incompat & INCOMPAT_COMPRESS))
			return bad(q, _("compression type %u without the compression type feature bit"), ct);
		q->ctype = ct;
	}
	if ((q->incompat & INCOMPAT_COMPRESS) && q->ctype == QF_COMPRESSION_DEFLATE)
		return bad(q, _("compression type feature bit set but the compression type is zlib or missing"));

	if ((ret = parse_extensions(q, c0)) < 0)
		return ret;

	/* Backing file name: inside the first cluster and the file. */
	if (backing_off) {
		if (backing_len == 0 || backing_len > MAX_BACKING_NAME)
			return bad(q, _("backing file name length %u is out of range (1 to 1023)"), backing_len);
		if (!range_inside(backing_off, backing_len, fsize))
			return bad(q, _("backing file name at %llu is past the end of the file"),
				   (unsigned long long)backing_off);
		if (!range_inside(backing_off, backing_len, q->cluster_size))
			return bad(q, _("backing file name at %llu is outside the first cluster"),
				   (unsigned long long)backing_off);
		q->backing_name = qf_xstrndup((const char *)c0 + backing_off, backing_len);
		if (strlen(q->backing_name) != backing_len)
			return bad(q, _("backing file name contains a NUL byte"));
	}

	if ((ret = check_features(q)) < 0)
		return ret;

	/* qemu sees whole 512-byte sectors only. */
	q->size = raw_size & ~511ull;
	if (raw_size > (1ull << 62))
		return bad(q, _("virtual size %llu is too large"), (unsigned long long)raw_size);

	q->entry_words = q->ext_l2 ? 2 : 1;
	q->l2_entries = q->cluster_size / (8 * q->entry_words);
	q->sc_bits = q->ext_l2 ? q->cluster_bits - 5 : q->cluster_bits;
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ull << (q->cluster_bits - 8)) - 1;
	q->coff_mask = (1ull << q->csize_shift) - 1;

	/* Refcount table: reading never needs it, but an image without a
	 * sane one is broken. */
	if (rt_off == 0 || rt_clusters == 0)
		return bad(q, _("refcount table is missing"));
	if (rt_off & (q->cluster_size - 1))
		return bad(q, _("refcount table offset %llu is not aligned to a cluster"),
			   (unsigned long long)rt_off);
	if (mul_overflows(rt_clusters, q->cluster_size, &span) ||
	    !range_inside(rt_off, span, fsize))
		return bad(q, _("refcount table at %llu is past the end of the file"),
			   (unsigned long long)rt_off);

	/* Active L1 table. */
	span = (uint64_t)q->cluster_size * q->l2_entries;
	need_l1 = q->size / span + (q->size % span != 0);
	if (q->l1_size < need_l1)
		return bad(q, _("L1 table has %u entries, too few for the virtual size (%llu needed)"),
			   q->l1_size, (unsigned long long)need_l1);
	l1_bytes = (uint64_t)q->l1_size * 8;
	if (l1_bytes > MAX_L1_BYTES)
		return bad(q, _("L1 table of %u entries is larger than 32 MiB"), q->l1_size);
	if (q->l1_size) {
		if (l1_off & (q->cluster_size - 1))
			return bad(q, _("L1 table offset %llu is not aligned to a cluster"),
				   (unsigned long long)l1_off);
		if (!range_inside(l1_off, l1_bytes, fsize))
			return bad(q, _("L1 table at %llu is past the end of the file"),
				   (unsigned long long)l1_off);
	}

	/* Snapshot table: bounded before anything is allocated for it. */
	if (q->nsnaps > MAX_SNAPSHOTS)
		return bad(q, _("snapshot table has %u entries (at most 65536 allowed)"), q->nsnaps);
	if (q->nsnaps) {
		if (snap_off & (q->cluster_size - 1))
			return bad(q, _("snapshot table offset %llu is not aligned to a cluster"),
				   (unsigned long long)snap_off);
		if (snap_off == 0 || snap_off >= fsize)
			return bad(q, _("snapshot table at %llu is past the end of the file"),
				   (unsigned long long)snap_off);
	}
	*active_l1 = l1_off;
	*snap_table = snap_off;
	return 0;
}

/* Read the snapshot table at @snap_off; snapshot i's L1 table is at
 * @l1_offs[i] (q->nsnaps entries). */
static int parse_snapshots(struct qcow2 *q, uint64_t snap_off,
			   uint64_t *l1_offs)
{
	uint64_t fsize = q->file->size, pos = snap_off, total = 0;
	uint8_t fixed[40];
	struct qf_err *e = q->open_err;
	int ret;

	if (!q->nsnaps)
		return 0;
	q->snaps = qf_xcalloc(q->nsnaps, sizeof(*q->snaps));
	for (uint32_t i = 0; i < q->nsnaps; i++) {
		uint32_t id_len, name_len, extra_len;
		uint64_t entry_len, l1_off;
		uint8_t extra[16] = { 0 };
		char *strs;

		if (!range_inside(pos, sizeof(fixed), fsize))
			return bad(q, _("snapshot table entry %u is past the end of the file"), i);
		if ((ret = read_at(q, fixed, sizeof(fixed), pos, e)) < 0)
			return ret;
		l1_off = get_be64(fixed);
		q->snaps[i].l1_size = get_be32(fixed + 8);
		id_len = get_be16(fixed + 12);
		name_len = get_be16(fixed + 14);
		q->snaps[i].date_sec = get_be32(fixed + 16);
		q->snaps[i].date_nsec = get_be32(fixed + 20);
		q->snaps[i].vm_clock_nsec = get_be64(fixed + 24);
		q->snaps[i].vm_state_size = get_be32(fixed + 32);
		extra_len = get_be32(fixed + 36);
		if (extra_len > 1024)
			return bad(q, _("snapshot %u has %u bytes of extra data (too many)"), i, extra_len);
		if (q->version >= 3 && extra_len < 16)
			return bad(q, _("snapshot %u lacks the extra data version 3 requires"), i);
		/* The padding of the last entry need not be in the file. */
		entry_len = 40 + (uint64_t)extra_len + id_len + name_len;
		total += (entry_len + 7) & ~7ull;
		if (total > MAX_SNAP_TABLE)
			return bad(q, _("snapshot table is larger than 64 MiB"));
		if (!range_inside(pos, entry_len, fsize))
			return bad(q, _("snapshot table entry %u is past the end of the file"), i);
		if (extra_len &&
		    (ret = read_at(q, extra, extra_len < 16 ? extra_len : 16, pos + 40, e)) < 0)
			return ret;
		if (extra_len >= 8)
			q->snaps[i].vm_state_size = get_be64(extra);
		q->snaps[i].disk_size = extra_len >= 16 ? get_be64(extra + 8) : q->size;
		strs = qf_xmalloc((size_t)id_len + name_len + 2);
		if ((ret = read_at(q, strs, id_len + name_len, pos + 40 + extra_len, e)) < 0) {
			free(strs);
			return ret;
		}
		q->snaps[i].id = qf_xstrndup(strs, id_len);
		q->snaps[i].name = qf_xstrndup(strs + id_len, name_len);
		free(strs);
		if (q->snaps[i].l1_size > MAX_L1_BYTES / 8)
			return bad(q, _("snapshot %s: L1 table is larger than 32 MiB"), q->snaps[i].id);
		if (q->snaps[i].l1_size && ((l1_off & (q->cluster_size - 1)) ||
		    !range_inside(l1_off, (uint64_t)q->snaps[i].l1_size * 8, fsize)))
			return bad(q, _("snapshot %s: L1 table at %llu is unaligned or past the end of the file"),
				   q->snaps[i].id, (unsigned long long)l1_off);
		l1_offs[i] = l1_off;
		pos += (entry_len + 7) & ~7ull;
	}
	return 0;
}

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
			return bad(q, _("compressed cluster at virtual offset %llu in an image with an external data file"), voff);
		if (coff & ~L2E_OFFSET_MASK & ~511ull)
			return bad(q, _("compressed cluster at virtual offset %llu has reserved offset bits set"), voff);
		if (q->ext_l2 && bitmap)
			return bad(q, _("compressed cluster at virtual offset %llu has a subcluster bitmap"), voff);
		if (coff >= fsize || add_overflows(coff, clen, &end) ||
		    end > ((fsize + 511) & ~511ull))
			return bad(q, _("compressed cluster at virtual offset %llu lies past the end of the file"), voff);
		return 0;
	}
	if (l2e & L2E_STD_RESERVED)
		return bad(q, _("L2 entry for virtual offset %llu has reserved bits set"), voff);
	{
		uint64_t off = l2e & L2E_OFFSET_MASK;

		if (off & (q->cluster_size - 1))
			return bad(q, _("data cluster for virtual offset %llu is not aligned to a cluster"), voff);
		if (off && !qcow2_has_data_file(q) && off >= fsize)
			return bad(q, _("data cluster for virtual offset %llu is past the end of the file"), voff);
		if (q->ext_l2) {
			uint32_t a = (uint32_t)bitmap, z = (uint32_t)(bitmap >> 32);
			if (a & z)
				return bad(q, _("subclusters at virtual offset %llu are both allocated and zero"), voff);
			if (a && !std_allocated(q, l2e))
				return bad(q, _("subclusters at virtual offset %llu are allocated without a host cluster"), voff);
		}
	}
	return 0;
}

static int load_l1(struct qcow2 *q, uint64_t l1_off, uint32_t l1_size)
{
	uint64_t fsize = q->file->size;
	uint8_t *raw;
	int ret;

	q->l1_size = l1_size;
	q->l1 = qf_xcalloc(l1_size ? l1_size : 1, sizeof(uint64_t));
	if (!l1_size)
		return 0;
	raw = qf_xmalloc((size_t)l1_size * 8);
	ret = read_at(q, raw, (size_t)l1_size * 8, l1_off, q->open_err);
	if (ret < 0)
		goto out;
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t v = get_be64(raw + (size_t)i * 8);
		uint64_t l2 = v & L1E_OFFSET_MASK;
		if (v & L1E_RESERVED) {
			ret = bad(q, _("L1 entry %u has reserved bits set"), i);
			goto out;
		}
		if (l2 & (q->cluster_size - 1)) {
			ret = bad(q, _("L2 table at %llu (L1 entry %u) is not aligned to a cluster"),
				  (unsigned long long)l2, i);
			goto out;
		}
		if (l2 && !range_inside(l2, q->cluster_size, fsize)) {
			ret = bad(q, _("L2 table at %llu (L1 entry %u) is past the end of the file"),
				  (unsigned long long)l2, i);
			goto out;
		}
		q->l1[i] = l2;
	}
out:
	free(raw);
	return ret;
}

/* Read (through the cache) the L2 table at @off; returns a pointer valid
 * while q->lock is held. */
static int l2_get(struct qcow2 *q, uint64_t off, const uint64_t **tab,
		  struct qf_err *e)
{
	struct l2_slot *victim = &q->cache[0];
	size_t n = (size_t)q->l2_entries * q->entry_words;   /* a cluster */
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
	if (!victim->tab)
		victim->tab = qf_xmalloc(n * sizeof(uint64_t));
	ret = read_at(q, victim->tab, n * sizeof(uint64_t), off, e);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++)
		victim->tab[i] = get_be64(&victim->tab[i]);
	victim->off = off;
	victim->used = ++q->stamp;
	*tab = victim->tab;
	return 0;
}

static int validate_tables(struct qcow2 *q)
{
	uint64_t nclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	int ret = 0;

	for (uint32_t i = 0; i < q->l1_size; i++) {
		const uint64_t *tab;
		uint64_t first = (uint64_t)i * q->l2_entries;

		if (!q->l1[i])
			continue;
		if ((ret = l2_get(q, q->l1[i], &tab, q->open_err)) < 0)
			return ret;
		for (uint32_t j = 0; j < q->l2_entries; j++) {
			uint64_t l2e = tab[(size_t)j * q->entry_words];
			uint64_t bm = q->ext_l2 ? tab[(size_t)j * 2 + 1] : 0;
			/* Entries past the virtual size are never read. */
			if (first + j >= nclusters)
				break;
			if ((ret = check_l2_entry(q, l2e, bm, first + j)) < 0)
				return ret;
		}
	}
	return 0;
}

int qcow2_open(struct qf_source *file, const struct qf_open_opts *opts,
	       const char *snapshot, struct qcow2 **out, struct qf_err *e)
{
	struct qcow2 *q = qf_xcalloc(1, sizeof(*q));
	uint8_t *c0;
	uint64_t *snap_l1 = NULL;   /* L1 offsets of the snapshots */
	size_t c0len;
	uint64_t snap_off = 0, l1_off = 0;
	uint32_t l1_size;
	int ret;

	q->open_err = e;
	q->file = q->data = file;
	q->opts = opts;
	q->snap_selected = -1;
	pthread_mutex_init(&q->lock, NULL);

	/* The first cluster holds header and extensions; read up to 2 MiB
	 * (the largest cluster) or the whole file if shorter. */
	c0len = file->size < (2u << 20) ? (size_t)file->size : (2u << 20);
	c0 = qf_xcalloc(1, (2u << 20));
	if ((ret = read_at(q, c0, c0len, 0, e)) < 0)
		goto out;
	if (!qcow2_probe(c0, c0len)) {
		ret = qf_err_set(e, EINVAL, _("%s: not a qcow2 image"), file->name);
		goto out;
	}
	if ((ret = parse_header(q, c0, c0len, &l1_off, &snap_off)) < 0)
		goto out;
	l1_size = q->l1_size;
	snap_l1 = qf_xcalloc(q->nsnaps, sizeof(*snap_l1));
	if ((ret = parse_snapshots(q, snap_off, snap_l1)) < 0)
		goto out;

	if (snapshot) {
		int found = -1;
		/* Like qemu: an ID first, then a name. */
		for (uint32_t i = 0; i < q->nsnaps && found < 0; i++)
			if (strcmp(q->snaps[i].id, snapshot) == 0)
				found = (int)i;
		for (uint32_t i = 0; i < q->nsnaps && found < 0; i++)
			if (strcmp(q->snaps[i].name, snapshot) == 0)
				found = (int)i;
		if (found < 0) {
			ret = qf_err_set(e, ENOENT, _("%s: no snapshot named '%s'"),
					 file->name, snapshot);
			goto out;
		}
		q->snap_selected = found;
		l1_off = snap_l1[found];
		l1_size = q->snaps[found].l1_size;
	}

	{
		uint64_t per_table = (uint64_t)q->l2_entries * q->entry_words * 8;
		q->ncache = L2_CACHE_BYTES / per_table;
		if (q->ncache < L2_CACHE_MIN)
			q->ncache = L2_CACHE_MIN;
		q->cache = qf_xcalloc(q->ncache, sizeof(*q->cache));
	}
	if ((ret = load_l1(q, l1_off, l1_size)) < 0)
		goto out;
	if ((ret = validate_tables(q)) < 0)
		goto out;
	if (q->incompat & INCOMPAT_DIRTY)
		qf_warn(opts, _("%s: image was not closed cleanly (dirty bit set); reading it anyway"),
			file->name);
	if (q->incompat & INCOMPAT_CORRUPT)
		qf_warn(opts, _("%s: image is marked corrupt; reading it because of -force"),
			file->name);
out:
	free(c0);
	free(snap_l1);
	q->open_err = NULL;
	if (ret < 0) {
		q->file = NULL;   /* the caller owns and closes the source */
		qcow2_close(q);
		return ret;
	}
	*out = q;
	return 0;
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	for (unsigned i = 0; i < q->ncache; i++)
		free(q->cache[i].tab);
	free(q->cache);
	for (uint32_t i = 0; q->snaps && i < q->nsnaps; i++) {
		free((char *)q->snaps[i].id);
		free((char *)q->snaps[i].name);
	}
	free(q->snaps);
	free(q->l1);
	free(q->features);
	free(q->backing_name);
	free(q->backing_fmt);
	free(q->data_file_name);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

void qcow2_info(const struct qcow2 *q, struct qf_layer_info *info)
{
	info->format = "qcow2";
	info->virtual_size = q->size;
	info->version = q->version;
	info->cluster_size = q->cluster_size;
	info->refcount_bits = 1u << q->refcount_order;
	info->compression = q->ctype == QF_COMPRESSION_ZSTD ? "zstd" : "deflate";
	info->incompatible = q->incompat;
	info->compatible = q->compat;
	info->autoclear = q->autoclear;
	info->dirty = q->incompat & INCOMPAT_DIRTY;
	info->corrupt = q->incompat & INCOMPAT_CORRUPT;
	info->extended_l2 = q->ext_l2;
	info->lazy_refcounts = q->compat & COMPAT_LAZY;
	info->backing_name = q->backing_name;
	info->backing_format = q->backing_fmt;
	info->data_file_raw = q->autoclear & AUTOCLEAR_RAW_DATA;
	info->nb_snapshots = q->nsnaps;
}

const char *qcow2_backing_name(const struct qcow2 *q) { return q->backing_name; }
const char *qcow2_backing_format(const struct qcow2 *q) { return q->backing_fmt; }
const char *qcow2_data_file_name(const struct qcow2 *q) { return q->data_file_name; }
bool qcow2_has_data_file(const struct qcow2 *q) { return q->incompat & INCOMPAT_DATA_FILE; }
void qcow2_set_data_file(struct qcow2 *q, struct qf_source *data) { q->data = data; }
uint64_t qcow2_size(const struct qcow2 *q) { return q->size; }
uint32_t qcow2_cluster_size(const struct qcow2 *q) { return q->cluster_size; }
enum qf_compression qcow2_compression(const struct qcow2 *q) { return q->ctype; }
struct qf_source *qcow2_data_source(const struct qcow2 *q) { return q->data; }
int qcow2_snapshot_count(const struct qcow2 *q) { return (int)q->nsnaps; }
int qcow2_snapshot_selected(const struct qcow2 *q) { return q->snap_selected; }

const struct qf_snapshot_info *qcow2_snapshot(const struct qcow2 *q, int i)
{
	return i >= 0 && (uint32_t)i < q->nsnaps ? &q->snaps[i] : NULL;
}

/* Kind of subcluster @sc of a standard cluster entry. */
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
