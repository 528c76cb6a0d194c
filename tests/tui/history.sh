#!/bin/bash
# history.sh - the flash history screen: H on the source screen lists the
# flash log's records newest first (result, drive by model and serial or
# by path, image) with today's counts and the highlighted flash's
# details; r reads the log again, Esc goes back.  H on the done screen
# shows the flash just made at the top.  A missing log is said so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img qemu-io
export TZ=UTC

LOG=$T/flash.log
mkq "$T/disk.qcow2" 16M
qio "$T/disk.qcow2" "write -P 0x5a 0 4M"
# Today: a failed flash (a wrong checksum), a station's pass and a flash
# that never ended; an old pass; a damaged line.
run_q -src "$T/disk.qcow2" -dst "$T/bad.img" -log "$LOG" -sha256 "$(printf '%064d' 0)"
[ "$RC" = 1 ] || fail "a wrong checksum: exit $RC, want 1"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
FLEET=/srv/images/fleet-2025.img.xz
{
	echo "{\"time\":\"2025-06-01T10:00:00Z\",\"image\":\"/srv/images/old.img\",\"target\":\"/dev/sdp\",\"model\":\"Old Disk\",\"serial\":\"OLD-1\",\"target_size\":8000000000,\"result\":\"ok\",\"verify\":\"ok\",\"error\":\"\"}"
	echo "{\"time\":\"$NOW\",\"image\":\"$FLEET\",\"target\":\"/dev/sdq\",\"model\":\"WD Blue\",\"serial\":\"WD-123456\",\"target_size\":500107862016,\"result\":\"started\"}"
	echo "{\"time\":\"$NOW\",\"image\":\"$FLEET\",\"target\":\"/dev/sdq\",\"model\":\"WD Blue\",\"serial\":\"WD-123456\",\"wwn\":\"0x50014ee2b1c2d3e4\",\"target_size\":500107862016,\"result\":\"ok\",\"verify\":\"ok\",\"error\":\"\",\"station\":\"bench-2\",\"slot\":4,\"operator\":\"ann\"}"
	echo '{"time":"2025-06-01T10:00:00Z","target":"/dev/sdx","resu'
	echo "{\"time\":\"$NOW\",\"image\":\"$FLEET\",\"target\":\"/dev/sdr\",\"model\":\"Kingston\",\"serial\":\"KS-9\",\"result\":\"started\"}"
} >>"$LOG"

# line_of TEXT: the screen line number holding TEXT.
line_of() {
	tui_screen | grep -nF -- "$1" | head -n 1 | cut -d: -f1
}
# on_row TEXT WORD...: the screen line holding TEXT has every WORD.
on_row() {
	local l
	l=$(tui_screen | grep -F -- "$1" | head -n 1)
	[ -n "$l" ] || { tui_screen | sed 's/^/#   | /' >&2; fail "no row with \"$1\""; }
	shift
	for w in "$@"; do
		grep -qF -- "$w" <<<"$l" || fail "the row \"$l\" has no \"$w\""
	done
}

tui_start -- --color=never --log "$LOG" --target "$T/out.img"
tui_wait "Path or URL:"
tui_wait "H history"
tui_keys H
tui_wait "Flash history"
tui_wait "Flash log: $LOG"
tui_wait "Today: 1 passed, 1 failed, 1 interrupted"
tui_wait "4 flashes in the log; 1 damaged line skipped"
on_row "WD Blue WD-123456" passed "465.8 GiB" fleet-2025.img.xz
on_row "Kingston KS-9" interrupted fleet-2025.img.xz
on_row "bad.img" failed "16.0 MiB" disk.qcow2
on_row "Old Disk OLD-1" passed old.img
on_row "2025-06-01 10:00:00" passed
# Newest first: the old flash last.
[ "$(line_of OLD-1)" -gt "$(line_of KS-9)" ] && [ "$(line_of OLD-1)" -gt "$(line_of bad.img)" ] ||
	fail "not newest first: $(tui_screen)"
# The details of the highlighted flash: the newest, then the old one.
tui_keys End
tui_wait "Target: /dev/sdp   Serial: OLD-1"
tui_wait "Image: /srv/images/old.img"
tui_cursor_to "WD-123456"
tui_wait "WWN: 0x50014ee2b1c2d3e4"
tui_wait "Station: bench-2   Slot: 4   Operator: ann"
tui_cursor_to "bad.img"
tui_wait "the SHA-256 of the image file is"
tui_keys "?"
tui_wait "Read the flash log again"
tui_keys Space
tui_wait_gone "Read the flash log again"

# r: the log read again, with what was added meanwhile.
echo "{\"time\":\"$NOW\",\"image\":\"$FLEET\",\"target\":\"/dev/sdv\",\"model\":\"Samsung\",\"serial\":\"NEW-7\",\"result\":\"ok\"}" >>"$LOG"
tui_keys r
tui_wait "Samsung NEW-7"
tui_wait "Today: 2 passed, 1 failed, 1 interrupted"

tui_keys Escape
tui_wait "Choose an image"
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0
note "ok: the history from the source screen"

# From the done screen: the flash just made, on top.
tui_start -- --color=never --log "$LOG" --target "$T/out.img" "$T/disk.qcow2"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_wait "H history"
tui_keys H
tui_wait "Today: 3 passed, 1 failed, 1 interrupted"
on_row "out.img" passed disk.qcow2
[ "$(line_of out.img)" -lt "$(line_of NEW-7)" ] || fail "the new flash is not on top"
tui_wait "Target: $T/out.img"
tui_keys Escape
tui_wait "Flash complete: 1 of 1 targets OK."
tui_keys q
tui_expect_exit 0
note "ok: the history from the done screen"

# A log that does not exist.
tui_start -- --log "$T/none.log"
tui_wait "Path or URL:"
tui_keys H
tui_wait "$T/none.log: cannot read the flash log: No such file or directory"
tui_keys Escape
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0
note "ok: a missing log"
exit 0
