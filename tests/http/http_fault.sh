#!/bin/bash
# http_fault.sh - flashing through tests/http/faultproxy.py, which resets
# connections every few MB and answers some requests with 503, still gives
# the exact bytes; an image replaced on the server mid-flash aborts the job
# instead of mixing two versions; a server that goes away makes requests
# retry (shown in the progress) until they give up, the message and the
# counter counting the same thing, retries; SIGINT while they wait ends
# the flash at once.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img python3 cmp zstd bc blkid
start_nginx

mkraw "$T/disk.raw" 40
qemu-img convert -q -f raw -O qcow2 "$T/disk.raw" "$WWW/plain.qcow2" ||
	fail "qemu-img convert plain"
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd \
	"$T/disk.raw" "$WWW/zstd.qcow2" || fail "qemu-img convert zstd"

# ------------------------------------------------ resets and 503s: same bytes
start_proxy cut --cut-every 3000000 --fail-every 9
for img in plain.qcow2 zstd.qcow2; do
	ref_raw "$WWW/$img" "$T/ref.raw" -q
	flash_same "$T/ref.raw" "$PROXY/$img"
	note "ok: $img through the proxy"
done
read -r conns cuts fails <"$T/cut.stats"
note "proxy: $conns connections, $cuts resets, $fails 503s"
[ "$cuts" -gt 0 ] || fail "the proxy never reset a connection"

# ------------------------------------- the image is replaced during the flash
# Same size, other bytes, other mtime: only the ETag tells them apart.
# More data than the prefetch window holds, so that requests are still to
# be made when it changes (what was asked for before came whole from the
# old file, which is a correct flash of it).
truncate -s 128M "$T/big.raw"
dd if=/dev/urandom of="$T/big.raw" bs=1M count=96 conv=notrunc status=none
qemu-img convert -q -f raw -O qcow2 "$T/big.raw" "$WWW/moving.qcow2" ||
	fail "qemu-img convert big"
rm -f "$T/big.raw"
cp "$WWW/moving.qcow2" "$T/new.qcow2"
printf 'changed' | dd of="$T/new.qcow2" bs=1 seek=$((1 << 20)) conv=notrunc \
	status=none
touch -d '2001-02-03 04:05:06' "$T/new.qcow2"
start_proxy slow --rate 3000000
"$QFLASH" -src "$PROXY/moving.qcow2" -dst "$T/moving.out" \
	>"$T/out.txt" 2>"$T/err.txt" &
QPID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $QPID"
# Replace it once qflash has opened it and is reading data.
for _ in $(seq 100); do
	read -r conns _ _ <"$T/slow.stats"
	[ "$conns" -ge 2 ] && break
	sleep 0.1
done
sleep 0.5
kill -0 "$QPID" 2>/dev/null || fail "qflash finished before the image could be replaced"
mv "$T/new.qcow2" "$WWW/moving.qcow2"
rc=0
wait "$QPID" || rc=$?
[ "$rc" = 1 ] || fail "replaced image: exit $rc, expected 1: $(cat "$T/err.txt")"
grep -qF "$PROXY/moving.qcow2: the image changed on the server while it was being read" \
	"$T/err.txt" || fail "replaced image: unexpected message: $(cat "$T/err.txt")"
note "ok: replaced image aborts: $(head -1 "$T/err.txt")"

# ------------------------------------------------ the server goes away
start_proxy gone --rate 3000000
GONE=$!
"$QFLASH" -src "$PROXY/plain.qcow2" -dst "$T/gone.out" -json \
	>"$T/out.txt" 2>"$T/err.txt" &
QPID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $QPID"
for _ in $(seq 100); do
	read -r conns _ _ <"$T/gone.stats"
	[ "$conns" -ge 2 ] && break
	sleep 0.1
done
sleep 0.5
kill -0 "$QPID" 2>/dev/null || fail "qflash finished before the server went away"
kill "$GONE"         # its port now refuses connections
rc=0
wait "$QPID" || rc=$?
[ "$rc" = 1 ] || fail "server gone: exit $rc, want 1: $(cat "$T/out.txt")"
python3 - "$T/out.txt" "$T/gone.out" <<'PY' || fail "server gone (above): $(cat "$T/out.txt")"
import json, re, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
prog = [e for e in evs if e.get("event") == "progress"]
res = [e for e in evs if e.get("event") == "result" and e["target"] == sys.argv[2]]
m = re.search(r"gave up after (\d+) retries", res[0]["error"]) if res else None
if not m:
    sys.exit("no 'gave up after N retries' in the result")
if not any(e["net_retrying"] > 0 for e in prog):
    sys.exit("no progress event while reconnecting")
# The requests waiting for the same server retry as one: the count is
# what the message says.
last = prog[-1]
if last["net_retries"] != int(m.group(1)) or last["net_retrying"] != 0:
    sys.exit("last progress event %r, but the result says %s retries"
             % (last, m.group(1)))
print("# ok: server gone: %s, net_retries %d" % (m.group(0), last["net_retries"]))
PY

# ------------------------------------------------ cancelled while retrying
# SIGINT while the requests wait to retry a server that went away ends
# the flash at once (their retries would take up to a minute), for a
# qcow2 image and for a stream whose decoder waits behind a read.
# Random bytes: the compressed file takes seconds through the proxy.
rand_file "$T/rnd.raw" $((24 << 20)) 3
zstd -q -c "$T/rnd.raw" >"$WWW/disk.img.zst" || fail "zstd"
for img in plain.qcow2 disk.img.zst; do
	start_proxy int$img --rate 3000000
	GONE=$!
	rm -f "$T/int.out"
	"$QFLASH" -src "$PROXY/$img" -dst "$T/int.out" -json \
		>"$T/out.txt" 2>"$T/err.txt" &
	QPID=$!
	CLEANUP_PIDS="$CLEANUP_PIDS $QPID"
	for _ in $(seq 100); do
		grep -q '"net_bytes":[1-9]' "$T/out.txt" && break
		sleep 0.1
	done
	kill "$GONE"
	for _ in $(seq 100); do
		grep -q '"net_retrying":[1-9]' "$T/out.txt" && break
		sleep 0.1
	done
	grep -q '"net_retrying":[1-9]' "$T/out.txt" ||
		fail "$img: no retry shown after the server went away"
	kill -0 "$QPID" 2>/dev/null || fail "$img: qflash ended before SIGINT"
	t0=$(date +%s.%N)
	kill -INT "$QPID"
	rc=0
	wait "$QPID" || rc=$?
	took=$(echo "$(date +%s.%N) - $t0" | bc)
	[ "$rc" = 130 ] || fail "$img: SIGINT while retrying: exit $rc: $(cat "$T/err.txt")"
	[ "$(echo "$took < 10" | bc)" = 1 ] ||
		fail "$img: SIGINT while retrying took $took s to end"
	! blkid -p "$T/int.out" 2>/dev/null | grep -q PTTYPE ||
		fail "$img: a cancelled flash left a partition table"
	note "ok: $img: SIGINT while retrying ends the flash in $took s"
done
exit 0
