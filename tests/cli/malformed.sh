#!/bin/bash
# malformed.sh - one case per validation rule of the qcow2 reader: exit 1,
# a message naming the file and the problem, an existing destination left
# byte-for-byte unchanged and a missing one not created.
# Header offsets follow qemu's docs/interop/qcow2.txt.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

# mut NAME: a fresh copy of the good image to patch, path in $M.
good_qcow2 "$T/good.qcow2"
mut() {
	M=$T/$1.qcow2
	cp "$T/good.qcow2" "$M"
}

set_field() {  # set_field IMG FIELD VALUE
	qcow2 "$1" set "$2" "$3"
}

EOF_SIZE=$(file_size "$T/good.qcow2")

# ------------------------------------------------------------- magic
mut badmagic
hexpatch "$M" 0 00000000
reject "bad magic" "$M" 'not a qcow2 image'
rand_file "$T/random.bin" $((1 << 20)) 12
hexpatch "$T/random.bin" 0 "0badc0de"   # no gzip/zstd magic by chance
reject "random file" "$T/random.bin" 'not a qcow2 image'
printf 'hello\n' >"$T/text.txt"
reject "text file" "$T/text.txt" 'not a qcow2 image'
head -c 50 "$T/good.qcow2" >"$T/short.qcow2"
reject "truncated header" "$T/short.qcow2" 'short|truncat|small|header|end'

# ----------------------------------------------------------- header
for v in 1 4; do
	mut version$v
	set_field "$M" version $v
	reject "version $v" "$M" 'version'
done
for b in 8 22; do
	mut cbits$b
	set_field "$M" cluster_bits $b
	reject "cluster_bits $b" "$M" 'cluster'
done
for h in 96 108 65544; do
	mut hlen$h
	set_field "$M" header_length $h
	reject "header_length $h" "$M" 'header'
done
mut extpast
off=$(qcow2 "$M" ext_off 0x6803f857)
be32 "$M" $((off + 4)) 65536
reject "extension past the first cluster" "$M" 'extension'
mut refcorder
set_field "$M" refcount_order 7
reject "refcount_order 7" "$M" 'refcount'

# ----------------------------------------------------- refcount table
rt=$(qcow2 "$T/good.qcow2" field refcount_table_offset)
for v in 0 $((rt + 512)) $((1 << 40)); do
	mut reft$v
	set_field "$M" refcount_table_offset $v
	reject "refcount table offset $v" "$M" 'refcount'
done

# ------------------------------------------------------- backing name
mut backlong
set_field "$M" backing_file_offset 1024
set_field "$M" backing_file_size 1024
reject "backing name of 1024 bytes" "$M" 'backing'
mut backeof
set_field "$M" backing_file_offset $((EOF_SIZE - 4))
set_field "$M" backing_file_size 100
reject "backing name past EOF" "$M" 'backing'

# ------------------------------------------------------------ L1 table
l1=$(qcow2 "$T/good.qcow2" field l1_table_offset)
mut l1unal
set_field "$M" l1_table_offset $((l1 + 512))
reject "L1 offset unaligned" "$M" 'l1'
mut l1eof
set_field "$M" l1_table_offset $((1 << 40))
reject "L1 offset past EOF" "$M" 'l1'
mut l1zero
set_field "$M" l1_size 0
reject "l1_size 0 for 16 MiB" "$M" 'l1'
mut l1small
set_field "$M" size $((1 << 30))
reject "l1_size 1 for 1 GiB" "$M" 'l1'
mut l1huge
set_field "$M" l1_size $((32 * 1048576 / 8 + 1))
reject "l1_size over 32 MiB" "$M" 'l1'

