#!/usr/bin/env python3
"""Benchmark qflash against qemu-img convert on images made at run time.

Images: a 2 GiB GPT disk (64 MiB FAT32 EFI partition, ext4 root filled
with about 870 MB of files copied from /usr) as plain, deflate- and
zstd-compressed qcow2, and a 1 TiB image holding a few MiB.  Targets: loop
devices over files on tmpfs when run as root, files on tmpfs otherwise.

Sections (BENCH_SECTIONS, comma-separated, default all):
  convert  qflash against qemu-img convert, several targets, verify speed
  tui      qflash-tui in a detached tmux session against the CLI, and how
           fast the screen answers a key during a flash
  http     the images served by a private nginx on 127.0.0.1: qflash from
           the URL against the local file and against qemu's curl driver
  drive    what making a drive correct costs: the wipe before the data and
           the table written last (and read back) on a larger drive, with
           the GPT fix-up and with -exact
  formats  compressed raw images with their bmap against bmaptool and
           each decoder's floor (tests/bench/formats.py)
  wan      those images through a 40 MB/s delay line of 40, 100 and 200 ms
           round trip (BENCH_WAN_RTTS) against curl, with qflash's memory
  station  three drives plugged into a station together against three
           one-off flashes, and the media test's time per drive
           (tests/bench/station.py)

Runs alternate between the tools compared; the tables show medians of
BENCH_ROUNDS runs (3).  Images live in BENCH_DIR (/var/tmp/qflash-bench),
targets in BENCH_SHM (/dev/shm).  A qemu-img reading a URL that reads and
writes nothing for BENCH_QEMU_HTTP_STALL seconds (10) is killed and run
again, up to BENCH_QEMU_HTTP_TRIES times a round (4).  It measures; it
passes or fails nothing (it exits 1 only when a section could not run to
its end).
"""
import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

QFLASH = os.environ.get("QFLASH", "src/qflash")
QFLASH_TUI = os.environ.get("QFLASH_TUI", "src/qflash-tui")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORK = os.environ.get("BENCH_DIR", "/var/tmp/qflash-bench")
SHM = os.environ.get("BENCH_SHM", "/dev/shm")
SECTIONS = os.environ.get("BENCH_SECTIONS",
                          "convert,drive,tui,http,formats,wan,station"
                          ).split(",")
TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
ROOT = os.geteuid() == 0
MiB = 1 << 20
GiB = 1 << 30
# Everything this run leaves in SHM carries its pid, so two runs (or a
# leftover from a killed one) never share a file.
TAG = "qflash-bench-%d-" % os.getpid()
POLL = 0.01          # seconds between screen captures
TUI_COLS, TUI_LINES = 100, 30
HELP_TEXT = "Press any key to close this help."
# qemu-img convert over its curl driver: the usual options, and one
# request at a time, because with several in flight it can stall.
QEMU_HTTP_CONFIGS = {"-m 16 -W": ["-m", "16", "-W"], "-m 1": ["-m", "1"]}
QEMU_HTTP_STALL = int(os.environ.get("BENCH_QEMU_HTTP_STALL", "10"))
QEMU_HTTP_TRIES = int(os.environ.get("BENCH_QEMU_HTTP_TRIES", "4"))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Timeout(RuntimeError):
    pass


def _watch(p, timeout, stall, done, why):
    """Kill @p after @timeout seconds, or once its read and write counts
    have not moved for @stall seconds (0: never)."""
    start = last_change = time.monotonic()
    last = None
    while not done.wait(0.5):
        now = time.monotonic()
        if stall:
            try:
                with open("/proc/%d/io" % p.pid) as f:
                    io = [ln for ln in f if ln.startswith(("rchar", "wchar"))]
            except OSError:
                io = None
            if io != last:
                last, last_change = io, now
            elif now - last_change >= stall:
                why.append("made no progress for %d s" % stall)
                break
        if now - start >= timeout:
            why.append("did not finish within %d s" % timeout)
            break
    else:
        return
    p.kill()


