#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# soak_client: a bounded, seeded load of misbehaving clients against an echo or HTTP server on
# 127.0.0.1, checking every byte that comes back.
#
#   soak_client.py --port P [--mode echo|http] [--connections 256] [--duration 5] [--seed 1]
#
# Each connection loops until the duration is over, picking at each step (from the seed):
# a normal exchange (its bytes checked), a slow reader, a reset (RST) in mid-message, a close in
# mid-message, or a cancelled read (the client gives up waiting and closes). The last line is
#   soak: mode=M requests=N verified_bytes=B resets=R closes=C slow=S cancels=K failures=F
# and the exit status is 1 when any failure (a wrong byte, an error on a connection that did
# nothing wrong, a connection refused) was seen.
import argparse
import asyncio
import random
import socket
import struct
import sys

HTTP_BODY = b"Hello from corio\n"


class Stats:
    def __init__(self):
        self.requests = 0
        self.verified = 0
        self.resets = 0
        self.closes = 0
        self.slow = 0
        self.cancels = 0
        self.failures = 0
        self.first_failure = None

    def fail(self, why):
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = why


def reset(writer):
    """Closes with an RST: SO_LINGER with a zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def close(writer):
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass


def payload(rng, n):
    return rng.randbytes(n)


async def echo_exchange(rng, reader, writer, stats, slow):
    data = payload(rng, rng.randint(1, 64 << 10 if slow else 16 << 10))
    # Sent in random pieces, so the server sees partial messages.
    at = 0
    while at < len(data):
        n = rng.randint(1, len(data) - at)
        writer.write(data[at : at + n])
        at += n
        if rng.random() < 0.3:
            await writer.drain()
    await writer.drain()
    got = bytearray()
    while len(got) < len(data):
        want = rng.randint(1, 512) if slow else len(data) - len(got)
        chunk = await reader.read(want)
        if not chunk:
            raise ConnectionError("the server closed in mid-echo")
        got += chunk
        if slow:
            await asyncio.sleep(0.002)
    if bytes(got) != data:
        stats.fail("an echo came back wrong")
    else:
        stats.verified += len(data)
    stats.requests += 1


def http_request(rng):
    kind = rng.random()
    if kind < 0.6:
        return b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
    if kind < 0.8:
        body = payload(rng, rng.randint(0, 2000))
        return b"POST /x HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    chunks = [payload(rng, rng.randint(1, 300)) for _ in range(rng.randint(1, 4))]
    body = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    return b"POST /c HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n" + body


async def http_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length)
    return status, body


async def http_exchange(rng, reader, writer, stats, slow):
    requests = [http_request(rng) for _ in range(rng.randint(1, 4))]  # pipelined
    blob = b"".join(requests)
    at = 0
    while at < len(blob):
        n = rng.randint(1, len(blob) - at)
        writer.write(blob[at : at + n])
        at += n
        if slow:
            await writer.drain()
            await asyncio.sleep(0.002)
    await writer.drain()
    for req in requests:
        status, body = await http_response(reader)
        expected = (200, HTTP_BODY) if req.startswith(b"GET / ") else (404, b"not found\n")
        if (status, body) != expected:
            stats.fail("an HTTP response came back wrong: %r %r" % (status, body[:40]))
        else:
            stats.verified += len(body)
        stats.requests += 1


async def connection(args, rng, stats, deadline):
    loop = asyncio.get_running_loop()
    exchange = echo_exchange if args.mode == "echo" else http_exchange
    while loop.time() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        except OSError as e:
            stats.fail("connect: %s" % e)
            await asyncio.sleep(0.05)
            continue
        try:
            while loop.time() < deadline:
                pick = rng.random()
                if pick < 0.80:
                    await exchange(rng, reader, writer, stats, False)
                    continue
                if pick < 0.85:
                    stats.slow += 1
                    await exchange(rng, reader, writer, stats, True)
                    continue
                # The rest end the connection in a way a server must survive.
                writer.write(payload(rng, rng.randint(1, 4096)) if args.mode == "echo"
                             else b"POST /x HTTP/1.1\r\nHost: soak\r\nContent-Length: 100\r\n\r\nabc")
                await writer.drain()
                if pick < 0.90:
                    stats.resets += 1
                    reset(writer)
                elif pick < 0.95:
                    stats.closes += 1
                    await close(writer)
                else:
                    stats.cancels += 1
                    try:
                        await asyncio.wait_for(reader.read(1 << 20), timeout=0.0005)
                    except asyncio.TimeoutError:
                        pass
                    await close(writer)
                break
            else:
                await close(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            stats.fail("a connection that did nothing wrong failed: %r" % e)
            reset(writer)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["echo", "http"], default="echo")
    p.add_argument("--connections", type=int, default=256)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    stats = Stats()
    deadline = asyncio.get_running_loop().time() + args.duration
    tasks = [connection(args, random.Random(args.seed * 100003 + i), stats, deadline)
             for i in range(args.connections)]
    # A hard bound: a stuck server fails the run instead of hanging it.
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.duration + 30)
    except asyncio.TimeoutError:
        stats.fail("connections still waiting 30 s after the end")
    print("soak: mode=%s requests=%d verified_bytes=%d resets=%d closes=%d slow=%d cancels=%d "
          "failures=%d" % (args.mode, stats.requests, stats.verified, stats.resets, stats.closes,
                           stats.slow, stats.cancels, stats.failures))
    if stats.failures:
        print("soak: first failure: %s" % stats.first_failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
