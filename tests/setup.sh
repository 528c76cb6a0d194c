#!/bin/sh
# Set up a fresh Debian 12 machine for qflash, build it, then either run
# the demo ("demo") or the test suite ("check").  Used by both README
# commands and by CI.
set -eu
cd "$(dirname "$0")/.."
what=${1:-demo}

pkgs="build-essential autoconf automake autopoint gettext pkg-config
libncurses-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libblkid-dev
libdeflate-dev libxxhash-dev libssl-dev libexpat1-dev libarchive-dev
liblzma-dev liblz4-dev libisal-dev libbz2-dev libjson-c-dev"
if [ "$what" = check ] || [ "$what" = bench ]; then
	pkgs="$pkgs qemu-utils qemu-block-extra tmux nginx fdisk mount
dosfstools mtools e2fsprogs python3 util-linux xxhash zstd gzip gdisk
fuse3 libfuse3-dev bmap-tools zip time clang-14 libclang-rt-14-dev
xz-utils lz4 isal bzip2 lbzip2 openssl"
fi
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
fi

# Many tests wait (on tmux, nginx, a timeout) more than they compute: one
# job more than there are CPUs keeps the CPUs busy.
jobs=$(($(nproc) + 1))

# On a failure, the logs of the tests that failed, so that a CI run's
# output says why without the build tree.
show_failed() {
	find tests -name '*.trs' | while read -r trs; do
		if grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			echo "=== ${trs%.trs}.log"
			tail -n 60 "${trs%.trs}.log"
		fi
	done
}
[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure
make -j"$(nproc)"
case "$what" in
check)
	make -j"$jobs" check || {
		show_failed
		exit 1
	}
	# The engine's tests once more under ThreadSanitizer: a data race
	# aborts qflash (or the unit test), and the test fails on the exit
	# status.  Reports go to build-tsan/tsan-report.PID and are shown.
	cd ..
	# The whole suite once more under AddressSanitizer and
	# UndefinedBehaviorSanitizer: any report aborts the program and fails
	# its test.  Reports go to build-asan/asan-report.PID and are shown.
	mkdir -p build-asan
	cd build-asan
	[ -f Makefile ] || ../configure --enable-asan
	make -j"$(nproc)"
	rm -f asan-report.*
	ASAN_OPTIONS="abort_on_error=1 detect_leaks=1 log_path=$PWD/asan-report"
	UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1 log_path=$PWD/asan-report"
	export ASAN_OPTIONS UBSAN_OPTIONS
	make -j"$jobs" check || {
		show_failed
		cat asan-report.* 2>/dev/null || :
		exit 1
	}
	unset ASAN_OPTIONS UBSAN_OPTIONS
	# The parsers fuzzed for a short while (10 s each): any crash, leak
	# or sanitizer report fails; the end of the harness's log is shown.
	cd ../build
	make fuzz-smoke FUZZ_SECONDS=5
	cd ..
	mkdir -p build-tsan
	cd build-tsan
	[ -f Makefile ] || ../configure --enable-tsan
	make -j"$(nproc)"
	rm -f tsan-report.*
	TSAN_OPTIONS="halt_on_error=1 abort_on_error=1 log_path=$PWD/tsan-report"
	export TSAN_OPTIONS
	tsan_tests="tests/unit/test_engine tests/cli/multi_target.sh \
tests/cli/cancel.sh tests/cli/verify.sh tests/cli/zeroes.sh tests/cli/convert.sh \
tests/cli/bmap.sh tests/http/http_plain.sh tests/station/station.sh \
tests/cli/catalog.sh"
	make -j"$(nproc)" check TESTS="$tsan_tests" || {
		show_failed
		cat tsan-report.* 2>/dev/null || :
		exit 1
	}
	;;
bench) make bench ;;
demo) ./src/qflash-tui --demo ;;
esac
