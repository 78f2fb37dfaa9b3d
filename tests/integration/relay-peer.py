#!/usr/bin/env python3
"""tests/integration/relay-peer.py — the two ends of connections through
geomx-relay, for tests/integration/relay*.sh. Standard library only; every
socket operation has a timeout, so nothing here can hang a test.

  relay-peer.py serve [--mode stream|echo|deaf] [--send N --seed S --kind K]
                [--measure SKIP:WINDOW]
      listens on 127.0.0.1:0 and prints the port (one line), then serves
      every connection in a thread. stream: sends N bytes of data(S, K)
      while reading everything until the end of stream, then closes its
      sending side; prints "conn I recv BYTES SHA256" when the peer's
      stream ended in order, "conn I error WHAT" when it did not. echo:
      sends back what it reads. deaf: sends N bytes of data(S, K), never
      reads, and holds the connection (so that its death resets it: the
      kernel resets a socket closed with unread bytes). --measure: also prints "conn I rate
      BYTES_PER_S total BYTES last T" for what it received from SKIP s after
      its first byte, over WINDOW s, and for all it received before the end
      of that window, the last of it at time T (time.monotonic()).
  relay-peer.py client --port P [--send N --seed S --kind K]
                [--expect N --expect-seed S --expect-kind K] [--measure SKIP:WINDOW]
                [--count C]
      C connections at once (default 1), connection i sending data(S + i,
      K) and reading until the end of stream; with --expect, what each
      reads must be data(expect_seed, expect_kind) of N bytes (a stream
      server sends every connection the same). Prints "conn I sent
      N recv M ok" (or "BAD ..."); exits 0 when every connection is ok.
      --measure: reads for SKIP + WINDOW seconds only and prints "rate
      BYTES_PER_S total BYTES last T start T0" (as serve does; T0: when
      it began to connect) (no --expect then).
      --print-mss: prints "conn I mss N" as it accepts a connection (the
      largest segment the connection may send: TCP_MAXSEG).
  relay-peer.py pingpong --port P [--count N] [--size B]
      N round trips of B bytes to an echo server; prints "rtt_ms MEDIAN"
      and "rtts_ms A,B,...".
  relay-peer.py sha --bytes N --seed S [--kind K]
      prints the sha256 of data(S, K) of N bytes.
  relay-peer.py idle --port P --count N --hold SECONDS [--bytes B]
      opens N connections, writes B bytes on each (default 0), holds them
      SECONDS, prints "opened N", closes them.
  relay-peer.py raw --port P --text STRING [--stay SECONDS]
      sends STRING, then waits (default 30 s) for the relay to close the
      connection; prints "closed by peer" or "timeout".
  relay-peer.py hello --port P --bytes B [--stay SECONDS]
      sends the first B bytes of a well-formed secure handshake message
      (header and a random key and mac), then closes (or waits SECONDS
      for the relay to close first; prints "closed by peer" or "timeout",
      and "after MS ms", the time from before it began to connect).

data(S, random) is random.Random(S).randbytes(N); data(S, text) is
compressible text (numbered lines of a float32-ish table), so that zstd has
something to do; data(S, sparse) is zeros but for 8 random bytes every
4 KiB, which zstd shrinks a hundredfold (and so expands as much).
"""
import argparse
import hashlib
import os
import random
import socket
import statistics
import sys
import threading
import time

TIMEOUT = 30.0


def data(n, seed, kind):
    if kind == "random":
        rng = random.Random(seed)
        out = bytearray()
        while len(out) < n:
            out += rng.randbytes(min(1 << 20, n - len(out)))
        return bytes(out)
    rng = random.Random(seed)
    if kind == "sparse":
        out = bytearray(n)
        for off in range(0, n, 4096):
            out[off:off + 8] = rng.randbytes(8)
        return bytes(out[:n])
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b"%08d %+.4f %+.4f %+.4f\n" % (i, rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1))
        i += 1
    return bytes(out[:n])


def parse_measure(s):
    if not s:
        return None
    a, b = s.split(":")
    return float(a), float(b)


class Meter:
    """Bytes received in [first + skip, first + skip + window); and all the
    bytes received before first + skip + window (total), the last of them
    at time.monotonic() last."""

    def __init__(self, skip, window):
        self.skip, self.window = skip, window
        self.first = None
        self.bytes = 0
        self.total = 0
        self.last = None

    def add(self, n):
        now = time.monotonic()
        if self.first is None:
            self.first = now
        t = now - self.first
        if t < self.skip + self.window:
            self.total += n
            self.last = now
        if self.skip <= t < self.skip + self.window:
            self.bytes += n
        return t >= self.skip + self.window

    def rate(self):
        return self.bytes / self.window

    def report(self):
        return "rate %.0f total %d last %.6f" % (self.rate(), self.total, self.last)


def sender(sock, payload, errs):
    try:
        view = memoryview(payload)
        while len(view):
            n = sock.send(view[:1 << 20])
            view = view[n:]
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        errs.append("send: %s" % e)


