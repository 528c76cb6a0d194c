#!/bin/bash
# partitions.sh - partition mode: the two partitions of an image mapped
# onto two --target files through the map screen; each file holds exactly
# its partition's bytes, and a third target was never written.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

two_part_image "$T/disk.raw" "$T/disk.qcow2"
for n in 1 2; do
	extract_part "$T/disk.raw" $n "$T/ref$n.bin"
done

tui_start -- --target "$T/p1.img" --target "$T/p2.img" --target "$T/unused.img" \
	--log "$T/flash.log" "$T/disk.qcow2"
tui_wait "Partitions (GPT, 2)"
tui_keys Enter
tui_wait "Map partitions to targets"
tui_keys Down Enter
tui_wait "Choose targets for the partitions"
tui_wait "$T/unused.img"
tui_keys Space Down Space
tui_wait "Selected: 2"
tui_keys Enter
tui_wait "Image partitions"
tui_wait "Continue"
# Partition 1: open the picker, take the first offered target.
tui_keys Enter
tui_wait "Target for partition 1"
tui_keys Enter
tui_wait "→ $T/p1.img"
# Partition 2: p1.img is taken, so the picker offers p2.img first.
tui_keys Enter
tui_wait "Target for partition 2"
tui_screen | grep -q "( ) $T/p1.img" && fail "a used target is offered again"
tui_keys Enter
tui_wait "→ $T/p2.img"
tui_wait "(2 of 2 partitions mapped)"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_wait "Partition 1 (EFI System, 16.0 MiB)"
tui_wait "Partition 2 (Linux filesystem, 48.0 MiB)"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 2 of 2 targets OK." 60
tui_wait "partition 2 → $T/p2.img"
tui_keys q
tui_expect_exit 0

same "$T/p1.img" "$T/ref1.bin"
same "$T/p2.img" "$T/ref2.bin"
[ -e "$T/unused.img" ] && fail "the unselected target was created"
note "both partitions written to their own targets"
