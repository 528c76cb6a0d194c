/* qcow2_snap.c - the internal snapshot table of a qcow2 layer: every
 * entry bounded and checked before its L1 table may be read. */
#include "image/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int qcow2_parse_snapshots(struct qcow2 *q, uint64_t snap_off,
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
			return qcow2_bad(q, N_("snapshot table entry %u is past the end of the file"), i);
		if ((ret = qcow2_read(q, fixed, sizeof(fixed), pos, e)) < 0)
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
			return qcow2_bad(q, N_("snapshot %u has %u bytes of extra data (too many)"), i, extra_len);
		if (q->version >= 3 && extra_len < 16)
			return qcow2_bad(q, N_("snapshot %u lacks the extra data version 3 requires"), i);
		/* The padding of the last entry need not be in the file. */
		entry_len = 40 + (uint64_t)extra_len + id_len + name_len;
		total += (entry_len + 7) & ~7ull;
		if (total > MAX_SNAP_TABLE)
			return qcow2_bad(q, N_("snapshot table is larger than 64 MiB"));
		if (!range_inside(pos, entry_len, fsize))
			return qcow2_bad(q, N_("snapshot table entry %u is past the end of the file"), i);
		if (extra_len &&
		    (ret = qcow2_read(q, extra, extra_len < 16 ? extra_len : 16, pos + 40, e)) < 0)
			return ret;
		if (extra_len >= 8)
			q->snaps[i].vm_state_size = get_be64(extra);
		q->snaps[i].disk_size = extra_len >= 16 ? get_be64(extra + 8) : q->size;
		strs = qf_xmalloc((size_t)id_len + name_len + 2);
		if ((ret = qcow2_read(q, strs, id_len + name_len, pos + 40 + extra_len, e)) < 0) {
			free(strs);
			return ret;
		}
		q->snaps[i].id = qf_xstrndup(strs, id_len);
		q->snaps[i].name = qf_xstrndup(strs + id_len, name_len);
		free(strs);
		if (q->snaps[i].l1_size > MAX_L1_BYTES / 8)
			return qcow2_bad(q, N_("snapshot %s: L1 table is larger than 32 MiB"), q->snaps[i].id);
		if (q->snaps[i].l1_size && ((l1_off & (q->cluster_size - 1)) ||
		    !range_inside(l1_off, (uint64_t)q->snaps[i].l1_size * 8, fsize)))
			return qcow2_bad(q, N_("snapshot %s: L1 table at %llu is unaligned or past the end of the file"),
				   q->snaps[i].id, (unsigned long long)l1_off);
		l1_offs[i] = l1_off;
		pos += (entry_len + 7) & ~7ull;
	}
	return 0;
}

int qcow2_find_snapshot(const struct qcow2 *q, const char *want)
{
	for (uint32_t i = 0; i < q->nsnaps; i++)
		if (strcmp(q->snaps[i].id, want) == 0)
			return (int)i;
	for (uint32_t i = 0; i < q->nsnaps; i++)
		if (strcmp(q->snaps[i].name, want) == 0)
			return (int)i;
	return -1;
}
