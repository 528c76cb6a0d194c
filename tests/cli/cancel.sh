#!/bin/bash
# cancel.sh - SIGINT and SIGTERM in the middle of a flash: exit status
# 130 / 143, a message that the target is incomplete and that its
# partition table region was not written, and the GPT regions (the first
# MiB and the backup table at the end) zeros: a new file never got them,
# and an existing one had its old ones wiped before anything was written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3 sfdisk

MiB=$((1 << 20))
V=$((1024 * MiB))
HEAD=$MiB                 # protective MBR, primary GPT, gap to partition 1
TAIL=$((33 * 512))        # backup GPT entries and header

# A 1 GiB GPT disk whose one partition is filled with data (patterns are
# quick to make, and the engine writes them like any other data).
truncate -s "$V" "$T/disk.raw"
sfdisk -q "$T/disk.raw" >/dev/null <<'EOF' || fail "sfdisk failed"
label: gpt
label-id: 0E6C9D1A-2B3C-4D5E-8F70-8192A3B4C5D6
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOF
IMG=$T/disk.qcow2
qemu-img convert -O qcow2 "$T/disk.raw" "$IMG" || fail "qemu-img convert"
rm -f "$T/disk.raw"
qio "$IMG" "write -P 0x5a 1M 255M" "write -P 0xa5 256M 256M" \
	"write -P 0x3c 512M 256M" "write -P 0xc3 768M 255M"

# A qflash still running when the test fails is stopped.
QPID=
on_exit '[ -n "$QPID" ] && kill -KILL "$QPID"'

# interrupt SIGNAL TARGET [qflash options]: start flashing IMG to TARGET,
# send SIGNAL once 8 MiB more of TARGET are allocated (the engine is
# writing), wait; exit status in $RC, output in $T/out.txt, $T/err.txt.
interrupt() {
	local sig=$1 tgt=$2 base=0 i pid
	shift 2
	[ -e "$tgt" ] && base=$(allocated "$tgt")
	"$QFLASH" -src "$IMG" -dst "$tgt" "$@" >"$T/out.txt" 2>"$T/err.txt" &
	pid=$!
	QPID=$pid
	for ((i = 0; i < 3000; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		[ -e "$tgt" ] && [ "$(allocated "$tgt")" -ge $((base + 8 * MiB)) ] &&
			break
		sleep 0.02
	done
	kill -0 "$pid" 2>/dev/null ||
		fail "qflash ended before it could be interrupted: $(cat "$T/err.txt")"
	kill -"$sig" "$pid"
	RC=0
	wait "$pid" || RC=$?
	QPID=
}

# check_cancelled TARGET WANT_RC SIGNO: the exit status and the messages.
check_cancelled() {
	local tgt=$1 want=$2 signo=$3
	[ "$RC" = "$want" ] ||
		fail "exit $RC, want $want: $(cat "$T/err.txt")"
	grep -qF "qflash: interrupted by signal $signo" "$T/err.txt" ||
		fail "no 'interrupted' message: $(cat "$T/err.txt")"
	[ "$(file_size "$tgt")" = "$V" ] ||
		fail "$tgt is $(file_size "$tgt") bytes, want $V"
}

# check_regions TARGET HEADREF TAILREF: the first MiB and the backup GPT
# of TARGET are the given bytes.
check_regions() {
	local tgt=$1
	cmp -s -n "$HEAD" "$tgt" "$2" ||
		fail "$tgt: the first MiB was written: $(cmp -n "$HEAD" "$tgt" "$2" 2>&1)"
	cmp -s -i $((V - TAIL)):0 -n "$TAIL" "$tgt" "$3" ||
		fail "$tgt: the backup GPT region was written"
}

head -c "$HEAD" /dev/zero >"$T/zhead"
head -c "$TAIL" /dev/zero >"$T/ztail"

# --------------------------------------------------- SIGINT, new file
interrupt INT "$T/new.raw"
check_cancelled "$T/new.raw" 130 2
grep -F "qflash: $T/new.raw: " "$T/err.txt" | grep 'incomplete' |
	grep -q 'its partition table region was not written' ||
	fail "SIGINT: no message that $T/new.raw is incomplete and its table region unwritten: $(cat "$T/err.txt")"
check_regions "$T/new.raw" "$T/zhead" "$T/ztail"
# ... and it was interrupted while writing, not before.
[ "$(allocated "$T/new.raw")" -ge $((8 * MiB)) ] ||
	fail "SIGINT: nothing was written before the signal"
note "ok: SIGINT: $(grep -F "$T/new.raw" "$T/err.txt")"

# ---------------------------------------------- SIGTERM, existing file
# Old bytes in the table regions, holes elsewhere (so the allocation
# shows the writing): the old table is wiped before anything is written,
# and the new one is never written, so nothing looks partitioned.
truncate -s "$V" "$T/old.raw"
rand_file "$T/ohead" "$HEAD" 41
rand_file "$T/otail" "$TAIL" 42
dd if="$T/ohead" of="$T/old.raw" conv=notrunc status=none
dd if="$T/otail" of="$T/old.raw" bs=512 seek=$(((V - TAIL) / 512)) \
	conv=notrunc status=none
interrupt TERM "$T/old.raw"
check_cancelled "$T/old.raw" 143 15
grep -F "qflash: $T/old.raw: " "$T/err.txt" | grep 'incomplete' |
	grep -q 'its partition table region was not written' ||
	fail "SIGTERM: no message that $T/old.raw is incomplete: $(cat "$T/err.txt")"
check_regions "$T/old.raw" "$T/zhead" "$T/ztail"
if command -v blkid >/dev/null 2>&1; then
	blkid -p "$T/old.raw" >"$T/blkid.txt" 2>&1
	grep -q PTTYPE "$T/blkid.txt" &&
		fail "SIGTERM: $T/old.raw still looks partitioned: $(cat "$T/blkid.txt")"
fi
note "ok: SIGTERM: $(grep -F "$T/old.raw" "$T/err.txt")"

# ------------------------------------------------ SIGTERM with -json
rm -f "$T/new.raw"
interrupt TERM "$T/new.raw" -json
check_cancelled "$T/new.raw" 143 15
[ "$(json_result "$T/out.txt" "$T/new.raw" state)" = cancelled ] ||
	fail "-json: state is not cancelled: $(cat "$T/out.txt")"
[ "$(json_result "$T/out.txt" "$T/new.raw" table_written)" = false ] ||
	fail "-json: table_written is not false"
json_result "$T/out.txt" "$T/new.raw" error | grep -q incomplete ||
	fail "-json: the error does not say the target is incomplete"
# The last progress event tells how far the flash got, not 0 bytes.
last=$(grep '"event":"progress"' "$T/out.txt" | tail -n 1)
python3 -c 'import json, sys
p = json.loads(sys.argv[1])
sys.exit(not (p["phase"] == "cancelled" and 8 << 20 <= p["done"] < p["total"]
              and p["rate"] > 0))' "$last" ||
	fail "-json: the last progress event after the cancel: $last"
check_regions "$T/new.raw" "$T/zhead" "$T/ztail"
note "ok: SIGTERM with -json"

exit 0