def timed(cmd, timeout=900, stall=0):
    """Wall time and peak RSS (KiB) of one command; Timeout when it had to
    be killed (see _watch).  Its messages are shown only when it fails."""
    with tempfile.TemporaryFile("w+") as err:
        try:
            return _timed(cmd, timeout, stall, err)
        except RuntimeError as ex:
            err.seek(0)
            tail = [ln for ln in err.read().split("\n") if ln.strip()][-5:]
            raise type(ex)("\n  ".join([str(ex)] + tail)) from None


def _timed(cmd, timeout, stall, err):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                         stdin=subprocess.DEVNULL)
    done = threading.Event()
    why = []
    watcher = threading.Thread(target=_watch,
                               args=(p, timeout, stall, done, why))
    watcher.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:
        # Interrupted: leave no child running.
        p.kill()
        p.wait()
        raise
    finally:
        done.set()
        watcher.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.monotonic() - t0
    if why:
        raise Timeout("%s, killed: %s" % (why[0], " ".join(cmd)))
    if p.returncode != 0:
        raise RuntimeError("failed: %s" % " ".join(cmd))
    return dt, ru.ru_maxrss


def cpu_busy():
    """Seconds of CPU time the whole machine has spent busy (every process
    and kernel thread: a loop device's copies run in kernel workers)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def timed_cpu(cmd):
    """timed(), plus the machine's busy CPU seconds over the run."""
    c0 = cpu_busy()
    t, r = timed(cmd)
    return t, r, cpu_busy() - c0


