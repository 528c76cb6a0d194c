#!/bin/bash
# stream.sh - gzip- and zstd-compressed raw images (.img.gz, .img.zst):
# flashed byte for byte (size rounded up to 512 like qemu's raw), in every
# shape the tools make them (multi-member, multi-frame, no checksum, no
# content size, skippable frames), listed, verified, written to two
# targets, and refused with exit 1 when truncated or corrupt.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img gzip zstd python3 sfdisk mkfs.vfat mkfs.ext4 cmp

# ------------------------------------------------------------ the disk
# GPT, 136 MiB: vfat, ext4, a data partition with random runs between
# long zero stretches, and zeros up to the backup GPT.
RAW=$T/disk.img
qemu-img create -q -f raw "$RAW" 136M || fail "qemu-img create failed"
sfdisk -q "$RAW" >/dev/null <<'EOF' || fail "sfdisk failed"
label: gpt
label-id: 0D15C0DE-1234-4ABC-8DEF-0123456789AB
start=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"
start=67584, size=131072, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
start=198656, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
EOF
mk_vfat "$T/p1.img" 32M EFI
put_fs "$RAW" 1 "$T/p1.img"
mk_ext4 "$T/p2.img" 64M streamroot 5f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8
put_fs "$RAW" 2 "$T/p2.img"
rand_file "$T/r1.bin" $((12 << 20)) 11
rand_file "$T/r2.bin" $((3 << 20)) 12
r=$(part_range "$RAW" 3)
dd if="$T/r1.bin" of="$RAW" bs=1M seek="${r% *}" oflag=seek_bytes \
	conv=notrunc status=none || fail "dd r1"
dd if="$T/r2.bin" of="$RAW" bs=1M seek=$((${r% *} + (20 << 20))) \
	oflag=seek_bytes conv=notrunc status=none || fail "dd r2"
rm -f "$T"/p[12].img "$T"/r[12].bin
HALF=$((68 << 20))

# ----------------------------------------------------- gzip variants
gzip -c -n "$RAW" >"$T/disk.img.gz" || fail "gzip failed"
flash_same "$RAW" "$T/disk.img.gz"
flash_same "$RAW" "$T/disk.img.gz" -format gzip

# Concatenated members decompress as one stream (gzip -d does that too).
head -c $HALF "$RAW" | gzip -c -1 >"$T/multi.img.gz"
tail -c +$((HALF + 1)) "$RAW" | gzip -c -9 >>"$T/multi.img.gz"
flash_same "$RAW" "$T/multi.img.gz"
note "ok: gzip variants"

# ----------------------------------------------------- zstd variants
zstd -q -c "$RAW" >"$T/disk.img.zst" || fail "zstd failed"
flash_same "$RAW" "$T/disk.img.zst"
flash_same "$RAW" "$T/disk.img.zst" -format zstd

zstd -q -c --no-check "$RAW" >"$T/nocheck.img.zst" || fail "zstd --no-check"
flash_same "$RAW" "$T/nocheck.img.zst"

# Two frames, each recording its size: summed without decompressing.
head -c $HALF "$RAW" >"$T/h1"
tail -c +$((HALF + 1)) "$RAW" >"$T/h2"
zstd -q -c "$T/h1" >"$T/multi.img.zst" || fail "zstd h1"
zstd -q -c -5 "$T/h2" >>"$T/multi.img.zst" || fail "zstd h2"
rm -f "$T/h1" "$T/h2"
flash_same "$RAW" "$T/multi.img.zst"

# No content size in the frame (as when compressing a pipe): counted.
zstd -q -c --no-content-size "$RAW" >"$T/nosize.img.zst" ||
	fail "zstd --no-content-size"
flash_same "$RAW" "$T/nosize.img.zst"

# Skippable frames before and after the data frame are ignored.
skippable() {  # skippable LEN: a skippable frame with LEN bytes of payload
	printf '\x5a\x2a\x4d\x18'
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) \
		$(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
	head -c "$1" /dev/zero | tr '\0' 'S'
}
{ skippable 100; cat "$T/disk.img.zst"; skippable 7; } >"$T/skip.img.zst"
flash_same "$RAW" "$T/skip.img.zst"
note "ok: zstd variants"

# ------------------------------------ sizes that are not whole sectors
# A raw image reads as whole sectors, the tail as zeros.
for n in $((3 << 20)) $(((6 << 20) + 300)) 1000; do
	rand_file "$T/odd.img" $n 5
	cp "$T/odd.img" "$T/odd.ref"
	truncate -s $(((n + 511) / 512 * 512)) "$T/odd.ref"
	gzip -c -n "$T/odd.img" >"$T/odd.img.gz"
	flash_same "$T/odd.ref" "$T/odd.img.gz"
	zstd -q -c -f "$T/odd.img" -o "$T/odd.img.zst"
	flash_same "$T/odd.ref" "$T/odd.img.zst"
	note "ok: $n bytes"
done

