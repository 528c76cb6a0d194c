#!/bin/bash
# faults.sh - faults survived on real block devices (FUSE files under loop
# devices): one failing target of three fails with its offset and errno
# while the other two complete and verify; SIGKILL never leaves a torn
# flash-log record and always leaves a "started" one; an image written or
# truncated during the flash fails it; a second qflash on a busy device is
# refused; a flash log on a full filesystem fails the run, and the next
# record still starts a line of its own.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3 sfdisk
need_fault_dev

MiB=$((1 << 20))
SIZE=$((96 * MiB))
truncate -s 80M "$T/disk.raw"
sfdisk -q "$T/disk.raw" >/dev/null <<'EOF' || fail "sfdisk failed"
label: gpt
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOF
IMG=$T/disk.qcow2
qemu-img convert -O qcow2 "$T/disk.raw" "$IMG" || fail "convert"
qio "$IMG" "write -P 0x5a 1M 30M" "write -P 0xa5 40M 30M"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")

# log_lines LOG: every line of LOG is a whole JSON object; prints the
# results, one per line.
log_lines() {
	python3 - "$1" <<'EOF' || fail "the flash log $1 has a torn record"
import json, sys
data = open(sys.argv[1]).read()
assert data.endswith("\n"), "no newline at the end"
for line in data.split("\n")[:-1]:
    print(json.loads(line)["result"])
EOF
}

# ------------------------------------- one failing target of three
loop_file a "$SIZE" 1; LA=$LOOP
loop_file b "$SIZE" 2; LB=$LOOP
fault_dev bad "$SIZE" --eio-write-at $((20 * MiB)):4096
run_q -src "$IMG" -dst "$LA" -dst "$FAULT_DEV" -dst "$LB" -verify -exact
[ "$RC" = 1 ] || fail "one bad target: exit $RC, want 1"
grep -F "qflash: $FAULT_DEV: " "$T/err.txt" |
	grep -E 'write error at [0-9]+: Input/output error' >/dev/null ||
	fail "the bad target's offset and errno are not named: $(cat "$T/err.txt")"
for d in "$LA" "$LB"; do
	grep -qxF "qflash: $d: written and verified" "$T/err.txt" ||
		fail "$d is not reported verified: $(cat "$T/err.txt")"
	cmp -s -n "$V" "$d" "$T/ref.raw" || fail "$d does not hold the image"
done
note "ok: $(grep -F "qflash: $FAULT_DEV: " "$T/err.txt" | grep "write error" | head -n 1)"

# --------------------------------------------- SIGKILL and the log
fault_dev slow "$SIZE" --write-rate 16M
start_bg -src "$IMG" -dst "$FAULT_DEV" -log "$T/kill.log"
wait_written $((8 * MiB))
kill -KILL "$QPID"
wait "$QPID" 2>/dev/null
QPID=
[ "$(log_lines "$T/kill.log")" = started ] ||
	fail "after SIGKILL the log holds: $(cat "$T/kill.log")"
note "ok: SIGKILL leaves one whole \"started\" record"

# ---------------------------------------- a second qflash, same drive
fault_ctl clear
fault_ctl reset-counters
fault_ctl write-rate 16000000
start_bg -src "$IMG" -dst "$FAULT_DEV"
wait_written $((4 * MiB))
pid1=$QPID
run_q -src "$IMG" -dst "$FAULT_DEV"
[ "$RC" = 1 ] || fail "a second qflash on a busy drive: exit $RC, want 1"
grep -qi 'busy\|in use' "$T/err.txt" ||
	fail "a second qflash: no reason given: $(cat "$T/err.txt")"
note "ok: second qflash refused: $(head -n 1 "$T/err.txt")"
kill -INT "$pid1"
wait "$pid1" 2>/dev/null
QPID=

# ------------------------------------- an image changed during the flash
# Bytes already read are overwritten: the target holds neither version.
cp "$IMG" "$T/moving.qcow2"
fault_ctl reset-counters
fault_ctl write-rate 16000000
start_bg -src "$T/moving.qcow2" -dst "$FAULT_DEV" -verify
wait_written $((4 * MiB))
qemu-io -f qcow2 -c "write -P 0x11 1M 1M" "$T/moving.qcow2" >/dev/null ||
	fail "qemu-io failed"
wait_bg
[ "$RC" = 1 ] || fail "image overwritten: exit $RC, want 1: $(cat "$T/err.txt")"
grep -q 'changed while it was being read' "$T/err.txt" ||
	fail "image overwritten: not said: $(cat "$T/err.txt")"
note "ok: overwritten image: $(grep -o 'the file changed.*' "$T/err.txt" | head -n 1)"

# ... and truncated, then extended again.
cp "$IMG" "$T/moving.qcow2"
fault_ctl reset-counters
start_bg -src "$T/moving.qcow2" -dst "$FAULT_DEV"
wait_written $((4 * MiB))
sz=$(file_size "$T/moving.qcow2")
truncate -s $((sz / 2)) "$T/moving.qcow2"
truncate -s "$sz" "$T/moving.qcow2"
wait_bg
[ "$RC" = 1 ] || fail "image truncated: exit $RC, want 1: $(cat "$T/err.txt")"
grep -Eq 'changed while it was being read|end of file' "$T/err.txt" ||
	fail "image truncated: not said: $(cat "$T/err.txt")"
note "ok: truncated image noticed"

# ------------------------------------------- a log on a full filesystem
FULL=$T/full
mkdir "$FULL"
if mount -t tmpfs -o size=64k none "$FULL" 2>/dev/null; then
	on_exit "umount '$FULL'"
	# Room for a "started" record, not for the result that follows.
	python3 -c 'import sys; open(sys.argv[1], "w").write("x" * (64 * 1024 - 4096 + 2800))' \
		"$FULL/pad" 2>/dev/null
	run_q -src "$IMG" -dst "$T/f.raw" -log "$FULL/flash.log"
	[ "$RC" = 1 ] || fail "full log filesystem: exit $RC, want 1: $(cat "$T/err.txt")"
	grep -q 'cannot write the flash log' "$T/err.txt" ||
		fail "full log filesystem: not said: $(cat "$T/err.txt")"
	rm -f "$FULL/pad"
	run_ok -src "$IMG" -dst "$T/f.raw" -log "$FULL/flash.log"
	log_lines "$FULL/flash.log" >"$T/results"
	tail -n 1 "$T/results" | grep -qx ok ||
		fail "the next record is not a line of its own: $(cat "$FULL/flash.log")"
	note "ok: a full log filesystem fails the run; records stay whole"
else
	skip "cannot mount a small tmpfs for the full-log case"
fi

exit 0
