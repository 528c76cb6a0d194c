#!/bin/bash
# site_cache.sh - the site cache of doc/site-cache.md, run as written: an
# origin nginx, the caching nginx (slice module, proxy_cache) in front of
# it, and qflash processes as the stations.  A first flash through the
# cache gives the image's bytes and comes from the origin; another
# station's comes from the cache (no body bytes at the origin); two
# stations starting together on a new image fetch each slice once, and a
# host's own copy (-cache) is filled from the site cache.  An
# image replaced at the origin while the cache holds slices of the old one
# is flashed whole in the new version or fails clearly, never mixed, and
# is flashed in the new version once the old slices are due.  A cache
# stopped mid-flash shows as retries, and the flash completes once it is
# back.  Presigned query strings and the Authorization header reach the
# origin unchanged and appear in no message, -json output or flash log.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/cli/streamlib.sh"
need_cmd qemu-img zstd curl cmp blkid sha256sum
find_nginx || skip "nginx is not installed"
"$NGINX" -V 2>&1 | grep -q -- --with-http_slice_module ||
	skip "nginx is built without the slice module"
VALID=10        # proxy_cache_valid in doc/site-cache.md, seconds

# ------------------------------------------------------ origin and cache
nginx_up origin "$top_srcdir/tests/http/site-origin.conf.in"
OPORT=$NPORT
OLOG=$T/origin/access.log
# The documented configuration, for this machine: the cache's directory,
# the origin and the port.
awk '/site_cache.sh runs the next block/ { f = 1; next }
     f && /^```nginx$/ { g = 1; next }
     g && /^```$/ { exit }
     g' "$top_srcdir/doc/site-cache.md" |
	sed -e "s|/var/cache/nginx/qflash|@DIR@/cache|" \
	    -e "s|images\.example\.com:80|127.0.0.1:$OPORT|" \
	    -e "s|images\.example\.com|127.0.0.1:$OPORT|" \
	    -e "s|listen 8080;|listen 127.0.0.1:@PORT@;|" >"$T/extra.conf.in"
grep -q 'slice 4m;' "$T/extra.conf.in" ||
	fail "no configuration block found in doc/site-cache.md"
grep -q "listen 127.0.0.1:@PORT@;" "$T/extra.conf.in" &&
	! grep -q 'example\.com\|/var/cache' "$T/extra.conf.in" ||
	fail "doc/site-cache.md's configuration changed: $(cat "$T/extra.conf.in")"
grep -q "proxy_cache_valid 200 206 ${VALID}s;" "$T/extra.conf.in" ||
	fail "the documented cache validity is not the ${VALID}s this test waits for"
PROXY_CONF=$top_srcdir/tests/http/site-proxy.conf.in
nginx_up proxy "$PROXY_CONF"
PPORT=$NPORT
CACHE=http://127.0.0.1:$PPORT
note "origin on 127.0.0.1:$OPORT, cache on $CACHE"

# -------------------------------------------------------------- images
S=$WWW/site
mkdir -p "$S" "$WWW/slow"
RAW=$T/disk.raw
stream_disk "$RAW"
# Six slices of qcow2 at least.
rand_file "$T/more.bin" $((14 << 20)) 30
dd if="$T/more.bin" of="$RAW" bs=1M seek=70 conv=notrunc status=none ||
	fail "dd"
qemu-img convert -q -f raw -O qcow2 "$RAW" "$S/disk.qcow2" || fail "qemu-img"
zstd -q -c "$RAW" >"$S/disk.img.zst" || fail "zstd"
(cd "$S" && sha256sum disk.qcow2 >disk.qcow2.sha256 &&
	sha256sum disk.img.zst >disk.img.zst.sha256) || fail "sha256sum"
ref_raw "$S/disk.qcow2" "$T/ref.raw" -q
cmp -s "$T/ref.raw" "$RAW" || fail "qemu-img's bytes are not the disk's"
# The next version: other bytes in the middle.
cp "$RAW" "$T/disk2.raw"
rand_file "$T/new.bin" $((8 << 20)) 31
dd if="$T/new.bin" of="$T/disk2.raw" bs=1M seek=40 conv=notrunc status=none ||
	fail "dd"
