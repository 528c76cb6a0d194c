#!/bin/bash
# log_english.sh - messages on the screen are in the user's language, the
# flash log's in English: a flash that fails with German messages (LANGUAGE
# de, the build tree's catalog) records its error in English, errno text
# included, so whoever reads the log later can.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs"
grep -q '^#define ENABLE_NLS 1' "$top_builddir/config.h" || skip "built without NLS"
LOCALEDIR=$top_builddir/locale
[ -f "$LOCALEDIR/de/LC_MESSAGES/qflash.mo" ] || fail "no German catalog in $LOCALEDIR"

mkq "$T/disk.qcow2" 32M
qio "$T/disk.qcow2" "write -P 0x5a 0 24M"
mkdir "$T/small"
mount -t tmpfs -o size=4m none "$T/small" || skip "cannot mount a tmpfs here"
on_exit "umount '$T/small'"

RC=0
LC_ALL=C.UTF-8 LANGUAGE=de QFLASH_LOCALEDIR="$LOCALEDIR" \
	"$QFLASH" -src "$T/disk.qcow2" -dst "$T/small/out.raw" -log "$T/flash.log" \
	>"$T/out.txt" 2>"$T/err.txt" || RC=$?
[ "$RC" = 1 ] || fail "a flash onto a full filesystem: exit $RC, want 1"
grep -q 'Schreibfehler' "$T/err.txt" ||
	fail "the screen message is not German: $(cat "$T/err.txt")"
python3 - "$T/flash.log" <<'PY' || fail "the log's error is not English: $(cat "$T/flash.log")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
err = [r for r in recs if r["result"] == "failed"][0]["error"]
assert "write error at" in err, err
assert "No space left on device" in err, err
assert "Schreib" not in err and "Speicher" not in err, err
PY
note "ok: screen: $(grep -o 'Schreibfehler.*' "$T/err.txt" | head -n 1)"
note "ok: log: $(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["error"])' "$T/flash.log")"
exit 0
