/* test_ptable.c - partition-table decoding on disks built in memory: MBR
 * with logical partitions, GPT (512 and 4096-byte sectors, names, GUIDs,
 * backup copy), hybrid MBR and hostile tables that must not crash. */
#include "qflash.h"
#include "image/ptable.h"
#include "bytes.h"
#include "tap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MiB (1024ull * 1024)

struct disk {
	uint8_t *buf;
	uint64_t size;
	int reads_outside;
};

struct warns {
	int n;
	char last[QF_ERR_MSG_MAX];
};

static int disk_read(void *ctx, void *buf, size_t len, uint64_t off,
		     struct qf_err *e)
{
	struct disk *d = ctx;

	if (off > d->size || len > d->size - off) {
		d->reads_outside++;
		return qf_err_set(e, EINVAL, "read past the end");
	}
	memcpy(buf, d->buf + off, len);
	return 0;
}

static void on_warn(void *ctx, const char *msg)
{
	struct warns *w = ctx;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

static void disk_new(struct disk *d, uint64_t size)
{
	d->buf = calloc(1, size);
	d->size = size;
	d->reads_outside = 0;
}

/* ------------------------------------------------------------------ MBR */

static void mbr_set(uint8_t *sec, int slot, uint8_t boot, uint8_t type,
		    uint32_t start, uint32_t sectors)
{
	uint8_t *p = sec + 446 + 16 * slot;

	p[0] = boot;
	p[4] = type;
	put_le32(p + 8, start);
	put_le32(p + 12, sectors);
	sec[510] = 0x55;
	sec[511] = 0xaa;
}

/* A Linux swap signature (version 1) with a label and UUID at @p. */
static void make_swap(uint8_t *p, uint64_t size, const char *label)
{
	static const uint8_t uuid[16] = {
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00 };

	memcpy(p + 4096 - 10, "SWAPSPACE2", 10);
	put_le32(p + 1024, 1);
	put_le32(p + 1028, (uint32_t)(size / 4096 - 1));
	memcpy(p + 1036, uuid, 16);
	memcpy(p + 1052, label, strlen(label));
}

static int decode(struct disk *d, struct qf_ptable **pt, struct warns *w,
		  struct qf_err *e)
{
	memset(e, 0, sizeof(*e));
	if (w)
		memset(w, 0, sizeof(*w));
	return qf_ptable_decode(disk_read, d, d->size, pt, on_warn, w, e);
}

static void test_mbr(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	const struct qf_partition *p;
	uint8_t *s;
	int r;

	disk_new(&d, 32 * MiB);
	s = d.buf;
	put_le32(s + 440, 0x1234abcd);
	mbr_set(s, 0, 0x80, 0x83, 2048, 4096);
	mbr_set(s, 1, 0, 0x82, 6144, 2048);
	mbr_set(s, 3, 0, 0x05, 10240, 40960);
	make_swap(d.buf + 6144 * 512ull, 2048 * 512, "myswap");
	/* EBR 1: logical at +2048 from itself, next EBR at +4096 from the
	 * extended partition's start */
	s = d.buf + 10240 * 512ull;
	mbr_set(s, 0, 0, 0x83, 2048, 2048);
	mbr_set(s, 1, 0, 0x05, 4096, 8192);
	s = d.buf + 14336 * 512ull;
	mbr_set(s, 0, 0x80, 0x07, 2048, 4096);
	mbr_set(s, 1, 0, 0x05, 12288, 16384);
	s = d.buf + 22528 * 512ull;
	mbr_set(s, 0, 0, 0x8e, 2048, 8192);

	r = decode(&d, &pt, &w, &e);
	is_int(r, 0, "mbr: decodes (%s)", e.msg);
	if (r < 0) {
		free(d.buf);
		return;
	}
	ok(strcmp(pt->kind, "dos") == 0, "mbr: kind dos (%s)", pt->kind);
	ok(strcmp(pt->disk_id, "0x1234abcd") == 0, "mbr: disk id %s",
	   pt->disk_id);
	is_int(pt->sector_size, 512, "mbr: sector size");
	is_int(pt->count, 6, "mbr: 3 primaries + 3 logicals");
	is_int(w.n, 0, "mbr: no warnings (%s)", w.last);
	ok(pt->count == 6 && pt->parts[0].number == 1 &&
	   pt->parts[1].number == 2 && pt->parts[2].number == 4 &&
	   pt->parts[3].number == 5 && pt->parts[4].number == 6 &&
	   pt->parts[5].number == 7, "mbr: numbered 1 2 4 5 6 7 in order");
	p = qf_ptable_find(pt, 1);
	ok(p && p->start == 2048 * 512 && p->size == 4096 * 512 &&
	   p->bootable && !p->logical && strcmp(p->type, "0x83") == 0 &&
	   strcmp(p->type_name, "Linux") == 0 && !p->name[0] && !p->uuid[0],
	   "mbr: partition 1 fields");
	p = qf_ptable_find(pt, 2);
	ok(p && strcmp(p->type_name, "Linux swap / Solaris") == 0 &&
	   !p->bootable, "mbr: partition 2 type name");
	ok(p && strcmp(p->fs_type, "swap") == 0 &&
	   strcmp(p->fs_label, "myswap") == 0 &&
	   strcmp(p->fs_uuid, "11223344-5566-7788-99aa-bbccddeeff00") == 0,
	   "mbr: libblkid finds the swap on partition 2 (%s '%s' %s)",
	   p ? p->fs_type : "", p ? p->fs_label : "", p ? p->fs_uuid : "");
	p = qf_ptable_find(pt, 4);
	ok(p && strcmp(p->type, "0x05") == 0 && !p->logical &&
	   p->start == 10240 * 512ull && p->size == 40960 * 512ull &&
	   strcmp(p->type_name, "Extended") == 0,
	   "mbr: extended partition listed as 4");
	p = qf_ptable_find(pt, 5);
	ok(p && p->logical && p->start == 12288 * 512ull &&
	   p->size == 2048 * 512ull, "mbr: logical 5 relative to its EBR");
	p = qf_ptable_find(pt, 6);
	ok(p && p->logical && p->bootable && p->start == 16384 * 512ull &&
	   p->size == 4096 * 512ull && strcmp(p->type, "0x07") == 0 &&
	   strcmp(p->type_name, "HPFS/NTFS/exFAT") == 0,
	   "mbr: logical 6 (link relative to the extended start)");
	p = qf_ptable_find(pt, 7);
	ok(p && p->logical && p->start == 24576 * 512ull &&
	   p->size == 8192 * 512ull && strcmp(p->type_name, "Linux LVM") == 0,
	   "mbr: logical 7");
	ok(!qf_ptable_find(pt, 3) && !qf_ptable_find(pt, 8) &&
	   !qf_ptable_find(NULL, 1),
	   "mbr: find misses absent numbers");
	is_int(pt->head_end, 2048 * 512, "mbr: head_end at first partition");
	ok(pt->tail_start == d.size, "mbr: tail_start is the disk end");
	qf_ptable_free(pt);

	/* same disk, unknown type code and no partitions at all */
	memset(d.buf, 0, d.size);
	mbr_set(d.buf, 0, 0, 0x00, 0, 0);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && strcmp(pt->kind, "dos") == 0 && pt->count == 0 &&
	   pt->head_end == 512 && pt->tail_start == d.size,
	   "mbr: empty table: dos, no partitions, head_end 512");
	qf_ptable_free(pt);

	mbr_set(d.buf, 0, 0, 0x42, 2048, 2048);
	mbr_set(d.buf, 1, 0, 0x83, 60000, 10000);   /* past the end */
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 1 && strcmp(pt->parts[0].type_name,
					      "unknown") == 0,
	   "mbr: unknown type code named unknown");
	ok(w.n == 1 && strstr(w.last, "partition 2"),
	   "mbr: partition past the disk end ignored with a warning (%s)",
	   w.last);
	qf_ptable_free(pt);
	free(d.buf);
}

