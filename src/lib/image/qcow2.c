/* qcow2.c - reading one qcow2 layer: the header, its extensions and
 * feature bits, and the open sequence.
 *
 * qcow2_open checks every field against the specification
 * (docs/interop/qcow2.txt in qemu), reads the snapshot table (qcow2_snap.c)
 * and walks every L2 table the chosen L1 refers to (qcow2_l2.c), so a
 * malformed image is refused before the engine writes anything. */
#include "image/qcow2_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The checks need not carry the open's error in every argument list. */
int qcow2_bad(struct qcow2 *q, const char *fmt, ...)
{
	char msg[QF_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return qf_err_set(q->open_err, EINVAL, "%s: %s", q->file->name, msg);
}

int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
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
			return qcow2_bad(q, _("header extension 0x%08x at %llu runs past the first cluster"),
				   type, (unsigned long long)pos);
		switch (type) {
		case EXT_BACKING_FMT:
			if (len == 0 || len > 255)
				return qcow2_bad(q, _("backing file format extension has a bad length (%u)"), len);
			free(q->backing_fmt);
			q->backing_fmt = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_DATA_FILE:
			if (len == 0 || len > 4096)
				return qcow2_bad(q, _("external data file name extension has a bad length (%u)"), len);
			free(q->data_file_name);
			q->data_file_name = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_FEATURES:
			if (len % 48)
				return qcow2_bad(q, _("feature name table length %u is not a multiple of 48"), len);
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
				return qcow2_bad(q, _("encryption header pointer has a bad length (%u)"), len);
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
		return qcow2_bad(q, _("image is encrypted (AES); encrypted images are not supported"));
	if (q->crypt_method == 2)
		return qcow2_bad(q, _("image is encrypted (LUKS); encrypted images are not supported"));
	if (q->crypt_method != 0)
		return qcow2_bad(q, _("unknown encryption method %u"), q->crypt_method);
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
		return qcow2_bad(q, _("unsupported incompatible feature: %s"), names);
	}
	/* Its own code: a front end may offer to read it all the same (and
	 * knows the words for that, the library does not). */
	if ((q->incompat & INCOMPAT_CORRUPT) && !(q->opts && q->opts->force))
		return qf_err_set(q->open_err, EUCLEAN, _("%s: image is marked corrupt"),
				  q->file->name);
	if (q->incompat & INCOMPAT_EXTL2) {
		if (q->cluster_bits < 14)
			return qcow2_bad(q, _("extended L2 entries need clusters of at least 16 KiB (cluster size is %u)"),
				   q->cluster_size);
		q->ext_l2 = true;
	}
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && !(q->incompat & INCOMPAT_DATA_FILE))
		return qcow2_bad(q, _("raw external data bit set without an external data file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && !q->data_file_name)
		return qcow2_bad(q, _("image uses an external data file but does not name it"));
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && q->backing_name)
		return qcow2_bad(q, _("raw external data file combined with a backing file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && q->nsnaps)
		return qcow2_bad(q, _("internal snapshots are not allowed with an external data file"));
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
		return qcow2_bad(q, _("unsupported qcow2 version %u"), q->version);
	q->cluster_bits = get_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return qcow2_bad(q, _("cluster_bits %u out of range (9 to 21)"), q->cluster_bits);
	q->cluster_size = 1u << q->cluster_bits;
	if (fsize < HDR_V2_LEN)
		return qcow2_bad(q, _("file is too short for a qcow2 header"));

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
			return qcow2_bad(q, _("header length %u is shorter than 104 bytes"), q->header_length);
		if (q->header_length % 8)
			return qcow2_bad(q, _("header length %u is not a multiple of 8"), q->header_length);
		if (q->header_length > q->cluster_size)
			return qcow2_bad(q, _("header length %u is larger than a cluster"), q->header_length);
		if (q->refcount_order > 6)
			return qcow2_bad(q, _("refcount order %u is larger than 6"), q->refcount_order);
	}
	if (q->header_length > c0len)
		return qcow2_bad(q, _("header runs past the end of the file"));

	/* Compression type lives in the additional fields. */
	q->ctype = QF_COMPRESSION_DEFLATE;
	if (q->header_length > 104) {
		uint8_t ct = h[104];
		if (ct > 1)
			return qcow2_bad(q, _("unknown compression type %u"), ct);
		if (ct != 0 && !(q->incompat & INCOMPAT_COMPRESS))
			return qcow2_bad(q, _("compression type %u without the compression type feature bit"), ct);
		q->ctype = ct;
	}
	if ((q->incompat & INCOMPAT_COMPRESS) && q->ctype == QF_COMPRESSION_DEFLATE)
		return qcow2_bad(q, _("compression type feature bit set but the compression type is zlib or missing"));

	if ((ret = parse_extensions(q, c0)) < 0)
		return ret;

	/* Backing file name: inside the first cluster and the file. */
	if (backing_off) {
		if (backing_len == 0 || backing_len > MAX_BACKING_NAME)
			return qcow2_bad(q, _("backing file name length %u is out of range (1 to 1023)"), backing_len);
		if (!range_inside(backing_off, backing_len, fsize))
			return qcow2_bad(q, _("backing file name at %llu is past the end of the file"),
				   (unsigned long long)backing_off);
		if (!range_inside(backing_off, backing_len, q->cluster_size))
			return qcow2_bad(q, _("backing file name at %llu is outside the first cluster"),
				   (unsigned long long)backing_off);
		q->backing_name = qf_xstrndup((const char *)c0 + backing_off, backing_len);
		if (strlen(q->backing_name) != backing_len)
			return qcow2_bad(q, _("backing file name contains a NUL byte"));
	}

	if ((ret = check_features(q)) < 0)
		return ret;

	/* qemu sees whole 512-byte sectors only. */
	q->size = raw_size & ~511ull;
	if (raw_size > (1ull << 62))
		return qcow2_bad(q, _("virtual size %llu is too large"), (unsigned long long)raw_size);

	q->entry_words = q->ext_l2 ? 2 : 1;
	q->l2_entries = q->cluster_size / (8 * q->entry_words);
	q->sc_bits = q->ext_l2 ? q->cluster_bits - 5 : q->cluster_bits;
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ull << (q->cluster_bits - 8)) - 1;
	q->coff_mask = (1ull << q->csize_shift) - 1;

	/* Refcount table: reading never needs it, but an image without a
	 * sane one is broken. */
	if (rt_off == 0 || rt_clusters == 0)
		return qcow2_bad(q, _("refcount table is missing"));
	if (rt_off & (q->cluster_size - 1))
		return qcow2_bad(q, _("refcount table offset %llu is not aligned to a cluster"),
			   (unsigned long long)rt_off);
	if (mul_overflows(rt_clusters, q->cluster_size, &span) ||
	    !range_inside(rt_off, span, fsize))
		return qcow2_bad(q, _("refcount table at %llu is past the end of the file"),
			   (unsigned long long)rt_off);

	/* Active L1 table. */
	span = (uint64_t)q->cluster_size * q->l2_entries;
	need_l1 = q->size / span + (q->size % span != 0);
	if (q->l1_size < need_l1)
		return qcow2_bad(q, _("L1 table has %u entries, too few for the virtual size (%llu needed)"),
			   q->l1_size, (unsigned long long)need_l1);
	l1_bytes = (uint64_t)q->l1_size * 8;
	if (l1_bytes > MAX_L1_BYTES)
		return qcow2_bad(q, _("L1 table of %u entries is larger than 32 MiB"), q->l1_size);
	if (q->l1_size) {
		if (l1_off & (q->cluster_size - 1))
			return qcow2_bad(q, _("L1 table offset %llu is not aligned to a cluster"),
				   (unsigned long long)l1_off);
		if (!range_inside(l1_off, l1_bytes, fsize))
			return qcow2_bad(q, _("L1 table at %llu is past the end of the file"),
				   (unsigned long long)l1_off);
	}

	/* Snapshot table: bounded before anything is allocated for it. */
	if (q->nsnaps > MAX_SNAPSHOTS)
		return qcow2_bad(q, _("snapshot table has %u entries (at most 65536 allowed)"), q->nsnaps);
	if (q->nsnaps) {
		if (snap_off & (q->cluster_size - 1))
			return qcow2_bad(q, _("snapshot table offset %llu is not aligned to a cluster"),
				   (unsigned long long)snap_off);
		if (snap_off == 0 || snap_off >= fsize)
			return qcow2_bad(q, _("snapshot table at %llu is past the end of the file"),
				   (unsigned long long)snap_off);
	}
	*active_l1 = l1_off;
	*snap_table = snap_off;
	return 0;
}

