/* qcow2.h - one qcow2 layer: header, tables and per-layer allocation map.
 * The chain (backing files, raw layers) is image.c's business. */
#ifndef QF_QCOW2_H
#define QF_QCOW2_H

#include "source/source.h"

#define QCOW2_MAGIC 0x514649fbu   /* "QFI\xfb" */

/* What one layer says about a range of the virtual disk. */
enum qcow2_kind {
	QCOW2_UNALLOCATED = 0,   /* ask the backing file */
	QCOW2_ZERO,
	QCOW2_DATA,
	QCOW2_COMPRESSED,
};

struct qcow2_run {
	enum qcow2_kind kind;
	uint64_t len;            /* bytes from the queried offset */
	uint64_t host_off;       /* DATA: host offset of the queried byte */
	/* COMPRESSED */
	uint64_t coff;           /* host offset of the compressed data */
	uint32_t clen;
	uint32_t skip;           /* queried offset within its cluster */
};

struct qcow2;

/* Parse and validate everything reachable from the header before any data
 * is read: header, extensions, tables and every L2 entry of the L1 that
 * will be read (the active one or the snapshot's). */
int qcow2_open(struct qf_source *file, const struct qf_open_opts *opts,
	       const char *snapshot, struct qcow2 **out, struct qf_err *e);
void qcow2_close(struct qcow2 *q);

/* Fill @info (strings owned by @q).  data_file is left for the caller. */
void qcow2_info(const struct qcow2 *q, struct qf_layer_info *info);
const char *qcow2_data_file_name(const struct qcow2 *q);
bool qcow2_has_data_file(const struct qcow2 *q);
/* Attach the external data file (opened by the caller). */
void qcow2_set_data_file(struct qcow2 *q, struct qf_source *data);
uint32_t qcow2_cluster_size(const struct qcow2 *q);
enum qf_compression qcow2_compression(const struct qcow2 *q);
struct qf_source *qcow2_data_source(const struct qcow2 *q);
int qcow2_snapshot_count(const struct qcow2 *q);
const struct qf_snapshot_info *qcow2_snapshot(const struct qcow2 *q, int i);
int qcow2_snapshot_selected(const struct qcow2 *q);

/* Map [off, off + maxlen) (inside the layer's size): the run starting at
 * off.  Thread-safe. */
int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t maxlen,
	      struct qcow2_run *run, struct qf_err *e);

/* Whether @buf (@len bytes from the start of a file) begins with the qcow2
 * magic: format detection and qcow2_open share it. */
bool qcow2_probe(const void *buf, size_t len);

#endif
