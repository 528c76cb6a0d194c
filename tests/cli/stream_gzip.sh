#!/bin/bash
# stream_gzip.sh - gzip images as igzip and pigz-style tools make them:
# igzip's levels, many members of odd sizes (their boundaries fall
# anywhere in the decoder's input blocks), and members with a damaged
# CRC-32 or length; a -sha256 of the compressed file is checked.  (The
# basic gzip cases are in stream.sh.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img gzip igzip python3 sha256sum blkid cmp

RAW=$T/disk.img
stream_disk "$RAW"

for lvl in 0 1 3; do
	igzip -c -$lvl <"$RAW" >"$T/disk.img.gz" || fail "igzip -$lvl"
	flash_same "$RAW" "$T/disk.img.gz"
done
note "ok: igzip levels 0, 1, 3"

# Members from 1 byte to a few MiB, cut at pseudo-random places.
python3 - "$RAW" "$T/many.img.gz" <<'PY' || fail "making many.img.gz"
import gzip, random, sys
data = open(sys.argv[1], "rb").read()
r = random.Random(7)
with open(sys.argv[2], "wb") as out:
    pos = 0
    while pos < len(data):
        n = r.choice([1, 17, 4096, 65536 + 3, 1 << 20, (3 << 20) + 5])
        n = r.randint(1, n)
        out.write(gzip.compress(data[pos:pos + n], compresslevel=r.choice([1, 6]), mtime=0))
        pos += n
PY
flash_same "$RAW" "$T/many.img.gz"
note "ok: $(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.count(b"\x1f\x8b\x08\x00\x00\x00\x00\x00"))' "$T/many.img.gz") members"

checksum_right "$RAW" "$T/many.img.gz"
cut_refused "$T/disk.img.gz" 3
cut_refused "$T/many.img.gz" 20000
# The last member's CRC-32 and its length: found by the counting pass.
corrupt_fails "$T/disk.img.gz" $(($(file_size "$T/disk.img.gz") - 8))
grep -q "CRC-32 or length" "$T/err.txt" || fail "no CRC message: $(cat "$T/err.txt")"
corrupt_fails "$T/disk.img.gz"
exit 0
