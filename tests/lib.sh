# tests/lib.sh - helpers shared by the shell tests (bash; sourced, not run).
#
# Gives each test a private temp dir $T removed on exit (plus cleanup hooks
# for loop devices and mounts), skip/fail helpers with automake's exit codes
# (77 skip, 1 fail), reference conversions through qemu-img, and builders
# for partitioned disks and byte-level patches of qcow2 files.
# Other helpers may append functions at the end of this file.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "tests/lib.sh needs bash" >&2
	exit 99
fi

set -u
export LC_ALL=C
PATH=$PATH:/usr/sbin:/sbin
export PATH

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${QFLASH:=$top_builddir/src/qflash}"
export top_srcdir top_builddir QFLASH

TEST_NAME=$(basename "$0" .sh)
MAIN_PID=$$

# ------------------------------------------------------------ exit codes

skip() {
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}

# fail may run inside $(...): the signal makes the main shell fail too.
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	[ "$BASHPID" != "$MAIN_PID" ] && kill -USR1 "$MAIN_PID" 2>/dev/null
	exit 1
}

# Progress lines make the .log readable when a case fails.
note() {
	echo "# $*"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not found"
	done
}

# ------------------------------------------------------- temp dir, hooks

CLEANUP_HOOKS=()

# Run "$*" at exit, newest first (detach loops before removing their files).
on_exit() {
	CLEANUP_HOOKS+=("$*")
}

run_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP_HOOKS[i]}" >/dev/null 2>&1
	done
	CLEANUP_HOOKS=()
	# KEEP=1 leaves $T behind for a look at logs and images.
	[ -z "${KEEP:-}" ] && [ -n "${T:-}" ] && [ -d "$T" ] && rm -rf "$T"
	return $rc
}

T=$(mktemp -d "${TMPDIR:-/tmp}/qflash-$TEST_NAME.XXXXXX") ||
	{ echo "mktemp failed" >&2; exit 99; }
trap run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 1' USR1

[ -x "$QFLASH" ] || fail "QFLASH=$QFLASH is not an executable"

# The tests start python3 hundreds of times: the system's, when a version
# manager's shim (ten times slower to start) comes first on PATH.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$T/.bin"
	ln -s /usr/bin/python3 "$T/.bin/python3"
	PATH=$T/.bin:$PATH
fi

# --------------------------------------------------------- root and loop

# have_root_loop: succeeds when loop devices can be attached here (root,
# losetup, a free device); otherwise fails with the reason in $LOOP_WHY.
have_root_loop() {
	local f=$T/.loopprobe dev
	LOOP_WHY="needs root for loop devices"
	[ "$(id -u)" = 0 ] || return 1
	LOOP_WHY="losetup not found"
	command -v losetup >/dev/null 2>&1 || return 1
	LOOP_WHY="losetup cannot attach a loop device here"
	truncate -s 1M "$f"
	dev=$(losetup -f --show "$f" 2>/dev/null) || { rm -f "$f"; return 1; }
	losetup -d "$dev"
	rm -f "$f"
}

# need_root_loop: skip the test unless have_root_loop.
need_root_loop() {
	have_root_loop || skip "$LOOP_WHY"
}

# loop_attach FILE [LOSETUP OPTIONS...]: attach FILE to a free loop device
# (-r: read-only), name in $LOOP; detached at exit.  Call it in the main
# shell, not inside $(...), or the cleanup hook is lost with the subshell.
loop_attach() {
	local f=$1
	shift
	LOOP=$(losetup "$@" -f --show "$f") || fail "losetup ${*:+$* }$f failed"
	on_exit "loop_release '$LOOP' '$(realpath "$f")'"
}

# loop_release DEV FILE: detach DEV while it still holds FILE.  A test
# that detached it early may find the number taken by another test's
# device at exit, which is not its to detach.
loop_release() {
	[ "$(losetup -nO BACK-FILE "$1" 2>/dev/null)" = "$2" ] && losetup -d "$1"
}

