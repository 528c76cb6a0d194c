#!/bin/bash
# bounds.sh - hostile but well-formed qcow2 metadata opens in bounded time
# and memory: the reader's work is linear in the metadata, never in the
# number of references to it.  Each image is opened with -info (or
# -list-parts) under /usr/bin/time; the case fails past a generous time
# or peak-RSS limit, and its figures are printed with note.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk
[ -x /usr/bin/time ] || skip "/usr/bin/time not found (package time)"

# A writer for qcow2 files whose layout qemu-img would never produce.
# All layouts: header in cluster 0, refcount table in cluster 1 (its one
# block left out: reading never needs refcounts), then the tables.
#   craft OUT one_l2          65536 L1 entries, all naming one L2 table
#   craft OUT big_l1          a 32 MiB L1 over 1024 L2 tables
#   craft OUT snapshots       65536 snapshots sharing the active L1
#   craft OUT extensions      2 MiB clusters, the first full of extensions
#   craft OUT features        2 MiB clusters, the first a feature name
#                             table, an unknown incompatible bit set
#   craft OUT small           512-byte clusters, every cluster of a 1 GiB
#                             disk allocated (sparse data)
#   craft OUT gpt             a raw 64 MiB disk, a GPT of 4096 partitions
CRAFT_PY='
import struct, sys
out, kind = sys.argv[1], sys.argv[2]
f = open(out, "wb")

def header(cbits, size, l1_size, l1_off, nsnap=0, snap_off=0, incompat=0,
           hlen=104):
    cs = 1 << cbits
    h = struct.pack(">IIQIIQIIQQIIQQQQII", 0x514649fb, 3, 0, 0, cbits, size,
                    0, l1_size, l1_off, cs, 1, nsnap, snap_off, incompat,
                    0, 0, 4, hlen)
    return h + b"\0" * (hlen - len(h))

def put(off, data):
    f.seek(off)
    f.write(data)