static void test_ebr_hostile(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	uint8_t *s;
	int r, i;

	/* EBR 2 links back to EBR 1 */
	disk_new(&d, 8 * MiB);
	mbr_set(d.buf, 0, 0, 0x0f, 2048, 8192);
	s = d.buf + 2048 * 512;
	mbr_set(s, 0, 0, 0x83, 1, 100);
	mbr_set(s, 1, 0, 0x05, 1024, 1024);
	s = d.buf + 3072 * 512;
	mbr_set(s, 0, 0, 0x83, 1, 100);
	mbr_set(s, 1, 0, 0x05, 0, 1024);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 3 && qf_ptable_find(pt, 5) &&
	   qf_ptable_find(pt, 6) && !qf_ptable_find(pt, 7),
	   "ebr loop: two logicals, then stops");
	ok(w.n == 1 && strstr(w.last, "loops"), "ebr loop: warned (%s)",
	   w.last);
	qf_ptable_free(pt);

	/* an EBR that links to itself */
	s = d.buf + 2048 * 512;
	mbr_set(s, 1, 0, 0x05, 0, 1024);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 2 && w.n == 1,
	   "ebr self-link: one logical, warned");
	qf_ptable_free(pt);

	/* the link points far outside the disk */
	mbr_set(s, 1, 0, 0x05, 0xfffff000u, 1024);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 2 && qf_ptable_find(pt, 5) && w.n == 1 &&
	   strstr(w.last, "outside the disk") && d.reads_outside == 0,
	   "ebr outside the disk: chain stopped, warned, nothing read (%s)",
	   w.last);
	qf_ptable_free(pt);

	/* the logical partition itself lies past the disk end */
	mbr_set(s, 0, 0, 0x83, 0xffffff00u, 0xff);
	mbr_set(s, 1, 0, 0, 0, 0);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 1 && w.n == 1 && d.reads_outside == 0,
	   "logical past the disk end: ignored, warned");
	qf_ptable_free(pt);

	/* an EBR without its signature ends the chain */
	memset(d.buf, 0, d.size);
	mbr_set(d.buf, 0, 0, 0x85, 2048, 8192);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 1 && w.n == 1 && strstr(w.last, "0x55AA"),
	   "ebr without signature: warned (%s)", w.last);
	qf_ptable_free(pt);

	/* a chain longer than the bound */
	memset(d.buf, 0, d.size);
	mbr_set(d.buf, 0, 0, 0x05, 2048, 14000);
	for (i = 0; i < 200; i++) {
		s = d.buf + (2048 + 64 * (uint64_t)i) * 512;
		mbr_set(s, 0, 0, 0x83, 1, 8);
		mbr_set(s, 1, 0, 0x05, 64 * (i + 1), 64);
	}
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 129 && qf_ptable_find(pt, 132) &&
	   !qf_ptable_find(pt, 133) && w.n == 1,
	   "ebr chain bounded at 128 logicals (count %d)",
	   r == 0 ? pt->count : -1);
	if (r == 0)
		qf_ptable_free(pt);
	free(d.buf);
}

