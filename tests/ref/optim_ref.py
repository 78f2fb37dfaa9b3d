#!/usr/bin/env python3
"""Reference values for tests/unit/test_optim.c, written as a C header.

For each case a 7-element float32 tensor starts at fixed weights and takes
five steps with a fixed sequence of gradients; the header holds the weights
after every step. The eight PyTorch kinds are computed by torch.optim itself
(float32, CPU, default flags, single-tensor path); DC-ASGD, which PyTorch
lacks, by an independent scalar implementation below in which every
operation is rounded to float32 through struct.

Hyperparameters are rounded to float32 before they reach torch, because the
C API takes floats: both sides then start from the same numbers and any
difference left is arithmetic.

Usage (Debian: apt-get install python3-torch, which installs for
/usr/bin/python3):
    /usr/bin/python3 tests/ref/optim_ref.py [-o tests/ref/optim_ref.h]
"""
import argparse
import math
import os
import struct
import sys

N = 7
STEPS = 5

FIELDS = ("lr", "momentum", "beta1", "beta2", "eps", "rho", "weight_decay", "lambda")


def f32(x):
    """x rounded to the nearest float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# Deterministic inputs: weights of both signs and a zero; gradients spanning
# four decades, with a zero entry at step 2 (element 3).
W0 = [f32(0.5 - 0.23 * i) for i in range(N)]
GRADS = [[f32(math.sin(1.3 * i + 0.7 * t + 0.1) * (0.05 + 0.4 * i) * (1.0 + 0.5 * t))
          for i in range(N)] for t in range(STEPS)]
GRADS[2][3] = 0.0
GRADS[4][0] = f32(1e-3)

# DC-ASGD schedule (mirrored in test_optim.c): the weights are sent to
# sender 0 before the first step (backup 0); step t comes from sender t % 2
# and the updated weights are then sent back to it (backup of that sender).
# Sender 1's first step therefore has no backup: no compensation.
DC_SENDERS = [t % 2 for t in range(STEPS)]

# name, kind, hyperparameters (missing ones: the defaults below).
DEFAULTS = {
    "sgd": dict(lr=0.01),
    "momentum": dict(lr=0.01, momentum=0.9),
    "nesterov": dict(lr=0.01, momentum=0.9),
    "adagrad": dict(lr=0.01, eps=1e-10),
    "rmsprop": dict(lr=0.01, rho=0.99, eps=1e-8),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6),
    "adam": dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8),
    "adamw": dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01),
    "dcasgd": dict(lr=0.01, **{"lambda": 0.04}),
}

CASES = [
    ("sgd", "sgd", dict(lr=0.1)),
    ("sgd_wd", "sgd", dict(lr=0.1, weight_decay=0.05)),
    ("momentum", "momentum", dict(lr=0.1)),
    ("momentum_wd", "momentum", dict(lr=0.05, momentum=0.5, weight_decay=0.05)),
    ("nesterov", "nesterov", dict(lr=0.1)),
    ("nesterov_wd", "nesterov", dict(lr=0.05, momentum=0.7, weight_decay=0.05)),
    ("adagrad", "adagrad", {}),
    ("adagrad_wd", "adagrad", dict(lr=0.1, weight_decay=0.05, eps=1e-6)),
    ("rmsprop", "rmsprop", {}),
    ("rmsprop_wd", "rmsprop", dict(lr=0.003, rho=0.9, weight_decay=0.05, eps=1e-3)),
    ("adadelta", "adadelta", {}),
    ("adadelta_wd", "adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.05, eps=1e-4)),
    ("adam", "adam", {}),
    ("adam_wd", "adam", dict(lr=0.05, beta1=0.8, beta2=0.99, weight_decay=0.05, eps=1e-6)),
    ("adamw", "adamw", {}),
    ("adamw_wd", "adamw", dict(lr=0.05, beta1=0.8, beta2=0.99, weight_decay=0.1, eps=1e-6)),
    ("dcasgd", "dcasgd", {}),
    ("dcasgd_lambda", "dcasgd", dict(lr=0.1, **{"lambda": 2.0})),
    ("dcasgd_momentum_wd", "dcasgd", dict(lr=0.1, momentum=0.9, weight_decay=0.05, **{"lambda": 1.0})),
]


def hyper(kind, over):
    h = dict(lr=0.0, momentum=0.0, beta1=0.0, beta2=0.0, eps=0.0, rho=0.0,
             weight_decay=0.0, **{"lambda": 0.0})
    h.update(DEFAULTS[kind])
    h.update(over)
    return {k: f32(v) for k, v in h.items()}


def run_torch(kind, h):
    import torch
    w = torch.tensor(W0, dtype=torch.float32, requires_grad=True)
    p = [w]
    if kind in ("sgd", "momentum", "nesterov"):
        opt = torch.optim.SGD(p, lr=h["lr"], momentum=h["momentum"] if kind != "sgd" else 0.0,
                              nesterov=kind == "nesterov", weight_decay=h["weight_decay"],
                              foreach=False)
    elif kind == "adagrad":
        opt = torch.optim.Adagrad(p, lr=h["lr"], eps=h["eps"], weight_decay=h["weight_decay"],
                                  foreach=False)
    elif kind == "rmsprop":
        opt = torch.optim.RMSprop(p, lr=h["lr"], alpha=h["rho"], eps=h["eps"],
                                  weight_decay=h["weight_decay"], foreach=False)
    elif kind == "adadelta":
        opt = torch.optim.Adadelta(p, lr=h["lr"], rho=h["rho"], eps=h["eps"],
                                   weight_decay=h["weight_decay"], foreach=False)
    elif kind == "adam":
        opt = torch.optim.Adam(p, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                               weight_decay=h["weight_decay"], foreach=False)
    elif kind == "adamw":
        opt = torch.optim.AdamW(p, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                weight_decay=h["weight_decay"], foreach=False)
    else:
        raise ValueError(kind)
    out = []
    for t in range(STEPS):
        w.grad = torch.tensor(GRADS[t], dtype=torch.float32)
        opt.step()
        out.append([float(x) for x in w.detach().tolist()])
    return out


def run_dcasgd(h):
    """DC-ASGD, every operation rounded to float32:
    d = (g + wd*w) + ((lambda*g)*g)*(w - bak[sender])   (term absent without a backup)
    momentum: mom = mom*m - lr*d; w = w + mom          else: w = w - lr*d"""
    lr, lam, mu, wd = h["lr"], h["lambda"], h["momentum"], h["weight_decay"]
    w = list(W0)
    mom = [0.0] * N
    bak = {0: list(w)}
    out = []
    for t in range(STEPS):
        s = DC_SENDERS[t]
        g = GRADS[t]
        for i in range(N):
            d = g[i]
            if wd != 0.0:
                d = f32(d + f32(wd * w[i]))
            if s in bak and lam != 0.0:
                d = f32(d + f32(f32(f32(lam * g[i]) * g[i]) * f32(w[i] - bak[s][i])))
            if mu != 0.0:
                mom[i] = f32(f32(mom[i] * mu) - f32(lr * d))
                w[i] = f32(w[i] + mom[i])
            else:
                w[i] = f32(w[i] - f32(lr * d))
        bak[s] = list(w)
        out.append(list(w))
    return out


def cfloat(x):
    assert math.isfinite(x)
    s = "%.9g" % x
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


def row(xs):
    return "{" + ", ".join(cfloat(x) for x in xs) + "}"


def generate():
    lines = [
        "/* optim_ref.h — generated by tests/ref/optim_ref.py; do not edit.",
        " * Weights after each of OPTIM_REF_STEPS steps of torch.optim (float32),",
        " * and of the script's own DC-ASGD, from optim_ref_w0 with gradients",
        " * optim_ref_grad. Regenerate: /usr/bin/python3 tests/ref/optim_ref.py */",
        "#ifndef GX_OPTIM_REF_H",
        "#define GX_OPTIM_REF_H",
        "",
        "#define OPTIM_REF_N %d" % N,
        "#define OPTIM_REF_STEPS %d" % STEPS,
        "",
        "static const float optim_ref_w0[OPTIM_REF_N] = %s;" % row(W0),
        "",
        "static const float optim_ref_grad[OPTIM_REF_STEPS][OPTIM_REF_N] = {",
    ]
    lines += ["\t%s," % row(g) for g in GRADS]
    lines += [
        "};",
        "",
        "/* DC-ASGD: step t comes from sender optim_ref_dc_sender[t]; sender 0 holds",
        " * optim_ref_w0 before the first step, and each sender is sent (backup) the",
        " * weights after its own step. */",
        "static const int optim_ref_dc_sender[OPTIM_REF_STEPS] = {%s};"
        % ", ".join(str(s) for s in DC_SENDERS),
        "",
        "struct optim_ref_case {",
        "\tconst char *name;",
        "\tconst char *kind;",
        "\tfloat %s;" % ", ".join(FIELDS),
        "\tfloat w[OPTIM_REF_STEPS][OPTIM_REF_N];",
        "};",
        "",
        "static const struct optim_ref_case optim_ref_cases[] = {",
    ]
    for name, kind, over in CASES:
        h = hyper(kind, over)
        ws = run_dcasgd(h) if kind == "dcasgd" else run_torch(kind, h)
        lines.append('\t{ "%s", "%s", %s,' % (name, kind, ", ".join(cfloat(h[f]) for f in FIELDS)))
        lines.append("\t  {")
        lines += ["\t\t%s," % row(w) for w in ws]
        lines.append("\t  } },")
    lines += [
        "};",
        "",
        "#define OPTIM_REF_NCASES (sizeof optim_ref_cases / sizeof optim_ref_cases[0])",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=os.path.join(here, "optim_ref.h"),
                    help="header to write (default: %(default)s)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    text = generate()
    with open(a.output, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
