#!/bin/bash
# catalog.sh - -catalog reads a site's catalog of images (Raspberry Pi
# Imager's os_list JSON): -list prints the tree with sizes, dates and
# whether each image is cached, and says on stderr which entries are left
# out and why (the rest stays usable, exit 0); -json gives JSON lines;
# -src catalog:NAME (or FOLDER/NAME) flashes the entry byte for byte with
# the catalog's SHA-256 enforced, and a wrong one is refused before
# anything is written.  Then the same over http, with URLs relative to the
# catalog's, and the cached flag after a -cache flash; offline, the
# catalog and the cached image come from the cache, saying so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img zstd sha256sum python3 cmp blkid
# The default cache (which -list asks) in $T, never the user's.
export XDG_CACHE_HOME=$T/xdg
mkdir -p "$XDG_CACHE_HOME"

mkdir -p "$T/site/pos" "$T/site/kiosk"
mkraw "$T/disk.raw" 24
qemu-img convert -q -c -f raw -O qcow2 "$T/disk.raw" "$T/site/pos/pos.qcow2" ||
	fail "qemu-img convert"
ref_raw "$T/site/pos/pos.qcow2" "$T/ref.raw" -q
# Read from a pipe, zstd records no size: the image is read whole before
# anything is written, so a wrong checksum leaves the target untouched.
zstd -q -c <"$T/disk.raw" >"$T/site/kiosk/kiosk.img.zst" || fail "zstd"
POS=$(sha256sum "$T/site/pos/pos.qcow2" | cut -c1-64)
KIOSK=$(sha256sum "$T/site/kiosk/kiosk.img.zst" | cut -c1-64)
ZERO=$(printf '%064d' 0)
SIZE=$(stat -c %s "$T/disk.raw")

# catalog FILE PREFIX: a catalog whose image URLs start with PREFIX,
# with nested folders and malformed entries of every kind.
catalog() {
	local p=$2
	cat >"$1" <<EOF
{"os_list": [
 {"name": "Site images", "description": "What the shops run", "icon": "x.png",
  "subitems": [
   {"name": "POS 2025", "description": "Point of sale, spring release",
    "url": "${p}pos/pos.qcow2", "extract_size": $SIZE,
    "image_download_sha256": "$POS", "release_date": "2025-03-01"},
   {"name": "Kiosks", "subitems": [
     {"name": "Kiosk", "url": "${p}kiosk/kiosk.img.zst", "extract_size": $SIZE,
      "image_download_sha256": "$(echo "$KIOSK" | tr a-f A-F)",
      "release_date": "2024-02-29"},
     {"name": "Kiosk wrong sum", "url": "${p}kiosk/kiosk.img.zst",
      "image_download_sha256": "$ZERO"},
     {"name": "Bad sum", "url": "${p}kiosk/kiosk.img.zst",
      "image_download_sha256": "abc123"},
     {"name": "Bad date", "url": "${p}kiosk/kiosk.img.zst", "release_date": "2023-02-29"}
   ]},
   {"name": "POS 2025", "url": "${p}pos/pos.qcow2"},
   {"description": "no name", "url": "${p}pos/pos.qcow2"},
   {"name": "No url"},
   {"name": "Ftp", "url": "ftp://example.com/x.img"},
   {"name": "Negative", "url": "${p}pos/pos.qcow2", "extract_size": -1},
   {"name": "Fraction", "url": "${p}pos/pos.qcow2", "image_download_size": 1.5},
   {"name": "Text size", "url": "${p}pos/pos.qcow2", "extract_size": "100"},
   {"name": "D1", "subitems": [{"name": "D2", "subitems": [{"name": "D3", "subitems": [
    {"name": "D4", "subitems": [{"name": "D5", "subitems": [{"name": "D6", "subitems": [
    {"name": "D7", "subitems": [{"name": "D8", "subitems": [
     {"name": "Deep", "url": "${p}pos/pos.qcow2"}]}]}]}]}]}]}]}]}
  ]},
 {"name": "Rescue", "description": "Tools", "url": "${p}kiosk/kiosk.img.zst"},
 {"name": "Empty", "subitems": []},
 "not an entry"
]}
EOF
}

