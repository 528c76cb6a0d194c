#!/bin/bash
# raw.sh - a raw disk image (no qcow2, gzip or zstd magic) is not guessed:
# the TUI asks whether to flash it as raw.  "n" leaves it unopened; "y"
# opens it, shows its partition table, and the flash is byte-identical.
# (A file named .qcow2 without the magic is an error, see source.sh.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd sfdisk

make_gpt_disk "$T/disk.img" 160M

tui_start -- --target "$T/out.img" "$T/disk.img"
tui_wait "raw disk image? (y/n)"
tui_keys n
tui_wait_gone "raw disk image? (y/n)"
# Declined: nothing is open, so the source screen is shown.
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/disk.img"
tui_wait "raw disk image? (y/n)"
tui_keys y
tui_wait "Partitions (GPT, 2)"
tui_wait "raw"
tui_flash_one

same "$T/out.img" "$T/disk.img"
note "a raw image is flashed after the user says it is raw"
