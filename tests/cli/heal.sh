#!/bin/bash
# heal.sh - -verify writes again what a drive did not keep (fault devices
# that lose writes): a range lost once reads back right after a rewrite
# and the flash ends OK with exactly qemu-img's bytes, the count and the
# offset in the summary, the -json result and the flash log; a range lost
# every time (or more often than it is rewritten) fails the drive as bad
# media at that offset and leaves it without a partition table, and so
# do a fake-capacity drive (a healed range broken again by another) and
# an image that changed since it was read; the table region, the wiped ends, raw images, compressed streams (decoded
# again from their start) and streams with a bmap heal the same way.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk blkid zstd gzip
need_fault_dev

MiB=$((1 << 20))
V=$((64 * MiB))
# A GPT disk: random bytes in 1M..31M, zeros up to 40M, 0xa5 in 40M..50M.
truncate -s "$V" "$T/disk.raw"
sfdisk -q "$T/disk.raw" >/dev/null <<'EOF' || fail "sfdisk failed"
label: gpt
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOF
rand_file "$T/data.bin" $((30 * MiB)) 5
dd if="$T/data.bin" of="$T/disk.raw" bs=1M seek=1 conv=notrunc status=none ||
	fail "dd"
head -c $((10 * MiB)) /dev/zero | tr '\0' '\245' |
	dd of="$T/disk.raw" bs=1M seek=40 conv=notrunc iflag=fullblock status=none ||
	fail "dd"
# Compressed clusters: what is written again is inflated again.
IMG=$T/disk.qcow2
qemu-img convert -c -O qcow2 "$T/disk.raw" "$IMG" || fail "qemu-img convert"
ref_raw "$IMG" "$T/ref.raw"
cmp -s "$T/ref.raw" "$T/disk.raw" || fail "the reference differs from the raw disk"

DATA=$((20 * MiB + 12345))      # in the random bytes
ZERO=$((35 * MiB + 7))          # in the zeros
FILL=$((45 * MiB + 7))          # in the 0xa5 bytes

SEED=10
# drive NAME QFAULTFS-OPTIONS...: a fault device of the image's size that
# holds another owner's random bytes (but for the first ZEROS bytes, when
# set), in $FAULT_DEV.
drive() {
	local name=$1
	shift
	SEED=$((SEED + 1))
	rand_file "$T/$name.backing" "$V" "$SEED"
	if [ -n "${ZEROS:-}" ]; then
		dd if=/dev/zero of="$T/$name.backing" bs="$ZEROS" count=1 \
			conv=notrunc status=none || fail "dd"
	fi
	fault_dev "$name" "$V" "$@"
}

# flash_heals WHAT OFF [qflash options...]: flash to $FAULT_DEV with
# -verify: exit 0, qemu-img's bytes, one range healed at OFF, in the
# summary and the flash log.
flash_heals() {
	local what=$1 off=$2
	shift 2
	rm -f "$T/flash.log"
	run_q -dst "$FAULT_DEV" -verify -log "$T/flash.log" "$@"
	[ "$RC" = 0 ] || fail "$what: exit $RC, want 0: $(cat "$T/err.txt")"
	cmp -s "$FAULT_DEV" "$T/ref.raw" ||
		fail "$what: the drive differs from qemu-img's bytes: $(cmp "$FAULT_DEV" "$T/ref.raw" 2>&1)"
	grep -qxF "qflash: $FAULT_DEV: written and verified" "$T/err.txt" ||
		fail "$what: not verified: $(cat "$T/err.txt")"
	grep -qF "qflash: $FAULT_DEV: note: the drive did not keep every write; ranges that read back wrong and were written again until right: 1" \
		"$T/err.txt" || fail "$what: the summary does not count 1 range: $(cat "$T/err.txt")"
	log_is "$what" result=ok verify=ok healed=1 "healed_at=[$off]"
}

# log_is WHAT KEY=VALUE...: the flash log's last record has these values
# (lists as JSON).
log_is() {
	local what=$1
	shift
	python3 - "$T/flash.log" "$@" <<'EOF' || fail "$what: flash log: $(tail -n 1 "$T/flash.log")"
import json, sys
rec = json.loads(open(sys.argv[1]).read().splitlines()[-1])
for kv in sys.argv[2:]:
    k, want = kv.split("=", 1)
    v = rec.get(k)
    got = json.dumps(v, separators=(",", ":")) if isinstance(v, (list, int)) else v
    if str(got) != want:
        sys.exit("%s is %r, want %r" % (k, got, want))
EOF
}

