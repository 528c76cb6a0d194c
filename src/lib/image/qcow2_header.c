/* qcow2_header.c - the header of a qcow2 layer: its fields in the order
 * of the specification (docs/interop/qcow2.txt in qemu), the header
 * extensions and the feature bits. */
#include "image/qcow2_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Name an unknown feature bit from the image's own feature name table. */
static const char *feature_name(const struct qcow2 *q, int type, int bit)
{
	for (size_t i = 0; i < q->nfeatures; i++)
		if (q->features[i].type == type && q->features[i].bit == bit)
			return q->features[i].name;
	return NULL;
}

/* The bitmaps extension at @d (24 bytes).  Dirty bitmaps do not change
 * what the disk reads as, but an image whose extension is inconsistent
 * while claiming to be consistent (autoclear bit 0) is broken. */
static int check_bitmaps(struct qcow2 *q, const uint8_t *d, uint32_t len)
{
	uint32_t nb;
	uint64_t dsize, doff;

	if (len != 24)
		return qcow2_bad(q, N_("bitmaps extension has a bad length (%u)"), len);
	if (!(q->autoclear & AUTOCLEAR_BITMAPS))
		return 0;     /* marked inconsistent: not to be used at all */
	nb = get_be32(d);
	dsize = get_be64(d + 8);
	doff = get_be64(d + 16);
	if (get_be32(d + 4))
		return qcow2_bad(q, N_("bitmaps extension has a reserved field that is not zero"));
	if (nb == 0 || nb > MAX_BITMAPS)
		return qcow2_bad(q, N_("bitmaps extension lists %u bitmaps (1 to 65535 allowed)"), nb);
	if (doff & (q->cluster_size - 1))
		return qcow2_bad(q, N_("bitmap directory offset %llu is not aligned to a cluster"),
				 (unsigned long long)doff);
	if (dsize == 0 || dsize > MAX_BITMAP_DIR)
		return qcow2_bad(q, N_("bitmap directory size %llu is out of range (1 to 67107840)"),
				 (unsigned long long)dsize);
	if (!range_inside(doff, dsize, q->file->size))
		return qcow2_bad(q, N_("bitmap directory at %llu is past the end of the file"),
				 (unsigned long long)doff);
	q->bm_nb = nb;
	q->bm_doff = doff;
	q->bm_dsize = dsize;
	return 0;
}

/* Entry @n (from 1) of the bitmap directory, the @left bytes at @p: its
 * length rounded up to 8 in *len, or an error. */
static int check_bitmap_entry(struct qcow2 *q, const uint8_t *p,
			      uint64_t left, uint32_t n, uint64_t *len)
{
	uint64_t toff, phys;
	uint32_t tsize, flags, extra;
	uint16_t nsize;
	uint8_t type, gran;

	if (left < BM_ENTRY_LEN)
		return qcow2_bad(q, N_("bitmap directory is broken: entry %u is cut short"), n);
	toff = get_be64(p);
	tsize = get_be32(p + 8);
	flags = get_be32(p + 12);
	type = p[16];
	gran = p[17];
	nsize = get_be16(p + 18);
	extra = get_be32(p + 20);
	*len = (BM_ENTRY_LEN + (uint64_t)nsize + extra + 7) & ~7ull;
	if (*len > left)
		return qcow2_bad(q, N_("bitmap directory is broken: entry %u runs past its end"), n);
	if (extra)
		return qcow2_bad(q, N_("bitmap %u has extra data, which is not supported"), n);
	if (type != BM_TYPE_DIRTY)
		return qcow2_bad(q, N_("bitmap %u is of unknown type %u"), n, type);
	if (flags & ~BM_KNOWN_FLAGS)
		return qcow2_bad(q, N_("bitmap %u has reserved flags set (0x%x)"), n, flags);
	if (gran < BM_MIN_GRAN_BITS || gran > BM_MAX_GRAN_BITS)
		return qcow2_bad(q, N_("bitmap %u has a granularity of 2^%u bytes (2^9 to 2^31 allowed)"),
				 n, gran);
	if (nsize > BM_MAX_NAME)
		return qcow2_bad(q, N_("bitmap %u has a name of %u bytes (at most 1023 allowed)"),
				 n, nsize);
	if (toff == 0)
		return qcow2_bad(q, N_("bitmap %u has no table"), n);
	if (toff & (q->cluster_size - 1))
		return qcow2_bad(q, N_("bitmap %u has its table at %llu, which is not a cluster boundary"),
				 n, (unsigned long long)toff);
	phys = (uint64_t)tsize * q->cluster_size;
	if (tsize == 0 || tsize > BM_MAX_TABLE || phys > BM_MAX_PHYS)
		return qcow2_bad(q, N_("bitmap %u has a table of %u entries (1 to %llu allowed)"),
				 n, tsize, (unsigned long long)(BM_MAX_PHYS / q->cluster_size));
	/* A bitmap in use may be stale; one that is not must cover the
	 * disk.  phys * 8 <= 2^32 and gran <= 31: no overflow. */
	if (!(flags & BM_FLAG_IN_USE) && q->size > ((phys * 8) << gran))
		return qcow2_bad(q, N_("bitmap %u is too small for the virtual size"), n);
	return 0;
}

