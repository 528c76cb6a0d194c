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
	 * size is refused by the header's checks before they read past the
	 * first 512 bytes. */
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
		ret = qf_err_set(e, EINVAL, N_("%s: not a qcow2 image"), file->name);
		goto out;
	}
	if ((ret = qcow2_parse_header(q, c0, c0len, &l1_off, &snap_off)) < 0)
		goto out;
	l1_size = q->l1_size;
	snap_l1 = qf_xcalloc(q->nsnaps, sizeof(*snap_l1));
	if ((ret = qcow2_parse_snapshots(q, snap_off, snap_l1)) < 0)
		goto out;

	if (snapshot) {
		int found = qcow2_find_snapshot(q, snapshot);

		if (found < 0) {
			ret = qf_err_set(e, ENOENT, N_("%s: no snapshot named '%s'"),
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
