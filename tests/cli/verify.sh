#!/bin/bash
# verify.sh - -verify after writing, -verify-only on whole disks and on
# partitions (-write-parts): the exact offset of the first difference is
# reported, an unchanged target passes; -log appends one JSON line per
# target with the documented fields and a checksum that can be recomputed
# from the image's bytes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk mkfs.vfat mkfs.ext4

MiB=$((1 << 20))
make_gpt_disk "$T/disk.raw" 100M
IMG=$T/disk.qcow2
qemu-img convert -O qcow2 "$T/disk.raw" "$IMG" || fail "qemu-img convert"
rm -f "$T/disk.raw"
ref_raw "$IMG" "$T/ref.raw"
V=$(file_size "$T/ref.raw")
LOG=$T/log/flash.log      # its directory does not exist yet

# flip FILE OFFSET: invert the byte at OFFSET; restore FILE OFFSET puts
# the original back (kept in $T/flip.OFFSET).
flip() {
	local b
	b=$(readhex "$1" "$2" 1)
	echo "$b" >"$T/flip.$2"
	hexpatch "$1" "$2" "$(printf '%02x' $((0x$b ^ 0xff)))"
}
restore() {
	hexpatch "$1" "$2" "$(cat "$T/flip.$2")"
}

# expect_mismatch TARGET OFFSET: the last run failed at exactly OFFSET.
expect_mismatch() {
	[ "$RC" = 1 ] || fail "mismatch on $1: exit $RC, want 1: $(cat "$T/err.txt")"
	grep -qxF "qflash: $1: verification failed: first difference at byte $2" \
		"$T/err.txt" ||
		fail "mismatch on $1: want 'first difference at byte $2': $(cat "$T/err.txt")"
}

# log_check LOG N: LOG has N result lines, each one JSON object with
# every documented field of the right type and form, and before each one
# a "started" line for the same target.
log_check() {
	python3 - "$1" "$2" <<'EOF' || fail "flash log $1 is not as documented"
import json, re, sys, time, calendar
path, want = sys.argv[1], int(sys.argv[2])
lines = open(path).read().split("\n")
if lines[-1] != "":
    sys.exit("the log does not end with a newline")
lines = lines[:-1]
started = [json.loads(l) for l in lines if json.loads(l)["result"] == "started"]
lines = [l for l in lines if json.loads(l)["result"] != "started"]
if len(lines) != want:
    sys.exit("%d result lines, want %d" % (len(lines), want))
if len(started) != want:
    sys.exit("%d started lines, want %d" % (len(started), want))
for s, l in zip(started, lines):
    if s["target"] != json.loads(l)["target"] or s["verify"] != "pending":
        sys.exit("started line %s does not match %s" % (s, l))
types = {"time": str, "image": str, "virtual_size": int, "mode": str,
         "target": str, "model": str, "serial": str, "bytes_written": int,
         "bytes_zeroed": int, "duration": (int, float), "result": str,
         "verify": str, "error": str}
for n, line in enumerate(lines, 1):
    d = json.loads(line)
    for k, t in types.items():
        if not isinstance(d.get(k), t) or isinstance(d.get(k), bool):
            sys.exit("line %d: %s missing or not %s: %s" % (n, k, t, line))
    if "checksum" not in d:
        sys.exit("line %d: no checksum" % n)
    c = d["checksum"]
    if c is not None and not re.fullmatch(r"xxh3-4m:[0-9a-f]{16}", c):
        sys.exit("line %d: bad checksum %r" % (n, c))
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["time"]):
        sys.exit("line %d: bad time %r" % (n, d["time"]))
    t = calendar.timegm(time.strptime(d["time"], "%Y-%m-%dT%H:%M:%SZ"))
    if abs(t - time.time()) > 3600:
        sys.exit("line %d: time %s is not now" % (n, d["time"]))
    if d["mode"] not in ("whole-disk", "partition", "verify"):
        sys.exit("line %d: bad mode %r" % (n, d["mode"]))
    if d["result"] not in ("ok", "failed", "cancelled", "mismatch"):
        sys.exit("line %d: bad result %r" % (n, d["result"]))
    if d["verify"] not in ("ok", "skipped", "mismatch"):
        sys.exit("line %d: bad verify %r" % (n, d["verify"]))
    if d["bytes_written"] < 0 or d["bytes_zeroed"] < 0 or d["duration"] < 0:
        sys.exit("line %d: negative count: %s" % (n, line))
    if (d["result"] == "ok") != (d["error"] == ""):
        sys.exit("line %d: error and result disagree: %s" % (n, line))
