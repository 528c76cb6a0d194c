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

# A folder's rank, in $R (no subshell: it is asked once per arrow).
rank() {
	case $1 in
	source) R=1 ;; codec) R=2 ;; image) R=3 ;; target) R=4 ;;
	report) R=5 ;; engine) R=6 ;; demo) R=7 ;; *) R=0 ;;
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
	rank "${user%%/*}"
	ru=$R
	rank "${def%%/*}"
	if [ "$R" -gt "$ru" ]; then
		echo "# upward: $user uses $sym from $def"
		bad=$((bad + 1))
	fi
done <"$T/arrows"

# Pairs of files that use each other, with the symbols both ways.
awk '{ sy[$1 " " $2] = sy[$1 " " $2] $3 " " }
     END { for (k in sy) { split(k, p, " ")
		if (p[1] < p[2] && ((p[2] " " p[1]) in sy))
			print "# circle: " p[1] " and " p[2] " use each other: " sy[k] sy[p[2] " " p[1]] } }' \
	"$T/arrows" >"$T/circles"
cat "$T/circles"
bad=$((bad + $(wc -l <"$T/circles")))

while IFS= read -r f; do
	from=$(folder_of "$f")
	rank "$from"
	rf=$R
	for inc in $(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' "$f"); do
		rank "$inc"
		if [ "$R" -gt "$rf" ]; then
			echo "# upward include: ${f#"$top_srcdir"/} includes $inc/"
			bad=$((bad + 1))
		fi
	done
done < <(find "$top_srcdir/src/lib" -name '*.[ch]')

[ "$bad" = 0 ] || fail "$bad arrows against the layers"
note "$n calls between library files, all downward or within a folder"
