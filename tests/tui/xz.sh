#!/bin/bash
# xz.sh - an .img.xz in the TUI, as a technician meets one: the file
# browser lists it, the image screen names the format with the file's
# and the disk's sizes and every partition's filesystem and label (the
# ext4 one lies far past the head of the stream), and the flash writes
# the disk byte for byte.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd sfdisk xz

make_gpt_disk "$T/disk.img" 128M
mkdir -p "$T/imgs"
xz -T2 -1 --block-size=8MiB -c "$T/disk.img" >"$T/imgs/disk.img.xz" || fail "xz"
echo "notes" >"$T/imgs/notes.txt"

TUI_CWD=$T/imgs tui_start -- --target "$T/out.img"
tui_wait "Choose an image"
tui_wait "disk.img.xz"
tui_screen | grep -q "notes.txt" && fail "a non-image file is listed"
tui_keys /
tui_type disk
tui_wait "(filter: disk)"
tui_keys Enter Enter
tui_wait "Partitions (GPT, 2)"
scr=$(tui_screen)
grep -q "Format: *xz" <<<"$scr" || fail "the format is not shown: $scr"
grep -q "Virtual size: *128.0 MiB (134217728 bytes)" <<<"$scr" ||
	fail "the disk's size is not shown: $scr"
kib=$(awk -v n="$(file_size "$T/imgs/disk.img.xz")" 'BEGIN { printf "%.1f KiB", n / 1024 }')
grep -q "File size: *$kib" <<<"$scr" || fail "the file's size ($kib) is not shown: $scr"
grep -q "vfat.*EFI\|EFI.*vfat" <<<"$scr" || fail "partition 1's filesystem is not shown: $scr"
grep -q "ext4.*rootfs\|rootfs.*ext4" <<<"$scr" || fail "partition 2's filesystem is not shown: $scr"
note "ok: browser, format, sizes and filesystems of an .img.xz"

tui_flash_one
same "$T/out.img" "$T/disk.img"
note "ok: the .img.xz flashed from the TUI byte for byte"
exit 0
