#!/bin/bash
# qualify.sh - -qualify on real block devices (loop devices, some over
# FUSE fault files): a good drive qualifies in seconds and is then
# flashed; a fake-capacity drive, a dead one that drops writes and a
# write-protected one each fail with their verdict, and nothing of the
# image reaches any target when one of them fails; a refused drive
# (mounted, read-only, holding the image) is never written, nor is a
# loop device nobody named; SIGINT stops a qualification with the drive's
# ends wiped.  Regular files and the usage errors are checked too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3 mkfs.ext4 mount umount
need_fault_dev

MiB=$((1 << 20))
# The image: data the targets must never get when a qualification fails.
IMG=$T/disk.qcow2
mkq "$IMG" 48M
qio "$IMG" "write -P 0x5a 0 64k" "write -P 0x5a 40M 4M"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")
cp "$IMG" "$T/img.orig"

# A loop device no command names: untouched to the last byte at the end.
loop_file other $((64 * MiB)) 5
LO=$LOOP

QPID=
on_exit '[ -n "$QPID" ] && kill -KILL "$QPID"'

# qfield TARGET FIELD: FIELD of the "qualify" JSON event for TARGET in
# $T/out.txt ("true"/"false" for booleans); fails without exactly one.
qfield() {
	python3 - "$T/out.txt" "$@" <<'EOF' || fail "qfield $*: $(cat "$T/out.txt")"
import json, sys
out, target, field = sys.argv[1:4]
ev = [json.loads(l) for l in open(out) if l.strip()]
ev = [e for e in ev if e.get("event") == "qualify" and e.get("target") == target]
if len(ev) != 1:
    sys.exit("%d qualify events for %s" % (len(ev), target))
v = ev[0][field]
print(json.dumps(v) if isinstance(v, bool) else v)
EOF
}

# has_image FILE: FILE holds a 4 KiB block of the image's data.
has_image() {
	python3 - "$1" <<'EOF'
import sys
blk = b"\x5a" * 4096
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            sys.exit(1)
        if any(b[i:i + 4096] == blk for i in range(0, len(b), 4096)):
            sys.exit(0)
EOF
}

# zero_ends DEV: DEV's first and last MiB read as zeros.
zero_ends() {
	local size
	size=$(blockdev --getsize64 "$1" 2>/dev/null || file_size "$1")
	cmp -s -n "$MiB" "$1" /dev/zero || fail "$1: its first MiB is not zeros"
	cmp -s -i $((size - MiB)):0 -n "$MiB" "$1" /dev/zero ||
		fail "$1: its last MiB is not zeros"
}

expect_rc() {  # expect_rc RC LABEL
	[ "$RC" = "$1" ] ||
		fail "$2: exit $RC, want $1: $(head -c 600 "$T/err.txt") $(head -c 600 "$T/out.txt")"
}

# ------------------------------------------------------------ usage
for args in "-qualify" "-qualify -src $IMG" "-qualify -dst $T/u.raw -verify-only -src $IMG" \
	"-qualify -src $IMG -write-parts 1=$T/u.raw" "-qualify -dst $T/u.raw -info"; do
	# shellcheck disable=SC2086
	run_q $args
	expect_rc 2 "usage: $args"
done
[ -e "$T/u.raw" ] && fail "a usage error created a file"
note "ok: usage errors"

# ------------------------------------------------------- a good drive
loop_file good $((256 * MiB)) 1
LG=$LOOP
t0=$(date +%s.%N)
run_ok -qualify -dst "$LG"
t1=$(date +%s.%N)
grep -q "^$LG: good: all of its 256.0 MiB hold distinct data; writes .*/s, reads .*/s" \
	"$T/out.txt" || fail "good drive: $(cat "$T/out.txt")"
python3 -c 'import sys; sys.exit(float(sys.argv[2]) - float(sys.argv[1]) >= 10)' "$t0" "$t1" ||
	fail "a good 256 MiB drive took more than 10 s"
zero_ends "$LG"
cmp -s -i $((2 * MiB)):$((2 * MiB)) -n 4096 "$LG" "$T/good.orig" &&
	fail "good drive: nothing was written"
