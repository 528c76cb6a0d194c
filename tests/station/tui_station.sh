#!/bin/bash
# tui_station.sh - qflash-tui's station like a technician at a bench: two
# slots armed (one holding a drive, one whose drive is plugged in while
# arming), with the media test on; drives plugged in over time give
# PASS, FAIL "fake capacity" and FAIL with the write error, with the tiles'
# counters and the certificates right; a bystander is not touched.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img python3 sfdisk blkid cmp
. "$top_srcdir/tests/station/stationlib.sh"
need_fault_dev

MiB=$((1 << 20))
station_image

slot_new; A=$SLOT
slot_new; B=$SLOT
# The TUI goes before the slots it holds open.
on_exit "tmux -L '$TUI_SOCK' kill-server; sleep 0.5"
loop_file bystander $((64 * MiB)) 8
truncate -s 100M "$T/a1.img" "$T/b1.img"
slot_insert "$A" "$T/a1.img"

tui_start -- --color=never --log "$T/flash.log" "$T/disk.qcow2"
tui_pick_first_slot "$A"
# A drive plugged in while arming shows up to be picked.  (Only a
# removable one picks its slot by itself: loop devices are not.)
slot_insert "$B" "$T/b1.img"
# (The list may be longer than the screen: other tests' loop devices.)
for ((i = 0; i < 50; i++)); do
	tui_keys End
	sleep 0.2
	tui_screen | grep -qF "/dev/$B " && break
done
tui_cursor_to "/dev/$B "
tui_keys Space
tui_wait "Picked: 2"
tui_keys t
tui_wait "media tested first (t)"
tui_keys Enter
tui_wait "to EVERY drive plugged into"
tui_wait "Type yes and press Enter"
tui_type yes
tui_keys Enter
tui_wait "Armed: disk.qcow2"
# Both drives in the slots when it was armed are flashed at once.
tui_wait "copies: 2, failed: 0" 60
same "$T/ref.raw" "$T/a1.img"
same "$T/ref.raw" "$T/b1.img"
note "two slots armed; the drives in them passed"

# A fake-capacity card: claims 1 GiB, holds 64 MiB.
slot_eject "$A"
fault_media fake 1G --real-size 64M
slot_insert_fault "$A" fake
tui_wait "copies: 2, failed: 1" 60
tui_wait "fake capacity" 5
note "a fake card failed: $(tui_screen | grep -o 'Last: FAIL.*' | head -n 1)"

# A card that fails writes.
slot_eject "$B"
wait_gone=0
fault_media eio 128M --eio-write-at $((60 * MiB)):65536
slot_insert_fault "$B" eio
tui_wait "copies: 2, failed: 2" 60
# The media test finds the bad stretch when one of its probes lands in
# it (its reason, "writes fail at byte ...", then fills the tile's two
# lines); otherwise the flash itself fails with the device's EIO.
for ((i = 0; i < 50; i++)); do
	tui_screen | grep -qE 'Input/output error|writes fail at byte' && break
	sleep 0.1
done
tui_screen | grep -qE 'Input/output error|writes fail at byte' ||
	fail "the failing card's tile gives no write error"
no_layout "/dev/$B"
tui_screen | sed 's/^/#   | /'

# Counters per tile, certificates, the flash log.
[ "$(ls "$T/certificates" | wc -l)" = 4 ] || fail "certificates: $(ls "$T/certificates")"
grep -l "Result: *FAIL" "$T/certificates"/* | xargs grep -l "fake capacity" >/dev/null ||
	fail "no FAIL certificate naming the fake capacity"
same "$T/bystander.orig" "$T/bystander.img"

# Quitting asks while armed; the slots are kept for the next start.
tui_keys q
tui_wait "The station is armed. Disarm it and quit?"
tui_keys y
tui_expect_exit 0
grep -qx "$A" "$T/station-slots" && grep -qx "$B" "$T/station-slots" ||
	fail "the slots were not saved: $(cat "$T/station-slots")"
