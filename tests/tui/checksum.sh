#!/bin/bash
# checksum.sh - a published SHA-256 beside a compressed image: the image
# screen names the file it came from (and every partition's filesystem),
# the result screen says the flash matched it (green), or that it did
# not (red) and the target failed without a partition table.  A bmap
# beside it is named too.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
. "$top_srcdir/tests/tui/tuilib.sh"
need_cmd sfdisk
need_cmd sha256sum
need_cmd gzip

make_gpt_disk "$T/disk.img" 128M
mkdir "$T/pub"
gzip -c "$T/disk.img" >"$T/pub/disk.img.gz"
(cd "$T/pub" && sha256sum disk.img.gz >SHA256SUMS)

tui_start -- --target "$T/out.img" "$T/pub/disk.img.gz"
tui_wait "SHA-256:      from SHA256SUMS"
# The ext4 at 65 MiB lies beyond the stream's head, and is named too.
tui_screen | grep -Eq "root fs +ext4 +rootfs" ||
	fail "partition 2 of the gzip image has no filesystem: $(tui_screen)"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "Flash complete: 1 of 1 targets OK." 60
tui_wait "Checksum: the image matches the SHA-256 from SHA256SUMS"
line=$(tui_line_attrs "Checksum: the image matches")
has_sgr "$line" 32 || fail "the matching checksum is not shown in green: $line"
tui_keys q
tui_expect_exit 0
same "$T/out.img" "$T/disk.img"
note "ok: a matching SHA256SUMS is named on the image screen and the result"

# The same gzip file listed with another digest: sizing the image reads
# the whole file, so it is refused as it is opened.
bad=$(printf '%064d' 0)
printf '%s  disk.img.gz\n' "$bad" >"$T/pub/SHA256SUMS"
tui_start -- --target "$T/out.img" "$T/pub/disk.img.gz"
tui_wait "this is not the image that was published"
tui_keys Enter
tui_wait "Path or URL:"
tui_keys q
tui_expect_exit 0
note "ok: a gzip image that does not match SHA256SUMS is refused on opening"

# A zstd file records its size, so its digest is only known at the end of
# the flash: the flash fails, in red, and leaves no table behind.
need_cmd zstd
zstd -q -c "$T/disk.img" >"$T/pub/disk.img.zst"
printf '%s  disk.img.zst\n' "$bad" >"$T/pub/SHA256SUMS"
make_gpt_disk "$T/old.img" 128M
cp "$T/old.img" "$T/out.img"
tui_start -- --target "$T/out.img" "$T/pub/disk.img.zst"
tui_wait "SHA-256:      from SHA256SUMS"
tui_select_whole_disk 1
tui_type yes
tui_keys Enter
tui_wait "The flash failed for 1 of 1 targets." 60
tui_wait "does NOT match the SHA-256 from SHA256SUMS"
line=$(tui_line_attrs "Checksum: the image does NOT match")
has_sgr "$line" 31 || fail "the checksum mismatch is not shown in red: $line"
tui_keys q
tui_expect_exit 1
if command -v blkid >/dev/null 2>&1; then
	pt=$(blkid -p -s PTTYPE -o value "$T/out.img" 2>/dev/null || :)
	[ -z "$pt" ] || fail "after the mismatch the target still has a $pt table"
fi
note "ok: a zstd image that does not match fails the flash, in red, no table left"

# Nothing published: the image screen says so.
rm "$T/pub/SHA256SUMS"
tui_start -- --target "$T/out.img" "$T/pub/disk.img.zst"
tui_wait "none published"
tui_keys q
tui_expect_exit 0
note "ok: no checksum published"

# A bmap beside the image is named with what it maps.
if command -v bmaptool >/dev/null 2>&1; then
	bmaptool create "$T/disk.img" -o "$T/pub/disk.img.bmap" 2>/dev/null ||
		fail "bmaptool create failed"
	tui_start -- --target "$T/out.img" "$T/pub/disk.img.zst"
	tui_wait "Bmap:"
	tui_screen | grep -Eq "Bmap: +[0-9.]+ MiB mapped, disk.img.bmap" ||
		fail "the bmap is not shown: $(tui_screen)"
	tui_keys q
	tui_expect_exit 0
	note "ok: the bmap is shown"
fi
