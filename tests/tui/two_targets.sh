#!/bin/bash
# two_targets.sh - one flash to two targets at once (a new file and an
# existing larger file full of junk): both end byte-identical to the image,
# and the done screen shows each one verified.  Then the same with
# --no-verify, where the result must not claim verification.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

two_part_image "$T/disk.raw" "$T/disk.qcow2"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
rand_file "$T/b.img" $((120 * 1024 * 1024)) 5

tui_start -- --target "$T/a.img" --target "$T/b.img" --log "$T/flash.log" \
	"$T/disk.qcow2"
tui_wait "$T/disk.qcow2"
tui_select_whole_disk 2
tui_wait "Verification: on"
tui_wait "now: does not exist yet"
tui_wait "now: a file of 120.0 MiB"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 2 of 2 targets OK." 60
n=$(tui_screen | grep -c "OK, verified")
[ "$n" = 2 ] || fail "expected 2 verified targets on the done screen, saw $n"
tui_keys q
tui_expect_exit 0
same "$T/a.img" "$T/ref.raw"
same "$T/b.img" "$T/ref.raw"
[ "$(grep -c '"verify":"ok"' "$T/flash.log")" = 2 ] ||
	fail "the flash log does not show two verified targets"

rm -f "$T/a.img" "$T/b.img"
tui_start -- --no-verify --target "$T/a.img" --target "$T/b.img" \
	--log "$T/flash.log" "$T/disk.qcow2"
tui_select_whole_disk 2
tui_wait "Verification: off"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 2 of 2 targets OK." 60
tui_screen | grep -q "verified" && fail "--no-verify result claims verification"
tui_keys q
tui_expect_exit 0
same "$T/a.img" "$T/ref.raw"
same "$T/b.img" "$T/ref.raw"
note "two targets written at once, with and without verification"
