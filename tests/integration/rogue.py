#!/usr/bin/env python3
"""tests/integration/rogue.py — misbehaving clients of a geomx parameter
server, built from the documents alone (docs/wire.md: the 64-byte frame
header with its CRC-32C; docs/protocol.md: HELLO, KEYTABLE, INIT, PUSH,
ERROR). Standard library only.

  rogue.py garbage HOST:PORT       sends bytes that are no frame
  rogue.py version HOST:PORT [--proto N]
                                   a worker HELLO of another protocol version
  rogue.py member HOST:PORT --party P --rank R --sizes N1,N2 --then WHAT
                                   a proper worker (HELLO, KEYTABLE, INIT of
                                   every key, answered) that then breaks the
                                   protocol: WHAT is badkey (pushes key
                                   --key, not in its table), badround (pushes
                                   round 1 of key 0 first), noinit (pushes
                                   key 0 without any INIT), badcount (pushes
                                   key 0 with one element too many),
                                   badblock (pushes block 1 of key 0, past
                                   its end) or garbage (bytes that are no
                                   frame); or, with --then partial, keeps
                                   it: pushes round 0 of the keys --push
                                   names (geomx-bench's synthetic
                                   gradients), reads their answers and
                                   closes without BYE, as a worker killed
                                   inside a step ("# answered K"); with
                                   --no-wait it ends its stream after the
                                   pushes instead, and reads until the
                                   server closes; --init FILE: INIT values
                                   from a raw float32 file; --prio: key K
                                   pushed with priority (7 + 40 K) mod 256,
                                   and each answer's printed ("# answer key
                                   K priority P (pushed with Q)")
  rogue.py order HOST:PORT --sizes BIG,SMALL --block B
                                   a proper worker whose tensors travel in
                                   blocks of B elements: pushes every block
                                   of key 0 with priority 9, then key 1
                                   with priority 0, and prints the order
                                   of the answers ("# order 0:0 0:1 1:0
                                   ...", key:block)
  rogue.py hello HOST:PORT --party P --rank R [--role N]
                                   a HELLO (role 3, a worker, by default),
                                   then waits for the answer
  rogue.py silent HOST:PORT        connects ("# connected") and says nothing
  rogue.py members HOST:PORT --party P --workers W --members M
                                   a local server's HELLO saying W workers,
                                   then MEMBERS saying M
  rogue.py comeback HOST:PORT --party P --sizes N
                                   a local server with a coded WAN (HELLO
                                   mode 1, one worker) at a global server:
                                   INIT and PUSH of round 0 of key 0 (F32),
                                   its answer read, then the link dropped
                                   without BYE; dials again, says HELLO
                                   mode 1 again and sends the push again:
                                   the answer must be the same aggregate,
                                   byte for byte ("# the same aggregate
                                   again"); then BYE

Each prints what the server did, one "# " line per event: "ack ...",
"error CODE MESSAGE", "closed" (the server closed the connection) or
"timeout", and exits 0 when the server answered as the protocol says
(an ERROR then a close for garbage, version, badkey, silent and members;
HELLO_ACK for hello), 1 otherwise.
"""
import argparse
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import crc32c, synthetic  # noqa: E402

MAGIC = b"GXFR"
HELLO, HELLO_ACK, ERROR, HEARTBEAT, BYE, KEYTABLE, MEMBERS, CONFIG = 16, 17, 18, 19, 20, 21, 22, 23
INIT, INIT_REPLY, PUSH, PUSH_REPLY = 32, 33, 34, 35
CODEC_NONE, CODEC_F32 = 0, 1
ROLE_WORKER = 3
HDR = struct.Struct("<4sBBHIIQQIIBBHIIIII")
assert HDR.size == 64


def frame(ftype, payload=b"", key=0, sender=0, seq=0, count=0, codec=CODEC_NONE,
          rnd=0, block=0, version=1, priority=0):
    h = HDR.pack(MAGIC, version, ftype, 0, key, sender, seq, count, len(payload),
                 len(payload), codec, priority, 0, rnd, block, 0, 0, 0)
    h = h[:60] + struct.pack("<I", crc32c(h[:60]))
    return h + payload


