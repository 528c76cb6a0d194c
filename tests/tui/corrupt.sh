#!/bin/bash
# corrupt.sh - an image whose corrupt bit is set (a backing layer's too)
# is not opened without asking: the TUI asks whether to open it anyway,
# and names no command-line option it does not have.  "n" leaves it
# unopened; "y" opens it, shows it as CORRUPT, and the flash gives the
# image's bytes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img qemu-io python3

mkq "$T/base.qcow2" 32M
qio "$T/base.qcow2" "write -P 0x5b 0 1M"
mkq "$T/top.qcow2" "" -b "$T/base.qcow2" -F qcow2
qio "$T/top.qcow2" "write -P 0x7c 4M 1M"
ref_raw "$T/top.qcow2" "$T/ref.raw"
cp "$T/top.qcow2" "$T/bad.qcow2"
qcow2 "$T/bad.qcow2" set incompatible_features 2
# The same below the top: the base is the corrupt one.
mkq "$T/over.qcow2" "" -b "$T/bad.qcow2" -F qcow2

# no_flag: nothing on the screen tells to use an option qflash-tui lacks.
no_flag() {
	if tui_screen | grep -q -- '-force'; then
		tui_screen | sed 's/^/#   | /' >&2
		fail "the screen mentions -force"
	fi
}

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/bad.qcow2"
tui_wait "bad.qcow2: image is marked corrupt"
tui_wait "Open it anyway? (y/n)"
no_flag
tui_keys n
tui_wait_gone "Open it anyway?"
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0

# A corrupt backing layer is asked about by its name.
tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/over.qcow2"
tui_wait "bad.qcow2: image is marked corrupt"
tui_wait "Open it anyway? (y/n)"
tui_keys y
tui_wait "Backing chain (3)"
tui_wait "bad.qcow2: image is marked corrupt; reading it anyway"
no_flag
tui_keys q
tui_expect_exit 0

tui_start -- --target "$T/out.img" --log "$T/flash.log" "$T/bad.qcow2"
tui_wait "Open it anyway? (y/n)"
tui_keys y
tui_wait "CORRUPT (marked by its writer)"
no_flag
tui_flash_one
same "$T/out.img" "$T/ref.raw"
note "a corrupt image opens only when the user says so, and flashes"
