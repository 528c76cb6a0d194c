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
(cd "$WWW/chain" && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 \
	top.qcow2) || fail "qemu-img create top"
qemu-io -f qcow2 -c "write -P 0x5a 0 65536" -c "write -P 0xa5 5M 3M" \
	-c "write -z 20M 1M" -c "write -P 0x11 $(((40 << 20) - 512)) 512" \
	"$WWW/chain/top.qcow2" >/dev/null || fail "qemu-io top"

for img in plain.qcow2 deflate.qcow2 zstd.qcow2 chain/top.qcow2; do
	qemu-img convert -q -O raw "$WWW/$img" "$T/ref.raw" ||
		fail "qemu-img convert $img"
	flash got "$BASE/$img" || fail "$img: exit $?: $(cat "$T/err.txt")"
	same "$T/ref.raw" "$T/got.out"
	note "ok: $img"
done

# expect_fail URL MESSAGE: exit 1, MESSAGE on stderr, no target created.
expect_fail() {
	local url=$1 msg=$2 rc=0
	flash bad "$url" || rc=$?
	[ "$rc" = 1 ] || fail "$url: exit $rc, expected 1: $(cat "$T/err.txt")"
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
	qemu-img convert -q -O raw "$WWW/private/top.qcow2" "$T/ref.raw" ||
		fail "qemu-img convert private"
	expect_fail "$BASE/private/top.qcow2" "access denied (HTTP 401)"
	flash got "http://qf:s3cr3tpw@127.0.0.1:$PORT/private/top.qcow2" ||
		fail "userinfo: exit $?: $(cat "$T/err.txt")"
	same "$T/ref.raw" "$T/got.out"
	! grep -q s3cr3tpw "$T/err.txt" "$T/out.txt" ||
		fail "the password was printed"
	note "ok: credentials in the URL"
	mkdir -p "$T/home"
	printf 'machine 127.0.0.1\nlogin qf\npassword s3cr3tpw\n' >"$T/home/.netrc"
	chmod 600 "$T/home/.netrc"
	HOME=$T/home flash got "$BASE/private/top.qcow2" ||
		fail ".netrc: exit $?: $(cat "$T/err.txt")"
	same "$T/ref.raw" "$T/got.out"
	note "ok: ~/.netrc"
	flash got "$BASE/private/top.qcow2" -header \
		"Authorization: Basic $(printf 'qf:s3cr3tpw' | base64)" ||
		fail "-header: exit $?: $(cat "$T/err.txt")"
	same "$T/ref.raw" "$T/got.out"
	note "ok: -header"
else
	note "openssl is missing: authentication not tested"
fi
exit 0
