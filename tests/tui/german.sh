#!/bin/bash
# german.sh - with LANG=C.UTF-8 LANGUAGE=de the screens, hints, dialogs
# and library messages are German (the catalog make puts into the build
# tree's locale/, found through QFLASH_LOCALEDIR as a user running the
# build uninstalled would), and the German confirmation word "ja" starts
# the flash; the CLI finds the same catalog.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img sfdisk

grep -q '^#define ENABLE_NLS 1' "$top_builddir/config.h" ||
	skip "built without NLS"
LOCALEDIR=$top_builddir/locale
[ -f "$LOCALEDIR/de/LC_MESSAGES/qflash.mo" ] ||
	fail "make built no $LOCALEDIR/de/LC_MESSAGES/qflash.mo"
two_part_image "$T/disk.raw" "$T/disk.qcow2"
ref_raw "$T/disk.qcow2" "$T/ref.raw"
echo "junk" >"$T/bad.qcow2"

de=(LANGUAGE=de QFLASH_LOCALEDIR="$LOCALEDIR")
tui_start "${de[@]}" -- --target "$T/out.img" --log "$T/flash.log" "$T/disk.qcow2"
tui_wait "qflash-tui · Abbild"
tui_wait "Partitionen (GPT, 2)"
tui_wait "Virtuelle Größe:"
tui_wait "Enter weiter"
tui_keys '?'
tui_wait "Tasten"
tui_wait "Eine beliebige Taste schließt diese Hilfe."
tui_keys x
tui_wait_gone "Tasten"
tui_keys Enter
tui_wait "Ganzer Datenträger auf ein oder mehrere Ziele"
tui_keys Enter
tui_wait "$T/out.img"
tui_wait "neue Datei, wird angelegt"
tui_wait "Leer auswählen"
tui_keys Enter
tui_wait "Zuerst mit der Leertaste mindestens ein Ziel auswählen."
tui_keys Space
tui_wait "Ausgewählt: 1"
tui_keys Enter
tui_wait "Zum Schreiben „ja“ tippen und Enter drücken:"
tui_wait "Überprüfung: an"
tui_type nein
tui_keys Enter
tui_wait "Nicht bestätigt: es wurde nichts geschrieben"
tui_keys Enter
tui_wait "Zum Schreiben „ja“ tippen"
tui_type ja
tui_keys Enter
tui_wait "Schreiben abgeschlossen: 1 von 1 Zielen OK." 60
tui_wait "OK, überprüft"
tui_wait "Erneut schreiben"
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/ref.raw"

# A library message (the image reader's) in an error dialog.
tui_start "${de[@]}" -- --log "$T/flash.log" "$T/bad.qcow2"
tui_wait "Abbild kann nicht geöffnet werden"
tui_keys Enter
tui_wait "Abbild wählen"
tui_keys q
tui_expect_exit 0

# The usage text.
env -u LC_ALL LANG=C.UTF-8 "${de[@]}" "$QFLASH_TUI" --help >"$T/help.txt" ||
	fail "--help failed"
grep -q "^Aufruf: qflash-tui" "$T/help.txt" || fail "--help is not German"
# The CLI finds the same catalog: a library message in German.
env -u LC_ALL LANG=C.UTF-8 "${de[@]}" "$QFLASH" -src "$T/bad.qcow2" \
	-dst "$T/never.img" 2>"$T/cli.err" && fail "qflash took a junk image"
grep -q "kein qcow2-Abbild" "$T/cli.err" ||
	fail "CLI message is not German: $(cat "$T/cli.err")"
note "German translation shown"
