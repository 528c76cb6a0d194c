/* ptable_fields.c - on-disk fields turned into a struct qf_partition:
 * type names for MBR codes and GPT GUIDs, GUID text, UTF-16 names, and
 * the growing list of partitions the MBR and GPT readers add to. */
#include "image/ptable_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

const char *pt_mbr_type_name(uint8_t code)
{
	size_t i;

	for (i = 0; i < sizeof(mbr_types) / sizeof(mbr_types[0]); i++)
		if (mbr_types[i].code == code)
			return _(mbr_types[i].name);
	return _("unknown");
}

const char *pt_gpt_type_name(const char *guid)
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
void pt_guid_str(const uint8_t *g, char *out, size_t len)
{
	snprintf(out, len,
		 "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 get_le32(g), get_le16(g + 4), get_le16(g + 6),
		 g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

bool pt_guid_is_zero(const uint8_t *g)
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
void pt_utf16le_to_utf8(const uint8_t *in, size_t units, char *out,
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

struct qf_partition *pt_add_part(struct dec *d)
{
	struct qf_ptable *pt = d->pt;
	struct qf_partition *p;

	pt->parts = qf_grow(pt->parts, (size_t)pt->count, &d->cap,
			    sizeof(*pt->parts));
	p = &pt->parts[pt->count++];
	memset(p, 0, sizeof(*p));
	return p;
}

bool pt_sectors_inside(const struct dec *d, uint64_t lba, uint64_t sectors,
		       uint32_t ss, uint64_t *start, uint64_t *size)
{
	return !mul_overflows(lba, ss, start) &&
	       !mul_overflows(sectors, ss, size) &&
	       range_inside(*start, *size, d->size);
}