# ------------------------------------------------------- L1/L2 entries
l1e=$(qcow2 "$T/good.qcow2" l1_off 0)
l2=$((0x$(readhex "$T/good.qcow2" "$l1e" 8) & 0x00fffffffffffe00))
mut l2unal
be64 "$M" "$l1e" $((l2 + 512 | 1 << 63))
reject "L2 offset unaligned" "$M" 'l2'
mut l2eof
be64 "$M" "$l1e" $((1 << 40 | 1 << 63))
reject "L2 offset past EOF" "$M" 'l2'
mut l1res
or64 "$M" "$l1e" $((1 << 56))
reject "reserved bit 56 in an L1 entry" "$M" 'reserved'
mut l1res2
or64 "$M" "$l1e" 2
reject "reserved bit 1 in an L1 entry" "$M" 'reserved'
l2e=$(qcow2 "$T/good.qcow2" l2_off 1048576)
mut l2res
or64 "$M" "$l2e" $((1 << 56))
reject "reserved bit 56 in an L2 entry" "$M" 'reserved'
mut l2res2
or64 "$M" "$l2e" 2
reject "reserved bit 1 in an L2 entry" "$M" 'reserved'

# ------------------------------------------------- compressed clusters
mkq "$T/comp.qcow2" 16M
qio "$T/comp.qcow2" "write -P 0x60 0 64k" "write -c -P 0x61 1M 64k" \
	"write -c -P 0x62 192k 64k"
ce=$(qcow2 "$T/comp.qcow2" l2_off 1048576)
cp "$T/comp.qcow2" "$T/compeof.qcow2"
M=$T/compeof.qcow2
v=$((0x$(readhex "$M" "$ce" 8)))
x=$((62 - (16 - 8)))
host=$(( $(file_size "$M") + 65536 + 100 ))
be64 "$M" "$ce" $(( (v & ~((1 << x) - 1)) | host ))
reject "compressed cluster past EOF" "$M" 'compress|past|beyond|end'

# ------------------------------------------------------------ snapshots
good_qcow2 "$T/snap.qcow2"
qemu-img snapshot -c s1 "$T/snap.qcow2" || fail "snapshot"
cp "$T/snap.qcow2" "$T/snapmany.qcow2"
set_field "$T/snapmany.qcow2" nb_snapshots 65537
reject "nb_snapshots 65537" "$T/snapmany.qcow2" 'snapshot'
cp "$T/snap.qcow2" "$T/snapeof.qcow2"
set_field "$T/snapeof.qcow2" snapshots_offset $((1 << 40))
reject "snapshot table past EOF" "$T/snapeof.qcow2" 'snapshot'
cp "$T/snap.qcow2" "$T/snapunal.qcow2"
so=$(qcow2 "$T/snap.qcow2" field snapshots_offset)
set_field "$T/snapunal.qcow2" snapshots_offset $((so + 8))
reject "snapshot table unaligned" "$T/snapunal.qcow2" 'snapshot'

# ------------------------------------------------------ feature bits
mut bit5
or64 "$M" 72 $((1 << 5))
also='(^|[^0-9a-fx])5([^0-9]|$)|0x0*20([^0-9a-f]|$)' \
	reject "unknown incompatible bit 5" "$M" 'incompatible|feature|unsupported'
# With a feature name table entry for bit 5 its name must be shown: turn
# the table's autoclear "bitmaps" entry into incompatible bit 5.
mut bit5named
or64 "$M" 72 $((1 << 5))
fo=$(qcow2 "$M" ext_off 0x6803f857)
flen=$((0x$(readhex "$M" $((fo + 4)) 4)))
found=
for ((e = fo + 8; e < fo + 8 + flen; e += 48)); do
	if [ "$(readhex "$M" "$e" 2)" = 0200 ]; then
		name=$(printf 'frobnicated widgets' | od -An -v -tx1 | tr -d ' \n')
		hexpatch "$M" "$e" "0005${name}$(printf '%0*d' $(((46 - 19) * 2)) 0)"
		found=1
		break
	fi
done
[ -n "$found" ] || fail "no bitmaps entry in the feature name table"
reject "incompatible bit 5 with a name" "$M" 'frobnicated widgets'

