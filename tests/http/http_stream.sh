#!/bin/bash
# http_stream.sh - compressed raw images fetched from a local nginx flash
# byte for byte like the local files: xz (sized from its indexes with a
# few range requests), with several blocks and several streams; a
# published SHA-256 of the compressed file is checked, and a truncated
# file is refused before anything is written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img sha256sum blkid cmp xz
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

for img in disk.img.xz multi.img.xz; do
	flash_same "$RAW" "$BASE/s/$img"
	sha256sum "$W/$img" | cut -c1-64 >"$W/$img.sha256"
	flash_same "$RAW" "$BASE/s/$img"
	grep -q 'matches its published SHA-256' "$T/err.txt" ||
		fail "$img: no check reported: $(cat "$T/err.txt")"
	rm -f "$W/$img.sha256"
	head -c $(($(file_size "$W/$img") - 64)) "$W/$img" >"$W/cut.$img"
	rm -f "$T/new.raw"
	run_q -src "$BASE/s/cut.$img" -dst "$T/new.raw"
	[ "$RC" = 1 ] || fail "truncated $img over http: exit $RC"
	grep -q "truncated" "$T/err.txt" || fail "cut.$img: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && fail "truncated $img over http: the target was created"
	note "ok: $img over http"
done
exit 0
