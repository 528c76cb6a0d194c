/* ptable.c - partition tables: the MBR (with its chain of extended boot
 * records) or the GPT (primary copy, else the backup) of a virtual disk,
 * turned into a list of partitions and the filesystems libblkid finds on
 * them.  Every structure is read through a callback, so tables built in
 * memory decode exactly like images do. */
#include "internal.h"
#include "image/ptable.h"

#include <blkid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

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

/* Superblocks sit near the start (ext*, xfs, btrfs, vfat, ...) or the end
 * (md 0.90/1.0, ZFS labels) of a filesystem. */
#define PROBE_HEAD       (2u << 20)
#define PROBE_TAIL       (1u << 20)
#define COPY_CHUNK       (1u << 20)

struct dec {
	qf_disk_read_fn read;
	void *ctx;
	uint64_t size;
	struct qf_open_opts warn;    /* only .warn and .warn_ctx are used */
	bool probe_fs;               /* fill the partitions' fs_* fields */
	struct qf_ptable *pt;
	size_t cap;
};

/* ------------------------------------------------------------ type names */

struct mbr_type {
	uint8_t code;
	const char *name;
};

static const struct mbr_type mbr_types[] = {
	{ 0x01, N_("FAT12") },
	{ 0x04, N_("FAT16 <32M") },
	{ 0x05, N_("Extended") },
	{ 0x06, N_("FAT16") },
	{ 0x07, N_("HPFS/NTFS/exFAT") },
	{ 0x0b, N_("W95 FAT32") },
	{ 0x0c, N_("W95 FAT32 (LBA)") },
	{ 0x0e, N_("W95 FAT16 (LBA)") },
	{ 0x0f, N_("W95 Ext'd (LBA)") },
	{ 0x11, N_("Hidden FAT12") },
	{ 0x12, N_("Compaq diagnostics") },
	{ 0x14, N_("Hidden FAT16 <32M") },
	{ 0x16, N_("Hidden FAT16") },
	{ 0x17, N_("Hidden HPFS/NTFS") },
	{ 0x1b, N_("Hidden W95 FAT32") },
	{ 0x1c, N_("Hidden W95 FAT32 (LBA)") },
	{ 0x1e, N_("Hidden W95 FAT16 (LBA)") },
	{ 0x27, N_("Hidden NTFS WinRE") },
	{ 0x82, N_("Linux swap / Solaris") },
	{ 0x83, N_("Linux") },
	{ 0x85, N_("Linux extended") },
	{ 0x86, N_("NTFS volume set") },
	{ 0x87, N_("NTFS volume set") },
	{ 0x8e, N_("Linux LVM") },
	{ 0xa5, N_("FreeBSD") },
	{ 0xa6, N_("OpenBSD") },
	{ 0xa8, N_("Darwin UFS") },
	{ 0xa9, N_("NetBSD") },
	{ 0xab, N_("Darwin boot") },
	{ 0xaf, N_("HFS / HFS+") },
	{ 0xbe, N_("Solaris boot") },
	{ 0xbf, N_("Solaris") },
	{ 0xda, N_("Non-FS data") },
	{ 0xde, N_("Dell Utility") },
	{ 0xea, N_("Linux extended boot") },
	{ 0xee, N_("GPT") },
	{ 0xef, N_("EFI (FAT-12/16/32)") },
	{ 0xfb, N_("VMware VMFS") },
	{ 0xfc, N_("VMware VMKCORE") },
	{ 0xfd, N_("Linux raid autodetect") },
};

struct gpt_type {
	const char *guid;
	const char *name;
};