/* The bitmap directory the extension names: every entry whole and within
 * qemu's limits (it refuses to open an image otherwise), and as many of
 * them as the extension says.  Bitmaps never change what the disk reads
 * as, so their tables are not read. */
static int check_bitmap_dir(struct qcow2 *q)
{
	uint64_t pos = 0, len = 0;
	uint32_t n = 0;
	uint8_t *dir;
	int ret = 0;

	if (!q->bm_nb)
		return 0;
	dir = qf_xmalloc(q->bm_dsize);
	if ((ret = qcow2_read(q, dir, q->bm_dsize, q->bm_doff, q->open_err)) < 0)
		goto out;
	while (pos < q->bm_dsize) {
		if (++n > q->bm_nb) {
			ret = qcow2_bad(q, N_("bitmap directory holds more bitmaps than the %u its extension lists"),
					q->bm_nb);
			goto out;
		}
		if ((ret = check_bitmap_entry(q, dir + pos, q->bm_dsize - pos, n,
					      &len)) < 0)
			goto out;
		pos += len;
	}
	if (n != q->bm_nb)
		ret = qcow2_bad(q, N_("bitmap directory holds %u bitmaps, its extension lists %u"),
				n, q->bm_nb);
out:
	free(dir);
	return ret;
}

/* The extensions from the end of the header up to @ext_end: the backing
 * file name, when there is one, or the end of the first cluster. */
static int parse_extensions(struct qcow2 *q, const uint8_t *c0,
			    uint64_t ext_end)
{
	uint64_t pos = q->header_length;

	while (pos < ext_end) {
		uint32_t type, len;
		uint64_t data = pos + 8, next;
		int ret;

		if (data > ext_end)
			return qcow2_bad(q, N_("header extension at %llu runs into the backing file name"),
					 (unsigned long long)pos);
		type = get_be32(c0 + pos);
		len = get_be32(c0 + pos + 4);
		/* The area may also fill the first cluster without an end. */
		if (type == EXT_END)
			break;
		if (len > ext_end - data)
			return qcow2_bad(q, ext_end < q->cluster_size
					 ? N_("header extension 0x%08x at %llu runs into the backing file name")
					 : N_("header extension 0x%08x at %llu runs past the first cluster"),
					 type, (unsigned long long)pos);
		next = data + (((uint64_t)len + 7) & ~7ull);
		switch (type) {
		case EXT_BACKING_FMT:
			/* qemu keeps the name in 16 bytes, NUL included. */
			if (len == 0 || len > 15)
				return qcow2_bad(q, N_("backing file format extension has a bad length (%u)"), len);
			free(q->backing_fmt);
			q->backing_fmt = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_DATA_FILE:
			if (len == 0 || len > 4096)
				return qcow2_bad(q, N_("external data file name extension has a bad length (%u)"), len);
			free(q->data_file_name);
			q->data_file_name = qf_xstrndup((const char *)c0 + data, len);
			break;
		case EXT_FEATURES:
			if (len % 48)
				return qcow2_bad(q, N_("feature name table length %u is not a multiple of 48"), len);
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
			if (q->crypt_method != 2)
				return qcow2_bad(q, N_("encryption header pointer in an image not encrypted with LUKS"));
			if (len != 16)
				return qcow2_bad(q, N_("encryption header pointer has a bad length (%u)"), len);
			break;
		case EXT_BITMAPS:
			if ((ret = check_bitmaps(q, c0 + data, len)) < 0)
				return ret;
			break;
		default:
			break;
		}
		/* The padding of the last one may reach past @ext_end. */
		pos = next;
	}
	return 0;
}

