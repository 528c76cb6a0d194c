#!/bin/bash
# drive.sh - a flashed drive is a correct drive, checked with the tools a
# technician would use (sgdisk -v, sfdisk -V, fdisk -l, wipefs, blkid,
# e2fsck): a GPT image onto a larger drive gets its backup GPT moved to
# the end, -exact writes the image unchanged, a drive of the image's size
# gets exactly qemu-img's bytes, an MBR image over an old GPT leaves no
# backup GPT behind, -grow grows the last partition and its filesystem
# (whole disk, MBR logical, -write-parts), 4Kn drives get a GPT in their
# own sector size, and the flash log records what was adjusted.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sgdisk sfdisk fdisk blkid wipefs e2fsck dumpe2fs
need_root_loop

MiB=$((1 << 20))
make_gpt_disk "$T/gpt.raw" 100M
qemu-img convert -O qcow2 "$T/gpt.raw" "$T/gpt.qcow2" || fail "convert"
ref_raw "$T/gpt.qcow2" "$T/gpt.ref"
V=$(file_size "$T/gpt.ref")

# clean DEV: every tool is happy with DEV's partition table.
clean() {
	local dev=$1
	sgdisk -v "$dev" >"$T/sgdisk.txt" 2>&1
	grep -q 'No problems found' "$T/sgdisk.txt" ||
		fail "$dev: sgdisk -v: $(cat "$T/sgdisk.txt")"
	sfdisk -V "$dev" >"$T/sfdisk.txt" 2>&1 ||
		fail "$dev: sfdisk -V failed: $(cat "$T/sfdisk.txt")"
	grep -q 'No errors detected' "$T/sfdisk.txt" ||
		fail "$dev: sfdisk -V: $(cat "$T/sfdisk.txt")"
	fdisk -l "$dev" >"$T/fdisk.txt" 2>&1
	grep -Eiq 'mismatch|not on the end|corrupt|invalid|differ|warning' \
		"$T/fdisk.txt" && fail "$dev: fdisk -l: $(cat "$T/fdisk.txt")"
	return 0
}

# parts DEV: the partition entries as sfdisk dumps them (no disk-size
# lines, which differ between an image and a larger drive).
parts() {
	sfdisk --dump "$1" | grep -v -E '^(device|last-lba|first-lba|unit|sector-size):' |
		sed 's|^[^ ]*[0-9] :|N :|'
}

