#!/bin/bash
# malformed2.sh - the open-time checks qemu makes that malformed.sh does
# not cover (doc/qcow2-checks.md lists them all): each crafted image is
# refused with exit 1 and a message naming the file and the problem, and
# the destination is left alone.  Where qemu refuses the image too, that
# is asserted as well, so the rule stays qemu's.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

# qemu_refuses LABEL IMG: qemu-img cannot convert IMG either.
qemu_refuses() {
	qemu-img convert -O raw "$2" "$T/qemu.raw" >/dev/null 2>&1 &&
		fail "$1: qemu-img converts it, so qflash must too"
	rm -f "$T/qemu.raw"
}

good_qcow2 "$T/good.qcow2"
mut() {  # mut NAME [SRC]: a copy to patch, path in $M
	M=$T/$1.qcow2
	cp "${2:-$T/good.qcow2}" "$M"
}
HLEN=$(qcow2 "$T/good.qcow2" field header_length)

# ---------------------------------------------- header extensions
# The extension area ends where the backing file name begins.
mkq "$T/base.qcow2" 16M
mkq "$T/over.qcow2" 16M -b base.qcow2 -F qcow2
M=$T/over.qcow2
fo=$(qcow2 "$M" ext_off 0x6803f857)
qcow2 "$M" set backing_file_offset $((fo + 16))
reject "extension runs into the backing file name" "$M" 'extension.*backing file name'
qemu_refuses "extension into the name" "$M"

mkq "$T/fmtlen.qcow2" 16M -b base.qcow2 -F qcow2
M=$T/fmtlen.qcow2
be32 "$M" $(($(qcow2 "$M" ext_off 0xe2792aca) + 4)) 16
reject "backing format name of 16 bytes" "$M" 'backing file format.*length \(16\)'
qemu_refuses "backing format of 16 bytes" "$M"

# An encryption header pointer in an image that is not LUKS-encrypted.
mut cryptext
fo=$(qcow2 "$M" ext_off 0x6803f857)
be32 "$M" "$fo" 0x0537be77
be32 "$M" $((fo + 4)) 16
reject "encryption header pointer without LUKS" "$M" 'encryption header pointer.*LUKS'
qemu_refuses "crypto extension" "$M"

# Bitmaps extension, as qemu-img bitmap writes it (autoclear bit 0 set).
mut bitmaps
qemu-img bitmap --add "$M" bm0 || fail "qemu-img bitmap --add"
cp "$M" "$T/bm.qcow2"
BX=$(qcow2 "$T/bm.qcow2" ext_off 0x23852875)
ref_raw "$T/bm.qcow2" "$T/bm.ref"
flash_same "$T/bm.ref" "$T/bm.qcow2"
note "ok: image with a dirty bitmap reads"

# bm_patch WHAT BASE LABEL REGEX OFFSET BYTES-HEX: bm.qcow2 with BYTES at
# BASE + OFFSET is refused with REGEX, by qemu too.
bm_patch() {
	mut "bmcase$5" "$T/bm.qcow2"
	hexpatch "$M" $(($2 + $5)) "$6"
	reject "$1: $3" "$M" "$4"
	qemu_refuses "$1: $3" "$M"
}
bm_case() { bm_patch "bitmaps extension" "$BX" "$@"; }
bm_case "length 16" 'bitmaps extension.*length' 4 00000010
bm_case "reserved field" 'reserved' 12 00000001
bm_case "no bitmaps" 'bitmaps' 8 00000000
bm_case "65536 bitmaps" 'bitmaps' 8 00010000
bm_case "directory unaligned" 'bitmap directory offset' 24 "$(printf '%016x' $(($(qcow2 "$T/bm.qcow2" field refcount_table_offset) + 512)))"
bm_case "directory of 0 bytes" 'bitmap directory size' 16 0000000000000000
bm_case "directory over 64 MiB" 'bitmap directory size' 16 0000000004000000
# qemu reads zeros past the end, so it finds no entries there and fails.
bm_case "directory past the end" 'bitmap directory.*past the end' 24 0000010000000000

