#!/bin/bash
# http_cache.sh - -cache DIR keeps local copies of remote images: the first
# flash downloads the file once, later ones only ask the server whether it
# changed (no body bytes) and give the same bytes; a changed file is
# downloaded again; without the server the copy is used with a warning; a
# damaged copy is found and fetched again (refused offline); -cache-max
# evicts the least recently used copy, never one being read; two flashes
# sharing the cache download once; the published checksum and the bmap
# beside the URL are still enforced; a presigned query string and header
# credentials appear nowhere.  For a qcow2 (with a backing file), a
# .img.zst and a raw image.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img qemu-io cmp sha256sum zstd flock
# A second server on @TLSPORT@, slow, so that a download takes a while.
cat >"$T/extra.conf.in" <<'EOF'
server {
	listen 127.0.0.1:@TLSPORT@;
	root @WWW@;
	limit_rate 8m;
}
EOF
start_nginx
SLOW=http://127.0.0.1:$TLSPORT
note "nginx on $BASE, slow on $SLOW"
C=$T/cache
LOG=$T/flash.log

mkdir -p "$WWW/c"
mkraw "$T/disk.raw" 40
qemu-img convert -q -c -f raw -O qcow2 "$T/disk.raw" "$WWW/c/disk.qcow2" ||
	fail "qemu-img convert"
ref_raw "$WWW/c/disk.qcow2" "$T/ref.raw" -q

# sent PATH: body bytes the server sent for PATH (any query) since the
# access log was last cleared (clear_log).
sent() {
	awk -v f="$1" '{ p = $7; sub(/\?.*/, "", p) } p == f { n += $10 }
		       END { print n + 0 }' "$T/nginx/access.log"
}
clear_log() {
	: >"$T/nginx/access.log"
}
# last_log FIELD: the value of a string FIELD in the flash log's last line.
last_log() {
	tail -n 1 "$LOG" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"
}
# invert FILE: the byte at 1 MiB inverted.
invert() {
	hexpatch "$1" $((1 << 20)) "$(printf '%02x' $((0x$(readhex "$1" $((1 << 20)) 1) ^ 0xff)))"
}
objects() {
	ls "$C/objects" | wc -l
}
stop_nginx() {
	nginx_down nginx
}
# The same server again, on the same port, so that the URLs stay the same.
restart_nginx() {
	nginx_up nginx "$top_srcdir/tests/http/nginx.conf.in" "$PORT"
}

# ----------------------------------------------------- download, reuse
URL=$BASE/c/disk.qcow2
size=$(file_size "$WWW/c/disk.qcow2")
clear_log
flash_same "$T/ref.raw" "$URL" -cache "$C" -log "$LOG"
n=$(sent /c/disk.qcow2)
[ "$n" -ge "$size" ] && [ "$n" -le $((size + 1)) ] ||
	fail "first flash: $n bytes from the server for a file of $size"
[ "$(last_log cache)" = downloaded ] || fail "log: $(tail -n 1 "$LOG")"
[ "$(last_log image)" = "$URL" ] || fail "log names $(last_log image), not $URL"
sha=$(sha256sum "$WWW/c/disk.qcow2" | cut -c1-64)
[ -f "$C/objects/$sha" ] || fail "no object named by the file's SHA-256: $(ls "$C/objects")"
grep -qF "$URL" "$C/index" || fail "the index does not name $URL"
note "ok: first flash downloads $n bytes"

clear_log
flash_same "$T/ref.raw" "$URL" -cache "$C" -log "$LOG"
n=$(sent /c/disk.qcow2)
[ "$n" -le 1 ] || fail "second flash: $n body bytes from the server"
grep -q '"bytes=0-0"' "$T/nginx/access.log" || fail "no revalidation request"
[ "$(last_log cache)" = reused ] || fail "log: $(tail -n 1 "$LOG")"
note "ok: second flash: $n body bytes (the revalidation)"

# ------------------------------------------------------- a changed file
invert "$T/disk.raw"
qemu-img convert -q -c -f raw -O qcow2 "$T/disk.raw" "$WWW/c/disk.qcow2" ||
	fail "qemu-img convert"
touch -d '+1 min' "$WWW/c/disk.qcow2"
ref_raw "$WWW/c/disk.qcow2" "$T/ref2.raw" -q
cmp -s "$T/ref.raw" "$T/ref2.raw" && fail "the new image is the old one"
size=$(file_size "$WWW/c/disk.qcow2")
clear_log
flash_same "$T/ref2.raw" "$URL" -cache "$C" -log "$LOG"
n=$(sent /c/disk.qcow2)
[ "$n" -ge "$size" ] || fail "changed file: only $n of $size bytes downloaded"
[ "$(last_log cache)" = downloaded ] || fail "log: $(tail -n 1 "$LOG")"
[ ! -e "$C/objects/$sha" ] || fail "the old copy is still there"
[ "$(objects)" = 1 ] || fail "objects: $(ls "$C/objects")"
sha=$(sha256sum "$WWW/c/disk.qcow2" | cut -c1-64)
note "ok: a changed file is downloaded again"

