#!/bin/sh
# examples/codec-demo.sh — the WAN codec pipeline on real data (the second
# half of `make demo`).
#
# This streams Fashion-MNIST test images (Debian's dataset-fashion-mnist) as
# a sequence of tensors of one key — the way a parameter's successive
# gradients reach a data center's edge — through geomx-sparsify with each
# codec, decodes them back in a second process, and prints what crossed the
# pipe and what was lost. With error feedback, what matters for SGD is the
# running sum: the error of Σ decoded against Σ input.
set -eu
BUILD=${BUILD:-build}
BIN=$BUILD/bin
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}/t10k-images-idx3-ubyte.gz
N=${GEOMX_DEMO_ITEMS:-1000}
for p in geomx-sparsify; do
	[ -x "$BIN/$p" ] || { echo "demo: $BIN/$p is missing: run 'make demo' from the top of the tree" >&2; exit 1; }
done
[ -r "$DATA" ] || { echo "demo: $DATA is missing: install dataset-fashion-mnist (make deps)" >&2; exit 1; }
PY=$(command -v python3) || { echo "demo: python3 is missing (make deps installs it)" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/geomx-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

# The reference: N images, 784 floats each, as raw little-endian float32.
"$BIN/geomx-sparsify" --from idx --limit "$N" "$DATA" | "$BIN/geomx-sparsify" -d --to raw >"$T/in.f32"

echo "geomx demo: $N Fashion-MNIST images (784 floats each) through geomx-sparsify | geomx-sparsify -d"
printf '%-26s %12s %9s %10s %12s\n' codec bytes ratio "MB/s" "sum-error"
run() { # run NAME FLAGS...
	name=$1; shift
	start=$(date +%s.%N)
	"$BIN/geomx-sparsify" --from raw --chunk 784 --same-key "$@" "$T/in.f32" >"$T/enc.gx"
	end=$(date +%s.%N)
	"$BIN/geomx-sparsify" -d --to raw "$T/enc.gx" >"$T/out.f32"
	"$PY" - "$name" "$T/in.f32" "$T/out.f32" "$T/enc.gx" "$start" "$end" <<'PYEOF'
import array, os, sys, math
name, fin, fout, fenc, t0, t1 = sys.argv[1:7]
a = array.array('f'); a.frombytes(open(fin, 'rb').read())
b = array.array('f'); b.frombytes(open(fout, 'rb').read())
n = 784
sa = [0.0] * n; sb = [0.0] * n
for i in range(0, len(a), n):
    for j in range(n):
        sa[j] += a[i + j]; sb[j] += b[i + j]
err = math.sqrt(sum((x - y) ** 2 for x, y in zip(sa, sb))) / math.sqrt(sum(x * x for x in sa))
enc = os.path.getsize(fenc); raw = len(a) * 4
dt = max(float(t1) - float(t0), 1e-9)
print('%-26s %12d %8.1fx %10.1f %12.2e' % (name, enc, raw / enc, raw / dt / 1e6, err))
PYEOF
}
run "f32 (dense)"
run "fp16" --fp16
run "fp16 + zstd" --fp16 -z
run "top-k 1% exact, no EF" -k 0.01 --exact --no-ef
run "top-k 1% exact + EF" -k 0.01 --exact
run "top-k 1% sampled + EF" -k 0.01
run "top-k 1% fp16 + EF" -k 0.01 --fp16
run "top-k 1% sampled + zstd" -k 0.01 -z
echo "bytes: encoded stream size; ratio: raw float bytes / encoded; MB/s: encoder process throughput;"
echo "sum-error: |Σ decoded - Σ input| / |Σ input| over all $N tensors (error feedback keeps it small)"
