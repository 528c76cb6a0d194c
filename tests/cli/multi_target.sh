#!/bin/bash
# multi_target.sh - one image to several targets in one job: every target
# gets exactly qemu-img's bytes (new, larger and smaller files; loop
# devices as root), -json names each target in its result event, and a
# target that fails half-way (a file on a full tmpfs) is reported with its
# error while the others still complete.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3 sfdisk

MiB=$((1 << 20))

# A 64 MiB GPT disk of incompressible data, with a few compressed
# clusters, a zeroed run and a discarded run on top.
rand_file "$T/disk.raw" $((64 * MiB)) 31
sfdisk -q "$T/disk.raw" >/dev/null <<'EOF' || fail "sfdisk failed"
label: gpt
start=2048, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
start=67584, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
EOF
IMG=$T/disk.qcow2
qemu-img convert -O qcow2 "$T/disk.raw" "$IMG" || fail "qemu-img convert"
rm -f "$T/disk.raw"
# (compressed writes only go to unallocated clusters: discard them first)
qio "$IMG" "discard 40M 256K" "write -c -P 0x77 40M 256K" \
	"write -z 20M 1M" "discard 50M 2M"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")

# result_is OUT TARGET STATE: the -json result event for TARGET says STATE.
result_is() {
	local s
	s=$(json_result "$1" "$2" state)
	[ "$s" = "$3" ] || fail "-json: $2 is $s, want $3: $(cat "$1")"
}

# ------------------------------------------------------------ files
rand_file "$T/b.raw" $((V + 3 * MiB)) 32
rand_file "$T/c.raw" $((5 * MiB)) 33
run_ok -src "$IMG" -dst "$T/a.raw" -dst "$T/b.raw" -dst "$T/c.raw"
for x in a b c; do
	same "$T/ref.raw" "$T/$x.raw"
	grep -qF "qflash: $T/$x.raw: written" "$T/err.txt" ||
		fail "no 'written' line for $x.raw: $(cat "$T/err.txt")"
done
note "ok: new, larger and smaller files"

# -json: one result event per target, naming it; every line is JSON.
rm -f "$T/a.raw"
run_ok -src "$IMG" -json -dst "$T/a.raw" -dst "$T/b.raw" -dst "$T/c.raw"
n=$(grep -c '"event":"result"' "$T/out.txt")
[ "$n" = 3 ] || fail "-json: $n result events, want 3: $(cat "$T/out.txt")"
for x in a b c; do
	same "$T/ref.raw" "$T/$x.raw"
	result_is "$T/out.txt" "$T/$x.raw" ok
	[ "$(json_result "$T/out.txt" "$T/$x.raw" bytes)" = "$V" ] ||
		fail "-json: $x.raw bytes is not $V"
	[ "$(json_result "$T/out.txt" "$T/$x.raw" table_written)" = true ] ||
		fail "-json: $x.raw table_written is not true"
	[ -z "$(json_result "$T/out.txt" "$T/$x.raw" error)" ] ||
		fail "-json: $x.raw has an error message"
done
note "ok: -json result events name every target"

# ------------------------------------------------- loop devices (root)
if have_root_loop; then
	loop_file l1 $((V + MiB)) 34; L1=$LOOP
	loop_file l2 "$V" 35; L2=$LOOP
	loop_file l3 $((V + 4096)) 36; L3=$LOOP
	run_ok -src "$IMG" -dst "$L1" -dst "$L2" -dst "$L3" -exact
	same_prefix "$L1" "$T/ref.raw" "$V" "$T/l1.orig"
	same_prefix "$L2" "$T/ref.raw" "$V" "$T/l2.orig"
	same_prefix "$L3" "$T/ref.raw" "$V" "$T/l3.orig"
	note "ok: three loop devices"

	rand_file "$T/l1.img.new" $((V + MiB)) 37
	dd if="$T/l1.img.new" of="$L1" bs=1M conv=fsync status=none
	mv "$T/l1.img.new" "$T/l1.orig"
	rm -f "$T/a.raw"
	run_ok -src "$IMG" -json -dst "$T/a.raw" -dst "$L1" -exact
	same "$T/ref.raw" "$T/a.raw"
	same_prefix "$L1" "$T/ref.raw" "$V" "$T/l1.orig"
	result_is "$T/out.txt" "$T/a.raw" ok
	result_is "$T/out.txt" "$L1" ok
	note "ok: a file and a loop device together"
else
	note "skipped: loop devices ($LOOP_WHY)"
fi

# --------------------------------------- one target runs out of space
# The image is mostly incompressible data: a file on a 16 MiB tmpfs
# cannot hold it.  As root the tmpfs is mounted here; otherwise a user
# namespace may allow it for the one qflash run.
mkdir "$T/full"
FULL=
if [ "$(id -u)" = 0 ] &&
	mount -t tmpfs -o size=16m qflash-test "$T/full" 2>/dev/null; then
	on_exit "umount '$T/full'"
	FULL=mount
elif command -v unshare >/dev/null 2>&1 &&
	unshare -rm sh -c 'mount -t tmpfs -o size=16m none "$1"' _ "$T/full" \
		2>/dev/null; then
	FULL=userns
fi

# run_full ARGS...: run_q with the small tmpfs mounted on $T/full.
run_full() {
	if [ "$FULL" = mount ]; then
		rm -f "$T/full/"*
		run_q "$@"
		return
	fi
	RC=0
	unshare -rm sh -c 'mount -t tmpfs -o size=16m none "$1" || exit 99
		shift; exec "$@"' _ "$T/full" "$QFLASH" "$@" \
		>"$T/out.txt" 2>"$T/err.txt" || RC=$?
}

if [ -n "$FULL" ]; then
	BAD=$T/full/c.raw
	rm -f "$T/a.raw"
	run_full -src "$IMG" -dst "$T/a.raw" -dst "$BAD" -dst "$T/b.raw"
	[ "$RC" = 1 ] || fail "full target: exit $RC, want 1: $(cat "$T/err.txt")"
	grep -F "qflash: $BAD: " "$T/err.txt" | grep -qi 'no space left' ||
		fail "full target: no message naming $BAD and its error: $(cat "$T/err.txt")"
	same "$T/ref.raw" "$T/a.raw"
	same "$T/ref.raw" "$T/b.raw"
	for x in a b; do
		grep -qF "qflash: $T/$x.raw: written" "$T/err.txt" ||
			fail "full target: $x.raw not reported written: $(cat "$T/err.txt")"
	done
	note "ok: $(grep -F "$BAD" "$T/err.txt" | head -n 1)"

	rm -f "$T/a.raw"
	run_full -src "$IMG" -json -dst "$T/a.raw" -dst "$BAD" -dst "$T/b.raw"
	[ "$RC" = 1 ] || fail "full target -json: exit $RC, want 1: $(cat "$T/err.txt")"
	result_is "$T/out.txt" "$BAD" failed
	json_result "$T/out.txt" "$BAD" error | grep -qi 'no space left' ||
		fail "-json: the error of $BAD does not say why: $(cat "$T/out.txt")"
	[ "$(json_result "$T/out.txt" "$BAD" table_written)" = false ] ||
		fail "-json: $BAD table_written is not false"
	result_is "$T/out.txt" "$T/a.raw" ok
	result_is "$T/out.txt" "$T/b.raw" ok
	same "$T/ref.raw" "$T/a.raw"
	same "$T/ref.raw" "$T/b.raw"
	note "ok: -json reports the full target failed, the others ok"
else
	note "skipped: target on a full filesystem (no tmpfs can be mounted here)"
fi

exit 0