qemu-img convert -q -f raw -O qcow2 "$T/disk2.raw" "$T/disk2.qcow2" ||
	fail "qemu-img"
ref_raw "$T/disk2.qcow2" "$T/ref2.raw" -q

# Presigned URLs, each station its own signature, and a bearer token.
presign() {
	printf 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAQFLASH%s%%2F20261202%%2Feu-central-1%%2Fs3%%2Faws4_request&X-Amz-Date=20261202T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=%s' \
		"$1" "$(printf 'qflash-test-signature-%s' "$1" | sha256sum | cut -c1-64)"
}
Q1=$(presign ONE)
Q2=$(presign TWO)
Q3=$(presign THREE)
TOKEN=qflash-site-bearer-5ecret
SECRETS="AKIAQFLASHONE AKIAQFLASHTWO AKIAQFLASHTHREE $TOKEN"
for q in "$Q1" "$Q2" "$Q3"; do
	SECRETS="$SECRETS ${q##*X-Amz-Signature=}"
done

# station NAME URL [OPTIONS...]: the qflash of a bench: URL onto
# $T/NAME.raw with the token, -json on $T/NAME.json, stderr in
# $T/NAME.err, its flash log $T/NAME.flashlog; exits as qflash.
station() {
	local name=$1 src=$2
	shift 2
	rm -f "$T/$name.raw"
	"$QFLASH" -src "$src" -dst "$T/$name.raw" \
		-header "Authorization: Bearer $TOKEN" -json \
		-log "$T/$name.flashlog" "$@" >"$T/$name.json" 2>"$T/$name.err"
}

# station_ok NAME URL REF [OPTIONS...]: station NAME flashes URL exactly
# as REF.
station_ok() {
	local name=$1 src=$2 ref=$3 rc=0
	shift 3
	station "$name" "$src" "$@" || rc=$?
	[ "$rc" = 0 ] || fail "station $name: exit $rc: $(cat "$T/$name.err")"
	same "$ref" "$T/$name.raw"
}

