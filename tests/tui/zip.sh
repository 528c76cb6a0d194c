#!/bin/bash
# zip.sh - a zip archive holding two disk images: the TUI lists them,
# the one picked opens (its partitions shown) and flashes byte for byte.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd sfdisk python3

make_gpt_disk "$T/disk.img" 128M
rand_file "$T/blob.img" $((2 << 20)) 3
echo "Flash disk.img." >"$T/README.txt"
python3 - "$T/two.zip" "$T/blob.img" "$T/disk.img" "$T/README.txt" <<'PY' || fail "zip"
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for f in sys.argv[2:]:
        z.write(f, os.path.basename(f))
PY

tui_start -- --target "$T/out.img" "$T/two.zip"
tui_wait "Which image of the archive?"
tui_wait "blob.img"
tui_wait "disk.img"
tui_screen | grep -q "README.txt" && fail "the papers are offered as an image"
tui_keys Down Enter
tui_wait "Partitions (GPT, 2)"
tui_wait "zip"
tui_flash_one
same "$T/out.img" "$T/disk.img"
note "ok: the image picked from a zip with two is flashed"

# Esc on the list leaves the archive unopened.
tui_start -- --target "$T/out.img" "$T/two.zip"
tui_wait "Which image of the archive?"
tui_keys Escape
tui_wait_gone "Which image of the archive?"
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0
note "ok: Esc leaves the archive unopened"