run_ok -qualify -dst "$LG" -json
[ "$(qfield "$LG" ok)" = true ] || fail "good drive: ok is not true"
[ "$(qfield "$LG" claimed)" = $((256 * MiB)) ] &&
	[ "$(qfield "$LG" usable)" = $((256 * MiB)) ] ||
	fail "good drive: claimed/usable: $(cat "$T/out.txt")"
for f in fake lost_writes write_errors read_only; do
	[ "$(qfield "$LG" $f)" = false ] || fail "good drive: $f is not false"
done
python3 -c 'import sys; sys.exit(not (float(sys.argv[1]) > 0 and float(sys.argv[2]) > 0 and float(sys.argv[3]) < 10))' \
	"$(qfield "$LG" write_rate)" "$(qfield "$LG" read_rate)" "$(qfield "$LG" seconds)" ||
	fail "good drive: rates or time: $(cat "$T/out.txt")"
note "ok: good drive: $(qfield "$LG" message) in $(qfield "$LG" seconds) s"

# ... and flashed once it qualifies.
run_ok -src "$IMG" -dst "$LG" -qualify -verify
grep -q "^qflash: $LG: good: " "$T/err.txt" || fail "flash: no verdict: $(cat "$T/err.txt")"
grep -qxF "qflash: $LG: written and verified" "$T/err.txt" ||
	fail "flash after qualifying: $(cat "$T/err.txt")"
cmp -s -n "$V" "$LG" "$T/ref.raw" || fail "$LG does not hold the image"
note "ok: a qualified drive is flashed"

# ----------------------------------------------- a fake-capacity drive
fault_dev fake 1G --real-size 128M
LF=$FAULT_DEV
run_q -src "$IMG" -dst "$LF" -qualify
expect_rc 1 "fake drive"
grep -qF "qflash: $LF: fake capacity: claimed 1.0 GiB, holds about 128.0 MiB" "$T/err.txt" ||
	fail "fake drive: verdict: $(cat "$T/err.txt")"
grep -q "nothing was flashed: 1 of 1 targets failed qualification" "$T/err.txt" ||
	fail "fake drive: not said that nothing was flashed: $(cat "$T/err.txt")"
has_image "$T/fake.backing" && fail "fake drive: the image was written to it"
zero_ends "$LF"
note "ok: $(grep -F "$LF" "$T/err.txt")"
run_q -qualify -dst "$LF" -json
expect_rc 1 "fake drive, -json"
[ "$(qfield "$LF" fake)" = true ] && [ "$(qfield "$LF" ok)" = false ] &&
	[ "$(qfield "$LF" usable)" = $((128 * MiB)) ] ||
	fail "fake drive, -json: $(cat "$T/out.txt")"

# One bad target of two: neither gets the image.
rand_file "$T/good2.img" $((96 * MiB)) 2
loop_attach "$T/good2.img"
LG2=$LOOP
run_q -src "$IMG" -dst "$LG2" -dst "$LF" -qualify
expect_rc 1 "a good and a fake drive"
grep -q "^qflash: $LG2: good: " "$T/err.txt" &&
	grep -q "^qflash: $LF: fake capacity" "$T/err.txt" &&
	grep -q "nothing was flashed: 1 of 2 targets" "$T/err.txt" ||
	fail "a good and a fake drive: $(cat "$T/err.txt")"
has_image "$T/good2.img" && fail "the good drive got the image beside a fake one"
has_image "$T/fake.backing" && fail "the fake drive got the image"
note "ok: with a fake drive among the targets nothing is flashed"

# ------------------------------------------- a dead card: drops writes
fault_dev dead 512M --drop-writes-after 200M
LD=$FAULT_DEV
run_q -qualify -dst "$LD" -json
expect_rc 1 "dead card"
[ "$(qfield "$LD" lost_writes)" = true ] || fail "dead card: $(cat "$T/out.txt")"
lost=$(qfield "$LD" lost_offset)
[ "$lost" -le $((200 * MiB)) ] && [ "$lost" -gt $((200 * MiB - 65536)) ] ||
	fail "dead card: lost writes found at $lost, not near $((200 * MiB))"