# loop_file NAME SIZE SEED [LOSETUP OPTIONS...]: random backing file
# $T/NAME.img, a copy in $T/NAME.orig, attached to the loop device $LOOP.
loop_file() {
	local name=$1
	rand_file "$T/$name.img" "$2" "$3"
	cp "$T/$name.img" "$T/$name.orig"
	shift 3
	loop_attach "$T/$name.img" "$@"
}

# --------------------------------------------------------------- running

# run_q ARGS...: run $QFLASH, stdout in $T/out.txt, stderr in $T/err.txt,
# exit status in $RC (never fails by itself).
run_q() {
	RC=0
	"$QFLASH" "$@" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
	return 0
}

# run_ok ARGS...: run $QFLASH and fail unless it exits 0.
run_ok() {
	run_q "$@"
	if [ "$RC" != 0 ]; then
		sed 's/^/#   stderr: /' "$T/err.txt" >&2
		fail "qflash $* exited $RC"
	fi
}

# ------------------------------------------------------------ comparisons

# ref_raw IMG OUT [qemu-img convert options...]: the reference raw bytes.
ref_raw() {
	local img=$1 out=$2
	shift 2
	rm -f "$out"
	qemu-img convert "$@" -O raw "$img" "$out" ||
		fail "qemu-img convert $img failed"
}

# same FILE1 FILE2: byte-identical and the same size, else fail naming the
# first difference.
same() {
	local d s1 s2
	if cmp -s "$1" "$2"; then
		return 0
	fi
	d=$(cmp "$1" "$2" 2>&1 | head -n 1)
	s1=$(stat -c %s "$1" 2>/dev/null)
	s2=$(stat -c %s "$2" 2>/dev/null)
	fail "$1 ($s1 bytes) and $2 ($s2 bytes) differ: $d"
}

# flash_same REF SRC [qflash options...]: flash SRC to $T/out.raw, fail
# unless qflash exits 0 and the output is byte-identical to REF.
flash_same() {
	local ref=$1 src=$2
	shift 2
	rm -f "$T/out.raw"
	run_ok -src "$src" -dst "$T/out.raw" "$@"
	same "$ref" "$T/out.raw"
}

# file_size FILE: size in bytes.
file_size() {
	stat -c %s "$1"
}

# allocated FILE: bytes of FILE's blocks on disk.
allocated() {
	echo $(($(stat -c '%b * %B' "$1")))
}

# ----------------------------------------------------------- random data

# rand_file OUT SIZE [SEED]: deterministic pseudo-random bytes (AES-CTR
# of zeros by openssl, which is fast; Python's generator without it).
rand_file() {
	if command -v openssl >/dev/null; then
		openssl enc -aes-128-ctr -nosalt -K 0123456789abcdef0123456789abcdef \
			-iv "$(printf '%032x' "${3:-1}")" </dev/zero 2>/dev/null |
			head -c "$2" >"$1"
		[ "$(stat -c %s "$1")" = "$2" ] || fail "rand_file $1 $2"
		return 0
	fi
	python3 - "$1" "$2" "${3:-1}" <<'EOF'
import random, sys
out, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(out, "wb") as f:
    left = size
    while left:
        n = min(left, 1 << 20)
        f.write(r.randbytes(n))
        left -= n
EOF
}

# --------------------------------------------------------- byte patching

# hexpatch FILE OFFSET HEXBYTES: overwrite bytes in place ("00ff10...").
hexpatch() {
	local file=$1 off=$(($2)) hex=$3 esc
	esc=$(printf '%s' "$hex" | sed 's/../\\x&/g')
	printf "$esc" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none ||
		fail "hexpatch $file $off failed"
}

# be32 FILE OFFSET VALUE / be64 FILE OFFSET VALUE: big-endian writes.
# VALUE goes through shell arithmetic, so 0x8000000000000000 works.
be32() {
	hexpatch "$1" "$2" "$(printf '%08x' $(($3 & 0xffffffff)))"
}

be64() {
	hexpatch "$1" "$2" "$(printf '%016x' $(($3)))"
}