# The messages that -list must give for that catalog, in order.
cat >"$T/want.err" <<'EOF'
Site images/Kiosks/Bad sum: image_download_sha256 is not 64 hex digits
Site images/Kiosks/Bad date: release_date is not a date as YYYY-MM-DD
Site images/POS 2025: another entry before it has this name
Site images/#4: has no name
Site images/No url: has no url
Site images/Ftp: url is not an http(s) URL or a path
Site images/Negative: extract_size is negative
Site images/Fraction: image_download_size is not a whole number of bytes
Site images/Text size: extract_size is not a whole number of bytes
Site images/D1/D2/D3/D4/D5/D6/D7/D8: is nested deeper than 8 levels
#4: is not an object
EOF

# check_list NAME: -list of $CAT exits 0 with the tree and every message.
check_list() {
	run_ok -catalog "$CAT" -list
	sed -n "s|^qflash: $CAT: ||p" "$T/err.txt" >"$T/got.err"
	diff "$T/want.err" "$T/got.err" >&2 || fail "$1: not the messages wanted"
	[ "$(wc -l <"$T/err.txt")" = "$(wc -l <"$T/want.err")" ] ||
		fail "$1: more on stderr: $(cat "$T/err.txt")"
	head -n 1 "$T/out.txt" | grep -q '^NAME  *SIZE  *DATE  *CACHED  *DESCRIPTION$' ||
		fail "$1: no header: $(head -n 1 "$T/out.txt")"
	grep -q '^Site images/  .*What the shops run$' "$T/out.txt" ||
		fail "$1: no folder line"
	grep -q '^  POS 2025  .*24\.0 MiB  2025-03-01  .*Point of sale, spring release$' "$T/out.txt" ||
		fail "$1: no POS 2025 line: $(cat "$T/out.txt")"
	grep -q '^    Kiosk  .*2024-02-29' "$T/out.txt" || fail "$1: no nested Kiosk"
	grep -q '^              D7/' "$T/out.txt" || fail "$1: the 8th level is not shown"
	grep -q 'D8' "$T/out.txt" && fail "$1: an entry 9 deep is listed"
	[ "$(grep -c 'POS 2025' "$T/out.txt")" = 1 ] || fail "$1: the duplicate is listed"
	return 0
}

# ------------------------------------------------------------ local file
CAT=$T/site/catalog.json
catalog "$CAT" ""
note "-list of a local catalog"
check_list local
grep -q '^  POS 2025  .*  local  ' "$T/out.txt" || fail "a local image is not said local"

note "-json"
run_ok -catalog "$CAT" -list -json
python3 - "$T/out.txt" "$T/site" "$POS" "$KIOSK" "$SIZE" <<'PY' || fail "-json: $(cat "$T/out.txt")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ent = {l["path"]: l for l in lines if l["event"] == "entry"}
probs = [l["message"] for l in lines if l["event"] == "problem"]
site, pos, kiosk, size = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
assert ent["Site images"]["folder"] and ent["Site images"]["depth"] == 0
p = ent["Site images/POS 2025"]
assert p["url"] == site + "/pos/pos.qcow2", p
assert p["image_download_sha256"] == pos and p["extract_size"] == size, p
assert p["image_download_size"] is None and p["cached"] is False, p
k = ent["Site images/Kiosks/Kiosk"]
assert k["depth"] == 2 and k["image_download_sha256"] == kiosk, k
assert len(probs) == 11 and probs[0].startswith("Site images/Kiosks/Bad sum"), probs
assert "Site images/Kiosks/Bad sum" not in ent
PY

