#!/bin/bash
# catalog.sh - qflash-tui --catalog URL: the source screen lists the
# site's images as a tree with sizes, release dates and which ones the
# cache holds; the malformed entry is counted on the message line and
# named with m; a folder folds with Space; Enter opens an image with the
# catalog's SHA-256s (the file's and the disk's), and the flash is
# checked against them (a wrong one fails in red, leaving no table).  With the server gone, the catalog and
# the cached image come from the cache, and the screen says so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sha256sum cmp
export XDG_CACHE_HOME=$T/xdg
mkdir -p "$XDG_CACHE_HOME"

make_gpt_disk "$T/disk.img" 96M
start_nginx
mkdir -p "$WWW/site/img"
qemu-img convert -q -c -f raw -O qcow2 "$T/disk.img" "$WWW/site/img/pos.qcow2" ||
	fail "qemu-img convert"
SUM=$(sha256sum "$WWW/site/img/pos.qcow2" | cut -c1-64)
SIZE=$(stat -c %s "$T/disk.img")
DISK=$(sha256sum "$T/disk.img" | cut -c1-64)
cat >"$WWW/site/catalog.json" <<EOF
{"os_list": [
 {"name": "Shops", "description": "What the shops run", "subitems": [
   {"name": "POS 2025", "description": "Point of sale, spring release",
    "url": "img/pos.qcow2", "extract_size": $SIZE,
    "image_download_sha256": "$SUM", "extract_sha256": "$DISK",
    "release_date": "2025-03-01"},
   {"name": "POS wrong sum", "url": "img/pos.qcow2",
    "image_download_sha256": "$(printf '%064d' 0)", "release_date": "2024-11-30"},
   {"name": "Broken", "url": "img/pos.qcow2", "release_date": "2025-13-01"}
 ]},
 {"name": "Kiosk", "url": "img/pos.qcow2"}
]}
EOF
CAT=$BASE/site/catalog.json

tui_start -- --color=never --catalog "$CAT" --target "$T/out.img"
tui_wait "Catalog $CAT"
tui_wait "The catalog leaves out 1 malformed entry (m: which and why)"
scr=$(tui_screen)
echo "$scr" | grep -Eq -- "- Shops/" || fail "the folder is not shown: $scr"
echo "$scr" | grep -Eq "^│   POS 2025 +96\.0 MiB +2025-03-01" ||
	fail "POS 2025 has not its size and date: $scr"
echo "$scr" | grep -q "Broken" && fail "the malformed entry is listed"
tui_keys m
tui_wait "Shops/Broken: release_date"
tui_keys Enter
tui_wait_gone "Entries the catalog leaves out"
note "ok: the tree with sizes and dates; the malformed entry counted and named"

# The folder folds and unfolds.
tui_cursor_to "Shops/"
tui_keys Space
tui_wait "+ Shops/"
tui_screen | grep -q "POS 2025" && fail "a folded folder still shows its images"
tui_keys Space
tui_wait "POS 2025"
note "ok: Space folds a folder"

# The image with the catalog's checksum: shown, flashed, checked.
tui_cursor_to "POS 2025"
tui_wait "Point of sale, spring release"
tui_wait "SHA-256 $SUM"
tui_keys Enter
tui_wait "SHA-256:      from catalog.json"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_wait "Checksum: the image matches the SHA-256 from catalog.json"
tui_wait "Checksum: the disk image matches its published SHA-256"
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/disk.img"
note "ok: picked from the catalog, flashed and checked against its SHA-256"

# The wrong checksum: the flash fails and leaves no table.
make_gpt_disk "$T/out.img" 96M
tui_start -- --color=never --catalog "$CAT" --target "$T/out.img"
tui_wait "POS wrong sum"
tui_cursor_to "POS wrong sum"
tui_keys Enter
tui_wait "SHA-256:      from catalog.json"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "The flash failed for 1 of 1 targets." 60
tui_wait "does NOT match the SHA-256 from catalog.json"
tui_keys q
tui_expect_exit 1
pt=$(blkid -p -s PTTYPE -o value "$T/out.img" 2>/dev/null || :)
[ -z "$pt" ] || fail "after the mismatch the target still has a $pt table"
note "ok: a wrong checksum in the catalog fails the flash, no table left"

# Into the cache (as a station would put it there), then offline.
"$QFLASH" -catalog "$CAT" -src "catalog:POS 2025" -dst "$T/x.img" \
	-cache "$XDG_CACHE_HOME/qflash" >/dev/null 2>"$T/cli.err" ||
	fail "the CLI's cached flash failed: $(cat "$T/cli.err")"
tui_start -- --color=never --catalog "$CAT" --target "$T/out.img"
tui_wait "POS 2025"
tui_screen | grep -Eq "POS 2025 .* cached" || fail "POS 2025 is not said cached: $(tui_screen)"
tui_keys q
tui_expect_exit 0
nginx_down nginx
rm -f "$T/out.img"
tui_start -- --color=never --catalog "$CAT" --target "$T/out.img"
tui_wait "offline: from the cache"
tui_cursor_to "POS 2025"
tui_keys Enter
tui_wait "SHA-256:      from catalog.json"
tui_wait "copy in the cache used"
tui_flash_one
same "$T/out.img" "$T/disk.img"
note "ok: offline, the catalog and its cached image come from the cache"