COPIED = 1 << 63
if kind == "one_l2":
    cb, cs = 16, 1 << 16
    n = 65536
    l1_off, l2_off, data_off = 2 * cs, 2 * cs + 8 * n, 3 * cs + 8 * n
    put(0, header(cb, n * (cs // 8) * cs, n, l1_off))
    put(l1_off, struct.pack(">Q", l2_off | COPIED) * n)
    # every entry maps the same data cluster: all of them must be checked
    put(l2_off, struct.pack(">Q", data_off) * (cs // 8))
    put(data_off, b"\x5a" * cs)
elif kind == "big_l1":
    cb, cs = 16, 1 << 16
    n, tables = (32 << 20) // 8, 1024
    l1_off = 2 * cs
    l2_base = l1_off + 8 * n
    put(0, header(cb, n * (cs // 8) * cs, n, l1_off))
    row = b"".join(struct.pack(">Q", (l2_base + t * cs) | COPIED)
                   for t in range(tables))
    put(l1_off, row * (n // tables))
    data_off = l2_base + tables * cs
    for t in range(tables):
        put(l2_base + t * cs, struct.pack(">Q", data_off) * (cs // 8))
    put(data_off, b"\x5b" * cs)
elif kind == "snapshots":
    cb, cs = 16, 1 << 16
    n = 65536
    l1_off, l2_off, snap_off = 2 * cs, 3 * cs, 4 * cs
    put(0, header(cb, 1 << 30, 2, l1_off, n, snap_off))
    put(l1_off, struct.pack(">QQ", l2_off | COPIED, 0))
    put(l2_off, b"\0" * cs)
    ent = []
    for i in range(n):
        sid, name = str(i + 1).encode(), ("s%d" % i).encode()
        e = struct.pack(">QIHHIIQII", l1_off, 2, len(sid), len(name),
                        0, 0, 0, 0, 16) + struct.pack(">QQ", 0, 1 << 30)
        e += sid + name
        ent.append(e + b"\0" * (-len(e) % 8))
    put(snap_off, b"".join(ent))
elif kind in ("extensions", "features"):
    cb, cs = 21, 1 << 21
    l1_off, l2_off = 2 * cs, 3 * cs
    incompat = (1 << 5) if kind == "features" else 0
    put(0, header(cb, 1 << 30, 1, l1_off, incompat=incompat))
    room = cs - 104
    if kind == "extensions":
        # unknown extensions of no data, up to the end of the cluster
        put(104, struct.pack(">II", 0x1234abcd, 0) * (room // 8))
    else:
        entries = (room - 8) // 48
        table = b"".join(struct.pack(">BB46s", 0, 5 + i % 59,
                                     b"feature %d" % i)
                         for i in range(entries))
        put(104, struct.pack(">II", 0x6803f857, len(table)) + table)
    put(l1_off, struct.pack(">Q", l2_off | COPIED))
    put(l2_off, b"\0" * cs)
elif kind == "small":
    from array import array
    cb, cs = 9, 512
    per = cs // 8
    n = (1 << 30) // cs
    tables = n // per
    l1_off = 2 * cs
    l2_base = l1_off + 8 * tables
    data_base = l2_base + tables * cs
    put(0, header(cb, 1 << 30, tables, l1_off))
    a = array("Q", ((l2_base + t * cs) | COPIED for t in range(tables)))
    a.byteswap()
    put(l1_off, a.tobytes())
    a = array("Q", range(data_base | COPIED, (data_base + n * cs) | COPIED, cs))
    a.byteswap()
    put(l2_base, a.tobytes())
    f.truncate(data_base + n * cs)
elif kind == "gpt":
    import uuid, zlib
    ss, lbas, nent = 512, (64 << 20) // 512, 4096
    arr = nent * 128 // ss
    first, last = 2 + arr, lbas - 2 - arr
    ents = b"".join(struct.pack("<16s16sQQQ72s",
                                uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4").bytes_le,
                                uuid.UUID(int=i + 1).bytes_le, 2048 + 16 * i,
                                2048 + 16 * i + 15, 0,
                                ("p%d" % (i + 1)).encode("utf-16-le"))
                    for i in range(nent))
    def gpt_header(lba, alt, entries_lba):
        h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0,
                        lba, alt, first, last, uuid.UUID(int=7).bytes_le,
                        entries_lba, nent, 128, zlib.crc32(ents))
        h = h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]
        return h + b"\0" * (ss - len(h))
    mbr = bytearray(ss)
    mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xee, 0xff, 0xff,
                               0xff, 1, lbas - 1)
    mbr[510:512] = b"\x55\xaa"
    put(0, bytes(mbr))
    put(ss, gpt_header(1, lbas - 1, 2))
    put(2 * ss, ents)
    put((lbas - 1 - arr) * ss, ents)
    put((lbas - 1) * ss, gpt_header(lbas - 1, 1, lbas - 1 - arr))
    f.truncate(lbas * ss)
    cs = 0
else:
    sys.exit("craft: unknown kind " + kind)
f.truncate(max(f.seek(0, 2), 2 * cs))
'
craft() {
	python3 -c "$CRAFT_PY" "$@" || fail "craft $*"
}

# measure LABEL MAXSEC MAXKIB WANT QFLASH-ARGS...: run qflash under
# /usr/bin/time; WANT is ok (exit 0) or refused (exit 1).  Fails past
# MAXSEC seconds or MAXKIB KiB of peak RSS.
# A sanitizer build runs several times slower and keeps shadow memory:
# its limits are scaled (the bounds are about the reader, not the build).
SCALE=1
ldd "$QFLASH" 2>/dev/null | grep -q 'lib[at]san' && SCALE=8
measure() {
	local label=$1 maxs=$(($2 * SCALE)) maxk=$(($3 * SCALE)) want=$4 rc secs kib
	shift 4
	rc=0
	/usr/bin/time -f '%e %M' -o "$T/time.txt" "$QFLASH" "$@" \
		>"$T/out.txt" 2>"$T/err.txt" || rc=$?
	read -r secs kib < <(tail -n 1 "$T/time.txt") || fail "$label: no figures from time"
	case $want in
	ok) [ "$rc" = 0 ] || fail "$label: exit $rc: $(head -c 400 "$T/err.txt")" ;;
	refused) [ "$rc" = 1 ] || fail "$label: exit $rc, want 1" ;;
	esac
	note "$label: ${secs}s, max RSS ${kib} KiB, $want"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' \
		"$secs" "$maxs" || fail "$label: took ${secs}s (limit ${maxs}s)"
	[ "$kib" -le "$maxk" ] || fail "$label: max RSS ${kib} KiB (limit ${maxk} KiB)"
}

# Limits: an order of magnitude above what the reader needs on a slow
# machine; the quadratic reader took ~50 s on one_l2.
craft "$T/one_l2.qcow2" one_l2
qemu-img info "$T/one_l2.qcow2" >/dev/null 2>&1 || fail "qemu-img refuses one_l2"
measure "65536 L1 entries naming one L2 table" 5 102400 ok -src "$T/one_l2.qcow2" -info

craft "$T/big_l1.qcow2" big_l1
qemu-img info "$T/big_l1.qcow2" >/dev/null 2>&1 || fail "qemu-img refuses big_l1"
measure "32 MiB L1 over 1024 L2 tables" 10 204800 ok -src "$T/big_l1.qcow2" -info

# qemu-img opens these two as well, but takes half a minute on each.
craft "$T/snaps.qcow2" snapshots
measure "65536 snapshots" 10 204800 ok -src "$T/snaps.qcow2" -info
measure "65536 snapshots, the last one read" 10 204800 ok \
	-src "$T/snaps.qcow2" -snapshot s65535 -info

craft "$T/ext.qcow2" extensions
measure "first cluster (2 MiB) full of extensions" 5 102400 ok -src "$T/ext.qcow2" -info

craft "$T/feat.qcow2" features
qemu-img info "$T/feat.qcow2" >/dev/null 2>&1 && fail "qemu-img opens feat"
measure "2 MiB feature name table, unknown bit" 5 102400 refused -src "$T/feat.qcow2" -info
grep -q 'feature 0' "$T/err.txt" || fail "feature name not shown: $(head -c 300 "$T/err.txt")"

# 64 backing files below the top: the deepest chain that is read.
mkq "$T/c0.qcow2" 64M
qemu-io -f qcow2 -c "write -P 1 0 1M" "$T/c0.qcow2" >/dev/null || fail "write c0"
for ((i = 1; i <= 64; i++)); do
	mkq "$T/c$i.qcow2" 64M -u -b "c$((i - 1)).qcow2" -F qcow2
	qemu-io -f qcow2 -c "write -P $((i % 250 + 2)) $((i * 512))k 64k" \
		"$T/c$i.qcow2" >/dev/null || fail "write c$i"
done
measure "backing chain of 65 images" 10 204800 ok -src "$T/c64.qcow2" -info
rm -f "$T/chain.raw"
measure "backing chain of 65 images, flashed" 30 409600 ok \
	-src "$T/c64.qcow2" -dst "$T/chain.raw"
ref_raw "$T/c64.qcow2" "$T/chain.ref"
same "$T/chain.ref" "$T/chain.raw"
rm -f "$T"/c*.qcow2 "$T/chain.raw" "$T/chain.ref"

# A GPT of 4096 entries, all of them used (sfdisk takes a minute).
craft "$T/gpt.raw" gpt
sfdisk -d "$T/gpt.raw" 2>/dev/null | grep -q 'p4096' || fail "sfdisk cannot read the crafted GPT"
qemu-img convert -f raw -O qcow2 "$T/gpt.raw" "$T/gpt.qcow2" || fail "convert gpt"
measure "GPT of 4096 partitions" 10 204800 ok -src "$T/gpt.qcow2" -list-parts
grep -q 4096 "$T/out.txt" || fail "partition 4096 not listed"

# 512-byte clusters, every L2 entry of a 1 GiB disk allocated (what
# preallocation=metadata makes, in minutes).
craft "$T/small.qcow2" small
qemu-img info "$T/small.qcow2" >/dev/null 2>&1 || fail "qemu-img refuses small"
measure "512-byte clusters, 1 GiB preallocated" 10 204800 ok -src "$T/small.qcow2" -info

exit 0
