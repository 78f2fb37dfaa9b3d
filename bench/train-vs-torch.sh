#!/bin/sh
# bench/train-vs-torch.sh — geomx-train against PyTorch on the same network:
# the `cnn` preset on Fashion-MNIST, batch 32, Adam (lr 0.001), Xavier-uniform
# weights and zero biases, one thread each (torch.set_num_threads(1),
# geomx-train --threads 1). Prints each side's time per step (training loop
# only: no data loading, no evaluation), their ratio, and the test accuracy
# after EPOCHS epochs. Needs /usr/bin/python3 with torch (skips otherwise).
# Usage: sh bench/train-vs-torch.sh [EPOCHS]   (default 1; BUILD=dir)
set -eu
B=${BUILD:-build}/bin
EPOCHS=${1:-1}
DATA=${GEOMX_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
[ -x "$B/geomx-train" ] || { echo "train-vs-torch: $B/geomx-train is missing: run 'make'" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "train-vs-torch: skipped: $PY has no torch"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/geomx-tvt.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

"$B/geomx-train" --data fashion-mnist --data-dir "$DATA" --model cnn --epochs "$EPOCHS" --batch 32 \
	--optimizer adam --lr 0.001 --seed 1 --threads 1 --report-every 0 -q >"$T/gx"
GX_STEPS=$(tail -n 1 "$T/gx" | cut -f 1) GX_TIME=$(tail -n 1 "$T/gx" | cut -f 3)
GX_ACC=$(tail -n 1 "$T/gx" | cut -f 10)

"$PY" - "$DATA" "$EPOCHS" "$GX_STEPS" "$GX_TIME" "$GX_ACC" <<'PYEOF'
import gzip, struct, sys, time
import torch, torch.nn as nn
data, epochs = sys.argv[1], int(sys.argv[2])
gx_steps, gx_time, gx_acc = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
torch.set_num_threads(1)
torch.manual_seed(1)

def idx(path):
    b = gzip.open(path, 'rb').read()
    nd = b[3]
    dims = struct.unpack('>' + 'I' * nd, b[4:4 + 4 * nd])
    t = torch.frombuffer(bytearray(b[4 + 4 * nd:]), dtype=torch.uint8)
    return t.reshape(dims)

def load(kind):
    x = idx('%s/%s-images-idx3-ubyte.gz' % (data, kind)).float().div_(255).unsqueeze(1)
    y = idx('%s/%s-labels-idx1-ubyte.gz' % (data, kind)).long()
    return x, y

xtr, ytr = load('train')
xte, yte = load('t10k')
net = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 256), nn.ReLU(),
                    nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
for m in net:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
opt = torch.optim.Adam(net.parameters(), lr=0.001)
loss_fn = nn.CrossEntropyLoss()
batch, spe = 32, len(xtr) // 32
steps, t = 0, 0.0
for ep in range(epochs):
    perm = torch.randperm(len(xtr))
    t0 = time.perf_counter()
    for s in range(spe):
        i = perm[s * batch:(s + 1) * batch]
        opt.zero_grad()
        loss = loss_fn(net(xtr[i]), ytr[i])
        loss.backward()
        opt.step()
        steps += 1
    t += time.perf_counter() - t0
with torch.no_grad():
    acc = sum((net(xte[j:j + 1000]).argmax(1) == yte[j:j + 1000]).sum().item()
              for j in range(0, len(xte), 1000)) / len(xte)
gx_ms, th_ms = gx_time / gx_steps * 1e3, t / steps * 1e3
print('cnn, Fashion-MNIST, batch 32, Adam lr 0.001, %d epoch(s), 1 thread' % epochs)
print('%-18s %8s %10s %10s' % ('', 'steps', 'ms/step', 'test_acc'))
print('%-18s %8d %10.2f %10.4f' % ('geomx-train', gx_steps, gx_ms, gx_acc))
print('%-18s %8d %10.2f %10.4f' % ('pytorch ' + torch.__version__.split('+')[0], steps, th_ms, acc))
print('step-time ratio geomx/pytorch: %.2f' % (gx_ms / th_ms))
PYEOF
