#!/bin/bash
# http_checksum.sh - a URL's published checksum is fetched from beside it
# (URL.sha256, URL.sha256sum, or SHA256SUMS in its directory, the query
# string kept for signed URLs), and a file that is not there is no error
# and costs no connection of its own.
# A wrong one fails the flash: the target is left untouched (refused
# before the first write) or without a partition table.  A bmap beside
# the URL is found and checked the same way.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img sha256sum zstd gzip blkid
start_nginx
note "nginx on $BASE"

make_gpt_disk "$T/disk.raw" 100M
mkdir -p "$WWW/c"
zstd -q -c "$T/disk.raw" >"$WWW/c/disk.img.zst"
gzip -c "$T/disk.raw" >"$WWW/c/disk.img.gz"
qemu-img convert -O qcow2 "$T/disk.raw" "$WWW/c/disk.qcow2" || fail "convert"
ZERO=$(printf '%064d' 0)

for b in disk.img.zst disk.img.gz disk.qcow2; do
	img=$WWW/c/$b
	url=$BASE/c/$b
	sum=$(sha256sum "$img" | cut -c1-64)
	for how in bare sumfile dir; do
		rm -f "$img.sha256" "$img.sha256sum" "$WWW/c/SHA256SUMS"
		case $how in
		bare) echo "$sum" >"$img.sha256" ;;
		sumfile) echo "$sum  $b" >"$img.sha256sum" ;;
		dir) printf '%s  x.img\n%s  %s\n' "$ZERO" "$sum" "$b" >"$WWW/c/SHA256SUMS" ;;
		esac
		rm -f "$T/out.raw"
		run_ok -src "$url" -dst "$T/out.raw"
		cmp -s "$T/out.raw" "$T/disk.raw" || fail "$b ($how): wrong bytes"
		grep -q 'matches its published SHA-256' "$T/err.txt" ||
			fail "$b ($how): no check reported: $(cat "$T/err.txt")"
	done
	# The query string of a signed URL is kept.
	run_ok -src "$url?sig=abc" -dst "$T/out.raw"
	grep -q 'matches its published SHA-256' "$T/err.txt" ||
		fail "$b: SHA256SUMS not found for a URL with a query"
	# Wrong.
	printf '%s  %s\n' "$ZERO" "$b" >"$WWW/c/SHA256SUMS"
	cp "$T/out.raw" "$T/before.raw"
	run_q -src "$url" -dst "$T/out.raw"
	[ "$RC" = 1 ] || fail "$b: a wrong checksum: exit $RC"
	grep -q "$sum" "$T/err.txt" || fail "$b: the digest is not named: $(cat "$T/err.txt")"
	# Refused before the first write (untouched), or no table left.
	cmp -s "$T/out.raw" "$T/before.raw" ||
		! blkid -p "$T/out.raw" 2>/dev/null | grep -q PTTYPE ||
		fail "$b: a wrong image left a partition table"
	# None published.
	rm -f "$WWW/c/SHA256SUMS"
	run_ok -src "$url" -dst "$T/out.raw"
	grep -q 'SHA-256' "$T/err.txt" && fail "$b: a check claimed without a checksum"
	note "ok: $b over http: beside it, in SHA256SUMS, wrong, none"
done

# The files looked for and not there cost no connection of their own: the
# five 404 answers are read to their end, and the image's reads that
# follow go over those connections (counted by a proxy in front).
cp "$T/disk.raw" "$T/busy.raw"
rand_file "$T/rnd" $((24 << 20)) 7
dd if="$T/rnd" of="$T/busy.raw" bs=1M seek=2 conv=notrunc status=none ||
	fail "dd"
zstd -q -c "$T/busy.raw" >"$WWW/c/busy.img.zst"
start_proxy plain
rm -f "$T/out.raw"
run_ok -src "$PROXY/c/busy.img.zst" -dst "$T/out.raw"
cmp -s "$T/out.raw" "$T/busy.raw" || fail "busy.img.zst: wrong bytes"
read -r conns _ <"$T/plain.stats"
[ "$conns" -le 6 ] ||
	fail "$conns connections for an image and 5 files not found (at most 6)"
note "ok: $conns connections for an image and the 5 files not found beside it"

# A bmap at the same URL, x.img.bmap for x.img.gz: found, used, and its
# ranges checked.
if command -v bmaptool >/dev/null 2>&1; then
	bmaptool create "$T/disk.raw" -o "$WWW/c/disk.img.bmap" 2>/dev/null ||
		fail "bmaptool create failed"
	run_ok -src "$BASE/c/disk.img.gz" -info
	grep -q "bmap: *$BASE/c/disk.img.bmap" "$T/out.txt" ||
		fail "the bmap at the URL is not found: $(cat "$T/out.txt")"
	rand_file "$T/out.raw" $((100 << 20)) 5
	run_ok -src "$BASE/c/disk.img.gz" -dst "$T/out.raw" -verify
	cmp -s "$T/out.raw" "$T/disk.raw" || fail "with the remote bmap: wrong bytes"
	# The image at the URL replaced by another: its ranges do not match.
	cp "$T/disk.raw" "$T/other.raw"
	printf 'X' | dd of="$T/other.raw" bs=1 seek=$((1 << 20)) conv=notrunc status=none
	gzip -c "$T/other.raw" >"$WWW/c/disk.img.gz"
	run_q -src "$BASE/c/disk.img.gz" -dst "$T/out.raw"
	[ "$RC" = 1 ] || fail "an image that does not match its remote bmap: exit $RC"
	grep -q "do not match their sha256 in $BASE/c/disk.img.bmap" "$T/err.txt" ||
		fail "remote bmap mismatch: $(cat "$T/err.txt")"
	! blkid -p "$T/out.raw" 2>/dev/null | grep -q PTTYPE ||
		fail "a mismatch against the remote bmap left a partition table"
	note "ok: a bmap beside the URL is used and checked"
fi
exit 0
