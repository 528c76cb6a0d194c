#!/bin/bash
# station_http.sh - a station reads a remote image once: the first drive
# is flashed while the image goes into the station's cache (by default
# under $XDG_CACHE_HOME/qflash), every later drive from the local copy
# (the server sends no body bytes for it), all byte-identical; with the
# server gone, drives are still flashed from the copy.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img python3 sfdisk blkid cmp
. "$top_srcdir/tests/station/stationlib.sh"

station_image
start_nginx
mkdir -p "$WWW/img"
cp "$T/disk.qcow2" "$WWW/img/disk.qcow2"
URL=$BASE/img/disk.qcow2
SIZE=$(file_size "$T/disk.qcow2")

# sent: body bytes the server sent for the image since the last clear.
sent() {
	awk '{ p = $7; sub(/\?.*/, "", p) } p == "/img/disk.qcow2" { n += $10 }
	     END { print n + 0 }' "$T/nginx/access.log"
}

slot_new; A=$SLOT
export XDG_CACHE_HOME=$T/xdg-cache
station_start -slot "$A" -src "$URL" -verify -log "$T/flash.log"
wait_event "$A" empty 1 120 >/dev/null
n=$(sent)
[ "$n" -ge "$SIZE" ] || fail "arming sent $n bytes of $SIZE"
ls "$XDG_CACHE_HOME/qflash" >/dev/null 2>&1 || fail "no cache under $XDG_CACHE_HOME/qflash"
: >"$T/nginx/access.log"

for i in 1 2 3; do
	truncate -s 100M "$T/d$i.img"
	slot_insert "$A" "$T/d$i.img"
	wait_event "$A" pass "$i" >/dev/null
	slot_eject "$A"
	same "$T/ref.raw" "$T/d$i.img"
	wait_event "$A" empty $((i + 1)) >/dev/null
done
n=$(sent)
[ "$n" -le 16 ] || fail "the drives after arming read $n body bytes from the server"
note "three drives flashed from the station's copy ($n body bytes from the server)"

# The server goes away: the copy still serves, with a warning.
nginx_down nginx
truncate -s 100M "$T/d4.img"
slot_insert "$A" "$T/d4.img"
wait_event "$A" pass 4 >/dev/null
slot_eject "$A"
same "$T/ref.raw" "$T/d4.img"
grep -qi "copy in the cache.*could not be checked against the server" "$T/station.err" ||
	fail "no word that the copy was used offline: $(cat "$T/station.err")"
python3 - "$T/flash.log" <<'PYEOF' || fail "flash log"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"started"' not in l]
assert [r["result"] for r in recs] == ["ok"] * 4, recs
assert all(r["image"].endswith("/img/disk.qcow2") and r["image"].startswith("http") for r in recs), recs
assert [r.get("cache") for r in recs][-1] == "offline", [r.get("cache") for r in recs]
PYEOF
note "without the server, a drive is flashed from the copy"