# -------------------------------------------- offline, a damaged copy
stop_nginx
flash_same "$T/ref2.raw" "$URL" -cache "$C" -log "$LOG"
grep -q "could not be checked against the server" "$T/err.txt" ||
	fail "offline use without a warning: $(cat "$T/err.txt")"
[ "$(last_log cache)" = offline ] || fail "log: $(tail -n 1 "$LOG")"
note "ok: offline: $(cat "$T/err.txt")"

restart_nginx
# flip FILE: a byte of FILE changed, as a disk or a person might.
flip() {
	chmod u+w "$1"
	invert "$1"
}
flip "$C/objects/$sha"
clear_log
flash_same "$T/ref2.raw" "$URL" -cache "$C" -log "$LOG"
grep -q "is damaged" "$T/err.txt" || fail "no word of the damage: $(cat "$T/err.txt")"
[ "$(sent /c/disk.qcow2)" -ge "$size" ] || fail "the damaged copy was not fetched again"
[ "$(sha256sum <"$C/objects/$sha" | cut -c1-64)" = "$sha" ] ||
	fail "the copy is still damaged"
clear_log
flash_same "$T/ref2.raw" "$URL" -cache "$C"
[ "$(sent /c/disk.qcow2)" -le 1 ] || fail "the fetched-again copy is not reused"
note "ok: a damaged copy is found and fetched again"

stop_nginx
flip "$C/objects/$sha"
rm -f "$T/out.raw"
run_q -src "$URL" -dst "$T/out.raw" -cache "$C"
[ "$RC" = 1 ] || fail "a damaged copy offline: exit $RC"
grep -q "is damaged" "$T/err.txt" || fail "damaged offline: $(cat "$T/err.txt")"
[ -e "$T/out.raw" ] && fail "a damaged copy was flashed"
restart_nginx
note "ok: a damaged copy offline is refused: $(cat "$T/err.txt")"

# --------------------------------------- the published checksum, a bmap
sha256sum "$WWW/c/disk.qcow2" | sed 's| .*|  disk.qcow2|' >"$WWW/c/SHA256SUMS"
flash_same "$T/ref2.raw" "$URL" -cache "$C" -log "$LOG"
grep -q 'matches its published SHA-256' "$T/err.txt" ||
	fail "the published checksum is not checked: $(cat "$T/err.txt")"
[ "$(last_log checksum_result)" = ok ] || fail "log: $(tail -n 1 "$LOG")"
printf '%064d  disk.qcow2\n' 0 >"$WWW/c/SHA256SUMS"
rm -f "$T/out.raw"
run_q -src "$URL" -dst "$T/out.raw" -cache "$C"
[ "$RC" = 1 ] || fail "a wrong SHA256SUMS with a cached copy: exit $RC"
grep -q "not the image that was published" "$T/err.txt" ||
	fail "wrong checksum: $(cat "$T/err.txt")"
[ -e "$T/out.raw" ] && fail "a wrong image was written"
rm -f "$T/out.raw"
run_q -src "$URL" -dst "$T/out.raw" -cache "$T/cache2"
[ "$RC" = 1 ] || fail "a wrong SHA256SUMS, downloading: exit $RC"
grep -q "not the image that was published" "$T/err.txt" ||
	fail "wrong checksum: $(cat "$T/err.txt")"
[ -z "$(ls "$T/cache2/objects")" ] || fail "a wrong download was kept"
rm -f "$WWW/c/SHA256SUMS"
note "ok: the published checksum is enforced"

mkraw "$T/z.raw" 24
zstd -q -c "$T/z.raw" >"$WWW/c/z.img.zst"
if command -v bmaptool >/dev/null 2>&1; then
	bmaptool create "$T/z.raw" -o "$WWW/c/z.img.bmap" 2>/dev/null ||
		fail "bmaptool create"
fi
clear_log
flash_same "$T/z.raw" "$BASE/c/z.img.zst" -cache "$C"
flash_same "$T/z.raw" "$BASE/c/z.img.zst" -cache "$C" -log "$LOG"
[ "$(last_log cache)" = reused ] || fail "zst: $(tail -n 1 "$LOG")"
[ "$(sent /c/z.img.zst)" -le $(($(file_size "$WWW/c/z.img.zst") + 2)) ] ||
	fail "zst: downloaded twice: $(cat "$T/nginx/access.log")"
