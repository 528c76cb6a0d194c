#!/bin/bash
# convert.sh - `qflash -src X -dst out` must give exactly the bytes of
# `qemu-img convert -O raw X` for every qcow2 feature a reader meets.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

# check IMG [qflash options...]: output equals the qemu-img reference and
# nothing but warnings was printed.
check() {
	local img=$1
	shift
	ref_raw "$img" "$T/ref.raw"
	flash_same "$T/ref.raw" "$img" "$@"
	if grep -v '^qflash: warning:' "$T/err.txt" | grep -qi 'error'; then
		fail "$img: unexpected stderr: $(cat "$T/err.txt")"
	fi
	note "ok: ${img#$T/} $*"
}

# Scattered writes that leave full, partial, zero, discarded and
# untouched clusters for cluster size $3 in an image of size $2.
scatter() {
	local img=$1 size=$2 cs=$3
	qio "$img" \
		"write -P 0x11 0 4096" \
		"write -P 0x22 $((cs * 3 + 512)) $((cs + 1024))" \
		"write -P 0x33 1000001 777" \
		"write -P 0x44 $((size / 2)) 65536" \
		"write -z $((size / 2 + 4096)) 8192" \
		"write -z $((size / 4)) $((cs * 2 + 512))" \
		"write -P 0x55 $((size - 1536)) 1536" \
		"write -P 0x66 $((size / 3)) $((cs * 4 < size / 4 ? cs * 4 : size / 4))" \
		"discard $((size / 3 + cs)) $((cs * 2))"
}

# ---------------------------------------------------------------- basics
# Odd virtual size (a multiple of 512, not of any cluster size).
ODD=$((10000896 + 512 * 3))
for compat in 0.10 1.1; do
	for cs in 512 4096 65536 2097152; do
		img=$T/v$compat-c$cs.qcow2
		mkq "$img" "$ODD" -o compat=$compat,cluster_size=$cs
		scatter "$img" "$ODD" "$cs"
		check "$img"
		rm -f "$img"
	done
done

img=$T/refbits.qcow2
mkq "$img" 8M -o refcount_bits=1
scatter "$img" $((8 << 20)) 65536
check "$img"
mkq "$img" 8M -o refcount_bits=64
scatter "$img" $((8 << 20)) 65536
check "$img"

# An empty image: all zeros.
mkq "$T/empty.qcow2" 3M
check "$T/empty.qcow2"