static int check_features(struct qcow2 *q)
{
	uint64_t unknown = q->incompat & ~INCOMPAT_KNOWN;

	if (q->crypt_method == 1)
		return qcow2_bad(q, N_("image is encrypted (AES); encrypted images are not supported"));
	if (q->crypt_method == 2)
		return qcow2_bad(q, N_("image is encrypted (LUKS); encrypted images are not supported"));
	if (q->crypt_method != 0)
		return qcow2_bad(q, N_("unknown encryption method %u"), q->crypt_method);
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
		return qcow2_bad(q, N_("unsupported incompatible feature: %s"), names);
	}
	/* Its own code: a front end may offer to read it all the same (and
	 * knows the words for that, the library does not). */
	if ((q->incompat & INCOMPAT_CORRUPT) && !(q->opts && q->opts->force))
		return qf_err_set(q->open_err, EUCLEAN, N_("%s: image is marked corrupt"),
				  q->file->name);
	if (q->incompat & INCOMPAT_EXTL2) {
		if (q->cluster_bits < 14)
			return qcow2_bad(q, N_("extended L2 entries need clusters of at least 16 KiB (cluster size is %u)"),
				   q->cluster_size);
		q->ext_l2 = true;
	}
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && !(q->incompat & INCOMPAT_DATA_FILE))
		return qcow2_bad(q, N_("raw external data bit set without an external data file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && !q->data_file_name)
		return qcow2_bad(q, N_("image uses an external data file but does not name it"));
	if ((q->autoclear & AUTOCLEAR_RAW_DATA) && q->backing_name)
		return qcow2_bad(q, N_("raw external data file combined with a backing file"));
	if ((q->incompat & INCOMPAT_DATA_FILE) && q->nsnaps)
		return qcow2_bad(q, N_("internal snapshots are not allowed with an external data file"));
	return 0;
}

int qcow2_parse_header(struct qcow2 *q, const uint8_t *c0, size_t c0len,
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
		return qcow2_bad(q, N_("unsupported qcow2 version %u"), q->version);
	q->cluster_bits = get_be32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return qcow2_bad(q, N_("cluster_bits %u out of range (9 to 21)"), q->cluster_bits);
	q->cluster_size = 1u << q->cluster_bits;
	if (fsize < HDR_V2_LEN)
		return qcow2_bad(q, N_("file is too short for a qcow2 header"));

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
			return qcow2_bad(q, N_("header length %u is shorter than 104 bytes"), q->header_length);
		if (q->header_length % 8)
			return qcow2_bad(q, N_("header length %u is not a multiple of 8"), q->header_length);
		if (q->header_length > q->cluster_size)
			return qcow2_bad(q, N_("header length %u is larger than a cluster"), q->header_length);
		if (q->refcount_order > 6)
			return qcow2_bad(q, N_("refcount order %u is larger than 6"), q->refcount_order);
	}
	if (q->header_length > c0len)
		return qcow2_bad(q, N_("header runs past the end of the file"));

	/* Compression type lives in the additional fields. */
	q->ctype = QF_COMPRESSION_DEFLATE;
	if (q->header_length > 104) {
		uint8_t ct = h[104];
		if (ct > 1)
			return qcow2_bad(q, N_("unknown compression type %u"), ct);
		if (ct != 0 && !(q->incompat & INCOMPAT_COMPRESS))
			return qcow2_bad(q, N_("compression type %u without the compression type feature bit"), ct);
		q->ctype = ct;
	}
	if ((q->incompat & INCOMPAT_COMPRESS) && q->ctype == QF_COMPRESSION_DEFLATE)
		return qcow2_bad(q, N_("compression type feature bit set but the compression type is zlib or missing"));

	/* Extensions end where the backing file name begins. */
	if (backing_off > q->cluster_size)
		return qcow2_bad(q, N_("backing file name at %llu is outside the first cluster"),
				 (unsigned long long)backing_off);
	if ((ret = parse_extensions(q, c0, backing_off ? backing_off
						      : q->cluster_size)) < 0)
		return ret;

	/* Backing file name: inside the first cluster and the file. */
	if (backing_off) {
		if (backing_len == 0 || backing_len > MAX_BACKING_NAME)
			return qcow2_bad(q, N_("backing file name length %u is out of range (1 to 1023)"), backing_len);
		if (!range_inside(backing_off, backing_len, fsize))
			return qcow2_bad(q, N_("backing file name at %llu is past the end of the file"),
				   (unsigned long long)backing_off);
		if (!range_inside(backing_off, backing_len, q->cluster_size))
			return qcow2_bad(q, N_("backing file name at %llu is outside the first cluster"),
				   (unsigned long long)backing_off);
		q->backing_name = qf_xstrndup((const char *)c0 + backing_off, backing_len);
		if (strlen(q->backing_name) != backing_len)
			return qcow2_bad(q, N_("backing file name contains a NUL byte"));
	}

	if ((ret = check_features(q)) < 0)
		return ret;

	/* qemu sees whole 512-byte sectors only. */
	q->size = raw_size & ~511ull;
	if (raw_size > (1ull << 62))
		return qcow2_bad(q, N_("virtual size %llu is too large"), (unsigned long long)raw_size);
	if ((ret = check_bitmap_dir(q)) < 0)
		return ret;

	q->entry_words = q->ext_l2 ? 2 : 1;
	q->l2_entries = q->cluster_size / (8 * q->entry_words);
	q->sc_bits = q->ext_l2 ? q->cluster_bits - 5 : q->cluster_bits;
	q->csize_shift = 62 - (q->cluster_bits - 8);
	q->csize_mask = (1ull << (q->cluster_bits - 8)) - 1;
	q->coff_mask = (1ull << q->csize_shift) - 1;

	/* Refcount table: reading never needs it, but an image without a
	 * sane one is broken. */
	if (rt_off == 0 || rt_clusters == 0)
		return qcow2_bad(q, N_("refcount table is missing"));
	if (rt_off & (q->cluster_size - 1))
		return qcow2_bad(q, N_("refcount table offset %llu is not aligned to a cluster"),
			   (unsigned long long)rt_off);
	if (mul_overflows(rt_clusters, q->cluster_size, &span) ||
	    span > MAX_REFTABLE_BYTES)
		return qcow2_bad(q, N_("refcount table of %u clusters is larger than 8 MiB"),
				 rt_clusters);
	if (!range_inside(rt_off, span, fsize))
		return qcow2_bad(q, N_("refcount table at %llu is past the end of the file"),
			   (unsigned long long)rt_off);

	/* Active L1 table. */
	span = (uint64_t)q->cluster_size * q->l2_entries;
	need_l1 = q->size / span + (q->size % span != 0);
	if (q->l1_size < need_l1)
		return qcow2_bad(q, N_("L1 table has %u entries, too few for the virtual size (%llu needed)"),
			   q->l1_size, (unsigned long long)need_l1);
	l1_bytes = (uint64_t)q->l1_size * 8;
	if (l1_bytes > MAX_L1_BYTES)
		return qcow2_bad(q, N_("L1 table of %u entries is larger than 32 MiB"), q->l1_size);
	/* Offsets are checked even for empty tables, as qemu does. */
	if (l1_off & (q->cluster_size - 1))
		return qcow2_bad(q, N_("L1 table offset %llu is not aligned to a cluster"),
				 (unsigned long long)l1_off);
	if (q->l1_size) {
		if (!range_inside(l1_off, l1_bytes, fsize))
			return qcow2_bad(q, N_("L1 table at %llu is past the end of the file"),
				   (unsigned long long)l1_off);
	}

	/* Snapshot table: bounded before anything is allocated for it. */
	if (q->nsnaps > MAX_SNAPSHOTS)
		return qcow2_bad(q, N_("snapshot table has %u entries (at most 65536 allowed)"), q->nsnaps);
	if (snap_off & (q->cluster_size - 1))
		return qcow2_bad(q, N_("snapshot table offset %llu is not aligned to a cluster"),
				 (unsigned long long)snap_off);
	if (q->nsnaps) {
		if (snap_off == 0 || snap_off >= fsize)
			return qcow2_bad(q, N_("snapshot table at %llu is past the end of the file"),
				   (unsigned long long)snap_off);
	}
	*active_l1 = l1_off;
	*snap_table = snap_off;
	return 0;
}
