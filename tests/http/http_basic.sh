#!/bin/bash
# http_basic.sh - flashing qcow2 images from a local nginx gives the bytes
# of `qemu-img convert -O raw` (plain, deflate, zstd, a backing chain on the
# same server), and 404 / 403 / a server without ranges fail cleanly
# without creating the target.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img qemu-io cmp
start_nginx
note "nginx on $BASE"

mkraw "$T/disk.raw" 40
qemu-img convert -q -f raw -O qcow2 "$T/disk.raw" "$WWW/plain.qcow2" ||
	fail "qemu-img convert plain"
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zlib \
	"$T/disk.raw" "$WWW/deflate.qcow2" || fail "qemu-img convert deflate"
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd \
	"$T/disk.raw" "$WWW/zstd.qcow2" || fail "qemu-img convert zstd"

# A chain whose top names its backing file relative to its own URL.
mkdir -p "$WWW/chain"
cp "$WWW/deflate.qcow2" "$WWW/chain/base.qcow2"
(cd "$WWW/chain" && mkq top.qcow2 "" -b base.qcow2 -F qcow2) ||
	fail "qemu-img create top"
qio "$WWW/chain/top.qcow2" "write -P 0x5a 0 65536" "write -P 0xa5 5M 3M" \
	"write -z 20M 1M" "write -P 0x11 $(((40 << 20) - 512)) 512"

for img in plain.qcow2 deflate.qcow2 zstd.qcow2 chain/top.qcow2; do
	ref_raw "$WWW/$img" "$T/ref.raw" -q
	flash_same "$T/ref.raw" "$BASE/$img"
	note "ok: $img"
done

# -json reports what came over the network: bytes, a rate, retries.
flash_same "$T/ref.raw" "$BASE/chain/top.qcow2" -json
tail -n 3 "$T/out.txt" | grep '"event":"progress"' |
	grep -Eq '"net_bytes":[1-9][0-9]*,"net_rate":[0-9]+,"net_retries":0' ||
	fail "no network figures in the final progress event: $(cat "$T/out.txt")"

# expect_fail URL MESSAGE: exit 1, MESSAGE on stderr, no target created.
expect_fail() {
	local url=$1 msg=$2
	rm -f "$T/bad.out"
	run_q -src "$url" -dst "$T/bad.out"
	[ "$RC" = 1 ] || fail "$url: exit $RC, expected 1: $(cat "$T/err.txt")"
	grep -qF -- "$msg" "$T/err.txt" ||
		fail "$url: expected \"$msg\", got: $(cat "$T/err.txt")"
	[ ! -e "$T/bad.out" ] || fail "$url: the target was created"
	note "ok: $url -> $msg"
}

expect_fail "$BASE/missing.qcow2" "not found (HTTP 404)"
mkdir -p "$WWW/denied"
cp "$WWW/plain.qcow2" "$WWW/denied/img.qcow2"
expect_fail "$BASE/denied/img.qcow2" "access denied (HTTP 403)"

mkdir -p "$WWW/norange"
cp "$WWW/plain.qcow2" "$WWW/norange/img.qcow2"
expect_fail "$BASE/norange/img.qcow2" "server does not support range requests"

# Credentials in the URL are used but never shown.
expect_fail "http://someone:s3cr3tpw@127.0.0.1:$PORT/missing.qcow2" \
	"http://127.0.0.1:$PORT/missing.qcow2: not found (HTTP 404)"
! grep -q s3cr3tpw "$T/err.txt" "$T/out.txt" ||
	fail "the password was printed"

# Basic auth: from the URL (also for the backing file, which is named
# relative to the credential-free name), ~/.netrc and -header.
if command -v openssl >/dev/null 2>&1; then
	printf 'qf:%s\n' "$(openssl passwd -apr1 s3cr3tpw)" >"$T/nginx/htpasswd"
	mkdir -p "$WWW/private"
	cp "$WWW/chain/base.qcow2" "$WWW/chain/top.qcow2" "$WWW/private/"
	ref_raw "$WWW/private/top.qcow2" "$T/ref.raw" -q
	expect_fail "$BASE/private/top.qcow2" "access denied (HTTP 401)"
	flash_same "$T/ref.raw" "http://qf:s3cr3tpw@127.0.0.1:$PORT/private/top.qcow2"
	! grep -q s3cr3tpw "$T/err.txt" "$T/out.txt" ||
		fail "the password was printed"
	note "ok: credentials in the URL"
	mkdir -p "$T/home"
	printf 'machine 127.0.0.1\nlogin qf\npassword s3cr3tpw\n' >"$T/home/.netrc"
	chmod 600 "$T/home/.netrc"
	HOME=$T/home flash_same "$T/ref.raw" "$BASE/private/top.qcow2"
	note "ok: ~/.netrc"
	flash_same "$T/ref.raw" "$BASE/private/top.qcow2" -header \
		"Authorization: Basic $(printf 'qf:s3cr3tpw' | base64)"
	note "ok: -header"
else
	note "openssl is missing: authentication not tested"
fi
exit 0