static void test_not_a_table(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	int r;

	disk_new(&d, 1 * MiB);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->kind[0] == 0 && pt->count == 0 && pt->parts == NULL,
	   "zeros: no table, not an error");
	ok(pt->tail_start == d.size && pt->head_end == 0,
	   "zeros: nothing reserved for tables");
	qf_ptable_free(pt);

	/* a FAT boot sector also ends in 0x55AA */
	d.buf[0] = 0xeb;
	d.buf[1] = 0x3c;
	d.buf[2] = 0x90;
	put_le16(d.buf + 11, 512);
	memcpy(d.buf + 54, "FAT16   ", 8);
	d.buf[510] = 0x55;
	d.buf[511] = 0xaa;
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->kind[0] == 0 && pt->count == 0,
	   "FAT boot sector is not a partition table");
	qf_ptable_free(pt);

	/* boot code where the boot flags should be */
	memset(d.buf, 0, 512);
	mbr_set(d.buf, 0, 0x12, 0x83, 2048, 100);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->kind[0] == 0, "invalid boot flag: no table");
	qf_ptable_free(pt);

	d.size = 100;
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->kind[0] == 0 && d.reads_outside == 0,
	   "disk smaller than a sector: no table");
	qf_ptable_free(pt);
	free(d.buf);
}

/* ------------------------------------------------------------------ GPT */

struct gpart {
	int index;                   /* entry slot, number - 1 */
	const char *type;            /* GUID text */
	const char *uuid;
	uint64_t first, last;
	uint64_t attrs;
	const uint16_t *name;        /* UTF-16 units, 0-terminated */
};

static unsigned hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Independent of the decoder: the text form's first three fields are
 * stored byte-reversed. */