# no_layout WHAT: nothing finds a partition table on $FAULT_DEV.
no_layout() {
	local pt
	pt=$(blkid -p -s PTTYPE -o value "$FAULT_DEV" 2>/dev/null || :)
	[ -z "$pt" ] || fail "$1: the drive looks like a $pt disk"
	sfdisk -d "$FAULT_DEV" >/dev/null 2>&1 &&
		fail "$1: sfdisk finds a partition table: $(sfdisk -d "$FAULT_DEV" 2>&1)"
	return 0
}

# ------------------------------------------- lost once: healed, qcow2
drive once --drop-once-at "$DATA:100"
flash_heals "qcow2, data lost once" "$DATA" -src "$IMG"
[ "$(fault_get drop_once_left)" = 0 ] || fail "the fault was never hit"
note "ok: a range of data lost once is written again: healed_at $DATA"

# In a zero run, with the first rewrite lost too: the second one holds.
drive twice --drop-once-at "$ZERO:10" --drop-count 2
run_q -src "$IMG" -dst "$FAULT_DEV" -verify -json
[ "$RC" = 0 ] || fail "zeros lost twice: exit $RC: $(cat "$T/err.txt")"
cmp -s "$FAULT_DEV" "$T/ref.raw" || fail "zeros lost twice: the drive differs"
[ "$(json_result "$T/out.txt" "$FAULT_DEV" state)" = ok ] ||
	fail "zeros lost twice: -json state is not ok: $(cat "$T/out.txt")"
[ "$(json_result "$T/out.txt" "$FAULT_DEV" healed)" = 1 ] ||
	fail "zeros lost twice: -json healed is not 1: $(grep result "$T/out.txt")"
note "ok: zeros lost by the write and the first rewrite: healed by the second"

# ------------------------------------------ lost every time: bad media
for how in "--drop-writes-at $FILL:10" "--drop-once-at $FILL:10 --drop-count 3"; do
	# shellcheck disable=SC2086
	drive "bad$SEED" $how
	rm -f "$T/flash.log"
	run_q -src "$IMG" -dst "$FAULT_DEV" -verify -log "$T/flash.log"
	[ "$RC" = 1 ] || fail "$how: exit $RC, want 1: $(cat "$T/err.txt")"
	msg="bad media: the bytes at offset $FILL (45.0 MiB) read back wrong after 2 rewrites"
	grep -qxF "qflash: $FAULT_DEV: $msg" "$T/err.txt" ||
		fail "$how: want '$msg': $(cat "$T/err.txt")"
	grep -qxF "qflash: $FAULT_DEV: verification failed: first difference at byte $FILL" \
		"$T/err.txt" || fail "$how: no mismatch line: $(cat "$T/err.txt")"
	log_is "$how" result=mismatch verify=mismatch "error=$msg"
	no_layout "$how"
	note "ok: $how: $msg, no partition table"
done
fault_ctl "drop-count 3"
run_q -src "$IMG" -dst "$FAULT_DEV" -verify -json
[ "$(json_result "$T/out.txt" "$FAULT_DEV" bad_media)" = true ] ||
	fail "-json: bad_media is not true: $(grep result "$T/out.txt")"
[ "$(json_result "$T/out.txt" "$FAULT_DEV" mismatch_offset)" = "$FILL" ] ||
	fail "-json: mismatch_offset is not $FILL: $(grep result "$T/out.txt")"

# A fake-capacity drive holds its second half where its first half is:
# every block heals once rewritten, and breaks the one it aliases.  The
# healed blocks are read once more at the end, and one of them no longer
# holds what it was given.
drive fake --real-size $((V / 2))
run_q -src "$IMG" -dst "$FAULT_DEV" -verify
[ "$RC" = 1 ] || fail "fake capacity: exit $RC, want 1: $(cat "$T/err.txt")"
# Which healed block is found broken first depends on the order the
# writes landed in; any of the first half's is right.
msg="bad media: the bytes at offset [0-9]+ \([0-9.]+ MiB\) read back right once rewritten, then wrong again after later writes"
line=$(grep -E "^qflash: $FAULT_DEV: $msg\$" "$T/err.txt") ||
	fail "fake capacity: want '$msg': $(cat "$T/err.txt")"
