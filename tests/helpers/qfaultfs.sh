#!/bin/bash
# qfaultfs.sh - the fault devices of tests/lib.sh, seen through their
# loop devices with O_DIRECT: claimed size and wrap-around, dead card,
# bad and weak blocks (writes lost always, or once), EIO, ENOSPC, short
# writes, read-only, delays, faults changed through ctl and its
# counters, teardown (also by SIGTERM), and usage errors.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd dd cmp blockdev python3
need_fault_dev

KiB=1024
MiB=$((1 << 20))

# io_bs LEN: a dd block size that divides LEN (a multiple of 4K, or of
# 64K past 1M).  dd writes a partial last block through the page cache,
# without O_DIRECT, and the error would only come from its fsync.
io_bs() {
	if [ "$1" -le "$MiB" ]; then echo "$1"; else echo 64K; fi
}

# wr DEV OFF FILE: write FILE at byte OFF with O_DIRECT, one request up
# to 1M; dd's complaint in $T/dd.err, its status returned.
wr() {
	dd if="$3" of="$1" bs="$(io_bs "$(file_size "$3")")" seek="$2" \
		oflag=direct,seek_bytes conv=notrunc status=none 2>"$T/dd.err"
}

# rd DEV OFF LEN OUT: read LEN bytes at OFF with O_DIRECT into OUT.
rd() {
	dd if="$1" of="$4" bs="$(io_bs "$3")" skip="$2" count="$3" \
		iflag=direct,skip_bytes,count_bytes status=none 2>"$T/dd.err"
}

# wr_fails DEV OFF FILE MESSAGE: the write fails and dd says MESSAGE.
wr_fails() {
	wr "$1" "$2" "$3" && fail "writing $3 at $2 of $1 succeeded"
	grep -q "$4" "$T/dd.err" ||
		fail "writing at $2 of $1: expected '$4', got: $(cat "$T/dd.err")"
}

# rd_fails DEV OFF LEN MESSAGE
rd_fails() {
	rd "$1" "$2" "$3" "$T/rd.bin" && fail "reading $3 bytes at $2 of $1 succeeded"
	grep -q "$4" "$T/dd.err" ||
		fail "reading at $2 of $1: expected '$4', got: $(cat "$T/dd.err")"
}

# delta KEY BEFORE: how much counter KEY grew since it read BEFORE.
delta() {
	echo $(($(fault_get "$1") - $2))
}

eq() {
	[ "$1" = "$2" ] || fail "$3: got $1, expected $2"
}

