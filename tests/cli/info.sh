#!/bin/bash
# info.sh - -info (text and -json) shows the header, the backing chain and
# the internal snapshots of an image.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
need_cmd qemu-img qemu-io python3

# A three-layer chain: raw base, version 2 middle (4 KiB clusters), version
# 3 top (64 KiB clusters, zstd, lazy refcounts) with two snapshots.
truncate -s 20M "$T/base.raw"
qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 \
	-b "$T/base.raw" -F raw "$T/mid.qcow2" 20M || fail "create mid"
qemu-img create -q -f qcow2 \
	-o cluster_size=65536,compression_type=zstd,lazy_refcounts=on \
	-b "$T/mid.qcow2" -F qcow2 "$T/top.qcow2" 24M || fail "create top"
qio "$T/top.qcow2" "write -P 0x42 0 1M"
qemu-img snapshot -c first "$T/top.qcow2" || fail "snapshot first"
qemu-img snapshot -c second "$T/top.qcow2" || fail "snapshot second"
IMG=$T/top.qcow2
VSIZE=$((24 << 20))

# ------------------------------------------------------------------ text
run_ok -src "$IMG" -info
sed 's/^/# /' "$T/out.txt"
o=$T/out.txt
grep -q 'top.qcow2' "$o" || fail "-info does not name the image"
grep -Eq "$VSIZE|24 MiB|24M" "$o" || fail "-info lacks the virtual size"
grep -Eq '65536|64 KiB|64K' "$o" || fail "-info lacks the top's cluster size"
grep -Eq '4096|4 KiB|4K' "$o" || fail "-info lacks the middle's cluster size"
grep -q 'mid.qcow2' "$o" || fail "-info lacks the backing file mid.qcow2"
grep -q 'base.raw' "$o" || fail "-info lacks the backing file base.raw"
grep -qi 'zstd' "$o" || fail "-info lacks the compression type"
grep -qw 'first' "$o" || fail "-info lacks snapshot 'first'"
grep -qw 'second' "$o" || fail "-info lacks snapshot 'second'"
grep -w first "$o" | grep -Eq '(^|[^0-9])1([^0-9]|$)' ||
	fail "-info lacks the id of snapshot 'first'"
grep -Eiq 'version[^0-9]*3|v3' "$o" || fail "-info lacks version 3"
note "ok: -info text"

# ------------------------------------------------------------------ JSON
run_ok -src "$IMG" -info -json
python3 - "$T/out.txt" "$VSIZE" <<'EOF' || fail "-info -json is wrong (above)"
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit("-info -json output is not JSON: %s" % e)
vsize = int(sys.argv[2])
# The contract fixes no schema for -info, so look for the facts wherever
# they sit, by the names of struct qf_layer_info / qf_snapshot_info.
objs = []
def walk(x):
    if isinstance(x, dict):
        objs.append(x)
        for v in x.values():
            walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
walk(doc)
errs = []
def find(pred):
    return [o for o in objs if pred(o)]
def named(o, suffix):
    return any(isinstance(v, str) and v.endswith(suffix) for v in o.values())
top = find(lambda o: named(o, "top.qcow2") and o.get("cluster_size") == 65536)
mid = find(lambda o: named(o, "mid.qcow2") and o.get("cluster_size") == 4096)
base = find(lambda o: named(o, "base.raw") and o.get("format") == "raw")
if not top:
    errs.append("no layer object for top.qcow2 with cluster_size 65536")
else:
    t = top[0]
    for k, v in (("version", 3), ("virtual_size", vsize),
                 ("compression", "zstd"), ("lazy_refcounts", True),
                 ("format", "qcow2")):
        if t.get(k) != v:
            errs.append("top %s = %r, want %r" % (k, t.get(k), v))
if not mid:
    errs.append("no layer object for mid.qcow2 with cluster_size 4096")
elif mid[0].get("version") != 2:
    errs.append("mid version = %r, want 2" % mid[0].get("version"))
if not base:
    errs.append("no layer object for base.raw with format raw")
snaps = find(lambda o: o.get("name") in ("first", "second") and "id" in o)
got = sorted((str(o["id"]), o["name"]) for o in snaps)
if got != [("1", "first"), ("2", "second")]:
    errs.append("snapshots (id, name) = %r" % got)
if errs:
    print(json.dumps(doc, indent=1), file=sys.stderr)
    sys.exit("\n".join(errs))
EOF
note "ok: -info -json"

# -info on an image without backing file or snapshots works too
qemu-img create -q -f qcow2 "$T/plain.qcow2" 5M || fail "create plain"
run_ok -src "$T/plain.qcow2" -info -json
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/out.txt" ||
	fail "-info -json of a plain image is not JSON"

# ------------------------------------------------------- compression
# The header's compression type (deflate when the field is absent) is
# only shown for an image that compresses something.
comp() {  # comp IMG: "text JSON" compression of the top layer
	run_ok -src "$1" -info
	printf '%s ' "$(sed -n 's/^compression: *//p' "$T/out.txt")"
	run_ok -src "$1" -info -json
	python3 -c 'import json, sys
print(json.dumps(json.load(open(sys.argv[1]))["chain"][0]["compression"]))' \
		"$T/out.txt"
}
qio "$T/plain.qcow2" "write -P 0x11 0 1M"
c=$(comp "$T/plain.qcow2")
[ "$c" = "none null" ] || fail "uncompressed image: compression '$c', want 'none null'"
qemu-img convert -q -c -O qcow2 "$T/plain.qcow2" "$T/deflate.qcow2" ||
	fail "qemu-img convert -c"
c=$(comp "$T/deflate.qcow2")
[ "$c" = 'deflate "deflate"' ] || fail "deflate image: compression '$c'"
note "ok: compression shown only for images that compress"
exit 0
