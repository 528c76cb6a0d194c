"""The formats and WAN sections of the benchmark (see bench.py).

formats  the 2 GiB bench disk as .img.gz, .img.xz (xz -T2), .img.bz2
         (lbzip2), .img.lz4 and .img.zst, each with the bmap bmaptool
         makes of the raw disk: qflash onto a loop device against bmaptool
         with the same bmap, and the decoder's own floor (the format's
         tool decoding to /dev/null), alternating runs
wan      the same files from nginx behind tests/http/delayline.py (40 ms
         round trip, 40 MB/s): qflash against curl downloading the file
         through the same line
"""
import os
import shutil
import subprocess
import time

import bench
from bench import GiB, ROUNDS, log, median, print_table, run, timed

# name: (suffix, compress command (stdin -> stdout), floor command (file
# -> /dev/null), tools needed)
FORMATS = {
    "gz": (".gz", ["gzip", "-6", "-n", "-c"], ["igzip", "-d", "-c"],
           ("gzip", "igzip")),
    "xz": (".xz", ["xz", "-T2", "-6", "-c"], ["xz", "-T2", "-d", "-c"],
           ("xz",)),
    "bz2": (".bz2", ["lbzip2", "-n2", "-c"], ["lbzip2", "-d", "-n2", "-c"],
            ("lbzip2",)),
    "lz4": (".lz4", ["lz4", "-q", "-c"], ["lz4", "-d", "-q", "-c"],
            ("lz4",)),
    "zst": (".zst", ["zstd", "-q", "-T2", "-c"], ["zstd", "-d", "-q", "-c"],
            ("zstd",)),
}


def make_files(imgs):
    """disk.img and its compressed copies with disk.img.bmap, in WORK."""
    d = os.path.join(bench.WORK, "formats")
    os.makedirs(d, exist_ok=True)
    raw = os.path.join(d, "disk.img")
    if not os.path.exists(raw):
        log("formats: making the raw disk and its compressed copies ...")
        run(["qemu-img", "convert", "-O", "raw", imgs["plain"], raw])
    bmap = raw + ".bmap"
    if shutil.which("bmaptool") and not os.path.exists(bmap):
        run(["bmaptool", "create", raw, "-o", bmap],
            stderr=subprocess.DEVNULL)
    files = {}
    for k, (suf, comp, _floor, tools) in FORMATS.items():
        out = raw + suf
        if not all(shutil.which(t) for t in tools[:1]):
            continue
        if not os.path.exists(out):
            with open(raw, "rb") as src, open(out + ".tmp", "wb") as dst:
                run(comp, stdin=src, stdout=dst)
            os.rename(out + ".tmp", out)
        files[k] = out
    return raw, (bmap if os.path.exists(bmap) else None), files


