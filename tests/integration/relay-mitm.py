#!/usr/bin/env python3
"""tests/integration/relay-mitm.py — a man in the middle of a secure link
(lib/net/secure.h) between two geomx-relays, for tests/integration/relay-sec.sh.
Standard library only.

  relay-mitm.py --connect PORT --mode none|flip|replay|drop|stall [--record K]
                [--conn I]

Listens on 127.0.0.1:0 and prints the port (one line); forwards every
connection to 127.0.0.1:PORT, both ways. In connection I (default 0,
counted in accept order) it follows the client's stream: the 72-byte first
handshake message, then records (4-byte head: length in bits 0..23, then
the ciphertext and a 16-byte tag; record 0 is the handshake confirmation)
and does to record K (default 1, the first data record): flip, one bit of
its ciphertext (or of its tag when it is empty); replay, sends it twice;
drop, leaves it out; stall, sends its first half and then nothing more
(holding the connection open). Prints "conn I: MODE record K" when it did.
"""
import argparse
import socket
import sys
import threading

HELLO = 72
TAG = 16
TIMEOUT = 30.0


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            return bytes(buf)
        buf += b
    return bytes(buf)


def pipe(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def tamper(src, dst, a, idx, say):
    """The client's stream, record by record."""
    try:
        hello = recv_exact(src, HELLO)
        dst.sendall(hello)
        if len(hello) < HELLO:
            dst.shutdown(socket.SHUT_WR)
            return
        k = 0
        while True:
            head = recv_exact(src, 4)
            if len(head) < 4:
                if head:
                    dst.sendall(head)
                break
            n = int.from_bytes(head, "little") & 0xFFFFFF
            body = recv_exact(src, n + TAG)
            rec = bytearray(head + body)
            if k == a.record and len(body) == n + TAG:
                if a.mode == "flip":
                    rec[4] ^= 0x01
                    dst.sendall(rec)
                elif a.mode == "replay":
                    dst.sendall(rec)
                    dst.sendall(rec)
                elif a.mode == "stall":
                    dst.sendall(rec[:len(rec) // 2])
                    say("conn %d: %s record %d" % (idx, a.mode, k))
                    threading.Event().wait()
                # drop: nothing
                say("conn %d: %s record %d" % (idx, a.mode, k))
            else:
                dst.sendall(rec)
            if len(body) < n + TAG:
                break
            k += 1
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def closer(up, down, c, f):
    up.join()
    down.join()
    c.close()
    f.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", type=int, required=True)
    ap.add_argument("--mode", choices=["none", "flip", "replay", "drop", "stall"], default="none")
    ap.add_argument("--record", type=int, default=1)
    ap.add_argument("--conn", type=int, default=0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print(ls.getsockname()[1], flush=True)
    lock = threading.Lock()

    def say(line):
        with lock:
            print(line, flush=True)

    idx = 0
    while True:
        c, _ = ls.accept()
        c.settimeout(TIMEOUT)
        try:
            f = socket.create_connection(("127.0.0.1", a.connect), timeout=TIMEOUT)
        except OSError:
            c.close()
            continue
        if a.mode != "none" and idx == a.conn:
            up = threading.Thread(target=tamper, args=(c, f, a, idx, say), daemon=True)
        else:
            up = threading.Thread(target=pipe, args=(c, f), daemon=True)
        down = threading.Thread(target=pipe, args=(f, c), daemon=True)
        up.start()
        down.start()
        threading.Thread(target=closer, args=(up, down, c, f), daemon=True).start()
        idx += 1


if __name__ == "__main__":
    sys.exit(main())
