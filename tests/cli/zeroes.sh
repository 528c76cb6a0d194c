#!/bin/bash
# zeroes.sh - zero-heavy images (zero clusters, discarded and unallocated
# clusters, a data cluster of zero bytes, a v2 image, zeros over a backing
# file's data) flashed over targets full of random bytes: the target must
# end up exactly as qemu-img's output, with no stale byte left where the
# image reads as zeros; a file target is sparse afterwards.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

MiB=$((1 << 20))
V=$((64 * MiB))

# v3: zero clusters (kept and unmapped), discarded clusters, a data
# cluster of zero bytes, a compressed cluster, and data in a few places.
# Nothing is written in 32M..48M but zeros.
V3=$T/v3.qcow2
mkq "$V3" "$V" -o compat=1.1
qio "$V3" \
	"write -P 0x11 0 64K" \
	"write -P 0x22 10M 128K" \
	"write -P 0 20M 64K" \
	"write -P 0x33 $((30 * MiB + 512)) 1K" \
	"write -z 32M 8M" \
	"write -z -u 40M 8M" \
	"write -P 0x44 48M 1M" "write -z 48M 1M" \
	"write -P 0x55 50M 2M" "discard 50M 2M" \
	"write -c -P 0x77 60M 64K" \
	"write -P 0x66 $((V - 65536)) 64K"

# v2: no zero flag; unallocated clusters, a zero-byte data cluster and a
# zero write that qemu turns into whatever a v2 image can hold.
V2=$T/v2.qcow2
mkq "$V2" "$V" -o compat=0.10
qio "$V2" \
	"write -P 0x21 1M 64K" \
	"write -P 0 8M 128K" \
	"write -P 0x23 8M 4K" \
	"write -z 16M 4M" \
	"write -P 0x24 $((V - 4096)) 4K"

# Zeros in an overlay over a base full of data: the base's bytes must not
# show through.
BASE=$T/base.qcow2
mkq "$BASE" "$V"
qio "$BASE" "write -P 0xbb 0 $V"
OVL=$T/overlay.qcow2
mkq "$OVL" "" -b "$BASE" -F qcow2
qio "$OVL" "write -z 0 24M" "write -z -u 24M 24M" "discard 48M 8M" \
	"write -P 0xcc 5M 64K"

IMAGES="$V3 $V2 $OVL"
for img in $IMAGES; do
	ref_raw "$img" "$T/$(basename "$img" .qcow2).ref"
done

# data_in FILE START END: offset of the first data (non-hole) byte of FILE
# in [START, END), or "none".
data_in() {
	python3 - "$@" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
start, end = int(sys.argv[2]), int(sys.argv[3])
try:
    off = os.lseek(fd, start, os.SEEK_DATA)
except OSError:
    off = end
print(off if off < end else "none")
EOF
}

# Can this filesystem punch holes into a file that has data?
rand_file "$T/probe" $((1 * MiB)) 60
holes=no
if command -v fallocate >/dev/null 2>&1 &&
	fallocate -p -o 0 -l "$MiB" "$T/probe" 2>/dev/null &&
	[ "$(allocated "$T/probe")" -lt "$MiB" ]; then
	holes=yes
fi
rm -f "$T/probe"

# --------------------------------------------- (a) file of random bytes
seed=61
for img in $IMAGES; do
	name=$(basename "$img" .qcow2)
	# Larger than the image: it must also be cut to the virtual size.
	rand_file "$T/a.raw" $((V + 3 * MiB)) "$seed"
	seed=$((seed + 1))
	run_ok -src "$img" -dst "$T/a.raw"
	same "$T/$name.ref" "$T/a.raw"
	if [ "$holes" = yes ]; then
		a=$(allocated "$T/a.raw")
		[ "$a" -lt $((V / 2)) ] ||
			fail "$name: the target file is not sparse ($a bytes allocated of $V)"
		note "ok: $name over random bytes; $a of $V bytes allocated"
	else
		note "ok: $name over random bytes (no holes on this filesystem)"
	fi
done
# The 16 MiB that v3 only ever zeroed became a hole, not written zeros.
if [ "$holes" = yes ]; then
	rand_file "$T/a.raw" "$V" 70
	run_ok -src "$V3" -dst "$T/a.raw"
	same "$T/v3.ref" "$T/a.raw"
	d=$(data_in "$T/a.raw" $((32 * MiB)) $((48 * MiB)))
	[ "$d" = none ] || fail "v3: zero run 32M..48M holds data at $d"
	note "ok: the zero run of v3 is a hole in the target file"
fi

# ------------------------------------ (b) loop device of random bytes
if have_root_loop; then
	rand_file "$T/dev.img" $((V + MiB)) 80
	loop_attach "$T/dev.img"
	L=$LOOP
	seed=81
	for img in $IMAGES; do
		name=$(basename "$img" .qcow2)
		rand_file "$T/dev.orig" $((V + MiB)) "$seed"
		rand_file "$T/b.raw" "$V" $((seed + 100))
		seed=$((seed + 1))
		dd if="$T/dev.orig" of="$L" bs=1M conv=fsync status=none ||
			fail "cannot fill $L"
		# A loop device and a file in one job.
		run_ok -src "$img" -dst "$L" -dst "$T/b.raw" -exact
		same_prefix "$L" "$T/$name.ref" "$V" "$T/dev.orig"
		same "$T/$name.ref" "$T/b.raw"
		note "ok: $name over a loop device of random bytes"
	done
else
	note "skipped: loop device targets ($LOOP_WHY)"
fi

exit 0
