#!/bin/bash
# cli_usage.sh - the command line itself: help, version, usage errors
# (exit 2), both flag spellings and -flag=value, -format raw.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

expect_rc() {  # expect_rc RC LABEL: check $RC after run_q
	[ "$RC" = "$1" ] ||
		fail "$2: exit $RC, want $1; stderr: $(head -c 400 "$T/err.txt")"
}

# ---------------------------------------------------------- help, version
for h in -h --help -help; do
	run_q $h
	expect_rc 0 "$h"
	grep -qi 'usage' "$T/out.txt" || fail "$h: no usage text on stdout"
	grep -q -- '-src' "$T/out.txt" || fail "$h: usage does not mention -src"
	grep -q -- '-dst' "$T/out.txt" || fail "$h: usage does not mention -dst"
done
for v in --version -version; do
	run_q $v
	expect_rc 0 "$v"
	grep -Eq '[0-9]+\.[0-9]+' "$T/out.txt" || fail "$v: no version number"
done
note "ok: help and version"

# ----------------------------------------------------------- usage errors
qemu-img create -q -f qcow2 "$T/img.qcow2" 4M || fail "create"
qio "$T/img.qcow2" "write -P 0x3c 100000 200000" "write -P 0x3d 3M 512"
ref_raw "$T/img.qcow2" "$T/ref.raw"

usage_error() {  # usage_error LABEL ARGS...: exit 2, a message, no output file
	local label=$1
	shift
	rm -f "$T/u.raw"
	run_q "$@"
	expect_rc 2 "$label"
	[ -s "$T/err.txt" ] || fail "$label: nothing on stderr"
	[ -e "$T/u.raw" ] && fail "$label: created the destination"
	note "ok: $label: $(head -n 1 "$T/err.txt")"
}
usage_error "no arguments"
usage_error "unknown flag" -src "$T/img.qcow2" -dst "$T/u.raw" -no-such-flag
usage_error "unknown --flag" -src "$T/img.qcow2" -dst "$T/u.raw" --no-such-flag
grep -q 'no-such-flag' "$T/err.txt" || fail "unknown flag not named"
usage_error "missing -src" -dst "$T/u.raw"
usage_error "-src without a value" -dst "$T/u.raw" -src
usage_error "bad -format" -src "$T/img.qcow2" -dst "$T/u.raw" -format bogus

# Every flag is checked before the image is opened: with a -src that does
# not exist, a bad value still gives the usage error (exit 2), not 1.
none=$T/does-not-exist.qcow2
usage_error "bad -write-parts before opening" -src "$none" -write-parts foo
grep -q "write-parts: 'foo'" "$T/err.txt" || fail "bad -write-parts: $(cat "$T/err.txt")"
usage_error "-write-parts without a number" -src "$none" -write-parts "x=$T/u.raw"
usage_error "-write-parts without a target" -src "$none" -write-parts 1=
usage_error "-write-parts naming nothing" -src "$none" -write-parts ,
usage_error "bad -format before opening" -src "$none" -dst "$T/u.raw" -format bogus
usage_error "bad -threads before opening" -src "$none" -dst "$T/u.raw" -threads x
usage_error "bad -header before opening" -src "$none" -dst "$T/u.raw" -header nocolon
grep -q "header: 'nocolon'" "$T/err.txt" || fail "bad -header: $(cat "$T/err.txt")"

# ... and without touching freed memory on the way out.  A sanitizer
# build checks this itself and cannot run under valgrind.
if ldd "$QFLASH" 2>/dev/null | grep -q 'lib[at]san'; then
	note "sanitizer build: memory errors checked by the sanitizer, not valgrind"
elif command -v valgrind >/dev/null 2>&1; then
	for wp in foo 0=x "1=$T/u.raw,bar"; do
		RC=0
		valgrind -q --error-exitcode=99 "$QFLASH" -src "$T/img.qcow2" \
			-write-parts "$wp" >"$T/out.txt" 2>"$T/err.txt" || RC=$?
		expect_rc 2 "valgrind, -write-parts $wp"
		grep -q '^==[0-9]*==' "$T/err.txt" &&
			fail "valgrind, -write-parts $wp: $(grep '^==' "$T/err.txt" | head -n 5)"
	done
	note "ok: valgrind finds nothing in -write-parts usage errors"
else
	note "valgrind not found: memory errors not checked"
fi

# ------------------------------------------------------- flag spellings
n=0
for args in \
	"-src $T/img.qcow2 -dst $T/s.raw" \
	"--src $T/img.qcow2 --dst $T/s.raw" \
	"-src=$T/img.qcow2 -dst=$T/s.raw" \
	"--src=$T/img.qcow2 --dst=$T/s.raw" \
	"-dst $T/s.raw --src=$T/img.qcow2 -format qcow2" \
	"--format=qcow2 -src $T/img.qcow2 -dst=$T/s.raw" \
	"-src $T/img.qcow2 -dst $T/s.raw -format=auto"; do
	rm -f "$T/s.raw"
	# shellcheck disable=SC2086  # $T has no blanks (mktemp)
	run_ok $args
	same "$T/ref.raw" "$T/s.raw"
	n=$((n + 1))
done
note "ok: $n spellings of -src/-dst/-format"

# ------------------------------------------------------------- raw input
rand_file "$T/plain.img" $((3 << 20)) 31
for f in "-format raw" "-format=raw" "--format raw"; do
	rm -f "$T/r.raw"
	# shellcheck disable=SC2086
	run_ok -src "$T/plain.img" -dst "$T/r.raw" $f
	same "$T/plain.img" "$T/r.raw"
done
note "ok: -format raw"

rm -f "$T/r.raw"
run_q -src "$T/plain.img" -dst "$T/r.raw"
expect_rc 1 "raw file without -format"
grep -q 'plain.img' "$T/err.txt" || fail "raw refusal does not name the file"
grep -q 'not a qcow2 image (use -format raw for a raw disk image)' "$T/err.txt" ||
	fail "raw refusal: $(cat "$T/err.txt")"
[ -e "$T/r.raw" ] && fail "raw refusal created the destination"
run_q -src "$T/plain.img" -dst "$T/r.raw" -format qcow2
expect_rc 1 "raw file with -format qcow2"
grep -q 'not a qcow2 image' "$T/err.txt" ||
	fail "raw with -format qcow2: $(cat "$T/err.txt")"
note "ok: raw refused without -format raw"

run_q -src "$T/does-not-exist.qcow2" -dst "$T/r.raw"
expect_rc 1 "missing image"
grep -q 'does-not-exist.qcow2' "$T/err.txt" ||
	fail "missing image: message does not name it"
[ -e "$T/r.raw" ] && fail "missing image: created the destination"
note "ok: missing image"

exit 0
