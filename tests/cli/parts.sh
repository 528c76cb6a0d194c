#!/bin/bash
# parts.sh - -list-parts (text and JSON) agrees with sfdisk and blkid, and
# -write-parts writes exactly each partition's byte range.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img python3 sfdisk blkid mkfs.vfat mkfs.ext4 mkswap

# check_json RAW JSONFILE: compare qflash's -list-parts -json with sfdisk
# --json of the raw disk and with blkid -p of each partition.
check_json() {
	local raw=$1 js=$2 n
	sfdisk --json "$raw" >"$T/sfdisk.json" || fail "sfdisk --json $raw"
	rm -f "$T"/blkid.*
	for n in $(python3 -c '
import json, re, sys
for p in json.load(open(sys.argv[1]))["partitiontable"]["partitions"]:
    print(re.search(r"(\d+)$", p["node"]).group(1))' "$T/sfdisk.json"); do
		extract_part "$raw" "$n" "$T/part.bin"
		blkid -p -o export "$T/part.bin" >"$T/blkid.$n" 2>/dev/null
	done
	python3 - "$T/sfdisk.json" "$js" "$T" "$(basename "$IMG")" <<'EOF' ||
import json, os, re, sys
sf = json.load(open(sys.argv[1]))["partitiontable"]
try:
    q = json.load(open(sys.argv[2]))
except ValueError as e:
    sys.exit("-list-parts -json output is not JSON: %s" % e)
tdir, base = sys.argv[3], sys.argv[4]
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append("%s: got %r, want %r" % (what, got, exp))
want("table", q.get("table"), sf["label"])
want("disk_id", str(q.get("disk_id", "")).upper(), sf["id"].upper())
want("sector_size", q.get("sector_size"), sf.get("sectorsize", 512))
if not str(q.get("image", "")).endswith(base):
    errs.append("image %r does not name %s" % (q.get("image"), base))
qp = {p.get("number"): p for p in q.get("partitions", [])}
ss = sf.get("sectorsize", 512)
extended = ("5", "f", "85")
for p in sf["partitions"]:
    n = int(re.search(r"(\d+)$", p["node"]).group(1))
    is_ext = sf["label"] == "dos" and p["type"].lower() in extended
    if n not in qp:
        if not is_ext:
            errs.append("partition %d missing" % n)
        continue
    x = qp.pop(n)
    w = lambda k, v: want("partition %d %s" % (n, k), x.get(k), v)
    w("start_sector", p["start"])
    w("sectors", p["size"])
    w("end_sector", p["start"] + p["size"] - 1)
    w("start", p["start"] * ss)
    w("size", p["size"] * ss)
    w("end", (p["start"] + p["size"]) * ss - 1)
    if sf["label"] == "gpt":
        w("type", p["type"].upper())
        w("uuid", p["uuid"].upper())
        w("name", p.get("name", ""))
    else:
        t = str(x.get("type", ""))
        if not t.startswith("0x") or int(t, 16) != int(p["type"], 16):
            errs.append("partition %d type %r, want 0x%s" % (n, t, p["type"]))
        w("bootable", bool(p.get("bootable", False)))
        if not is_ext:
            w("logical", n >= 5)
    if is_ext:
        continue
    bl = {}
    for line in open(os.path.join(tdir, "blkid.%d" % n)):
        k, _, v = line.rstrip("\n").partition("=")
        bl[k] = v
    w("fs_type", bl.get("TYPE", ""))
    w("fs_label", bl.get("LABEL", ""))
    w("fs_uuid", bl.get("UUID", ""))
for n in qp:
    errs.append("partition %r listed but sfdisk does not know it" % n)
if errs:
    sys.exit("\n".join(errs))
EOF
		fail "$(basename "$IMG") -list-parts -json disagrees (above)"
}

# check_text: every formatted partition has a row with its number and
# filesystem type; the table kind is named.
check_text() {
	local kind=$1 n fs
	grep -Eqi "$kind" "$T/out.txt" || fail "-list-parts text does not say $kind"
	while read -r n fs; do
		grep -Eq "(^|[^0-9])$n([^0-9]|$).*$fs|$fs.*(^|[^0-9])$n([^0-9]|$)" \
			"$T/out.txt" ||
			fail "-list-parts text has no row for partition $n ($fs)"
	done
}

# --------------------------------------------------------------- GPT disk
make_gpt_disk "$T/gpt.raw" 100M
IMG=$T/gpt.qcow2
qemu-img convert -O qcow2 "$T/gpt.raw" "$IMG" || fail "convert gpt"

run_ok -src "$IMG" -list-parts
check_text gpt <<'EOF'
1 vfat
2 ext4
EOF
grep -q 'EFI' "$T/out.txt" || fail "-list-parts text lacks the EFI name"
grep -q 'root fs' "$T/out.txt" || fail "-list-parts text lacks 'root fs'"

run_ok -src "$IMG" -list-parts -json
cp "$T/out.txt" "$T/gpt.json"
check_json "$T/gpt.raw" "$T/gpt.json"
python3 - "$T/gpt.json" <<'EOF' || fail "GPT type names wrong"
import json, sys
p = {x["number"]: x for x in json.load(open(sys.argv[1]))["partitions"]}
assert p[1]["type_name"] == "EFI System", p[1]["type_name"]
assert p[2]["type_name"] == "Linux filesystem", p[2]["type_name"]
assert p[1]["logical"] is False and p[1]["bootable"] is False
EOF
note "ok: GPT -list-parts"

# -write-parts: new files, an existing larger one, an existing smaller one
extract_part "$T/gpt.raw" 1 "$T/ref1.bin"
extract_part "$T/gpt.raw" 2 "$T/ref2.bin"
run_ok -src "$IMG" -write-parts "1=$T/a.bin,2=$T/b.bin"
same "$T/ref1.bin" "$T/a.bin"
same "$T/ref2.bin" "$T/b.bin"
rand_file "$T/a.bin" $((80 << 20)) 5
rand_file "$T/b.bin" $((1 << 20)) 6
run_ok -src "$IMG" -write-parts "1=$T/a.bin,2=$T/b.bin"
same "$T/ref1.bin" "$T/a.bin"
same "$T/ref2.bin" "$T/b.bin"
run_ok -src "$IMG" --write-parts="2=$T/c.bin"
same "$T/ref2.bin" "$T/c.bin"
note "ok: GPT -write-parts"

# a partition that does not exist: refused, nothing created
run_q -src "$IMG" -write-parts "9=$T/nine.bin"
[ "$RC" = 1 ] || [ "$RC" = 2 ] || fail "-write-parts 9=: exit $RC"
grep -q 9 "$T/err.txt" || fail "-write-parts 9=: message does not name 9"
[ -e "$T/nine.bin" ] && fail "-write-parts 9= created its file"

# --------------------------------------------------------------- MBR disk
make_mbr_disk "$T/mbr.raw" 64M
IMG=$T/mbr.qcow2
qemu-img convert -O qcow2 -o cluster_size=4096 "$T/mbr.raw" "$IMG" ||
	fail "convert mbr"
run_ok -src "$IMG" -list-parts
check_text "dos|mbr" <<'EOF'
1 ext4
2 vfat
5 ext4
6 swap
EOF
run_ok -src "$IMG" -list-parts -json
cp "$T/out.txt" "$T/mbr.json"
check_json "$T/mbr.raw" "$T/mbr.json"
python3 - "$T/mbr.json" <<'EOF' || fail "MBR numbering/flags wrong"
import json, sys
p = {x["number"]: x for x in json.load(open(sys.argv[1]))["partitions"]}
for n in (5, 6, 7):
    assert n in p and p[n]["logical"] is True, n
assert p[1]["bootable"] is True and p[2]["bootable"] is False
assert p[1]["uuid"] == "" and p[1]["name"] == ""
EOF
note "ok: MBR -list-parts"

for n in 1 2 5 6 7; do
	extract_part "$T/mbr.raw" $n "$T/ref$n.bin"
done
run_ok -src "$IMG" -write-parts "1=$T/m1.bin,5=$T/m5.bin,6=$T/m6.bin,7=$T/m7.bin"
for n in 1 5 6 7; do
	same "$T/ref$n.bin" "$T/m$n.bin"
done
note "ok: MBR -write-parts"

# ------------------------------------------------------ no table at all
IMG=$T/blank.qcow2
qemu-img create -q -f qcow2 "$IMG" 8M || fail "create blank"
run_ok -src "$IMG" -list-parts -json
python3 - "$T/out.txt" <<'EOF' || fail "blank disk: wrong -list-parts -json"
import json, sys
q = json.load(open(sys.argv[1]))
assert q["table"] == "" and q["partitions"] == [], q
EOF
note "ok: disk without a partition table"

exit 0
