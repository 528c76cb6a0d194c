#!/bin/bash
# failed.sh - (root) a target that runs out of space fails with its reason
# on the done screen while the other target of the same flash succeeds,
# and qflash-tui then exits with status 1.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk mount umount
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"

two_part_image "$T/disk.raw" "$T/disk.qcow2"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
mkdir "$T/full"
mount -t tmpfs -o size=2M tmpfs "$T/full" || skip "cannot mount tmpfs here"
on_exit "umount '$T/full'"

tui_start -- --target "$T/full/t.img" --target "$T/ok.img" \
	--log "$T/flash.log" "$T/disk.qcow2"
tui_select_whole_disk 2
tui_type yes
tui_keys Enter
tui_wait "The flash failed for 1 of 2 targets." 60
tui_wait "failed:"
tui_wait "No space left on device"
tui_wait "OK, verified"
tui_keys q
tui_expect_exit 1
same "$T/ok.img" "$T/ref.raw"
grep -q '"result":"failed"' "$T/flash.log" || fail "the failure is not logged"
note "a failed target is reported and sets exit status 1"
