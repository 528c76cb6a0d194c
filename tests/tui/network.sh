#!/bin/bash
# network.sh - flashing from a URL through a proxy that goes away and
# comes back: the progress screen says "reconnecting (retry N)" instead
# of writing at 0.0 MB/s, the flash completes with the image's bytes, the
# retries are counted; "Flash again" then reports that job's network
# figures alone (the image stays open, its counters do not start over).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img python3

# 80 MiB of data, more than the http source caches (64 MiB): a second
# flash has to fetch part of it again.
truncate -s 96M "$T/big.raw"
rand_file "$T/data" $((80 * 1024 * 1024)) 7
dd if="$T/data" of="$T/big.raw" bs=1M seek=8 conv=notrunc status=none ||
	fail "dd into $T/big.raw failed"
rm -f "$T/data"
qemu-img convert -O qcow2 "$T/big.raw" "$T/big.qcow2" || fail "qemu-img convert"
slow_http "$T/big.qcow2" 200000000

# proxy [ARGS...]: a faultproxy in front of the server, on $PROXY_PORT
# once it has one; its pid in $PROXY_PID.
PROXY_PORT=0
proxy() {
	rm -f "$T/proxy.port"
	python3 "$top_srcdir/tests/http/faultproxy.py" --target "$(cat "$T/http.port")" \
		--port-file "$T/proxy.port" --port "$PROXY_PORT" --lifetime 120 "$@" \
		</dev/null >/dev/null 2>&1 &
	PROXY_PID=$!
	on_exit "kill $PROXY_PID"
	for _ in $(seq 50); do
		[ -s "$T/proxy.port" ] && break
		sleep 0.1
	done
	[ -s "$T/proxy.port" ] || fail "faultproxy did not start"
	PROXY_PORT=$(cat "$T/proxy.port")
}

# received: the "Network: X received, R, N retries" line's X in MiB, N.
received() {
	tui_screen | python3 -c '
import re, sys
m = re.search(r"Network: ([0-9.]+) (B|KiB|MiB) received, .*, ([0-9]+) retries", sys.stdin.read())
if not m:
    sys.exit("no Network line")
v = float(m.group(1)) / {"B": 1 << 20, "KiB": 1024, "MiB": 1}[m.group(2)]
print("%.1f %s" % (v, m.group(3)))' || fail "no network figures on the screen"
}

proxy --rate 6000000
url=http://127.0.0.1:$PROXY_PORT/big.qcow2
tui_start -- --target "$T/out.img" --log "$T/flash.log" "$url"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Phase: writing" 20
tui_wait "Network:"
sleep 1
kill "$PROXY_PID"
tui_wait "Phase: reconnecting (retry " 20
proxy
tui_wait_gone "reconnecting (retry" 30
tui_wait "Flash complete: 1 of 1 targets OK." 90
read -r first retries1 <<<"$(received)"
[ "$retries1" -gt 0 ] || fail "the first flash counted no retries"
same "$T/out.img" "$T/big.raw"
note "first flash: $first MiB received, $retries1 retries"

tui_keys a
tui_wait "Selected: 0"
tui_wait_gone "Looking for devices"
tui_keys Space
tui_wait "Selected: 1"
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 90
read -r second retries2 <<<"$(received)"
note "second flash: $second MiB received, $retries2 retries"
[ "$retries2" = 0 ] || fail "the second flash shows $retries2 retries (the first had $retries1)"
# Its own figures, not the image's since it was opened (which would be
# about twice the first's).
python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(not 0 < b < 1.5 * a)' \
	"$first" "$second" ||
	fail "the second flash shows $second MiB received, the first $first MiB"
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/big.raw"
note "reconnecting is shown, and each flash reports its own network figures"
