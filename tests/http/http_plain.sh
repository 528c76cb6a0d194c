#!/bin/bash
# http_plain.sh - a server that ignores ranges (nginx's max_ranges 0
# answers every request with the whole file) still serves compressed raw
# images, read in order: byte for byte as the local file, in one GET when
# the bmap gives the size, in a GET more when the size must be found
# first; a published SHA-256 is checked; qcow2 and raw are refused
# clearly, and a connection dropped mid-file fails, saying it cannot
# resume, with no target that looks like a disk.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img python3 sha256sum blkid cmp xz gzip zstd bzip2 bmaptool
start_nginx
note "nginx on $BASE"

RAW=$T/disk.raw
stream_disk "$RAW"
W=$WWW/norange
mkdir -p "$W" "$WWW/b"
xz -T2 --block-size=4MiB -c "$RAW" >"$W/disk.img.xz" || fail "xz"
gzip -1 -c "$RAW" >"$W/disk.img.gz" || fail "gzip"
zstd -q -c "$RAW" >"$W/disk.img.zst" || fail "zstd"
bzip2 -1 -c "$RAW" >"$W/disk.img.bz2" || fail "bzip2"
cp "$W/disk.img.gz" "$W/mapped.img.gz"
bmaptool create "$RAW" -o "$W/mapped.img.gz.bmap" 2>/dev/null ||
	fail "bmaptool create"

# requests FILE STATUS: how many times the access log shows FILE served
# with STATUS.
requests() {
	awk -v f="$1" -v s="$2" '$7 == f && $9 == s' "$T/nginx/access.log" | wc -l
}
# plain_gets FILE: requests for FILE that asked for no range.
plain_gets() {
	awk -v f="$1" '$7 == f && $NF == "\"-\""' "$T/nginx/access.log" | wc -l
}

# The server really ignores ranges.
code=$(curl -s -o /dev/null -w '%{http_code}' -r 0-0 "$BASE/norange/disk.img.xz")
[ "$code" = 200 ] || fail "the norange location answered a range with $code"

for img in disk.img.xz disk.img.gz disk.img.zst disk.img.bz2; do
	flash_same "$RAW" "$BASE/norange/$img"
	[ "$(requests "/norange/$img" 206)" = 0 ] ||
		fail "$img: a range was served"
	note "ok: $img without ranges, $(plain_gets "/norange/$img") GETs"
done

# Sized by the bmap: the file is downloaded once.
flash_same "$RAW" "$BASE/norange/mapped.img.gz"
n=$(plain_gets /norange/mapped.img.gz)
[ "$n" = 1 ] || fail "mapped.img.gz: $n GETs, want 1"
note "ok: with a bmap, one GET"

# The published checksum, found beside the file, is checked.
sha256sum "$W/disk.img.xz" | cut -c1-64 >"$W/disk.img.xz.sha256"
flash_same "$RAW" "$BASE/norange/disk.img.xz"
grep -q 'matches its published SHA-256' "$T/err.txt" ||
	fail "no checksum reported: $(cat "$T/err.txt")"
echo 0000000000000000000000000000000000000000000000000000000000000000 \
	>"$W/disk.img.xz.sha256"
rm -f "$T/new.raw"
run_q -src "$BASE/norange/disk.img.xz" -dst "$T/new.raw"
refused_with "wrong checksum without ranges" "SHA-256"
rm -f "$W/disk.img.xz.sha256"
note "ok: the published checksum checked without ranges"

# qcow2 and raw need ranges: refused before anything is written.
qemu-img convert -q -f raw -O qcow2 "$RAW" "$W/disk.qcow2" || fail "qemu-img"
cp "$RAW" "$W/disk.img"
for img in disk.qcow2 disk.img; do
	rm -f "$T/new.raw"
	run_q -src "$BASE/norange/$img" -dst "$T/new.raw" -format auto
	[ "$RC" = 1 ] || fail "$img without ranges: exit $RC"
	grep -q "server does not support range requests" "$T/err.txt" ||
		fail "$img without ranges: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && fail "$img without ranges: the target was created"
done
run_q -src "$BASE/norange/disk.img" -dst "$T/new.raw" -format raw
[ "$RC" = 1 ] || fail "raw without ranges: exit $RC"
grep -q "server does not support range requests, which a raw image needs" \
	"$T/err.txt" || fail "raw without ranges: $(cat "$T/err.txt")"
# A backing file on such a server is refused too.
qemu-img create -q -f qcow2 -u -b "$BASE/norange/disk.qcow2" -F qcow2 -o size=100M \
	"$WWW/b/top.qcow2" || fail "qemu-img create top"
run_q -src "$BASE/b/top.qcow2" -dst "$T/new.raw"
[ "$RC" = 1 ] || fail "backing without ranges: exit $RC"
grep -q "server does not support range requests, which a backing file needs" \
	"$T/err.txt" || fail "backing without ranges: $(cat "$T/err.txt")"
note "ok: qcow2, raw and backing files refused without ranges"

# A connection reset mid-file cannot resume without ranges.
start_proxy cut --cut-every 3000000
for img in disk.img.zst mapped.img.gz; do
	rm -f "$T/new.raw"
	run_q -src "$PROXY/norange/$img" -dst "$T/new.raw"
	refused_with "$img through resets" "cannot resume"
	note "ok: $img: $(head -n 1 "$T/err.txt")"
done
exit 0
