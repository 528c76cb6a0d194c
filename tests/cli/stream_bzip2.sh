#!/bin/bash
# stream_bzip2.sh - bzip2-compressed raw images (.img.bz2) flash byte for
# byte: bzip2's block sizes, lbzip2's files, several concatenated streams
# (as pbzip2 writes them); a truncated file is refused before anything is
# written (the counting pass finds it), corrupt data too, and a -sha256
# of the compressed file is checked.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img bzip2 lbzip2 python3 sha256sum blkid cmp

RAW=$T/disk.img
stream_disk "$RAW"

bzip2 -c "$RAW" >"$T/disk.img.bz2" || fail "bzip2"
flash_same "$RAW" "$T/disk.img.bz2"
flash_same "$RAW" "$T/disk.img.bz2" -format bzip2 -verify
bzip2 -c -1 "$RAW" >"$T/small.img.bz2" || fail "bzip2 -1"
flash_same "$RAW" "$T/small.img.bz2"
lbzip2 -n2 -c "$RAW" >"$T/lbz.img.bz2" || fail "lbzip2"
flash_same "$RAW" "$T/lbz.img.bz2"
run_ok -src "$T/lbz.img.bz2" -info
grep -q "^format: *bzip2$" "$T/out.txt" || fail "-info: $(cat "$T/out.txt")"
note "ok: bzip2 -9, -1 and lbzip2"

# One stream per 10 MiB piece, as pbzip2 writes them.
for i in $(seq 0 9); do
	dd if="$RAW" bs=10M skip=$i count=1 status=none | bzip2 -c -1
done >"$T/multi.img.bz2"
flash_same "$RAW" "$T/multi.img.bz2"
note "ok: concatenated bzip2 streams"

odd_sizes bz2 bzip2 -c
checksum_right "$RAW" "$T/multi.img.bz2"
cut_refused "$T/disk.img.bz2" 100
cut_refused "$T/multi.img.bz2" 100000
corrupt_fails "$T/disk.img.bz2"
corrupt_fails "$T/multi.img.bz2"
trailing_refused "$T/multi.img.bz2"
exit 0
