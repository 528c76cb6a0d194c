# tests/tui/tuilib.sh - drive qflash-tui in a detached tmux session (bash;
# sourced after tests/lib.sh): start it at a fixed size, send keys, wait
# for text on the screen, read its exit status.  Each test gets a private
# tmux server, killed at exit.

need_cmd tmux
: "${QFLASH_TUI:=$top_builddir/src/qflash-tui}"
[ -x "$QFLASH_TUI" ] || fail "QFLASH_TUI=$QFLASH_TUI is not an executable"

TUI_SOCK=qflash-test-$$
TUI_COLS=100
TUI_LINES=30
export TMUX_TMPDIR=$T
unset TMUX

tm() {
	tmux -L "$TUI_SOCK" -f /dev/null "$@"
}
# tui_reap: the tmux server goes, and a TUI that outlived it (hung in
# its exit, say) is killed, so that no test leaves a process behind.
tui_reap() {
	local pid i
	tm kill-server 2>/dev/null
	pid=$(cat "$T/tui.pid" 2>/dev/null) || return 0
	for ((i = 0; i < 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
on_exit tui_reap

# tui_start [VAR=VALUE...] -- ARGS...: run qflash-tui ARGS in the session
# "tui" with the environment additions; UTF-8 locale unless overridden.
# The TUI's pid goes to $T/tui.pid, its exit status to $T/tui.exit.
tui_start() {
	local envs=() cmd
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	tm kill-session -t tui 2>/dev/null
	rm -f "$T/tui.exit" "$T/tui.pid"
	cmd=$(printf '%q ' env -u LC_ALL -u LANGUAGE LANG=C.UTF-8 "${envs[@]}" \
		"$QFLASH_TUI" "$@")
	# exec keeps the shell's pid for the TUI itself.
	printf 'echo $$ >%q\nexec %s 2>%q\n' "$T/tui.pid" "$cmd" "$T/tui.err" \
		>"$T/tui.sh"
	# Killing the last session ends the tmux server; a new session made
	# while it still goes can meet "server exited unexpectedly": again.
	local try
	for ((try = 0; ; try++)); do
		tm new-session -d -x "$TUI_COLS" -y "$TUI_LINES" -s tui \
			-c "${TUI_CWD:-$T}" \
			"bash $T/tui.sh; echo \$? >$T/tui.exit; sleep 3600" && break
		[ "$try" -lt 10 ] || fail "tmux new-session failed"
		sleep 0.2
		tm kill-session -t tui 2>/dev/null
		rm -f "$T/tui.exit" "$T/tui.pid"
	done
}

tui_screen() {
	tm capture-pane -p -t tui
}

# tui_wait TEXT [SECONDS]: until TEXT (fixed string) is on the screen.
tui_wait() {
	local text=$1 secs=${2:-15} i
	for ((i = 0; i < secs * 10; i++)); do
		tui_screen | grep -qF -- "$text" && return 0
		sleep 0.1
	done
	tui_screen | sed 's/^/#   | /' >&2
	[ -s "$T/tui.err" ] && sed 's/^/#   stderr: /' "$T/tui.err" >&2
	fail "timed out waiting for \"$text\""
}

# tui_wait_gone TEXT [SECONDS]: until TEXT is no longer shown.
tui_wait_gone() {
	local text=$1 secs=${2:-15} i
	for ((i = 0; i < secs * 10; i++)); do
		tui_screen | grep -qF -- "$text" || return 0
		sleep 0.1
	done
	tui_screen | sed 's/^/#   | /' >&2
	fail "\"$text\" still shown"
}

# tui_keys KEY...: tmux key names (Enter, Space, Down, Escape, ...).
tui_keys() {
	tm send-keys -t tui "$@"
}

# tui_type TEXT: literal text.
tui_type() {
	tm send-keys -t tui -l "$1"
}

# tui_exit [SECONDS]: wait for the TUI to end and print its exit status.
tui_exit() {
	local secs=${1:-15} i
	for ((i = 0; i < secs * 10; i++)); do
		if [ -s "$T/tui.exit" ]; then
			cat "$T/tui.exit"
			return 0
		fi
		sleep 0.1
	done
	tui_screen | sed 's/^/#   | /' >&2
	fail "qflash-tui did not exit"
}

# tui_expect_exit CODE: wait for the end and check the status.
tui_expect_exit() {
	local rc
	rc=$(tui_exit)
	[ "$rc" = "$1" ] || {
		[ -s "$T/tui.err" ] && sed 's/^/#   stderr: /' "$T/tui.err" >&2
		fail "qflash-tui exited $rc, expected $1"
	}
}

# tui_line_attrs TEXT: the screen line holding TEXT, with escape sequences
# for its attributes (to check greying, highlighting).
tui_line_attrs() {
	tm capture-pane -p -e -t tui | grep -F -- "$1" | head -n 1
}

# tui_select_whole_disk [N]: from the image screen, the whole-disk key path
# up to the typed confirmation, selecting the first N selectable targets.
tui_select_whole_disk() {
	local n=${1:-1} i
	tui_wait "Partitions"
	tui_keys Enter
	tui_wait "Whole disk to one or more targets"
	tui_keys Enter
	tui_wait "Selected: 0"
	tui_wait_gone "Looking for devices"
	for ((i = 0; i < n; i++)); do
		[ "$i" -gt 0 ] && tui_keys Down
		tui_keys Space
		tui_wait "Selected: $((i + 1))"
	done
	tui_keys Enter
	tui_wait "Type yes and press Enter"
}

# tui_flash_one: from the image screen, the whole disk to the first
# target, confirmed; waits for the flash to complete and quits.
tui_flash_one() {
	tui_select_whole_disk 1
	tui_type yes
	tui_keys Enter
	tui_wait "Flash complete: 1 of 1 targets OK." 60
	tui_keys q
	tui_expect_exit 0
}

# slow_image SEED RATE: $T/big.qcow2 from a 64 MiB raw disk ($T/big.raw)
# holding 24 MiB of random bytes (SEED) at 8 MiB, served by slow_http at
# RATE bytes/s; sets HTTP_URL.
slow_image() {
	need_cmd qemu-img
	truncate -s 64M "$T/big.raw"
	rand_file "$T/data" $((24 * 1024 * 1024)) "$1"
	dd if="$T/data" of="$T/big.raw" bs=1M seek=8 conv=notrunc status=none ||
		fail "dd into $T/big.raw failed"
	rm -f "$T/data"
	qemu-img convert -O qcow2 "$T/big.raw" "$T/big.qcow2" ||
		fail "qemu-img convert failed"
	slow_http "$T/big.qcow2" "$2"
}

# two_part_image RAW QCOW2: a 96 MiB GPT disk, partitions 1 (16 MiB) and
# 2 (48 MiB) filled with distinct random data, as qcow2.
two_part_image() {
	need_cmd sfdisk qemu-img
	rm -f "$1" "$2"
	truncate -s 96M "$1"
	sfdisk -q "$1" >/dev/null <<'EOT' || fail "sfdisk failed"
label: gpt
start=2048, size=32768, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"
start=34816, size=98304, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
EOT
	rand_file "$T/.p1" $((3 * 1024 * 1024)) 11
	rand_file "$T/.p2" $((5 * 1024 * 1024)) 12
	dd if="$T/.p1" of="$1" bs=1M seek=2 conv=notrunc status=none
	dd if="$T/.p2" of="$1" bs=1M seek=30 conv=notrunc status=none
	rm -f "$T/.p1" "$T/.p2"
	qemu-img convert -O qcow2 "$1" "$2" || fail "qemu-img convert failed"
}

# has_sgr LINE N: the line sets attribute N (2 dim, 7 reverse) somewhere.
has_sgr() {
	local re=$'\e''\[([0-9]+;)*'"$2"'(;[0-9]+)*m'
	[[ $1 =~ $re ]]
}

# tui_cursor_to TEXT: press Down until the line holding TEXT is the
# highlighted (reverse video) one; needs --color=never.  A list that
# changed on the way (other tests' loop devices come and go) is walked
# again from the top.
tui_cursor_to() {
	local i try line
	for ((try = 0; try < 3; try++)); do
		tui_keys Home
		for ((i = 0; i < 60; i++)); do
			sleep 0.15
			line=$(tui_line_attrs "$1")
			has_sgr "$line" 7 && return 0
			tui_keys Down
		done
	done
	tui_screen | sed 's/^/#   | /' >&2
	fail "could not move the highlight to \"$1\""
}
