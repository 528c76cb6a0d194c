#!/bin/bash
# hints.sh - the hint line offers only keys that work where the keys go
# now: "pick snapshot" only in the snapshots pane, no single-letter keys
# while typing a path or a filter.  Esc goes back from the image screen
# (to the browser, also for an image given as argument) and from the
# done screen (to the targets, the selection kept); q on the done screen
# quits without asking, and the help says so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

two_part_image "$T/disk.raw" "$T/disk.qcow2"
qemu-img snapshot -c before "$T/disk.qcow2" || fail "qemu-img snapshot"
ref_raw "$T/disk.qcow2" "$T/ref.raw"

hints() {
	tui_screen | tail -n 1
}
# offered WHAT TEXT / not_offered WHAT TEXT: on the hint line or not.
offered() {
	sleep 0.2
	hints | grep -qF -- "$2" || fail "$1: \"$2\" not offered: $(hints)"
}
not_offered() {
	sleep 0.2
	hints | grep -qF -- "$2" && fail "$1: \"$2\" offered: $(hints)"
	return 0
}

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
tui_wait "Snapshots (1)"
# Focus starts on the partitions: Space does nothing there.
not_offered "partitions pane" "pick snapshot"
offered "partitions pane" "Tab pane"
tui_keys Tab Tab Tab           # header, chain, snapshots
offered "snapshots pane" "Space pick snapshot"
tui_keys Tab
not_offered "back on the partitions" "pick snapshot"

# Esc: to the browser, although the image came as an argument.
tui_keys Escape
tui_wait "Path or URL:"
offered "file list" "q quit"
offered "file list" "/ filter"
tui_keys Tab
not_offered "path line" "q quit"
not_offered "path line" "/ filter"
not_offered "path line" "? help"
offered "path line" "Enter open"
tui_keys Tab
tui_keys /
tui_wait "Filter:"
offered "filter" "Enter keep filter"
offered "filter" "Esc clear filter"
not_offered "filter" "q quit"
tui_keys Escape
tui_wait_gone "Filter:"
tui_keys Tab
tui_type "$T/disk.qcow2"
tui_keys Enter
tui_wait "Partitions (GPT, 2)"

tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
offered "done screen" "Esc back"
tui_keys '?'
tui_wait "Back to the targets, with the same ones still selected"
tui_wait "Quit at once: nothing runs any more"
tui_keys x
tui_wait_gone "Quit at once"
# Esc: back to the targets, the target still selected.
tui_keys Escape
tui_wait "Selected: 1"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
# q quits at once: nothing runs.
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/ref.raw"
note "hints match the keys that work; Esc goes back; q quits the done screen"
