#!/bin/bash
# target_reasons.sh - (root) the targets screen gives every reason a
# device cannot be selected, not just the first: a mounted device that is
# also too small says both; sizes in one reason share a unit fine enough
# to tell them apart.  A disk and its own partition cannot both be
# selected (the flash would find the second busy, held by itself).  A
# device holding a backing layer of the image is refused, named.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk mkfs.ext4 mount umount
need_root_loop

two_part_image "$T/disk.raw" "$T/disk.qcow2"     # a 96 MiB disk
truncate -s 8M "$T/mounted.img"
mkfs.ext4 -q -F "$T/mounted.img" || fail "mkfs.ext4 failed"
loop_attach "$T/mounted.img"
mounted=$LOOP
mkdir "$T/mnt"
mount "$mounted" "$T/mnt" || skip "cannot mount a loop device here"
on_exit "umount '$T/mnt'"
truncate -s $((96 * 1024 * 1024 - 512)) "$T/short.img"
loop_attach "$T/short.img"
short=$LOOP
truncate -s 64M "$T/pdisk.img"
sfdisk -q "$T/pdisk.img" >/dev/null <<'EOT' || fail "sfdisk failed"
label: gpt
start=2048, size=49152, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
start=51200, size=49152, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOT
loop_attach "$T/pdisk.img" -P
pd=$LOOP
# Kernels without GPT support scan nothing: partx adds them itself.
partx -u "$pd" >/dev/null 2>&1
for _ in $(seq 50); do
	[ -b "${pd}p1" ] && break
	sleep 0.1
done
[ -b "${pd}p1" ] || skip "no partition node ${pd}p1 appeared"

tui_start -- --color=never --log "$T/flash.log" "$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "$mounted "
tui_wait "mounted at $T/mnt; too small: 8.0 MiB, needs 96.0 MiB"
tui_cursor_to "$mounted "
tui_keys Space
tui_wait "$mounted cannot be selected: mounted at $T/mnt; too small"
# 512 bytes short: "96.0 MiB, needs 96.0 MiB" would say nothing.
tui_wait "$short "
tui_wait "too small: 98303.5 KiB, needs 98304.0 KiB"

# Partition mode lists disks with their partitions.
tui_keys Escape
tui_wait "Map partitions to targets"
tui_keys Down Enter
tui_wait "${pd}p1 "
tui_cursor_to "$pd "
tui_keys Space
tui_wait "Selected: 1"
tui_cursor_to "${pd}p1 "
tui_keys Space
tui_wait "${pd}p1 cannot be selected: it is a partition of $pd, which is also selected"
tui_wait "Selected: 1"
# The other way round.
tui_cursor_to "$pd "
tui_keys Space
tui_wait "Selected: 0"
tui_cursor_to "${pd}p2 "
tui_keys Space
tui_wait "Selected: 1"
tui_cursor_to "$pd "
tui_keys Space
tui_wait "$pd cannot be selected: its partition ${pd}p2 is also selected"
tui_wait "Selected: 1"
# Two partitions of one disk are fine.
tui_cursor_to "${pd}p1 "
tui_keys Space
tui_wait "Selected: 2"
tui_keys q
tui_expect_exit 0

# The image's base is a loop device, its overlay a file elsewhere.
truncate -s 96M "$T/base.img"
loop_attach "$T/base.img"
base=$LOOP
mkq "$T/over.qcow2" "" -b "$base" -F raw
tui_start -- --color=never --log "$T/flash.log" "$T/over.qcow2"
tui_wait "Backing chain (2)"
tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "$base "
tui_wait "holds a layer of the image: $base"
tui_cursor_to "$base "
tui_keys Space
tui_wait "$base cannot be selected: holds a layer of the image: $base"
tui_keys q
tui_expect_exit 0
note "every reason shown, in units that tell the sizes apart; no disk next to its partition; no layer overwritten"
