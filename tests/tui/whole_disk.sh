#!/bin/bash
# whole_disk.sh - the whole-disk key path (Enter, Enter, Space, Enter, yes
# Enter) writes a GPT image to a --target file that did not exist; the file
# is byte-identical to qemu-img convert -O raw, the log records it, and q
# quits with status 0.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

make_gpt_disk "$T/disk.raw" 160M
qemu-img convert -O qcow2 "$T/disk.raw" "$T/disk.qcow2" || fail "qemu-img convert"
ref_raw "$T/disk.qcow2" "$T/ref.raw"

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
# The image screen shows the header and the partition table.
tui_wait "qcow2 version 3"
tui_wait "EFI System"
# qemu-img convert compressed nothing: no compression type to show.
tui_screen | grep -E "Compression: +none" >/dev/null ||
	fail "the header does not say Compression: none"
tui_wait "Enter next"                     # the hint line
tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "$T/out.img"
tui_wait "new file, will be created"
tui_keys Space
tui_wait "Selected: 1"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_wait "$T/out.img"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_wait "OK, verified"
tui_wait "Flash log: $T/flash.log"
tui_keys q
tui_expect_exit 0

same "$T/out.img" "$T/ref.raw"
grep -q '"result":"ok"' "$T/flash.log" || fail "flash log has no ok result"
note "whole disk flashed and verified"
