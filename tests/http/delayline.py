#!/usr/bin/env python3
"""delayline.py - a TCP proxy on 127.0.0.1 that behaves like a long link:
every byte arrives DELAY_MS later than it was sent, and each direction
carries at most RATE bytes per second, shared by all connections.

    delayline.py UPSTREAM_PORT PORT_FILE [DELAY_MS [RATE [LIFETIME_S]]]

The one-way delay defaults to 20 ms (40 ms round trip) and the rate to
40 MB/s.  The chosen port is written to PORT_FILE.  What a connection
may hold in flight is bounded (about twice the link's bandwidth-delay
product), so memory stays small however large the transfer.  The proxy
exits by itself after LIFETIME_S seconds (default 3600).
"""
import asyncio
import os
import sys
import time

UP = int(sys.argv[1])
PORT_FILE = sys.argv[2]
DELAY = (float(sys.argv[3]) if len(sys.argv) > 3 else 20.0) / 1000.0
RATE = float(sys.argv[4]) if len(sys.argv) > 4 else 40e6
LIFETIME = float(sys.argv[5]) if len(sys.argv) > 5 else 3600.0
CHUNK = 64 * 1024
# Chunks a connection may hold: twice the bandwidth-delay product.
DEPTH = max(8, int(2 * RATE * 2 * DELAY / CHUNK) + 1)


class Link:
    """One direction of the line: when the next byte can leave."""

    def __init__(self):
        self.free_at = 0.0

    def schedule(self, n):
        now = time.monotonic()
        start = max(now, self.free_at)
        self.free_at = start + n / RATE
        return self.free_at + DELAY


DOWN, UPLINK = Link(), Link()


async def pump(reader, writer, link):
    q = asyncio.Queue(DEPTH)

    async def deliver():
        while True:
            item = await q.get()
            if item is None:
                break
            at, data = item
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            await q.put((link.schedule(len(data)), data))
    except (ConnectionError, asyncio.CancelledError):
        pass
    await q.put(None)
    try:
        await task
    except ConnectionError:
        pass


async def handle(cr, cw):
    # The handshake a real line would take before the first byte.
    await asyncio.sleep(2 * DELAY)
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", UP)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pump(cr, uw, UPLINK), pump(ur, cw, DOWN),
                         return_exceptions=True)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    async with server:
        try:
            await asyncio.wait_for(server.serve_forever(), LIFETIME)
        except asyncio.TimeoutError:
            pass


if __name__ == "__main__":
    asyncio.run(main())