# ------------------------------------------------------- -list-parts
"$QFLASH" -src "$RAW" -format raw -list-parts -json >"$T/raw.json" ||
	fail "-list-parts on the raw image failed"
for z in disk.img.gz disk.img.zst multi.img.gz nosize.img.zst; do
	run_ok -src "$T/$z" -list-parts -json
	python3 - "$T/raw.json" "$T/out.txt" <<'EOF' || fail "-list-parts -json on $z"
import json, sys
want, got = (json.load(open(f)) for f in sys.argv[1:3])
keys = ("number", "start", "end", "size", "type", "type_name", "name", "uuid",
        "fs_type", "fs_label", "fs_uuid")
for k in ("table", "disk_id", "sector_size"):
    if got.get(k) != want.get(k):
        sys.exit("%s: got %r, want %r" % (k, got.get(k), want.get(k)))
gp = [{k: p.get(k) for k in keys} for p in got.get("partitions", [])]
wp = [{k: p.get(k) for k in keys} for p in want["partitions"]]
if gp != wp or len(wp) != 3:
    sys.exit("partitions differ:\n got %r\nwant %r" % (gp, wp))
# The filesystems are named as for the raw image, also those whose
# superblocks lie beyond the buffered head (ext4 at 33 MiB).
if got["partitions"][1].get("fs_label") != "streamroot":
    sys.exit("partition 2 fs_label %r" % got["partitions"][1].get("fs_label"))
EOF
	run_ok -src "$T/$z" -list-parts
	grep -q "EFI" "$T/out.txt" || fail "-list-parts text on $z lacks EFI"
	grep -q "ext4 *streamroot" "$T/out.txt" ||
		fail "-list-parts text on $z lacks partition 2's ext4: $(cat "$T/out.txt")"
	note "ok: -list-parts $z"
done

# ----------------------------------------- -verify and two targets
flash_same "$RAW" "$T/disk.img.gz" -verify
flash_same "$RAW" "$T/multi.img.zst" -verify
note "ok: -verify"

rm -f "$T/out2.raw"
flash_same "$RAW" "$T/disk.img.zst" -dst "$T/out2.raw"
same "$RAW" "$T/out2.raw"
note "ok: two -dst"

rm -f "$T/out2.raw"
flash_same "$RAW" "$T/multi.img.gz" -dst "$T/out2.raw" -verify
same "$RAW" "$T/out2.raw"
note "ok: two -dst -verify"

# -------------------------------------------------------- bad streams
# cut_refused EXT BYTES: disk.img.EXT without its last BYTES bytes is
# refused as truncated (exit 1) and the target is not created.
cut_refused() {
	local z=$1
	head -c $(($(file_size "$T/disk.img.$z") - $2)) "$T/disk.img.$z" \
		>"$T/cut.img.$z"
	rm -f "$T/new.raw"
	run_q -src "$T/cut.img.$z" -dst "$T/new.raw"
	[ "$RC" = 1 ] || fail "truncated .$z: exit $RC, want 1"
	grep -q "cut.img.$z: .*truncated" "$T/err.txt" ||
		fail "truncated .$z: message: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && fail "truncated .$z: the target was created"
	note "ok: truncated .$z refused"
}
# gzip: found by the counting pass, before anything is written.
cut_refused gz 4096
# zstd: the frame walk sees it at open.
cut_refused zst 100

# Garbage after the last gzip member.
{ cat "$T/disk.img.gz"; printf 'garbage'; } >"$T/trail.img.gz"
run_q -src "$T/trail.img.gz" -dst "$T/new.raw"
[ "$RC" = 1 ] || fail "trailing garbage: exit $RC, want 1"
grep -q "trail.img.gz: .*after the last gzip member" "$T/err.txt" ||
	fail "trailing garbage: message: $(cat "$T/err.txt")"
note "ok: trailing garbage refused"

# Damaged zstd data is only found while decompressing, so the flash fails
# part way: exit 1 and a message naming the file.
cp "$T/disk.img.zst" "$T/bad.img.zst"
off=$(($(file_size "$T/bad.img.zst") / 2))
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = bytes(x ^ 0x5a for x in f.read(8))
    f.seek(int(sys.argv[2]))
    f.write(b)' "$T/bad.img.zst" $off || fail "corrupting bad.img.zst"
run_q -src "$T/bad.img.zst" -dst "$T/bad.raw"
[ "$RC" = 1 ] || fail "corrupt .zst: exit $RC, want 1"
grep -q "bad.img.zst: " "$T/err.txt" ||
	fail "corrupt .zst: message: $(cat "$T/err.txt")"
note "ok: corrupt zstd fails"

# A forced format must match the data.
run_q -src "$T/disk.img.gz" -format zstd -dst "$T/new.raw"
[ "$RC" = 1 ] || fail "-format zstd on gzip: exit $RC, want 1"
[ -e "$T/new.raw" ] && fail "-format zstd on gzip: the target was created"
note "ok: -format mismatch refused"

exit 0