def proc_cpu(pid):
    """CPU seconds (user + system) process @pid has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def last_duration(logfile):
    """The duration field of the last record in a flash log."""
    with open(logfile) as f:
        lines = [ln for ln in f if ln.strip()]
    rec = json.loads(lines[-1])
    if rec.get("result") != "ok":
        raise RuntimeError("flash log says %s: %s" % (rec.get("result"),
                                                     rec.get("error")))
    return float(rec["duration"])


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


# Targets not closed yet; main() closes what a failing section left.
_live_targets = []


class Target:
    """A loop device over a tmpfs file (root, unless @loop is False) or the
    tmpfs file itself."""

    def __init__(self, name, size, loop=True):
        self.file = os.path.join(SHM, TAG + name)
        self.path = self.file
        self.loop = None
        _live_targets.append(self)
        with open(self.file, "wb") as f:
            f.truncate(size)
        if ROOT and loop:
            try:
                out = run(["losetup", "-f", "--show", self.file],
                          capture_output=True, text=True).stdout.strip()
            except BaseException:
                self.close()
                raise
            self.loop = self.path = out

    def close(self):
        if self in _live_targets:
            _live_targets.remove(self)
        if self.loop:
            # udev may still hold the device for a moment after a write.
            for _ in range(20):
                if subprocess.run(["losetup", "-d", self.loop],
                                  stderr=subprocess.DEVNULL).returncode == 0:
                    break
                time.sleep(0.25)
            else:
                log("warning: could not detach %s" % self.loop)
            self.loop = None
        if os.path.exists(self.file):
            os.unlink(self.file)


def warm_up(image, *paths):
    """One unmeasured flash: the first write to a new tmpfs file allocates
    its pages, which would fall on whichever tool ran first."""
    args = [QFLASH, "-src", image]
    for p in paths:
        args += ["-dst", p]
    timed(args)


def median(xs):
    return statistics.median(xs)


def print_table(header, rows, note=None):
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if note:
        print()
        print(note)
    sys.stdout.flush()


# ------------------------------------------------------------ qemu-img

def compare(label, image, target_path, fresh=None, qflash_opts=(),
            qemu_opts=()):
    q_t, q_r, i_t, i_r = [], [], [], []
    for _ in range(ROUNDS):
        if fresh:
            fresh()
        t, r = timed([QFLASH, "-src", image, "-dst", target_path] +
                     list(qflash_opts))
        q_t.append(t)
        q_r.append(r)
        if fresh:
            fresh()
        t, r = timed(["qemu-img", "convert", "-m", "16", "-W"] +
                     ([] if fresh else ["-n"]) + list(qemu_opts) +
                     ["-O", "raw", image, target_path])
        i_t.append(t)
        i_r.append(r)
    return (label, median(q_t), median(i_t), median(q_t) / median(i_t),
            max(q_r) / 1024, max(i_r) / 1024)


def section_convert(imgs):
    log("convert: qflash against qemu-img convert ...")
    rows = []
    disk = Target("disk", 2 * GiB)
    try:
        warm_up(imgs["zstd"], disk.path)
        for k in ("plain", "deflate", "zstd"):
            rows.append(compare("2 GiB %s -> %s" % (k, "loop" if ROOT else "file"),
                                imgs[k], disk.path))
    finally:
        disk.close()

    newfile = os.path.join(SHM, TAG + "new.raw")

    def remove_new():
        if os.path.exists(newfile):
            os.unlink(newfile)
    try:
        rows.append(compare("1 TiB sparse -> new file", imgs["big1t"], newfile,
                            fresh=remove_new))
    finally:
        remove_new()
    if ROOT:
        # Both tools zero the device with calls that may unmap, which a
        # loop device over tmpfs turns into hole punching: the 1 TiB of
        # zeros costs no memory.
        big = Target("big", 1 << 40)
        try:
            rows.append(compare("1 TiB sparse -> loop", imgs["big1t"],
                                big.path))
        finally:
            big.close()

    # Four targets at once against one, for each image, and verification
    # speed.  The machine's busy CPU time shows what each extra target
    # costs (with loop devices over tmpfs, the kernel copies every byte
    # into tmpfs pages on the same CPUs that decompress).
    multi = []
    ver = []
    targets = []
    try:
        for i in range(4):
            targets.append(Target("m%d" % i, 2 * GiB))
        warm_up(imgs["zstd"], *[t.path for t in targets])
        for k in ("plain", "deflate", "zstd"):
            one, four = [], []
            for _ in range(ROUNDS):
                one.append(timed_cpu([QFLASH, "-src", imgs[k], "-dst",
                                      targets[0].path]))
                args = [QFLASH, "-src", imgs[k]]
                for t in targets:
                    args += ["-dst", t.path]
                four.append(timed_cpu(args))
            t1 = median([x[0] for x in one])
            t4 = median([x[0] for x in four])
            c1 = median([x[2] for x in one])
            c4 = median([x[2] for x in four])
            multi.append(("2 GiB %s" % k, "%.3f" % t1, "%.3f" % t4,
                          "%.2f" % (t4 / t1), "%.2f" % c1, "%.2f" % c4,
                          "%.2f" % ((c4 - c1) / 3),
                          "%.0f%%" % (100 * c4 / (t4 * os.cpu_count()))))
        for _ in range(ROUNDS):
            ver.append(timed([QFLASH, "-src", imgs["plain"], "-verify-only",
                              "-dst", targets[0].path])[0])
    finally:
        for t in targets:
            t.close()

    print_table(["case", "qflash s", "qemu-img s", "ratio", "qflash RSS MiB",
                 "qemu-img RSS MiB"],
                [(r[0],) + tuple("%.3f" % v for v in r[1:4]) +
                 tuple("%.1f" % v for v in r[4:]) for r in rows],
                "(qemu-img convert -m 16 -W)")
    print_table(["image", "1 target s", "4 targets s", "4/1",
                 "CPU s, 1 target", "CPU s, 4 targets",
                 "CPU s per extra target", "CPU busy, 4 targets"], multi,
                "(median of %d alternating runs, one unmeasured first; %s; "
                "CPU: busy time of the whole machine during the run, kernel "
                "threads included; target for 4/1: <= 1.30)" %
                (ROUNDS,
                 "loop devices on tmpfs" if ROOT else "files on tmpfs"))
    print_table(["verify-only, 2 GiB plain image", "value"],
                [("median s", "%.3f" % median(ver)),
                 ("read back, GB/s", "%.3f" % (2 * GiB / median(ver) / 1e9))],
                "(median of %d runs; target: >= 1 GB/s)" % ROUNDS)


# ------------------------------------------------------------------ TUI

class Tui:
    """qflash-tui in a detached tmux session of a private tmux server."""

    def __init__(self, tmpdir):
        self.tmp = tmpdir
        self.sock = os.path.join(tmpdir, "tmux.sock")
        self.err = os.path.join(tmpdir, "tui.err")
        self.pidfile = os.path.join(tmpdir, "tui.pid")
        self.pid = None
        self.env = dict(os.environ)
        self.env.pop("TMUX", None)

    def tm(self, *args, check=True):
        p = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] +
                           list(args), env=self.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError("tmux %s: %s" % (args[0], p.stderr.strip()))
        return p

    def start(self, args):
        self.tm("kill-session", "-t", "tui", check=False)
        self.reap()
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        # exec keeps the shell's pid for the TUI itself.
        cmd = ("echo $$ >%s; exec env -u LC_ALL -u LANGUAGE LANG=C.UTF-8 "
               "%s 2>%s" % (shlex.quote(self.pidfile),
                            " ".join(shlex.quote(a)
                                     for a in [QFLASH_TUI] + args),
                            shlex.quote(self.err)))
        self.tm("new-session", "-d", "-x", str(TUI_COLS), "-y", str(TUI_LINES),
                "-s", "tui", cmd)
        for _ in range(500):
            if file_size(self.pidfile):
                with open(self.pidfile) as f:
                    self.pid = int(f.read())
                break
            time.sleep(POLL)

    def reap(self, secs=30):
        """Wait for the last TUI to end (it cancels a running flash and
        logs that first), killing it after @secs.  It is the tmux server's
        child, not ours: its end is read from /proc, a zombie counts."""
        if not self.pid:
            return
        end = time.monotonic() + secs
        while True:
            try:
                with open("/proc/%d/stat" % self.pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                state = "Z"
            if state in ("Z", "X"):
                break
            if time.monotonic() > end:
                log("warning: qflash-tui (pid %d) did not exit, killing it" %
                    self.pid)
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.05)
        self.pid = None

    def screen(self):
        p = self.tm("capture-pane", "-p", "-t", "tui", check=False)
        if p.returncode != 0:
            raise RuntimeError("qflash-tui is gone: %s" % self.stderr())
        return p.stdout

    def stderr(self):
        try:
            with open(self.err) as f:
                return f.read().strip()
        except OSError:
            return ""

    def wait(self, text, secs=30, gone=False, bad=()):
        """Poll until @text is on the screen (or, with @gone, is not);
        return the time of the capture that showed it."""
        end = time.monotonic() + secs
        while True:
            scr = self.screen()
            t = time.monotonic()
            if (text in scr) != gone:
                return t
            for b in bad:
                if b in scr:
                    raise RuntimeError("qflash-tui shows \"%s\":\n%s" %
                                       (b, scr))
            if t > end:
                raise RuntimeError("timed out waiting for \"%s\"%s:\n%s" %
                                   (text, " to go" if gone else "", scr))
            time.sleep(POLL)

    def keys(self, *keys):
        self.tm("send-keys", "-t", "tui", *keys)

    def type(self, text):
        self.tm("send-keys", "-t", "tui", "-l", text)

    def to_confirmed(self, image, target, logfile, verify):
        """The whole-disk key path up to the typed yes, Enter not pressed."""
        args = ["--target", target, "--log", logfile]
        if not verify:
            args.append("--no-verify")
        self.start(args + [image])
        self.wait("Partitions")
        self.keys("Enter")
        self.wait("Whole disk to one or more targets")
        self.keys("Enter")
        self.wait("Selected: 0")
        self.wait("Looking for devices", gone=True)
        self.keys("Space")
        self.wait("Selected: 1")
        self.keys("Enter")
        self.wait("Type yes and press Enter")
        self.type("yes")

    def wait_done(self, secs=300):
        return self.wait("Flash complete:", secs,
                         bad=("The flash failed", "The flash was cancelled"))

    def quit(self):
        self.keys("q")
        end = time.monotonic() + 5
        # The session ends with the TUI.
        while time.monotonic() < end:
            if self.tm("has-session", "-t", "tui", check=False).returncode:
                break
            time.sleep(0.05)
        self.tm("kill-session", "-t", "tui", check=False)
        self.reap()

    def close(self):
        self.tm("kill-server", check=False)
        self.reap()


def key_latency(tui, image, target, logfile, want=10):
    """Times from sending ? to the help overlay shown, and from Esc to it
    gone, while a flash runs, over as many flashes as it takes; pairs the
    end of a flash overlaps are dropped."""
    opened, closed = [], []
    flashes = 0
    while len(opened) < want and flashes < 8:
        flashes += 1
        tui.to_confirmed(image, target, logfile, verify=True)
        tui.keys("Enter")
        tui.wait("Phase:")
        while len(opened) < want:
            # Not in step with the TUI's 100 ms redraw tick.
            time.sleep(random.uniform(0.05, 0.15))
            scr = tui.screen()
            if "Phase:" not in scr or HELP_TEXT in scr:
                break
            t0 = time.monotonic()
            tui.keys("?")
            t_open = tui.wait(HELP_TEXT, 10)
            time.sleep(random.uniform(0.05, 0.15))
            t1 = time.monotonic()
            tui.keys("Escape")
            t_close = tui.wait(HELP_TEXT, 10, gone=True)
            if "Phase:" not in tui.screen():
                break
            opened.append(t_open - t0)
            closed.append(t_close - t1)
        tui.wait_done()
        tui.quit()
    if not opened:
        raise RuntimeError("the flash was too short to measure key latency")
    return opened, closed, flashes


def section_tui(imgs):
    if not shutil.which("tmux"):
        print("\n(TUI section skipped: tmux is not installed)")
        return
    if not os.access(QFLASH_TUI, os.X_OK):
        print("\n(TUI section skipped: QFLASH_TUI=%s is not executable)" %
              QFLASH_TUI)
        return
    log("tui: qflash-tui against the CLI, key latency ...")
    tmp = tempfile.mkdtemp(prefix="qflash-bench-tui.")
    tui = Tui(tmp)
    # A file even as root: the TUI section is about the front end.
    tgt = Target("tui", 2 * GiB, loop=False)
    try:
        cli_log = os.path.join(tmp, "cli.log")
        tui_log = os.path.join(tmp, "tui.log")
        cli_wall, cli_dur, tui_wall, tui_dur = [], [], [], []
        warm_up(imgs["zstd"], tgt.path)
        for _ in range(ROUNDS):
            cli_wall.append(timed([QFLASH, "-src", imgs["zstd"], "-dst",
                                   tgt.path, "-log", cli_log])[0])
            cli_dur.append(last_duration(cli_log))
            tui.to_confirmed(imgs["zstd"], tgt.path, tui_log, verify=False)
            size = file_size(tui_log)
            t0 = time.monotonic()
            tui.keys("Enter")
            # Capturing the screen every 10 ms throughout would cost the
            # flash about a fifth of its speed on two CPUs; the log line
            # comes just before the done screen, and stat() is cheap.
            n = 0
            while file_size(tui_log) == size:
                n += 1
                if n % 100 == 0:
                    scr = tui.screen()      # raises if the TUI is gone
                    if time.monotonic() - t0 > 600:
                        raise RuntimeError("no flash log record after 600 s:"
                                           "\n" + scr)
                time.sleep(POLL)
            tui_wall.append(tui.wait_done() - t0)
            tui_dur.append(last_duration(tui_log))
            tui.quit()
        opened, closed, flashes = key_latency(tui, imgs["deflate"],
                                              tgt.path, tui_log)
    finally:
        tui.close()
        tgt.close()
        shutil.rmtree(tmp, ignore_errors=True)

    def row(name, c, t):
        return (name, "%.3f" % median(c), "%.3f" % median(t),
                "%.2f" % (median(t) / median(c)))
    print_table(["2 GiB zstd -> file on tmpfs, no verify", "CLI s", "TUI s",
                 "TUI/CLI"],
                [row("wall: CLI process / TUI final Enter to done screen",
                     cli_wall, tui_wall),
                 row("flash log duration", cli_dur, tui_dur)],
                "(median of %d alternating runs, one unmeasured first; "
                "qflash-tui in tmux at %dx%d; its wall time ends at the "
                "first capture-pane showing the done screen, polled every "
                "%d ms once the flash log has its record)" %
                (ROUNDS, TUI_COLS, TUI_LINES, POLL * 1000))

    def ms(xs):
        return ("%.1f" % (median(xs) * 1000), "%.1f" % (max(xs) * 1000),
                str(len(xs)))
    print_table(["key during a flash (2 GiB deflate, verify on)",
                 "median ms", "max ms", "samples"],
                [("? opens help",) + ms(opened),
                 ("Esc closes help",) + ms(closed)],
                "(from tmux send-keys to the first capture-pane showing the "
                "change, polled every %d ms: the tmux client processes and "
                "the server's redraw are included; Esc also waits out "
                "the TUI's 25 ms ESCDELAY.  %d flash(es) with verification, "
                "to a file on tmpfs; the TUI has no thread option, so the "
                "engine uses all %d CPUs.)" %
                (POLL * 1000, flashes, os.cpu_count()))


# ----------------------------------------------------------------- HTTP

def find_nginx():
    # nginx often lives in sbin directories that are not on a user's PATH.
    for c in (shutil.which("nginx"), "/usr/sbin/nginx",
              "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if c and os.access(c, os.X_OK):
            return c
    return None


class Nginx:
    """A private nginx on 127.0.0.1 serving @www, configured from
    tests/http/nginx.conf.in; everything it writes stays in its temp dir."""

    def __init__(self, binary, www):
        self.dir = tempfile.mkdtemp(prefix="qflash-bench-nginx.")
        self.proc = None
        pidfile = os.path.join(self.dir, "nginx.pid")
        errlog = os.path.join(self.dir, "error.log")
        try:
            os.makedirs(os.path.join(self.dir, "tmp"))
            with open(os.path.join(TOP_SRCDIR,
                                   "tests/http/nginx.conf.in")) as f:
                template = f.read()
            open(os.path.join(self.dir, "extra.conf"), "w").close()
            # A free port can be taken before nginx binds it: retry.
            for _ in range(10):
                self.port = random.randrange(20000, 60000)
                conf = (template.replace("@DIR@", self.dir)
                        .replace("@PORT@", str(self.port))
                        .replace("@TLSPORT@", str(self.port + 1))
                        .replace("@WWW@", www)
                        # nginx will not drop to "nobody" as root.
                        .replace("@USER@", "user root;" if ROOT else ""))
                with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
                    f.write(conf)
                if os.path.exists(pidfile):
                    os.unlink(pidfile)
                with open(os.path.join(self.dir, "stdout"), "w") as out:
                    self.proc = subprocess.Popen(
                        [binary, "-p", self.dir, "-c",
                         os.path.join(self.dir, "nginx.conf"), "-e", errlog],
                        stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT)
                # nginx writes its pid file once it listens.
                for _ in range(50):
                    if os.path.exists(pidfile) or self.proc.poll() is not None:
                        break
                    time.sleep(0.1)
                if os.path.exists(pidfile) and self.proc.poll() is None:
                    self.base = "http://127.0.0.1:%d" % self.port
                    return
                self.stop_proc()
            msg = ""
            for name in ("error.log", "stdout"):
                try:
                    with open(os.path.join(self.dir, name)) as f:
                        msg += f.read()
                except OSError:
                    pass
            raise RuntimeError("nginx did not start: " + msg.strip())
        except BaseException:
            self.stop()
            raise

    def cpu(self):
        """CPU seconds used so far by the master and its workers."""
        pids = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children" % (pids[0], pids[0])) as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        total = 0.0
        for pid in pids:
            try:
                total += proc_cpu(pid)
            except OSError:
                pass     # a worker that has just gone
        return total

    def stop_proc(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()    # the master takes its workers along
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self.stop_proc()
        shutil.rmtree(self.dir, ignore_errors=True)


def section_http(imgs):
    nginx_bin = find_nginx()
    if not nginx_bin:
        print("\n(HTTP section skipped: nginx is not installed)")
        return
    log("http: qflash from a URL against the local file and qemu-img ...")
    www = tempfile.mkdtemp(prefix="qflash-bench-www.")
    server = None
    tgt = None
    try:
        keys = ("deflate", "zstd")
        for k in keys:
            os.symlink(imgs[k], os.path.join(www, k + ".qcow2"))
        server = Nginx(nginx_bin, www)
        urls = {k: "%s/%s.qcow2" % (server.base, k) for k in keys}
        try:
            qemu_curl = subprocess.run(
                ["qemu-img", "info", urls["zstd"]], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            qemu_curl = False
        tgt = Target("http", 2 * GiB)
        warm_up(imgs["zstd"], tgt.path)
        rows = []
        hangs = []
        for k in keys:
            local, remote, served = [], [], []
            qemu = {m: [] for m in QEMU_HTTP_CONFIGS}
            tries = {m: 0 for m in QEMU_HTTP_CONFIGS}
            for _ in range(ROUNDS):
                local.append(timed([QFLASH, "-src", imgs[k], "-dst",
                                    tgt.path])[0])
                c0 = server.cpu()
                remote.append(timed([QFLASH, "-src", urls[k], "-dst",
                                     tgt.path])[0])
                served.append(server.cpu() - c0)
                for m, opts in QEMU_HTTP_CONFIGS.items():
                    if not qemu_curl:
                        continue
                    # Its curl driver can stall for good near the end
                    # of a conversion; such a run is killed and tried
                    # again, up to QEMU_HTTP_TRIES times a round.
                    for _ in range(QEMU_HTTP_TRIES):
                        tries[m] += 1
                        try:
                            qemu[m].append(timed(
                                ["qemu-img", "convert"] + opts +
                                ["-n", "-O", "raw", urls[k], tgt.path],
                                stall=QEMU_HTTP_STALL)[0])
                            break
                        except Timeout:
                            pass
            row = ["2 GiB %s -> %s" % (k, "loop" if ROOT else "file"),
                   "%.3f" % median(local), "%.3f" % median(remote),
                   "%.2f" % (median(remote) / median(local)),
                   "%.2f" % median(served),
                   "%.2f" % ((median(local) + median(served) /
                              os.cpu_count()) / median(local))]
            for m in QEMU_HTTP_CONFIGS:
                if not qemu_curl:
                    row.append("-")
                    continue
                done = len(qemu[m])
                if tries[m] > done:
                    hangs.append("%s %s: %d of %d" %
                                 (k, m, tries[m] - done, tries[m]))
                row.append("%.3f" % median(qemu[m]) if done else "hung")
            done = [median(v) for v in qemu.values() if v]
            row.append("%.2f" % (median(remote) / min(done)) if done else "-")
            rows.append(row)
    finally:
        if tgt:
            tgt.close()
        if server:
            server.stop()
        shutil.rmtree(www, ignore_errors=True)
    note = ("(median of %d alternating runs, one unmeasured first; nginx on "
            "127.0.0.1, images in the page cache; target for http/file: "
            "<= 1.10.  nginx CPU s: what the server itself used during "
            "qflash's http run, on the same %d CPUs; http/file floor: the "
            "ratio if serving cost nothing but that CPU time.  The last "
            "column compares with the faster qemu-img run that finished)" %
            (ROUNDS, os.cpu_count()))
    if not qemu_curl:
        note += ("\n(qemu-img columns skipped: qemu-img info on the URL "
                 "failed; qemu's curl driver is in package qemu-block-extra)")
    if hangs:
        note += ("\n(qemu-img runs that read and wrote nothing for %d s "
                 "and were killed, of those started: %s.  Only finished "
                 "runs are timed; \"hung\" means none finished.)" %
                 (QEMU_HTTP_STALL, "; ".join(hangs)))
    print_table(["case", "qflash file s", "qflash http s", "http/file",
                 "nginx CPU s", "http/file floor"] +
                ["qemu-img %s http s" % m for m in QEMU_HTTP_CONFIGS] +
                ["qflash/qemu-img (http)"], rows, note)


# ----------------------------------------------------------------- main

def on_signal(sig, frame):
    # Unwind through the finally blocks that detach loop devices and stop
    # tmux and nginx.
    raise SystemExit(128 + sig)


# ------------------------------------------------------------- drive

def debug_run(cmd):
    """Wall time of one qflash -debug run and the wipe and table seconds
    it reports for its (one) target."""
    t0 = time.monotonic()
    p = subprocess.run(cmd + ["-debug"], capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr[-500:]))
    wipe = table = None
    for ln in p.stderr.splitlines():
        if ": wipe " in ln and ", table " in ln:
            w = ln.split(": wipe ")[1]
            wipe = float(w.split(" s")[0])
            table = float(w.split(", table ")[1].split(" s")[0])
    if wipe is None:
        raise RuntimeError("no wipe/table figures in -debug output")
    return wall, wipe, table


def section_drive(imgs):
    log("drive: the wipe and the table written last ...")
    rows = []
    big = Target("drive", 2 * GiB + 256 * MiB)
    try:
        warm_up(imgs["zstd"], big.path)
        for k in ("plain", "zstd"):
            for opts, label in (([], "GPT fix-up"), (["-exact"], "-exact")):
                for verify in ([], ["-verify"]):
                    runs = [debug_run([QFLASH, "-src", imgs[k], "-dst",
                                       big.path] + opts + verify)
                            for _ in range(ROUNDS)]
                    wall = median([r[0] for r in runs])
                    wipe = median([r[1] for r in runs])
                    table = median([r[2] for r in runs])
                    rows.append(("2 GiB %s -> 2.25 GiB %s, %s%s" %
                                 (k, "loop" if ROOT else "file", label,
                                  ", -verify" if verify else ""),
                                 "%.3f" % wall, "%.4f" % wipe, "%.4f" % table,
                                 "%.2f%%" % (100 * (wipe + table) / wall)))
    finally:
        big.close()
    print_table(["case", "flash s", "wipe s", "table last s",
                 "wipe + table / flash"], rows,
                "(median of %d runs; wipe: zeroing the drive's first and last "
                "MiB, sync, read back; table last: the held-back ranges "
                "written, synced%s; target: < 1%%)" %
                (ROUNDS, " and, with -verify, read back"))


def main():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if not shutil.which("qemu-img"):
        raise SystemExit("qemu-img is needed (package qemu-utils)")
    unknown = set(SECTIONS) - {"convert", "drive", "tui", "http", "formats",
                               "wan", "station"}
    if unknown:
        raise SystemExit("unknown BENCH_SECTIONS: %s" %
                         ", ".join(sorted(unknown)))
    imgs = make_images()
    qemu_version = subprocess.run(["qemu-img", "--version"],
                                  capture_output=True,
                                  text=True).stdout.split("\n")[0]
    print("qflash benchmark: %d CPUs, load average %.2f at the start "
          "(timings are noisy when the machine is shared); %s" %
          (os.cpu_count(), os.getloadavg()[0], qemu_version), flush=True)
    failed = []
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import formats
        import station
        for name, fn in (("convert", section_convert),
                         ("drive", section_drive), ("tui", section_tui),
                         ("http", section_http),
                         ("formats", formats.section_formats),
                         ("wan", formats.section_wan),
                         ("station", station.section_station)):
            if name not in SECTIONS:
                continue
            try:
                fn(imgs)
            except (RuntimeError, OSError, subprocess.SubprocessError) as ex:
                print("\n(%s section did not finish: %s)" % (name, ex))
                failed.append(name)
    finally:
        for t in list(_live_targets):
            t.close()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