# flash SPEC: flashes catalog:SPEC to $T/out.raw, which must be the image.
flash() {
	rm -f "$T/out.raw"
	run_ok -catalog "$CAT" -src "catalog:$1" -dst "$T/out.raw" "${@:2}"
	cmp -s "$T/out.raw" "$T/ref.raw" || fail "catalog:$1: not the image's bytes"
	grep -q "matches its published SHA-256 (the catalog $CAT)" "$T/err.txt" ||
		fail "catalog:$1: the catalog's checksum was not checked: $(cat "$T/err.txt")"
}
note "flash catalog:NAME and catalog:FOLDER/NAME"
flash "POS 2025" -log "$T/flash.log"
grep -q "\"published_sha256\":\"$POS\"" "$T/flash.log" || fail "the log has not the catalog's checksum"
flash "Site images/Kiosks/Kiosk"
grep -q 'malformed' "$T/err.txt" && fail "a flash lists the catalog's problems"

note "a wrong checksum in the catalog is refused before anything is written"
head -c "$SIZE" /dev/zero | tr '\0' 'A' >"$T/out.raw"
cp "$T/out.raw" "$T/before.raw"
run_q -catalog "$CAT" -src "catalog:Kiosk wrong sum" -dst "$T/out.raw"
[ "$RC" = 1 ] || fail "wrong checksum: exit $RC, want 1"
grep -q "but the catalog $CAT says $ZERO: this is not the image that was published" "$T/err.txt" ||
	fail "wrong checksum: not said: $(cat "$T/err.txt")"
cmp -s "$T/out.raw" "$T/before.raw" || fail "wrong checksum: the target was written"

note "extract_sha256: the disk image's own checksum, for every kind of image"
# A disk with a GPT, so that a refused flash can be seen to leave none.
mkdir -p "$T/site/disk"
make_gpt_disk "$T/gpt.raw" 96M
zstd -q -c "$T/gpt.raw" >"$T/site/disk/gpt.img.zst" || fail "zstd"
qemu-img convert -q -c -f raw -O qcow2 "$T/gpt.raw" "$T/site/disk/gpt.qcow2" ||
	fail "qemu-img convert"
cp "$T/gpt.raw" "$T/site/disk/gpt.img"
DISK=$(sha256sum "$T/gpt.raw" | cut -c1-64)
GQ=$(sha256sum "$T/site/disk/gpt.qcow2" | cut -c1-64)
cat >"$T/site/disk.json" <<EOF
[{"name": "Zstd disk", "url": "disk/gpt.img.zst", "extract_sha256": "$DISK"},
 {"name": "Zstd disk wrong", "url": "disk/gpt.img.zst", "extract_sha256": "$ZERO"},
 {"name": "Qcow2 disk", "url": "disk/gpt.qcow2", "extract_sha256": "$DISK",
  "image_download_sha256": "$GQ"},
 {"name": "Qcow2 disk wrong", "url": "disk/gpt.qcow2", "extract_sha256": "$ZERO"},
 {"name": "Raw disk", "url": "disk/gpt.img", "extract_sha256": "$DISK"},
 {"name": "Raw disk wrong", "url": "disk/gpt.img", "extract_sha256": "$ZERO"}]
EOF
# fmt NAME: what a raw image is flashed with (raw is never guessed).
fmt() {
	case $1 in Raw*) echo "-format raw" ;; esac
}
for name in "Zstd disk" "Qcow2 disk" "Raw disk"; do
	rm -f "$T/out.raw"
	run_ok -catalog "$T/site/disk.json" -src "catalog:$name" -dst "$T/out.raw" \
		-log "$T/disk.log" $(fmt "$name")
	cmp -s "$T/out.raw" "$T/gpt.raw" || fail "catalog:$name: not the image's bytes"
	grep -q "the disk image matches its published SHA-256 (the catalog $T/site/disk.json)" "$T/err.txt" ||
		fail "catalog:$name: the disk checksum was not checked: $(cat "$T/err.txt")"
	tail -n 1 "$T/disk.log" | grep -q "\"disk_sha256\":\"$DISK\",\"disk_checksum_result\":\"ok\"" ||
		fail "catalog:$name: the log has not the disk checksum: $(tail -n 1 "$T/disk.log")"