def hello_payload(proto=2, role=ROLE_WORKER, rank=0, party=0, name=b"rogue.py", workers=0,
                  mode=0):
    return struct.pack("<HBBIIIIBBBB40s", proto, role, 0, rank, party, workers, 0, mode, 0, 0,
                       0, name)


def f32_payload(values):
    return struct.pack("<%df" % len(values), *values)


class Conn:
    def __init__(self, addr, timeout):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.deadline = time.monotonic() + timeout
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def _fill(self, n):
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.s.settimeout(left)
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                raise TimeoutError
            except ConnectionResetError:
                b = b""
            if not b:
                raise EOFError
            self.buf += b

    def read_frame(self):
        """(type, header fields, payload); EOFError when closed cleanly
        between frames."""
        self._fill(64)
        f = HDR.unpack(self.buf[:64])
        if f[0] != MAGIC:
            raise ValueError("reply is not a geomx frame: %r" % self.buf[:16])
        if crc32c(self.buf[:60]) != f[17]:
            raise ValueError("reply header checksum mismatch")
        plen = f[8]
        self._fill(64 + plen)
        payload = self.buf[64:64 + plen]
        self.buf = self.buf[64 + plen:]
        return f[2], f, payload

    def next_non_heartbeat(self):
        while True:
            t, f, p = self.read_frame()
            if t != HEARTBEAT:
                return t, f, p


def say(msg):
    print("# " + msg)
    sys.stdout.flush()


def describe_error(payload):
    if len(payload) < 8:
        return "error (malformed payload of %d bytes)" % len(payload)
    code, n = struct.unpack("<iI", payload[:8])
    return "error %d %s" % (code, payload[8:8 + n].decode("utf-8", "replace"))


def expect_error_then_close(c):
    """Reads until an ERROR frame, then until EOF. True when both came."""
    got_error = False
    try:
        while True:
            t, f, p = c.read_frame()
            if t == ERROR:
                say(describe_error(p))
                got_error = True
            elif t != HEARTBEAT:
                say("unexpected frame type %d" % t)
    except EOFError:
        say("closed")
        return got_error
    except TimeoutError:
        say("timeout")
        return False
    except ValueError as e:
        say(str(e))
        return False


def cmd_garbage(a):
    c = Conn(a.addr, a.timeout)
    # Looks like an HTTP request: not the geomx magic.
    c.send(b"GET / HTTP/1.0\r\nHost: geomx\r\n\r\n" + bytes(range(256)) * 4)
    return 0 if expect_error_then_close(c) else 1


def cmd_silent(a):
    c = Conn(a.addr, a.timeout)
    say("connected")
    return 0 if expect_error_then_close(c) else 1


def cmd_version(a):
    c = Conn(a.addr, a.timeout)
    c.send(frame(HELLO, hello_payload(proto=a.proto, rank=a.rank, party=a.party)))
    return 0 if expect_error_then_close(c) else 1


def worker_hello(c, a, mode=0):
    c.send(frame(HELLO, hello_payload(role=a.role, rank=a.rank, party=a.party,
                                      workers=getattr(a, "workers", 0), mode=mode)))
    t, f, p = c.next_non_heartbeat()
    if t == ERROR:
        say(describe_error(p))
        return False
    if t != HELLO_ACK or len(p) != 64:
        say("expected HELLO_ACK, got frame type %d (%d bytes)" % (t, len(p)))
        return False
    proto, role, sync = struct.unpack("<HBB", p[:4])
    say("ack proto %d role %d sync %d" % (proto, role, sync))
    t, f, p = c.next_non_heartbeat()
    if t != CONFIG or len(p) != 56:
        say("expected CONFIG, got frame type %d (%d bytes)" % (t, len(p)))
        return False
    return True


def cmd_hello(a):
    c = Conn(a.addr, a.timeout)
    try:
        ok = worker_hello(c, a)
    except (EOFError, TimeoutError, ValueError) as e:
        say("no answer: %s" % (type(e).__name__ if not str(e) else e))
        return 1
    if ok:
        c.send(frame(BYE, sender=a.rank))
    return 0 if ok else 1


def cmd_members(a):
    """A local server (HELLO, role 2, --workers W) that then announces
    --members M workers."""
    c = Conn(a.addr, a.timeout)
    a.role = 2
    try:
        if not worker_hello(c, a):
            return 1
        c.send(frame(MEMBERS, struct.pack("<I", a.members), sender=a.party, seq=1))
    except (EOFError, TimeoutError, ValueError) as e:
        say("before the violation: %s" % (str(e) or type(e).__name__))
        return 1
    return 0 if expect_error_then_close(c) else 1


