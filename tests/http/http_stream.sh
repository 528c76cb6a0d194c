#!/bin/bash
# http_stream.sh - compressed raw images fetched from a local nginx flash
# byte for byte like the local files: xz (sized from its indexes with a
# few range requests), with several blocks and several streams, and lz4
# (counted, or sized by its first frame's header), and gzip made by igzip
# in many members, and bzip2 (lbzip2's, and several streams); a
# published SHA-256 of the compressed file is checked, and a truncated
# file is refused before anything is written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img sha256sum blkid cmp xz lz4 igzip bzip2 lbzip2
start_nginx
note "nginx on $BASE"

RAW=$T/disk.raw
stream_disk "$RAW"
HALF=$((50 << 20))
W=$WWW/s
mkdir -p "$W"

xz -T2 --block-size=4MiB -c "$RAW" >"$W/disk.img.xz" || fail "xz"
{ head -c $HALF "$RAW" | xz -c -1; head -c 4 /dev/zero
  tail -c +$((HALF + 1)) "$RAW" | xz -c; } >"$W/multi.img.xz"

lz4 -q -c "$RAW" >"$W/disk.img.lz4" || fail "lz4"
lz4 -q -c --content-size "$RAW" >"$W/size.img.lz4" || fail "lz4 --content-size"
{ head -c $HALF "$RAW" | lz4 -q -c; tail -c +$((HALF + 1)) "$RAW" | lz4 -q -c
} >"$W/multi.img.lz4"

igzip -c -1 <"$RAW" >"$W/disk.img.gz" || fail "igzip"
for i in 0 1 2 3 4; do
	dd if="$RAW" bs=20M skip=$i count=1 status=none | igzip -c
done >"$W/multi.img.gz"
lbzip2 -n2 -c "$RAW" >"$W/disk.img.bz2" || fail "lbzip2"
for i in 0 1 2 3 4; do
	dd if="$RAW" bs=20M skip=$i count=1 status=none | bzip2 -c -1
done >"$W/multi.img.bz2"

for img in disk.img.xz multi.img.xz disk.img.lz4 size.img.lz4 multi.img.lz4 \
	   disk.img.gz multi.img.gz disk.img.bz2 multi.img.bz2; do
	flash_same "$RAW" "$BASE/s/$img"
	sha256sum "$W/$img" | cut -c1-64 >"$W/$img.sha256"
	flash_same "$RAW" "$BASE/s/$img"
	grep -q 'matches its published SHA-256' "$T/err.txt" ||
		fail "$img: no check reported: $(cat "$T/err.txt")"
	rm -f "$W/$img.sha256"
	head -c $(($(file_size "$W/$img") - 3000)) "$W/$img" >"$W/cut.$img"
	rm -f "$T/new.raw"
	run_q -src "$BASE/s/cut.$img" -dst "$T/new.raw"
	[ "$RC" = 1 ] || fail "truncated $img over http: exit $RC"
	grep -q "truncated" "$T/err.txt" || fail "cut.$img: $(cat "$T/err.txt")"
	# Refused at open, or (sized by the header) found at the end, with
	# no partition table written.
	[ -e "$T/new.raw" ] && blkid -p "$T/new.raw" 2>/dev/null | grep -q PTTYPE &&
		fail "truncated $img over http: the target looks partitioned"
	note "ok: $img over http"
done

# A remote file sized by its first frame: a second frame cannot be
# counted in advance, and is refused rather than cut off.
{ cat "$W/size.img.lz4"; cat "$W/size.img.lz4"; } >"$W/twice.img.lz4"
run_q -src "$BASE/s/twice.img.lz4" -dst "$T/new.raw"
refused_with "two sized lz4 frames over http" "more data follows the first lz4 frame"
note "ok: a second sized lz4 frame over http is refused"
exit 0
