#!/bin/bash
# tui_station_http.sh - qflash-tui arms a station on a remote image
# without freezing: the screen says it is arming while the image goes
# into the cache, then a drive plugged in is flashed from the copy; with
# the server gone, the next one too, and the message line says so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/http/httplib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd qemu-img python3 sfdisk blkid cmp
. "$top_srcdir/tests/station/stationlib.sh"

station_image
# A slow second server: arming takes a few seconds.
cat >"$T/extra.conf.in" <<'EOT'
server {
	listen 127.0.0.1:@TLSPORT@;
	root @WWW@;
	limit_rate 512k;
}
EOT
start_nginx
mkdir -p "$WWW/img"
cp "$T/disk.qcow2" "$WWW/img/disk.qcow2"
URL=http://127.0.0.1:$TLSPORT/img/disk.qcow2

slot_new; A=$SLOT
on_exit "tmux -L '$TUI_SOCK' kill-server; sleep 0.5"
truncate -s 100M "$T/a1.img"
slot_insert "$A" "$T/a1.img"

tui_start XDG_CACHE_HOME="$T/xdg-cache" -- --color=never --log "$T/flash.log" "$URL"
tui_pick_first_slot "$A" 60
tui_keys Enter
tui_wait "Type yes and press Enter"
tui_type yes
tui_keys Enter
tui_wait "Arming the station" 10
# The screen still answers while it arms.
tui_keys '?'
tui_wait "Press any key to close this help" 5
tui_keys Escape
tui_wait "copies: 1, failed: 0" 120
same "$T/ref.raw" "$T/a1.img"
ls "$T/xdg-cache/qflash" >/dev/null || fail "no cache in $T/xdg-cache/qflash"

# Without the server the next drive is flashed from the copy, and the
# screen says the copy could not be checked.
nginx_down nginx
slot_eject "$A"
truncate -s 100M "$T/a2.img"
slot_insert "$A" "$T/a2.img"
tui_wait "copies: 2, failed: 0" 120
tui_wait "could not be checked against the server" 5
same "$T/ref.raw" "$T/a2.img"
tui_keys q
tui_wait "The station is armed. Disarm it and quit?"
tui_keys y
tui_expect_exit 0
