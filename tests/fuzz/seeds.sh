#!/bin/sh
# seeds.sh OUTDIR [HARNESS...] - seed inputs for the fuzzing harnesses,
# made with the tools that make real images (qemu-img and qemu-io, sfdisk
# and sgdisk, gzip, zstd, xz, lz4, bzip2, python's zipfile, bmaptool,
# sha256sum) into OUTDIR/HARNESS/.  Images are kept
# small (clusters of 512 bytes to 64 KiB, disks of a few hundred KiB): the
# fuzzer mutates every byte of them.  A tool that is missing leaves its
# seeds out; the harness still runs.
set -eu
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
[ $# -gt 0 ] || set -- qcow2 ptable gzip zstd xz lz4 bzip2 zip http sums bmap history \
	catalog
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qflash-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

have() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}
tool() {
	for d in "" /usr/sbin/ /sbin/; do
		if command -v "$d$1" >/dev/null 2>&1; then
			echo "$d$1"
			return
		fi
	done
}

# Some bytes worth compressing: text, a run of zeros, a pattern.
payload() {
	{ seq 1 2000; head -c 20000 /dev/zero; seq 5000 5400 | rev; } >"$1"
}

qcow2_seeds() {
	d=$out/qcow2
	have qemu-img || return 0
	q() { qemu-img "$@" >/dev/null; }
	io() { qemu-io -f qcow2 "$@" >/dev/null; }
	n=0
	for compat in 0.10 1.1; do
		for cs in 512 4096; do
			n=$((n + 1))
			f=$tmp/q$n.qcow2
			q create -f qcow2 -o compat=$compat,cluster_size=$cs "$f" 256K
			io -c "write -P 0xaa 0 4k" -c "write -P 0x55 100k 8k" "$f"
			[ $compat = 0.10 ] || io -c "write -z 16k 8k" "$f"
			cp "$f" "$d/$compat-c$cs.qcow2"
		done
	done
	payload "$tmp/raw"
	truncate -s 128K "$tmp/raw"
	for ct in zlib zstd; do
		q convert -c -f raw -O qcow2 -o cluster_size=4096,compression_type=$ct \
			"$tmp/raw" "$d/compressed-$ct.qcow2" 2>/dev/null ||
		q convert -c -f raw -O qcow2 -o cluster_size=4096 \
			"$tmp/raw" "$d/compressed-$ct.qcow2"
	done
	f=$d/extended-l2.qcow2
	q create -f qcow2 -o extended_l2=on,cluster_size=16384 "$f" 128K
	io -c "write -P 0x11 2k 1k" -c "write -z 40k 4k" "$f"
	f=$d/snapshot.qcow2
	q create -f qcow2 -o cluster_size=4096 "$f" 128K
	io -c "write -P 0x22 0 8k" "$f"
	q snapshot -c first "$f"
	io -c "write -P 0x33 4k 8k" "$f"
	f=$d/refcount-bits.qcow2
	q create -f qcow2 -o refcount_bits=1,cluster_size=4096 "$f" 64K
	f=$d/lazy-dirty.qcow2
	q create -f qcow2 -o lazy_refcounts=on,cluster_size=4096 "$f" 64K
	io -c "write -P 0x44 0 4k" "$f"
	# Refused in memory, but their header extensions are parsed first.
	q create -f qcow2 -o cluster_size=4096,data_file="$tmp/data.raw",data_file_raw=on \
		"$d/data-file.qcow2" 64K
	(cd "$d" && q create -f qcow2 -o cluster_size=4096 -b lazy-dirty.qcow2 \
		-F qcow2 backing.qcow2)
}

ptable_seeds() {
	d=$out/ptable
	if have sfdisk; then
		sfdisk=$(tool sfdisk)
		truncate -s 512K "$tmp/mbr"
		printf 'label: dos\nstart=64, size=256, type=83, bootable\nstart=320, size=128, type=b\n' |
			$sfdisk -q "$tmp/mbr" >/dev/null
		head -c 64K "$tmp/mbr" >"$d/mbr-primary.img"
		truncate -s 128K "$tmp/ext"
		printf 'label: dos\nstart=8, size=32, type=83\nstart=48, size=200, type=5\nstart=56, size=32, type=83\nstart=100, size=32, type=82\nstart=150, size=50, type=7\n' |
			$sfdisk -q "$tmp/ext" >/dev/null
		cp "$tmp/ext" "$d/mbr-logical.img"
	fi
	if have sgdisk; then
		sgdisk=$(tool sgdisk)
		truncate -s 64K "$tmp/gpt"
		$sgdisk -q -n 1:34:+24 -t 1:ef00 -c 1:boot -n 2:0:+20 -t 2:8300 \
			-c 2:root "$tmp/gpt" >/dev/null
		cp "$tmp/gpt" "$d/gpt.img"
		cp "$tmp/gpt" "$tmp/hybrid"
		$sgdisk -q -h 1 "$tmp/hybrid" >/dev/null 2>&1 && cp "$tmp/hybrid" "$d/gpt-hybrid.img"
		# The primary header damaged: the backup at the end is used.
		cp "$tmp/gpt" "$d/gpt-backup.img"
		printf 'XXXXXXXX' | dd of="$d/gpt-backup.img" bs=1 seek=512 conv=notrunc 2>/dev/null
	fi
}

