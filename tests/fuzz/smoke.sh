#!/bin/sh
# smoke.sh - `make fuzz-smoke`: each harness of $FUZZ_HARNESSES for
# $FUZZ_SECONDS seconds over its seeds (made by seeds.sh) and the corpus
# it grew before (fuzz/corpus/NAME).  Any crash, leak, sanitizer report
# or timeout fails the run; the input that caused it is kept as
# fuzz/artifacts/NAME-*, and the end of the harness's log is shown.
set -u
srcdir=$1
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_DIR:-fuzz}
failed=
for h in $FUZZ_HARNESSES; do
	if [ ! -d "$out/seeds/$h" ]; then
		sh "$srcdir/tests/fuzz/seeds.sh" "$out/seeds" "$h" || exit 1
	fi
	mkdir -p "$out/corpus/$h" "$out/artifacts"
	log=$out/$h.log
	if "$out/fuzz_$h" -max_total_time="$seconds" -timeout=30 \
	    -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/$h-" \
	    "$out/corpus/$h" "$out/seeds/$h" >"$log" 2>&1; then
		res=ok
	else
		res=FAILED
		failed="$failed $h"
	fi
	# The last status line: executions, coverage (cov) and features (ft).
	line=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	printf 'fuzz_%-7s %-6s %s\n' "$h" "$res" "$line"
	[ "$res" = ok ] || tail -n 40 "$log"
done
if [ -n "$failed" ]; then
	echo "fuzz-smoke: findings in:$failed (inputs in $out/artifacts)"
	exit 1
fi