def expect_reply(c, want):
    """The payload of the next frame, which must be of type want."""
    t, f, p = c.next_non_heartbeat()
    if t == ERROR:
        raise ValueError(describe_error(p))
    if t != want:
        raise ValueError("expected frame type %d, got %d" % (want, t))
    return p


def cmd_comeback(a):
    n = int(a.sizes.split(",")[0])
    a.role, a.rank, a.workers = 2, a.party, 1
    push = frame(PUSH, f32_payload([0.125 * (i % 7) - 0.25 for i in range(n)]), sender=a.party,
                 seq=2, count=n, codec=CODEC_F32, rnd=0)
    try:
        c = Conn(a.addr, a.timeout)
        if not worker_hello(c, a, mode=1):
            return 1
        c.send(frame(INIT, f32_payload([0.5] * n), sender=a.party, seq=1, count=n,
                     codec=CODEC_F32))
        expect_reply(c, INIT_REPLY)
        c.send(push)
        first = expect_reply(c, PUSH_REPLY)
        say("answered, %d bytes; dropping the link" % len(first))
        c.s.close()
        c = Conn(a.addr, a.timeout)
        if not worker_hello(c, a, mode=1):
            return 1
        c.send(push)
        again = expect_reply(c, PUSH_REPLY)
    except (EOFError, TimeoutError, ValueError) as e:
        say("comeback: %s" % (str(e) or type(e).__name__))
        return 1
    if again != first:
        say("a different answer the second time (%d bytes)" % len(again))
        return 1
    say("the same aggregate again")
    c.send(frame(BYE, sender=a.party, seq=3))
    return 0


def partial(c, a, sizes, seq):
    keys = [int(k) for k in a.push.split(",") if k]
    for k in keys:
        seq += 1
        c.send(frame(PUSH, f32_payload(synthetic(sizes[k], k, 0, a.party, a.rank)), key=k,
                     sender=a.rank, seq=seq, count=sizes[k], codec=CODEC_F32, rnd=0,
                     priority=prio_of(a, k)))
    if a.no_wait:
        # its end of the stream after the pushes, then whatever comes read
        # until the server closes (a close with unread data would reset)
        c.s.shutdown(socket.SHUT_WR)
        try:
            while True:
                c.read_frame()
        except EOFError:
            pass
        say("closed after %d pushes" % len(keys))
        return 0
    for _ in keys:
        t, f, p = c.next_non_heartbeat()
        if t != PUSH_REPLY:
            say("expected PUSH_REPLY, got frame type %d" % t)
            return 1
        if a.prio:
            say("answer key %d priority %d (pushed with %d)" % (f[4], f[11], prio_of(a, f[4])))
    say("answered %d" % len(keys))
    c.s.close()
    return 0


def prio_of(a, k):
    """The priority key k is pushed with: 0, or with --prio (7 + 40 k) mod 256."""
    return (7 + 40 * k) % 256 if a.prio else 0


def init_values(a, sizes):
    """The INIT payload of each key: 0.25s, or the raw float32 file --init
    (key order, as geomx-bench worker --dump writes FILE.init)."""
    if not a.init:
        return [f32_payload([0.25] * n) for n in sizes]
    with open(a.init, "rb") as f:
        raw = f.read()
    out, at = [], 0
    for n in sizes:
        out.append(raw[at:at + 4 * n])
        at += 4 * n
    if at != len(raw):
        raise ValueError("%s: %d bytes, the sizes make %d" % (a.init, len(raw), at))
    return out


def send_keytable(c, a, sizes, seq):
    """KEYTABLE: keys 0, 1, ... of the given sizes."""
    table = struct.pack("<II", len(sizes), 0)
    for k, n in enumerate(sizes):
        table += struct.pack("<IIQ", k, 0, n)
    c.send(frame(KEYTABLE, table, sender=a.rank, seq=seq))


