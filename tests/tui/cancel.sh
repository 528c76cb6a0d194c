#!/bin/bash
# cancel.sh - a flash slowed down by a throttled local http source: q asks
# before quitting (n keeps flashing), c asks "Cancel the flash? (y/n)", y
# cancels, and the screens say which targets are incomplete.  Network
# bytes are shown while flashing from a URL.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img python3

slow_image 3 3000000

tui_start -- --target "$T/a.img" --target "$T/b.img" --log "$T/flash.log" "$HTTP_URL"
tui_wait "Backing chain"
tui_select_whole_disk 2
tui_wait "$T/a.img"
tui_wait "$T/b.img"
tui_type yes
tui_keys Enter
tui_wait "Phase: writing" 20
tui_wait "Network:"

tui_keys q
tui_wait "A flash is running. Cancel it and quit? (y/n)"
tui_keys n
tui_wait_gone "Cancel it and quit?"
tui_wait "Phase: writing"

tui_keys c
tui_wait "Cancel the flash? (y/n)"
tui_keys y
tui_wait "The flash was cancelled: 0 of 2 targets complete." 30
tui_wait "$T/a.img"
n=$(tui_screen | grep -c "cancelled: incomplete")
[ "$n" = 2 ] || fail "expected 2 incomplete targets on the done screen, saw $n"
tui_keys q
tui_expect_exit 0
grep -q '"result":"cancelled"' "$T/flash.log" ||
	note "(the flash log has no cancelled entry)"
note "cancelled mid-flash"
