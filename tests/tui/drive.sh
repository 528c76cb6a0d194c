#!/bin/bash
# drive.sh - (root) the TUI makes a drive correct, as the CLI does: the
# confirm screen says what will be adjusted on a drive larger than the
# image and what is left; "f" grows the last partition and its ext4 (the
# drive passes sgdisk -v and e2fsck -fn), "e" writes the image unchanged;
# a cancelled flash on a drive that held a GPT leaves nothing that looks
# partitioned.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img qemu-io sfdisk sgdisk blkid e2fsck
need_fault_dev

MiB=$((1 << 20))
make_gpt_disk "$T/disk.raw" 100M
qemu-img convert -O qcow2 "$T/disk.raw" "$T/disk.qcow2" || fail "convert"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
V=$(file_size "$T/ref.raw")

# A drive that held a GPT of its own.
rand_file "$T/drive.img" $((256 * MiB)) 3
sgdisk -n 1:0:0 -c 1:previous-owner "$T/drive.img" >/dev/null || fail "sgdisk"
loop_attach "$T/drive.img"
DRIVE=$LOOP

# to_confirm: from the image screen to the confirm screen with DRIVE
# selected; KEYS are pressed on the targets screen first.
to_confirm() {
	tui_wait "Partitions (GPT, 2)"
	tui_keys Enter
	tui_wait "Whole disk to one or more targets"
	tui_keys Enter
	tui_wait "$DRIVE "
	tui_cursor_to "$DRIVE "
	tui_keys Space
	tui_wait "Selected: 1"
	for k in "$@"; do
		tui_keys "$k"
	done
	tui_keys Enter
	tui_wait "Type yes and press Enter"
}

# ------------------------------------------------------------- grow
tui_start -- --color=never --log "$T/flash.log" "$T/disk.qcow2"
to_confirm f
tui_wait "will adjust: backup GPT moved to the end of the drive"
tui_wait "partition 2 grown"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_keys q
tui_expect_exit 0
sgdisk -v "$DRIVE" | grep -q 'No problems found' || fail "sgdisk -v: $(sgdisk -v "$DRIVE")"
r=$(part_range "$DRIVE" 2)
[ $((${r% *} + ${r#* })) = $((255 * MiB)) ] || fail "partition 2 was not grown: $r"
loop_attach "$DRIVE" -o "${r% *}" --sizelimit "${r#* }"
e2fsck -fn "$LOOP" >"$T/fsck.txt" 2>&1 || fail "e2fsck -fn: $(cat "$T/fsck.txt")"
losetup -d "$LOOP"
note "ok: f grows the last partition and its filesystem"

# ------------------------------------------------------------ exact
tui_start -- --color=never "$T/disk.qcow2"
to_confirm e
tui_wait "left as they are"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_keys q
tui_expect_exit 0
cmp -s -n "$V" "$DRIVE" "$T/ref.raw" || fail "e: the image was not written unchanged"
note "ok: e writes the image unchanged"

# ------------------------------------------------- cancel mid-flash
qio "$T/disk.qcow2" "write -P 0x5a 70M 24M"
rand_file "$T/slow.backing" $((128 * MiB)) 4
sgdisk -n 1:0:0 -c 1:previous-owner "$T/slow.backing" >/dev/null || fail "sgdisk"
fault_dev slow $((128 * MiB)) --write-rate 12M
DRIVE=$FAULT_DEV
tui_start -- --color=never "$T/disk.qcow2"
to_confirm
tui_type yes
tui_keys Enter
for ((i = 0; i < 500; i++)); do
	[ "$(fault_get bytes_written)" -ge $((8 * MiB)) ] && break
	sleep 0.02
done
tui_keys c
tui_wait "Cancel the flash? (y/n)"
tui_keys y
# The done screen: a target row says "cancelled" while the job still
# winds down, and a q then would only ask whether to cancel it.
tui_wait "The flash was cancelled" 60
tui_keys q
tui_expect_exit 0
blkid -p "$DRIVE" >"$T/blkid.txt" 2>&1
grep -q PTTYPE "$T/blkid.txt" && fail "after cancel the drive looks partitioned: $(cat "$T/blkid.txt")"
sgdisk -p "$DRIVE" 2>&1 | grep -q previous-owner && fail "after cancel the old GPT is back"
note "ok: a cancelled flash leaves no partition table"

exit 0
