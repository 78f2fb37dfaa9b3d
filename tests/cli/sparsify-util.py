#!/usr/bin/env python3
"""sparsify-util.py — small helpers for tests/cli/sparsify.sh (stdlib only).

  gen N SEED OUT [SCALE]   N normal deviates * SCALE as raw float32 to OUT
  frames FILE              one line per frame: type codec count key round channel flags
                           (byte offsets as in lib/wire/frame.c / docs/wire.md)
  flip FILE OFFSET         flips the lowest bit of the byte at OFFSET in place
  relerr A B LO            max |a-b|/|a| over elements with |a| >= LO; fails above 1e-3
"""
import array
import random
import struct
import sys

from f32io import load


def gen(n, seed, out, scale=1.0):
    r = random.Random(int(seed))
    a = array.array('f', [r.gauss(0.0, 1.0) * float(scale) for _ in range(int(n))])
    if sys.byteorder != 'little':
        a.byteswap()
    with open(out, 'wb') as f:
        a.tofile(f)


def frames(path):
    data = open(path, 'rb').read()
    off = 0
    while off < len(data):
        h = data[off:off + 64]
        if len(h) < 64 or h[:4] != b'GXFR':
            sys.exit('bad frame at byte %d' % off)
        typ, flags = h[5], struct.unpack_from('<H', h, 6)[0]
        key = struct.unpack_from('<I', h, 8)[0]
        count, plen = struct.unpack_from('<QI', h, 24)
        codec, channel = h[40], struct.unpack_from('<H', h, 42)[0]
        rnd = struct.unpack_from('<I', h, 44)[0]
        print(typ, codec, count, key, rnd, channel, flags)
        off += 64 + plen


def flip(path, offset):
    with open(path, 'r+b') as f:
        f.seek(int(offset))
        b = f.read(1)
        f.seek(int(offset))
        f.write(bytes([b[0] ^ 1]))


def relerr(a, b, lo):
    x, y, lo = load(a), load(b), float(lo)
    if len(x) != len(y):
        sys.exit('lengths differ')
    worst = max((abs(p - q) / abs(p) for p, q in zip(x, y) if abs(p) >= lo), default=0.0)
    print('%.3g' % worst)
    if worst >= 1e-3:
        sys.exit('relative error %g >= 1e-3' % worst)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'gen': gen, 'frames': frames, 'flip': flip, 'relerr': relerr}[cmd](*args)
