#!/bin/bash
# bmap.sh - compressed raw images with a bmap (as bmaptool writes it,
# versions 2.0 and 1.x): found beside the image or given with -bmap, its
# ranges checked as they are decoded, everything outside them zeroed on
# the target (never left stale), the result the same as bmaptool's.  A
# damaged image, a bmap that does not match its own checksum and a
# malformed bmap fail with a clear message, leaving no target that looks
# partitioned.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd bmaptool python3 gzip zstd sfdisk blkid cmp

make_gpt_disk "$T/disk.img" 128M
bmaptool create "$T/disk.img" -o "$T/disk.img.bmap" 2>/dev/null ||
	fail "bmaptool create failed"
gzip -c -n "$T/disk.img" >"$T/disk.img.gz"
zstd -q -c "$T/disk.img" >"$T/disk.img.zst"

# expect_rc N WHAT: the last run_q exited N.
expect_rc() {
	[ "$RC" = "$1" ] || fail "$2: exit $RC, want $1: $(cat "$T/err.txt")"
}

# stale FILE: a target full of another owner's bytes, with a GPT.
stale() {
	rand_file "$1" $((128 << 20)) 77
	sfdisk -q "$1" >/dev/null <<'EOS' || fail "sfdisk"
label: gpt
start=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="previous"
EOS
}

# no_table FILE WHAT: the target does not look partitioned.
no_table() {
	local pt
	pt=$(blkid -p -s PTTYPE -o value "$1" 2>/dev/null || :)
	[ -z "$pt" ] || fail "$2: the target still looks like a $pt disk"
}

# ------------------------------------------------- found beside the image
for z in disk.img.gz disk.img.zst; do
	run_ok -src "$T/$z" -info
	grep -q "bmap: *$T/disk.img.bmap (.* mapped, checked per range)" "$T/out.txt" ||
		fail "-info on $z does not name the bmap: $(cat "$T/out.txt")"
	stale "$T/out.img"
	run_ok -src "$T/$z" -dst "$T/out.img" -verify
	cmp "$T/out.img" "$T/disk.img" || fail "$z with its bmap: the target differs"
	note "ok: $z flashed with the bmap found beside it, stale bytes zeroed"
done

# The same as bmaptool makes of it, on the same stale target.
stale "$T/peer.img"
bmaptool copy --bmap "$T/disk.img.bmap" "$T/disk.img.gz" "$T/peer.img" \
	>/dev/null 2>&1 || fail "bmaptool copy failed"