/* Read the snapshot table at @snap_off; snapshot i's L1 table is at
 * @l1_offs[i] (q->nsnaps entries). */

/* Header bytes up to and including cluster_bits. */
#define CLUSTER_BITS_END 24

int qcow2_open(struct qf_source *file, const struct qf_open_opts *opts,
	       const char *snapshot, struct qcow2 **out, struct qf_err *e)
{
	struct qcow2 *q = qf_xcalloc(1, sizeof(*q));
	uint8_t hdr[CLUSTER_BITS_END], *c0 = NULL;
	uint64_t *snap_l1 = NULL;   /* L1 offsets of the snapshots */
	size_t c0len, c0cap;
	uint32_t bits;
	uint64_t snap_off = 0, l1_off = 0;
	uint32_t l1_size;
	int ret;

	q->open_err = e;
	q->file = q->data = file;
	q->opts = opts;
	q->snap_selected = -1;
	pthread_mutex_init(&q->lock, NULL);

	/* The first cluster holds header and extensions: read it whole, or
	 * the whole file if shorter, zeros after.  An out-of-range cluster
	 * size is refused by parse_header before it reads past the first
	 * 512 bytes. */
	c0len = file->size < CLUSTER_BITS_END ? (size_t)file->size
					      : CLUSTER_BITS_END;
	memset(hdr, 0, sizeof(hdr));
	if ((ret = qcow2_read(q, hdr, c0len, 0, e)) < 0)
		goto out;
	bits = get_be32(hdr + CLUSTER_BITS_END - 4);
	c0cap = bits >= 9 && bits <= 21 ? (size_t)1 << bits : 512;
	c0len = file->size < c0cap ? (size_t)file->size : c0cap;
	c0 = qf_xcalloc(1, c0cap);
	if ((ret = qcow2_read(q, c0, c0len, 0, e)) < 0)
		goto out;
	if (!qcow2_probe(c0, c0len)) {
		ret = qf_err_set(e, EINVAL, _("%s: not a qcow2 image"), file->name);
		goto out;
	}
	if ((ret = parse_header(q, c0, c0len, &l1_off, &snap_off)) < 0)
		goto out;
	l1_size = q->l1_size;
	snap_l1 = qf_xcalloc(q->nsnaps, sizeof(*snap_l1));
	if ((ret = qcow2_parse_snapshots(q, snap_off, snap_l1)) < 0)
		goto out;

	if (snapshot) {
		int found = qcow2_find_snapshot(q, snapshot);

		if (found < 0) {
			ret = qf_err_set(e, ENOENT, _("%s: no snapshot named '%s'"),
					 file->name, snapshot);
			goto out;
		}
		q->snap_selected = found;
		l1_off = snap_l1[found];
		l1_size = q->snaps[found].l1_size;
	}

	qcow2_cache_init(q, l1_size);
	if ((ret = qcow2_load_l1(q, l1_off, l1_size)) < 0)
		goto out;
	if ((ret = qcow2_validate_tables(q)) < 0)
		goto out;
	if (q->incompat & INCOMPAT_DIRTY)
		qf_warn(opts, _("%s: image was not closed cleanly (dirty bit set); reading it anyway"),
			file->name);
	if (q->incompat & INCOMPAT_CORRUPT)
		qf_warn(opts, _("%s: image is marked corrupt; reading it anyway"),
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
	/* The header's type means something only for clusters that use it
	 * (the feature bit says a writer chose one on purpose). */
	if (q->ncompressed || (q->incompat & INCOMPAT_COMPRESS))
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

const char *qcow2_data_file_name(const struct qcow2 *q) { return q->data_file_name; }
bool qcow2_has_data_file(const struct qcow2 *q) { return q->incompat & INCOMPAT_DATA_FILE; }
void qcow2_set_data_file(struct qcow2 *q, struct qf_source *data) { q->data = data; }
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
