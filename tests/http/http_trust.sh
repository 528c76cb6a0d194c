#!/bin/bash
# http_trust.sh - trust boundaries of the network: a local image whose
# backing file is on a server causes no request unless
# -allow-remote-backing says so, and then the user's -header values are not
# sent there (they are for the server the user named); a remote image
# never opens a local file.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img qemu-io cmp
# A second server, on @TLSPORT@, logging the header the tests send.
cat >"$T/extra.conf.in" <<'EOF'
log_format token '$request_uri token=[$http_x_qflash_token]';
server {
	listen 127.0.0.1:@TLSPORT@;
	root @WWW@;
	access_log @DIR@/other.log token;
}
EOF
start_nginx
OTHER=http://127.0.0.1:$TLSPORT
note "nginx on $BASE and $OTHER"

mkraw "$T/disk.raw" 16
qemu-img convert -q -f raw -O qcow2 "$T/disk.raw" "$WWW/base.qcow2" ||
	fail "qemu-img convert"
# A local image over a backing file on the second server.
mkq "$T/local.qcow2" 16M -b "$OTHER/base.qcow2" -F qcow2 -u
qio "$T/local.qcow2" "write -P 0x5a 1M 64k"
cp "$WWW/base.qcow2" "$T/base.qcow2"
mkq "$T/ref-top.qcow2" "" -b "$T/base.qcow2" -F qcow2
qio "$T/ref-top.qcow2" "write -P 0x5a 1M 64k"
ref_raw "$T/ref-top.qcow2" "$T/ref.raw"

: >"$T/nginx/other.log"
run_q -src "$T/local.qcow2" -info -header 'X-Qflash-Token: secret'
[ "$RC" = 1 ] || fail "remote backing without permission: exit $RC, want 1"
grep -q -- '-allow-remote-backing' "$T/err.txt" ||
	fail "the refusal does not say what would allow it: $(cat "$T/err.txt")"
grep -qF "$OTHER" "$T/err.txt" || fail "the refusal does not name the server"
[ -s "$T/nginx/other.log" ] &&
	fail "a request was made without permission: $(cat "$T/nginx/other.log")"
note "ok: no request: $(head -n 1 "$T/err.txt")"

flash_same "$T/ref.raw" "$T/local.qcow2" -allow-remote-backing \
	-header 'X-Qflash-Token: secret'
grep -q 'base.qcow2' "$T/nginx/other.log" ||
	fail "the backing file was not read from $OTHER"
grep -q 'token=\[secret\]' "$T/nginx/other.log" &&
	fail "the user's header went to a server the image chose: $(cat "$T/nginx/other.log")"
note "ok: -allow-remote-backing reads it, without the user's headers"

# The header does reach the server the user named, and its backing files
# on that same server.
mkdir -p "$WWW/chain"
cp "$WWW/base.qcow2" "$WWW/chain/base.qcow2"
(cd "$WWW/chain" && mkq top.qcow2 "" -b base.qcow2 -F qcow2) || fail "mkq top"
ref_raw "$WWW/chain/top.qcow2" "$T/ref-chain.raw"
: >"$T/nginx/other.log"
flash_same "$T/ref-chain.raw" "$OTHER/chain/top.qcow2" -header 'X-Qflash-Token: secret'
[ "$(grep -c 'token=\[secret\]' "$T/nginx/other.log")" -ge 2 ] ||
	fail "the named server did not get the header for the image and its base: $(cat "$T/nginx/other.log")"
note "ok: the named server gets the header, for its backing files too"

# A remote image never opens a local file.
cp "$T/local.qcow2" "$WWW/evil.qcow2"
qemu-img rebase -q -u -b "$T/base.qcow2" -F qcow2 "$WWW/evil.qcow2" ||
	fail "rebase"
run_q -src "$BASE/evil.qcow2" -info
[ "$RC" = 1 ] || fail "a remote image naming a local file: exit $RC, want 1"
grep -q 'may not refer to the local file' "$T/err.txt" ||
	fail "not refused as it should be: $(cat "$T/err.txt")"
note "ok: a remote image cannot name a local file"

exit 0
