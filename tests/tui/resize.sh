#!/bin/bash
# resize.sh - resizing the terminal while a flash runs re-lays the screen
# out at once (80x24, then larger), below 80x24 only "Terminal too small"
# is shown, and the flash goes on to a correct result throughout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img python3

# check_layout W H: the title on the first line, the frame of the screen
# exactly W columns wide, the hint line on line H.
check_layout() {
	tui_screen >"$T/screen.txt"
	python3 - "$1" "$2" "$T/screen.txt" <<'PY' || fail "bad layout at $1x$2"
import sys
w, h, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lines = open(path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
def bad(msg):
    sys.stdout.write("".join("#   | %s\n" % l for l in lines))
    sys.exit("# %dx%d: %s" % (w, h, msg))
if len(lines) != h:
    bad("%d lines" % len(lines))
if not lines[0].startswith(" qflash-tui"):
    bad("no title on the first line")
box = lines[1]
if not (box.startswith("┌") and box.endswith("┐") and len(box) == w):
    bad("the frame is %d columns wide" % len(box))
if not lines[h - 1].lstrip().startswith("c/Esc cancel"):
    bad("no hint line at the bottom")
PY
}

slow_image 4 4000000

tui_start -- --target "$T/a.img" --log "$T/flash.log" "$HTTP_URL"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Phase: writing" 20
check_layout 100 30

tm resize-window -t tui -x 80 -y 24
tui_wait "Phase:"
check_layout 80 24

tm resize-window -t tui -x 60 -y 20
tui_wait "Terminal too small (need 80x24)"

tm resize-window -t tui -x 120 -y 40
tui_wait_gone "Terminal too small"
tui_wait "Phase:"
check_layout 120 40

tui_wait "Flash complete: 1 of 1 targets OK." 60
tm resize-window -t tui -x 80 -y 24
tui_wait "[ Flash again ]"
tui_keys q
tui_expect_exit 0
ref_raw "$T/big.qcow2" "$T/ref.raw"
same "$T/a.img" "$T/ref.raw"
note "resizing during a flash keeps the screen right"
