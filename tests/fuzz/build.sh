#!/bin/sh
# build.sh - builds the libFuzzer harnesses for `make fuzz`: the library's
# sources compiled once more by $FUZZ_CC with coverage and the address and
# undefined-behaviour sanitizers (objects under fuzz/obj, only those whose
# source or any header changed), then each harness linked with them.
#
# From the Makefile: FUZZ_CC, FUZZ_CFLAGS, FUZZ_CPPFLAGS (the compiler
# flags configure found), FUZZ_LIBS, FUZZ_LIB_SOURCES (the library's
# sources, relative to the source tree) and FUZZ_HARNESSES.
set -eu
srcdir=$1
# FUZZ_SANITIZERS=undefined (in FUZZ_DIR=fuzz-ub, say) builds harnesses
# several times faster for long runs: without ASan's shadow memory, the
# decoders' multi-MiB states cost no poisoning at every input.
out=${FUZZ_DIR:-fuzz}
san="-fsanitize=${FUZZ_SANITIZERS:-address,undefined} -fno-sanitize-recover=all"
# A compressed stream's head and window (codec/stream.h) small enough
# for inputs of a few MiB to go through both and wrap the window.
small="-DQF_STREAM_HEAD='((uint64_t)64<<10)' -DQF_STREAM_RING='((size_t)256<<10)'"
cflags="-g -O1 -fno-omit-frame-pointer $san $small $FUZZ_CFLAGS"
mkdir -p "$out/obj"

# Whether $1 is missing or older than $2 or any header of the tree.
stale() {
	[ ! -f "$1" ] || [ "$2" -nt "$1" ] ||
		[ -n "$(find "$srcdir/src" "$srcdir/tests/fuzz" -name '*.h' \
			-newer "$1" | head -n 1)" ] || [ config.h -nt "$1" ]
}

compile() {  # source object extra-flags
	if stale "$2" "$1"; then
		echo "  FUZZCC   $2"
		built=yes
		# eval: the flags hold quoted strings (-DLOCALEDIR=\"...\").
		eval "$FUZZ_CC $cflags $3 $FUZZ_CPPFLAGS -c -o \"\$2\" \"\$1\""
	fi
}

built=no
objs=
for s in $FUZZ_LIB_SOURCES; do
	case $s in *.c) ;; *) continue ;; esac
	o=$out/obj/$(echo "$s" | sed 's|/|_|g; s|\.c$|.o|')
	mkdir -p "$(dirname "$o")"
	compile "$srcdir/$s" "$o" -fsanitize=fuzzer-no-link
	objs="$objs $o"
done
# An archive: each harness links only the objects it needs.
lib=$out/libqflash-fuzz.a
if [ "$built" = yes ] || [ ! -f "$lib" ]; then
	rm -f "$lib"
	ar rcs "$lib" $objs
fi

compile "$srcdir/tests/fuzz/fuzz_common.c" "$out/obj/fuzz_common.o" \
	-fsanitize=fuzzer-no-link
for h in $FUZZ_HARNESSES; do
	case $h in
	gzip) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_GZIP ;;
	zstd) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_ZSTD ;;
	xz) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_XZ ;;
	lz4) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_LZ4 ;;
	bzip2) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_BZIP2 ;;
	zip) src=fuzz_codec.c def=-DFUZZ_FORMAT=QF_FORMAT_ZIP ;;
	*) src=fuzz_$h.c def= ;;
	esac
	o=$out/obj/fuzz_$h.o
	compile "$srcdir/tests/fuzz/$src" "$o" "-fsanitize=fuzzer-no-link $def"
	if [ ! -f "$out/fuzz_$h" ] || [ "$o" -nt "$out/fuzz_$h" ] ||
	   [ "$lib" -nt "$out/fuzz_$h" ]; then
		echo "  FUZZLD   $out/fuzz_$h"
		$FUZZ_CC $cflags -fsanitize=fuzzer -o "$out/fuzz_$h" "$o" \
			"$out/obj/fuzz_common.o" "$lib" $FUZZ_LIBS
	fi
done
