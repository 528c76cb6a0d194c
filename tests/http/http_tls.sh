#!/bin/bash
# http_tls.sh - https from a local nginx with a self-signed certificate:
# refused unless the certificate is trusted (-cacert) or checks are off
# (-insecure), and HTTP/2 is used when the server offers it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
need_cmd qemu-img openssl cmp

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" \
	-out "$T/cert.pem" >/dev/null 2>&1 || skip "openssl cannot make a certificate"
cat >"$T/extra.conf.in" <<EOC
server {
	listen 127.0.0.1:@TLSPORT@ ssl http2;
	ssl_certificate $T/cert.pem;
	ssl_certificate_key $T/key.pem;
	root @WWW@;
}
EOC
start_nginx
TLS=https://127.0.0.1:$TLSPORT

mkraw "$T/disk.raw" 24
qemu-img convert -q -c -f raw -O qcow2 "$T/disk.raw" "$WWW/img.qcow2" ||
	fail "qemu-img convert"
ref_raw "$WWW/img.qcow2" "$T/ref.raw" -q

rm -f "$T/bad.out"
run_q -src "$TLS/img.qcow2" -dst "$T/bad.out"
[ "$RC" = 1 ] || fail "untrusted certificate: exit $RC: $(cat "$T/err.txt")"
grep -q "$TLS/img.qcow2: TLS error: .*certificate" "$T/err.txt" ||
	fail "untrusted certificate: unexpected message: $(cat "$T/err.txt")"
[ ! -e "$T/bad.out" ] || fail "untrusted certificate: the target was created"
note "ok: untrusted: $(head -1 "$T/err.txt")"

flash_same "$T/ref.raw" "$TLS/img.qcow2" -cacert "$T/cert.pem"
note "ok: -cacert"

flash_same "$T/ref.raw" "$TLS/img.qcow2" -insecure
note "ok: -insecure"

grep -q '"GET /img.qcow2 HTTP/2.0"' "$T/nginx/access.log" ||
	fail "HTTP/2 was not used: $(tail -3 "$T/nginx/access.log")"
note "ok: HTTP/2"
exit 0
