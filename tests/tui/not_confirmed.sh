#!/bin/bash
# not_confirmed.sh - typing anything but "yes" at the confirmation goes
# back to the targets with "Not confirmed: nothing was written", and no
# target is touched: an existing one keeps its bytes, a missing one is not
# created.  Esc at the confirmation goes back the same way.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

two_part_image "$T/disk.raw" "$T/disk.qcow2"
rand_file "$T/keep.img" $((4 * 1024 * 1024)) 9
cp "$T/keep.img" "$T/keep.orig"

tui_start -- --target "$T/keep.img" --target "$T/new.img" --log "$T/flash.log" \
	"$T/disk.qcow2"
tui_select_whole_disk 2
tui_type no
tui_keys Enter
tui_wait "Not confirmed: nothing was written"
tui_wait "Choose targets for the whole disk"
# The selection is kept: going on again reaches the confirmation.
tui_wait "Selected: 2"
tui_keys Enter
tui_wait "Type yes and press Enter"
# "yesno" is not "yes" either.
tui_type yesno
tui_keys Enter
tui_wait "Not confirmed: nothing was written"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_keys Escape
tui_wait "Choose targets for the whole disk"
tui_keys q
tui_expect_exit 0

same "$T/keep.img" "$T/keep.orig"
[ -e "$T/new.img" ] && fail "new.img was created without confirmation"
[ -s "$T/flash.log" ] && fail "the flash log was written without a flash"
note "nothing written without a typed yes"