static void guid_bytes(const char *s, uint8_t *g)
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
				       8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t raw[16];
	int i = 0;

	while (*s && i < 16) {
		if (*s == '-') {
			s++;
			continue;
		}
		raw[i++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
		s += 2;
	}
	for (i = 0; i < 16; i++)
		g[i] = raw[order[i]];
}

/* gpt_sign: (re)compute the CRC of the 92-byte GPT header at @h. */
static void gpt_sign(uint8_t *h)
{
	put_le32(h + 16, 0);
	put_le32(h + 16, crc32(0, h, 92));
}

static void gpt_header(struct disk *d, uint32_t ss, uint64_t lba,
		       uint64_t alt, uint64_t first, uint64_t last,
		       uint64_t entries, uint32_t n, uint32_t array_crc)
{
	uint8_t *h = d->buf + lba * ss;

	memset(h, 0, ss);
	memcpy(h, "EFI PART", 8);
	put_le32(h + 8, 0x00010000);
	put_le32(h + 12, 92);
	put_le64(h + 24, lba);
	put_le64(h + 32, alt);
	put_le64(h + 40, first);
	put_le64(h + 48, last);
	guid_bytes("5E2D7C1A-0B3F-4E8D-9C6A-112233445566", h + 56);
	put_le64(h + 72, entries);
	put_le32(h + 80, n);
	put_le32(h + 84, 128);
	put_le32(h + 88, array_crc);
	gpt_sign(h);
}

/* Protective MBR, primary and backup GPT with @n 128-byte entries. */
static void make_gpt(struct disk *d, uint32_t ss, const struct gpart *parts,
		     int nparts, uint32_t n)
{
	uint64_t nsec = d->size / ss;
	uint64_t asec = ((uint64_t)n * 128 + ss - 1) / ss;
	uint8_t *arr = calloc(n, 128);
	uint32_t crc;
	int i, j;

	for (i = 0; i < nparts; i++) {
		uint8_t *e = arr + parts[i].index * 128;

		guid_bytes(parts[i].type, e);
		guid_bytes(parts[i].uuid, e + 16);
		put_le64(e + 32, parts[i].first);
		put_le64(e + 40, parts[i].last);
		put_le64(e + 48, parts[i].attrs);
		for (j = 0; parts[i].name && parts[i].name[j]; j++)
			put_le16(e + 56 + 2 * j, parts[i].name[j]);
	}
	crc = crc32(0, arr, n * 128);
	mbr_set(d->buf, 0, 0, 0xee, 1,
		nsec - 1 > 0xffffffffu ? 0xffffffffu : (uint32_t)(nsec - 1));
	memcpy(d->buf + 2 * ss, arr, n * 128);
	memcpy(d->buf + (nsec - 1 - asec) * ss, arr, n * 128);
	gpt_header(d, ss, 1, nsec - 1, 2 + asec, nsec - 2 - asec, 2, n, crc);
	gpt_header(d, ss, nsec - 1, 1, 2 + asec, nsec - 2 - asec,
		   nsec - 1 - asec, n, crc);
	free(arr);
}

static const uint16_t name_efi[] = { 'E', 'F', 'I', ' ', 'S', 'y', 's', 0 };
/* "root-é-" U+1F600 as a surrogate pair, then a lone low surrogate */
static const uint16_t name_root[] = { 'r', 'o', 'o', 't', '-', 0xe9, '-',
				      0xd83d, 0xde00, 0xdc00, 0 };