# bmaptool leaves unmapped blocks as they were; qflash zeroes them.
python3 - "$T/disk.img.bmap" "$T/peer.img" "$T/out.img" <<'PY' || fail "qflash and bmaptool differ on mapped blocks"
import re, sys
bm = open(sys.argv[1]).read()
bs = int(re.search(r"<BlockSize>\s*(\d+)", bm).group(1))
a, b = open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
for m in re.finditer(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", bm):
    s, e = int(m.group(1)), int(m.group(2) or m.group(1))
    if a[s * bs:(e + 1) * bs] != b[s * bs:(e + 1) * bs]:
        sys.exit("range %d-%d differs" % (s, e))
PY
note "ok: mapped ranges as bmaptool writes them"

# x.img.gz.bmap comes first, then x.img.bmap; -bmap names any file;
# -no-bmap uses none.
mkdir "$T/other"
cp "$T/disk.img.bmap" "$T/other/some.bmap"
mv "$T/disk.img.bmap" "$T/disk.img.gz.bmap"
run_ok -src "$T/disk.img.gz" -info
grep -q "bmap: *$T/disk.img.gz.bmap" "$T/out.txt" || fail "IMAGE.bmap not found first"
mv "$T/disk.img.gz.bmap" "$T/disk.img.bmap"
run_ok -src "$T/disk.img.gz" -bmap "$T/other/some.bmap" -info
grep -q "bmap: *$T/other/some.bmap" "$T/out.txt" || fail "-bmap FILE not used"
run_ok -src "$T/disk.img.gz" -no-bmap -info
grep -q "bmap:" "$T/out.txt" && fail "-no-bmap still uses a bmap"
run_q -src "$T/disk.img.gz" -bmap "$T/none.bmap" -dst "$T/x.img"
expect_rc 1 "-bmap of a missing file"
grep -q "none.bmap: no such bmap file" "$T/err.txt" || fail "missing bmap: $(cat "$T/err.txt")"
[ -e "$T/x.img" ] && fail "a missing bmap created the destination"
note "ok: IMAGE.bmap, then x.img.bmap; -bmap FILE; -no-bmap"

# ------------------------------------ bytes the bmap does not map: zeros
# Data written where the bmap says the image is free space (after the
# bmap was made) does not reach the target.
python3 - "$T/disk.img.bmap" "$T/disk.img" "$T/free.img" <<'PY' || fail "free.img"
import re, sys, shutil
bm = open(sys.argv[1]).read()
bs = int(re.search(r"<BlockSize>\s*(\d+)", bm).group(1))
used = set()
for m in re.finditer(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", bm):
    used.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
free = [b for b in range(20000, 30000) if b not in used][:64]
data = bytearray(open(sys.argv[2], "rb").read())
for b in free:
    data[b * bs:(b + 1) * bs] = b"\xa5" * bs
open(sys.argv[3], "wb").write(data)
PY
gzip -c -n "$T/free.img" >"$T/free.img.gz"
cp "$T/disk.img.bmap" "$T/free.img.bmap"
stale "$T/out.img"
run_ok -src "$T/free.img.gz" -dst "$T/out.img" -verify
cmp "$T/out.img" "$T/disk.img" || fail "unmapped data reached the target"
note "ok: bytes outside the bmap's ranges are zeroed"

# ------------------------------- an unmapped tail: not read, still checked
# A disk whose last 40 MiB the bmap leaves unmapped: the engine reads
# only the mapped ranges (what -debug counts as read), yet the end of
# the data is checked as before: something after the last gzip member,
# or a zstd file cut short, fails, and the target gets no table.
truncate -s 64M "$T/tail.img"
sfdisk -q "$T/tail.img" >/dev/null <<'EOS' || fail "sfdisk (tail.img)"
label: dos
start=2048, size=30720, type=83
EOS
mk_ext4 "$T/tail.p1" $((15 << 20)) tail 5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b
put_fs "$T/tail.img" 1 "$T/tail.p1"
rand_file "$T/tail.rand" $((8 << 20)) 5
dd if="$T/tail.rand" of="$T/tail.img" bs=1M seek=20 conv=notrunc status=none
bmaptool create "$T/tail.img" -o "$T/tail.img.bmap" 2>/dev/null ||
	fail "bmaptool create (tail.img) failed"
# The bmap of the real data, with the random MiBs at 20 MiB left out:
# unmapped bytes, never read, zeros on the target.
python3 - "$T/tail.img.bmap" <<'PY' || fail "tail.img.bmap"
import re, sys, hashlib
p = sys.argv[1]
bm = open(p).read()
bs = int(re.search(r"<BlockSize>\s*(\d+)", bm).group(1))
lo, hi = (20 << 20) // bs, (28 << 20) // bs
def keep(m):
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    return "" if lo <= a and b < hi else m.group(0)
bm = re.sub(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>\n?", keep, bm)
ranges = re.findall(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", bm)
last = max(int(b or a) for a, b in ranges)
assert (last + 1) * bs <= 24 << 20, "mapped bytes near the end"
n = sum(int(b or a) - int(a) + 1 for a, b in ranges)
bm = re.sub(r"<MappedBlocksCount>\s*\d+", "<MappedBlocksCount> %d" % n, bm)
# The file's own checksum, over the file with zeros in its place.
m = re.search(r"<BmapFileChecksum>\s*([0-9a-f]+)\s*</BmapFileChecksum>", bm)
bm = bm.replace(m.group(1), "0" * len(m.group(1)))
bm = bm.replace("0" * len(m.group(1)), hashlib.sha256(bm.encode()).hexdigest())
open(p, "w").write(bm)
PY
cp "$T/tail.img" "$T/tail.want"
dd if=/dev/zero of="$T/tail.want" bs=1M seek=20 count=8 conv=notrunc status=none
gzip -c -n "$T/tail.img" >"$T/tail.img.gz"
zstd -q -c "$T/tail.img" >"$T/tail.img.zst"
for z in gz zst; do
	stale "$T/out.img"
	run_ok -src "$T/tail.img.$z" -dst "$T/out.img" -verify -debug
	cmp -n $((64 << 20)) "$T/out.img" "$T/tail.want" ||
		fail "tail.img.$z: the target is not the mapped data and zeros"
	read_b=$(sed -n 's/.*debug: [0-9.]* s, read \([0-9]*\),.*/\1/p' "$T/err.txt")
	[ -n "$read_b" ] && [ "$read_b" -le $((24 << 20)) ] ||
		fail "tail.img.$z: the engine read ${read_b:-?} bytes of the image, not only the mapped ones: $(cat "$T/err.txt")"
done
cp "$T/tail.img.gz" "$T/junk.img.gz"
printf 'not gzip' >>"$T/junk.img.gz"
head -c $(($(file_size "$T/tail.img.zst") - 3)) "$T/tail.img.zst" >"$T/cut.img.zst"
for f in junk.img.gz cut.img.zst; do
	cp "$T/tail.img.bmap" "$T/${f%.*}.bmap"
	stale "$T/out.img"
	run_q -src "$T/$f" -dst "$T/out.img"
	expect_rc 1 "$f"
	grep -q "unexpected data after the last gzip member\|truncated" "$T/err.txt" ||
		fail "$f: $(cat "$T/err.txt")"
	no_table "$T/out.img" "$f"
done
note "ok: an unmapped tail is not read, and the end of the data is checked"

# ------------------------------------------------- a damaged image
# One byte changed inside a mapped range, deep in the image.
python3 - "$T/disk.img.bmap" "$T/disk.img" "$T/bad.img" <<'PY' || fail "bad.img"
import re, sys
bm = open(sys.argv[1]).read()
bs = int(re.search(r"<BlockSize>\s*(\d+)", bm).group(1))
r = [(int(m.group(1)), int(m.group(2) or m.group(1)))
     for m in re.finditer(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", bm)]
s, e = r[-2]
data = bytearray(open(sys.argv[2], "rb").read())
data[e * bs + 100] ^= 0xff
open(sys.argv[3], "wb").write(data)
PY
for z in gz zst; do
	if [ $z = gz ]; then gzip -c -n "$T/bad.img" >"$T/bad.img.$z"; else zstd -q -c "$T/bad.img" >"$T/bad.img.$z"; fi
	cp "$T/disk.img.bmap" "$T/bad.img.bmap"
	stale "$T/out.img"
	run_q -src "$T/bad.img.$z" -dst "$T/out.img"
	expect_rc 1 "a damaged .$z image"
	grep -q "do not match their sha256 in $T/bad.img.bmap: the image is damaged" "$T/err.txt" ||
		fail "damaged .$z: $(cat "$T/err.txt")"
	no_table "$T/out.img" "damaged .$z"
done
note "ok: a damaged image fails on its range, no table left"

# ------------------------------------------------- version 1.x, sha1
python3 - "$T/disk.img.bmap" "$T/disk.img" "$T/v1.img.bmap" <<'PY' || fail "v1 bmap"
import hashlib, re, sys
bm = open(sys.argv[1]).read()
size = int(re.search(r"<ImageSize>\s*(\d+)", bm).group(1))
bs = int(re.search(r"<BlockSize>\s*(\d+)", bm).group(1))
blocks = int(re.search(r"<BlocksCount>\s*(\d+)", bm).group(1))
mapped = int(re.search(r"<MappedBlocksCount>\s*(\d+)", bm).group(1))
data = open(sys.argv[2], "rb").read()
rows = []
for m in re.finditer(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", bm):
    s, e = int(m.group(1)), int(m.group(2) or m.group(1))
    h = hashlib.sha1(data[s * bs:min((e + 1) * bs, size)]).hexdigest()
    rows.append('        <Range sha1="%s"> %d-%d </Range>' % (h, s, e))
text = """<?xml version="1.0" ?>
<bmap version="1.3">
    <ImageSize> %d </ImageSize>
    <BlockSize> %d </BlockSize>
    <BlocksCount> %d </BlocksCount>
    <MappedBlocksCount> %d </MappedBlocksCount>
    <BmapFileSHA1> %s </BmapFileSHA1>
    <BlockMap>
%s
    </BlockMap>
</bmap>
""" % (size, bs, blocks, mapped, "0" * 40, "\n".join(rows))
own = hashlib.sha1(text.encode()).hexdigest()
open(sys.argv[3], "w").write(text.replace("0" * 40, own, 1))
PY
cp "$T/disk.img.gz" "$T/v1.img.gz"
run_ok -src "$T/v1.img.gz" -info
grep -q "bmap: *$T/v1.img.bmap" "$T/out.txt" || fail "v1.3 bmap not used: $(cat "$T/out.txt")"
stale "$T/out.img"
run_ok -src "$T/v1.img.gz" -dst "$T/out.img"
cmp "$T/out.img" "$T/disk.img" || fail "v1.3 bmap: the target differs"
cp "$T/v1.img.bmap" "$T/bad.img.bmap"
stale "$T/out.img"
run_q -src "$T/bad.img.gz" -dst "$T/out.img"
expect_rc 1 "a damaged image with a v1.3 bmap"
grep -q "do not match their sha1" "$T/err.txt" || fail "v1.3 damaged: $(cat "$T/err.txt")"
no_table "$T/out.img" "v1.3 damaged"
note "ok: bmap 1.3 with sha1 ranges"

# ---------------------------------------------- bmaps that are refused
# refused NAME WHY: the image with this bmap is refused before the
# target is touched.
refused() {
	stale "$T/out.img"
	cp "$T/out.img" "$T/before.img"
	run_q -src "$T/disk.img.gz" -bmap "$T/$1" -dst "$T/out.img"
	expect_rc 1 "bmap $1"
	grep -q "$1: not a usable bmap: $2" "$T/err.txt" ||
		fail "bmap $1: $(cat "$T/err.txt")"
	cmp -s "$T/out.img" "$T/before.img" || fail "bmap $1: the target was touched"
}
# A range changed after the file was made: its own checksum says so.
sed 's|<Range \(chksum="[0-9a-f]*"\)> 0-|<Range \1> 1-|' "$T/disk.img.bmap" >"$T/edited.bmap"
cmp -s "$T/edited.bmap" "$T/disk.img.bmap" && fail "the edit did not change the bmap"
refused edited.bmap "the file does not match its own checksum"
printf '<bmap version="2.0"><ImageSize>1' >"$T/cut.bmap"
refused cut.bmap "unclosed token\|no element found"
sed 's|<bmap version="2.0">|<bmap version="3.0">|' "$T/disk.img.bmap" >"$T/v3.bmap"
refused v3.bmap "bmap version 3.0 is not supported"
python3 - "$T/disk.img.bmap" "$T/overlap.bmap" <<'PY'
import re, sys
bm = open(sys.argv[1]).read()
bm = re.sub(r"<BmapFileChecksum>[^<]*</BmapFileChecksum>", "", bm)
bm = bm.replace("</BlockMap>", '<Range chksum="%s"> 0-1 </Range></BlockMap>' % ("0" * 64))
open(sys.argv[2], "w").write(bm)
PY
refused overlap.bmap "range 0-1 overlaps or precedes the one before it"
sed 's|<BlocksCount> *[0-9]* *</BlocksCount>|<BlocksCount> 5 </BlocksCount>|; s|<BmapFileChecksum>.*</BmapFileChecksum>||' \
	"$T/disk.img.bmap" >"$T/count.bmap"
refused count.bmap "5 blocks of 4096 bytes do not make an image"
note "ok: edited, truncated, unknown-version, overlapping and inconsistent bmaps refused"