# mark: where the origin's access log is now; body MARK PATH: the body
# bytes the origin sent for PATH since MARK; requests MARK PATH: how many
# requests for PATH it had.
mark() {
	wc -l <"$OLOG"
}
body() {
	tail -n +$(($1 + 1)) "$OLOG" |
		awk -F'\t' -v p="$2" '$3 == p { n += $2 } END { print n + 0 }'
}
requests() {
	tail -n +$(($1 + 1)) "$OLOG" | awk -F'\t' -v p="$2" '$3 == p' | wc -l
}
# last NAME FIELD: FIELD of station NAME's last progress event.
last() {
	grep '"event":"progress"' "$T/$1.json" 2>/dev/null | tail -n 1 |
		sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# ------------------------------------- one station, then another, cached
m=$(mark)
station_ok a "$CACHE/site/disk.qcow2?$Q1" "$T/ref.raw"
grep -q '"result":"ok"' "$T/a.json" ||
	fail "station a: the published checksum was not checked: $(grep checksum "$T/a.json")"
n=$(body "$m" /site/disk.qcow2)
size=$(file_size "$S/disk.qcow2")
[ "$n" = "$size" ] ||
	fail "the first station made the origin send $n bytes of the $size-byte image, want each slice once"
note "ok: first station: the image's bytes, the origin sent $n bytes in $(requests "$m" /site/disk.qcow2) slices"

m=$(mark)
station_ok b "$CACHE/site/disk.qcow2?$Q2" "$T/ref.raw"
n=$(body "$m" /site/disk.qcow2)
[ "$n" = 0 ] ||
	fail "the second station made the origin send $n bytes: $(tail -n +$((m + 1)) "$OLOG")"
note "ok: second station (another signature) from the cache: $(requests "$m" /site/disk.qcow2) revalidations, no body bytes at the origin"

# A host with a cache of its own downloads its copy from the site cache.
m=$(mark)
for run in downloaded reused; do
	station_ok h "$CACHE/site/disk.qcow2?$Q3" "$T/ref.raw" -cache "$T/host-cache"
	tail -n 1 "$T/h.flashlog" | grep -q "\"cache\":\"$run\"" ||
		fail "host cache: not $run: $(tail -n 1 "$T/h.flashlog")"
done
n=$(body "$m" /site/disk.qcow2)
[ "$n" = 0 ] || fail "a host's own cache made the origin send $n bytes"
note "ok: a host's own cache filled from the site cache, then reused: no body bytes at the origin"

# ------------------------------------- two stations at once, a new image
m=$(mark)
station c "$CACHE/site/disk.img.zst?$Q2" & PC=$!
station d "$CACHE/site/disk.img.zst?$Q3" -threads 1 & PD=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PC $PD"
rc=0; wait "$PC" || rc=$?
[ "$rc" = 0 ] || fail "station c: exit $rc: $(cat "$T/c.err")"
rc=0; wait "$PD" || rc=$?
[ "$rc" = 0 ] || fail "station d: exit $rc: $(cat "$T/d.err")"
same "$RAW" "$T/c.raw"
same "$RAW" "$T/d.raw"
n=$(body "$m" /site/disk.img.zst)
size=$(file_size "$S/disk.img.zst")
[ "$n" = "$size" ] ||
	fail "two stations made the origin send $n bytes of the $size-byte image, want each slice once"
note "ok: two stations at once on .img.zst: each slice fetched once ($n bytes)"

# ------------------------------------------ the image replaced at the origin
# latest.qcow2 (version 1, an old mtime) has one slice in the cache:
# version A its first, version B one in the middle.  Then version 2 takes
# its place; the next flash meets slices of both.
for v in A B; do
	cp "$S/disk.qcow2" "$S/latest$v.qcow2"
	touch -d '2001-02-03 04:05:06' "$S/latest$v.qcow2"
done
warm() {
	curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -r "$2" \
		"$CACHE/site/$1?$Q1" || fail "curl $1 $2"
}
warm latestA.qcow2 0-0
warm latestB.qcow2 $((2 << 22))-$((2 << 22))
warmed=$(date +%s)
for v in A B; do
	cp "$T/disk2.qcow2" "$S/.new.qcow2"
	mv "$S/.new.qcow2" "$S/latest$v.qcow2"
done
# changed_ok NAME: station NAME flashed version 2 exactly, or failed saying
# the image changed, leaving nothing that looks like a disk.
changed_ok() {
	local name=$1 rc=$2
	if [ "$rc" = 0 ]; then
		same "$T/ref2.raw" "$T/$name.raw"
		note "ok: $name: version 2 exactly"
		return 0
	fi
	[ "$rc" = 1 ] || fail "station $name: exit $rc: $(cat "$T/$name.err")"
	# -json puts the message in the result event.
	grep '"event":"result"' "$T/$name.json" >"$T/$name.result"
	grep -q '"state":"failed".*the image changed on the server while it was being read' \
		"$T/$name.result" ||
		fail "station $name: $(cat "$T/$name.result" "$T/$name.err")"
	[ -e "$T/$name.raw" ] && blkid -p "$T/$name.raw" 2>/dev/null |
		grep -q PTTYPE && fail "station $name: the target looks partitioned"
	note "ok: $name failed clearly: $(grep -o 'the image changed on the server[^"]*' "$T/$name.result")"
}
for v in A B; do
	rc=0
	station "e$v" "$CACHE/site/latest$v.qcow2?$Q1" || rc=$?
	changed_ok "e$v" "$rc"
done

# ------------------------------------------- the cache goes away mid-flash
# While the old slices age: the same image from a slow origin, and the
# cache stopped once data flows, started again once qflash retries.
cp "$S/disk.qcow2" "$WWW/slow/disk.qcow2"
station f "$CACHE/slow/disk.qcow2?$Q1" & PF=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PF"
for _ in $(seq 200); do
	[ "$(last f net_bytes)" -gt $((1 << 20)) ] 2>/dev/null && break
	kill -0 "$PF" 2>/dev/null || fail "station f ended early: $(cat "$T/f.err")"
	sleep 0.05