def floor_time(k, path):
    cmd = FORMATS[k][2]
    if not shutil.which(cmd[0]):
        return None
    t0 = time.monotonic()
    with open(path, "rb") as src:
        run(cmd, stdin=src, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def try_timed(cmd):
    try:
        return timed(cmd)[0]
    except (RuntimeError, subprocess.SubprocessError):
        return None


def fmt(x):
    return "%.2f" % x if x is not None else "-"


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"


def section_formats(imgs):
    raw, bmap, files = make_files(imgs)
    tgt = bench.Target("formats", 2 * GiB)
    rows = []
    try:
        bench.warm_up(files.get("zst", raw) if files else raw, tgt.path)
        for k, path in files.items():
            q, b, f = [], [], []
            for _ in range(ROUNDS):
                q.append(try_timed([bench.QFLASH, "-src", path, "-dst",
                                    tgt.path]))
                if bmap and shutil.which("bmaptool"):
                    b.append(try_timed(["bmaptool", "-q", "copy", "--bmap",
                                        bmap, path, tgt.path]))
                f.append(floor_time(k, path))
            qm = median(q) if None not in q else None
            bm = median(b) if b and None not in b else None
            fm = median(f) if None not in f else None
            rows.append(["%s (%d MB)" % (os.path.basename(path),
                                         os.path.getsize(path) // 10**6),
                         fmt(qm) if qm is not None else "refused",
                         fmt(bm), ratio(qm, bm),
                         "%s %s" % (fmt(fm), FORMATS[k][2][0]),
                         ratio(qm, fm)])
    finally:
        tgt.close()
    print_table(["image", "qflash s", "bmaptool s (same bmap)",
                 "qflash/bmaptool", "decoder floor s", "qflash/floor"],
                rows,
                "(median of %d alternating runs onto a loop device over "
                "tmpfs; the bmap beside each file; the floor is the "
                "format's own tool decoding to /dev/null.  Goals: gz <= "
                "0.25x bmaptool, xz and bz2 <= 0.5x, every format <= 1.3x "
                "its floor)" % ROUNDS)


def start_line(port, tmp, rtt_ms=40):
    portfile = os.path.join(tmp, "delayline.port")
    if os.path.exists(portfile):
        os.unlink(portfile)
    proc = subprocess.Popen(
        ["python3", os.path.join(bench.TOP_SRCDIR, "tests/http/delayline.py"),
         str(port), portfile, str(rtt_ms / 2), "40e6"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(portfile):
            with open(portfile) as fh:
                return proc, int(fh.read())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("delayline.py did not start")


WAN_RTTS = [int(x) for x in
            os.environ.get("BENCH_WAN_RTTS", "40 100 200").split()]


def section_wan(imgs):
    nginx_bin = bench.find_nginx()
    if not nginx_bin or not shutil.which("curl"):
        print("\n(WAN section skipped: nginx or curl is not installed)")
        return
    raw, bmap, files = make_files(imgs)
    www = os.path.dirname(raw)
    # The qcow2 images beside them, for nginx to serve from the same place.
    wan_files = {}
    for k in ("deflate", "zstd"):
        link = os.path.join(www, k + ".qcow2")
        if not os.path.exists(link):
            os.symlink(imgs[k], link)
        wan_files[k + ".qcow2"] = link
    wan_files.update(files)
    # What decoding alone takes here: a line faster than the decoder cannot
    # make the flash faster than that.
    floors = {k: median([floor_time(k, p) for _ in range(ROUNDS)])
              for k, p in files.items()}
    server = bench.Nginx(nginx_bin, www)
    tgt = bench.Target("wan", 2 * GiB)
    rows = []
    try:
        for rtt in WAN_RTTS:
            line, port = start_line(server.port, server.dir, rtt)
            try:
                base = "http://127.0.0.1:%d/" % port
                for k, path in wan_files.items():
                    url = base + os.path.basename(path)
                    q, c, rss = [], [], []
                    for _ in range(ROUNDS):
                        c.append(try_timed(["curl", "-s", "-o", "/dev/null",
                                            url]))
                        try:
                            dt, kb = bench.timed([bench.QFLASH, "-src", url,
                                                  "-dst", tgt.path])
                            q.append(dt)
                            rss.append(kb)
                        except (RuntimeError, subprocess.SubprocessError):
                            q.append(None)
                    qm = median(q) if None not in q else None
                    cm = median(c) if None not in c else None
                    fl = floors.get(k)
                    bound = max(cm, fl) if cm and fl else cm
                    rows.append(["%d ms" % rtt,
                                 "%s (%d MB)" % (os.path.basename(path),
                                                 os.path.getsize(path) // 10**6),
                                 fmt(qm) if qm is not None else "failed",
                                 fmt(cm), ratio(qm, cm),
                                 fmt(fl) if fl else "-",
                                 ratio(qm, bound) if fl else "-",
                                 "%d" % (max(rss) // 1024) if rss else "-"])
            finally:
                line.kill()
                line.wait()
    finally:
        tgt.close()
        server.stop()
    print_table(["round trip", "image over the line", "qflash s",
                 "curl download s", "qflash/curl", "decoder floor s",
                 "qflash/max(curl, floor)", "qflash max RSS MiB"], rows,
                "(median of %d alternating runs; nginx on 127.0.0.1 behind "
                "tests/http/delayline.py: half the round trip each way, "
                "40 MB/s each direction shared by all connections; qflash "
                "writes a loop device over tmpfs, curl writes /dev/null; "
                "the decoder floor is the format's own tool decoding the "
                "local file to /dev/null.  Goal: qflash/curl <= 1.10)"
                % ROUNDS)
