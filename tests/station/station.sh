#!/bin/bash
# station.sh - qflash -station like a bench: drives plugged into two armed
# slots one after the other (good, failing, too small, good again), each
# flashed, verified and certified on its own with a JSON line per change;
# a drive in an unarmed slot and a bystander loop device are never
# touched; SIGTERM in the middle of a flash leaves no layout behind.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk blkid cmp
. "$top_srcdir/tests/station/stationlib.sh"
need_fault_dev

MiB=$((1 << 20))

station_image

slot_new; A=$SLOT
slot_new; B=$SLOT
slot_new; C=$SLOT       # not armed
note "slots $A and $B armed, $C not"

# Nothing may touch these: a drive in the unarmed slot, and a loop device
# attached the usual way.
rand_file "$T/unarmed.img" $((128 * MiB)) 7
cp "$T/unarmed.img" "$T/unarmed.orig"
slot_insert "$C" "$T/unarmed.img"
loop_file bystander $((64 * MiB)) 8
BYSTANDER=$LOOP

station_start -slot "$A" -slot "$B" -src "$T/disk.qcow2" -verify \
	-log "$T/flash.log" -cert-dir "$T/certs" -operator tester \
	-station-name bench-1
wait_event "$A" empty >/dev/null
wait_event "$B" empty >/dev/null

# 1. A good drive of the image's size, holding an old layout of its own.
make_gpt_disk "$T/good1.img" 100M
rand_file "$T/.noise" $((4 * MiB)) 3
dd if="$T/.noise" of="$T/good1.img" bs=1M seek=40 conv=notrunc status=none
slot_insert "$A" "$T/good1.img"
ev=$(wait_event "$A" pass)
[ "$(ev_field "$ev" copies)" = 1 ] || fail "copies after the first pass: $ev"
[ "$(ev_field "$ev" size)" = $((100 * MiB)) ] || fail "size: $ev"
cert1=$(ev_field "$ev" certificate)
slot_eject "$A"
same "$T/ref.raw" "$T/good1.img"
wait_event "$A" empty 2 >/dev/null
note "a good drive passed, byte-identical to qemu-img convert"

# 2. A drive that fails writes in the middle, in the other slot.
fault_media eio 128M --eio-write-at $((60 * MiB)):65536
slot_insert_fault "$B" eio
ev=$(wait_event "$B" fail)
reason=$(ev_field "$ev" reason)
echo "$reason" | grep -qi "input/output error" || fail "reason for the failing drive: $reason"
no_layout "/dev/$B"
[ "$(ev_field "$ev" failures)" = 1 ] || fail "failures: $ev"
note "a failing drive: FAIL ($reason), no layout left"

# 3. A drive too small for the image: refused before anything is written.
rand_file "$T/small.img" $((64 * MiB)) 5
cp "$T/small.img" "$T/small.orig"
slot_insert "$A" "$T/small.img"
ev=$(wait_event "$A" fail)
ev_field "$ev" reason | grep -q "too small" || fail "small drive: $ev"
slot_eject "$A"
same "$T/small.orig" "$T/small.img"
wait_event "$A" empty 3 >/dev/null

# 4. Another good drive, larger: the GPT fix-ups for a larger drive.
truncate -s 160M "$T/good2.img"
slot_insert "$A" "$T/good2.img"
ev=$(wait_event "$A" pass 2)
[ "$(ev_field "$ev" copies)" = 2 ] || fail "copies after the second pass: $ev"
[ "$(ev_field "$ev" failures)" = 1 ] || fail "failures on $A: $ev"
sfdisk -V "/dev/$A" >/dev/null 2>&1 || fail "sfdisk -V finds the second drive's GPT wrong"
# The protective MBR and the GPT header differ (they name the new end).
cmp -i 1024 -n $((100 * MiB - 1024 - 33 * 512)) "$T/ref.raw" "/dev/$A" >/dev/null ||
	fail "the second drive differs from the image between its GPT headers"
slot_eject "$A"
note "a larger drive passed with its GPT fixed up"

# 5. SIGTERM while a slow drive is being written.
fault_media slow 128M --write-rate 8M
slot_eject "$B"
wait_event "$B" empty 2 >/dev/null
slot_insert_fault "$B" slow
wait_event "$B" writing 2 >/dev/null
sleep 1
kill -TERM "$STATION_PID"
rc=0; wait "$STATION_PID" || rc=$?
[ "$rc" = 0 ] || fail "the station exited $rc on SIGTERM"
wait_event "$B" stopped >/dev/null
tail -n 1 "$T/events.jsonl" | grep -q '"event":"stopped"' || fail "no final stopped line"
no_layout "/dev/$B"
note "SIGTERM stopped the station; the interrupted drive has no layout"