done
kill -0 "$PF" 2>/dev/null || fail "station f ended before the cache could go"
nginx_down proxy
t0=$(date +%s)
for _ in $(seq 100); do
	[ "$(last f net_retrying)" -gt 0 ] 2>/dev/null && break
	kill -0 "$PF" 2>/dev/null || break
	sleep 0.1
done
[ "$(last f net_retrying)" -gt 0 ] 2>/dev/null ||
	fail "no retry shown within 10 s of the cache going away: $(tail -n 2 "$T/f.json") $(cat "$T/f.err")"
note "ok: the cache gone: retry $(last f net_retrying) shown after $(($(date +%s) - t0)) s"
nginx_up proxy "$PROXY_CONF" "$PPORT"
for _ in $(seq 400); do
	kill -0 "$PF" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$PF" 2>/dev/null && fail "station f still runs 40 s after the cache came back"
rc=0; wait "$PF" || rc=$?
[ "$rc" = 0 ] || fail "station f: exit $rc: $(cat "$T/f.err")"
same "$T/ref.raw" "$T/f.raw"
note "ok: the cache back: the flash completed, $(last f net_retries) retries, $(($(date +%s) - t0)) s after the cache went"

# ------------------------------------ the replaced image, once slices are due
while [ $(($(date +%s) - warmed)) -le "$VALID" ]; do
	sleep 0.5
done
for v in A B; do
	station_ok "g$v" "$CACHE/site/latest$v.qcow2?$Q1" "$T/ref2.raw"
done
note "ok: after ${VALID}s the cache gives version 2 whole"

# ---------------------------------------------------------- credentials
# Every request the origin had carried one station's query string and the
# token, as the stations sent them.
awk -F'\t' -v q1="$Q1" -v q2="$Q2" -v q3="$Q3" -v a="Bearer $TOKEN" '
	{ i = index($4, "?"); q = i ? substr($4, i + 1) : "" }
	(q != q1 && q != q2 && q != q3) || $6 != a { print; bad++ }
	END { exit bad > 0 }' "$OLOG" >"$T/bad.txt" ||
	fail "requests reached the origin without the stations' credentials: $(head -n 3 "$T/bad.txt")"
grep -qF "/site/disk.qcow2?$Q1" "$OLOG" || fail "no presigned request at the origin"
note "ok: $(wc -l <"$OLOG") requests at the origin, each with a station's signature and token"
# What qflash printed, logged and keyed its own cache by: every place a
# credential shows, listed.
python3 - "$T" $SECRETS >"$T/leaks.txt" <<'PY'
import glob, json, os, sys
d, secrets = sys.argv[1], sys.argv[2:]
def where(v, path):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from where(x, path + [k])
    elif isinstance(v, list):
        for x in v:
            yield from where(x, path)
    elif isinstance(v, str) and any(s in v for s in secrets):
        yield ".".join(path)
for f in sorted(glob.glob(d + "/*.json") + glob.glob(d + "/*.err") +
                glob.glob(d + "/*.flashlog") + glob.glob(d + "/host-cache/index")):
    found = []
    for line in open(f, errors="replace"):
        if not any(s in line for s in secrets):
            continue
        try:
            ev = json.loads(line)
            found += ["%s %s" % (ev.get("event", "record"), k)
                      for k in where(ev, [])]
        except ValueError:
            found.append("text: " + line.strip()[:120])
    if found:
        print("#   %s: %s" % (os.path.basename(f),
                             ", ".join(sorted(set(found)))))
PY
if [ -s "$T/leaks.txt" ]; then
	cat "$T/leaks.txt" >&2
	fail "signed query strings or tokens appear in what qflash printed or logged (above)"
fi
note "ok: no signature, key id or token in messages, -json output, flash logs or the host's cache index"
exit 0
