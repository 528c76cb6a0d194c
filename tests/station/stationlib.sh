# tests/station/stationlib.sh - slots for the station tests (sourced after
# tests/lib.sh): loop devices at numbers of their own, so that a drive is
# "plugged into" a slot with losetup and "removed" with losetup -d, media
# with faults under them, the headless station run in the background and
# its JSON events waited for.

need_root_loop
[ -c /dev/loop-control ] || skip "no /dev/loop-control to make slots with"

# slot_new: an unbound loop device at a number free here (from 200 up,
# where losetup -f of other tests does not reach while lower ones are
# free); its kernel name in $SLOT.  Removed at exit.
slot_new() {
	local n
	for ((n = 200 + RANDOM % 600; n < 1000000; n++)); do
		[ -e "/sys/block/loop$n" ] && continue
		python3 - "$n" <<'PYEOF' && break
import fcntl, os, sys
fd = os.open("/dev/loop-control", os.O_RDWR)
fcntl.ioctl(fd, 0x4C80, int(sys.argv[1]))       # LOOP_CTL_ADD
PYEOF
	done
	SLOT=loop$n
	on_exit "slot_remove $n"
	for ((n = 0; n < 50; n++)); do
		[ -b "/dev/$SLOT" ] && return 0
		sleep 0.1
	done
	fail "no /dev/$SLOT appeared"
}

slot_remove() {
	local i
	# A device still open detaches when it is closed: ask again.
	for ((i = 0; i < 50; i++)); do
		[ "$(cat "/sys/block/loop$1/size" 2>/dev/null)" = 0 ] && break
		losetup -d "/dev/loop$1" 2>/dev/null
		sleep 0.1
	done
	python3 - "$1" <<'PYEOF'
import fcntl, os, sys
fd = os.open("/dev/loop-control", os.O_RDWR)
fcntl.ioctl(fd, 0x4C81, int(sys.argv[1]))       # LOOP_CTL_REMOVE
PYEOF
}

# station_image: the image the station tests flash, a GPT disk of 100 MiB
# as compressed qcow2 in $T/disk.qcow2, and its raw bytes in $T/ref.raw.
station_image() {
	make_gpt_disk "$T/disk.raw" 100M
	qemu-img convert -c -O qcow2 "$T/disk.raw" "$T/disk.qcow2" ||
		fail "qemu-img convert"
	ref_raw "$T/disk.qcow2" "$T/ref.raw"
}

# slot_insert SLOT FILE: the drive FILE plugged into SLOT.
slot_insert() {
	losetup "/dev/$1" "$2" || fail "losetup /dev/$1 $2 failed"
}

# slot_eject SLOT: the drive pulled out; waits until the device is empty.
slot_eject() {
	local i
	losetup -d "/dev/$1" || fail "losetup -d /dev/$1 failed"
	for ((i = 0; i < 100; i++)); do
		[ "$(cat "/sys/block/$1/size")" = 0 ] && return 0
		sleep 0.1
	done
	fail "/dev/$1 did not become empty"
}

# fault_media NAME SIZE [QFAULTFS OPTIONS...]: a qfaultfs medium, not yet
# in any slot; its file in $FAULT_FILE, its ctl in $FAULT_CTL.
fault_media() {
	local name=$1 size=$2 mnt=$T/$1.mnt
	shift 2
	mkdir "$mnt" || fail "fault_media $name: mkdir $mnt failed"
	on_exit "fault_dev_down '$name'"
	"$QFAULTFS" --size "$size" --backing "$T/$name.backing" \
		--pidfile "$T/$name.pid" "$@" "$mnt" 2>"$T/$name.err" ||
		fail "qfaultfs --size $size${*:+ $*} failed: $(cat "$T/$name.err")"
	FAULT_FILE=$(realpath "$mnt")/disk
	FAULT_CTL=$mnt/ctl
}

# slot_insert_fault SLOT NAME: fault medium NAME plugged into SLOT (and
# detached before its file system goes at exit).
slot_insert_fault() {
	slot_insert "$1" "$T/$2.mnt/disk"
	printf '%s\n%s\n' "/dev/$1" "$(realpath "$T/$2.mnt")/disk" >"$T/$2.loop"
}

# station_start ARGS...: qflash -station ARGS in the background, events
# in $T/events.jsonl; stopped at exit.
station_start() {
	"$QFLASH" -station "$@" >"$T/events.jsonl" 2>"$T/station.err" &
	STATION_PID=$!
	on_exit "kill $STATION_PID; wait $STATION_PID"
}

# wait_event SLOT STATE [COUNT [SECONDS]]: until the events hold COUNT
# (default 1) changes of SLOT to STATE; the last one is printed as JSON.
wait_event() {
	python3 - "$T/events.jsonl" "$1" "$2" "${3:-1}" "${4:-60}" <<'PYEOF' ||
import json, sys, time
path, slot, state, count, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
end = time.time() + secs
while True:
    seen = []
    for line in open(path):
        if not line.endswith("\n"):
            break
        ev = json.loads(line)
        if ev.get("slot") == slot and ev.get("state") == state:
            seen.append(ev)
    if len(seen) >= count:
        print(json.dumps(seen[count - 1]))
        sys.exit(0)
    if time.time() > end:
        sys.exit("no %d '%s' events for %s in %g s" % (count, state, slot, secs))
    time.sleep(0.1)
PYEOF
		fail "wait_event $*: $(tail -n 3 "$T/events.jsonl"; cat "$T/station.err")"
}

# ev_field JSON KEY: one field of an event wait_event printed.
ev_field() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print(v)' "$1" "$2"
}

# no_layout DEV: nothing on DEV looks like a partition table.
no_layout() {
	local pt
	pt=$(blkid -p -o value -s PTTYPE "$1" 2>/dev/null)
	[ -z "$pt" ] || fail "$1 has a $pt partition table"
	sfdisk -d "$1" >/dev/null 2>&1 && fail "sfdisk finds a layout on $1"
	return 0
}

# tui_pick_first_slot SLOT [SECONDS]: in qflash-tui (tests/tui/tuilib.sh),
# from the image screen to the station's slots screen, SLOT picked.
tui_pick_first_slot() {
	tui_wait "Partitions (GPT, 2)" "${2:-15}"
	tui_keys Enter
	tui_wait "Whole disk to one or more targets"
	tui_keys Enter
	tui_wait "Selected: 0"
	tui_wait_gone "Looking for devices"
	tui_keys s
	tui_wait "Station: every drive plugged into a picked slot"
	tui_wait_gone "Looking for devices"
	tui_cursor_to "/dev/$1 "
	tui_keys Space
	tui_wait "Picked: 1"
}
