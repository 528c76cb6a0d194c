#!/bin/bash
# interrupt.sh - a drive whose flash did not complete never looks like a
# disk with a layout: Ctrl-C, SIGKILL, a write error and a failed
# verification each leave a drive that held a GPT with no partition table
# at either end, as blkid -p, wipefs -n and sgdisk see it.  The drive is a
# slow one (a throttled FUSE file under a loop device), so the flash is
# caught in the middle.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sgdisk sfdisk blkid wipefs
need_fault_dev

MiB=$((1 << 20))
make_gpt_disk "$T/gpt.raw" 100M
qemu-img convert -O qcow2 "$T/gpt.raw" "$T/gpt.qcow2" || fail "convert"
# 48 MiB of data in partition 2, so the flash has something to write.
qio "$T/gpt.qcow2" "write -P 0x5a 40M 48M"
SIZE=$((128 * MiB))

# A qflash still running when the test fails is stopped.
QPID=
on_exit '[ -n "$QPID" ] && kill -KILL "$QPID"'

# old_gpt NAME: $T/NAME.backing holds a GPT spanning the whole drive.
old_gpt() {
	rand_file "$T/$1.backing" "$SIZE" 5
	sgdisk -n 1:0:0 -c 1:previous-owner "$T/$1.backing" >/dev/null ||
		fail "sgdisk failed"
}

# blank DEV WHAT: nothing on DEV looks like a partition table.
blank() {
	local dev=$1 what=$2
	blkid -p "$dev" >"$T/blkid.txt" 2>&1
	grep -q PTTYPE "$T/blkid.txt" &&
		fail "$what: $dev still looks partitioned: $(cat "$T/blkid.txt")"
	wipefs -n "$dev" >"$T/wipefs.txt" 2>&1
	[ -s "$T/wipefs.txt" ] &&
		fail "$what: wipefs finds signatures on $dev: $(cat "$T/wipefs.txt")"
	sgdisk -p "$dev" >"$T/sgdisk.txt" 2>&1
	grep -q 'previous-owner' "$T/sgdisk.txt" &&
		fail "$what: sgdisk brings back the old partition: $(cat "$T/sgdisk.txt")"
	note "ok: $what: $dev looks blank"
}

# flash_until DEV BYTES SIGNAL [options]: start flashing onto DEV and send
# SIGNAL once BYTES have been written to it; exit status in $RC.
flash_until() {
	local dev=$1 want=$2 sig=$3 i pid
	shift 3
	"$QFLASH" -src "$T/gpt.qcow2" -dst "$dev" "$@" >"$T/out.txt" 2>"$T/err.txt" &
	pid=$!
	QPID=$pid
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$(fault_get bytes_written)" -ge "$want" ] && break
		sleep 0.02
	done
	kill -0 "$pid" 2>/dev/null ||
		fail "qflash ended before it could be stopped: $(cat "$T/err.txt")"
	kill -"$sig" "$pid"
	RC=0
	wait "$pid" || RC=$?
	QPID=
}

# ------------------------------------------------------------ Ctrl-C
old_gpt int
fault_dev int "$SIZE" --write-rate 20M
flash_until "$FAULT_DEV" $((16 * MiB)) INT
[ "$RC" = 130 ] || fail "SIGINT: exit $RC, want 130: $(cat "$T/err.txt")"
blank "$FAULT_DEV" "SIGINT"

# ----------------------------------------------------------- SIGKILL
old_gpt kill
fault_dev kill "$SIZE" --write-rate 20M
flash_until "$FAULT_DEV" $((16 * MiB)) KILL
[ "$RC" = 137 ] || fail "SIGKILL: exit $RC, want 137"
blank "$FAULT_DEV" "SIGKILL"

# ------------------------------------------- a write error mid-flash
old_gpt eio
fault_dev eio "$SIZE" --eio-write-at $((40 * MiB)):$MiB
run_q -src "$T/gpt.qcow2" -dst "$FAULT_DEV"
[ "$RC" = 1 ] || fail "write error: exit $RC, want 1: $(cat "$T/err.txt")"
grep -qi 'error' "$T/err.txt" || fail "write error: not said: $(cat "$T/err.txt")"
fault_ctl clear
blank "$FAULT_DEV" "write error"

# ------------------------------------------- a failed verification
# A card that starts dropping writes once the flash is under way: it
# takes every write past 32 MiB and keeps its old bytes there.
old_gpt dead
fault_dev dead "$SIZE" --write-rate 40M
"$QFLASH" -src "$T/gpt.qcow2" -dst "$FAULT_DEV" -verify >"$T/out.txt" 2>"$T/err.txt" &
QPID=$!
for ((i = 0; i < 1000; i++)); do
	[ "$(fault_get bytes_written)" -ge $((4 * MiB)) ] && break
	sleep 0.02
done
fault_ctl drop-writes-after $((32 * MiB))
RC=0
wait "$QPID" || RC=$?
QPID=
[ "$RC" = 1 ] || fail "failed verify: exit $RC, want 1: $(cat "$T/err.txt")"
grep -qi 'verification failed' "$T/err.txt" ||
	fail "failed verify: not said: $(cat "$T/err.txt")"
fault_ctl clear
blank "$FAULT_DEV" "failed verification"

# --------------------------------------------------- a dead card
# Every write is dropped: the wipe (2 MiB, then twice the 64 KiB that read
# back wrong) is found not to hold, before any data is written (the old
# table stays: nothing can take it away).
old_gpt gone
fault_dev gone "$SIZE" --drop-writes-after 0
run_q -src "$T/gpt.qcow2" -dst "$FAULT_DEV"
[ "$RC" = 1 ] || fail "dead card: exit $RC, want 1: $(cat "$T/err.txt")"
grep -q 'did not keep what was written' "$T/err.txt" ||
	fail "dead card: not said: $(cat "$T/err.txt")"
[ "$(fault_get bytes_written)" -le $((2 * MiB + 2 * 64 * 1024)) ] ||
	fail "dead card: data was written after the wipe failed"
note "ok: dead card: $(grep -o 'did not keep.*' "$T/err.txt")"

exit 0