EOF
}

# log_get LOG LINE KEY: KEY of result line LINE (1-based) of LOG, "" if
# absent.
log_get() {
	python3 -c '
import json, sys
ls = [l for l in open(sys.argv[1]).read().split("\n") if l]
ls = [l for l in ls if json.loads(l)["result"] != "started"]
d = json.loads(ls[int(sys.argv[2]) - 1])
v = d.get(sys.argv[3], "")
print("null" if v is None else v)' "$@" || fail "log_get $*"
}

# log_is LOG LINE KEY=VALUE...: fail unless each KEY of LINE is VALUE
# (one python3 for them all).
log_is() {
	local why
	why=$(python3 -c '
import json, sys
ls = [l for l in open(sys.argv[1]).read().split("\n") if l]
ls = [l for l in ls if json.loads(l)["result"] != "started"]
n = int(sys.argv[2])
d = json.loads(ls[n - 1])
for kv in sys.argv[3:]:
    k, want = kv.split("=", 1)
    v = d.get(k, "")
    v = "null" if v is None else str(v)
    if v != want:
        print("log line %d: %s is %r, want %r: %s" % (n, k, v, want, ls[n - 1]))
        break' "$@") || fail "log_is $*"
	[ -z "$why" ] || fail "$why"
}

# xxh3_4m FILE: the log's checksum of FILE's bytes, computed the way the
# manual describes it (XXH3-64 of the little-endian XXH3-64 of each 4 MiB).
xxh3_4m() {
	local d=$T/xx f
	rm -rf "$d"
	mkdir "$d"
	split -b 4M -a 5 -d "$1" "$d/b."
	for f in "$d"/b.*; do
		xxhsum -H3 "$f" 2>/dev/null | sed -n 's/.*= //p'
	done | python3 -c '
import struct, sys
sys.stdout.buffer.write(b"".join(struct.pack("<Q", int(l, 16)) for l in sys.stdin))
' >"$d/all"
	echo "xxh3-4m:$(xxhsum -H3 "$d/all" 2>/dev/null | sed -n 's/.*= //p')"
	rm -rf "$d"
}

# ------------------------------------------------ -verify and -log
run_ok -src "$IMG" -dst "$T/a.raw" -dst "$T/b.raw" -verify -log "$LOG"
same "$T/ref.raw" "$T/a.raw"
same "$T/ref.raw" "$T/b.raw"
for x in a b; do
	grep -qxF "qflash: $T/$x.raw: written and verified" "$T/err.txt" ||
		fail "-verify: $x.raw not reported verified: $(cat "$T/err.txt")"
done
log_check "$LOG" 2
SUM=$(log_get "$LOG" 1 checksum)

# A flash that cannot be recorded does not happen: with a log that cannot
# be written, nothing is written and the log is named.
run_q -src "$IMG" -dst "$T/c.raw" -json -log "$T/c.raw/flash.log"
[ "$RC" = 1 ] || fail "an unwritable log: exit $RC, want 1"
grep -q 'cannot .*flash log' "$T/err.txt" ||
	fail "an unwritable log is not reported: $(cat "$T/err.txt")"
[ -e "$T/c.raw" ] && fail "a target was written without a log record"
for i in 1 2; do
	x=$([ $i = 1 ] && echo a || echo b)
	log_is "$LOG" $i "image=$IMG" "virtual_size=$V" mode=whole-disk \
		"target=$T/$x.raw" result=ok verify=ok error= "checksum=$SUM"
	w=$(log_get "$LOG" $i bytes_written)
	z=$(log_get "$LOG" $i bytes_zeroed)
	# The partition-table regions are written apart from the counted
	# data (a MiB at the start, the backup GPT at the end).
	[ "$w" -gt 0 ] && [ $((w + z)) -le "$V" ] &&
		[ $((w + z)) -ge $((V - 2 * MiB)) ] ||
		fail "log line $i: bytes_written $w + bytes_zeroed $z do not add up to $V"
done
if command -v xxhsum >/dev/null 2>&1; then
	want=$(xxh3_4m "$T/ref.raw")
	[ "$SUM" = "$want" ] || fail "log checksum $SUM, recomputed $want"
	note "ok: the log checksum is $want"
else
	note "skipped: recomputing the checksum (no xxhsum)"
fi
note "ok: -verify, and -log wrote two lines"

# ----------------------------------------------------- -verify-only
run_ok -src "$IMG" -dst "$T/a.raw" -verify-only
note "ok: -verify-only on an unchanged target"

N=$((80 * MiB + 12345))
flip "$T/a.raw" "$N"
run_q -src "$IMG" -dst "$T/a.raw" -dst "$T/b.raw" -verify-only -log "$LOG"
expect_mismatch "$T/a.raw" "$N"
# Nothing was written: it says so.
grep -qxF "qflash: $T/b.raw: matches the image" "$T/err.txt" ||
	fail "-verify-only: the unchanged b.raw is not reported ok: $(cat "$T/err.txt")"
log_check "$LOG" 4
log_is "$LOG" 3 "target=$T/a.raw" mode=verify result=mismatch verify=mismatch \
	bytes_written=0 bytes_zeroed=0
log_is "$LOG" 4 "target=$T/b.raw" mode=verify result=ok verify=ok \
	bytes_written=0 "checksum=$SUM"
grep -qF "$N" <<<"$(log_get "$LOG" 3 error)" ||
	fail "log line 3: the error does not name byte $N"
note "ok: -verify-only finds byte $N"

# Two differences: the first one is reported.
M=$((3 * MiB + 777))
flip "$T/a.raw" "$M"
run_q -src "$IMG" -dst "$T/a.raw" -verify-only
expect_mismatch "$T/a.raw" "$M"
run_q -src "$IMG" -dst "$T/a.raw" -verify-only -json
[ "$RC" = 1 ] || fail "-verify-only -json: exit $RC, want 1"
[ "$(json_result "$T/out.txt" "$T/a.raw" state)" = mismatch ] ||
	fail "-verify-only -json: state is not mismatch: $(cat "$T/out.txt")"
[ "$(json_result "$T/out.txt" "$T/a.raw" mismatch_offset)" = "$M" ] ||
	fail "-verify-only -json: mismatch_offset is not $M: $(cat "$T/out.txt")"
restore "$T/a.raw" "$M"
restore "$T/a.raw" "$N"

# A difference in the partition table itself (the GPT header's
# signature) counts as well.
G=$((512 + 3))
flip "$T/a.raw" "$G"
run_q -src "$IMG" -dst "$T/a.raw" -verify-only
expect_mismatch "$T/a.raw" "$G"
restore "$T/a.raw" "$G"
run_ok -src "$IMG" -dst "$T/a.raw" -verify-only
same "$T/ref.raw" "$T/a.raw"
note "ok: the first of two differences, and one in the GPT header"

# ----------------------------------------- partitions (-write-parts)
extract_part "$T/ref.raw" 1 "$T/p1.ref"
extract_part "$T/ref.raw" 2 "$T/p2.ref"
p1z=$(stat -c %s "$T/p1.ref") p2z=$(stat -c %s "$T/p2.ref")
run_ok -src "$IMG" -write-parts "1=$T/p1.raw,2=$T/p2.raw" -verify -log "$LOG"
same "$T/p1.ref" "$T/p1.raw"
same "$T/p2.ref" "$T/p2.raw"
log_check "$LOG" 6
log_is "$LOG" 5 "target=$T/p1.raw" mode=partition partition=1 result=ok verify=ok
log_is "$LOG" 6 "target=$T/p2.raw" mode=partition partition=2 result=ok verify=ok
if command -v xxhsum >/dev/null 2>&1; then
	log_is "$LOG" 5 "checksum=$(xxh3_4m "$T/p1.ref")"
	log_is "$LOG" 6 "checksum=$(xxh3_4m "$T/p2.ref")"
fi

run_ok -src "$IMG" -write-parts "1=$T/p1.raw,2=$T/p2.raw" -verify-only
P=$((p2z / 2 + 99))
flip "$T/p2.raw" "$P"
run_q -src "$IMG" -write-parts "1=$T/p1.raw,2=$T/p2.raw" -verify-only \
	-log "$LOG"
expect_mismatch "$T/p2.raw" "$P"
grep -qxF "qflash: $T/p1.raw: matches the image" "$T/err.txt" ||
	fail "-verify-only -write-parts: p1.raw not reported ok: $(cat "$T/err.txt")"
log_check "$LOG" 8
log_is "$LOG" 7 "target=$T/p1.raw" mode=verify partition=1 result=ok
log_is "$LOG" 8 "target=$T/p2.raw" mode=verify partition=2 result=mismatch \
	verify=mismatch
restore "$T/p2.raw" "$P"
run_ok -src "$IMG" -write-parts "2=$T/p2.raw" -verify-only
note "ok: -verify-only -write-parts finds byte $P of partition 2"

exit 0