# readhex FILE OFFSET LEN: the bytes as lowercase hex.
readhex() {
	od -An -v -tx1 -j "$(($2))" -N "$(($3))" "$1" | tr -d ' \n'
}

# ------------------------------------------------------ qcow2 internals

# One python program answers questions about a qcow2 file's layout so the
# malformed-image tests can patch the right bytes.
#   qcow2 IMG field NAME          header field value (decimal)
#   qcow2 IMG set NAME VALUE      write a header field
#   qcow2 IMG field_off NAME      file offset of a header field
#   qcow2 IMG l1_off INDEX        file offset of active L1 entry INDEX
#   qcow2 IMG l2_off VOFF         file offset of the L2 entry mapping VOFF
#   qcow2 IMG ext_off TYPE        file offset of header extension TYPE
#   qcow2 IMG compressed VOFF     "host_off length" of a compressed cluster
QCOW2_PY='
import struct, sys
FIELDS = {
    "magic": (0, 4), "version": (4, 4), "backing_file_offset": (8, 8),
    "backing_file_size": (16, 4), "cluster_bits": (20, 4), "size": (24, 8),
    "crypt_method": (32, 4), "l1_size": (36, 4), "l1_table_offset": (40, 8),
    "refcount_table_offset": (48, 8), "refcount_table_clusters": (56, 4),
    "nb_snapshots": (60, 4), "snapshots_offset": (64, 8),
    "incompatible_features": (72, 8), "compatible_features": (80, 8),
    "autoclear_features": (88, 8), "refcount_order": (96, 4),
    "header_length": (100, 4), "compression_type": (104, 1),
}
FMT = {1: ">B", 4: ">I", 8: ">Q"}
img, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
f = open(img, "r+b")
def get(name):
    off, n = FIELDS[name]
    f.seek(off)
    return struct.unpack(FMT[n], f.read(n))[0]
def u64(off):
    f.seek(off)
    return struct.unpack(">Q", f.read(8))[0]
def die(msg):
    sys.exit("qcow2 helper: %s: %s" % (img, msg))
