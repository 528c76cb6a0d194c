#!/bin/bash
# layers.sh - the library's folders are layers in the order data flows
# through them, and calls only go down:
#   util (src/lib/*.c) < source < codec < image < catalog < target < report
#   < engine < station < demo
# A file may use what its own folder or a lower one defines, never a
# higher one, and no two files use each other.  Checked on the object
# files of the build (nm) and on the sources' includes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd nm

# A folder's rank, in $R (no subshell: it is asked once per arrow).
rank() {
	case $1 in
	source) R=1 ;; codec) R=2 ;; image) R=3 ;; catalog) R=4 ;;
	target) R=5 ;; report) R=6 ;; engine) R=7 ;; station) R=8 ;;
	demo) R=9 ;; *) R=0 ;;
	esac
}

# The objects of the sources Makefile.am lists (a build tree may hold
# stale ones of files that moved), as the library was linked: a source
# built only in some configurations (gzip.c or igzip.c) counts when the
# library holds it.
members=$(ar t "$top_builddir/src/libqflash.a") || fail "no src/libqflash.a"
# Each source's object, when the library holds it (automake prefixes
# objects with the library's name).
objs=$(printf '%s\n' "$members" | awk -v b="$top_builddir/" '
	NR == FNR { held[$0] = 1; next }
	{ n = split($0, p, "/"); o = p[n]; sub(/\.c$/, ".o", o); o = "libqflash_a-" o
	  d = substr($0, 1, length($0) - length(p[n]))
	  if (o in held) print b d o }' - \
	<(grep -o 'src/lib/[a-z0-9_/]*\.c' "$top_srcdir/Makefile.am"))
[ -n "$objs" ] || fail "no library sources found in Makefile.am"
for o in $objs; do
	[ -f "$o" ] || fail "$o not built"
done

# "symbol folder/file" for what each object defines and uses: one nm
# for all of them, its lines starting "path/libqflash_a-file.o: ".
name_syms() {  # name_syms TYPES: the symbols whose nm type is in TYPES
	awk -v types="$1" '{ f = $1; sub(/:$/, "", f); sub(/.*src\/lib\//, "", f)
	       sub(/libqflash_a-/, "", f); sub(/\.o$/, "", f)
	       if (f !~ /\//) f = "/" f
	       if ($3 ~ "^[" types "]$") print $2, f }'
}
# shellcheck disable=SC2086
nm -A -P --defined-only $objs | name_syms TDRB >"$T/defs" || fail "nm failed"
# shellcheck disable=SC2086
nm -A -P -u $objs | name_syms U >"$T/uses" || fail "nm failed"
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

# "file folder" for each include of a folder's header, in one pass.
find "$top_srcdir/src/lib" -name '*.[ch]' -exec awk '
	match($0, /^#include "[a-z]*\//) {
		print FILENAME, substr($0, 11, RLENGTH - 11) }' {} + >"$T/includes"
while read -r f inc; do
	rel=${f#*src/lib/}
	case $rel in */*) from=${rel%%/*} ;; *) from= ;; esac
	rank "$from"
	rf=$R
	rank "$inc"
	if [ "$R" -gt "$rf" ]; then
		echo "# upward include: ${f#"$top_srcdir"/} includes $inc/"
		bad=$((bad + 1))
	fi
done <"$T/includes"
[ -s "$T/includes" ] || fail "no includes of folder headers found"

[ "$bad" = 0 ] || fail "$bad arrows against the layers"
note "$n calls between library files, all downward or within a folder"
