/* layout.h - the partition-table fix-ups for a target that is not the
 * image's twin: larger than the image, or with another logical sector
 * size.  Pure: the image is read through a callback and the answer is a
 * list of byte ranges the target must hold; the engine writes them, last,
 * over the image's bytes. */
#ifndef QF_LAYOUT_H
#define QF_LAYOUT_H

#include "image/ptable.h"

#include <stdbool.h>
#include <stdint.h>

enum qf_layout_flags {
	QF_LAYOUT_EXACT = 1 << 0,    /* write the image unchanged (-exact) */
	QF_LAYOUT_GROW  = 1 << 1,    /* grow the last partition to the end of
					the target */
	QF_LAYOUT_FORCE = 1 << 2,    /* accept a sector-size mismatch that
					cannot be fixed */
};

/* What was adjusted, for messages and the flash log. */
enum qf_adjust {
	QF_ADJ_BACKUP_MOVED = 1 << 0,   /* backup GPT now at the target's end */
	QF_ADJ_PMBR_RESIZED = 1 << 1,   /* protective 0xEE entry spans the
					   target */
	QF_ADJ_SECTOR_SIZE  = 1 << 2,   /* GPT rewritten in the target's sector
					   size, partitions at the same bytes */
	QF_ADJ_PART_GROWN   = 1 << 3,   /* see qf_layout.grown */
};

/* What was left alone, and why; qf_layout_note_text says it in a
 * sentence. */
enum qf_layout_note {
	QF_LAYOUT_NOTE_MBR_LIMIT      = 1 << 0,  /* MBR: not grown past 2 TiB */
	QF_LAYOUT_NOTE_NO_ROOM        = 1 << 1,  /* grow: no room after the last
						    partition, or none */
	QF_LAYOUT_NOTE_MBR_KEPT       = 1 << 2,  /* hybrid MBR entries, or an
						    0xEE entry not reaching the
						    image's end, kept */
	QF_LAYOUT_NOTE_BACKUP_ONLY    = 1 << 3,  /* primary GPT damaged: table
						    kept as it is */
	QF_LAYOUT_NOTE_UNREADABLE     = 1 << 4,  /* a table structure lies
						    where a stream cannot be
						    read yet */
	QF_LAYOUT_NOTE_NO_BACKUP_ROOM = 1 << 5,  /* no room for the backup GPT
						    after the last partition */
	QF_LAYOUT_NOTE_UNALIGNED      = 1 << 6,  /* partitions not aligned to
						    the target's sector size */
	QF_LAYOUT_NOTE_HEAD_DATA      = 1 << 7,  /* the converted table would
						    overwrite data */
	QF_LAYOUT_NOTE_NO_CONVERT     = 1 << 8,  /* an MBR or hybrid MBR: no
						    conversion */
	QF_LAYOUT_NOTE_UNUSUAL        = 1 << 9,  /* a table laid out oddly: kept
						    as it is */
};

/* The final bytes of [off, off + len) of the target.  Not necessarily
 * whole sectors: the engine lays them over the image's bytes. */
struct qf_patch {
	uint64_t off;
	uint64_t len;
	uint8_t *data;
};

struct qf_layout {
	unsigned adjust;             /* enum qf_adjust bits */
	unsigned notes;              /* enum qf_layout_note bits */
	struct qf_patch *patch;      /* sorted by off, disjoint, owned */
	int npatch;
	int grown;                   /* number of the grown partition, 0 if
					none */
	uint64_t grown_start;        /* bytes, of the grown partition */
	uint64_t grown_old_size;     /* bytes, in the image */
	uint64_t grown_size;         /* bytes, on the target */
	/* The target's logical sector size differs from the table's and the
	 * table was not converted: the caller refuses unless FORCE, with
	 * which the patches are those for the table's own sector size. */
	bool sector_mismatch;
};

/* Work out the patches that make the table @pt (decoded from the image of
 * @image_size bytes read through @read) correct on a target of
 * @target_size bytes with @target_lbs-byte logical sectors.  The target
 * holds the image's bytes in [0, image_size) and anything beyond, except
 * where the patches say otherwise.  Only the head of the image is read
 * (the MBR, the EBRs and the primary GPT), since a stream shows no more
 * before it is written; what cannot be read gives a note and no fix-up.
 * No table, EXACT, or a target of the image's size and sector size
 * without GROW give no patches.  Fails (-ENOSPC) for a target smaller
 * than the image; @out is then empty.  Free @out with qf_layout_free. */
int qf_layout_plan(qf_disk_read_fn read, void *ctx, uint64_t image_size,
		   const struct qf_ptable *pt, uint64_t target_size,
		   uint32_t target_lbs, unsigned flags, struct qf_layout *out,
		   struct qf_err *e);
void qf_layout_free(struct qf_layout *l);

/* One sentence (translated) for one QF_LAYOUT_NOTE_* bit. */
const char *qf_layout_note_text(unsigned note);

#endif
