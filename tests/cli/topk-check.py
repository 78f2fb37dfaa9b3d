#!/usr/bin/env python3
"""topk-check.py IN.f32 OUT.f32 K — OUT (raw little-endian float32, as
written by `geomx-sparsify -d --to raw`) must hold exactly the K elements of IN
with the largest magnitude, at the same positions and with the same values,
and zeros everywhere else. Prints nothing and exits 0 when it does; one line
naming the first difference and exits 1 otherwise."""
import sys

from f32io import load


def main():
    x, y, k = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
    if len(x) != len(y):
        sys.exit('lengths differ: %d in, %d out' % (len(x), len(y)))
    # Largest |x| first, ties broken by the lower index (as gx_topk_exact).
    order = sorted(range(len(x)), key=lambda i: (-abs(x[i]), i))
    want = set(order[:k])
    nz = [i for i in range(len(y)) if y[i] != 0.0]
    if len(nz) != k:
        sys.exit('%d nonzero values out, want %d' % (len(nz), k))
    for i in nz:
        if i not in want:
            sys.exit('element %d (|x| = %g) kept, but it is not among the top %d'
                     % (i, abs(x[i]), k))
        if y[i] != x[i]:
            sys.exit('element %d: value %r out, %r in' % (i, y[i], x[i]))


if __name__ == '__main__':
    main()
