#!/bin/bash
# blockdev.sh - flashing to block devices (loop devices over files in $T):
# exact bytes with -exact, nothing past the image touched but the wiped
# last MiB, too-small targets refused before any write, -write-parts to
# devices.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk mkfs.vfat mkfs.ext4
need_root_loop

MiB=$((1 << 20))
make_gpt_disk "$T/disk.raw" 100M
IMG=$T/disk.qcow2
qemu-img convert -O qcow2 "$T/disk.raw" "$IMG" || fail "convert"
# An unwritten stretch in the image must still zero the device there.
qemu-img resize -q "$IMG" 101M || fail "resize"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")

# ---------------------------------------------------------- whole disk
loop_file big $((V + MiB)) 21; L1=$LOOP
loop_file exact "$V" 22; L2=$LOOP
run_ok -src "$IMG" -dst "$L1" -exact
same_prefix "$L1" "$T/ref.raw" "$V" "$T/big.orig"
note "ok: flashed $L1"

rand_file "$T/tmp.bin" $((V + MiB)) 23
dd if="$T/tmp.bin" of="$L1" bs=1M conv=fsync status=none
cp "$T/tmp.bin" "$T/big.orig"
run_ok -src "$IMG" -dst "$L1" -dst "$L2" -exact
same_prefix "$L1" "$T/ref.raw" "$V" "$T/big.orig"
same_prefix "$L2" "$T/ref.raw" "$V" "$T/exact.orig"
note "ok: flashed $L1 and $L2 at once"

run_ok -src "$IMG" -dst "$L2" -verify
same_prefix "$L2" "$T/ref.raw" "$V" "$T/exact.orig"
note "ok: -verify on $L2"

# ----------------------------------------------------- too small device
loop_file small $((V - MiB)) 24; LS=$LOOP
run_q -src "$IMG" -dst "$LS"
[ "$RC" = 1 ] || fail "too small $LS: exit $RC, want 1"
grep -qF "$LS" "$T/err.txt" || fail "too small: message does not name $LS"
grep -Eiq 'small|size|fit|larger' "$T/err.txt" ||
	fail "too small: message does not say why: $(cat "$T/err.txt")"
cmp -s "$LS" "$T/small.orig" || fail "too small $LS was written"
# with a good target next to it the job still fails
run_q -src "$IMG" -dst "$L1" -dst "$LS"
[ "$RC" = 1 ] || fail "good + too small target: exit $RC, want 1"
cmp -s "$LS" "$T/small.orig" || fail "too small $LS was written (2)"
note "ok: too small device refused: $(head -n 1 "$T/err.txt")"

# ------------------------------------------------------- -write-parts
extract_part "$T/ref.raw" 1 "$T/p1.bin"
extract_part "$T/ref.raw" 2 "$T/p2.bin"
p1z=$(stat -c %s "$T/p1.bin") p2z=$(stat -c %s "$T/p2.bin")
loop_file pa $((p1z + MiB / 2)) 25; LA=$LOOP
loop_file pb "$p2z" 26; LB=$LOOP
run_ok -src "$IMG" -write-parts "1=$LA,2=$LB"
same_prefix "$LA" "$T/p1.bin" "$p1z" "$T/pa.orig"
same_prefix "$LB" "$T/p2.bin" "$p2z" "$T/pb.orig"
note "ok: -write-parts to $LA and $LB"

loop_file pc $((p1z - MiB)) 27; LC=$LOOP
run_q -src "$IMG" -write-parts "1=$LC"
[ "$RC" = 1 ] || fail "-write-parts to too small $LC: exit $RC, want 1"
grep -qF "$LC" "$T/err.txt" || fail "-write-parts too small: message does not name $LC"
cmp -s "$LC" "$T/pc.orig" || fail "-write-parts wrote to too small $LC"
note "ok: -write-parts to a too small device refused"

exit 0