done
for name in "Zstd disk wrong" "Qcow2 disk wrong" "Raw disk wrong"; do
	# Over a drive that held a GPT of its own: none may be left.
	cp "$T/gpt.raw" "$T/out.raw"
	run_q -catalog "$T/site/disk.json" -src "catalog:$name" -dst "$T/out.raw" \
		-log "$T/disk.log" $(fmt "$name")
	[ "$RC" = 1 ] || fail "catalog:$name: exit $RC, want 1"
	grep -q "the SHA-256 of the disk image is $DISK, but the catalog $T/site/disk.json says $ZERO: this is not the image that was published" "$T/err.txt" ||
		fail "catalog:$name: not said: $(cat "$T/err.txt")"
	pt=$(blkid -p -s PTTYPE -o value "$T/out.raw" 2>/dev/null || :)
	[ -z "$pt" ] || fail "catalog:$name: the refused target still has a $pt table"
	tail -n 1 "$T/disk.log" | grep -q '"disk_checksum_result":"mismatch"' ||
		fail "catalog:$name: the log has not the mismatch: $(tail -n 1 "$T/disk.log")"
done

note "names that do not pick one image"
# expect STATUS TEXT ARGS...: qflash ARGS exits STATUS saying TEXT.
expect() {
	local st=$1 text=$2
	shift 2
	run_q "$@"
	[ "$RC" = "$st" ] || fail "$*: exit $RC: $(cat "$T/err.txt")"
	grep -qF -- "$text" "$T/err.txt" || fail "$*: not said: $text: $(cat "$T/err.txt")"
}
expect 1 "no image called Nothing in the catalog" -catalog "$CAT" -src catalog:Nothing -dst "$T/x"
expect 1 "-catalog $CAT -list says which" -catalog "$CAT" -src catalog:Nothing -dst "$T/x"
expect 1 "Site images is a folder of the catalog" -catalog "$CAT" -src "catalog:Site images" -dst "$T/x"
expect 1 "no image called Bad sum" -catalog "$CAT" -src "catalog:Bad sum" -dst "$T/x"
expect 2 "-sha256 and -bmap are not for it" -catalog "$CAT" -src "catalog:POS 2025" -dst "$T/x" -sha256 "$POS"
[ -e "$T/x" ] && fail "a refused pick wrote its target"
# Two images of one name: the path is needed.
sed 's/"name": "Kiosk",/"name": "POS 2025",/' "$CAT" >"$T/site/two.json"
expect 1 "2 images are called POS 2025 (give its path): Site images/POS 2025, Site images/Kiosks/POS 2025" -catalog "$T/site/two.json" -src "catalog:POS 2025" -dst "$T/x"
expect 2 "-list needs -catalog" -list
expect 2 "-src catalog:NAME needs -catalog" -src catalog:X -dst "$T/x"
expect 2 "-catalog needs -list or -src catalog:NAME" -catalog "$CAT" -dst "$T/x"
expect 2 "-catalog -list only lists" -catalog "$CAT" -list -src "$T/site/pos/pos.qcow2"

note "catalogs that cannot be read"
expect 1 "nothere.json: No such file or directory" -catalog "$T/nothere.json" -list
printf '{"os_list": [ {"name": "x", ' >"$T/cut.json"
expect 1 "cut.json: not JSON" -catalog "$T/cut.json" -list
echo '{"images": []}' >"$T/other.json"
expect 1 "not a catalog" -catalog "$T/other.json" -list
printf '[]  x' >"$T/trail.json"
expect 1 "more after the end" -catalog "$T/trail.json" -list
head -c $((4 << 20)) /dev/zero | tr '\0' ' ' >"$T/big.json"
echo '[]' >>"$T/big.json"
expect 1 "a catalog is 4 MiB at the most" -catalog "$T/big.json" -list
# Too many entries: the first 10000 are kept, and that is said.
python3 -c 'import json; print(json.dumps([{"name": "e%d" % i, "url": "e.img"} for i in range(10005)]))' >"$T/many.json"
run_ok -catalog "$T/many.json" -list
[ "$(($(wc -l <"$T/out.txt") - 1))" = 10000 ] || fail "not 10000 entries kept"
grep -q 'more than 10000 entries' "$T/err.txt" || fail "the bound on entries is not said"
# A bare array is a catalog too.
echo '[{"name": "Only", "url": "pos/pos.qcow2", "release_date": "2025-01-31"}]' >"$T/site/bare.json"
run_ok -catalog "$T/site/bare.json" -list
grep -q '^Only  .*2025-01-31' "$T/out.txt" || fail "a bare array is not read"

