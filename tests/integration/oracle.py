#!/usr/bin/env python3
"""tests/integration/oracle.py — an independent model of a HiPS training job
run by `geomx-bench worker`, for the integration tests (standard library
only).

  oracle.py hips ...   recomputes every round of a fully synchronous job
                       from the parameters the workers started from (their
                       --dump FILE.init): the workers' gradients
                       (geomx-bench(1), "The worker"), the local sums (by
                       rank), the global sum (by party), the mean and one
                       optimizer step (docs/optimizers.md), every operation
                       rounded to float32. Checks a worker's --dump lines
                       (CRC-32C per round and key) and FILE.final bit for
                       bit, or, with --rtol, the final values to a relative
                       tolerance.
  oracle.py elastic ... one data center whose workers --dropped (in that
                       order) die during the run (--elastic): follows a
                       survivor's --dump key by key, each round being the
                       mean over the workers still pushing — every one, then
                       without the first to die, and so on, never going back
                       — and checks FILE.final bit for bit.
  oracle.py optimum ... checks that FILE.final of a --objective quadratic run
                       is within --tol of the optimum, the mean target over
                       the ranks.
  oracle.py same F...  checks that files are byte-identical (names the first
                       differing float).

Prints "#" lines saying what differs and exits 1 on a mismatch; 0 and one
"#" summary line otherwise; 2 on bad usage.
"""
import argparse
import copy
import math
import struct
import sys
from array import array

# ---------------------------------------------------------------- CRC-32C

_POLY = 0x82F63B78
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)
# Slicing by 4: four table lookups per 32-bit word.
_T = [_TABLE]
for _k in range(1, 4):
    _prev = _T[-1]
    _T.append([(_prev[n] >> 8) ^ _TABLE[_prev[n] & 0xFF] for n in range(256)])
