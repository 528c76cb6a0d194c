#!/bin/bash
# target_reasons.sh - (root) the targets screen gives every reason a
# device cannot be selected, not just the first: a mounted device that is
# also too small says both; sizes in one reason share a unit fine enough
# to tell them apart.
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
tui_keys q
tui_expect_exit 0
note "every reason shown, in units that tell the sizes apart"