def serve(a):
    payload = data(a.send, a.seed, a.kind) if a.mode != "echo" else b""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(512)
    print(ls.getsockname()[1], flush=True)
    meas = parse_measure(a.measure)
    lock = threading.Lock()

    def say(line):
        with lock:
            print(line, flush=True)

    def one(c, i):
        c.settimeout(TIMEOUT)
        errs = []
        try:
            if a.mode == "echo":
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    c.sendall(b)
                c.shutdown(socket.SHUT_WR)
                return
            if a.mode == "deaf":
                c.settimeout(None)
                c.sendall(payload)
                threading.Event().wait()
            t = threading.Thread(target=sender, args=(c, payload, errs))
            t.start()
            h = hashlib.sha256()
            n = 0
            m = Meter(*meas) if meas else None
            reported = False
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
                if m and m.add(len(b)) and not reported:
                    say("conn %d %s" % (i, m.report()))
                    reported = True
            t.join()
            say("conn %d recv %d %s" % (i, n, h.hexdigest()))
            if errs:
                say("conn %d error %s" % (i, errs[0]))
        except OSError as e:
            say("conn %d error %s" % (i, e))
        finally:
            c.close()

    i = 0
    while True:
        c, _ = ls.accept()
        if a.print_mss:
            say("conn %d mss %d" % (i, c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)))
        threading.Thread(target=one, args=(c, i), daemon=True).start()
        i += 1


def client(a):
    meas = parse_measure(a.measure)
    results = [None] * a.count

    def one(i):
        start = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
        except OSError as e:
            results[i] = "conn %d BAD connect: %s" % (i, e)
            return
        errs = []
        payload = data(a.send, a.seed + i, a.kind)
        t = threading.Thread(target=sender, args=(s, payload, errs), daemon=True)
        t.start()
        got = bytearray()
        m = Meter(*meas) if meas else None
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                if m:
                    if m.add(len(b)):
                        results[i] = "%s start %.6f" % (m.report(), start)
                        s.close()
                        return
                else:
                    got += b
        except OSError as e:
            results[i] = "conn %d BAD recv after %d bytes: %s" % (i, len(got), e)
            s.close()
            return
        t.join(TIMEOUT)
        s.close()
        if m:
            results[i] = "conn %d BAD stream ended before the measurement" % i
            return
        if errs:
            results[i] = "conn %d BAD %s" % (i, errs[0])
            return
        if a.expect is not None:
            want = data(a.expect, a.expect_seed, a.expect_kind)
            if bytes(got) != want:
                results[i] = "conn %d BAD sent %d recv %d, want %d (%s)" % (
                    i, a.send, len(got), len(want),
                    "same length, other bytes" if len(got) == len(want) else "length differs")
                return
        results[i] = "conn %d sent %d recv %d ok" % (i, a.send, len(got))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(a.count)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bad = 0
    for r in results:
        print(r if r else "BAD no result")
        bad += r is None or "BAD" in r
    return 1 if bad else 0


def pingpong(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = bytes(range(256)) * (a.size // 256 + 1)
    msg = msg[:a.size]
    rtts = []
    for _ in range(a.count + 1):
        t0 = time.monotonic()
        s.sendall(msg)
        got = 0
        while got < len(msg):
            b = s.recv(65536)
            if not b:
                print("closed early")
                return 1
            got += len(b)
        rtts.append((time.monotonic() - t0) * 1e3)
    s.close()
    rtts = rtts[1:]  # the first one pays for the far connection
    print("rtt_ms %.3f" % statistics.median(rtts))
    print("rtts_ms " + ",".join("%.2f" % x for x in rtts))
    return 0


def idle(a):
    socks = []
    for _ in range(a.count):
        s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
        if a.bytes:
            s.sendall(os.urandom(a.bytes))
        socks.append(s)
    print("opened %d" % len(socks), flush=True)
    time.sleep(a.hold)
    for s in socks:
        s.close()
    return 0


def hello(a):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
    msg = b"GXHS\x01\x01\x00\x00" + os.urandom(64)
    s.sendall(msg[:a.bytes])
    if a.stay:
        s.settimeout(a.stay)
        try:
            b = s.recv(100)
            print("closed by peer" if not b else "answered %d bytes" % len(b), end="")
        except ConnectionResetError:
            print("closed by peer", end="")
        except socket.timeout:
            print("timeout", end="")
        print(" after %.0f ms" % ((time.monotonic() - t0) * 1e3))
    s.close()
    return 0


def raw(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=TIMEOUT)
    s.sendall(a.text.encode())
    s.settimeout(a.stay)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                print("closed by peer")
                break
    except ConnectionResetError:
        print("closed by peer")
    except socket.timeout:
        print("timeout")
    s.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=["stream", "echo", "deaf"], default="stream")
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kind", choices=["random", "text", "sparse"], default="random")
    p.add_argument("--measure")
    p.add_argument("--print-mss", action="store_true")
    p = sub.add_parser("client")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--kind", choices=["random", "text", "sparse"], default="random")
    p.add_argument("--expect", type=int)
    p.add_argument("--expect-seed", type=int, default=1)
    p.add_argument("--expect-kind", choices=["random", "text", "sparse"], default="random")
    p.add_argument("--measure")
    p.add_argument("--count", type=int, default=1)
    p = sub.add_parser("pingpong")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--size", type=int, default=64)
    p = sub.add_parser("sha")
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--kind", choices=["random", "text", "sparse"], default="random")
    p = sub.add_parser("idle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--hold", type=float, required=True)
    p.add_argument("--bytes", type=int, default=0)
    p = sub.add_parser("raw")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--stay", type=float, default=30)
    p = sub.add_parser("hello")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--stay", type=float, default=0)
    a = ap.parse_args()
    if a.cmd == "serve":
        serve(a)
    elif a.cmd == "client":
        return client(a)
    elif a.cmd == "pingpong":
        return pingpong(a)
    elif a.cmd == "sha":
        print(hashlib.sha256(data(a.bytes, a.seed, a.kind)).hexdigest())
    elif a.cmd == "idle":
        return idle(a)
    elif a.cmd == "raw":
        return raw(a)
    elif a.cmd == "hello":
        return hello(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