# same_part DEV N REF: partition N of DEV holds REF's partition N.
same_part() {
	local r a b
	r=$(part_range "$3" "$2")
	a=${r% *} b=${r#* }
	cmp -s -i "$a:$a" -n "$b" "$1" "$3" ||
		fail "$1: partition $2 differs from $3's"
}

# old_gpt_drive NAME SIZE [LOSETUP OPTIONS]: a drive that held a GPT
# spanning all of it, random bytes elsewhere: loop device in $LOOP.
old_gpt_drive() {
	local name=$1 size=$2
	shift 2
	rand_file "$T/$name.img" "$size" 7
	sgdisk -n 1:0:0 -c 1:previous-owner "$T/$name.img" >/dev/null ||
		fail "sgdisk on $T/$name.img failed"
	loop_attach "$T/$name.img" "$@"
}

# ------------------------------------------- GPT onto a larger drive
old_gpt_drive big $((256 * MiB)); BIG=$LOOP
run_ok -src "$T/gpt.qcow2" -dst "$BIG" -verify
clean "$BIG"
grep -q 'backup GPT moved to the end' "$T/err.txt" ||
	fail "the backup GPT move was not announced: $(cat "$T/err.txt")"
[ "$(parts "$BIG")" = "$(parts "$T/gpt.ref")" ] ||
	fail "partition entries changed: $(diff <(parts "$BIG") <(parts "$T/gpt.ref"))"
same_part "$BIG" 1 "$T/gpt.ref"
same_part "$BIG" 2 "$T/gpt.ref"
run_ok -src "$T/gpt.qcow2" -dst "$BIG" -verify-only
note "ok: GPT onto a 256 MiB drive: $(grep "No problems" "$T/sgdisk.txt")"

# --------------------------------------------------------- -exact
run_ok -src "$T/gpt.qcow2" -dst "$BIG" -exact -verify
cmp -s -n "$V" "$BIG" "$T/gpt.ref" || fail "-exact: the image's bytes differ"
cmp -s -i $((256 * MiB - MiB)):0 -n "$MiB" "$BIG" /dev/zero ||
	fail "-exact: the last MiB still holds the old backup GPT"
grep -q 'left as they are (-exact)' "$T/err.txt" ||
	fail "-exact on a larger drive: no word of what is left: $(cat "$T/err.txt")"
note "ok: -exact writes the image unchanged"

# ------------------------------------------- a drive of the image's size
old_gpt_drive same "$V"; SAME=$LOOP
run_ok -src "$T/gpt.qcow2" -dst "$SAME" -verify
cmp -s "$SAME" "$T/gpt.ref" || fail "a drive of the image's size differs from qemu-img's bytes"
clean "$SAME"
note "ok: a drive of the image's size holds qemu-img's bytes"

# ---------------------------------------- MBR image over an old GPT
make_mbr_disk "$T/mbr.raw" 64M
qemu-img convert -O qcow2 "$T/mbr.raw" "$T/mbr.qcow2" || fail "convert"
ref_raw "$T/mbr.qcow2" "$T/mbr.ref"
old_gpt_drive mold $((256 * MiB)); MOLD=$LOOP
run_ok -src "$T/mbr.qcow2" -dst "$MOLD" -verify
wipefs -n "$MOLD" >"$T/wipefs.txt" 2>&1
grep -q gpt "$T/wipefs.txt" && fail "an old GPT signature survived: $(cat "$T/wipefs.txt")"
grep -q dos "$T/wipefs.txt" || fail "no MBR found: $(cat "$T/wipefs.txt")"
sgdisk -v "$MOLD" >"$T/sgdisk.txt" 2>&1
grep -qi backup "$T/sgdisk.txt" && fail "sgdisk found a backup GPT: $(cat "$T/sgdisk.txt")"
grep -q 'No problems found' "$T/sgdisk.txt" || fail "sgdisk -v: $(cat "$T/sgdisk.txt")"
cmp -s -n "$(file_size "$T/mbr.ref")" "$MOLD" "$T/mbr.ref" || fail "MBR image bytes differ"
note "ok: an MBR image over an old GPT leaves no GPT behind"

# ------------------------------------------------------ -grow (GPT)
run_ok -src "$T/gpt.qcow2" -dst "$BIG" -verify -grow -log "$T/flash.log"
clean "$BIG"
r=$(part_range "$BIG" 2)
start=${r% *} size=${r#* }
[ $(((start + size) % MiB)) = 0 ] || fail "-grow: partition 2 does not end on a MiB"
# the backup GPT needs 33 sectors: the MiB before it is the last whole one
[ $((start + size)) = $((255 * MiB)) ] || fail "-grow: partition 2 ends at $((start + size))"
loop_attach "$BIG" -o "$start" --sizelimit "$size"; P2=$LOOP
e2fsck -fn "$P2" >"$T/fsck.txt" 2>&1 || fail "e2fsck -fn after -grow: $(cat "$T/fsck.txt")"
bc=$(dumpe2fs -h "$P2" 2>/dev/null | awk -F: '/^Block count/ {print $2}')
bs=$(dumpe2fs -h "$P2" 2>/dev/null | awk -F: '/^Block size/ {print $2}')
[ $((bc * bs)) -ge $((size - MiB)) ] ||
	fail "-grow: the filesystem holds $((bc * bs)) of the partition's $size bytes"
losetup -d "$P2"
grep -q 'ext4 filesystem grown' "$T/err.txt" || fail "-grow: not said: $(cat "$T/err.txt")"
python3 - "$T/flash.log" "$T/gpt.qcow2" <<'EOF' || fail "flash log record"
import json, os, sys
rec = [json.loads(l) for l in open(sys.argv[1])][-1]
assert rec["image"] == os.path.realpath(sys.argv[2]), rec["image"]
for a in ("backup-gpt-moved", "pmbr-resized", "partition-grown", "filesystem-grown"):
    assert a in rec["adjustments"], rec["adjustments"]
assert rec["target_size"] == 256 << 20, rec
EOF
note "ok: -grow: partition 2 and its ext4 fill the drive, e2fsck is clean"

# ----------------------------------------------- -grow (MBR logical)
rand_file "$T/mgrow.img" $((256 * MiB)) 9
loop_attach "$T/mgrow.img"; MG=$LOOP
run_ok -src "$T/mbr.qcow2" -dst "$MG" -grow -verify
r=$(part_range "$MG" 7)
[ $(((${r% *} + ${r#* }))) = $((256 * MiB)) ] ||
	fail "-grow: logical partition 7 ends at $((${r% *} + ${r#* }))"
r=$(part_range "$MG" 3)
[ $(((${r% *} + ${r#* }))) = $((256 * MiB)) ] ||
	fail "-grow: the extended partition was not grown with its last logical"
fdisk -l "$MG" >"$T/fdisk.txt" 2>&1
grep -Eiq 'mismatch|warning|overlap' "$T/fdisk.txt" && fail "fdisk -l: $(cat "$T/fdisk.txt")"
grep -q 'filesystem: not grown' "$T/err.txt" ||
	fail "-grow of an unformatted partition: not said: $(cat "$T/err.txt")"
note "ok: -grow: the last logical partition and its container fill the drive"

# ------------------------------------------- -write-parts N=DEV -grow
rand_file "$T/pbig.img" $((96 * MiB)) 10
loop_attach "$T/pbig.img"; PB=$LOOP
run_ok -src "$T/gpt.qcow2" -write-parts "2=$PB" -grow -verify
e2fsck -fn "$PB" >"$T/fsck.txt" 2>&1 || fail "e2fsck -fn: $(cat "$T/fsck.txt")"
bc=$(dumpe2fs -h "$PB" 2>/dev/null | awk -F: '/^Block count/ {print $2}')
bs=$(dumpe2fs -h "$PB" 2>/dev/null | awk -F: '/^Block size/ {print $2}')
[ $((bc * bs)) -ge $((95 * MiB)) ] || fail "-write-parts -grow: filesystem is $((bc * bs)) bytes"
run_ok -src "$T/gpt.qcow2" -write-parts "2=$PB"
grep -q 'grow would grow its filesystem' "$T/err.txt" ||
	fail "-write-parts onto a larger target: nothing said: $(cat "$T/err.txt")"
note "ok: -write-parts -grow fills the target, and without -grow it says so"

# -------------------------------------------------- 4096-byte sectors
old_gpt_drive k4 $((256 * MiB)) --sector-size 4096; K4=$LOOP
run_ok -src "$T/gpt.qcow2" -dst "$K4" -verify
grep -q 'rewritten for 4096-byte sectors' "$T/err.txt" ||
	fail "4Kn: not said: $(cat "$T/err.txt")"
[ "$(blockdev --getss "$K4")" = 4096 ] || fail "not a 4Kn loop device"
clean "$K4"
for n in 1 2; do
	a=$(part_range "$T/gpt.ref" $n)
	b=$(part_range "$K4" $n)
	[ "$a" = "$b" ] || fail "4Kn: partition $n at $b, the image has it at $a"
	same_part "$K4" $n "$T/gpt.ref"
done
note "ok: 4Kn drive: GPT in 4096-byte sectors, partitions at the same bytes"

cp "$K4" "$T/k4.before"
run_q -src "$T/gpt.qcow2" -dst "$K4" -exact
[ "$RC" = 1 ] || fail "4Kn with -exact: exit $RC, want 1"
grep -q '4096-byte sectors' "$T/err.txt" && grep -q -- '-force' "$T/err.txt" ||
	fail "4Kn with -exact: the refusal does not say why: $(cat "$T/err.txt")"
cmp -s "$K4" "$T/k4.before" || fail "4Kn with -exact: the drive was written"
run_q -src "$T/mbr.qcow2" -dst "$K4"
[ "$RC" = 1 ] || fail "MBR onto 4Kn: exit $RC, want 1"
cmp -s "$K4" "$T/k4.before" || fail "MBR onto 4Kn: the drive was written"
run_ok -src "$T/mbr.qcow2" -dst "$K4" -force
note "ok: 4Kn: what cannot be converted is refused without -force"

exit 0