# The directory's entries (block/qcow2-bitmap.c checks each at open).
hexat() {  # hexat FILE OFFSET LEN: LEN bytes at OFFSET, as one number
	echo $((16#$(od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n')))
}
DIR=$(hexat "$T/bm.qcow2" $((BX + 24)) 8)
TOFF=$(hexat "$T/bm.qcow2" "$DIR" 8)
ent_case() { bm_patch "bitmap entry" "$DIR" "$@"; }
ent_case "table at 0" 'bitmap 1 has no table' 0 0000000000000000
ent_case "table unaligned" 'bitmap 1 has its table at.*not a cluster boundary' 0 "$(printf '%016x' $((TOFF + 512)))"
ent_case "table of 0 entries" 'bitmap 1 has a table of 0 entries' 8 00000000
ent_case "table too large" 'bitmap 1 has a table of' 8 08000001
ent_case "reserved flag" 'bitmap 1 has reserved flags' 12 00000004
ent_case "unknown type" 'bitmap 1 is of unknown type 2' 16 02
ent_case "granularity 2^8" 'bitmap 1 has a granularity of 2\^8' 17 08
ent_case "granularity 2^32" 'bitmap 1 has a granularity of 2\^32' 17 20
ent_case "name of 1024 bytes" 'bitmap 1 has a name|bitmap directory is broken' 18 0400
ent_case "extra data" 'bitmap 1 has extra data|bitmap directory is broken' 20 00000008
# The extension lists two bitmaps, the directory holds one.
mut entcount "$T/bm.qcow2"
hexpatch "$M" $((BX + 8)) 00000002
reject "bitmap count" "$M" 'bitmap directory holds 1 bitmaps, its extension lists 2'
qemu_refuses "bitmap count" "$M"

# With autoclear bit 0 clear the extension is stale: ignored, as qemu does.
mut bmstale "$T/bm.qcow2"
hexpatch "$M" $((BX + 12)) 00000001
be64 "$M" 88 0
ref_raw "$M" "$T/bmstale.ref"
flash_same "$T/bmstale.ref" "$M"
note "ok: a stale bitmaps extension is ignored"

# ------------------------------------------------- header tables
mut reftbig
qcow2 "$M" set refcount_table_clusters 129
reject "refcount table over 8 MiB" "$M" 'refcount table.*8 MiB'
qemu_refuses "refcount table of 129 clusters" "$M"

# Offsets of empty tables are still checked.
mut snapunal0
qcow2 "$M" set snapshots_offset 512
reject "snapshot table offset unaligned, no snapshots" "$M" 'snapshot table offset 512'
qemu_refuses "snapshot offset 512" "$M"

mkq "$T/empty.qcow2" 0
M=$T/empty.qcow2
[ "$(qcow2 "$M" field l1_size)" = 0 ] || fail "a 0-byte image has an L1 table"
qcow2 "$M" set l1_table_offset 512
reject "L1 table offset unaligned, empty L1" "$M" 'L1 table offset 512'
qemu_refuses "L1 offset 512" "$M"

# ------------------------------------------------------ L2 entries
# Version 2 has no zero flag: qemu fails the read.
good_qcow2 "$T/v2.qcow2" -o compat=0.10
mut v2zero "$T/v2.qcow2"
or64 "$M" "$(qcow2 "$M" l2_off 1048576)" 1
reject "zero flag in a version 2 image" "$M" 'zero flag.*version 2'
qemu_refuses "v2 zero flag" "$M"

# Extended L2 entries say "zero" in the bitmap; bit 0 is always clear.
good_qcow2 "$T/ext.qcow2" -o extended_l2=on
mut extzero "$T/ext.qcow2"
or64 "$M" "$(qcow2 "$M" l2_off 1048576)" 1
reject "zero flag in an extended L2 entry" "$M" 'extended L2.*zero flag'

# A raw external data file maps every cluster to its own offset.
mkq "$T/rawdf.qcow2" 16M -o "data_file=$T/rawdf.data,data_file_raw=on"
qio "$T/rawdf.qcow2" "write -P 0x5c 1M 64k"
mut rawdfbad "$T/rawdf.qcow2"
cp "$T/rawdf.data" "$T/rawdf.data.orig"
e=$(qcow2 "$M" l2_off 1048576)
v=$((0x$(readhex "$M" "$e" 8)))
be64 "$M" "$e" $(((v & ~0x00fffffffffffe00) | (2 << 20)))
reject "raw data file cluster not at its own offset" "$M" 'raw external data file'
cmp -s "$T/rawdf.data" "$T/rawdf.data.orig" || fail "the data file was changed"
qemu_refuses "raw data file mismatch" "$M"

exit 0
