#!/bin/bash
# http_variants.sh - the qcow2 features of the foundation, fetched from a
# local nginx: each image flashes to the bytes of `qemu-img convert -O raw`
# of the same file, and gz/zst raw images to the raw disk.  External data
# files and backing files are found relative to the image's URL.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img qemu-io cmp gzip zstd
start_nginx
note "nginx on $BASE"

W=$WWW/v
mkdir -p "$W"
# Data, zero clusters, a discard and a partial cluster at the end.
fill() {
	qio "$1" "write -P 0x11 0 1M" "write -P 0x22 3M 100k" "write -z 5M 1M" \
		"write -P 0x33 8191k 2k" "discard 3M 64k"
}

imgs=()
for compat in 0.10 1.1; do
	for cs in 512 65536 2M; do
		mkq "$W/c${compat}_$cs.qcow2" 10M -o compat=$compat,cluster_size=$cs
		fill "$W/c${compat}_$cs.qcow2"
		imgs+=("c${compat}_$cs.qcow2")
	done
done
qemu-img convert -q -c -O qcow2 "$W/c1.1_65536.qcow2" "$W/deflate.qcow2"
qemu-img convert -q -c -O qcow2 -o compression_type=zstd,cluster_size=4096 \
	"$W/c1.1_65536.qcow2" "$W/zstd4k.qcow2"
mkq "$W/extl2.qcow2" 10M -o extended_l2=on
qio "$W/extl2.qcow2" "write -P 0x55 4k 4k" "write -z 70k 2k" "write -P 0x66 1M 64k"
mkq "$W/odd.qcow2" $((10000896 + 512 * 3))
qio "$W/odd.qcow2" "write -P 0x44 10000000 2048"
imgs+=(deflate.qcow2 zstd4k.qcow2 extl2.qcow2 odd.qcow2)

# Chains: a raw base, and three qcow2 layers in sub-directories named
# relative to each other; the top is longer than its base.
mkdir -p "$W/chain/sub"
truncate -s 8M "$W/chain/base.raw"
dd if=/dev/urandom of="$W/chain/base.raw" bs=1M count=2 seek=1 conv=notrunc status=none
(cd "$W/chain" && mkq mid.qcow2 "" -b base.raw -F raw &&
	cd sub && mkq top.qcow2 12M -b ../mid.qcow2 -F qcow2) || fail "making the chain"
qio "$W/chain/mid.qcow2" "write -P 0x71 2M 64k"
qio "$W/chain/sub/top.qcow2" "write -P 0x72 0 4k" "write -z 1M 1M" "write -P 0x73 10M 1M"
imgs+=(chain/sub/top.qcow2)

# External data file, named relative to the image (qemu resolves it from
# the working directory, so its tools run there).
(cd "$W" && mkq ext.qcow2 10M -o data_file=ext.data && fill ext.qcow2) ||
	fail "making ext.qcow2"
imgs+=(ext.qcow2)

for img in "${imgs[@]}"; do
	(cd "$(dirname "$W/$img")" && ref_raw "$(basename "$img")" "$T/ref.raw" -q) ||
		fail "qemu-img convert $img"
	flash_same "$T/ref.raw" "$BASE/v/$img"
	note "ok: $img"
done

# An internal snapshot read over http.
mkq "$W/snap.qcow2" 10M
qio "$W/snap.qcow2" "write -P 1 0 1M"
qemu-img snapshot -c first "$W/snap.qcow2"
qio "$W/snap.qcow2" "write -P 2 0 512k"
ref_raw "$W/snap.qcow2" "$T/ref.raw" -q -l snapshot.name=first
flash_same "$T/ref.raw" "$BASE/v/snap.qcow2" -snapshot first
note "ok: -snapshot first"

# gzip and zstd raw images.
ref_raw "$W/c1.1_65536.qcow2" "$T/disk.raw" -q
gzip -c "$T/disk.raw" >"$W/disk.img.gz"
zstd -q -c "$T/disk.raw" >"$W/disk.img.zst"
for img in disk.img.gz disk.img.zst; do
	flash_same "$T/disk.raw" "$BASE/v/$img"
	note "ok: $img"
done
exit 0
