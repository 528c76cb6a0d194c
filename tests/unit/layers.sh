#!/bin/bash
# layers.sh - the library's folders are layers in the order data flows
# through them, and calls only go down:
#   util (src/lib/*.c) < source < codec < image < target < report < engine
#   < demo
# A file may use what its own folder or a lower one defines, never a
# higher one, and no two files use each other.  Checked on the object
# files of the build (nm) and on the sources' includes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd nm

rank() {
	case $1 in
	source) echo 1 ;; codec) echo 2 ;; image) echo 3 ;; target) echo 4 ;;
	report) echo 5 ;; engine) echo 6 ;; demo) echo 7 ;; *) echo 0 ;;
	esac
}

# folder/file of an object or source under src/lib ("" for the bottom).
folder_of() {
	local rel=${1#*src/lib/}
	case $rel in */*) echo "${rel%%/*}" ;; *) echo "" ;; esac
}

# The objects of the sources Makefile.am lists (a build tree may hold
# stale ones of files that moved), as the library was linked: a source
# built only in some configurations (gzip.c or igzip.c) counts when the
# library holds it.
objs=
members=$(ar t "$top_builddir/src/libqflash.a") || fail "no src/libqflash.a"
for c in $(grep -o 'src/lib/[a-z0-9_/]*\.c' "$top_srcdir/Makefile.am"); do
	o=$top_builddir/$(dirname "$c")/libqflash_a-$(basename "$c" .c).o
	printf '%s\n' "$members" | grep -qx "$(basename "$o")" || continue
	[ -f "$o" ] || fail "$o not built"
	objs="$objs $o"
done
[ -n "$objs" ] || fail "no library sources found in Makefile.am"

: >"$T/defs"
: >"$T/uses"
for o in $objs; do
	# automake prefixes objects with the library's name
	name=$(folder_of "$o")/$(basename "$o" .o | sed "s/^lib[a-z]*_a-//")
	nm -P --defined-only "$o" | awk -v f="$name" '$2 ~ /[TDRB]/ {print $1, f}' >>"$T/defs"
	nm -P -u "$o" | awk -v f="$name" '{print $1, f}' >>"$T/uses"
done
sort -u "$T/defs" >"$T/defs.s"
sort -u "$T/uses" >"$T/uses.s"
# user-file defining-file symbol, for every use the library itself defines
join "$T/uses.s" "$T/defs.s" | awk '$2 != $3 {print $2, $3, $1}' | sort -u >"$T/arrows"
n=$(wc -l <"$T/arrows")
[ "$n" -gt 50 ] || fail "only $n calls between library files found: is nm reading the objects?"

bad=0
while read -r user def sym; do
	ru=$(rank "${user%%/*}")
	rd=$(rank "${def%%/*}")
	if [ "$rd" -gt "$ru" ]; then
		echo "# upward: $user uses $sym from $def"
		bad=$((bad + 1))
	fi
done <"$T/arrows"

awk '{print $1, $2}' "$T/arrows" | sort -u >"$T/pairs"
while read -r a b; do
	if grep -qx "$b $a" "$T/pairs" && [[ "$a" < "$b" ]]; then
		echo "# circle: $a and $b use each other:" \
			"$(awk -v a="$a" -v b="$b" '($1 == a && $2 == b) || ($1 == b && $2 == a) {printf "%s ", $3}' "$T/arrows")"
		bad=$((bad + 1))
	fi
done <"$T/pairs"

while IFS= read -r f; do
	from=$(folder_of "$f")
	rf=$(rank "$from")
	for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f"); do
		if [ "$(rank "$inc")" -gt "$rf" ]; then
			echo "# upward include: ${f#"$top_srcdir"/} includes $inc/"
			bad=$((bad + 1))
		fi
	done
done < <(find "$top_srcdir/src/lib" -name '*.[ch]')

[ "$bad" = 0 ] || fail "$bad arrows against the layers"
note "$n calls between library files, all downward or within a folder"