# Reads are counted at least: anything on this machine that probes block
# devices (blkid, udev, a parallel test listing devices) reads ours too.
ge() {
	[ "$1" -ge "$2" ] || fail "$3: got $1, expected at least $2"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# slice FILE OFF LEN OUT: bytes of a regular file.
slice() {
	dd if="$1" of="$4" bs=64K skip="$2" count="$3" \
		iflag=skip_bytes,count_bytes status=none || fail "slice $1"
}

# All test data from one random pool (python starts once).
rand_file "$T/pool.bin" $((24 * MiB)) 1
slice "$T/pool.bin" 0 4096 "$T/4k.bin"
slice "$T/pool.bin" $((64 * KiB)) 8192 "$T/8k.bin"
slice "$T/pool.bin" $((128 * KiB)) $((64 * KiB)) "$T/64k.bin"
zero4k=$T/zero4k.bin
head -c 4096 /dev/zero >"$zero4k"

# ------------------------------------------- claimed size, wrap-around
fault_dev fake 8M --real-size 2M
D=$FAULT_DEV
eq "$(blockdev --getsize64 "$D")" $((8 * MiB)) "claimed size of $D"
eq "$(file_size "$FAULT_MNT/disk")" $((8 * MiB)) "size of $FAULT_MNT/disk"
eq "$(file_size "$T/fake.backing")" $((2 * MiB)) "size of the backing file"
X=$((12 * KiB))
wr "$D" $((3 * 2 * MiB + X)) "$T/64k.bin" || fail "write at 6M+12K: $(cat "$T/dd.err")"
rd "$D" "$X" $((64 * KiB)) "$T/back.bin" || fail "read at 12K"
same "$T/64k.bin" "$T/back.bin"
rd "$D" $((2 * MiB + X)) $((64 * KiB)) "$T/back.bin" || fail "read at 2M+12K"
same "$T/64k.bin" "$T/back.bin"
# A write across the real end continues at offset 0.
wr "$D" $((4 * MiB - 32 * KiB)) "$T/64k.bin" || fail "write at 4M-32K"
rd "$D" 0 $((32 * KiB)) "$T/back.bin" || fail "read at 0"
slice "$T/64k.bin" $((32 * KiB)) $((32 * KiB)) "$T/want.bin"
same "$T/want.bin" "$T/back.bin"
eq "$(file_size "$T/fake.backing")" $((2 * MiB)) "backing file size after writes"
note "ok: claims 8M over 2M, offsets alias modulo 2M"

# Several writers at once, ctl read meanwhile: nothing is mixed up.
slice "$T/pool.bin" $((1 * MiB)) $((2 * MiB)) "$T/par.bin"
for i in 0 1 2 3; do
	dd if="$T/par.bin" of="$D" bs=64K skip=$((i * 8)) seek=$((i * 8)) count=8 \
		oflag=direct conv=notrunc status=none &
done
for i in 1 2 3 4 5 6 7 8; do
	cat "$FAULT_CTL" >/dev/null || fail "reading ctl under load"
done
wait || :
rd "$D" 0 $((2 * MiB)) "$T/back.bin" || fail "read 2M"
same "$T/par.bin" "$T/back.bin"
note "ok: concurrent writers"

# -------------------------------------------------------- dead card
slice "$T/pool.bin" $((4 * MiB)) $((8 * MiB)) "$T/dead.backing"
cp "$T/dead.backing" "$T/dead.orig"
fault_dev dead 8M --drop-writes-after 4M
D=$FAULT_DEV
slice "$T/pool.bin" $((12 * MiB)) $((8 * MiB)) "$T/new.bin"
wr "$D" 0 "$T/new.bin" || fail "writing the dead card: $(cat "$T/dd.err")"
rd "$D" 0 $((8 * MiB)) "$T/back.bin" || fail "reading the dead card back"
cmp -s -n $((4 * MiB)) "$T/back.bin" "$T/new.bin" ||
	fail "the first 4M were not stored"
cmp -s -i $((4 * MiB)):$((4 * MiB)) "$T/back.bin" "$T/dead.orig" ||
	fail "past 4M the old data is gone: $(cmp -i $((4 * MiB)):$((4 * MiB)) "$T/back.bin" "$T/dead.orig")"
eq "$(fault_get bytes_dropped)" $((4 * MiB)) "bytes_dropped"
eq "$(fault_get bytes_written)" $((8 * MiB)) "bytes_written (acknowledged)"
# A write across the limit keeps what precedes it.
fault_ctl "drop-writes-after $((4 * MiB + 2048))"
wr "$D" $((4 * MiB)) "$T/8k.bin" || fail "write across the limit"
rd "$D" $((4 * MiB)) 8192 "$T/back.bin" || fail "read across the limit"
slice "$T/8k.bin" 0 2048 "$T/want.bin"
slice "$T/dead.orig" $((4 * MiB + 2048)) 6144 "$T/want2.bin"
cat "$T/want2.bin" >>"$T/want.bin"
same "$T/want.bin" "$T/back.bin"
# Zeroing (BLKZEROOUT, punch) is dropped the same way.
if command -v blkdiscard >/dev/null 2>&1; then
	z0=$(fault_get zeroes)
	blkdiscard -z -o $((6 * MiB)) -l $((64 * KiB)) "$D" || fail "blkdiscard -z"
	eq "$(delta zeroes "$z0")" 1 "zeroing requests"
	rd "$D" $((6 * MiB)) $((64 * KiB)) "$T/back.bin" || fail "read at 6M"
	slice "$T/dead.orig" $((6 * MiB)) $((64 * KiB)) "$T/want.bin"
	same "$T/want.bin" "$T/back.bin"
	fault_ctl "drop-writes-after off"
	blkdiscard -z -o $((6 * MiB)) -l $((64 * KiB)) "$D" || fail "blkdiscard -z"
	rd "$D" $((6 * MiB)) $((64 * KiB)) "$T/back.bin" || fail "read at 6M"
	cmp -s -n $((64 * KiB)) "$T/back.bin" /dev/zero || fail "zeroing did not zero"
fi
note "ok: dead card acknowledges and drops writes past the limit"

# ----------------------------------------------- bad and weak blocks
# Bytes inside a drop range are lost, those around it in the same write
# stored: always for --drop-writes-at, for the first --drop-count writes
# touching it for --drop-once-at.
slice "$T/pool.bin" $((4 * MiB)) $((8 * MiB)) "$T/weak.backing"
cp "$T/weak.backing" "$T/weak.orig"
fault_dev weak 8M --drop-writes-at 1M:8K --drop-once-at 3M
D=$FAULT_DEV
eq "$(fault_get drop-writes-at)" 1048576:8192 "drop-writes-at"
eq "$(fault_get drop-once-at)" 3145728:4096 "drop-once-at"
eq "$(fault_get drop_once_left)" 1 "drop_once_left at start"
# want_around SRC OFF KEEP LEN: in $T/want.bin, SRC as written at OFF
# with its LEN bytes after the first KEEP as the old disk holds them.
want_around() {
	slice "$1" 0 "$3" "$T/want.bin"
	slice "$T/weak.orig" $(($2 + $3)) "$4" "$T/want2.bin"
	cat "$T/want2.bin" >>"$T/want.bin"
	slice "$1" $(($3 + $4)) $(($(file_size "$1") - $3 - $4)) "$T/want2.bin"
	cat "$T/want2.bin" >>"$T/want.bin"
}
for i in 1 2; do
	wr "$D" $((1 * MiB - 16 * KiB)) "$T/64k.bin" || fail "write over the bad blocks"
	rd "$D" $((1 * MiB - 16 * KiB)) $((64 * KiB)) "$T/back.bin" || fail "read back"
	want_around "$T/64k.bin" $((1 * MiB - 16 * KiB)) $((16 * KiB)) 8192
	same "$T/want.bin" "$T/back.bin"
done
eq "$(fault_get bytes_dropped)" 16384 "bytes_dropped by two writes over 8K"
eq "$(fault_get drop_hits)" 2 "drop_hits"
wr "$D" $((3 * MiB)) "$T/8k.bin" || fail "first write over the weak block"
rd "$D" $((3 * MiB)) 8192 "$T/back.bin" || fail "read back"
want_around "$T/8k.bin" $((3 * MiB)) 0 4096
same "$T/want.bin" "$T/back.bin"
eq "$(fault_get drop_once_left)" 0 "drop_once_left after one write"
wr "$D" $((3 * MiB)) "$T/8k.bin" || fail "second write over the weak block"
rd "$D" $((3 * MiB)) 8192 "$T/back.bin" || fail "read back"
same "$T/8k.bin" "$T/back.bin"
# Armed again through ctl, for two writes this time.
fault_ctl "drop-count 2"
eq "$(fault_get drop_once_left)" 2 "drop_once_left after drop-count 2"
wr "$D" $((3 * MiB)) "$T/4k.bin" || fail "write over the re-armed block"
wr "$D" $((3 * MiB)) "$T/4k.bin" || fail "write over the re-armed block"
rd "$D" $((3 * MiB)) 4096 "$T/back.bin" || fail "read back"
slice "$T/8k.bin" 0 4096 "$T/want.bin"
same "$T/want.bin" "$T/back.bin"
wr "$D" $((3 * MiB)) "$T/4k.bin" || fail "third write over the re-armed block"
rd "$D" $((3 * MiB)) 4096 "$T/back.bin" || fail "read back"
same "$T/4k.bin" "$T/back.bin"
# Zeroing loses the same bytes.
if command -v blkdiscard >/dev/null 2>&1; then
	blkdiscard -z -o $((1 * MiB - 64 * KiB)) -l $((128 * KiB)) "$D" ||
		fail "blkdiscard -z"
	rd "$D" $((1 * MiB - 64 * KiB)) $((128 * KiB)) "$T/back.bin" || fail "read back"
	head -c $((128 * KiB)) /dev/zero >"$T/z128.bin"
	want_around "$T/z128.bin" $((1 * MiB - 64 * KiB)) $((64 * KiB)) 8192
	same "$T/want.bin" "$T/back.bin"
fi
fault_ctl "drop-writes-at off"
fault_ctl "drop-once-at off"
wr "$D" $((1 * MiB)) "$T/8k.bin" || fail "write after the faults went"
rd "$D" $((1 * MiB)) 8192 "$T/back.bin" || fail "read back"
same "$T/8k.bin" "$T/back.bin"
note "ok: bad blocks lose every write, a weak one the first --drop-count"

# -------------------------------------------------------------- EIO
fault_dev eio 4M --eio-read-at 1M --eio-write-at 2M:8K
D=$FAULT_DEV
r0=$(fault_get eio_read_hits)
rd_fails "$D" $((1 * MiB)) 4096 "Input/output error"
rd_fails "$D" $((1 * MiB - 32 * KiB)) $((64 * KiB)) "Input/output error"
rd_fails "$D" $((1 * MiB + 4092 / 512 * 512)) 4096 "Input/output error"
ge "$(delta eio_read_hits "$r0")" 3 "eio_read_hits"
rd "$D" $((1 * MiB - 4096)) 4096 "$T/back.bin" || fail "read before the EIO range"
rd "$D" $((1 * MiB + 4096)) 4096 "$T/back.bin" || fail "read after the EIO range"
wr "$D" $((1 * MiB)) "$T/4k.bin" || fail "write into the read-EIO range"
w0=$(fault_get eio_write_hits)
wr_fails "$D" $((2 * MiB)) "$T/4k.bin" "Input/output error"
wr_fails "$D" $((2 * MiB + 4096)) "$T/4k.bin" "Input/output error"
wr_fails "$D" $((2 * MiB - 4096)) "$T/8k.bin" "Input/output error"
eq "$(delta eio_write_hits "$w0")" 3 "eio_write_hits"
wr "$D" $((2 * MiB - 4096)) "$T/4k.bin" || fail "write before the EIO range"
wr "$D" $((2 * MiB + 8192)) "$T/4k.bin" || fail "write after the EIO range"
rd "$D" $((2 * MiB)) 4096 "$T/back.bin" || fail "read in the write-EIO range"
same "$zero4k" "$T/back.bin"
rd "$D" $((2 * MiB + 8192)) 4096 "$T/back.bin" || fail "read after the EIO range"
same "$T/4k.bin" "$T/back.bin"
note "ok: EIO on reads and writes that touch the ranges, only there"

# ----------------------------------------------------------- ENOSPC
fault_dev full 4M --enospc-at 3M
D=$FAULT_DEV
wr "$D" $((3 * MiB - 4096)) "$T/4k.bin" || fail "write before the ENOSPC offset"
wr_fails "$D" $((3 * MiB)) "$T/4k.bin" "No space left on device"
wr_fails "$D" $((3 * MiB + MiB / 2)) "$T/4k.bin" "No space left on device"
wr_fails "$D" $((3 * MiB - 4096)) "$T/8k.bin" "No space left on device"
eq "$(fault_get enospc_hits)" 3 "enospc_hits"
rd "$D" $((3 * MiB)) 4096 "$T/back.bin" || fail "read past the ENOSPC offset"
same "$zero4k" "$T/back.bin"
note "ok: ENOSPC from the ENOSPC offset on, seen as ENOSPC on the device"

# ----------------------------------------------------- short writes
# The daemon stores and reports half of a 64K write.  FUSE hands the
# short count to the loop device; what that makes of it depends on the
# kernel: completing the request as if all of it was written (seen on
# 6.18: dd succeeds, the tail is silently lost) or failing it with EIO
# (the page-by-page path of older loop drivers).  Either way the second
# half must not be there.
fault_dev short 4M --short-writes
D=$FAULT_DEV
if wr "$D" 0 "$T/64k.bin"; then
	note "short write: the loop device reported success"
	rd "$D" 0 $((64 * KiB)) "$T/back.bin" || fail "read back"
	slice "$T/64k.bin" 0 $((32 * KiB)) "$T/want.bin"
	head -c $((32 * KiB)) /dev/zero >>"$T/want.bin"
	same "$T/want.bin" "$T/back.bin"
	eq "$(fault_get short_hits)" 1 "short_hits"
	eq "$(fault_get bytes_written)" $((32 * KiB)) "bytes_written"
else
	grep -q "Input/output error" "$T/dd.err" ||
		fail "short write failed oddly: $(cat "$T/dd.err")"
	note "short write: the loop device failed the write with EIO"
	rd "$D" $((32 * KiB)) $((32 * KiB)) "$T/back.bin" || fail "read back"
	cmp -s -n $((32 * KiB)) "$T/back.bin" /dev/zero ||
		fail "the unreported half was stored"
	[ "$(fault_get short_hits)" -ge 1 ] || fail "short_hits did not move"
fi
# Writes of 512 bytes or less are not cut.
head -c 512 "$T/4k.bin" >"$T/512.bin"
dd if="$T/512.bin" of="$D" bs=512 seek=$((MiB / 512)) oflag=direct conv=notrunc \
	status=none || fail "512-byte write"
rd "$D" $((1 * MiB)) 4096 "$T/back.bin" || fail "read at 1M"
slice "$T/back.bin" 0 512 "$T/got.bin"
same "$T/512.bin" "$T/got.bin"
note "ok: short writes never store more than they report"

# -------------------------------------------------------- read-only
slice "$T/pool.bin" $((20 * MiB)) $((4 * MiB)) "$T/ro.backing"
cp "$T/ro.backing" "$T/ro.orig"
fault_dev ro 4M --ro
D=$FAULT_DEV
# The loop device turns EROFS into EIO; the file itself says EROFS.
wr_fails "$D" 0 "$T/64k.bin" "Input/output error"
wr_fails "$FAULT_MNT/disk" 0 "$T/64k.bin" "Read-only file system"
[ "$(fault_get erofs_hits)" -ge 2 ] || fail "erofs_hits did not move"
rd "$D" 0 $((4 * MiB)) "$T/back.bin" || fail "reading the read-only device"
same "$T/ro.orig" "$T/back.bin"
same "$T/ro.orig" "$T/ro.backing"
note "ok: --ro fails writes, reads work"

# ---------------------------------------------------------- delays
fault_dev slow 4M --delay-us 100000
D=$FAULT_DEV
t=$(now_ms)
dd if="$D" of=/dev/null bs=4K count=4 iflag=direct status=none || fail "slow reads"
slow=$(($(now_ms) - t))
[ "$slow" -ge 400 ] || fail "4 reads with 100 ms delay each took $slow ms"
fault_ctl "delay-us 0"
t=$(now_ms)
dd if="$D" of=/dev/null bs=4K count=4 iflag=direct status=none || fail "fast reads"
fast=$(($(now_ms) - t))
[ "$fast" -lt "$slow" ] || fail "without delay: $fast ms, with: $slow ms"
note "ok: 4 reads took $slow ms with --delay-us 100000, $fast ms without"
fault_ctl "write-rate 1M"
t=$(now_ms)
dd if=/dev/zero of="$D" bs=64K count=8 oflag=direct status=none || fail "throttled writes"
slow=$(($(now_ms) - t))
[ "$slow" -ge 450 ] || fail "512K at 1M/s took $slow ms"
fault_ctl "write-rate 0"
t=$(now_ms)
dd if=/dev/zero of="$D" bs=64K count=8 oflag=direct status=none || fail "writes"
fast=$(($(now_ms) - t))
[ "$fast" -lt "$slow" ] || fail "unthrottled: $fast ms, throttled: $slow ms"
note "ok: 512K took $slow ms at 1M/s, $fast ms unthrottled"

# ----------------------------------------------------- ctl, counters
fault_dev ctl 4M
D=$FAULT_DEV
eq "$(fault_get eio-write-at)" off "eio-write-at at start"
w0=$(fault_get writes) b0=$(fault_get bytes_written) f0=$(fault_get faults_hit)
r0=$(fault_get reads) br0=$(fault_get bytes_read)
wr "$D" $((1 * MiB)) "$T/4k.bin" || fail "write before the change"
fault_ctl "eio-write-at $((1 * MiB)):4096"
eq "$(fault_get eio-write-at)" 1048576:4096 "eio-write-at after the change"
wr_fails "$D" $((1 * MiB)) "$T/8k.bin" "Input/output error"
wr "$D" $((1 * MiB + 4096)) "$T/4k.bin" || fail "write next to the range"
fault_ctl clear
eq "$(fault_get eio-write-at)" off "eio-write-at after clear"
wr "$D" $((1 * MiB)) "$T/8k.bin" || fail "write after clear"
rd "$D" $((1 * MiB)) 8192 "$T/back.bin" || fail "read back"
same "$T/8k.bin" "$T/back.bin"
eq "$(delta writes "$w0")" 4 "writes"
eq "$(delta bytes_written "$b0")" $((4096 + 4096 + 8192)) "bytes_written"
eq "$(delta faults_hit "$f0")" 1 "faults_hit"
ge "$(delta reads "$r0")" 1 "reads"
ge "$(delta bytes_read "$br0")" 8192 "bytes_read"
# One write(2) applies all its lines or none (bash's printf would write
# line by line: dd writes the file at once).
ctl_lines() {
	printf "$@" >"$T/ctl.txt"
	dd if="$T/ctl.txt" of="$FAULT_CTL" bs=4096 status=none 2>/dev/null
}
ctl_lines 'eio-read-at 0\nbogus 1\n' && fail "ctl accepted an unknown key"
eq "$(fault_get eio-read-at)" off "eio-read-at after a refused write"
for bad in "eio-read-at 5:0" "drop-writes-after -1" "delay-us 1x" \
	"short-writes 2" "ro" "enospc-at 0x" "delay-us 1 2" "drop-count 0" \
	"drop-once-at 1:0"; do
	ctl_lines '%s\n' "$bad" && fail "ctl accepted '$bad'"
done
ctl_lines '# comment\n\nshort-writes 1\nenospc-at 3M\ndelay-us 5\n' ||
	fail "ctl refused three good lines"
eq "$(fault_get short-writes)" 1 "short-writes"
eq "$(fault_get enospc-at)" $((3 * MiB)) "enospc-at"
eq "$(fault_get delay-us)" 5 "delay-us"
fault_ctl "drop-writes-after 0"
wr "$D" 0 "$T/4k.bin" || fail "write to a card that drops everything"
rd "$D" 0 4096 "$T/back.bin" || fail "read back"
same "$zero4k" "$T/back.bin"
fault_ctl reset-counters
eq "$(fault_get writes)" 0 "writes after reset-counters"
eq "$(fault_get drop-writes-after)" 0 "reset-counters kept the faults"
note "ok: ctl changes faults at run time, counters move"

# --------------------------------------------------------- teardown
for n in fake dead weak eio full short ro slow ctl; do
	fault_dev_down "$n" || fail "fault device $n did not go away cleanly"
	[ -e "$T/$n.mnt" ] && fail "$T/$n.mnt left behind"
done
grep -F "$T" /proc/mounts && fail "mounts left in $T"
losetup -l -n -O BACK-FILE | grep -F "$T" && fail "loop devices left over $T"
note "ok: loop devices and mounts gone"

# The command returns with the file ready; SIGTERM unmounts and ends it.
mkdir "$T/term.mnt"
on_exit "umount -l '$T/term.mnt'"
"$QFAULTFS" --size 3M --backing "$T/term.backing" --pidfile "$T/term.pid" \
	"$T/term.mnt" || fail "qfaultfs failed"
eq "$(file_size "$T/term.mnt/disk")" $((3 * MiB)) "size right after start"
pid=$(cat "$T/term.pid")
kill -TERM "$pid"
for ((i = 0; i < 50; i++)); do
	pid_alive "$pid" || break
	sleep 0.1
done
pid_alive "$pid" && fail "SIGTERM did not end qfaultfs"
mountpoint -q "$T/term.mnt" && fail "SIGTERM did not unmount"
[ -e "$T/term.pid" ] && fail "the pid file stayed"
note "ok: SIGTERM unmounts"

# -f stays in the foreground and says when it serves.
"$QFAULTFS" -f --size 1M --backing "$T/term.backing" "$T/term.mnt" \
	>"$T/fg.out" 2>"$T/fg.err" &
pid=$!
for ((i = 0; i < 50; i++)); do
	grep -q '^ready$' "$T/fg.out" && break
	sleep 0.1
done
grep -q '^ready$' "$T/fg.out" || fail "no ready line from qfaultfs -f"
mountpoint -q "$T/term.mnt" || fail "qfaultfs -f said ready, but is not mounted"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
eq "$rc" 0 "exit status of qfaultfs -f after SIGTERM"
mountpoint -q "$T/term.mnt" && fail "qfaultfs -f did not unmount"
note "ok: -f prints ready and exits 0 on SIGTERM"

# ------------------------------------------------------- usage errors
for args in "--backing $T/u.b" "--size 1M" "--size 1Q --backing $T/u.b" \
	"--size 1M --real-size 2M --backing $T/u.b" \
	"--size 1M --backing $T/u.b --eio-read-at 1:0" \
	"--size 99999999999999999999 --backing $T/u.b"; do
	rc=0
	# shellcheck disable=SC2086
	"$QFAULTFS" $args "$T/term.mnt" 2>/dev/null || rc=$?
	eq "$rc" 2 "exit status of qfaultfs $args"
done
rc=0
"$QFAULTFS" --size 1M --backing "$T/nodir/b" "$T/term.mnt" 2>/dev/null || rc=$?
eq "$rc" 1 "exit status with an impossible backing file"
mountpoint -q "$T/term.mnt" && fail "mounted despite errors"
note "ok: usage errors"
exit 0
