# streamlib.sh - helpers for the tests of compressed raw images (sourced
# after tests/lib.sh or tests/http/httplib.sh).

# stream_disk OUT: a 100 MiB GPT disk (vfat, ext4) with 6 MiB of random
# bytes in the free space of the ext4 partition, so that compressors make
# several blocks of real work.
stream_disk() {
	make_gpt_disk "$1" 100M
	rand_file "$T/.rand.bin" $((6 << 20)) 21
	dd if="$T/.rand.bin" of="$1" bs=1M seek=88 conv=notrunc status=none ||
		fail "dd random"
	rm -f "$T/.rand.bin"
}

# cut_refused FILE BYTES: FILE without its last BYTES bytes is refused as
# truncated (exit 1, "truncated" in the message) and the target is not
# created.
cut_refused() {
	local f=$1 cut
	cut=$T/cut.$(basename "$f")
	head -c $(($(file_size "$f") - $2)) "$f" >"$cut"
	rm -f "$T/new.raw"
	run_q -src "$cut" -dst "$T/new.raw"
	[ "$RC" = 1 ] || fail "truncated $f: exit $RC, want 1"
	grep -q "$(basename "$cut"): .*truncated" "$T/err.txt" ||
		fail "truncated $f: message: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && fail "truncated $f: the target was created"
	note "ok: truncated $(basename "$f") refused"
}

# fails_clean FILE: flashing FILE fails with exit 1 and a message naming
# it, and leaves the target without a partition table (if it made one).
fails_clean() {
	rm -f "$T/new.raw"
	run_q -src "$1" -dst "$T/new.raw"
	[ "$RC" = 1 ] || fail "$1: exit $RC, want 1"
	grep -q "$(basename "$1"): " "$T/err.txt" ||
		fail "$1: message: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && blkid -p "$T/new.raw" 2>/dev/null | grep -q PTTYPE &&
		fail "$1: the target looks partitioned"
	return 0
}

# refused_with WHAT PATTERN: the last run_q exited 1 with PATTERN in its
# message, leaving $T/new.raw absent or without a partition table.
refused_with() {
	[ "$RC" = 1 ] || fail "$1: exit $RC, want 1"
	grep -q "$2" "$T/err.txt" || fail "$1: message: $(cat "$T/err.txt")"
	[ -e "$T/new.raw" ] && blkid -p "$T/new.raw" 2>/dev/null | grep -q PTTYPE &&
		fail "$1: the target looks partitioned"
	return 0
}

# corrupt_fails FILE [OFFSET]: FILE with 8 bytes flipped at OFFSET (the
# middle by default) fails with exit 1 and a message naming it, and the
# target is left without a partition table.
corrupt_fails() {
	local f=$1 bad off
	bad=$T/bad.$(basename "$f")
	off=${2:-$(($(file_size "$f") / 2))}
	cp "$f" "$bad"
	python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = bytes(x ^ 0x5a for x in f.read(8))
    f.seek(int(sys.argv[2]))
    f.write(b)' "$bad" "$off" || fail "corrupting $bad"
	fails_clean "$bad"
	note "ok: corrupt $(basename "$f") fails: $(head -n 1 "$T/err.txt")"
}

# trailing_refused FILE: FILE with garbage after its end fails (exit 1)
# and leaves no partition table behind.
trailing_refused() {
	local f=$1 tr
	tr=$T/trail.$(basename "$f")
	{ cat "$f"; printf 'garbage!'; } >"$tr"
	fails_clean "$tr"
	note "ok: garbage after $(basename "$f") refused"
}

# checksum_right REF FILE: FILE flashes to REF with -sha256 of FILE (the
# compressed bytes), and the check is reported.
checksum_right() {
	local sum
	sum=$(sha256sum "$2" | cut -c1-64)
	flash_same "$1" "$2" -sha256 "$sum"
	grep -q 'matches its published SHA-256' "$T/err.txt" ||
		fail "$2: the check is not reported: $(cat "$T/err.txt")"
	run_q -src "$2" -dst "$T/new.raw" -sha256 "$(printf '%064d' 0)"
	[ "$RC" = 1 ] || fail "$2 with a wrong checksum: exit $RC"
	grep -q "$sum" "$T/err.txt" || fail "$2: the digest is not named"
	note "ok: -sha256 of $(basename "$2")"
}

# odd_sizes EXT COMPRESS...: images whose size is not whole sectors,
# compressed by COMPRESS (reading stdin, writing stdout), read as whole
# sectors with zeros at the end.
odd_sizes() {
	local z=$1 n
	shift
	for n in $((3 << 20)) $(((6 << 20) + 300)) 1000; do
		rand_file "$T/odd.img" $n 5
		cp "$T/odd.img" "$T/odd.ref"
		truncate -s $(((n + 511) / 512 * 512)) "$T/odd.ref"
		"$@" <"$T/odd.img" >"$T/odd.img.$z" || fail "$* odd.img"
		flash_same "$T/odd.ref" "$T/odd.img.$z"
	done
	note "ok: .$z sizes that are not whole sectors"
}
