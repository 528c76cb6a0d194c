#!/bin/bash
# demo.sh - --demo makes, in a new directory under $TMPDIR, a qcow2 image
# that qemu-img accepts (GPT; FAT EFI partition with README.TXT; ext2
# partition) and two empty target files offered first; the whole-disk key
# path flashes it and the stderr note names the directory.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk blkid python3

mkdir "$T/tmp"
tui_start TMPDIR="$T/tmp" -- --demo --log "$T/flash.log"
tui_wait "Partitions (GPT, 2)"
d=$(echo "$T"/tmp/qflash-demo-*)
[ -d "$d" ] || fail "no demo directory under \$TMPDIR"
for f in demo.qcow2 demo-target-1.img demo-target-2.img; do
	[ -f "$d/$f" ] || fail "--demo did not make $f"
done
[ -s "$d/demo-target-1.img" ] && fail "demo-target-1.img is not empty"
tui_wait "EFI System"
tui_wait "demo-root"

qemu-img check "$d/demo.qcow2" >"$T/check.txt" 2>&1 ||
	{ cat "$T/check.txt" >&2; fail "qemu-img check failed on the demo image"; }
ref_raw "$d/demo.qcow2" "$T/ref.raw"
sfdisk -J "$T/ref.raw" >"$T/sfdisk.json" || fail "sfdisk -J failed"
python3 - "$T/sfdisk.json" <<'PY' || fail "unexpected demo partition table"
import json, sys
t = json.load(open(sys.argv[1]))["partitiontable"]
assert t["label"] == "gpt", t["label"]
types = [p["type"] for p in t["partitions"]]
assert types == ["C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
                 "0FC63DAF-8483-4772-8E79-3D69D8477DE4"], types
PY
for n in 1 2; do
	extract_part "$T/ref.raw" $n "$T/part$n"
done
blkid -p -o export "$T/part1" | grep -qx TYPE=vfat || fail "partition 1 is not vfat"
blkid -p -o export "$T/part2" | grep -qx TYPE=ext2 || fail "partition 2 is not ext2"
if command -v fsck.vfat >/dev/null; then
	fsck.vfat -n "$T/part1" >/dev/null 2>&1 || fail "fsck.vfat finds errors"
fi
if command -v e2fsck >/dev/null; then
	e2fsck -fn "$T/part2" >/dev/null 2>&1 || fail "e2fsck finds errors"
fi

tui_keys Enter
tui_wait "Whole disk to one or more targets"
tui_keys Enter
tui_wait "demo-target-2.img"
tui_keys Space
tui_wait "Selected: 1"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 30
tui_keys q
tui_expect_exit 0
same "$d/demo-target-1.img" "$T/ref.raw"
grep -qF "$d" "$T/tui.err" || fail "the demo directory is not named on exit"
note "the demo image is valid and flashes"