static const uint16_t name_full[] = {
	'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
	'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x',
	'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0 };

#define T_EFI  "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define T_LINUX "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
#define T_SWAP "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
#define T_ODD  "01234567-89AB-CDEF-0123-456789ABCDEF"
#define U1 "A1B2C3D4-E5F6-4718-9A2B-3C4D5E6F7081"
#define U2 "0F0E0D0C-0B0A-4908-8706-050403020100"
#define U3 "DEADBEEF-0000-4000-8000-0123456789AB"
#define U4 "CAFEBABE-1111-4222-8333-444455556666"

static struct gpart gparts[] = {
	{ 0, T_EFI, U1, 2048, 4095, 0, name_efi },
	{ 1, T_LINUX, U2, 4096, 8191, 0, name_root },
	{ 2, T_SWAP, U3, 8192, 10239, 0, NULL },
	{ 4, T_ODD, U4, 10240, 10247, 4, name_full },
};
#define NGPARTS ((int)(sizeof(gparts) / sizeof(gparts[0])))

/* Checks shared by the 512-byte GPT variants. */
static void check_gpt(const char *what, struct qf_ptable *pt, uint64_t size)
{
	const struct qf_partition *p;
	uint64_t ss = pt->sector_size;

	ok(strcmp(pt->kind, "gpt") == 0, "%s: kind gpt", what);
	ok(strcmp(pt->disk_id, "5E2D7C1A-0B3F-4E8D-9C6A-112233445566") == 0,
	   "%s: disk GUID %s", what, pt->disk_id);
	ok(pt->count == 4 && pt->parts[0].number == 1 &&
	   pt->parts[1].number == 2 && pt->parts[2].number == 3 &&
	   pt->parts[3].number == 5, "%s: partitions 1 2 3 5", what);
	p = qf_ptable_find(pt, 1);
	ok(p && p->start == MiB && p->size == MiB &&
	   strcmp(p->type, T_EFI) == 0 &&
	   strcmp(p->type_name, "EFI System") == 0 &&
	   strcmp(p->name, "EFI Sys") == 0 && strcmp(p->uuid, U1) == 0 &&
	   !p->logical && !p->bootable, "%s: partition 1 fields", what);
	p = qf_ptable_find(pt, 2);
	ok(p && strcmp(p->name, "root-\xc3\xa9-\xf0\x9f\x98\x80\xef\xbf\xbd") == 0,
	   "%s: UTF-16 name with surrogates (%s)", what, p ? p->name : "");
	ok(p && strcmp(p->uuid, U2) == 0 &&
	   strcmp(p->type_name, "Linux filesystem") == 0,
	   "%s: partition 2 uuid and type", what);
	p = qf_ptable_find(pt, 3);
	ok(p && strcmp(p->type_name, "Linux swap") == 0 && !p->name[0] &&
	   strcmp(p->fs_type, "swap") == 0 && strcmp(p->fs_label, "gswap") == 0,
	   "%s: swap found on partition 3 (%s)", what, p ? p->fs_type : "");
	p = qf_ptable_find(pt, 5);
	ok(p && strcmp(p->type_name, "unknown") == 0 && p->bootable &&
	   strcmp(p->name, "abcdefghijklmnopqrstuvwxyz0123456789") == 0 &&
	   p->size == 4096, "%s: partition 5: unknown type, full name, "
	   "legacy-boot attribute", what);
	ok(pt->head_end == MiB, "%s: head_end %llu", what,
	   (unsigned long long)pt->head_end);
	/* backup array (128 entries) just before the backup header */
	ok(pt->tail_start == size - (128 * 128 / ss + 1) * ss,
	   "%s: tail_start %llu", what, (unsigned long long)pt->tail_start);
}

static void test_gpt(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	static const uint8_t efi_raw[16] = {
		0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
		0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };
	uint8_t g[16];
	int r;

	guid_bytes(T_EFI, g);
	ok(memcmp(g, efi_raw, 16) == 0, "test helper: EFI GUID bytes");

	disk_new(&d, 8 * MiB);
	make_gpt(&d, 512, gparts, NGPARTS, 128);
	make_swap(d.buf + 8192 * 512, 2048 * 512, "gswap");
	r = decode(&d, &pt, &w, &e);
	is_int(r, 0, "gpt: decodes (%s)", e.msg);
	if (r == 0) {
		check_gpt("gpt", pt, d.size);
		ok(!pt->used_backup && !pt->hybrid_mbr && w.n == 0,
		   "gpt: primary used, no warning (%s)", w.last);
		is_int(pt->sector_size, 512, "gpt: sector size 512");
		qf_ptable_free(pt);
	}

	/* primary header CRC broken: backup used, with a warning */
	d.buf[512 + 40] ^= 1;
	r = decode(&d, &pt, &w, &e);
	is_int(r, 0, "gpt bad primary: decodes (%s)", e.msg);
	if (r == 0) {
		check_gpt("gpt bad primary", pt, d.size);
		ok(pt->used_backup && w.n == 1 && strstr(w.last, "backup") &&
		   strstr(w.last, "header CRC"),
		   "gpt bad primary: backup used and warned (%s)", w.last);
		qf_ptable_free(pt);
	}

	/* primary wiped: the backup is found at the last LBA */
	memset(d.buf + 512, 0, 512);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup && pt->count == 4 && w.n == 1,
	   "gpt primary wiped: backup at last LBA used");
	if (r == 0)
		qf_ptable_free(pt);

	/* primary array CRC broken, header fine */
	make_gpt(&d, 512, gparts, NGPARTS, 128);
	d.buf[2 * 512 + 3] ^= 0x80;
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup && pt->count == 4 &&
	   qf_ptable_find(pt, 1) &&
	   strcmp(qf_ptable_find(pt, 1)->type, T_EFI) == 0,
	   "gpt bad primary array: backup entries used");
	if (r == 0)
		qf_ptable_free(pt);

	/* both arrays broken */
	d.buf[d.size - 33 * 512 + 3] ^= 0x80;
	r = decode(&d, &pt, &w, &e);
	ok(r == -EINVAL && strncmp(e.msg, "GPT damaged: ", 13) == 0 &&
	   strstr(e.msg, "entry array CRC"), "gpt both arrays bad: %s",
	   e.msg);

	/* both headers broken */
	make_gpt(&d, 512, gparts, NGPARTS, 128);
	d.buf[512 + 60] ^= 1;
	d.buf[d.size - 512 + 60] ^= 1;
	r = decode(&d, &pt, &w, &e);
	ok(r < 0 && strncmp(e.msg, "GPT damaged: ", 13) == 0 &&
	   strstr(e.msg, "primary header: header CRC") &&
	   strstr(e.msg, "backup header: header CRC"),
	   "gpt both headers bad: %s", e.msg);

	/* protective MBR and no GPT anywhere */
	memset(d.buf, 0, d.size);
	mbr_set(d.buf, 0, 0, 0xee, 1, 16383);
	r = decode(&d, &pt, &w, &e);
	ok(r < 0 && strncmp(e.msg, "GPT damaged: ", 13) == 0,
	   "protective MBR without GPT: %s", e.msg);

	/* hybrid MBR: GPT wins, flag set */
	make_gpt(&d, 512, gparts, NGPARTS, 128);
	mbr_set(d.buf, 1, 0x80, 0x0c, 2048, 2048);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && strcmp(pt->kind, "gpt") == 0 && pt->hybrid_mbr &&
	   pt->count == 4 && !qf_ptable_find(pt, 1)->bootable,
	   "hybrid MBR: GPT used, hybrid_mbr set");
	if (r == 0)
		qf_ptable_free(pt);

	/* a valid GPT but no 0xEE entry: the MBR is what counts */
	memset(d.buf + 446, 0, 64);
	mbr_set(d.buf, 0, 0, 0x83, 2048, 4096);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && strcmp(pt->kind, "dos") == 0 && pt->count == 1,
	   "GPT without protective entry: MBR used");
	if (r == 0)
		qf_ptable_free(pt);
	free(d.buf);
}

