#!/bin/bash
# safety.sh - targets the engine must refuse before writing a byte: a
# mounted device (even with -force), a read-only device, a device too
# small for the image, a loop device backed by the source image, the
# source image itself, a device or file holding a backing layer or the
# external data file of the image, and a disk next to one of its own
# partitions.  Every refused target is left unchanged.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io mkfs.ext4 mount umount sfdisk
need_root_loop

MiB=$((1 << 20))
IMG=$T/disk.qcow2
mkq "$IMG" 24M
qio "$IMG" "write -P 0x61 0 1M" "write -P 0x62 5M 3M" "write -P 0x63 23M 1M"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")
cp "$IMG" "$T/img.orig"

# refused WHAT TARGET PATTERN: the last run refused TARGET (exit 1, a
# message naming it and matching PATTERN).
refused() {
	[ "$RC" = 1 ] || fail "$1: exit $RC, want 1: $(cat "$T/err.txt")"
	grep -F "qflash: $2: " "$T/err.txt" | grep -Eqi "$3" ||
		fail "$1: no message naming $2 and saying '$3': $(cat "$T/err.txt")"
	note "ok: $1: $(grep -F "$2" "$T/err.txt" | head -n 1)"
}

# refused_forced WHAT TARGET PATTERN: flashing to TARGET is refused, and
# refused again with -force.
refused_forced() {
	run_q -src "$IMG" -dst "$2"
	refused "$1" "$2" "$3"
	run_q -src "$IMG" -dst "$2" -force
	refused "$1 with -force" "$2" "$3"
}

# one_unit WHAT: the last run's "too small" message gives both sizes in
# the same unit, and two different numbers.
one_unit() {
	local re='too small: ([0-9.]+) ([KMGT]?i?B) needed, ([0-9.]+) ([KMGT]?i?B) available'
	[[ $(cat "$T/err.txt") =~ $re ]] ||
		fail "$1: no sizes in: $(cat "$T/err.txt")"
	[ "${BASH_REMATCH[2]}" = "${BASH_REMATCH[4]}" ] &&
		[ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[3]}" ] ||
		fail "$1: sizes in two units or alike: ${BASH_REMATCH[0]}"
}

# unchanged WHAT DEV COPY: DEV still holds exactly the bytes of COPY.
unchanged() {
	cmp -s "$2" "$3" || fail "$1: $2 was written: $(cmp "$2" "$3" 2>&1 | head -n 1)"
}

image_unchanged() {
	cmp -s "$IMG" "$T/img.orig" || fail "$1: the source image was changed"
}

# mount_ext4 NAME SIZE [MOUNT OPTIONS]: an ext4 file system on a loop
# device ($LOOP) mounted on $T/NAME.mnt, unmounted at exit before the loop
# is detached.  Lazy initialisation is off so that nothing writes to the
# device behind the test's back.
mount_ext4() {
	local name=$1 size=$2
	shift 2
	truncate -s "$size" "$T/$name.img"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \
		"$T/$name.img" >/dev/null || fail "mkfs.ext4 failed"
	loop_attach "$T/$name.img"
	mkdir "$T/$name.mnt"
	mount "$@" "$LOOP" "$T/$name.mnt" || skip "cannot mount $LOOP"
	on_exit "umount '$T/$name.mnt'"
}

# ------------------------------------------------------ mounted device
# Smaller than the image too: a refusal names every reason.
mount_ext4 small $((V - 4 * MiB))
LM=$LOOP
echo "still here" >"$T/small.mnt/file.txt"
sync
cp "$LM" "$T/small.before"
run_q -src "$IMG" -dst "$LM"
refused "mounted device" "$LM" 'mounted'
# ... and too small: both reasons in the one message.
refused "mounted and too small device" "$LM" 'mounted at .*; too small'
one_unit "mounted and too small device"
unchanged "mounted device" "$LM" "$T/small.before"
# -force overrides neither "mounted" nor "too small": every reason shows.
run_q -src "$IMG" -dst "$LM" -force
refused "mounted device with -force" "$LM" 'mounted'
unchanged "mounted device with -force" "$LM" "$T/small.before"
[ "$(cat "$T/small.mnt/file.txt")" = "still here" ] ||
	fail "the mounted file system lost its file"

# A mounted device large enough, even mounted read-only: nothing, not
# -force, writes it.
mount_ext4 big $((V + 4 * MiB)) -o ro
LB=$LOOP
cp "$LB" "$T/big.before"
refused_forced "read-only mounted device" "$LB" 'mounted'
unchanged "read-only mounted device" "$LB" "$T/big.before"
note "ok: a mounted device is never written, -force or not"