# ----------------------------------------------------------- compressed
# Random, zero and repetitive runs so some clusters compress and some not.
python3 - "$T/mix.raw" <<'EOF'
import random, sys
r = random.Random(42)
size = 6 * 1048576 + 512 * 5
buf = bytearray(size)
pos = 0
while pos < size:
    kind = r.randrange(3)
    n = min(r.randrange(1, 300000), size - pos)
    if kind == 0:
        buf[pos:pos + n] = r.randbytes(n)
    elif kind == 1:
        line = b"qflash compressible line %d\n" % pos
        buf[pos:pos + n] = (line * (n // len(line) + 1))[:n]
    pos += n
open(sys.argv[1], "wb").write(buf)
EOF
for spec in 0.10:4096:zlib 1.1:4096:zlib 1.1:65536:zlib 1.1:2097152:zlib \
	1.1:65536:zstd 1.1:4096:zstd; do
	IFS=: read -r compat cs ctype <<<"$spec"
	img=$T/comp-$compat-$cs-$ctype.qcow2
	o=compat=$compat,cluster_size=$cs
	[ "$ctype" = zstd ] && o=$o,compression_type=zstd
	qemu-img convert -c -O qcow2 -o "$o" "$T/mix.raw" "$img" ||
		fail "qemu-img convert -c $o"
	check "$img"
	# Rewriting part of a compressed cluster turns it into a normal one.
	zoff=$((cs * 5))
	while [ $((zoff + cs)) -gt $((6 << 20)) ]; do zoff=$((zoff - cs)); done
	qio "$img" "write -P 0x77 $((cs + 100)) 300" "write -z $zoff $cs"
	check "$img"
	rm -f "$img"
done

# --------------------------------------------------------- extended L2
img=$T/xl2.qcow2
mkq "$img" 8M -o extended_l2=on,cluster_size=65536
qio "$img" \
	"write -P 0xa1 4096 4096" \
	"write -P 0xa2 $((65536 + 2048)) 2048" \
	"write -z 8192 2048" \
	"write -P 0xa3 200000 10000" \
	"write -c -P 0xa4 1048576 65536" \
	"write -z 2097152 65536" \
	"write -P 0xa5 3145728 65536" \
	"write -z 3149824 4096" \
	"discard 3170304 2048"
check "$img"

# Extended L2 over a backing file: unallocated subclusters read the
# backing bytes, zero subclusters hide them.
base=$T/xl2-base.qcow2
mkq "$base" 8M
qio "$base" "write -P 0x5b 0 8M"
img=$T/xl2-top.qcow2
mkq "$img" 8M -o extended_l2=on,cluster_size=65536 -b "$base" -F qcow2
qio "$img" \
	"write -P 0xb1 4096 4096" \
	"write -P 0xb2 $((65536 + 2048)) 2048" \
	"write -z 8192 2048" \
	"write -z $((65536 * 3 + 30720)) 4096" \
	"write -P 0xb3 200001 9999" \
	"write -c -P 0xb4 1048576 65536" \
	"write -z 2097152 65536"
check "$img"

# ------------------------------------------------------- backing chains
base=$T/base.qcow2
mkq "$base" 10M
qio "$base" "write -P 0x10 0 10M"
img=$T/top.qcow2
mkq "$img" 10M -b "$base" -F qcow2
qio "$img" "write -P 0x20 65536 100000" "write -z 0 65536" \
	"write -z 5000000 3000" "discard 8388608 1048576" \
	"write -P 0x21 10485248 512"
check "$img"

# raw base
rand_file "$T/base.raw" $((8 << 20)) 3
img=$T/top-raw.qcow2
mkq "$img" 8M -b "$T/base.raw" -F raw
qio "$img" "write -P 0x30 12345 6789" "write -z 1048576 65536"
check "$img"

# 3-deep chain, one layer version 2
mkq "$T/l0.qcow2" 9M -o compat=0.10
qio "$T/l0.qcow2" "write -P 0x01 0 9M"
mkq "$T/l1.qcow2" 9M -b "$T/l0.qcow2" -F qcow2 -o cluster_size=4096
qio "$T/l1.qcow2" "write -P 0x02 1M 3M" "write -z 2M 4096"
mkq "$T/l2.qcow2" 9M -b "$T/l1.qcow2" -F qcow2 -o cluster_size=2097152
qio "$T/l2.qcow2" "write -P 0x03 3M 3M" "write -z 7M 100000"
check "$T/l2.qcow2"

# backing shorter than the top: reads past its end are zeros
mkq "$T/short.qcow2" 4M
qio "$T/short.qcow2" "write -P 0x66 0 4M"
img=$T/grown.qcow2
mkq "$img" 4M -b "$T/short.qcow2" -F qcow2
qemu-img resize -q "$img" 12M || fail "qemu-img resize"
qio "$img" "write -P 0x67 8M 4096" "write -P 0x68 $((4 * 1048576 - 512)) 1024"
check "$img"
img=$T/bigger.qcow2
mkq "$img" 13M -b "$T/short.qcow2" -F qcow2
check "$img"
# and longer than the top: only the top's size is read
img=$T/smaller.qcow2
mkq "$img" 2M -b "$T/short.qcow2" -F qcow2
check "$img"

# relative backing names resolve against each layer's own directory
mkdir -p "$T/rel/sub/deeper" "$T/elsewhere"
mkq "$T/rel/base.qcow2" 6M
qio "$T/rel/base.qcow2" "write -P 0x71 0 6M"
(cd "$T/rel/sub" && mkq mid.qcow2 "" -b ../base.qcow2 -F qcow2) ||
	fail "create mid"
qio "$T/rel/sub/mid.qcow2" "write -P 0x72 1M 1M"
(cd "$T/rel/sub/deeper" && mkq top.qcow2 "" -b ../mid.qcow2 -F qcow2) ||
	fail "create top"
qio "$T/rel/sub/deeper/top.qcow2" "write -P 0x73 2M 1M"
ref_raw "$T/rel/sub/deeper/top.qcow2" "$T/ref.raw"
note "relative chain from /"
(cd / && flash_same "$T/ref.raw" "$T/rel/sub/deeper/top.qcow2") ||
	fail "relative chain from /"
rm -f "$T/out.raw"
(cd "$T/elsewhere" && "$QFLASH" -src ../rel/sub/deeper/top.qcow2 \
	-dst ../out.raw) >/dev/null 2>"$T/err.txt" ||
	fail "relative chain with relative -src: $(cat "$T/err.txt")"
same "$T/ref.raw" "$T/out.raw"
note "ok: relative backing names"

# no backing format recorded: the reader must probe the qcow2 base.
# (qemu-img refuses to write such images now; hide the extension by
# changing its type to one nobody knows.)
img=$T/nofmt.qcow2
mkq "$img" 10M -b "$base" -F qcow2
qio "$img" "write -P 0x81 3M 64k"
off=$(qcow2 "$img" ext_off 0xe2792aca)
be32 "$img" "$off" 0x51f1a5e0
qemu-img info "$img" | grep -q 'backing file format' &&
	fail "backing format extension still visible"
check "$img"

# ------------------------------------------------- external data file
# The data file name is relative: qflash resolves it against the image's
# directory (qemu 7.2 uses the working directory, so qemu runs there).
for raw in off on; do
	d=$T/ext-$raw
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		mkq meta.qcow2 8M -o data_file=disk.data,data_file_raw=$raw &&
		qio meta.qcow2 "write -P 0x91 0 100000" "write -z 65536 4096" \
			"write -P 0x92 5M 1M" "discard 5M 64k" &&
		ref_raw meta.qcow2 ../ref.raw
	) || fail "building the data_file_raw=$raw image failed"
	for dir in "$d" "$T/elsewhere" /; do
		note "data_file_raw=$raw from $dir"
		(cd "$dir" && flash_same "$T/ref.raw" "$d/meta.qcow2") ||
			fail "data_file_raw=$raw from $dir"
	done
	note "ok: external data file, data_file_raw=$raw"
done

# --------------------------------------------------- internal snapshots
img=$T/snap.qcow2
mkq "$img" 8M
qio "$img" "write -P 0xc1 0 2M"
qemu-img snapshot -c s1 "$img" || fail "snapshot s1"
qio "$img" "write -P 0xc2 1M 2M" "write -z 0 64k"
qemu-img snapshot -c s2 "$img" || fail "snapshot s2"
qio "$img" "write -P 0xc3 4M 1M" "discard 1M 1M"
check "$img"
ref_raw "$img" "$T/ref-s1.raw" -l snapshot.name=s1
ref_raw "$img" "$T/ref-s2.raw" -l snapshot.id=2
cmp -s "$T/ref-s1.raw" "$T/ref-s2.raw" && fail "snapshots should differ"
for sel in s1 1; do
	flash_same "$T/ref-s1.raw" "$img" -snapshot "$sel"
done
flash_same "$T/ref-s2.raw" "$img" -snapshot 2
run_q -src "$img" -dst "$T/nosnap.raw" -snapshot nosuch
[ "$RC" = 1 ] || fail "-snapshot nosuch: exit $RC, expected 1"
grep -q nosuch "$T/err.txt" || fail "-snapshot nosuch: message does not name it"
[ -e "$T/nosnap.raw" ] && fail "-snapshot nosuch created the destination"
note "ok: snapshots"

# ------------------------------------------------ dirty bit, lazy refcounts
img=$T/dirty.qcow2
mkq "$img" 8M
scatter "$img" $((8 << 20)) 65536
ref_raw "$img" "$T/ref.raw"
hexpatch "$img" $((72 + 7)) 01
flash_same "$T/ref.raw" "$img"
grep -q '^qflash: warning:' "$T/err.txt" ||
	fail "dirty image converted without a warning"
note "ok: dirty bit"

img=$T/lazy.qcow2
mkq "$img" 8M -o lazy_refcounts=on
scatter "$img" $((8 << 20)) 65536
check "$img"
# qemu-io's abort leaves a lazy-refcount image dirty, as a crash would.
(ulimit -c 0; qemu-io -f qcow2 -c "write -P 0xd1 6M 64k" -c abort "$img"; :) \
	>/dev/null 2>&1
[ $(($(qcow2 "$img" field incompatible_features) & 1)) = 1 ] ||
	fail "qemu-io abort did not leave the dirty bit"
ref_raw "$img" "$T/ref.raw"
flash_same "$T/ref.raw" "$img"
grep -q '^qflash: warning:' "$T/err.txt" ||
	fail "crashed lazy-refcount image converted without a warning"
note "ok: lazy refcounts"

# ---------------------------------------------------- sparse 1 TiB image
img=$T/huge.qcow2
mkq "$img" 1T
qio "$img" "write -P 0xe1 0 64k" "write -P 0xe2 $((512 << 30 | 12345)) 5000" \
	"write -P 0xe3 $(((1 << 40) - 4096)) 4096"
start=$(date +%s)
run_ok -src "$img" -dst "$T/huge.raw"
secs=$(($(date +%s) - start))
[ "$(file_size "$T/huge.raw")" = $((1 << 40)) ] ||
	fail "1 TiB output has size $(file_size "$T/huge.raw")"
alloc=$(allocated "$T/huge.raw")
[ "$alloc" -lt $((64 << 20)) ] ||
	fail "1 TiB output is not sparse: $alloc bytes allocated"
[ "$secs" -le 30 ] || fail "1 TiB sparse image took ${secs}s"
qemu-img compare -q -f qcow2 -F raw "$img" "$T/huge.raw" ||
	fail "1 TiB output differs from the image"
rm -f "$T/huge.raw"
note "ok: 1 TiB sparse in ${secs}s, $alloc bytes allocated"

# ------------------------------------------- existing destinations, -dst x2
img=$T/over.qcow2
mkq "$img" $ODD -o cluster_size=4096
scatter "$img" "$ODD" 4096
ref_raw "$img" "$T/ref.raw"
for pre in $((ODD + (1 << 20) + 7)) $((3 << 20)) "$ODD"; do
	rand_file "$T/out.raw" "$pre" 9
	run_ok -src "$img" -dst "$T/out.raw"
	[ "$(file_size "$T/out.raw")" = "$ODD" ] ||
		fail "existing $pre-byte destination left at $(file_size "$T/out.raw") bytes"
	same "$T/ref.raw" "$T/out.raw"
done
rand_file "$T/out2.raw" $((2 << 20)) 10
flash_same "$T/ref.raw" "$img" -dst "$T/out2.raw"
same "$T/ref.raw" "$T/out2.raw"
note "ok: existing destinations and two -dst"

# ------------------------------------------------- gzip / zstd raw streams
for z in gzip zstd; do
	command -v $z >/dev/null 2>&1 || continue
	$z -c -q "$T/mix.raw" >"$T/mix.raw.$z"
	flash_same "$T/mix.raw" "$T/mix.raw.$z"
	note "ok: $z stream"
done

# ------------------------------------- snapshot table at the end of file
# qemu writes no padding after the last snapshot table entry, so a table
# written last ends the file at an unaligned offset.
img=$T/snaplast.qcow2
mkq "$img" 4M
qio "$img" "write -P 0xf1 0 1M"
qemu-img snapshot -c final "$img" || fail "snapshot final"
[ $(($(file_size "$img") % 8)) != 0 ] ||
	fail "snapshot table unexpectedly ends on 8 bytes"
check "$img"
flash_same "$T/ref.raw" "$img" -snapshot final
note "ok: snapshot table ending the file"

exit 0