if [ -e "$WWW/c/z.img.bmap" ]; then
	run_ok -src "$BASE/c/z.img.zst" -info -cache "$C"
	grep -q "bmap: *$BASE/c/z.img.bmap" "$T/out.txt" ||
		fail "the bmap beside the URL is not found: $(cat "$T/out.txt")"
	# A bmap of other bytes: the copy does not match it.
	cp "$T/z.raw" "$T/z2.raw"
	invert "$T/z2.raw"
	bmaptool create "$T/z2.raw" -o "$WWW/c/z.img.bmap" 2>/dev/null
	run_q -src "$BASE/c/z.img.zst" -dst "$T/out.raw" -cache "$C"
	[ "$RC" = 1 ] || fail "a bmap that does not match: exit $RC"
	grep -q "do not match their sha256 in $BASE/c/z.img.bmap" "$T/err.txt" ||
		fail "bmap mismatch: $(cat "$T/err.txt")"
	rm -f "$WWW/c/z.img.bmap"
	note "ok: the bmap beside the URL is enforced"
fi
note "ok: .img.zst"

# ------------------------------------------------------ a backing chain
mkdir -p "$WWW/chain"
cp "$WWW/c/disk.qcow2" "$WWW/chain/base.qcow2"
(cd "$WWW/chain" && mkq top.qcow2 "" -b base.qcow2 -F qcow2) || fail "mkq top"
qio "$WWW/chain/top.qcow2" "write -P 0x5a 0 65536" "write -P 0xa5 5M 3M"
ref_raw "$WWW/chain/top.qcow2" "$T/ref-chain.raw"
flash_same "$T/ref-chain.raw" "$BASE/chain/top.qcow2" -cache "$C"
grep -qF "$BASE/chain/base.qcow2" "$C/index" || fail "the backing file is not cached"
clear_log
flash_same "$T/ref-chain.raw" "$BASE/chain/top.qcow2" -cache "$C"
[ "$(sent /chain/top.qcow2)" -le 1 ] && [ "$(sent /chain/base.qcow2)" -le 1 ] ||
	fail "the chain was read from the server again: $(cat "$T/nginx/access.log")"
# A local image's remote backing file is cached too.
mkq "$T/local.qcow2" 40M -b "$BASE/chain/base.qcow2" -F qcow2 -u
qio "$T/local.qcow2" "write -P 0x33 2M 64k"
mkq "$T/ref-local.qcow2" "" -b "$WWW/chain/base.qcow2" -F qcow2
qio "$T/ref-local.qcow2" "write -P 0x33 2M 64k"
ref_raw "$T/ref-local.qcow2" "$T/ref-local.raw"
clear_log
flash_same "$T/ref-local.raw" "$T/local.qcow2" -allow-remote-backing -cache "$C"
[ "$(sent /chain/base.qcow2)" -le 1 ] ||
	fail "a local image's cached backing file was downloaded again"
note "ok: a qcow2 and its backing file are both cached"

# --------------------------------------------- presigned URLs, headers
Q='X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDSECRETKEY%2F20260101&X-Amz-Signature=feedfaceSECRETSIG&X-Amz-Expires=3600'
clear_log
flash_same "$T/z.raw" "$BASE/c/z.img.zst?$Q" -cache "$C" -log "$LOG" \
	-header 'Authorization: Bearer HEADERSECRET' -json
[ "$(sent /c/z.img.zst)" -le 1 ] || fail "a signed URL is not the same file"
[ "$(last_log image)" = "$BASE/c/z.img.zst" ] ||
	fail "log names $(last_log image)"
grep -l SECRET "$T/out.txt" "$T/err.txt" && fail "a credential was printed"
flash_same "$T/z.raw" "http://qf:PASSSECRET@127.0.0.1:$PORT/c/z.img.zst?v=2&sig=AZURESECRET&se=2030&sp=r" \
	-cache "$C" -log "$LOG"
grep -qF "$BASE/c/z.img.zst?v=2" "$C/index" ||
	fail "a parameter that is no credential was lost: $(cat "$C/index")"
grep -rl SECRET "$C" "$LOG" "$T/out.txt" "$T/err.txt" &&
	fail "a credential was written"
ls -R "$C" | grep -q SECRET && fail "a credential names a file"
note "ok: no signature, token or password in the index, the log or the output"

# ---------------------------------------------------------- concurrency
mkdir -p "$WWW/r"
rand_file "$WWW/r/big.img" $((24 << 20)) 7
clear_log
rm -f "$T/o1.raw" "$T/o2.raw"
"$QFLASH" -src "$SLOW/r/big.img" -format raw -dst "$T/o1.raw" -cache "$C" \
	>"$T/out1.txt" 2>"$T/err1.txt" &