def cmd_member(a):
    sizes = [int(s) for s in a.sizes.split(",")]
    c = Conn(a.addr, a.timeout)
    try:
        if not worker_hello(c, a):
            return 1
        seq = 1
        send_keytable(c, a, sizes, seq)
        if a.then != "noinit":
            for k, (n, v) in enumerate(zip(sizes, init_values(a, sizes))):
                seq += 1
                c.send(frame(INIT, v, key=k, sender=a.rank, seq=seq, count=n,
                             codec=CODEC_F32))
            replies = 0
            while replies < len(sizes):
                t, f, p = c.next_non_heartbeat()
                if t == ERROR:
                    say("before the violation: " + describe_error(p))
                    return 1
                if t != INIT_REPLY:
                    say("expected INIT_REPLY, got frame type %d" % t)
                    return 1
                replies += 1
            say("init answered for %d keys" % replies)
        if a.then == "partial":
            return partial(c, a, sizes, seq)
        seq += 1
        key, rnd, n, blk = 0, 0, sizes[0], 0
        if a.then == "badblock":
            blk = 1
        elif a.then == "badkey":
            key = a.key
        elif a.then == "badround":
            rnd = 1
        elif a.then == "badcount":
            n += 1
        if a.then == "garbage":
            c.send(b"\0" * 64 + b"not a frame")
        else:
            c.send(frame(PUSH, f32_payload([0.5] * n), key=key, sender=a.rank, seq=seq,
                         count=n, codec=CODEC_F32, rnd=rnd, block=blk))
    except (EOFError, TimeoutError, ValueError) as e:
        say("before the violation: %s" % (str(e) or type(e).__name__))
        return 1
    return 0 if expect_error_then_close(c) else 1


def cmd_order(a):
    sizes = [int(s) for s in a.sizes.split(",")]
    blocks = [[(b, min(a.block, n - b)) for b in range(0, n, a.block)] for n in sizes]
    c = Conn(a.addr, a.timeout)
    if not worker_hello(c, a):
        return 1
    seq = 1
    send_keytable(c, a, sizes, seq)
    for k, bl in enumerate(blocks):
        for i, (off, n) in enumerate(bl):
            seq += 1
            c.send(frame(INIT, f32_payload([0.25] * n), key=k, sender=a.rank, seq=seq,
                         count=n, codec=CODEC_F32, block=i))
    for _ in range(sum(len(bl) for bl in blocks)):
        t, f, p = c.next_non_heartbeat()
        if t != INIT_REPLY:
            say("expected INIT_REPLY, got frame type %d" % t)
            return 1
    # one sendall: every push is in the server's hands at once, the bulk
    # key's first
    out = []
    for k, bl in enumerate(blocks):
        for i, (off, n) in enumerate(bl):
            seq += 1
            out.append(frame(PUSH, f32_payload([0.001 * (k + 1)] * n), key=k,
                             sender=a.rank, seq=seq, count=n, codec=CODEC_F32, block=i,
                             priority=9 if k == 0 else 0))
    c.send(b"".join(out))
    order = []
    for _ in out:
        t, f, p = c.next_non_heartbeat()
        if t != PUSH_REPLY:
            say("expected PUSH_REPLY, got frame type %d" % t)
            return 1
        order.append("%d:%d" % (f[4], f[14]))
    say("order " + " ".join(order))
    c.s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(prog="rogue.py")
    ap.add_argument("mode", choices=["garbage", "version", "member", "members", "hello",
                                     "silent", "comeback", "order"])
    ap.add_argument("addr")
    ap.add_argument("--proto", type=int, default=3)
    ap.add_argument("--party", type=int, default=0)
    ap.add_argument("--rank", type=int, default=0)
    ap.add_argument("--sizes", default="4")
    ap.add_argument("--key", type=int, default=999)
    ap.add_argument("--role", type=int, default=ROLE_WORKER)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--members", type=int, default=0)
    ap.add_argument("--push", default="0")
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument("--prio", action="store_true")
    ap.add_argument("--init")
    ap.add_argument("--block", type=int, default=65536)
    ap.add_argument("--then", choices=["badkey", "badround", "noinit", "badcount", "badblock",
                                       "garbage", "partial"],
                    default="badkey")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    try:
        return {"garbage": cmd_garbage, "version": cmd_version, "member": cmd_member,
                "members": cmd_members, "comeback": cmd_comeback,
                "hello": cmd_hello, "silent": cmd_silent, "order": cmd_order}[a.mode](a)
    except OSError as e:
        say("socket: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