# Nobody else was touched.
same "$T/unarmed.orig" "$T/unarmed.img"
same "$T/bystander.orig" "$T/bystander.img"

# Every line is JSON, one per change; the certificates and the flash log.
python3 - "$T/events.jsonl" "$T/flash.log" "$T/certs" "$A" "$B" "$cert1" <<'PYEOF' || fail "events, log or certificates"
import json, os, sys
events, log, certs, a, b, cert1 = sys.argv[1:]
evs = [json.loads(l) for l in open(events)]
assert evs[0]["event"] == "armed" and evs[0]["slots"] == [a, b], evs[0]
for x, y in zip(evs, evs[1:]):
    if x.get("event") == y.get("event") == "slot" and x["slot"] == y["slot"]:
        assert x["state"] != y["state"], ("a repeated state", x, y)
recs = [json.loads(l) for l in open(log)]
final = [r for r in recs if r["result"] != "started"]
assert [r["result"] for r in final] == ["ok", "failed", "failed", "ok", "cancelled"], [r["result"] for r in final]
for r in final:
    assert r["station"] == "bench-1" and r["operator"] == "tester", r
    assert r["slot"] in (a, b), r
    assert len(r.get("source_sha256", "")) == 64 or r["result"] != "ok", r
assert final[0]["verify"] == "ok" and final[0]["slot"] == a
assert "too small" in final[2]["error"]
files = sorted(os.listdir(certs))
assert len(files) == 5, files
text = open(cert1).read()
for want in ("PASS", "bench-1", "tester", a, "100.0 MiB", "read back and verified", final[0]["source_sha256"]):
    assert want in text, (want, text)
fails = [open(os.path.join(certs, f)).read() for f in files if "FAIL" in open(os.path.join(certs, f)).read()]
assert len(fails) == 3, len(fails)
assert any("too small" in t for t in fails)
PYEOF
note "events, flash-log records and certificates agree"

# The report over the station's log: its columns and its counts.
run_q -report "$T/flash.log"
[ "$RC" = 0 ] || fail "-report: $(cat "$T/err.txt")"
grep -q "bench-1" "$T/out.txt" && grep -q "tester" "$T/out.txt" && grep -q "$A" "$T/out.txt" ||
	fail "-report shows no station, operator or slot: $(cat "$T/out.txt")"
grep -q "5 drives: 2 passed, 2 failed, 0 interrupted, 1 cancelled" "$T/out.txt" ||
	fail "-report summary: $(tail -n 1 "$T/out.txt")"
run_q -report "$T/flash.log" -csv
python3 - "$T/out.txt" "$A" <<'PYEOF' || fail "-report -csv"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
ok = [r for r in rows if r["result"] == "ok"]
assert len(rows) == 5 and len(ok) == 2, rows
assert all(r["slot"] == sys.argv[2] and r["operator"] == "tester" for r in ok), ok
PYEOF
note "-report reads the station's log: 2 passed, 2 failed, 1 cancelled"

# 6. With the media test: a fake card fails before anything is flashed;
# a good drive passes with what the test found in its record.
mv "$T/events.jsonl" "$T/events1.jsonl"
station_start -slot "$A" -src "$T/disk.qcow2" -verify -qualify \
	-log "$T/flash2.log" -cert-dir "$T/certs2"
wait_event "$A" empty >/dev/null
fault_media fake 1G --real-size 64M
slot_insert_fault "$A" fake
ev=$(wait_event "$A" fail)
reason=$(ev_field "$ev" reason)
case $reason in
"fake capacity: claimed 1.0 GiB, holds about 64.0 MiB"*) ;;
*) fail "the fake card's reason: $reason" ;;
esac
wait_event "$A" qualifying >/dev/null
grep -q '"state":"writing"' "$T/events.jsonl" && fail "the fake card was flashed"
no_layout "/dev/$A"
slot_eject "$A"
truncate -s 100M "$T/good3.img"
slot_insert "$A" "$T/good3.img"
wait_event "$A" pass >/dev/null
slot_eject "$A"
same "$T/ref.raw" "$T/good3.img"
python3 - "$T/flash2.log" <<'PYEOF' || fail "the media test in the flash log"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"started"' not in l]
assert [r["result"] for r in recs] == ["failed", "ok"], recs
fake, good = recs
assert fake["qualify"]["claimed"] == 1 << 30 and fake["qualify"]["usable"] == 64 << 20, fake
assert "fake capacity" in fake["error"], fake
assert good["qualify"]["claimed"] == good["qualify"]["usable"] == 100 << 20, good
assert good["qualify"]["write_rate"] > 0, good
PYEOF
note "-qualify: a fake card FAILs as fake capacity, a good drive passes"
