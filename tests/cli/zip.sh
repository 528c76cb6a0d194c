#!/bin/bash
# zip.sh - a raw disk image inside a zip archive: members stored or
# compressed with deflate, bzip2 or lzma; an archive with papers beside
# the image opens as the image; one with several images names them and
# takes -member NAME; truncated and corrupt archives fail clearly and
# leave no target that looks partitioned; the published checksum covers
# the archive.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd python3 sfdisk blkid cmp sha256sum

make_gpt_disk "$T/disk.img" 128M
rand_file "$T/other.img" $((3 << 20)) 9
echo "Flash disk.img." >"$T/README.txt"

# mkzip OUT METHOD FILE...: the files (by their base names) in a zip.
mkzip() {
	python3 - "$@" <<'PY' || fail "mkzip $*"
import os, sys, zipfile
out, method, files = sys.argv[1], sys.argv[2], sys.argv[3:]
m = {"stored": zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED,
     "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}[method]
with zipfile.ZipFile(out, "w", m) as z:
    for f in files:
        z.write(f, os.path.basename(f))
PY
}

# stale FILE: a target that held a GPT of its own (kept as stale.img).
stale() {
	rm -f "$1"
	truncate -s 128M "$1"
	sfdisk -q "$1" >/dev/null <<'EOS' || fail "sfdisk"
label: gpt
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="previous"
EOS
	cp "$1" "$T/stale.img"
}

# no_table FILE WHAT: the target was left untouched (the archive was
# refused as it was opened) or does not look partitioned.
no_table() {
	local pt
	cmp -s "$1" "$T/stale.img" && return
	pt=$(blkid -p -s PTTYPE -o value "$1" 2>/dev/null || :)
	[ -z "$pt" ] || fail "$2: the target still looks like a $pt disk"
}

for m in stored deflate bzip2 lzma; do
	mkzip "$T/$m.zip" $m "$T/disk.img" "$T/README.txt"
	run_ok -src "$T/$m.zip" -info
	grep -q "format: *zip" "$T/out.txt" || fail "$m.zip: -info: $(cat "$T/out.txt")"
	grep -q "virtual size: *128.0 MiB" "$T/out.txt" || fail "$m.zip: size: $(cat "$T/out.txt")"
	stale "$T/out.img"
	run_ok -src "$T/$m.zip" -dst "$T/out.img" -verify
	cmp "$T/out.img" "$T/disk.img" || fail "$m.zip: the target differs"
done
run_ok -src "$T/deflate.zip" -list-parts
grep -q "ext4 *rootfs" "$T/out.txt" || fail "-list-parts on a zip: $(cat "$T/out.txt")"
note "ok: stored, deflate, bzip2 and lzma members flashed; papers beside the image ignored"

# ----------------------------------------------- several images
mkzip "$T/two.zip" deflate "$T/disk.img" "$T/other.img" "$T/README.txt"
run_q -src "$T/two.zip" -dst "$T/x.img"
[ "$RC" = 1 ] || fail "several images: exit $RC"
grep -q "several images (disk.img, other.img): name the one to flash with -member NAME" "$T/err.txt" ||
	fail "several images: $(cat "$T/err.txt")"
[ -e "$T/x.img" ] && fail "several images: the destination was created"
run_ok -src "$T/two.zip" -member disk.img -dst "$T/x.img"
cmp "$T/x.img" "$T/disk.img" || fail "-member disk.img"
rm -f "$T/x.img"
run_ok -src "$T/two.zip" -member other.img -dst "$T/x.img"
cmp "$T/x.img" "$T/other.img" || fail "-member other.img"
run_q -src "$T/two.zip" -member none.img -dst "$T/y.img"
[ "$RC" = 1 ] || fail "-member none.img: exit $RC"
grep -q "the archive has no member none.img" "$T/err.txt" || fail "no member: $(cat "$T/err.txt")"
mkzip "$T/papers.zip" deflate "$T/README.txt"
run_q -src "$T/papers.zip" -dst "$T/y.img"
[ "$RC" = 1 ] || fail "no image: exit $RC"
grep -q "the archive holds no disk image" "$T/err.txt" || fail "no image: $(cat "$T/err.txt")"
note "ok: several images listed, -member picks one, none is said"

# ------------------------------------------ truncated and corrupt
size=$(file_size "$T/deflate.zip")
head -c $((size / 2)) "$T/deflate.zip" >"$T/cut.zip"
stale "$T/out.img"
run_q -src "$T/cut.zip" -dst "$T/out.img"
[ "$RC" = 1 ] || fail "truncated zip: exit $RC"
grep -q "cut.zip: " "$T/err.txt" || fail "truncated zip: $(cat "$T/err.txt")"
no_table "$T/out.img" "truncated zip"
# A byte of the compressed member changed, far into it.
cp "$T/deflate.zip" "$T/bad.zip"
printf '\x55' | dd of="$T/bad.zip" bs=1 seek=$((size / 2)) conv=notrunc status=none
stale "$T/out.img"
run_q -src "$T/bad.zip" -dst "$T/out.img"
[ "$RC" = 1 ] || fail "corrupt zip: exit $RC"
grep -q "bad.zip: " "$T/err.txt" || fail "corrupt zip: $(cat "$T/err.txt")"
no_table "$T/out.img" "corrupt zip"
note "ok: truncated and corrupt archives fail, no table left"

# ------------------------------------------ the checksum covers the zip
sum=$(sha256sum "$T/deflate.zip" | cut -c1-64)
rm -f "$T/x.img"
run_ok -src "$T/deflate.zip" -sha256 "$sum" -dst "$T/x.img"
grep -q "matches its published SHA-256" "$T/err.txt" || fail "zip checksum: $(cat "$T/err.txt")"
note "ok: -sha256 of the archive"

# ------------------------- an LZMA member asking for a huge dictionary
# Its properties claim about 4 GiB (libarchive would let liblzma allocate
# it): refused before anything is decoded.
cp "$T/lzma.zip" "$T/dict.zip"
python3 - "$T/dict.zip" <<'PY' || fail "patching the LZMA properties"
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
assert b[:4] == b"PK\3\4" and struct.unpack_from("<H", b, 8)[0] == 14
data = 30 + struct.unpack_from("<H", b, 26)[0] + struct.unpack_from("<H", b, 28)[0]
struct.pack_into("<I", b, data + 5, 0xff800000)
open(p, "wb").write(b)
PY
stale "$T/out.img"
run_q -src "$T/dict.zip" -dst "$T/out.img"
[ "$RC" = 1 ] || fail "huge LZMA dictionary: exit $RC"
grep -q "asks for a 4088 MiB LZMA dictionary" "$T/err.txt" ||
	fail "huge LZMA dictionary: $(cat "$T/err.txt")"
no_table "$T/out.img" "huge LZMA dictionary"
note "ok: an LZMA member asking for a 4 GiB dictionary is refused"