at=$(echo "$line" | sed -E 's/.* offset ([0-9]+) .*/\1/')
[ "$at" -ge "$MiB" ] && [ "$at" -lt $((V / 2)) ] ||
	fail "fake capacity: offset $at is not in the drive's real first half"
msg=${line#qflash: $FAULT_DEV: }
no_layout "fake capacity"
note "ok: fake capacity: $msg"

# ------------------------------ an image that changed: not written again
# The bytes read again are not the ones written: the mismatch stands,
# with the reason, at the start of its chunk (the image cannot tell which
# byte it was).
cp "$IMG" "$T/moving.qcow2"
drive moving --drop-once-at "$DATA:100" --write-rate 16M
start_bg -src "$T/moving.qcow2" -dst "$FAULT_DEV" -verify
wait_written $((24 * MiB))
qemu-io -f qcow2 -c "write -P 0x11 20M 1M" "$T/moving.qcow2" >/dev/null ||
	fail "qemu-io failed"
wait_bg
[ "$RC" = 1 ] || fail "changed image: exit $RC, want 1: $(cat "$T/err.txt")"
grep -qF "qflash: $FAULT_DEV: verification failed: the target differs from the image at byte $((20 * MiB)); it could not be written again: the image no longer gives the bytes that were written there" \
	"$T/err.txt" || fail "changed image: the reason is not given: $(cat "$T/err.txt")"
no_layout "changed image"
note "ok: an image changed under the flash is not written again"

# ------------------------------------- the table region, the wiped ends
# Sector 0 reads as zeros before the flash, so losing the wipe's write and
# the data's there changes nothing: the third write lost is the table's.
ZEROS=$MiB drive table --drop-once-at 446:66 --drop-count 3
flash_heals "the protective MBR lost once" 448 -src "$IMG"
note "ok: the table region written again: healed_at 448"

# The wipe of the last MiB is lost once: zeroed again before any data.
drive tail --drop-once-at $((V - 4096)):512
flash_heals "the wipe lost once" $((V - 4096)) -src "$IMG"
note "ok: the wiped end zeroed again"

# ------------------------------------------------------ raw, streams
drive raw --drop-once-at "$DATA:100"
flash_heals "raw, data lost once" "$DATA" -src "$T/disk.raw" -format raw
note "ok: a raw image heals"

# A stream is decoded once, in order, and keeps only its head and its
# last bytes: what it no longer holds is decoded again from the start of
# the file by a second decoder.
zstd -q -c "$T/disk.raw" >"$T/disk.raw.zst" || fail "zstd"
gzip -c -n "$T/disk.raw" >"$T/disk.raw.gz" || fail "gzip"
for z in zst gz; do
	drive "s$z" --drop-once-at "$DATA:100"
	flash_heals "$z stream, data lost once" "$DATA" -src "$T/disk.raw.$z"
	note "ok: a $z stream heals, decoded again"
done

# With a bmap, the bytes it leaves out are zeros the second time too.
if command -v bmaptool >/dev/null 2>&1; then
	# The blocks after the random data are not mapped; the image file
	# holds garbage in the chunk with its last bytes, which the flash
	# must zero, the second decoding too.
	cp --sparse=always "$T/disk.raw" "$T/bm.raw"
	bmaptool create "$T/bm.raw" -o "$T/bm.raw.bmap" 2>/dev/null ||
		fail "bmaptool create"
	grep -q '<BlockSize>' "$T/bm.raw.bmap" || fail "no bmap"
	rand_file "$T/garbage.bin" $((64 * 1024)) 99
	dd if="$T/garbage.bin" of="$T/bm.raw" bs=64K seek=$((31 * 16 + 1)) \
		conv=notrunc status=none || fail "dd"
	gzip -c -n "$T/bm.raw" >"$T/bm.raw.gz" || fail "gzip"
	drive bmap --drop-once-at $((31 * MiB - 4096)):100
	flash_heals "bmap stream" $((31 * MiB - 4096)) -src "$T/bm.raw.gz" \
		-bmap "$T/bm.raw.bmap"
	note "ok: a stream with a bmap heals, its unmapped bytes zeros again"
else
	note "bmaptool not found: no bmap case"
fi

exit 0