static const struct gpt_type gpt_types[] = {
	{ "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", N_("EFI System") },
	{ "21686148-6449-6E6F-744E-656564454649", N_("BIOS boot") },
	{ "024DEE41-33E7-11D3-9D69-0008C781F39F", N_("MBR partition scheme") },
	{ "0FC63DAF-8483-4772-8E79-3D69D8477DE4", N_("Linux filesystem") },
	{ "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", N_("Linux swap") },
	{ "E6D6D379-F507-44C2-A23C-238F2A3DF928", N_("Linux LVM") },
	{ "A19D880F-05FC-4D3B-A006-743F0F84911E", N_("Linux RAID") },
	{ "44479540-F297-41B2-9AF7-D131D5F0458A", N_("Linux root (x86)") },
	{ "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", N_("Linux root (x86-64)") },
	{ "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3", N_("Linux root (ARM)") },
	{ "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", N_("Linux root (ARM-64)") },
	{ "72EC70A6-CF74-40E6-BD49-4BDA08E8F224", N_("Linux root (RISC-V-64)") },
	{ "75250D76-8CC6-458E-BD66-BD47CC81A812", N_("Linux /usr (x86)") },
	{ "8484680C-9521-48C6-9C11-B0720656F69E", N_("Linux /usr (x86-64)") },
	{ "B0E01050-EE5F-4390-949A-9101B17104E9", N_("Linux /usr (ARM-64)") },
	{ "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", N_("Linux home") },
	{ "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", N_("Linux server data") },
	{ "4D21B016-B534-45C2-A9FB-5C16E091FD2D", N_("Linux variable data") },
	{ "7EC6F557-3BC5-4ACA-B293-16EF5DF639D1", N_("Linux temporary data") },
	{ "BC13C2FF-59E6-4262-A352-B275FD6F7172", N_("Linux extended boot") },
	{ "8DA63339-0007-60C0-C436-083AC8230908", N_("Linux reserved") },
	{ "CA7D7CCB-63ED-4C53-861C-1742536059CC", N_("Linux LUKS") },
	{ "7FFEC5C9-2D00-49B7-8941-3EA10A5586B7", N_("Linux plain dm-crypt") },
	{ "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", N_("Microsoft basic data") },
	{ "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", N_("Microsoft reserved") },
	{ "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", N_("Windows recovery environment") },
	{ "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3", N_("Microsoft LDM metadata") },
	{ "AF9B60A0-1431-4F62-BC68-3311714A69AD", N_("Microsoft LDM data") },
	{ "48465300-0000-11AA-AA11-00306543ECAC", N_("Apple HFS/HFS+") },
	{ "7C3457EF-0000-11AA-AA11-00306543ECAC", N_("Apple APFS") },
	{ "426F6F74-0000-11AA-AA11-00306543ECAC", N_("Apple boot") },
	{ "516E7CB4-6ECF-11D6-8FF8-00022D09712B", N_("FreeBSD data") },
	{ "83BD6B9D-7F41-11DC-BE0B-001560B84F0F", N_("FreeBSD boot") },
	{ "516E7CB5-6ECF-11D6-8FF8-00022D09712B", N_("FreeBSD swap") },
	{ "516E7CB6-6ECF-11D6-8FF8-00022D09712B", N_("FreeBSD UFS") },
	{ "516E7CBA-6ECF-11D6-8FF8-00022D09712B", N_("FreeBSD ZFS") },
	{ "6A898CC3-1DD2-11B2-99A6-080020736631", N_("Solaris /usr & Apple ZFS") },
	{ "FE3A2A5D-4F32-41A7-B725-ACCC3285A309", N_("ChromeOS kernel") },
	{ "3CB8E202-3B7E-47DD-8A3C-7FF2A13CFCEC", N_("ChromeOS root fs") },
	{ "9E1A2D38-C612-4316-AA26-8B49521E5A8B", N_("PowerPC PReP boot") },
};

static const char *mbr_type_name(uint8_t code)
{
	size_t i;

	for (i = 0; i < sizeof(mbr_types) / sizeof(mbr_types[0]); i++)
		if (mbr_types[i].code == code)
			return _(mbr_types[i].name);
	return _("unknown");
}

static const char *gpt_type_name(const char *guid)
{
	size_t i;

	for (i = 0; i < sizeof(gpt_types) / sizeof(gpt_types[0]); i++)
		if (strcasecmp(gpt_types[i].guid, guid) == 0)
			return _(gpt_types[i].name);
	return _("unknown");
}

/* --------------------------------------------------------------- strings */

/* GPT GUIDs store their first three fields little-endian and the last two
 * as plain bytes. */