mut corrupt
or64 "$M" 72 2
reject "corrupt bit" "$M" 'corrupt'
# The CLI says how to go on (the library names no front end's flags).
grep -q 'image is marked corrupt; use -force to read it anyway' "$T/err.txt" ||
	fail "corrupt bit: no -force hint: $(cat "$T/err.txt")"
ref_raw "$T/good.qcow2" "$T/ref.raw"
flash_same "$T/ref.raw" "$M" -force
note "ok: corrupt bit accepted with -force"

# ----------------------------------------------------------- encryption
for m in 1 2; do
	mut crypt$m
	set_field "$M" crypt_method $m
	reject "crypt_method $m" "$M" 'encrypt'
done
# qemu-img times its key derivation on the thread's CPU clock before it
# writes a LUKS header, and gives up ("Unable to get accurate CPU usage")
# when one round took no measurable time, which happens on a loaded
# machine: a few tries make that rare.
for fmt in aes luks; do
	made=
	for try in 1 2 3 4 5; do
		if qemu-img create -q --object secret,id=sec0,data=123456 -f qcow2 \
			-o encrypt.format=$fmt,encrypt.key-secret=sec0 \
			"$T/enc-$fmt.qcow2" 16M 2>"$T/enc.err"; then
			made=1
			break
		fi
		cat "$T/enc.err" >&2
	done
	[ -n "$made" ] || fail "create $fmt image"
	reject "$fmt encrypted image" "$T/enc-$fmt.qcow2" 'encrypt'
done

# -------------------------------------------------------- backing chains
# qemu refuses to open such chains, so rebase -u writes them.
mkq "$T/self.qcow2" 1M
qemu-img rebase -u -b self.qcow2 -F qcow2 "$T/self.qcow2" || fail "rebase self"
reject "image backed by itself" "$T/self.qcow2" 'loop|cycl|recurs|itself|circular'
mkq "$T/la.qcow2" 1M
mkq "$T/lb.qcow2" 1M -u -b la.qcow2 -F qcow2
qemu-img rebase -u -b lb.qcow2 -F qcow2 "$T/la.qcow2" || fail "rebase la"
named=la.qcow2 \
	reject "loop la -> lb -> la" "$T/la.qcow2" 'loop|cycl|recurs|itself|circular'

mkq "$T/d0.qcow2" 1M
for ((i = 1; i <= 66; i++)); do
	mkq "$T/d$i.qcow2" 1M -u -b "d$((i - 1)).qcow2" -F qcow2
done
named=d66.qcow2 reject "chain of 67 images" "$T/d66.qcow2" \
	'deep|depth|chain|too many|long|levels|layers'

# --------------------------------------------------------- virtual size
mut hugesize
set_field "$M" size $((1 << 63))
reject "virtual size 2^63" "$M" 'size|large|big|overflow'
mut maxsize
set_field "$M" size -512
reject "virtual size 2^64-512" "$M" 'size|large|big|overflow'

# ------------------------------------ garbage in a compressed cluster
# A read-time error: only the exit status and the message are checked.
cp "$T/comp.qcow2" "$T/garbage.qcow2"
read -r host len <<<"$(qcow2 "$T/garbage.qcow2" compressed 196608)"
hexpatch "$T/garbage.qcow2" "$host" "$(printf 'ff%.0s' $(seq 1 "$len"))"
rm -f "$T/out.raw"
run_q -src "$T/garbage.qcow2" -dst "$T/out.raw"
[ "$RC" = 1 ] || fail "garbage compressed cluster: exit $RC, want 1"
grep -Eiq '196608|0x0*30000([^0-9a-f]|$)' "$T/err.txt" ||
	fail "garbage compressed cluster: message lacks virtual offset 196608: $(cat "$T/err.txt")"
grep -q 'garbage.qcow2' "$T/err.txt" ||
	fail "garbage compressed cluster: message does not name the file"
note "ok: garbage compressed cluster: $(head -n 1 "$T/err.txt")"

exit 0