cbits = get("cluster_bits")
csize = 1 << cbits
ext_l2 = get("version") >= 3 and (get("incompatible_features") >> 4) & 1
entry = 16 if ext_l2 else 8
def l2_off(voff):
    l2_entries = csize // entry
    cl = voff >> cbits
    l1 = u64(get("l1_table_offset") + 8 * (cl // l2_entries))
    l2 = l1 & 0x00fffffffffffe00
    if not l2:
        die("no L2 table for virtual offset %d" % voff)
    return l2 + entry * (cl % l2_entries)
if cmd == "field":
    print(get(args[0]))
elif cmd == "field_off":
    print(FIELDS[args[0]][0])
elif cmd == "set":
    off, n = FIELDS[args[0]]
    f.seek(off)
    f.write(struct.pack(FMT[n], int(args[1], 0) & ((1 << (8 * n)) - 1)))
elif cmd == "l1_off":
    print(get("l1_table_offset") + 8 * int(args[0], 0))
elif cmd == "l2_off":
    print(l2_off(int(args[0], 0)))
elif cmd == "ext_off":
    want = int(args[0], 0)
    off = get("header_length") if get("version") >= 3 else 72
    while off + 8 <= csize:
        f.seek(off)
        t, n = struct.unpack(">II", f.read(8))
        if t == want:
            print(off)
            break
        if t == 0:
            die("no header extension 0x%08x" % want)
        off += 8 + ((n + 7) & ~7)
    else:
        die("header extensions run past the first cluster")
elif cmd == "compressed":
    e = u64(l2_off(int(args[0], 0)))
    if not (e >> 62) & 1:
        die("virtual offset %s is not compressed" % args[0])
    x = 62 - (cbits - 8)
    host = e & ((1 << x) - 1)
    sectors = ((e >> x) & ((1 << (62 - x)) - 1)) + 1
    print(host, sectors * 512 - (host & 511))
else:
    die("unknown command " + cmd)
'

qcow2() {
	python3 -c "$QCOW2_PY" "$@" || fail "qcow2 helper failed: $*"
}

# ------------------------------------------------------ partitioned disks

# part_range DISK N: "START SIZE" in bytes of partition N (sfdisk's view).
part_range() {
	sfdisk --json "$1" 2>/dev/null | python3 -c '
import json, re, sys
t = json.load(sys.stdin)["partitiontable"]
ss = t.get("sectorsize", 512)
for p in t["partitions"]:
    if int(re.search(r"(\d+)$", p["node"]).group(1)) == int(sys.argv[1]):
        print(p["start"] * ss, p["size"] * ss)
        break
else:
    sys.exit("no partition %s" % sys.argv[1])
' "$2" || fail "part_range $1 $2 failed"
}

# put_fs DISK N FSIMAGE: copy a filesystem image into partition N.
put_fs() {
	local r start size
	r=$(part_range "$1" "$2")
	start=${r% *}
	size=${r#* }
	[ "$(file_size "$3")" -le "$size" ] || fail "$3 larger than partition $2"
	dd if="$3" of="$1" bs=64K seek="$start" oflag=seek_bytes conv=notrunc \
		status=none || fail "dd $3 into $1 failed"
}

# mk_vfat OUT SIZE LABEL: a FAT filesystem image holding one small file
# when mtools is there (mkfs.vfat cannot populate without a mount).
mk_vfat() {
	rm -f "$1"
	truncate -s "$2" "$1"
	mkfs.vfat -n "$3" -i 1234ABCD "$1" >/dev/null || fail "mkfs.vfat failed"
	if command -v mcopy >/dev/null 2>&1; then
		printf 'qflash test file\n' >"$T/.vfat-file.txt"
		mcopy -i "$1" "$T/.vfat-file.txt" ::/HELLO.TXT ||
			fail "mcopy failed"
	fi
}

# mk_ext4 OUT SIZE LABEL UUID: an ext4 image populated from a directory.
mk_ext4() {
	local d=$T/.ext4-content.$$
	rm -rf "$d" "$1"
	mkdir -p "$d/etc" "$d/data"
	printf 'hello from %s\n' "$3" >"$d/etc/motd"
	seq 1 20000 >"$d/data/numbers.txt"
	rand_file "$d/data/blob.bin" 300000 7
	truncate -s "$2" "$1"
	E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -L "$3" -U "$4" \
		-E root_owner=0:0,hash_seed=7b5e1cfd-0ad5-4c1d-9f3e-2d0a4b8e6f11 \
		-d "$d" "$1" >/dev/null || fail "mkfs.ext4 failed"
	rm -rf "$d"
}

# make_gpt_disk OUT SIZE: GPT with a 64 MiB vfat EFI partition and an ext4
# partition filling the rest (SIZE >= 100M is comfortable).
make_gpt_disk() {
	local out=$1 size=$2
	need_cmd sfdisk mkfs.vfat mkfs.ext4
	rm -f "$out"
	truncate -s "$size" "$out"
	sfdisk -q "$out" >/dev/null <<'EOF' || fail "sfdisk (gpt) failed"
label: gpt
label-id: 5A1C2B3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D
start=2048, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-4333-8444-555555555555, name="EFI"
start=133120, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=66666666-7777-4888-9999-AAAAAAAAAAAA, name="root fs"
EOF
	local r2 sz2
	r2=$(part_range "$out" 2)
	sz2=${r2#* }
	mk_vfat "$T/.efi.img" 64M EFI
	put_fs "$out" 1 "$T/.efi.img"
	mk_ext4 "$T/.root.img" "$sz2" rootfs 0b1e4d9a-3c2f-4e8b-a1d7-5f6c7b8a9d0e
	put_fs "$out" 2 "$T/.root.img"
	rm -f "$T/.efi.img" "$T/.root.img"
}

# make_mbr_disk OUT SIZE: MBR with two primaries and an extended partition
# holding three logicals (5 ext4, 6 swap, 7 unformatted).  SIZE >= 64M.
make_mbr_disk() {
	local out=$1 size=$2
	need_cmd sfdisk mkfs.vfat mkfs.ext4 mkswap
	rm -f "$out"
	truncate -s "$size" "$out"
	sfdisk -q "$out" >/dev/null <<'EOF' || fail "sfdisk (dos) failed"
label: dos
label-id: 0x51c0ffee
start=2048, size=24576, type=83, bootable
start=26624, size=16384, type=c
start=43008, type=5
size=16384, type=83
size=8192, type=82
type=83
EOF
	local r sz
	r=$(part_range "$out" 1); sz=${r#* }
	mk_ext4 "$T/.p1.img" "$sz" mbrroot 2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f
	put_fs "$out" 1 "$T/.p1.img"
	r=$(part_range "$out" 2); sz=${r#* }
	mk_vfat "$T/.p2.img" "$sz" MBRFAT
	put_fs "$out" 2 "$T/.p2.img"
	r=$(part_range "$out" 5); sz=${r#* }
	mk_ext4 "$T/.p5.img" "$sz" logical5 3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a
	put_fs "$out" 5 "$T/.p5.img"
	r=$(part_range "$out" 6); sz=${r#* }
	truncate -s "$sz" "$T/.p6.img"
	mkswap -L swap6 -U 4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b "$T/.p6.img" \
		>/dev/null 2>&1 || fail "mkswap failed"
	put_fs "$out" 6 "$T/.p6.img"
	rm -f "$T"/.p[1256].img
}

# ------------------------------------------------- targets and results

# same_prefix DEV REF LEN ORIG: DEV holds REF's first LEN bytes and, past
# them, what ORIG held - but for DEV's last MiB, which a flash wipes (a
# previous owner's backup GPT and end-of-disk superblocks live there), so
# it reads as zeros.
same_prefix() {
	local dev=$1 ref=$2 len=$3 orig=$4 size wipe
	if [ -b "$dev" ]; then
		size=$(blockdev --getsize64 "$dev")
	else
		size=$(file_size "$dev")
	fi
	wipe=$((size - (1 << 20)))
	[ "$wipe" -ge "$len" ] || wipe=$len
	cmp -s -n "$len" "$dev" "$ref" ||
		fail "$dev differs from $ref: $(cmp -n "$len" "$dev" "$ref" 2>&1 | head -n 1)"
	cmp -s -i "$len:$len" -n $((wipe - len)) "$dev" "$orig" ||
		fail "$dev was written past byte $len: $(cmp -i "$len:$len" -n $((wipe - len)) "$dev" "$orig" 2>&1 | head -n 1)"
	cmp -s -i "$wipe:0" -n $((size - wipe)) "$dev" /dev/zero ||
		fail "$dev: its last MiB was not wiped: $(cmp -i "$wipe:0" -n $((size - wipe)) "$dev" /dev/zero 2>&1 | head -n 1)"
}

# json_result OUT TARGET FIELD: FIELD of the -json "result" event naming
# TARGET in the JSON lines of OUT ("true"/"false" for booleans); fails if
# there is no such event or any line is not JSON.
json_result() {
	python3 - "$@" <<'PYEOF' || fail "json_result $*"
import json, sys
out, target, field = sys.argv[1:4]
found = []
for n, line in enumerate(open(out), 1):
    try:
        ev = json.loads(line)
    except ValueError as e:
        sys.exit("%s:%d: not JSON (%s): %r" % (out, n, e, line))
    if ev.get("event") == "result" and ev.get("target") == target:
        found.append(ev)
if len(found) != 1:
    sys.exit("%d result events for %s in %s" % (len(found), target, out))
v = found[0].get(field)
if v is None and field not in found[0]:
    sys.exit("result event for %s has no %s: %r" % (target, field, found[0]))
print(json.dumps(v) if isinstance(v, bool) else v)
PYEOF
}

# mkq FILE SIZE [qemu-img create options...]: a qcow2 image, quietly.  An
# empty SIZE takes the backing file's (-b).
mkq() {
	local f=$1 s=$2
	shift 2
	qemu-img create -q -f qcow2 "$@" "$f" ${s:+"$s"} ||
		fail "qemu-img create $f"
}

# qio IMG CMD...: run qemu-io commands on a qcow2 image, failing the test
# (with qemu-io's output) if any of them fails.
qio() {
	local img=$1 a=() c
	shift
	for c in "$@"; do
		a+=(-c "$c")
	done
	qemu-io -f qcow2 "${a[@]}" "$img" >"$T/qio.txt" 2>&1 ||
		{ cat "$T/qio.txt" >&2; fail "qemu-io on $img failed"; }
}

# extract_part RAW N OUT: copy partition N's bytes of a raw disk to OUT.
extract_part() {
	local r s z
	r=$(part_range "$1" "$2") || fail "no partition $2 in $1"
	s=${r% *} z=${r#* }
	dd if="$1" of="$3" bs=64K skip="$s" count="$z" \
		iflag=skip_bytes,count_bytes status=none || fail "dd $1 part $2"
}

# ------------------------------------------------------ fault devices

# A fault device is a loop device over MNT/disk of a qfaultfs mount
# (tests/helpers/qfaultfs.c; see qfaultfs --help): a block device that
# can claim more than it holds, drop writes, fail with EIO, ENOSPC or
# EROFS at chosen offsets, shorten writes or be slow.  Instance NAME
# keeps its files in $T: NAME.mnt (mount point), NAME.backing (the bytes;
# create it beforehand to give the device old content), NAME.pid,
# NAME.loop, NAME.err (qfaultfs's errors).
: "${QFAULTFS:=$top_builddir/tests/helpers/qfaultfs}"

# have_fault_dev: succeeds when fault devices work here (root, loop
# devices, /dev/fuse, the helper built and able to mount); otherwise
# fails with the reason in $FAULT_WHY.
have_fault_dev() {
	local m=$T/.fuseprobe.mnt
	FAULT_WHY="needs root for FUSE mounts and loop devices"
	[ "$(id -u)" = 0 ] || return 1
	FAULT_WHY="no /dev/fuse"
	[ -c /dev/fuse ] || return 1
	FAULT_WHY="qfaultfs not built (configure found no fuse3): $QFAULTFS"
	[ -x "$QFAULTFS" ] || return 1
	FAULT_WHY="umount or mountpoint not found"
	command -v umount >/dev/null 2>&1 &&
		command -v mountpoint >/dev/null 2>&1 || return 1
	have_root_loop || { FAULT_WHY=$LOOP_WHY; return 1; }
	mkdir -p "$m"
	if ! "$QFAULTFS" --size 1M --backing "$T/.fuseprobe.backing" \
		--pidfile "$T/.fuseprobe.pid" "$m" 2>"$T/.fuseprobe.err"; then
		FAULT_WHY="qfaultfs cannot mount here: $(head -n 1 "$T/.fuseprobe.err")"
		rmdir "$m" 2>/dev/null
		return 1
	fi
	fault_dev_down .fuseprobe ||
		{ FAULT_WHY="a qfaultfs mount did not go away cleanly"; return 1; }
	rm -f "$T"/.fuseprobe.*
}

# need_fault_dev: skip the test unless have_fault_dev.
need_fault_dev() {
	have_fault_dev || skip "$FAULT_WHY"
}

# fault_dev NAME SIZE [QFAULTFS OPTIONS...]: mount a qfaultfs instance
# whose disk claims SIZE bytes (K/M/G suffixes) at $T/NAME.mnt, backed by
# $T/NAME.backing, and attach a loop device to it.  Sets $FAULT_DEV (the
# loop device), $FAULT_CTL (its ctl file) and $FAULT_MNT.  Loop device
# and mount go at exit, in that order, also when the test fails.  Call it
# in the main shell, like loop_attach.
fault_dev() {
	local name=$1 size=$2 mnt=$T/$1.mnt
	shift 2
	[ -e "$mnt" ] && fail "fault_dev $name: $mnt exists already"
	mkdir "$mnt" || fail "fault_dev $name: mkdir $mnt failed"
	on_exit "fault_dev_down '$name'"
	if ! "$QFAULTFS" --size "$size" --backing "$T/$name.backing" \
		--pidfile "$T/$name.pid" "$@" "$mnt" 2>"$T/$name.err"; then
		sed 's/^/#   qfaultfs: /' "$T/$name.err" >&2
		fail "qfaultfs --size $size${*:+ $*} $mnt failed"
	fi
	FAULT_MNT=$mnt
	FAULT_CTL=$mnt/ctl
	FAULT_DEV=$(losetup -f --show "$mnt/disk") ||
		fail "fault_dev $name: losetup $mnt/disk failed"
	# The device and the file as the kernel names it (no symlinks).
	printf '%s\n%s\n' "$FAULT_DEV" "$(realpath "$mnt")/disk" >"$T/$name.loop"
	# udev's probe of the new device would move the counters later.
	if command -v udevadm >/dev/null 2>&1; then
		udevadm settle --timeout=10 >/dev/null 2>&1
	fi
	return 0
}

# fault_ctl LINE...: write one line to $FAULT_CTL (the newest fault
# device's, unless the caller sets FAULT_CTL); fail if qfaultfs refuses it.
fault_ctl() {
	printf '%s\n' "$*" >"$FAULT_CTL" 2>"$T/fault_ctl.err" ||
		fail "fault_ctl '$*' refused: $(cat "$T/fault_ctl.err")"
}

# fault_get KEY: one value (counter or setting) read from $FAULT_CTL.
fault_get() {
	local v
	v=$(awk -v k="$1" '$1 == k { print $2; n++ } END { exit n != 1 }' \
		"$FAULT_CTL") || fail "fault_get $1: no such key in $FAULT_CTL"
	echo "$v"
}

# pid_alive PID: PID runs (a zombie nobody reaps does not count).
pid_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ]
}

# fault_dev_down NAME: detach NAME's loop device, unmount it and wait for
# its daemon to end.  Idempotent (the exit hook calls it again); fails if
# anything had to be forced or is left over.
fault_dev_down() {
	local name=$1 mnt=$T/$1.mnt dev file pid= i left=0
	if [ -f "$T/$name.loop" ]; then
		{ read -r dev; read -r file; } <"$T/$name.loop"
		# Only while it is ours: the number may since have been reused.
		[ "$(losetup -nO BACK-FILE "$dev" 2>/dev/null)" = "$file" ] &&
			losetup -d "$dev"
		# The detach completes when the last opener closes the device.
		for ((i = 0; i < 50; i++)); do
			[ "$(losetup -nO BACK-FILE "$dev" 2>/dev/null)" = "$file" ] ||
				break
			sleep 0.1
		done
		[ "$i" = 50 ] && left=1
		rm -f "$T/$name.loop"
	fi
	[ -f "$T/$name.pid" ] && pid=$(cat "$T/$name.pid")
	if mountpoint -q "$mnt"; then
		# EBUSY until the kernel has let go of the file; no use waiting
		# while the loop device is still open.
		for ((i = 0; i < 30 && left == 0; i++)); do
			umount "$mnt" 2>/dev/null && break
			sleep 0.1
		done
		# Ending the daemon unmounts lazily and fails what still uses
		# the file (the loop device then detaches on its last close).
		if mountpoint -q "$mnt"; then
			left=1
			[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
			umount -l "$mnt" 2>/dev/null
		fi
	fi
	# The daemon ends once the kernel has closed its session.
	if [ -n "$pid" ]; then
		for ((i = 0; i < 100; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then
			left=1
			kill -KILL "$pid" 2>/dev/null
		fi
		rm -f "$T/$name.pid"
	fi
	[ -d "$mnt" ] && ! mountpoint -q "$mnt" && rmdir "$mnt" 2>/dev/null
	return $left
}

# ------------------------------------------- qflash in the background

QPID=
# start_bg ARGS...: $QFLASH in the background, stdout in $T/out.txt,
# stderr in $T/err.txt, pid in $QPID (killed at exit if it still runs).
start_bg() {
	if [ -z "${BG_HOOKED:-}" ]; then
		on_exit '[ -n "$QPID" ] && kill -KILL "$QPID"'
		BG_HOOKED=1
	fi
	"$QFLASH" "$@" >"$T/out.txt" 2>"$T/err.txt" &
	QPID=$!
}

# wait_written N: until the newest fault device got N bytes; fails if
# the background qflash ends first.
wait_written() {
	local i
	for ((i = 0; i < 1000; i++)); do
		[ "$(fault_get bytes_written)" -ge "$1" ] && return 0
		kill -0 "$QPID" 2>/dev/null || fail "qflash ended early: $(cat "$T/err.txt")"
		sleep 0.02
	done
	fail "the fault device never got $1 bytes"
}

# wait_bg: wait for the background qflash to end, exit status in $RC.
wait_bg() {
	RC=0
	wait "$QPID" || RC=$?
	QPID=
}

# ------------------------------------------------------ refused images

# reject LABEL IMG REGEX [qflash options...]: qflash refuses IMG.
# REGEX (extended, case-insensitive) must match stderr; so must $also when
# set.  The message must name $named (default: IMG's base name).
reject() {
	local label=$1 img=$2 re=$3 who
	shift 3
	who=${named:-$(basename "$img")}
	[ -f "$T/dst.orig" ] || rand_file "$T/dst.orig" $((1 << 20)) 11
	cp "$T/dst.orig" "$T/dst.raw"
	run_q -src "$img" -dst "$T/dst.raw" "$@"
	local err
	err=$(head -c 600 "$T/err.txt")
	[ "$RC" = 1 ] || fail "$label: exit $RC, want 1; stderr: $err"
	grep -qF "$who" "$T/err.txt" ||
		fail "$label: message does not name $who: $err"
	grep -Eiq "$re" "$T/err.txt" ||
		fail "$label: message does not match /$re/: $err"
	if [ -n "${also:-}" ]; then
		grep -Eiq "$also" "$T/err.txt" ||
			fail "$label: message does not match /$also/: $err"
	fi
	cmp -s "$T/dst.orig" "$T/dst.raw" ||
		fail "$label: existing destination was modified"
	rm -f "$T/new.raw"
	run_q -src "$img" -dst "$T/new.raw" "$@"
	[ "$RC" = 1 ] || fail "$label: exit $RC with a new destination"
	[ -e "$T/new.raw" ] && fail "$label: a missing destination was created"
	note "ok: $label: $(head -n 1 "$T/err.txt")"
}

# good_qcow2 OUT [create options...]: a valid 16 MiB v3 image, 64 KiB
# clusters, data at 0 and 1 MiB so an L2 table exists.
good_qcow2() {
	local out=$1
	shift
	mkq "$out" 16M "$@"
	qio "$out" "write -P 0x5a 0 64k" "write -P 0x5b 1M 64k"
}

# or64 FILE OFFSET BITS: set bits in a big-endian u64.
or64() {
	local v
	v=$((0x$(readhex "$1" "$2" 8)))
	be64 "$1" "$2" $((v | $3))
}

# ------------------------------------------------------ a slow server

# slow_http FILE RATE: serve FILE on 127.0.0.1 at RATE bytes/s
# (tests/tui/slowhttp.py, for two minutes at most); sets HTTP_URL.
slow_http() {
	local i
	need_cmd python3
	rm -f "$T/http.port"
	python3 "$top_srcdir/tests/tui/slowhttp.py" "$1" "$T/http.port" "$2" 120 \
		</dev/null >/dev/null 2>&1 &
	on_exit "kill $!"
	for ((i = 0; i < 50; i++)); do
		[ -s "$T/http.port" ] && break
		sleep 0.1
	done
	[ -s "$T/http.port" ] || fail "slowhttp.py did not start"
	HTTP_URL="http://127.0.0.1:$(cat "$T/http.port")/$(basename "$1")"
}
