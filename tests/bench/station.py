"""The station section of tests/bench/bench.py: three drives plugged into
a station's slots together, against three one-off flashes of the same
drives one after the other, and the media test's time per drive.

Slots are loop devices made at numbers of their own (LOOP_CTL_ADD); a
drive is a tmpfs file attached to one.  Times are taken as the station's
JSON lines arrive: from the moment the drives are attached to the last
PASS, and per drive from "qualifying" to "writing".
"""
import fcntl
import json
import os
import subprocess
import threading
import time

import bench

LOOP_CTL_ADD, LOOP_CTL_REMOVE = 0x4C80, 0x4C81
NDRIVES = 3


def make_slots(n):
    fd = os.open("/dev/loop-control", os.O_RDWR)
    nums = []
    try:
        k = 900
        while len(nums) < n:
            k += 1
            if os.path.exists("/sys/block/loop%d" % k):
                continue
            fcntl.ioctl(fd, LOOP_CTL_ADD, k)
            nums.append(k)
    finally:
        os.close(fd)
    for k in nums:
        for _ in range(50):
            if os.path.exists("/dev/loop%d" % k):
                break
            time.sleep(0.1)
    return nums


def remove_slots(nums):
    fd = os.open("/dev/loop-control", os.O_RDWR)
    try:
        for k in nums:
            subprocess.run(["losetup", "-d", "/dev/loop%d" % k],
                           stderr=subprocess.DEVNULL)
            for _ in range(50):
                try:
                    fcntl.ioctl(fd, LOOP_CTL_REMOVE, k)
                    break
                except OSError:
                    time.sleep(0.1)
    finally:
        os.close(fd)


def drive_files(size):
    files = [os.path.join(bench.SHM, bench.TAG + "station%d" % i)
             for i in range(NDRIVES)]
    for f in files:
        with open(f, "wb") as fh:
            fh.truncate(size)
    return files


def one_offs(image, nums, files):
    """Three flashes one after the other, each to its slot's drive."""
    t0 = time.monotonic()
    for k, f in zip(nums, files):
        bench.run(["losetup", "/dev/loop%d" % k, f])
        try:
            bench.run([bench.QFLASH, "-src", image, "-dst", "/dev/loop%d" % k,
                       "-verify"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
        finally:
            bench.run(["losetup", "-d", "/dev/loop%d" % k])
    return time.monotonic() - t0


def station_run(image, nums, files, qualify):
    """The drives plugged in together; seconds to the last PASS and the
    media test's seconds per drive."""
    logdir = os.path.join(bench.SHM, bench.TAG + "stationlog")
    os.makedirs(logdir, exist_ok=True)
    cmd = [bench.QFLASH, "-station", "-src", image, "-verify",
           "-log", os.path.join(logdir, "flash.log")]
    for k in nums:
        cmd += ["-slot", "loop%d" % k]
    if qualify:
        cmd.append("-qualify")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    seen = {}
    armed = threading.Event()
    done = threading.Event()

    def reader():
        for line in p.stdout:
            ev = json.loads(line)
            now = time.monotonic()
            if ev.get("event") == "armed":
                armed.set()
            if ev.get("event") == "slot":
                seen.setdefault(ev["slot"], []).append((ev["state"], now))
                passes = sum(1 for v in seen.values()
                             for s, _ in v if s in ("pass", "fail"))
                if passes >= len(nums):
                    done.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        if not armed.wait(60):
            raise RuntimeError("the station did not arm")
        time.sleep(1)
        t0 = time.monotonic()
        for k, f in zip(nums, files):
            bench.run(["losetup", "/dev/loop%d" % k, f])
        if not done.wait(900):
            raise RuntimeError("the station did not finish the drives")
        wall = time.monotonic() - t0
    finally:
        p.terminate()
        p.wait()
        for k in nums:
            subprocess.run(["losetup", "-d", "/dev/loop%d" % k],
                           stderr=subprocess.DEVNULL)
        for f in os.listdir(logdir):
            path = os.path.join(logdir, f)
            if os.path.isdir(path):
                for g in os.listdir(path):
                    os.unlink(os.path.join(path, g))
                os.rmdir(path)
            else:
                os.unlink(path)
        os.rmdir(logdir)
    results = [s for v in seen.values() for s, _ in v if s in ("pass", "fail")]
    if results.count("pass") != len(nums):
        raise RuntimeError("station results: %s" % results)
    qual = []
    for v in seen.values():
        t_q = [t for s, t in v if s == "qualifying"]
        t_w = [t for s, t in v if s == "writing"]
        if t_q and t_w:
            qual.append(t_w[0] - t_q[0])
    return wall, qual


def section_station(imgs):
    if not bench.ROOT or not os.path.exists("/dev/loop-control"):
        print("\n(station section skipped: needs root and loop devices)")
        return
    bench.log("station: three drives together against three one-off flashes ...")
    image = imgs["zstd"]
    nums = make_slots(NDRIVES)
    files = drive_files(2 * bench.GiB + 256 * bench.MiB)
    rows = []
    try:
        bench.warm_up(image, files[0])
        one, sta, staq, qual = [], [], [], []
        for _ in range(bench.ROUNDS):
            one.append(one_offs(image, nums, files))
            sta.append(station_run(image, nums, files, False)[0])
            w, q = station_run(image, nums, files, True)
            staq.append(w)
            qual += q
        m1, ms, mq = bench.median(one), bench.median(sta), bench.median(staq)
        rows.append(("3 one-off flashes, one after the other", "%.2f" % m1,
                     "1.00", "-"))
        rows.append(("station, 3 drives plugged in together", "%.2f" % ms,
                     "%.2f" % (ms / m1), "-"))
        rows.append(("station with -qualify", "%.2f" % mq, "%.2f" % (mq / m1),
                     "%.2f" % bench.median(qual) if qual else "-"))
    finally:
        remove_slots(nums)
        for f in files:
            if os.path.exists(f):
                os.unlink(f)
    bench.print_table(["case", "seconds", "vs one-offs", "media test s/drive"],
                      rows,
                      "(2 GiB zstd qcow2 with -verify onto three 2.25 GiB "
                      "loop devices over tmpfs; median of %d rounds; the "
                      "station's time runs from plugging in to the last PASS)"
                      % bench.ROUNDS)
