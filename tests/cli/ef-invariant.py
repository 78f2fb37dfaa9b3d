#!/usr/bin/env python3
"""ef-invariant.py [--momentum M] STATE.f32 IN1 OUT1 [IN2 OUT2 ...] — checks
error feedback across rounds. INi are the rounds' raw float32 inputs, OUTi the
decoded (dense, raw) outputs, STATE the final state decoded to raw floats
(`geomx-sparsify -d --to raw st.gx`: the residual, then with --momentum the
velocity).

Without momentum the invariant is  sum(IN) == sum(OUT) + residual.
With momentum (DGC momentum correction) the recurrence is replayed: with the
positions sent in each round taken from OUT (its nonzeros),
    u = M*u + g;  v = v + u;  sent = v[S];  v[S] = 0;  u[S] = 0,
and the sent values, the final residual v and velocity u must match.
Tolerance: 1e-4 times the largest magnitude involved. Exit 0 when it holds,
1 with one line naming the worst element otherwise."""
import sys

from f32io import load


def close(name, got, want, tol):
    worst, at = 0.0, -1
    for i, (g, w) in enumerate(zip(got, want)):
        d = abs(g - w)
        if d > worst:
            worst, at = d, i
    if worst > tol:
        sys.exit('%s: element %d differs by %g (got %r, want %r; tolerance %g)'
                 % (name, at, worst, got[at], want[at], tol))


def main():
    args = sys.argv[1:]
    m = None
    if args and args[0] == '--momentum':
        m = float(args[1])
        args = args[2:]
    state = load(args[0])
    rounds = [(load(a), load(b)) for a, b in zip(args[1::2], args[2::2])]
    n = len(rounds[0][0])
    if any(len(g) != n or len(o) != n for g, o in rounds):
        sys.exit('inputs and outputs differ in length')
    if len(state) != (2 * n if m is not None else n):
        sys.exit('state has %d floats, want %d' % (len(state), 2 * n if m else n))
    big = max(max(abs(v) for v in g) for g, _ in rounds)
    tol = 1e-4 * big * len(rounds)
    if m is None:
        total_in = [0.0] * n
        total_out = [0.0] * n
        for g, o in rounds:
            for i in range(n):
                total_in[i] += g[i]
                total_out[i] += o[i]
        close('sum(in) vs sum(out) + residual', [a + r for a, r in zip(total_out, state)],
              total_in, tol)
        return
    u, v = [0.0] * n, [0.0] * n
    for t, (g, o) in enumerate(rounds):
        for i in range(n):
            u[i] = m * u[i] + g[i]
            v[i] += u[i]
        sent = [0.0] * n
        for i in range(n):
            if o[i] != 0.0:
                sent[i], v[i], u[i] = v[i], 0.0, 0.0
        close('round %d: sent values' % (t + 1), o, sent, tol * 10)
    close('final residual', state[:n], v, tol * 10)
    close('final velocity', state[n:], u, tol * 10)


if __name__ == '__main__':
    main()
