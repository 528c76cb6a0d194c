/* ptable_int.h - what the partition-table decoders share: the decoding
 * state, the MBR and GPT readers (mbr.c, gpt.c) and the helpers that turn
 * on-disk fields into a struct qf_partition (ptable.c). */
#ifndef QF_PTABLE_INT_H
#define QF_PTABLE_INT_H

#include "internal.h"
#include "image/ptable.h"

#define MBR_SIZE         512
#define MBR_DISK_ID_OFF  440
#define MBR_ENTRIES_OFF  446
#define MBR_SIG_OFF      510
#define MBR_MAX_LOGICAL  128   /* more means a corrupt or hostile chain */

#define GPT_HEADER_MIN   92
#define GPT_ENTRY_MIN    128
#define GPT_MAX_ENTRIES  4096
#define GPT_MAX_ARRAY    (4u << 20)
#define GPT_NAME_OFF     56
#define GPT_NAME_UNITS   36

struct dec {
	qf_disk_read_fn read;
	void *ctx;
	uint64_t size;
	struct qf_open_opts warn;    /* only .warn and .warn_ctx are used */
	bool probe_fs;               /* fill the partitions' fs_* fields */
	/* Optional: the partition starts about to be probed (NULL: done). */
	void (*peek)(void *ctx, const uint64_t *offs, size_t n);
	struct qf_ptable *pt;
	size_t cap;
};

/* ptable.c */
const char *pt_mbr_type_name(uint8_t code);
const char *pt_gpt_type_name(const char *guid);
void pt_guid_str(const uint8_t *g, char *out, size_t len);
bool pt_guid_is_zero(const uint8_t *g);
void pt_utf16le_to_utf8(const uint8_t *in, size_t units, char *out,
			size_t len);
struct qf_partition *pt_add_part(struct dec *d);
/* An MBR's extended partition, which only holds EBRs and logicals. */
bool pt_part_is_extended(const struct qf_ptable *pt,
			 const struct qf_partition *p);
/* Byte range of @sectors sectors at @lba; false when it overflows or does
 * not fit on the disk. */
bool pt_sectors_inside(const struct dec *d, uint64_t lba, uint64_t sectors,
		       uint32_t ss, uint64_t *start, uint64_t *size);

/* mbr.c */
struct mbr_entry {
	uint8_t boot;
	uint8_t type;
	uint32_t start;              /* LBA, relative to the table's base */
	uint32_t sectors;
};

void pt_mbr_entry(const uint8_t *sec, int i, struct mbr_entry *m);
bool pt_mbr_used(const struct mbr_entry *m);
bool pt_mbr_extended(uint8_t type);
bool pt_mbr_has_signature(const uint8_t *sec);
/* A FAT or NTFS boot sector carries 0x55AA too; a disk formatted without
 * a table must not be read as one. */
bool pt_looks_like_boot_sector(const uint8_t *sec);
int pt_mbr_decode(struct dec *d, const uint8_t *sec, struct qf_err *e);
/* The slots of an EBR's logical partition and of its link to the next EBR
 * (-1 when absent): the first used entry of each kind, as Linux reads them. */
void pt_ebr_slots(const uint8_t *sec, int *data, int *link);
/* Called for each EBR of a chain with its sector and the number its logical
 * partition gets (0 when it holds none); returns 0 to go on, 1 to stop
 * there, or a negative errno that ends the walk. */
typedef int (*pt_ebr_fn)(void *arg, uint64_t ebr_lba, const uint8_t *sec,
			 int number);
/* Walk the EBR chain of the extended partition at @ext_lba, numbering
 * logical partitions from *@next; a damaged chain ends with a warning.
 * Returns 0, or a negative errno from a read or from @fn. */
int pt_mbr_walk_ebrs(struct dec *d, uint64_t ext_lba, int *next,
		     pt_ebr_fn fn, void *arg, struct qf_err *e);

/* gpt.c */
struct gpt_hdr {
	uint64_t lba;                /* where this header was read */
	uint64_t alt_lba;
	uint64_t first_usable;
	uint64_t last_usable;
	uint64_t entries_lba;
	uint32_t num_entries;
	uint32_t entry_size;
	uint64_t array_bytes;
	uint8_t disk_guid[16];
	uint8_t *array;              /* the entries, owned */
};

void pt_gpt_hdr_free(struct gpt_hdr *h);
/* Read and check the header at @lba and its entry array.  Returns 1 when
 * both are sound, 0 when not (with the reason in @why), a negative errno
 * when the disk cannot be read.  @sig tells whether a header signature was
 * there at all; fields are filled as far as they were read. */
int pt_gpt_load(struct dec *d, uint32_t ss, uint64_t lba, struct gpt_hdr *h,
		bool *sig, char *why, size_t wlen, struct qf_err *e);
/* Find a sound GPT for sector size @ss: the primary at LBA 1, else the
 * backup where the primary says it is, else at the last LBA.  Returns 1
 * with *h filled (and, when it is the backup, what is wrong with the
 * primary in @why), 0 with the reasons in @why, or a negative errno. */
int pt_gpt_find(struct dec *d, uint32_t ss, struct gpt_hdr *h, bool *backup,
		bool *seen, char *why, size_t wlen, struct qf_err *e);
int pt_gpt_decode(struct dec *d, uint32_t ss, const struct gpt_hdr *h,
		  bool backup, const char *why);

#endif
