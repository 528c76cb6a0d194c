#!/usr/bin/env python3
"""slowhttp.py - serve one file on 127.0.0.1 with range requests at a
limited rate, so the TUI tests get a flash slow enough to cancel or to
resize the terminal during it.

    slowhttp.py FILE PORT_FILE BYTES_PER_S [LIFETIME_S]

Any path gets FILE.  The chosen port is written to PORT_FILE.  The server
exits by itself after LIFETIME_S seconds (default 120) so a broken test
cannot leave it behind.
"""
import http.server
import os
import re
import sys
import threading
import time

FILE = sys.argv[1]
RATE = float(sys.argv[3])
LIFETIME = float(sys.argv[4]) if len(sys.argv) > 4 else 120.0

lock = threading.Lock()
budget = [0.0, time.monotonic()]


def throttle(n):
    """One token bucket shared by all connections."""
    while True:
        with lock:
            now = time.monotonic()
            budget[0] = min(RATE, budget[0] + (now - budget[1]) * RATE)
            budget[1] = now
            if budget[0] >= n:
                budget[0] -= n
                return
            wait = (n - budget[0]) / RATE
        time.sleep(wait)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)

    def answer(self, body):
        size = os.path.getsize(FILE)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng.strip())
            start = int(m.group(1)) if m else size
            end = min(int(m.group(2)), size - 1) if m and m.group(2) else size - 1
            if start > end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if not body:
            return
        with open(FILE, "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left:
                n = min(left, 16384)
                data = f.read(n)
                throttle(n)
                try:
                    self.wfile.write(data)
                except OSError:
                    return
                left -= n


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    threading.Timer(LIFETIME, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