static void test_gpt_odd(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	struct gpart bad[] = {
		{ 0, T_LINUX, U1, 2048, 4095, 0, NULL },
		{ 1, T_LINUX, U2, 10, 100, 0, NULL },         /* before first */
		{ 2, T_LINUX, U3, 16000, 16380, 0, NULL },    /* past last */
		{ 3, T_LINUX, U4, 5000, 4000, 0, NULL },      /* reversed */
	};
	uint8_t *h;
	int r;

	disk_new(&d, 8 * MiB);
	make_gpt(&d, 512, bad, 4, 128);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 1 && qf_ptable_find(pt, 1) && w.n == 3,
	   "gpt entries outside the usable area: skipped, 3 warnings");
	if (r == 0)
		qf_ptable_free(pt);

	/* no partitions: head_end at the first usable LBA */
	make_gpt(&d, 512, NULL, 0, 128);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->count == 0 && pt->head_end == 34 * 512 &&
	   pt->tail_start == d.size - 33 * 512,
	   "empty gpt: head_end %llu tail_start %llu",
	   r ? 0ull : (unsigned long long)pt->head_end,
	   r ? 0ull : (unsigned long long)pt->tail_start);
	if (r == 0)
		qf_ptable_free(pt);

	/* hostile primary header fields (re-signed so only they are wrong);
	 * the backup is still good */
	h = d.buf + 512;
	put_le32(h + 80, 0x10000000);
	gpt_sign(h);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup && d.reads_outside == 0,
	   "gpt huge entry count: rejected, backup used");
	if (r == 0)
		qf_ptable_free(pt);
	put_le32(h + 80, 128);
	put_le32(h + 84, 100);
	gpt_sign(h);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup, "gpt entry size 100: rejected");
	if (r == 0)
		qf_ptable_free(pt);
	put_le32(h + 84, 128);
	put_le64(h + 72, 0xffffffffffffff00ull);
	gpt_sign(h);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup && d.reads_outside == 0,
	   "gpt entry array LBA overflowing: rejected");
	if (r == 0)
		qf_ptable_free(pt);
	put_le64(h + 72, 2);
	put_le32(h + 12, 600);
	gpt_sign(h);
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup, "gpt header size > sector: rejected");
	if (r == 0)
		qf_ptable_free(pt);
	/* primary's alternate LBA points outside: last LBA still tried */
	put_le32(h + 12, 92);
	put_le64(h + 32, 0xffffffffffull);
	h[60] ^= 1;
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->used_backup && d.reads_outside == 0,
	   "gpt bad primary pointing nowhere: backup at last LBA");
	if (r == 0)
		qf_ptable_free(pt);
	free(d.buf);
}

