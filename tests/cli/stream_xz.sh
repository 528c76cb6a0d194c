#!/bin/bash
# stream_xz.sh - xz-compressed raw images (.img.xz) flash byte for byte:
# one block or many (xz -T2), concatenated streams with stream padding,
# every check type; a truncated file is refused before anything is
# written, corrupt data fails with no partition table left, and a
# -sha256 of the compressed file is checked.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img xz python3 sha256sum blkid cmp

RAW=$T/disk.img
stream_disk "$RAW"
HALF=$((50 << 20))

xz -T1 -c "$RAW" >"$T/one.img.xz" || fail "xz -T1"
flash_same "$RAW" "$T/one.img.xz"
flash_same "$RAW" "$T/one.img.xz" -format xz
# Blocks of 4 MiB, as xz -T makes them (bigger there), decoded in parallel.
xz -T2 --block-size=4MiB -c "$RAW" >"$T/disk.img.xz" || fail "xz -T2"
blocks=$(xz --robot -l "$T/disk.img.xz" | awk -F'\t' '$1 == "file" { print $3 }')
[ "${blocks:-0}" -gt 1 ] || fail "xz -T2 made $blocks blocks, want several"
flash_same "$RAW" "$T/disk.img.xz"
flash_same "$RAW" "$T/disk.img.xz" -verify
for check in none crc32 sha256; do
	xz -T2 --check=$check -1 -c "$RAW" >"$T/check.img.xz" || fail "xz --check=$check"
	flash_same "$RAW" "$T/check.img.xz"
done
note "ok: xz, one and several blocks, every check"

# Two streams, with stream padding between and after them: one image.
head -c $HALF "$RAW" | xz -T2 -c >"$T/multi.img.xz"
head -c 8 /dev/zero >>"$T/multi.img.xz"
tail -c +$((HALF + 1)) "$RAW" | xz -1 -c >>"$T/multi.img.xz"
head -c 4 /dev/zero >>"$T/multi.img.xz"
flash_same "$RAW" "$T/multi.img.xz"
note "ok: concatenated xz streams and padding"

odd_sizes xz xz -c
run_ok -src "$T/disk.img.xz" -info
grep -q "^format: *xz$" "$T/out.txt" || fail "-info does not name xz: $(cat "$T/out.txt")"
checksum_right "$RAW" "$T/disk.img.xz"

# The index at the end is lost when cut: refused at open.
cut_refused "$T/disk.img.xz" 100
cut_refused "$T/multi.img.xz" 5000
corrupt_fails "$T/disk.img.xz"
corrupt_fails "$T/one.img.xz"
trailing_refused "$T/disk.img.xz"

# An index claiming billions of records (found by fuzzing: liblzma then
# asked for 100 GiB) is refused as corrupt, before anything is written.
printf "$(echo fd377a585a000004e6d6b44602002101165bce15c82383f000afa3d1d71823b9600f580ab1c467fb020000000004595a |
	sed 's/../\\x&/g')" >"$T/huge-index.img.xz"
[ "$(file_size "$T/huge-index.img.xz")" = 48 ] || fail "writing huge-index.img.xz"
rm -f "$T/new.raw"
run_q -src "$T/huge-index.img.xz" -dst "$T/new.raw"
[ "$RC" = 1 ] || fail "an xz index of billions of records: exit $RC"
grep -q "huge-index.img.xz: .*corrupt" "$T/err.txt" ||
	fail "huge index: message: $(cat "$T/err.txt")"
[ -e "$T/new.raw" ] && fail "huge index: the target was created"
note "ok: an xz index claiming billions of records is refused"

# A forced format must match the data; an xz file is never raw.
run_q -src "$T/disk.img.xz" -format gzip -dst "$T/new.raw"
[ "$RC" = 1 ] || fail "-format gzip on xz: exit $RC, want 1"
exit 0
