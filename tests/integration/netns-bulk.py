#!/usr/bin/env python3
"""netns-bulk.py — a bulk TCP transfer to measure a link's rate (used by
tests/integration/netns-rate.sh).

  netns-bulk.py recv HOST      listens on HOST, port 0; prints the port on
                               its first line, takes one connection, reads it
                               to the end and prints "BYTES SECONDS BITS_PER_S"
                               measured from the first byte received to the
                               end (connection set-up and slow start's first
                               round trip do not count)
  netns-bulk.py send HOST PORT BYTES
                               connects and sends BYTES bytes, then closes

Both give up after 60 seconds of silence. Exit status 0, or 1 with a line
on stderr.
"""
import socket
import sys
import time

CHUNK = 1 << 16
IDLE_S = 60


def recv(host):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, 0))
    ls.listen(1)
    ls.settimeout(IDLE_S)
    print(ls.getsockname()[1], flush=True)
    conn, _ = ls.accept()
    ls.close()
    conn.settimeout(IDLE_S)
    first = conn.recv(CHUNK)
    if not first:
        raise RuntimeError("the sender sent nothing")
    t0 = time.monotonic()
    n = 0
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        n += len(b)
    dt = time.monotonic() - t0
    conn.close()
    if dt <= 0:
        raise RuntimeError("the transfer took no time")
    print(len(first) + n, "%.6f" % dt, "%.0f" % (n * 8 / dt), flush=True)


def send(host, port, total):
    s = socket.create_connection((host, port), timeout=IDLE_S)
    buf = bytes(CHUNK)
    left = total
    while left > 0:
        k = min(left, CHUNK)
        s.sendall(buf[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the receiver's close: everything arrived
    s.close()


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "recv":
            recv(argv[2])
        elif len(argv) == 5 and argv[1] == "send":
            send(argv[2], int(argv[3]), int(argv[4]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, RuntimeError, ValueError) as e:
        print("netns-bulk: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
