#!/bin/bash
# report.sh - qflash -report reads a flash log back: real flashes to files
# (and a loop device, as root) that passed, failed on a wrong checksum and
# were killed after their "started" line, next to crafted lines with the
# station's fields and lines that are no record at all (skipped and
# counted).  The table, its summary, every filter (-image by SHA-256
# prefix and by name, -since with dates, times, today and yesterday,
# -serial), -csv read back by python's csv module, -json, standard input,
# the default log, and the errors for a missing log and bad flags.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3 sha256sum
# Dates given to -since are local: the crafted times are UTC.
export TZ=UTC

LOG=$T/flash.log
mkq "$T/disk.qcow2" 16M
qio "$T/disk.qcow2" "write -P 0x5a 0 4M" "write -P 0x5b 8M 1M"
SHA=$(sha256sum "$T/disk.qcow2" | cut -c1-64)
ZERO=$(printf '%064d' 0)
now_passed=1 now_failed=1 now_interrupted=1

# ------------------------------------------------------- real flashes
run_ok -src "$T/disk.qcow2" -dst "$T/a.img" -log "$LOG" -hash-source
if have_root_loop; then
	truncate -s 32M "$T/loop.img"
	loop_attach "$T/loop.img"
	run_ok -src "$T/disk.qcow2" -dst "$LOOP" -log "$LOG" -hash-source
	now_passed=2
else
	note "no loop device: $LOOP_WHY"
fi
run_q -src "$T/disk.qcow2" -dst "$T/b.img" -log "$LOG" -sha256 "$ZERO"
[ "$RC" = 1 ] || fail "a wrong checksum: exit $RC, want 1"
grep -q "\"target\":\"$T/b.img\".*\"result\":\"failed\"" "$LOG" ||
	fail "the failed flash was not recorded as failed"

# A flash from a slow server, killed once its started line is written.
slow_http "$T/disk.qcow2" 1000000
"$QFLASH" -src "$HTTP_URL" -dst "$T/c.img" -log "$LOG" >"$T/c.out" 2>&1 &
QPID=$!
on_exit "kill -KILL $QPID"
for ((i = 0; i < 300; i++)); do
	grep -q "\"target\":\"$T/c.img\".*\"result\":\"started\"" "$LOG" && break
	kill -0 "$QPID" 2>/dev/null || fail "the slow flash ended early: $(cat "$T/c.out")"
	sleep 0.1
done
kill -KILL "$QPID"
wait "$QPID" 2>/dev/null
grep -q "\"target\":\"$T/c.img\".*\"result\":\"started\"" "$LOG" ||
	fail "the killed flash left no started line"
[ "$(grep -c "\"target\":\"$T/c.img\"" "$LOG")" = 1 ] ||
	fail "the killed flash has a result line"

# --------------------------------------------------- crafted lines
# A station's pass, with the fields it adds; a flash of its that never
# ended; a failure whose error needs quoting in CSV; and lines that are
# no flash record: garbage, a cut line, bytes that are not UTF-8, JSON
# that is not a record, and a line longer than any record.
FLEET=/srv/images/fleet-2025.img.xz
FSHA=c0ffee00$(printf '%056d' 7)
{
	echo "{\"time\":\"2025-06-01T10:00:00Z\",\"image\":\"$FLEET\",\"target\":\"/dev/sdq\",\"model\":\"WD Blue\",\"serial\":\"WD-123456\",\"target_size\":500107862016,\"result\":\"started\",\"verify\":\"pending\",\"error\":\"\",\"slot\":4,\"station\":\"bench-2\",\"operator\":\"ann\",\"wwn\":\"0x50014ee2b1c2d3e4\"}"
	echo 'this is not JSON'
	echo "{\"time\":\"2025-06-01T10:00:00Z\",\"image\":\"$FLEET\",\"source_sha256\":\"$FSHA\",\"target\":\"/dev/sdq\",\"model\":\"WD Blue\",\"serial\":\"WD-123456\",\"target_size\":500107862016,\"adjustments\":[\"backup-gpt-moved\"],\"bytes_written\":4000000000,\"bytes_zeroed\":0,\"duration\":20.0,\"result\":\"ok\",\"verify\":\"ok\",\"error\":\"\",\"slot\":4,\"station\":\"bench-2\",\"operator\":\"ann\",\"wwn\":\"0x50014ee2b1c2d3e4\",\"rate\":200000000,\"qualify\":{\"claimed\":500107862016,\"usable\":500107862016,\"write_rate\":210000000},\"healed\":2,\"finished\":\"2025-06-01T10:00:21Z\"}"
	echo "{\"time\":\"2025-06-01T10:05:00Z\",\"image\":\"$FLEET\",\"target\":\"/dev/sdr\",\"model\":\"WD Blue\",\"serial\":\"WD-999\",\"result\":\"started\",\"slot\":5,\"station\":\"bench-2\"}"
	printf '{"time":"2025-06-01T10:06:00Z","image":"\xff\xfe","target":"/dev/sds","result":"ok"}\n'
	echo '{"foo":1}'
	echo '[1,2,3]'
	echo
	echo "{\"time\":\"2025-06-02T08:00:00Z\",\"image\":\"$FLEET\",\"target\":\"/dev/sdt\",\"model\":\"Kingston\",\"serial\":\"KS-1\",\"result\":\"failed\",\"verify\":\"skipped\",\"error\":\"write error at 1,048,576: \\\"EIO\\\"\\nthen gave up\",\"station\":\"bench-2\"}"
	python3 -c 'print("{\"result\":\"ok\",\"target\":\"/dev/sdz\",\"x\":\"" + "y" * (2 << 20) + "\"}")'
	printf '{"time":"2025-06-03T08:00:00Z","image":"/x.img","target":"/dev/sdu","resu'
} >>"$LOG"
SKIPPED=6
old_passed=1 old_failed=1 old_interrupted=1

