#!/bin/bash
# remote.sh - a local image whose backing file is on a server: the TUI
# asks before reading from a server the image chose; "n" opens nothing,
# "y" opens the image.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img qemu-io python3

truncate -s 16M "$T/base.raw"
qemu-img convert -O qcow2 "$T/base.raw" "$T/base.qcow2" || fail "convert"
slow_http "$T/base.qcow2" 200000000
qemu-img create -q -f qcow2 -u -b "$HTTP_URL" -F qcow2 "$T/local.qcow2" 16M ||
	fail "qemu-img create"

tui_start -- "$T/local.qcow2"
tui_wait "Read it from there"
tui_wait "refers to a file on the"
tui_keys n
tui_wait_gone "Read it from there"
tui_keys q
tui_exit
note "ok: the question comes first, n opens nothing"

tui_start -- "$T/local.qcow2"
tui_wait "Read it from there"
tui_keys y
tui_wait "16.0 MiB" 30
tui_wait "Backing chain (2)"
tui_keys q
tui_exit
note "ok: y opens the image over its remote backing file"
exit 0
