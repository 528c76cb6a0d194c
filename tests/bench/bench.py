#!/usr/bin/env python3
"""Benchmark qflash against qemu-img convert on images made at run time.

Images: a 2 GiB GPT disk (64 MiB FAT32 EFI partition, ext4 root filled
with about 870 MB of files copied from /usr) as plain, deflate- and
zstd-compressed qcow2, and a 1 TiB image holding a few MiB.  Targets: loop
devices over files on tmpfs when run as root, files on tmpfs otherwise.
Runs alternate between the two tools; the table shows median wall times,
their ratio and peak RSS.  It measures; it passes or fails nothing.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QFLASH = os.environ.get("QFLASH", "src/qflash")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORK = os.environ.get("BENCH_DIR", "/var/tmp/qflash-bench")
SHM = os.environ.get("BENCH_SHM", "/dev/shm")
ROOT = os.geteuid() == 0
MiB = 1 << 20
GiB = 1 << 30


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd):
    """Wall time and peak RSS (KiB) of one command."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("failed: %s" % " ".join(cmd))
    return dt, ru.ru_maxrss


def fill_root(dest, want):
    """Copy regular files from /usr into dest until about @want bytes."""
    total = 0
    for top in ("/usr/share", "/usr/lib", "/usr/bin", "/usr/include"):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                src = os.path.join(dirpath, name)
                if os.path.islink(src) or not os.path.isfile(src):
                    continue
                try:
                    size = os.path.getsize(src)
                except OSError:
                    continue
                rel = os.path.relpath(src, "/usr")
                dst = os.path.join(dest, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                try:
                    shutil.copyfile(src, dst)
                except OSError:
                    continue
                total += size
                if total >= want:
                    return total
    return total


def make_images():
    os.makedirs(WORK, exist_ok=True)
    disk = os.path.join(WORK, "disk.raw")
    names = {k: os.path.join(WORK, k + ".qcow2")
             for k in ("plain", "deflate", "zstd", "big1t")}
    if all(os.path.exists(p) for p in names.values()):
        return names
    print("making benchmark images in %s ..." % WORK, file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        copied = fill_root(root, 870 * 10**6)
        print("  root filesystem data: %d MB" % (copied // 10**6),
              file=sys.stderr)
        efi = os.path.join(tmp, "efi.img")
        rootimg = os.path.join(tmp, "root.img")
        run(["mkfs.vfat", "-F", "32", "-n", "EFI", "-C", efi,
             str(64 * 1024)], stdout=subprocess.DEVNULL)
        root_size = 2 * GiB - 66 * MiB - 1 * MiB
        run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, rootimg,
             "%dK" % (root_size // 1024)])
        with open(disk, "wb") as f:
            f.truncate(2 * GiB)
        table = ("label: gpt\n"
                 "start=2048, size=131072, type=U, name=EFI\n"
                 "start=133120, type=L, name=root\n")
        run(["sfdisk", "-q", disk], input=table.encode())
        for img, off in ((efi, 1 * MiB), (rootimg, 65 * MiB)):
            run(["dd", "if=" + img, "of=" + disk, "bs=4M", "conv=notrunc,sparse",
                 "oflag=seek_bytes", "seek=%d" % off, "status=none"])
    run(["qemu-img", "convert", "-O", "qcow2", disk, names["plain"]])
    run(["qemu-img", "convert", "-c", "-O", "qcow2", disk, names["deflate"]])
    run(["qemu-img", "convert", "-c", "-O", "qcow2", "-o",
         "compression_type=zstd", disk, names["zstd"]])
    run(["qemu-img", "create", "-q", "-f", "qcow2", names["big1t"], "1T"])
    run(["qemu-io", "-c", "write -P 0x5a 0 2M", "-c", "write -P 0xa5 512G 2M",
         "-c", "write -P 0x33 1023G 2M", names["big1t"]],
        stdout=subprocess.DEVNULL)
    os.unlink(disk)
    return names


class Target:
    """A loop device over a tmpfs file (root) or the tmpfs file itself."""

    def __init__(self, name, size):
        self.file = os.path.join(SHM, "qflash-bench-" + name)
        with open(self.file, "wb") as f:
            f.truncate(size)
        self.path = self.file
        self.loop = None
        if ROOT:
            out = run(["losetup", "-f", "--show", self.file],
                      capture_output=True, text=True).stdout.strip()
            self.loop = self.path = out

    def close(self):
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop])
        os.unlink(self.file)


def median(xs):
    return statistics.median(xs)


def compare(label, image, target_path, fresh=None):
    q_t, q_r, i_t, i_r = [], [], [], []
    for _ in range(ROUNDS):
        if fresh:
            fresh()
        t, r = timed([QFLASH, "-src", image, "-dst", target_path])
        q_t.append(t)
        q_r.append(r)
        if fresh:
            fresh()
        t, r = timed(["qemu-img", "convert", "-m", "16", "-W", "-n", "-O",
                      "raw", image, target_path] if not fresh else
                     ["qemu-img", "convert", "-m", "16", "-W", "-O", "raw",
                      image, target_path])
        i_t.append(t)
        i_r.append(r)
    return (label, median(q_t), median(i_t), median(q_t) / median(i_t),
            max(q_r) / 1024, max(i_r) / 1024)


def main():
    if not shutil.which("qemu-img"):
        raise SystemExit("qemu-img is needed (package qemu-utils)")
    imgs = make_images()
    rows = []
    disk = Target("disk", 2 * GiB)
    try:
        for k in ("plain", "deflate", "zstd"):
            rows.append(compare("2 GiB %s -> %s" % (k, "loop" if ROOT else "file"),
                                imgs[k], disk.path))
    finally:
        disk.close()

    newfile = os.path.join(SHM, "qflash-bench-new.raw")

    def remove_new():
        if os.path.exists(newfile):
            os.unlink(newfile)
    rows.append(compare("1 TiB sparse -> new file", imgs["big1t"], newfile,
                        fresh=remove_new))
    remove_new()
    if ROOT:
        big = Target("big", 1 << 40)
        try:
            rows.append(compare("1 TiB sparse -> loop", imgs["big1t"], big.path))
        finally:
            big.close()

    # Four targets at once against one, and verification speed.
    extra = []
    targets = [Target("m%d" % i, 2 * GiB) for i in range(4)]
    try:
        one, four, ver = [], [], []
        for _ in range(ROUNDS):
            one.append(timed([QFLASH, "-src", imgs["zstd"], "-dst",
                              targets[0].path])[0])
            args = [QFLASH, "-src", imgs["zstd"]]
            for t in targets:
                args += ["-dst", t.path]
            four.append(timed(args)[0])
            ver.append(timed([QFLASH, "-src", imgs["plain"], "-verify-only",
                              "-dst", targets[0].path])[0])
        extra.append(("zstd, 1 target", median(one)))
        extra.append(("zstd, 4 targets", median(four)))
        extra.append(("4 targets / 1 target", median(four) / median(one)))
        extra.append(("verify-only 2 GiB, GB/s", 2 * GiB / median(ver) / 1e9))
    finally:
        for t in targets:
            t.close()

    print()
    print("| case | qflash s | qemu-img s | ratio | qflash RSS MiB | qemu-img RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.3f | %.3f | %.2f | %.1f | %.1f |" % r)
    print()
    print("| multi-target / verify | value |")
    print("|---|---|")
    for name, v in extra:
        print("| %s | %.3f |" % (name, v))
    print("\n(median of %d alternating runs, %d CPUs, %s)" %
          (ROUNDS, os.cpu_count(), "loop devices on tmpfs" if ROOT else
           "files on tmpfs"))


if __name__ == "__main__":
    main()
