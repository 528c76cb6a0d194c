/* qcow2_int.h - what the qcow2 files share and nothing else sees: the
 * on-disk constants, the layer's state and the steps of qcow2_open.
 * qcow2.c runs the open sequence: qcow2_header.c reads the header and
 * extensions, qcow2_snap.c the snapshot table, qcow2_l2.c the L1/L2 tables
 * and the allocation map; all of them use qcow2_io.c, which uses none. */
#ifndef QF_QCOW2_INT_H
#define QF_QCOW2_INT_H

#include "image/qcow2.h"

#include <pthread.h>

#define HDR_V2_LEN 72
#define HDR_V3_MIN 104

#define INCOMPAT_DIRTY     (1ull << 0)
#define INCOMPAT_CORRUPT   (1ull << 1)
#define INCOMPAT_DATA_FILE (1ull << 2)
#define INCOMPAT_COMPRESS  (1ull << 3)
#define INCOMPAT_EXTL2     (1ull << 4)
#define INCOMPAT_KNOWN     0x1full
#define COMPAT_LAZY        (1ull << 0)
#define AUTOCLEAR_BITMAPS  (1ull << 0)
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
#define MAX_REFTABLE_BYTES (8u << 20)
#define MAX_BITMAPS        65535u
#define MAX_BITMAP_DIR     (1024u * MAX_BITMAPS)
/* A bitmap directory entry's limits, as qemu keeps them. */
#define BM_ENTRY_LEN       24u
#define BM_MAX_TABLE       0x8000000u      /* table entries */
#define BM_MAX_PHYS        0x20000000ull   /* bytes of bitmap data */
#define BM_MIN_GRAN_BITS   9u
#define BM_MAX_GRAN_BITS   31u
#define BM_MAX_NAME        1023u
#define BM_FLAG_IN_USE     1u
#define BM_KNOWN_FLAGS     3u              /* in use, auto */
#define BM_TYPE_DIRTY      1u
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
	/* The bitmap directory of a consistent bitmaps extension (nb 0:
	 * none), checked once the virtual size is known. */
	uint32_t bm_nb;
	uint64_t bm_doff, bm_dsize;
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
	uint64_t ncompressed;     /* compressed entries in its distinct L2 tables */
	int snap_selected;
	struct qf_snapshot_info *snaps;
	uint32_t nsnaps;

	struct qf_err *open_err;  /* only during qcow2_open */

	pthread_mutex_t lock;
	struct l2_slot *cache;
	unsigned ncache;
	uint64_t stamp;
};


/* Report a malformed image: "FILE: reason", into the error of the
 * qcow2_open call in progress (q->open_err). */
int qcow2_bad(struct qcow2 *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int qcow2_read(struct qcow2 *q, void *buf, size_t len, uint64_t off,
	       struct qf_err *e);

/* Parse and check the header in @c0 (@c0len bytes of the file's start):
 * the active L1 table is at *@active_l1, the snapshot table at
 * *@snap_table. */
int qcow2_parse_header(struct qcow2 *q, const uint8_t *c0, size_t c0len,
		       uint64_t *active_l1, uint64_t *snap_table);

/* Read the snapshot table at @snap_off; snapshot i's L1 table is at
 * @l1_offs[i] (q->nsnaps entries). */
int qcow2_parse_snapshots(struct qcow2 *q, uint64_t snap_off,
			  uint64_t *l1_offs);
/* Index of the snapshot @want names (an ID first, then a name, as qemu
 * looks them up), or -1. */
int qcow2_find_snapshot(const struct qcow2 *q, const char *want);

/* Load the L1 table in use and check every L2 entry it reaches. */
int qcow2_load_l1(struct qcow2 *q, uint64_t l1_off, uint32_t l1_size);
int qcow2_validate_tables(struct qcow2 *q);
/* The L2 cache, for an L1 table of @l1_size entries. */
void qcow2_cache_init(struct qcow2 *q, uint32_t l1_size);

#endif