p1=$!
sleep 0.5
"$QFLASH" -src "$SLOW/r/big.img" -format raw -dst "$T/o2.raw" -cache "$C" \
	>"$T/out2.txt" 2>"$T/err2.txt" &
p2=$!
wait $p1 || fail "first concurrent flash: $(cat "$T/err1.txt")"
wait $p2 || fail "second concurrent flash: $(cat "$T/err2.txt")"
same "$WWW/r/big.img" "$T/o1.raw"
same "$WWW/r/big.img" "$T/o2.raw"
n=$(sent /r/big.img)
[ "$n" -le $(((24 << 20) + 2)) ] || fail "two flashes downloaded $n bytes"
grep -q "waiting for another download" "$T/err2.txt" ||
	fail "the second flash did not wait: $(cat "$T/err2.txt")"
note "ok: two flashes sharing the cache download once ($n bytes)"

# A download stopped by a signal leaves nothing behind.
rand_file "$WWW/r/stopped.img" $((24 << 20)) 9
"$QFLASH" -src "$SLOW/r/stopped.img" -format raw -dst "$T/o3.raw" -cache "$C" \
	>"$T/out3.txt" 2>"$T/err3.txt" &
p3=$!
for _ in $(seq 100); do
	ls "$C/tmp/"*.part >/dev/null 2>&1 && break
	sleep 0.05
done
kill -INT $p3
rc=0
wait $p3 || rc=$?
[ "$rc" = 130 ] || fail "a download stopped by SIGINT: exit $rc: $(cat "$T/err3.txt")"
grep -q "cancelled" "$T/err3.txt" || fail "stopped: $(cat "$T/err3.txt")"
[ -z "$(ls "$C/tmp")" ] || fail "a stopped download left $(ls "$C/tmp")"
grep -qF "$SLOW/r/stopped.img" "$C/index" && fail "a stopped download is in the index"
[ -e "$T/o3.raw" ] && fail "a stopped download created the target"
note "ok: a download stopped by SIGINT leaves nothing behind"

# ----------------------------------------------------------- eviction
E=$T/small
for f in a b c d; do
	rand_file "$WWW/r/$f.img" $((4 << 20)) "$(printf '%d' "'$f")"
done
for f in a b a c; do      # a is used again after b: b is the oldest
	flash_same "$WWW/r/$f.img" "$BASE/r/$f.img" -format raw -cache "$E" \
		-cache-max 10M
done
grep -qF "$BASE/r/a.img" "$E/index" || fail "the recently used copy went"
grep -qF "$BASE/r/b.img" "$E/index" && fail "the least recently used copy stayed"
grep -qF "$BASE/r/c.img" "$E/index" || fail "the new copy is not there"
[ "$(ls "$E/objects" | wc -l)" = 2 ] || fail "objects: $(ls "$E/objects")"
note "ok: -cache-max evicts the least recently used copy"

# A copy being read (a shared lock on it) is never evicted: with both
# held, d does not fit and is read from the server.
ha=$(sha256sum "$WWW/r/a.img" | cut -c1-64)
hc=$(sha256sum "$WWW/r/c.img" | cut -c1-64)
(exec 8<"$E/objects/$ha" 9<"$E/objects/$hc" && flock -s 8 && flock -s 9 &&
	exec sleep 30) &
holder=$!
CLEANUP_PIDS="$CLEANUP_PIDS $holder"
while flock -n -x "$E/objects/$hc" true; do
	sleep 0.05
done
flash_same "$WWW/r/d.img" "$BASE/r/d.img" -format raw -cache "$E" -cache-max 10M
grep -q "reading it from the server instead" "$T/err.txt" ||
	fail "no word of the copy that did not fit: $(cat "$T/err.txt")"
[ -e "$E/objects/$ha" ] && [ -e "$E/objects/$hc" ] || fail "a copy in use was evicted"
kill $holder
wait $holder 2>/dev/null
flash_same "$WWW/r/d.img" "$BASE/r/d.img" -format raw -cache "$E" -cache-max 10M
grep -qF "$BASE/r/d.img" "$E/index" || fail "d is not cached once room was made"
run_q -src "$BASE/r/a.img" -format raw -dst "$T/out.raw" -cache "$E" -cache-max 3M
[ "$RC" = 0 ] && grep -q "larger than the cache may hold" "$T/err.txt" ||
	fail "a file larger than the cache: $RC $(cat "$T/err.txt")"
note "ok: a copy being read is never evicted"
exit 0