static void test_gpt_4k(void)
{
	struct disk d;
	struct qf_ptable *pt;
	struct qf_err e;
	struct warns w;
	struct gpart p4k[] = {
		{ 0, T_EFI, U1, 256, 511, 0, name_efi },
		{ 1, T_LINUX, U2, 512, 1023, 0, name_root },
		{ 2, T_SWAP, U3, 1024, 1279, 0, NULL },
		{ 4, T_ODD, U4, 1280, 1280, 4, name_full },
	};
	int r;

	disk_new(&d, 16 * MiB);
	make_gpt(&d, 4096, p4k, 4, 128);
	make_swap(d.buf + 1024 * 4096, 256 * 4096, "gswap");
	r = decode(&d, &pt, &w, &e);
	is_int(r, 0, "gpt 4k: decodes (%s)", e.msg);
	if (r == 0) {
		is_int(pt->sector_size, 4096, "gpt 4k: sector size 4096");
		ok(qf_ptable_find(pt, 1) &&
		   qf_ptable_find(pt, 1)->start == 1 * MiB,
		   "gpt 4k: partition 1 at 1 MiB");
		check_gpt("gpt 4k", pt, d.size);
		ok(!pt->used_backup && w.n == 0, "gpt 4k: primary used");
		qf_ptable_free(pt);
	}
	d.buf[4096 + 40] ^= 1;
	r = decode(&d, &pt, &w, &e);
	ok(r == 0 && pt->sector_size == 4096 && pt->used_backup &&
	   pt->count == 4 && w.n == 1, "gpt 4k bad primary: backup used");
	if (r == 0)
		qf_ptable_free(pt);
	free(d.buf);
}

static void test_probe_helper(void)
{
	struct disk d;
	struct qf_fs_info fs;
	int r;

	disk_new(&d, 8 * MiB);
	make_swap(d.buf + 3 * MiB, 4 * MiB, "helper");
	r = qf_fs_probe(disk_read, &d, 3 * MiB, 4 * MiB, &fs);
	ok(r == 0 && strcmp(fs.type, "swap") == 0 &&
	   strcmp(fs.label, "helper") == 0, "fs probe on a byte range");
	r = qf_fs_probe(disk_read, &d, 0, 3 * MiB, &fs);
	ok(r < 0 && !fs.type[0], "fs probe on zeros: nothing");
	r = qf_fs_probe(disk_read, &d, 7 * MiB, 2 * MiB, &fs);
	ok(r < 0 && !fs.type[0], "fs probe past the disk: fails cleanly");
	/* like a stream whose tail cannot be read yet */
	make_swap(d.buf + 6 * MiB, 4 * MiB, "headonly");
	r = qf_fs_probe(disk_read, &d, 6 * MiB, 4 * MiB, &fs);
	ok(r == 0 && strcmp(fs.label, "headonly") == 0,
	   "fs probe with an unreadable tail uses the head");
	free(d.buf);
}

int main(void)
{
	test_mbr();
	test_ebr_hostile();
	test_not_a_table();
	test_gpt();
	test_gpt_odd();
	test_gpt_4k();
	test_probe_helper();
	return tap_done();
}
