#!/bin/bash
# signals.sh - SIGTERM, SIGHUP and SIGINT end qflash-tui with 143, 129 and
# 130, a running flash is cancelled first, and the terminal is given back
# (alternate screen off, cursor visible) on every one of these exits.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk python3

# restored: the TUI left the alternate screen and showed the cursor again.
restored() {
	local alt cur
	alt=$(tm display-message -p -t tui '#{alternate_on}')
	cur=$(tm display-message -p -t tui '#{cursor_flag}')
	[ "$alt" = 0 ] || fail "$1: still on the alternate screen"
	[ "$cur" = 1 ] || fail "$1: the cursor is still hidden"
}

two_part_image "$T/disk.raw" "$T/disk.qcow2"

for s in TERM:143 HUP:129; do
	tui_start -- --log "$T/flash.log" "$T/disk.qcow2"
	tui_wait "Partitions (GPT, 2)"
	[ "$(tm display-message -p -t tui '#{alternate_on}')" = 1 ] ||
		fail "qflash-tui does not use the alternate screen"
	kill -"${s%:*}" "$(cat "$T/tui.pid")"
	tui_expect_exit "${s#*:}"
	restored "SIG${s%:*}"
done

# SIGINT (Ctrl-C) in the middle of a flash: cancelled, then 130.
slow_image 6 3000000
tui_start -- --target "$T/a.img" --log "$T/flash.log" "$HTTP_URL"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Phase: writing" 20
tui_keys C-c
tui_expect_exit 130
restored "SIGINT"
grep -q '"result":"cancelled"' "$T/flash.log" ||
	fail "the interrupted flash is not logged as cancelled"
note "signals restore the terminal and set the exit status"