run_q -qualify -dst "$LD"
expect_rc 1 "dead card, text"
grep -qF "$LD: lost writes: claimed 512.0 MiB, but what is written at byte $lost (" "$T/out.txt" ||
	fail "dead card: verdict: $(cat "$T/out.txt")"
note "ok: $(cat "$T/out.txt")"

# ----------------------------------------------- write-protected drives
fault_dev ro 256M --ro
LR=$FAULT_DEV
run_q -qualify -dst "$LR" -json
expect_rc 1 "write-protected drive"
[ "$(qfield "$LR" read_only)" = true ] || fail "write-protected: $(cat "$T/out.txt")"
grep -q 'read-only' "$T/out.txt" || fail "write-protected: not said: $(cat "$T/out.txt")"
[ "$(fault_get bytes_written)" = 0 ] || fail "write-protected drive: bytes were stored"
note "ok: $(qfield "$LR" message)"
# ... and one the kernel knows to be read-only: refused by the policy.
loop_file rodev $((32 * MiB)) 3 -r
run_q -qualify -dst "$LOOP" -json
expect_rc 1 "read-only loop device"
[ "$(qfield "$LOOP" read_only)" = true ] && grep -q 'read-only' "$T/out.txt" ||
	fail "read-only loop device: $(cat "$T/out.txt")"
cmp -s "$LOOP" "$T/rodev.orig" || fail "the read-only loop device was written"

# --------------------------------------------- refused: never written
truncate -s 64M "$T/mnt.img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/mnt.img" >/dev/null ||
	fail "mkfs.ext4 failed"
loop_attach "$T/mnt.img"
LM=$LOOP
mkdir "$T/mnt"
# Read-only: a mounted ext4 writes its own superblock now and then.
mount -o ro,noload "$LM" "$T/mnt" || skip "cannot mount $LM"
on_exit "umount '$T/mnt'"
sync
cp "$LM" "$T/mnt.before"
run_q -qualify -dst "$LM"
expect_rc 1 "mounted drive"
grep -q "^$LM: mounted" "$T/out.txt" || fail "mounted drive: $(cat "$T/out.txt")"
cmp -s "$LM" "$T/mnt.before" || fail "the mounted drive was written"
note "ok: $(cat "$T/out.txt")"

# A loop device over the image, and the image itself.
loop_attach "$IMG"
LI=$LOOP
run_q -src "$IMG" -dst "$LI" -qualify
expect_rc 1 "the image's loop device"
run_q -src "$IMG" -dst "$IMG" -qualify
expect_rc 1 "the image itself"
cmp -s "$IMG" "$T/img.orig" || fail "the image was written"
note "ok: a drive holding the image is refused, the image unchanged"

# ------------------------------------------------------- regular files
rand_file "$T/file.img" $((48 * MiB)) 4
run_ok -qualify -dst "$T/file.img"
grep -q "good: all of its 48.0 MiB" "$T/out.txt" || fail "file: $(cat "$T/out.txt")"
zero_ends "$T/file.img"
[ "$(file_size "$T/file.img")" = $((48 * MiB)) ] || fail "file: its size changed"
run_q -qualify -dst "$T/missing.img"
expect_rc 1 "missing file"
[ -e "$T/missing.img" ] && fail "a missing file was created"
note "ok: regular files"

# ------------------------------------------------------------ SIGINT
fault_dev slow 256M --write-rate 2M
"$QFLASH" -qualify -dst "$FAULT_DEV" >"$T/out.txt" 2>"$T/err.txt" &
QPID=$!
for ((i = 0; i < 200; i++)); do
	[ "$(fault_get bytes_written)" -ge $((2 * MiB)) ] && break
	sleep 0.05
done
kill -INT "$QPID"
RC=0
wait "$QPID" || RC=$?
QPID=
expect_rc 130 "SIGINT"
grep -q "cancelled" "$T/out.txt" && grep -q "interrupted by signal 2" "$T/err.txt" ||
	fail "SIGINT: $(cat "$T/out.txt" "$T/err.txt")"
fault_ctl clear
zero_ends "$FAULT_DEV"
note "ok: SIGINT cancels, the ends wiped"

cmp -s "$LO" "$T/other.orig" || fail "a loop device nobody named was written"
note "ok: the unnamed loop device is untouched"