# --------------------------------------------------- read-only device
loop_file ro $((V + MiB)) 51 -r
LR=$LOOP
refused_forced "read-only device" "$LR" 'read-only'
unchanged "read-only device" "$LR" "$T/ro.orig"

# --------------------------------------------------- too small device
loop_file tiny $((V - 512)) 52
LT=$LOOP
rand_file "$T/good.raw" "$V" 53
cp "$T/good.raw" "$T/good.orig"
run_q -src "$IMG" -dst "$LT" -force
refused "too small device with -force" "$LT" 'too small'
# 512 bytes short of 24 MiB: not "24 MiB needed, 25165312 bytes".
one_unit "too small device"
unchanged "too small device" "$LT" "$T/tiny.orig"
# Nothing at all is written when one target is refused.
run_q -src "$IMG" -dst "$T/good.raw" -dst "$T/new.raw" -dst "$LT"
refused "too small device next to good targets" "$LT" 'too small'
unchanged "too small device" "$LT" "$T/tiny.orig"
unchanged "good target next to a refused one" "$T/good.raw" "$T/good.orig"
[ ! -e "$T/new.raw" ] || fail "a new target file was created for a refused job"

# ------------------------------------ a disk and its own partition
# Both opened exclusively, the second would be "busy", held by qflash
# itself: refused up front with the real reason, in either order.
loop_file pdisk $((2 * V)) 54
LP=$LOOP
sfdisk -q "$LP" >/dev/null <<EOT || fail "sfdisk on $LP failed"
label: gpt
start=2048, size=$((V / 512 + 8192)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOT
cp "$LP" "$T/pdisk.before"
# partx adds the partitions also where the kernel cannot read GPT.
partx -u "$LP" >/dev/null 2>&1 || blockdev --rereadpt "$LP" 2>/dev/null
for _ in $(seq 50); do
	[ -b "${LP}p1" ] && break
	sleep 0.1
done
[ -b "${LP}p1" ] || skip "no partition node ${LP}p1 appeared"
for order in "$LP ${LP}p1" "${LP}p1 $LP"; do
	set -- $order
	run_q -src "$IMG" -dst "$1" -dst "$2" -force
	[ "$RC" = 1 ] || fail "disk and partition ($order): exit $RC: $(cat "$T/err.txt")"
	grep -qxF "qflash: ${LP}p1 is a partition of $LP, which is also a target" \
		"$T/err.txt" || fail "disk and partition ($order): $(cat "$T/err.txt")"
	unchanged "disk and partition ($order)" "$LP" "$T/pdisk.before"
done
note "ok: a disk and its own partition: $(cat "$T/err.txt")"

# ------------------------------------------------ the source image itself
refused_forced "the source image as target" "$IMG" 'source'
ln -s "$IMG" "$T/link.qcow2"
run_q -src "$IMG" -dst "$T/link.qcow2" -force
refused "a symlink to the source image" "$T/link.qcow2" 'source'
image_unchanged "the source image as target"

# ------------------------------- a loop device holding the source image
loop_attach "$IMG"
LS=$LOOP
refused_forced "loop device over the source image" "$LS" 'source'
image_unchanged "loop device over the source image"

# ------------------------- a backing layer or data file on the target
# The top image is elsewhere; what the target holds is read through it.
# (qemu-img create empties the data file: the bytes come after it.)
qemu-img create -q -f qcow2 -o data_file="$T/base.raw",data_file_raw=on \
	"$T/ext.qcow2" "$V" || fail "qemu-img create with a data file"
rand_file "$T/base.raw" "$V" 55
cp "$T/base.raw" "$T/base.orig"
loop_attach "$T/base.raw"
LB=$LOOP
mkq "$T/over-dev.qcow2" "$V" -b "$LB" -F raw
mkq "$T/over-file.qcow2" "$V" -b "$T/base.raw" -F raw
for src in over-dev over-file ext; do
	IMG=$T/$src.qcow2
	refused_forced "$src: loop device of the base" "$LB" \
		"holds a layer of the image: ($LB|$T/base.raw)"
done
# As a file target: the backing file itself (no longer behind a loop
# device, which is a reason of its own).
losetup -d "$LB"
IMG=$T/over-file.qcow2
refused_forced "the backing file as target" "$T/base.raw" \
	"is a layer of the image: $T/base.raw"
IMG=$T/ext.qcow2
refused_forced "the data file as target" "$T/base.raw" \
	"is a layer of the image: $T/base.raw"
unchanged "a layer of the image" "$T/base.raw" "$T/base.orig"
IMG=$T/disk.qcow2

exit 0
