#!/bin/bash
# checksum.sh - an image is checked against the SHA-256 its publisher
# printed: given with -sha256 (hex, or a sha256sum-style file), or found
# beside it as IMAGE.sha256, IMAGE.sha256sum or SHA256SUMS.  A right one
# flashes and is logged, a wrong one fails with both digests named and
# leaves no target that looks valid (a compressed image read whole to
# find its size is refused before anything is written), a missing one is
# no error.  For compressed and qcow2 images.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sha256sum gzip zstd sfdisk blkid

make_gpt_disk "$T/disk.raw" 100M
gzip -k -c "$T/disk.raw" >"$T/disk.img.gz"
zstd -q -c "$T/disk.raw" >"$T/disk.img.zst"
qemu-img convert -O qcow2 "$T/disk.raw" "$T/disk.qcow2" || fail "convert"
ZERO=$(printf '%064d' 0)

# old_gpt FILE: a target that held a GPT of its own.
old_gpt() {
	rm -f "$1"
	truncate -s 100M "$1"
	sfdisk -q "$1" >/dev/null <<'EOF' || fail "sfdisk"
label: gpt
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="previous"
EOF
}

# right IMG [ARGS]: flashes, matches the image, says it was checked.
right() {
	local img=$1
	shift
	old_gpt "$T/out.raw"
	run_ok -src "$img" -dst "$T/out.raw" -log "$T/flash.log" "$@"
	cmp -s "$T/out.raw" "$T/disk.raw" || fail "$img: the target is not the image"
	grep -q 'matches its published SHA-256' "$T/err.txt" ||
		fail "$img: the check is not reported: $(cat "$T/err.txt")"
	python3 - "$T/flash.log" "$img" <<'PY' || fail "$img: the log does not record the check"
import json, sys, hashlib
rec = [json.loads(l) for l in open(sys.argv[1])][-1]
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert rec["source_sha256"] == want, rec
assert rec["published_sha256"] == want and rec["checksum_result"] == "ok", rec
PY
}

# wrong IMG [ARGS]: fails, names both digests, and leaves the target
# either untouched (refused before the first write) or with nothing that
# looks partitioned.
wrong() {
	local img=$1
	shift
	old_gpt "$T/out.raw"
	cp "$T/out.raw" "$T/before.raw"
	run_q -src "$img" -dst "$T/out.raw" "$@"
	[ "$RC" = 1 ] || fail "$img with a wrong checksum: exit $RC, want 1"
	grep -q 'not the image that was published' "$T/err.txt" ||
		fail "$img: the mismatch is not said: $(cat "$T/err.txt")"
	grep -q "$(sha256sum "$img" | cut -c1-64)" "$T/err.txt" ||
		fail "$img: the actual digest is not named"
	cmp -s "$T/out.raw" "$T/before.raw" && return 0
	blkid -p "$T/out.raw" 2>/dev/null | grep -q PTTYPE &&
		fail "$img: after a wrong checksum the target looks partitioned"
	return 0
}

for img in "$T/disk.img.gz" "$T/disk.img.zst" "$T/disk.qcow2"; do
	sum=$(sha256sum "$img" | cut -c1-64)
	b=$(basename "$img")
	# by flag: hex, and a file
	right "$img" -sha256 "$sum"
	wrong "$img" -sha256 "$ZERO"
	echo "$sum  $b" >"$T/list.txt"
	right "$img" -sha256 "$T/list.txt"
	echo "$ZERO  $b" >"$T/list.txt"
	wrong "$img" -sha256 "$T/list.txt"
	run_q -src "$img" -dst "$T/out.raw" -sha256 "$T/nothere.txt"
	[ "$RC" = 1 ] || fail "$b: a missing -sha256 file is not an error"
	# beside it: .sha256 (bare), .sha256sum, SHA256SUMS
	echo "$sum" >"$img.sha256"
	right "$img"
	echo "$ZERO" >"$img.sha256"
	wrong "$img"
	rm "$img.sha256"
	echo "$sum *$b" >"$img.sha256sum"
	right "$img"
	rm "$img.sha256sum"
	printf '%s  other.img\n%s  %s\n' "$ZERO" "$sum" "$b" >"$T/SHA256SUMS"
	right "$img"
	printf '%s  %s\n' "$ZERO" "$b" >"$T/SHA256SUMS"
	wrong "$img"
	rm "$T/SHA256SUMS"
	# none published: no error, and no claim of a check
	run_ok -src "$img" -dst "$T/out.raw"
	grep -q 'SHA-256' "$T/err.txt" && fail "$b: a check is claimed without a checksum"
	note "ok: $b: right, wrong and missing checksums, by flag and beside it"
done

# A compressed image that is decoded whole to find its size is checked
# before anything is written: the target is not even created.
rm -f "$T/new.raw"
run_q -src "$T/disk.img.gz" -dst "$T/new.raw" -sha256 "$ZERO"
[ "$RC" = 1 ] || fail "gz with a wrong checksum: exit $RC"
[ -e "$T/new.raw" ] && fail "gz with a wrong checksum: the target was created"
note "ok: a wrong gz is refused before anything is written"
exit 0