# summary P F I: the summary line of $T/out.txt.
summary() {
	local want="$(($1 + $2 + $3)) drive"
	[ $(($1 + $2 + $3)) = 1 ] || want="${want}s"
	want="$want: $1 passed, $2 failed, $3 interrupted"
	tail -n 1 "$T/out.txt" | grep -qxF "$want" ||
		fail "summary: want \"$want\", got \"$(tail -n 1 "$T/out.txt")\""
}

# row TEXT...: one line of the table holds every TEXT.
row() {
	local l
	l=$(grep -F -- "$1" "$T/out.txt") || fail "no row with \"$1\": $(cat "$T/out.txt")"
	shift
	for w in "$@"; do
		grep -F -- "$1" <<<"$l" | grep -qF -- "$w" ||
			fail "the row of \"$1\" has no \"$w\": $l"
	done
}

# ---------------------------------------------------------- the table
run_ok -report "$LOG"
summary $((now_passed + old_passed)) $((now_failed + old_failed)) \
	$((now_interrupted + old_interrupted))
grep -qF "$LOG: $SKIPPED lines skipped" "$T/err.txt" ||
	fail "the skipped lines are not counted: $(cat "$T/err.txt")"
head -n 1 "$T/out.txt" | grep -Eq '^TIME +RESULT +TARGET +MODEL +SERIAL +SIZE +IMAGE +SLOT +STATION +OPERATOR +WWN +RATE +NOTE$' ||
	fail "table header: $(head -n 1 "$T/out.txt")"
row "$T/a.img" passed disk.qcow2 "16.0 MiB"
row "$T/b.img" failed "not the image that was published"
row "$T/c.img" interrupted disk.qcow2
row WD-123456 passed "WD Blue" bench-2 ann 0x50014ee2b1c2d3e4 "200.0 MB/s" \
	"healed: 2" fleet-2025.img.xz
row WD-999 interrupted bench-2
row KS-1 failed 'write error at 1,048,576: "EIO"?then gave up'
[ "$now_passed" = 2 ] && row "$LOOP" passed disk.qcow2
# Oldest first, every column starting where its header does.
python3 - "$T/out.txt" <<'PY' || fail "the table is not aligned"
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()[:-1]
starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
for l in lines[1:]:
    for s in starts:
        assert (s == 0 or l[s - 1] == " ") and l[s] != " ", (s, l)
times = [l[:19] for l in lines[1:]]
assert times == sorted(times), times
assert times[0].startswith("2025-06-01"), times
PY
note "ok: table and summary"

# ------------------------------------------------------------ filters
run_ok -report "$LOG" -since today
summary "$now_passed" "$now_failed" "$now_interrupted"
grep -q 2025- "$T/out.txt" && fail "-since today lists old flashes"
run_ok -report "$LOG" -since yesterday
summary "$now_passed" "$now_failed" "$now_interrupted"
run_ok -report "$LOG" -since 2025-06-02
summary "$now_passed" $((now_failed + 1)) "$now_interrupted"
run_ok -report "$LOG" -since 2025-06-01T10:01:00Z
summary "$now_passed" $((now_failed + 1)) $((now_interrupted + 1))
run_ok -report "$LOG" -since 2025-06-01
summary $((now_passed + 1)) $((now_failed + 1)) $((now_interrupted + 1))
run_ok -report "$LOG" -since "$(date +%Y-%m-%d -d tomorrow)"
summary 0 0 0
[ "$(wc -l <"$T/out.txt")" = 1 ] || fail "an empty report prints more than its summary"

run_ok -report "$LOG" -image "${SHA:0:12}"
summary "$now_passed" 1 0
run_ok -report "$LOG" -image "${FSHA:0:8}"
summary 1 0 0
row WD-123456 passed
run_ok -report "$LOG" -image fleet-2025
summary 1 1 1
run_ok -report "$LOG" -image "${FSHA:0:6}"    # too short for a digest
summary 0 0 0
run_ok -report "$LOG" -image "$T/c.img"       # a target, not an image
summary 0 0 0
run_ok -report "$LOG" -serial WD-123456
summary 1 0 0
run_ok -report "$LOG" -serial WD-12345
summary 0 0 0
run_ok -report "$LOG" -serial WD-999 -image fleet -since 2025-06-01
summary 0 0 1
# Without the station's fields, no station columns.
run_ok -report "$LOG" -since today
head -n 1 "$T/out.txt" | grep -q SLOT && fail "empty station columns shown"
note "ok: filters"

