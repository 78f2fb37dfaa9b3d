#!/usr/bin/env python3
"""tests/integration/flood.py — clients that try to exhaust a geomx
parameter server's memory (docs/security.md, "Memory under any peer"),
built on rogue.py's frames. Standard library only.

  flood.py bigframe HOST:PORT [--mib N]
      before any HELLO, announces a frame of N MiB (default 200) and streams
      its payload; prints what it sent and what came back ("# error CODE
      MESSAGE", "# closed"), exits 0 when the server closed the connection
      before 8 MiB were sent
  flood.py idle HOST:PORT [--count N]
      opens N connections (default 2000) that say nothing, then checks how
      many the server has closed; prints "# opened N" and "# closed K",
      exits 0 when the server closed all but at most 64
  flood.py pulls HOST:PORT --rank R --size N [--pulls P]
      the same worker, honest: P PULLs in one write, then reads the P
      answers and checks each is the value INIT was answered with; prints
      "# answered P" and says BYE; exits 0 when all came and matched
  flood.py pullspam HOST:PORT --rank R --size N [--pulls P]
      a proper flat worker (HELLO, KEYTABLE of one key of N floats, INIT,
      its answer read) that then sends P PULLs (default 400) in one write
      and never reads again; prints "# pulls sent" and exits 0 once the
      server has closed the connection
"""
import argparse
import os
import resource
import select
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rogue  # noqa: E402
from rogue import Conn, frame, say  # noqa: E402

PULL = 36


def cmd_bigframe(a):
    c = Conn(a.addr, a.timeout)
    n = a.mib << 20
    h = bytearray(frame(rogue.PUSH, b"", count=n // 4, codec=rogue.CODEC_F32))
    struct.pack_into("<II", h, 32, n, n)  # payload_len, raw_len
    struct.pack_into("<I", h, 60, rogue.crc32c(bytes(h[:60])))
    sent = 0
    chunk = b"\0" * (1 << 16)
    try:
        c.send(bytes(h))
        while sent < n:
            c.send(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    say("sent %d payload bytes" % sent)
    ok = rogue.expect_error_then_close(c) or sent < (8 << 20)
    return 0 if ok and sent < (8 << 20) else 1


def cmd_idle(a):
    want = a.count + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    host, port = a.addr.rsplit(":", 1)
    socks = []
    for _ in range(a.count):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=a.timeout))
        except OSError as e:
            say("connect failed after %d: %s" % (len(socks), e))
            break
    say("opened %d" % len(socks))
    # The server closes what it evicts: count the connections at end of
    # stream (or reset), waiting for events, not for time.
    deadline = time.monotonic() + a.timeout
    byfd = {s.fileno(): s for s in socks}
    po = select.poll()
    for fd in byfd:
        po.register(fd, select.POLLIN)
    open_ = set(byfd)
    while len(open_) > 64 and time.monotonic() < deadline:
        for fd, _ in po.poll(1000):
            try:
                b = byfd[fd].recv(4096)
            except OSError:
                b = b""
            if not b:
                open_.discard(fd)
                po.unregister(fd)
    say("closed %d" % (len(socks) - len(open_)))
    for s in socks:
        s.close()
    return 0 if len(socks) == a.count and len(open_) <= 64 else 1


def member(a):
    """A worker with one key of a.size floats, its INIT answered: the
    connection and the value INIT was answered with (None after a
    message)."""
    c = Conn(a.addr, a.timeout)
    a.role, a.party = rogue.ROLE_WORKER, 0
    if not rogue.worker_hello(c, a):
        return c, None
    c.send(frame(rogue.KEYTABLE, struct.pack("<II", 1, 0) + struct.pack("<IIQ", 0, 0, a.size),
                 sender=a.rank, seq=1))
    c.send(frame(rogue.INIT, rogue.f32_payload([0.25 + a.rank] * a.size), key=0,
                 sender=a.rank, seq=2, count=a.size, codec=rogue.CODEC_F32))
    t, f, p = c.next_non_heartbeat()
    if t != rogue.INIT_REPLY:
        say("expected INIT_REPLY, got frame type %d" % t)
        return c, None
    return c, p


def cmd_pulls(a):
    try:
        c, value = member(a)
        if value is None:
            return 1
        c.send(b"".join(frame(PULL, key=0, sender=a.rank, seq=3 + i) for i in range(a.pulls)))
        for i in range(a.pulls):
            t, f, p = c.next_non_heartbeat()
            if t != PULL + 1 or p != value:
                say("answer %d: frame type %d, %d bytes, %s" %
                    (i, t, len(p), "the value" if p == value else "not the value"))
                return 1
        say("answered %d" % a.pulls)
        c.send(frame(rogue.BYE, sender=a.rank))
        rogue.expect_error_then_close(c)
    except (EOFError, TimeoutError, ValueError) as e:
        say("%s" % (str(e) or type(e).__name__))
        return 1
    return 0


def cmd_pullspam(a):
    try:
        c, value = member(a)
        if value is None:
            return 1
        c.send(b"".join(frame(PULL, key=0, sender=a.rank, seq=3 + i) for i in range(a.pulls)))
    except (EOFError, TimeoutError, ValueError) as e:
        say("before the spam: %s" % (str(e) or type(e).__name__))
        return 1
    say("pulls sent")
    # Never read again: wait for the server to give up on this connection
    # (a reset or an error on a send of heartbeats).
    deadline = time.monotonic() + a.timeout
    hb = frame(rogue.HEARTBEAT, sender=a.rank)
    while time.monotonic() < deadline:
        try:
            c.s.send(hb, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        except OSError:
            say("closed")
            return 0
        select.select([], [], [], 0.2)
    say("timeout")
    return 1


def main():
    ap = argparse.ArgumentParser(prog="flood.py")
    ap.add_argument("mode", choices=["bigframe", "idle", "pulls", "pullspam"])
    ap.add_argument("addr")
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--rank", type=int, default=0)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--pulls", type=int, default=400)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    return {"bigframe": cmd_bigframe, "idle": cmd_idle, "pulls": cmd_pulls,
            "pullspam": cmd_pullspam}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