# ----------------------------------------------------------------- http
note "the catalog over http, relative URLs, cached after a -cache flash"
mkdir -p "$WWW/lists"
cp -r "$T/site/pos" "$T/site/kiosk" "$WWW/"
start_nginx
# Relative to the catalog's directory (../pos/...), and from the server's
# root (/kiosk/...): both on the catalog's server.
catalog "$WWW/lists/catalog.json" "../"
sed -i 's|"\.\./kiosk/|"/kiosk/|' "$WWW/lists/catalog.json"
CAT=$BASE/lists/catalog.json
check_list http
grep -q '^  POS 2025  .*  no  ' "$T/out.txt" || fail "http: POS 2025 is not said uncached"
run_ok -catalog "$CAT" -list -json
grep -q "\"url\":\"$BASE/pos/pos.qcow2\"" "$T/out.txt" || fail "http: ../ not resolved"
grep -q "\"url\":\"$BASE/kiosk/kiosk.img.zst\"" "$T/out.txt" || fail "http: /kiosk not resolved"
flash "POS 2025" -cache "$XDG_CACHE_HOME/qflash"
run_ok -catalog "$CAT" -list
grep -q '^  POS 2025  .*  yes  ' "$T/out.txt" || fail "http: POS 2025 is not said cached: $(cat "$T/out.txt")"
grep -q '^    Kiosk  .*  no  ' "$T/out.txt" || fail "http: Kiosk is said cached"
run_ok -catalog "$CAT" -list -json
grep -q '"path":"Site images/POS 2025".*"cached":true' "$T/out.txt" || fail "http: -json has not cached"
# Flashed again from the copy, with the checksum still enforced.
flash "POS 2025" -cache "$XDG_CACHE_HOME/qflash"
run_q -catalog "$CAT" -src "catalog:Kiosk wrong sum" -dst "$T/out.raw"
[ "$RC" = 1 ] || fail "http: a wrong checksum is not refused"
expect 1 "nothere.json" -catalog "$BASE/lists/nothere.json" -list

note "offline: the catalog and the cached image from the cache, and said so"
nginx_down nginx
run_ok -catalog "$CAT" -list
grep -q 'copy in the cache used, which could not be checked against the server' "$T/err.txt" ||
	fail "offline: the catalog's copy is not said to be from the cache: $(cat "$T/err.txt")"
grep -q '^  POS 2025  .*  yes  ' "$T/out.txt" || fail "offline: the cached list is not shown"
# No -cache given: the entry the default cache holds is read from it.
flash "POS 2025"
grep -q 'copy in the cache used' "$T/err.txt" ||
	fail "offline: the image is not said to be from the cache: $(cat "$T/err.txt")"
# An image the cache does not hold cannot be flashed, and nothing is.
rm -f "$T/x"
run_q -catalog "$CAT" -src "catalog:Kiosk" -dst "$T/x"
[ "$RC" = 1 ] || fail "offline: an uncached image: exit $RC"
[ -s "$T/x" ] && fail "offline: an uncached image wrote its target"
# A catalog never read through the cache has no copy to fall back on.
rm -rf "$XDG_CACHE_HOME/qflash"
expect 1 "catalog.json" -catalog "$CAT" -list
note "all good"
