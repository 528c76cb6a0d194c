#!/bin/bash
# source.sh - without an IMAGE argument the source screen browses the
# current directory (directories and image files only), filters by typing
# '/', shows an image that cannot be opened in a dialog without exiting,
# and opens a path typed on the path line (where ~ is the home
# directory); Esc on the image screen comes back to the browser.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

b=$T/browse
mkdir -p "$b/sub"
two_part_image "$T/disk.raw" "$b/good.qcow2"
rm -f "$T/disk.raw"
echo "not an image" >"$b/bad.qcow2"
echo "notes" >"$b/notes.txt"
truncate -s 1M "$b/sub/inner.raw"
mkdir -p "$T/home/imgs"
cp "$b/good.qcow2" "$T/home/imgs/mine.qcow2"

TUI_CWD=$b tui_start HOME="$T/home" -- --log "$T/flash.log"
tui_wait "Choose an image"
tui_wait "good.qcow2"
tui_wait "bad.qcow2"
tui_wait "sub/"
tui_screen | grep -q "notes.txt" && fail "a non-image file is listed"

# Filter, then open the broken image: an error dialog, not an exit.
tui_keys /
tui_type bad
tui_wait "(filter: bad)"
tui_wait_gone "good.qcow2"
tui_keys Enter Enter
tui_wait "Cannot open the image"
tui_wait "bad.qcow2"
tui_keys Enter
tui_wait_gone "Cannot open the image"
tui_wait "Choose an image"

# Esc clears the filter; directories can be entered and left.
tui_keys Escape
tui_wait "good.qcow2"
tui_keys /
tui_type sub
tui_keys Enter Enter
tui_wait "inner.raw"
tui_keys BSpace
tui_wait "good.qcow2"

# The path line.
tui_keys Tab
tui_type "$b/good.qcow2"
tui_keys Enter
tui_wait "Partitions (GPT, 2)"
tui_keys Escape
tui_wait "Choose an image"

# ~ on the path line: a directory, then an image in it.
tui_keys Tab
tui_keys C-u
tui_type "~/imgs"
tui_keys Enter
tui_wait "mine.qcow2"
tui_wait "$T/home/imgs"
tui_keys Tab
tui_keys C-u
tui_type "~/imgs/mine.qcow2"
tui_keys Enter
tui_wait "Partitions (GPT, 2)"
tui_wait "mine.qcow2"
tui_keys Escape
tui_wait "Choose an image"
tui_keys q
tui_expect_exit 0
note "source screen browses, filters, reports errors, opens paths"
