#!/bin/sh
# Set up a fresh Debian 12 machine for qflash, build it, then either run
# the demo ("demo") or the test suite ("check").  Used by both README
# commands and by CI.
set -eu
cd "$(dirname "$0")/.."
what=${1:-demo}

pkgs="build-essential autoconf automake autopoint gettext pkg-config
libncurses-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libblkid-dev
libdeflate-dev libxxhash-dev"
if [ "$what" = check ] || [ "$what" = bench ]; then
	pkgs="$pkgs qemu-utils qemu-block-extra tmux nginx fdisk mount
dosfstools mtools e2fsprogs python3 util-linux xxhash zstd gzip"
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

[ -x configure ] || ./autogen.sh
mkdir -p build
cd build
[ -f Makefile ] || ../configure
make -j"$(nproc)"
case "$what" in
check) make -j"$(nproc)" check ;;
bench) make bench ;;
demo) ./src/qflash-tui --demo ;;
esac
