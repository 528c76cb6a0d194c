#!/bin/bash
# loop_devices.sh - (root) loop devices are listed with their backing
# files; a mounted one is refused with the mount point; one attached while
# the TUI runs appears without a restart and can be flashed (its bytes
# then equal the image's).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk mkfs.ext4 mount umount
need_root_loop

two_part_image "$T/disk.raw" "$T/disk.qcow2"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
truncate -s 128M "$T/plain.img"
loop_attach "$T/plain.img"
plain=$LOOP
truncate -s 128M "$T/mounted.img"
mkfs.ext4 -q -F "$T/mounted.img" || fail "mkfs.ext4 failed"
loop_attach "$T/mounted.img"
mounted=$LOOP
mkdir "$T/mnt"
mount "$mounted" "$T/mnt" || skip "cannot mount a loop device here"
on_exit "umount '$T/mnt'"

tui_start -- --color=never --log "$T/flash.log" "$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "$plain "
tui_wait "plain.img"
tui_wait "mounted at $T/mnt"
# The details box under the list has the whole backing path.
tui_cursor_to "$plain "
tui_wait "Backing file: $T/plain.img"
line=$(tui_line_attrs "$mounted ")
has_sgr "$line" 2 || fail "the mounted $mounted is not greyed"
tui_cursor_to "$mounted "
tui_wait "Backing file: $T/mounted.img"
tui_keys Space
tui_wait "$mounted cannot be selected: mounted at $T/mnt"

# Hot-plug: a new loop device shows up by itself.
# the image's size, so the flash leaves exactly its bytes
truncate -s 96M "$T/hot.img"
loop_attach "$T/hot.img"
hot=$LOOP
tui_wait "$hot " 10
tui_cursor_to "$hot "
tui_wait "Backing file: $T/hot.img"
tui_keys Space
tui_wait "Selected: 1"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_wait "$hot "
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_keys q
tui_expect_exit 0
cmp -n "$(file_size "$T/ref.raw")" "$hot" "$T/ref.raw" ||
	fail "$hot does not hold the image"
note "loop devices listed, refused when mounted, hot-plugged and flashed"
