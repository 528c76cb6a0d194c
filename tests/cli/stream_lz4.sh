#!/bin/bash
# stream_lz4.sh - raw images in lz4 frames (.img.lz4) flash byte for byte:
# with and without the content size in the frame (summed from the frame
# headers, or counted), with block and content checksums, several frames
# and skippable frames between them; a truncated file is refused before
# anything is written, corrupt data fails with no partition table left,
# a content checksum that does not match is refused, and a -sha256 of the
# compressed file is checked.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img lz4 python3 sha256sum blkid cmp

RAW=$T/disk.img
stream_disk "$RAW"
HALF=$((50 << 20))

lz4 -q -c "$RAW" >"$T/disk.img.lz4" || fail "lz4"
flash_same "$RAW" "$T/disk.img.lz4"
flash_same "$RAW" "$T/disk.img.lz4" -format lz4 -verify
lz4 -q -c --content-size "$RAW" >"$T/size.img.lz4" || fail "lz4 --content-size"
flash_same "$RAW" "$T/size.img.lz4"
lz4 -q -c -BD -BX -9 --no-frame-crc "$RAW" >"$T/bx.img.lz4" || fail "lz4 -BX"
flash_same "$RAW" "$T/bx.img.lz4"
run_ok -src "$T/size.img.lz4" -info
grep -q "^format: *lz4$" "$T/out.txt" || fail "-info: $(cat "$T/out.txt")"
note "ok: lz4 with and without content size and checksums"

# skippable LEN: a skippable frame with LEN bytes of payload.
skippable() {
	printf '\x50\x2a\x4d\x18'
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) \
		$(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
	head -c "$1" /dev/zero | tr '\0' 'S'
}
# Two frames with a skippable one between them and one at the end.
for opt in "" --content-size; do
	{ head -c $HALF "$RAW" | lz4 -q -c $opt; skippable 33
	  tail -c +$((HALF + 1)) "$RAW" | lz4 -q -c -1 $opt; skippable 5
	} >"$T/multi.img.lz4"
	flash_same "$RAW" "$T/multi.img.lz4"
done
note "ok: concatenated and skippable lz4 frames"

odd_sizes lz4 lz4 -q -c
checksum_right "$RAW" "$T/disk.img.lz4"
checksum_right "$RAW" "$T/size.img.lz4"

cut_refused "$T/disk.img.lz4" 100
cut_refused "$T/size.img.lz4" 100
cut_refused "$T/multi.img.lz4" 3000
corrupt_fails "$T/disk.img.lz4"
corrupt_fails "$T/size.img.lz4"
# The frame's content checksum, its last 4 bytes: the data decodes, the
# sum does not match.
corrupt_fails "$T/disk.img.lz4" $(($(file_size "$T/disk.img.lz4") - 4))
grep -q "content checksum" "$T/err.txt" || fail "checksum: $(cat "$T/err.txt")"
trailing_refused "$T/disk.img.lz4"
trailing_refused "$T/size.img.lz4"
exit 0
