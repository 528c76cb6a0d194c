#!/bin/bash
# flash_log.sh - a flash log that cannot be written is said so on the
# confirm screen, before anything is written, and a flash that cannot be
# recorded does not start; a log in a directory still to be made is fine,
# and checking it creates nothing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

two_part_image "$T/disk.raw" "$T/disk.qcow2"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
mkdir "$T/logdir"
echo "a file" >"$T/file"

# A directory as the log: refused by the check, and by the engine.
tui_start -- --target "$T/out.img" --log "$T/logdir" "$T/disk.qcow2"
tui_select_whole_disk 1
tui_wait "Flash log: $T/logdir: cannot open the flash log: Is a directory; the"
tui_wait "cannot be recorded, so it cannot start"
tui_type yes
tui_keys Enter
tui_wait "Nothing was written"
tui_keys Enter
tui_keys q
tui_expect_exit 0
[ -e "$T/out.img" ] && fail "a target was written without a flash log record"
[ -z "$(ls -A "$T/logdir")" ] || fail "something was written into $T/logdir"

# A log below a regular file.
rm -f "$T/out.img"
tui_start -- --target "$T/out.img" --log "$T/file/flash.log" "$T/disk.qcow2"
tui_select_whole_disk 1
tui_wait "Flash log: $T/file/flash.log: cannot open the flash log: Not a"
tui_keys Escape
tui_wait "Selected: 1"
tui_keys q
tui_expect_exit 0

# A log whose directories do not exist yet: fine, and not made early.
tui_start -- --target "$T/out.img" --log "$T/new/dir/flash.log" "$T/disk.qcow2"
tui_select_whole_disk 1
tui_wait "Flash log: $T/new/dir/flash.log"
tui_screen | grep -q "cannot open the flash log" && fail "a good log path is refused"
[ -e "$T/new" ] && fail "the check created $T/new"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_wait "Flash log: $T/new/dir/flash.log"
tui_keys q
tui_expect_exit 0
grep -q '"result":"ok"' "$T/new/dir/flash.log" || fail "the flash was not recorded"
note "an unwritable flash log is reported before and after the flash"
