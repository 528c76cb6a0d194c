#!/bin/bash
# small_device.sh - (root) a block device smaller than the image is listed
# greyed (dim) with "too small" and its size, cannot be selected, and the
# highlight starts on the first selectable entry.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk
need_root_loop

two_part_image "$T/disk.raw" "$T/disk.qcow2"
truncate -s 8M "$T/small.img"
loop_attach "$T/small.img"
small=$LOOP

tui_start -- --color=never --target "$T/out.img" --log "$T/flash.log" \
	"$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "$small "
tui_wait "too small: 8.0 MiB, needs 96.0 MiB"
line=$(tui_line_attrs "$small ")
has_sgr "$line" 2 || fail "$small is not greyed: $(printf '%q' "$line")"
line=$(tui_line_attrs "too small: 8.0 MiB")
has_sgr "$line" 2 || fail "the reason is not greyed"
# The highlight starts on the first selectable entry, the --target file.
line=$(tui_line_attrs "$T/out.img")
has_sgr "$line" 7 || fail "the highlight does not start on $T/out.img"

tui_cursor_to "$small "
tui_keys Space
tui_wait "$small cannot be selected: too small"
tui_wait "Selected: 0"
tui_keys Enter
tui_wait "Select at least one target with Space first."
tui_keys q
tui_expect_exit 0
note "a too small device is greyed and cannot be selected"
