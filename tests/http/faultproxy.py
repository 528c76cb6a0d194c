#!/usr/bin/env python3
"""faultproxy.py - a loopback-only TCP proxy for the http tests that
misbehaves on purpose: it resets connections after a few MB of response,
answers some requests with 503 and can limit the bandwidth.

    faultproxy.py --target PORT --port-file F [--cut-every BYTES]
                  [--fail-every N] [--rate BYTES_PER_S] [--lifetime S]
                  [--stats FILE] [--port PORT]

It listens on 127.0.0.1 on a free port (or --port, to come back where a
proxy that was stopped listened; written to --port-file), forwards to
127.0.0.1:PORT, and exits by itself after --lifetime seconds so a broken
test can never leave it running.  --stats gets "connections cuts fails"
written after every event.
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

MAX_CONNECTIONS = 64


class Proxy:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.connections = 0
        self.cuts = 0
        self.fails = 0
        self.active = 0
        self.tokens = 0.0
        self.last = time.monotonic()
        self.rng = random.Random(args.seed)

    def write_stats(self):
        if not self.args.stats:
            return
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d\n" % (self.connections, self.cuts, self.fails))
        os.replace(tmp, self.args.stats)

    def throttle(self, n):
        """Shared token bucket: all connections together get --rate."""
        rate = self.args.rate
        if not rate:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(rate, self.tokens + (now - self.last) * rate)
                self.last = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                wait = (n - self.tokens) / rate
            time.sleep(min(wait, 0.05))

    def next_cut(self):
        every = self.args.cut_every
        if not every:
            return None
        with self.lock:
            return self.rng.randint(every // 2, every * 3 // 2)

    def serve(self, client):
        with self.lock:
            self.connections += 1
            n = self.connections
            self.active += 1
            self.write_stats()
        try:
            if self.args.fail_every and n % self.args.fail_every == 0:
                self.answer_503(client)
                return
            server = socket.create_connection(("127.0.0.1", self.args.target))
            up = threading.Thread(target=self.pump_up, args=(client, server),
                                  daemon=True)
            up.start()
            self.pump_down(server, client)
            up.join(timeout=1)
        except OSError:
            pass
        finally:
            with self.lock:
                self.active -= 1
            client.close()

    def answer_503(self, client):
        client.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = client.recv(4096)
            if not chunk:
                return
            data += chunk
        client.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                       b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        with self.lock:
            self.fails += 1
            self.write_stats()

    @staticmethod
    def pump_up(client, server):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                server.sendall(data)
            server.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def pump_down(self, server, client):
        budget = self.next_cut()
        try:
            while True:
                data = server.recv(16384)
                if not data:
                    break
                if budget is not None and len(data) >= budget:
                    client.sendall(data[:budget])
                    self.reset(client, server)
                    return
                self.throttle(len(data))
                client.sendall(data)
                if budget is not None:
                    budget -= len(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            server.close()

    def reset(self, client, server):
        """Drop the connection with a RST, as a crashing middlebox would."""
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        # SHUT_RD wakes the upstream pump without sending anything; the
        # RST goes out when serve() closes the socket after it.
        try:
            client.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        server.close()
        with self.lock:
            self.cuts += 1
            self.write_stats()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cut-every", type=int, default=0)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--stats")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    proxy = Proxy(args)
    proxy.write_stats()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.port))
    ls.listen(16)
    ls.settimeout(0.5)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.replace(tmp, args.port_file)

    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        try:
            client, _ = ls.accept()
        except socket.timeout:
            continue
        with proxy.lock:
            busy = proxy.active >= MAX_CONNECTIONS
        if busy:
            client.close()
            continue
        threading.Thread(target=proxy.serve, args=(client,),
                         daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