static void guid_str(const uint8_t *g, char *out, size_t len)
{
	snprintf(out, len,
		 "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 get_le32(g), get_le16(g + 4), get_le16(g + 6),
		 g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static bool guid_is_zero(const uint8_t *g)
{
	return qf_buf_is_zero(g, 16);
}

static size_t utf8_put(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Names are UTF-16LE, NUL-terminated unless they fill the field; a
 * surrogate without its partner becomes U+FFFD. */
static void utf16le_to_utf8(const uint8_t *in, size_t units, char *out,
			    size_t outlen)
{
	size_t i, o = 0;
	char tmp[4];

	for (i = 0; i < units; i++) {
		uint32_t c = get_le16(in + 2 * i);
		size_t n;

		if (c == 0)
			break;
		if (c >= 0xd800 && c <= 0xdbff) {
			uint32_t lo = i + 1 < units ? get_le16(in + 2 * i + 2)
						    : 0;
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
				i++;
			} else {
				c = 0xfffd;
			}
		} else if (c >= 0xdc00 && c <= 0xdfff) {
			c = 0xfffd;
		}
		n = utf8_put(c, tmp);
		if (o + n >= outlen)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
}

/* ------------------------------------------------------------ partitions */

static struct qf_partition *add_part(struct dec *d)
{
	struct qf_ptable *pt = d->pt;
	struct qf_partition *p;

	pt->parts = qf_grow(pt->parts, (size_t)pt->count, &d->cap,
			    sizeof(*pt->parts));
	p = &pt->parts[pt->count++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* Byte range of @sectors sectors at @lba; false when it overflows or does
 * not fit on the disk. */
static bool sectors_inside(const struct dec *d, uint64_t lba, uint64_t sectors,
			   uint32_t ss, uint64_t *start, uint64_t *size)
{
	return !mul_overflows(lba, ss, start) &&
	       !mul_overflows(sectors, ss, size) &&
	       range_inside(*start, *size, d->size);
}

static int cmp_number(const void *a, const void *b)
{
	const struct qf_partition *x = a, *y = b;
	return (x->number > y->number) - (x->number < y->number);
}

/* ------------------------------------------------------------------- MBR */

struct mbr_entry {
	uint8_t boot;
	uint8_t type;
	uint32_t start;              /* LBA, relative to the table's base */
	uint32_t sectors;
};

static void mbr_entry(const uint8_t *sec, int i, struct mbr_entry *m)
{
	const uint8_t *p = sec + MBR_ENTRIES_OFF + 16 * i;

	m->boot = p[0];
	m->type = p[4];
	m->start = get_le32(p + 8);
	m->sectors = get_le32(p + 12);
}

static bool mbr_used(const struct mbr_entry *m)
{
	return m->type != 0 && m->sectors != 0;
}

static bool mbr_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

static bool mbr_has_signature(const uint8_t *sec)
{
	return sec[MBR_SIG_OFF] == 0x55 && sec[MBR_SIG_OFF + 1] == 0xaa;
}

/* A FAT or NTFS boot sector carries 0x55AA too; a disk formatted without
 * a table must not be read as one. */
static bool looks_like_boot_sector(const uint8_t *sec)
{
	uint16_t bps = get_le16(sec + 11);

	if (sec[0] != 0xeb && sec[0] != 0xe9)
		return false;
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096)
		return false;
	return memcmp(sec + 54, "FAT", 3) == 0 ||
	       memcmp(sec + 82, "FAT", 3) == 0 ||
	       memcmp(sec + 3, "NTFS    ", 8) == 0 ||
	       memcmp(sec + 3, "EXFAT   ", 8) == 0;
}

static bool mbr_add(struct dec *d, int number, uint64_t lba,
		    const struct mbr_entry *m, bool logical)
{
	struct qf_partition *p;
	uint64_t start, size;

	if (!sectors_inside(d, lba, m->sectors, MBR_SIZE, &start, &size)) {
		qf_warn(&d->warn, _("partition %d (sectors %llu+%lu) lies outside the disk; ignored"),
			number, (unsigned long long)lba,
			(unsigned long)m->sectors);
		return false;
	}
	p = add_part(d);
	p->number = number;
	p->start = start;
	p->size = size;
	snprintf(p->type, sizeof(p->type), "0x%02x", m->type);
	snprintf(p->type_name, sizeof(p->type_name), "%s",
		 mbr_type_name(m->type));
	p->bootable = m->boot == 0x80;
	p->logical = logical;
	return true;
}

/* Each EBR holds one logical partition (start relative to that EBR) and a
 * link to the next EBR (relative to the start of the extended partition).
 * The chain comes from the disk, so it is bounded, loop-checked and every
 * EBR must lie on the disk; a bad link ends the chain with a warning. */
static int mbr_walk_ebrs(struct dec *d, uint64_t ext_lba, int *next,
			 struct qf_err *e)
{
	uint64_t seen[MBR_MAX_LOGICAL];
	uint8_t sec[MBR_SIZE];
	uint64_t ebr = ext_lba;
	int n = 0;

	for (;;) {
		struct mbr_entry m;
		uint64_t off, link = 0;
		bool have_link = false, have_data = false;
		int i, r;

		for (i = 0; i < n; i++) {
			if (seen[i] == ebr) {
				qf_warn(&d->warn, _("extended partition chain loops back to sector %llu; stopped there"),
					(unsigned long long)ebr);
				return 0;
			}
		}
		if (n == MBR_MAX_LOGICAL) {
			qf_warn(&d->warn, _("more than %d extended boot records; the rest are ignored"),
				MBR_MAX_LOGICAL);
			return 0;
		}
		seen[n++] = ebr;
		if (mul_overflows(ebr, MBR_SIZE, &off) ||
		    !range_inside(off, MBR_SIZE, d->size)) {
			qf_warn(&d->warn, _("extended boot record at sector %llu is outside the disk; chain stopped"),
				(unsigned long long)ebr);
			return 0;
		}
		r = d->read(d->ctx, sec, MBR_SIZE, off, e);
		if (r < 0)
			return r;
		if (!mbr_has_signature(sec)) {
			qf_warn(&d->warn, _("extended boot record at sector %llu has no 0x55AA signature; chain stopped"),
				(unsigned long long)ebr);
			return 0;
		}
		for (i = 0; i < 4; i++) {
			mbr_entry(sec, i, &m);
			if (!mbr_used(&m))
				continue;
			if (mbr_extended(m.type)) {
				if (!have_link) {
					link = m.start;
					have_link = true;
				}
				continue;
			}
			if (have_data)
				continue;
			have_data = true;
			mbr_add(d, (*next)++, ebr + m.start, &m, true);
		}
		if (!have_link)
			return 0;
		ebr = ext_lba + link;
	}
}

static int mbr_decode(struct dec *d, const uint8_t *sec, struct qf_err *e)
{
	struct qf_ptable *pt = d->pt;
	int i, next = 5, r;
	uint64_t head = UINT64_MAX;

	snprintf(pt->kind, sizeof(pt->kind), "dos");
	snprintf(pt->disk_id, sizeof(pt->disk_id), "0x%08x",
		 get_le32(sec + MBR_DISK_ID_OFF));
	for (i = 0; i < 4; i++) {
		struct mbr_entry m;

		mbr_entry(sec, i, &m);
		if (!mbr_used(&m))
			continue;
		if (!mbr_add(d, i + 1, m.start, &m, false))
			continue;
		if (mbr_extended(m.type)) {
			r = mbr_walk_ebrs(d, m.start, &next, e);
			if (r < 0)
				return r;
		}
	}
	for (i = 0; i < pt->count; i++)
		if (pt->parts[i].start < head)
			head = pt->parts[i].start;
	pt->head_end = head == UINT64_MAX || head < MBR_SIZE ? MBR_SIZE : head;
	return 0;
}

/* ------------------------------------------------------------------- GPT */

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

static void gpt_hdr_free(struct gpt_hdr *h)
{
	free(h->array);
	h->array = NULL;
}

static uint64_t round_up(uint64_t v, uint32_t to)
{
	return (v + to - 1) / to * to;
}

/* Read and check the header at @lba and its entry array.  Returns 1 when
 * both are sound, 0 when not (with the reason in @why), a negative errno
 * when the disk cannot be read.  @sig tells whether a header signature was
 * there at all; fields are filled as far as they were read. */
static int gpt_load(struct dec *d, uint32_t ss, uint64_t lba,
		    struct gpt_hdr *h, bool *sig, char *why, size_t wlen,
		    struct qf_err *e)
{
	uint8_t *buf = NULL;
	uint64_t off, aoff;
	uint32_t hsize, crc;
	int r = 0;

	memset(h, 0, sizeof(*h));
	*sig = false;
	h->lba = lba;
	if (mul_overflows(lba, ss, &off) || !range_inside(off, ss, d->size)) {
		snprintf(why, wlen, _("LBA %llu is outside the disk"),
			 (unsigned long long)lba);
		goto out;
	}
	buf = qf_xmalloc(ss);
	r = d->read(d->ctx, buf, ss, off, e);
	if (r < 0)
		goto out;
	if (memcmp(buf, "EFI PART", 8) != 0) {
		snprintf(why, wlen, _("no GPT signature at LBA %llu"),
			 (unsigned long long)lba);
		goto out;
	}
	*sig = true;
	h->alt_lba = get_le64(buf + 32);
	hsize = get_le32(buf + 12);
	if (hsize < GPT_HEADER_MIN || hsize > ss) {
		snprintf(why, wlen, _("header size %u is invalid"), hsize);
		goto out;
	}
	crc = get_le32(buf + 16);
	put_le32(buf + 16, 0);
	if (crc32(0, buf, hsize) != crc) {
		snprintf(why, wlen, _("header CRC mismatch at LBA %llu"),
			 (unsigned long long)lba);
		goto out;
	}
	if (get_le64(buf + 24) != lba) {
		snprintf(why, wlen, _("header at LBA %llu says it is at LBA %llu"),
			 (unsigned long long)lba,
			 (unsigned long long)get_le64(buf + 24));
		goto out;
	}
	h->first_usable = get_le64(buf + 40);
	h->last_usable = get_le64(buf + 48);
	memcpy(h->disk_guid, buf + 56, 16);
	h->entries_lba = get_le64(buf + 72);
	h->num_entries = get_le32(buf + 80);
	h->entry_size = get_le32(buf + 84);
	crc = get_le32(buf + 88);
	if (h->first_usable > h->last_usable) {
		snprintf(why, wlen, _("usable area %llu-%llu is empty"),
			 (unsigned long long)h->first_usable,
			 (unsigned long long)h->last_usable);
		goto out;
	}
	if (h->entry_size < GPT_ENTRY_MIN || h->entry_size % 8 != 0) {
		snprintf(why, wlen, _("entry size %u is invalid"),
			 h->entry_size);
		goto out;
	}
	h->array_bytes = (uint64_t)h->num_entries * h->entry_size;
	if (h->num_entries > GPT_MAX_ENTRIES ||
	    h->array_bytes > GPT_MAX_ARRAY) {
		snprintf(why, wlen, _("too many entries (%u of %u bytes)"),
			 h->num_entries, h->entry_size);
		goto out;
	}
	if (mul_overflows(h->entries_lba, ss, &aoff) ||
	    !range_inside(aoff, h->array_bytes, d->size)) {
		snprintf(why, wlen, _("entry array at LBA %llu is outside the disk"),
			 (unsigned long long)h->entries_lba);
		goto out;
	}
	h->array = qf_xmalloc(h->array_bytes);
	r = d->read(d->ctx, h->array, h->array_bytes, aoff, e);
	if (r < 0)
		goto out;
	if (crc32(0, h->array, h->array_bytes) != crc) {
		snprintf(why, wlen, _("entry array CRC mismatch (header at LBA %llu)"),
			 (unsigned long long)lba);
		goto out;
	}
	r = 1;
out:
	free(buf);
	if (r != 1)
		gpt_hdr_free(h);
	return r;
}

/* Find a sound GPT for sector size @ss: the primary at LBA 1, else the
 * backup where the primary says it is, else at the last LBA.  Returns 1
 * with *h filled (and, when it is the backup, what is wrong with the
 * primary in @why), 0 with the reasons in @why, or a negative errno. */
static int gpt_find(struct dec *d, uint32_t ss, struct gpt_hdr *h,
		    bool *backup, bool *seen, char *why, size_t wlen,
		    struct qf_err *e)
{
	char pwhy[192], bwhy[192];
	uint64_t cand[2];
	int nc = 0, i, r;
	bool psig, bsig;
	uint64_t nsec = d->size / ss;

	*backup = false;
	r = gpt_load(d, ss, 1, h, &psig, pwhy, sizeof(pwhy), e);
	*seen = psig;
	if (r != 0)
		return r;
	if (psig && h->alt_lba > 1 && h->alt_lba < nsec)
		cand[nc++] = h->alt_lba;
	if (nsec > 2 && (nc == 0 || cand[0] != nsec - 1))
		cand[nc++] = nsec - 1;
	snprintf(bwhy, sizeof(bwhy), _("not found"));
	for (i = 0; i < nc; i++) {
		char w[192];

		r = gpt_load(d, ss, cand[i], h, &bsig, w, sizeof(w), e);
		if (r < 0)
			return r;
		if (r == 1) {
			*backup = true;
			*seen = true;
			snprintf(why, wlen, "%s", pwhy);
			return 1;
		}
		/* Keep the reason from a header that was at least there. */
		if (bsig || i == 0)
			snprintf(bwhy, sizeof(bwhy), "%s", w);
		*seen |= bsig;
	}
	snprintf(why, wlen, _("primary header: %s; backup header: %s"),
		 pwhy, bwhy);
	return 0;
}

/* Where the backup GPT begins, for tail_start: from the backup header if
 * it can be read, else estimated from the primary (entries just before the
 * alternate header).  The disk end means nothing is there. */
static uint64_t gpt_tail(struct dec *d, uint32_t ss, const struct gpt_hdr *h,
			 bool backup)
{
	uint64_t nsec = d->size / ss, lba, off;
	struct gpt_hdr alt;
	struct qf_err e2 = { 0 };
	char why[192];
	bool sig;

	if (backup) {
		lba = h->lba < h->entries_lba ? h->lba : h->entries_lba;
	} else if (h->alt_lba > 1 && h->alt_lba < nsec &&
		   gpt_load(d, ss, h->alt_lba, &alt, &sig, why, sizeof(why),
			    &e2) == 1) {
		lba = alt.lba < alt.entries_lba ? alt.lba : alt.entries_lba;
		gpt_hdr_free(&alt);
	} else if (h->alt_lba > 1 && h->alt_lba < nsec) {
		uint64_t asec = round_up(h->array_bytes, ss) / ss;
		lba = h->alt_lba > asec ? h->alt_lba - asec : h->alt_lba;
		if (lba <= h->last_usable)
			lba = h->alt_lba;
	} else {
		return d->size;
	}
	if (mul_overflows(lba, ss, &off) || off > d->size)
		return d->size;
	return off;
}

static int gpt_decode(struct dec *d, uint32_t ss, const struct gpt_hdr *h,
		      bool backup, const char *why)
{
	struct qf_ptable *pt = d->pt;
	uint64_t head = UINT64_MAX, table_end, usable_off, aoff;
	uint32_t i;

	snprintf(pt->kind, sizeof(pt->kind), "gpt");
	guid_str(h->disk_guid, pt->disk_id, sizeof(pt->disk_id));
	pt->sector_size = ss;
	pt->used_backup = backup;
	if (backup)
		qf_warn(&d->warn, _("the primary GPT is damaged (%s); using the backup GPT at LBA %llu"),
			why, (unsigned long long)h->lba);

	for (i = 0; i < h->num_entries; i++) {
		const uint8_t *ent = h->array + (uint64_t)i * h->entry_size;
		uint64_t first = get_le64(ent + 32), last = get_le64(ent + 40);
		uint64_t start, size;
		struct qf_partition *p;

		if (guid_is_zero(ent))
			continue;
		if (first > last || first < h->first_usable ||
		    last > h->last_usable) {
			qf_warn(&d->warn, _("GPT partition %u (LBA %llu-%llu) is outside the usable area; ignored"),
				i + 1, (unsigned long long)first,
				(unsigned long long)last);
			continue;
		}
		if (!sectors_inside(d, first, last - first + 1, ss, &start,
				    &size)) {
			qf_warn(&d->warn, _("GPT partition %u (LBA %llu-%llu) lies outside the disk; ignored"),
				i + 1, (unsigned long long)first,
				(unsigned long long)last);
			continue;
		}
		p = add_part(d);
		p->number = (int)i + 1;
		p->start = start;
		p->size = size;
		guid_str(ent, p->type, sizeof(p->type));
		snprintf(p->type_name, sizeof(p->type_name), "%s",
			 gpt_type_name(p->type));
		utf16le_to_utf8(ent + GPT_NAME_OFF, GPT_NAME_UNITS, p->name,
				sizeof(p->name));
		guid_str(ent + 16, p->uuid, sizeof(p->uuid));
		/* attribute bit 2: legacy BIOS bootable */
		p->bootable = (get_le64(ent + 48) & 4) != 0;
		if (start < head)
			head = start;
	}

	/* The primary array may have to be assumed where it normally is when
	 * only the backup could be read. */
	if (backup || mul_overflows(h->entries_lba, ss, &aoff))
		aoff = 2 * (uint64_t)ss;
	if (add_overflows(aoff, round_up(h->array_bytes, ss), &table_end))
		table_end = d->size;
	if (table_end < 2 * (uint64_t)ss)
		table_end = 2 * (uint64_t)ss;
	if (head == UINT64_MAX) {
		if (mul_overflows(h->first_usable, ss, &usable_off))
			usable_off = d->size;
		head = usable_off;
	}
	pt->head_end = head > table_end ? head : table_end;
	if (pt->head_end > d->size)
		pt->head_end = d->size;
	pt->tail_start = gpt_tail(d, ss, h, backup);
	if (pt->tail_start < pt->head_end)
		pt->tail_start = pt->head_end;
	return 0;
}

/* ------------------------------------------------------------- filesystems */

static int copy_range(qf_disk_read_fn read, void *ctx, int fd, uint64_t off,
		      uint64_t from, uint64_t to, uint8_t *buf)
{
	struct qf_err e = { 0 };

	while (from < to) {
		size_t n = to - from > COPY_CHUNK ? COPY_CHUNK : to - from;
		size_t done = 0;
		int r = read(ctx, buf, n, off + from, &e);

		if (r < 0)
			return r;
		/* Zero chunks stay holes: the memfd may be terabytes long. */
		while (!qf_buf_is_zero(buf, n) && done < n) {
			ssize_t w = pwrite(fd, buf + done, n - done,
					   (off_t)(from + done));
			if (w < 0)
				return -errno;
			done += w;
		}
		from += n;
	}
	return 0;
}

static void copy_value(blkid_probe pr, const char *name, char *out,
		       size_t len)
{
	const char *v = NULL;

	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
		snprintf(out, len, "%s", v);
}

int qf_fs_probe_fd(int fd, uint64_t off, uint64_t len, struct qf_fs_info *fs)
{
	blkid_probe pr;
	int r;

	memset(fs, 0, sizeof(*fs));
	if (off > INT64_MAX || len > INT64_MAX)
		return -EINVAL;
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	/* The superblocks chain is on by default and its default flags ask
	 * for TYPE, LABEL and UUID; the partitions chain is off. */
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off,
				   (blkid_loff_t)len) != 0) {
		r = -EIO;
		goto out;
	}
	r = blkid_do_safeprobe(pr);
	if (r != 0) {
		/* 1: nothing found, -2: ambivalent (several signatures) */
		r = r == -1 ? -EIO : -ENOENT;
		goto out;
	}
	copy_value(pr, "TYPE", fs->type, sizeof(fs->type));
	copy_value(pr, "LABEL", fs->label, sizeof(fs->label));
	copy_value(pr, "UUID", fs->uuid, sizeof(fs->uuid));
	r = fs->type[0] ? 0 : -ENOENT;
out:
	blkid_free_probe(pr);
	if (r < 0)
		memset(fs, 0, sizeof(*fs));
	return r;
}

int qf_fs_probe(qf_disk_read_fn read, void *ctx, uint64_t off, uint64_t len,
		struct qf_fs_info *fs)
{
	uint8_t *buf = NULL;
	uint64_t head, tail;
	int fd, r;

	memset(fs, 0, sizeof(*fs));
	if (len == 0)
		return -ENOENT;
	if (!range_inside(off, len, UINT64_MAX) || len > INT64_MAX)
		return -EINVAL;
	fd = memfd_create("qflash-probe", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
		goto out;
	}
	buf = qf_xmalloc(COPY_CHUNK);
	head = len < PROBE_HEAD ? len : PROBE_HEAD;
	tail = len > PROBE_TAIL ? len - PROBE_TAIL : 0;
	if (tail < head)
		tail = head;
	r = copy_range(read, ctx, fd, off, 0, head, buf);
	if (r < 0)
		goto out;
	/* A stream only has its head readable: probe what could be read
	 * rather than nothing. */
	copy_range(read, ctx, fd, off, tail, len, buf);
	r = qf_fs_probe_fd(fd, 0, len, fs);
out:
	free(buf);
	close(fd);
	return r;
}

static void probe_all(struct dec *d)
{
	int i;

	for (i = 0; i < d->pt->count; i++) {
		struct qf_partition *p = &d->pt->parts[i];
		struct qf_fs_info fs;

		/* An extended partition only holds EBRs and logicals. */
		if (!p->logical && strcmp(d->pt->kind, "dos") == 0 &&
		    mbr_extended((uint8_t)strtoul(p->type, NULL, 16)))
			continue;
		if (qf_fs_probe(d->read, d->ctx, p->start, p->size, &fs) < 0)
			continue;
		snprintf(p->fs_type, sizeof(p->fs_type), "%s", fs.type);
		snprintf(p->fs_label, sizeof(p->fs_label), "%s", fs.label);
		snprintf(p->fs_uuid, sizeof(p->fs_uuid), "%s", fs.uuid);
	}
}

/* ------------------------------------------------------------ entry points */

/* The decoder behind every entry point; d->pt is made here. */
static int decode(struct dec *d, struct qf_ptable **out, struct qf_err *e)
{
	uint8_t sec[MBR_SIZE];
	struct qf_ptable *pt;
	bool pmbr = false, others = false;
	int i, r = 0;

	*out = NULL;
	pt = d->pt = qf_xcalloc(1, sizeof(*pt));
	pt->sector_size = MBR_SIZE;
	pt->tail_start = d->size;
	if (d->size < MBR_SIZE)
		goto done;
	r = d->read(d->ctx, sec, MBR_SIZE, 0, e);
	if (r < 0)
		goto fail;
	if (!mbr_has_signature(sec))
		goto done;
	for (i = 0; i < 4; i++) {
		struct mbr_entry m;

		mbr_entry(sec, i, &m);
		/* only 0x00 and 0x80 are boot flags: anything else is code */
		if (m.boot & 0x7f)
			goto done;
		if (m.type == 0xee)
			pmbr = true;
		else if (mbr_used(&m))
			others = true;
	}

	if (pmbr) {
		static const uint32_t sizes[] = { 512, 4096 };
		struct gpt_hdr h;
		char why[512], first_why[512] = "";
		bool backup, seen, any_seen = false;
		size_t s;

		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			r = gpt_find(d, sizes[s], &h, &backup, &seen, why,
				     sizeof(why), e);
			if (r < 0)
				goto fail;
			if (r == 1) {
				pt->hybrid_mbr = others;
				r = gpt_decode(d, sizes[s], &h, backup, why);
				gpt_hdr_free(&h);
				if (r < 0)
					goto fail;
				goto probe;
			}
			if (seen && !any_seen)
				snprintf(first_why, sizeof(first_why), "%s",
					 why);
			any_seen |= seen;
		}
		if (!any_seen)
			snprintf(first_why, sizeof(first_why), "%s",
				 _("the protective MBR announces a GPT but no GPT header was found"));
		r = qf_err_set(e, EINVAL, _("GPT damaged: %s"), first_why);
		goto fail;
	}
	if (looks_like_boot_sector(sec))
		goto done;
	r = mbr_decode(d, sec, e);
	if (r < 0)
		goto fail;
probe:
	if (d->probe_fs)
		probe_all(d);
	if (pt->count > 1)
		qsort(pt->parts, pt->count, sizeof(pt->parts[0]), cmp_number);
done:
	*out = pt;
	return 0;
fail:
	qf_ptable_free(pt);
	return r;
}

int qf_ptable_decode(qf_disk_read_fn read, void *ctx, uint64_t disk_size,
		     struct qf_ptable **out, qf_warn_fn warn, void *warn_ctx,
		     struct qf_err *e)
{
	struct dec d = {
		.read = read, .ctx = ctx, .size = disk_size,
		.warn = { .warn = warn, .warn_ctx = warn_ctx },
		.probe_fs = true,
	};

	return decode(&d, out, e);
}

static int image_read(void *ctx, void *buf, size_t len, uint64_t off,
		      struct qf_err *e)
{
	return qf_image_read(ctx, buf, len, off, e);
}

int qf_ptable_read(struct qf_image *img, struct qf_ptable **out,
		   qf_warn_fn warn, void *warn_ctx, struct qf_err *e)
{
	return qf_ptable_decode(image_read, img, qf_image_size(img), out, warn,
				warn_ctx, e);
}

int qf_ptable_read_layout(struct qf_image *img, struct qf_ptable **out,
			  struct qf_err *e)
{
	struct dec d = {
		.read = image_read, .ctx = img, .size = qf_image_size(img),
	};

	return decode(&d, out, e);
}

void qf_ptable_free(struct qf_ptable *pt)
{
	if (!pt)
		return;
	free(pt->parts);
	free(pt);
}

const struct qf_partition *qf_ptable_find(const struct qf_ptable *pt,
					  int number)
{
	int i;

	if (!pt)
		return NULL;
	for (i = 0; i < pt->count; i++)
		if (pt->parts[i].number == number)
			return &pt->parts[i];
	return NULL;
}
