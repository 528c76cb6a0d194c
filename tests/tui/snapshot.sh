#!/bin/bash
# snapshot.sh - the image screen lists internal snapshots; picking one with
# Space reopens the image at that snapshot, and the flash writes the
# snapshot's state (as qemu-img convert -l snapshot.name=... does).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img qemu-io

img=$T/snap.qcow2
mkq "$img" 16M
qio "$img" "write -P 0x11 0 1M"
qemu-img snapshot -c first "$img" || fail "snapshot first"
qio "$img" "write -P 0x22 512K 2M"
qemu-img snapshot -c second "$img" || fail "snapshot second"
qio "$img" "write -P 0x33 4M 1M"
ref_raw "$img" "$T/ref.raw" -l snapshot.name=second
ref_raw "$img" "$T/active.raw"
cmp -s "$T/ref.raw" "$T/active.raw" && fail "test setup: snapshot equals the active state"

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$img"
tui_wait "Snapshots (2)"
tui_wait "Flashing:     the current state"
# Focus starts on the header (no partition table): Tab twice reaches the
# snapshots; the rows are the current state, first, second.
tui_keys Tab Tab Down Down Space
tui_wait "Flashing:     snapshot second (ID 2)"
tui_wait "(*) ID 2"
tui_select_whole_disk 1
tui_wait "$T/out.img"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 30
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/ref.raw"
note "the picked snapshot was flashed"