_T0, _T1, _T2, _T3 = _T


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), reflected, init and final XOR 0xFFFFFFFF."""
    crc ^= 0xFFFFFFFF
    mv = memoryview(data).cast("B")
    n4 = len(mv) // 4 * 4
    if n4:
        words = array("I")
        assert words.itemsize == 4
        words.frombytes(mv[:n4].tobytes())
        if sys.byteorder != "little":
            words.byteswap()
        for w in words:
            x = crc ^ w
            crc = (_T3[x & 0xFF] ^ _T2[(x >> 8) & 0xFF] ^ _T1[(x >> 16) & 0xFF]
                   ^ _T0[x >> 24])
    for b in mv[n4:]:
        crc = (crc >> 8) ^ _T0[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


# ---------------------------------------------------------------- float32

def f32(xs):
    """Rounds each double of xs to float32 (round to nearest even)."""
    return array("f", xs).tolist()


def f32s(x):
    return array("f", [x])[0]


def load_f32(path):
    a = array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a.tolist()


def to_bytes(xs):
    a = array("f", xs)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def split(flat, sizes):
    out, o = [], 0
    for n in sizes:
        out.append(flat[o:o + n])
        o += n
    return out


# ------------------------------------------------------------ the workers

def synthetic(n, k, r, p, w):
    """geomx-bench(1): g[i] = ((i*7 + k*13 + r*5 + p*11 + w*3) mod 64 - 32) / 64"""
    base = k * 13 + r * 5 + p * 11 + w * 3
    return [((i * 7 + base) % 64 - 32) / 64.0 for i in range(n)]


def target(n, k, w):
    """--objective quadratic: t[i] = ((i*7 + k*13 + w*3) mod 64 - 32) / 64"""
    base = k * 13 + w * 3
    return [((i * 7 + base) % 64 - 32) / 64.0 for i in range(n)]


def round_gradient(args, k, r, w_now, ranks=None):
    """The mean gradient the global tier applies to key k at round r: local
    sums by rank from 0, the global sum by party from 0, divided by the
    number of workers, each addition rounded to float32."""
    n = len(w_now)
    total = [0.0] * n
    for p in range(args.parties):
        s = [0.0] * n
        for w in (range(args.workers) if ranks is None else ranks):
            if args.objective == "quadratic":
                g = f32([a - b for a, b in zip(w_now, target(n, k, w))])
            else:
                g = synthetic(n, k, r, p, w)
            s = f32([a + b for a, b in zip(s, g)])
        total = f32([a + b for a, b in zip(total, s)])
    div = 1 if args.sum else args.parties * (args.workers if ranks is None else len(ranks))
    if div > 1:
        total = f32([a / div for a in total])
    return total


# ------------------------------------------------------------- optimizers

class Optim:
    """docs/optimizers.md, float32 element-wise, one state per key."""

    def __init__(self, args, n):
        self.a = args
        self.kind = args.optimizer
        self.t = 0
        self.buf = None
        self.m = [0.0] * n
        self.v = [0.0] * n
        self.lr = f32s(args.lr)

    def step(self, w, d):
        a = self.a
        self.t += 1
        if self.kind == "sgd":
            return f32([x + y for x, y in zip(w, f32([-self.lr * g for g in d]))])
        if self.kind == "momentum":
            mu = f32s(a.momentum)
            if self.buf is None:
                self.buf = list(d)
            else:
                self.buf = f32([x + y for x, y in zip(f32([b * mu for b in self.buf]), d)])
            return f32([x + y for x, y in zip(w, f32([-self.lr * b for b in self.buf]))])
        if self.kind == "adam":
            b1, b2, eps = f32s(a.beta1), f32s(a.beta2), f32s(a.eps)
            c1, c2 = f32s(1.0 - b1), f32s(1.0 - b2)
            nstep = f32s(-(self.lr / (1.0 - b1 ** self.t)))
            bc2s = f32s(math.sqrt(1.0 - b2 ** self.t))
            self.m = f32([x + y for x, y in zip(f32([m * b1 for m in self.m]),
                                                 f32([c1 * g for g in d]))])
            self.v = f32([x + y for x, y in zip(f32([v * b2 for v in self.v]),
                                                 f32([y * g for y, g in
                                                      zip(f32([c2 * g for g in d]), d)]))])
            den = f32([x + eps for x in f32([s / bc2s for s in f32([math.sqrt(v) for v in self.v])])])
            upd = f32([x / y for x, y in zip(f32([nstep * m for m in self.m]), den)])
            return f32([x + y for x, y in zip(w, upd)])
        raise SystemExit("oracle.py: optimizer %s is not modelled" % self.kind)


# --------------------------------------------------------------- commands

def cmd_hips(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    init = load_f32(args.init)
    if len(init) != sum(sizes):
        print("# %s holds %d floats, want %d" % (args.init, len(init), sum(sizes)))
        return 1
    params = split(init, sizes)
    opts = [Optim(args, n) for n in sizes]
    want_dump = []
    for r in range(args.rounds):
        for k, n in enumerate(sizes):
            d = round_gradient(args, k, r, params[k])
            params[k] = opts[k].step(params[k], d)
            want_dump.append("%d %d %08x" % (r, k, crc32c(to_bytes(params[k]))))
    bad = 0
    final = load_f32(args.final)
    flat = [x for p in params for x in p]
    if len(final) != len(flat):
        print("# %s holds %d floats, want %d" % (args.final, len(final), len(flat)))
        return 1
    if args.rtol is None:
        with open(args.dump) as f:
            got = f.read().splitlines()
        if got != want_dump:
            bad = 1
            for i in range(max(len(got), len(want_dump))):
                g = got[i] if i < len(got) else "(none)"
                w = want_dump[i] if i < len(want_dump) else "(none)"
                if g != w:
                    print("# %s line %d: got '%s', oracle '%s'" % (args.dump, i + 1, g, w))
                    break
        if to_bytes(final) != to_bytes(flat):
            bad = 1
            for i, (g, w) in enumerate(zip(final, flat)):
                if to_bytes([g]) != to_bytes([w]):
                    print("# %s: float %d is %r, oracle %r" % (args.final, i, g, w))
                    break
        if not bad:
            print("# %d rounds, %d keys, %d floats: every CRC and the final parameters "
                  "match the oracle bit for bit" % (args.rounds, len(sizes), len(flat)))
        return bad
    worst, where, exact = 0.0, -1, 0
    for i, (g, w) in enumerate(zip(final, flat)):
        err = abs(g - w)
        exact += g == w
        lim = args.rtol * max(abs(g), abs(w)) + args.atol
        if not err <= lim:
            bad += 1
            if bad <= 3:
                print("# %s: float %d is %r, oracle %r" % (args.final, i, g, w))
        rel = err / max(abs(w), 1e-30)
        if rel > worst:
            worst, where = rel, i
    print("# %d floats, %d off by more than %g relative; largest relative difference "
          "%.3g (float %d); %d identical" % (len(flat), bad, args.rtol, worst, where, exact))
    return 1 if bad else 0


def cmd_elastic(args):
    args.parties = 1
    sizes = [int(s) for s in args.sizes.split(",")]
    dropped = [int(s) for s in args.dropped.split(",")]
    # The sets of workers a round can be the mean over, in the order the
    # deaths shrink them: every worker, then without the first to die, ...
    sets = [list(range(args.workers))]
    for d in dropped:
        sets.append([w for w in sets[-1] if w != d])
    init = load_f32(args.init)
    if len(init) != sum(sizes):
        print("# %s holds %d floats, want %d" % (args.init, len(init), sum(sizes)))
        return 1
    with open(args.dump) as f:
        got = f.read().splitlines()
    if len(got) != args.rounds * len(sizes):
        print("# %s has %d lines, want %d" % (args.dump, len(got), args.rounds * len(sizes)))
        return 1
    params = split(init, sizes)
    opts = [Optim(args, n) for n in sizes]
    stage = [0] * len(sizes)           # index in sets, per key: never goes back
    first = [[None] * len(sets) for _ in sizes]  # the round each set began
    line = 0
    for r in range(args.rounds):
        for k, n in enumerate(sizes):
            for i in range(stage[k], len(sets)):
                # The optimizer state is per key and follows the branch taken.
                trial = copy.deepcopy(opts[k])
                w = trial.step(params[k], round_gradient(args, k, r, params[k], sets[i]))
                if "%d %d %08x" % (r, k, crc32c(to_bytes(w))) == got[line]:
                    params[k], opts[k], stage[k] = w, trial, i
                    if first[k][i] is None:
                        first[k][i] = r
                    break
            else:
                print("# %s line %d: '%s' is the mean over none of the worker sets %s "
                      "(from the stage reached, %s)" % (args.dump, line + 1, got[line], sets,
                                                        sets[stage[k]]))
                return 1
            line += 1
    final = load_f32(args.final)
    flat = [x for p in params for x in p]
    if to_bytes(final) != to_bytes(flat):
        print("# %s differs from the oracle's final parameters" % args.final)
        return 1
    if any(st != len(sets) - 1 for st in stage):
        print("# some keys never lost every dropped worker: stages %s of %s" % (stage, sets))
        return 1
    print("# every round matches; per key, the first round that matched each worker set %s: %s"
          % (sets, first))
    return 0


def cmd_optimum(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    final = load_f32(args.final)
    if len(final) != sum(sizes):
        print("# %s holds %d floats, want %d" % (args.final, len(final), sum(sizes)))
        return 1
    opt = []
    for k, n in enumerate(sizes):
        ts = [target(n, k, w) for w in range(args.workers)]
        opt.extend(sum(col) / args.workers for col in zip(*ts))
    worst, where = 0.0, 0
    for i, (g, o) in enumerate(zip(final, opt)):
        e = abs(g - o)
        if not e <= worst:  # NaN counts as the worst
            worst, where = (e if e == e else math.inf), i
    ok = worst <= args.tol
    print("# largest distance to the optimum %.3g at float %d (value %r, optimum %r), "
          "tolerance %g" % (worst, where, final[where], opt[where], args.tol))
    return 0 if ok else 1


def load_state(path):
    """GX_FT_STATE frames (geomx-ps --ef-save): {(key, block, channel): floats}."""
    out = {}
    data = open(path, "rb").read()
    o = 0
    while o < len(data):
        if len(data) - o < 64:
            raise ValueError("%s: truncated header at byte %d" % (path, o))
        magic, ver, typ = struct.unpack_from("<IBB", data, o)
        key, = struct.unpack_from("<I", data, o + 8)
        count, plen = struct.unpack_from("<QI", data, o + 24)
        codec, = struct.unpack_from("<B", data, o + 40)
        channel, rnd, block = struct.unpack_from("<HII", data, o + 42)
        if magic != 0x52465847 or typ != 2 or codec != 1 or plen != 4 * count:
            raise ValueError("%s: not an F32 state frame at byte %d" % (path, o))
        a = array("f")
        a.frombytes(data[o + 64:o + 64 + plen])
        if sys.byteorder != "little":
            a.byteswap()
        out[(key, block, channel)] = a.tolist()
        o += 64 + plen
    return out


def cmd_ef(args):
    """The error-feedback invariant through the servers (SGD, lr 1, --sum,
    unsplit keys, their residuals whole or in blocks): what the workers pushed, summed over rounds, workers and
    parties, equals what reached the parameters (init - final) plus what the
    local servers kept (their residuals)."""
    sizes = [int(x) for x in args.sizes.split(",")]
    init = split(load_f32(args.init), sizes)
    final = split(load_f32(args.final), sizes)
    states = [load_state(p) for p in args.state]
    worst, bad = 0.0, 0
    for k, n in enumerate(sizes):
        pushed = [0.0] * n
        for p in range(args.parties):
            for w in range(args.workers):
                for r in range(args.rounds):
                    g = synthetic(n, k, r, p, w)
                    for i in range(n):
                        pushed[i] += g[i]
        kept = [0.0] * n
        for st in states:
            res = st.get((k, 0, 0))
            if res is not None and len(res) < n:
                # kept per block (geomx-ps --block): the blocks in order
                res, b = [], 0
                while (k, b, 0) in st:
                    res += st[(k, b, 0)]
                    b += 1
            if res is None or len(res) != n:
                print("# key %d: no residual of %d elements in a state file" % (k, n))
                return 1
            for i in range(n):
                kept[i] += res[i]
        for i in range(n):
            got = (init[k][i] - final[k][i]) + kept[i]
            err = abs(got - pushed[i])
            lim = args.atol + 1e-6 * (abs(init[k][i]) + abs(pushed[i]))
            worst = max(worst, err)
            if err > lim:
                bad += 1
                if bad <= 5:
                    print("# key %d element %d: sent %.9g + kept %.9g = %.9g, pushed %.9g"
                          % (k, i, init[k][i] - final[k][i], kept[i], got, pushed[i]))
    nonzero = sum(1 for st in states for v in st.values() for x in v if x != 0.0)
    print("# sent + kept == pushed for %d elements; worst difference %.3g; %d nonzero "
          "residual elements" % (sum(sizes), worst, nonzero))
    if nonzero == 0:
        print("# every residual is zero: nothing was held back, the test proves nothing")
        return 1
    return 1 if bad else 0


def cmd_same(args):
    ref = open(args.files[0], "rb").read()
    bad = 0
    for p in args.files[1:]:
        b = open(p, "rb").read()
        if b != ref:
            bad = 1
            n = min(len(b), len(ref))
            i = next((j for j in range(n) if b[j] != ref[j]), n)
            print("# %s differs from %s at byte %d (float %d); sizes %d and %d"
                  % (p, args.files[0], i, i // 4, len(b), len(ref)))
    return bad


def main():
    ap = argparse.ArgumentParser(prog="oracle.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hips")
    h.add_argument("--sizes", required=True)
    h.add_argument("--parties", type=int, default=2)
    h.add_argument("--workers", type=int, default=2)
    h.add_argument("--rounds", type=int, required=True)
    h.add_argument("--objective", choices=["synthetic", "quadratic"], default="synthetic")
    h.add_argument("--optimizer", default="sgd")
    h.add_argument("--sum", action="store_true")
    h.add_argument("--lr", type=float, default=0.01)
    h.add_argument("--momentum", type=float, default=0.9)
    h.add_argument("--beta1", type=float, default=0.9)
    h.add_argument("--beta2", type=float, default=0.999)
    h.add_argument("--eps", type=float, default=1e-8)
    h.add_argument("--init", required=True)
    h.add_argument("--dump")
    h.add_argument("--final", required=True)
    h.add_argument("--rtol", type=float)
    h.add_argument("--atol", type=float, default=1e-7)
    e = sub.add_parser("elastic")
    e.add_argument("--sizes", required=True)
    e.add_argument("--workers", type=int, required=True)
    e.add_argument("--dropped", required=True, help="ranks that die, in order")
    e.add_argument("--rounds", type=int, required=True)
    e.add_argument("--objective", choices=["synthetic", "quadratic"], default="synthetic")
    e.add_argument("--optimizer", default="sgd")
    e.add_argument("--sum", action="store_true")
    e.add_argument("--lr", type=float, default=0.01)
    e.add_argument("--momentum", type=float, default=0.9)
    e.add_argument("--beta1", type=float, default=0.9)
    e.add_argument("--beta2", type=float, default=0.999)
    e.add_argument("--eps", type=float, default=1e-8)
    e.add_argument("--init", required=True)
    e.add_argument("--dump", required=True)
    e.add_argument("--final", required=True)
    o = sub.add_parser("optimum")
    o.add_argument("--sizes", required=True)
    o.add_argument("--workers", type=int, required=True)
    o.add_argument("--final", required=True)
    o.add_argument("--tol", type=float, required=True)
    f = sub.add_parser("ef")
    f.add_argument("--sizes", required=True)
    f.add_argument("--parties", type=int, default=2)
    f.add_argument("--workers", type=int, default=2)
    f.add_argument("--rounds", type=int, required=True)
    f.add_argument("--init", required=True)
    f.add_argument("--final", required=True)
    f.add_argument("--state", action="append", required=True)
    f.add_argument("--atol", type=float, default=1e-5)
    s = sub.add_parser("same")
    s.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.cmd == "hips" and args.rtol is None and not args.dump:
        ap.error("hips needs --dump unless --rtol")
    return {"hips": cmd_hips, "elastic": cmd_elastic, "optimum": cmd_optimum,
            "same": cmd_same, "ef": cmd_ef}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