# ---------------------------------------------------- CSV and JSON
run_ok -report "$LOG" -csv
python3 - "$T/out.txt" "$T" "$FSHA" $((now_passed + now_failed + now_interrupted + 3)) <<'PY' || fail "-csv: $(head -c 600 "$T/out.txt")"
import csv, sys
path, tdir, fsha, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
raw = open(path, "rb").read()
assert raw.endswith(b"\r\n"), "lines do not end in CRLF"
rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
assert len(rows) == n, (len(rows), n)
by = {r["target"]: r for r in rows}
a = by[tdir + "/a.img"]
assert a["result"] == "ok" and a["size"] == str(16 << 20), a
assert a["time"].endswith("Z") and a["verify"] == "skipped", a
assert by[tdir + "/b.img"]["result"] == "failed"
assert "not the image that was published" in by[tdir + "/b.img"]["error"]
c = by[tdir + "/c.img"]
assert c["result"] == "interrupted" and c["image"].startswith("http://"), c
q = by["/dev/sdq"]
assert q["slot"] == "4" and q["station"] == "bench-2" and q["operator"] == "ann", q
assert q["wwn"] == "0x50014ee2b1c2d3e4" and q["serial"] == "WD-123456", q
assert q["source_sha256"] == fsha and q["adjustments"] == "backup-gpt-moved", q
assert q["qualify_claimed"] == "500107862016" and q["qualify_write_rate"] == "210000000", q
assert q["healed"] == "2" and q["rate"] == "200000000", q
assert q["time"] == "2025-06-01T10:00:00Z" and q["finished"] == "2025-06-01T10:00:21Z", q
t = by["/dev/sdt"]
assert t["error"] == 'write error at 1,048,576: "EIO"\nthen gave up', t
assert by["/dev/sdr"]["result"] == "interrupted"
PY
run_ok -report "$LOG" -json -image fleet
python3 - "$T/out.txt" <<'PY' || fail "-json: $(head -c 600 "$T/out.txt")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert [r["target"] for r in recs] == ["/dev/sdq", "/dev/sdr", "/dev/sdt"], recs
assert [r["result"] for r in recs] == ["ok", "interrupted", "failed"], recs
assert recs[0]["qualify"]["usable"] == 500107862016 and recs[0]["slot"] == 4, recs
PY
note "ok: -csv and -json"

# ------------------------------------ standard input, the default log
run_q -report - -serial WD-123456 <"$LOG"
[ "$RC" = 0 ] || fail "-report -: exit $RC: $(cat "$T/err.txt")"
summary 1 0 0
RC=0
XDG_STATE_HOME=$T/state "$QFLASH" -report default >"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 1 ] || fail "a missing default log: exit $RC, want 1"
grep -qF "$T/state/qflash/flash.log: cannot read the flash log: No such file or directory" "$T/err.txt" ||
	fail "a missing default log: $(cat "$T/err.txt")"
mkdir -p "$T/state/qflash"
cp "$LOG" "$T/state/qflash/flash.log"
XDG_STATE_HOME=$T/state "$QFLASH" -report default -since today >"$T/out.txt" 2>"$T/err.txt" ||
	fail "-report default: $(cat "$T/err.txt")"
summary "$now_passed" "$now_failed" "$now_interrupted"
note "ok: standard input and the default log"

# ------------------------------------------------------------- errors
run_q -report "$T/nothere.log"
[ "$RC" = 1 ] || fail "a missing log: exit $RC, want 1"
grep -qxF "qflash: $T/nothere.log: cannot read the flash log: No such file or directory" "$T/err.txt" ||
	fail "a missing log: $(cat "$T/err.txt")"
[ -s "$T/out.txt" ] && fail "a missing log printed a report"
run_q -report "$T"
[ "$RC" = 1 ] && grep -q "cannot read the flash log: Is a directory" "$T/err.txt" ||
	fail "a directory as the log: exit $RC: $(cat "$T/err.txt")"
for bad in "-since 2025-13-01" "-since 2025-02-30" "-since soon" "-csv -json"; do
	# shellcheck disable=SC2086
	run_q -report "$LOG" $bad
	[ "$RC" = 2 ] || fail "-report $bad: exit $RC, want 2"
done
run_q -report "$LOG" -image ""
[ "$RC" = 2 ] || fail "-report -image '': exit $RC, want 2"
grep -q "is not a date" <("$QFLASH" -report "$LOG" -since soon 2>&1) ||
	fail "-since soon: no reason given"
run_q -since today
[ "$RC" = 2 ] && grep -q -- "go with -report" "$T/err.txt" ||
	fail "-since without -report: exit $RC: $(cat "$T/err.txt")"
run_q -report "$LOG" -src "$T/disk.qcow2"
[ "$RC" = 2 ] || fail "-report with -src: exit $RC, want 2"
note "ok: errors"
exit 0