codec_seeds() {  # harness tool
	d=$out/$1
	have "$2" || return 0
	payload "$tmp/p"
	head -c 3000 /dev/urandom >"$tmp/r"
	$2 -c <"$tmp/p" >"$d/piped"
	$2 -c "$tmp/p" >"$d/file"
	{ $2 -c <"$tmp/p"; $2 -c <"$tmp/r"; } >"$d/two"
	: | $2 -c >"$d/empty"
	case $2 in
	zstd)
		zstd -q -c --no-check -19 "$tmp/p" >"$d/nocheck"
		zstd -q -c --content-size "$tmp/r" >"$d/random" ;;
	gzip) gzip -c -1 -n "$tmp/r" >"$d/random" ;;
	xz) xz -c -T2 --block-size=8192 "$tmp/p" >"$d/blocks" ;;
	lz4) lz4 -q -c --content-size "$tmp/p" >"$d/sized" ;;
	*) ;;
	esac
}

zip_seeds() {
	d=$out/zip
	have python3 || return 0
	payload "$tmp/disk.img"
	echo "papers" >"$tmp/README.txt"
	python3 - "$d" "$tmp/disk.img" "$tmp/README.txt" <<'PY'
import os, sys, zipfile
d, img, txt = sys.argv[1:4]
for name, m in (("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED),
                ("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)):
    with zipfile.ZipFile(os.path.join(d, name), "w", m) as z:
        z.write(img, "disk.img")
        z.write(txt, "README.txt")
PY
}

bmap_seeds() {
	d=$out/bmap
	have bmaptool || return 0
	payload "$tmp/disk.img"
	truncate -s 256K "$tmp/disk.img"
	bmaptool create "$tmp/disk.img" -o "$d/v2" 2>/dev/null || return 0
	sed 's/<bmap version="2.0">/<bmap version="1.4">/; s/chksum=/sha1=/' \
		"$d/v2" >"$d/v1"
}

http_seeds() {
	d=$out/http
	# status1 status2 flags off(4) len(4) split piece; little-endian.
	hdr() { printf "$1"; }
	{ hdr '\316\000\316\000\000\000\000\000\000\020\000\000\000\200\017'
	  printf 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/100000\r\nETag: "abc"\r\n\r\n'
	  printf 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4095/100000\r\nETag: "abc"\r\n\r\n'
	  head -c 4096 /dev/zero | tr '\0' 'x'; } >"$d/range"
	{ hdr '\316\000\316\000\000\020\000\000\000\000\001\000\000\100\377'
	  printf 'HTTP/1.1 302 Found\r\nLocation: /b\r\n'
	  printf 'HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-0/1048576\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'
	  printf 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4096-8191/1048576\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'
	  head -c 4100 /dev/zero; } >"$d/redirect"
	{ hdr '\240\001\316\000\001\000\000\000\000\000\000\000\000\000\000'
	  printf 'HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\n\r\n'; } >"$d/empty416"
	{ hdr '\310\000\310\000\001\000\000\000\000\000\000\000\000\000\000'
	  printf 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'; } >"$d/empty200"
	{ hdr '\316\000\316\000\000\000\000\000\000\000\010\000\000\000\007'
	  printf 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/4096\r\nETag: W/"1"\r\n\r\n'
	  printf 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1023/8192\r\nETag: W/"2"\r\n\r\n'; } >"$d/changed"
	# 404, 503, 543, 401
	for s in '\224\001' '\367\001' '\037\002' '\221\001'; do
		n=$((${n:-0} + 1))
		{ hdr "$s"'\316\000\000\000\000\000\000\000\000\000\000\000\000'
		  printf 'HTTP/1.1 000 X\r\nContent-Range: bytes 0-9/10\r\n\r\n'; } >"$d/status-$n"
	done
}

sums_seeds() {
	d=$out/sums
	printf 'hello\n' >"$tmp/disk.img"
	printf 'x\n' >"$tmp/other.img"
	( cd "$tmp" && {
		echo disk.img; sha256sum disk.img other.img; } >"$d/text"
	  { echo /srv/images/disk.img; sha256sum -b other.img disk.img; } >"$d/binary"
	  { echo disk.img; sha256sum --tag other.img disk.img; } >"$d/bsd"
	  { echo disk.img; sha256sum disk.img | sed 's/$/\r/'; } >"$d/crlf"
	  { echo 'https://example.invalid/a/disk.img'; sha256sum disk.img |
		sed 's| | sub/dir/|'; } >"$d/path" )
}

history_seeds() {
	d=$out/history
	r='"image":"/srv/disk.qcow2","virtual_size":1048576,"mode":"whole-disk"'
	t='"target":"/dev/sdb","model":"Ultra","serial":"4C53","target_size":2097152'
	{ echo "{\"time\":\"2026-01-02T10:00:00Z\",$r,\"checksum\":null,$t,\"adjustments\":[],\"bytes_written\":0,\"bytes_zeroed\":0,\"duration\":0.000,\"result\":\"started\",\"verify\":\"pending\",\"error\":\"\"}"
	  echo "{\"time\":\"2026-01-02T10:00:00Z\",$r,\"source_sha256\":\"$(printf '%064d' 1)\",\"snapshot\":{\"id\":\"1\",\"name\":\"s\"},\"checksum\":\"xxh3-4m:f3f7cd5ad56618e0\",$t,\"adjustments\":[\"backup-gpt-moved\"],\"bytes_written\":65536,\"bytes_zeroed\":983040,\"duration\":0.233,\"result\":\"ok\",\"verify\":\"ok\",\"error\":\"\"}"
	  echo "{\"time\":\"2026-01-02T11:00:00Z\",$r,$t,\"result\":\"started\"}"
	} >"$d/paired"
	{ echo "{\"time\":\"2026-01-03T08:00:00+01:00\",$r,$t,\"result\":\"ok\",\"slot\":4,\"station\":\"bench\",\"operator\":\"ann\",\"wwn\":\"0x5\",\"rate\":1e8,\"qualify\":{\"claimed\":2097152,\"usable\":1048576,\"write_rate\":5e7},\"healed\":[1,2],\"finished\":\"2026-01-03T08:00:09Z\"}"
	  echo 'not json'
	  printf '{"time":"2026-01-03T09:00:00Z","target":"/dev/sdc","resu'
	} >"$d/station"
}

# The first byte chooses the catalog's name: even a local file, odd a URL.
catalog_seeds() {
	d=$out/catalog
	h=$(printf '%064d' 7)
	e='"name":"POS 2025","description":"Point of sale","url":"../pos/pos.img.xz","extract_size":1048576,"image_download_size":4096'
	printf '0{"os_list":[{"name":"Site","subitems":[{%s,"image_download_sha256":"%s","extract_sha256":"%s","release_date":"2025-03-01","bmap":"pos.bmap","signature":"pos.sig"},{"name":"Kiosk","url":"/k.img.gz"}]},{"name":"Rescue","url":"https://example.invalid/r.img","icon":"r.png"}]}\n' "$e" "$h" "$h" >"$d/nested"
	printf '1[{%s},{"name":"Kiosk","url":"//cdn.example.invalid/k.img"},{"name":"Kiosk","url":"ftp://x/y"},{"url":"x"},{"name":"D","subitems":[{"name":"E","subitems":[{"name":"F","subitems":[]}]}]},{"name":"Bad","url":"b.img","release_date":"2023-02-29","extract_size":-1,"image_download_sha256":"abc"}]' "$e" >"$d/bare"
}

for h; do
	mkdir -p "$out/$h"
	case $h in
	qcow2) qcow2_seeds ;;
	ptable) ptable_seeds ;;
	gzip|zstd|xz|lz4|bzip2) codec_seeds "$h" "$h" ;;
	zip) zip_seeds ;;
	bmap) bmap_seeds ;;
	http) http_seeds ;;
	sums) sums_seeds ;;
	history) history_seeds ;;
	catalog) catalog_seeds ;;
	*) echo "seeds.sh: no harness $h" >&2; exit 2 ;;
	esac
done
