#!/bin/sh
# examples/demo.sh — `make demo`: a real HiPS training on localhost
# (examples/hips-2dc.sh: two data centers of two geomx-train workers, cnn on
# Fashion-MNIST for 2 epochs; test accuracy, wall time, bytes across the
# data-center boundary), then the WAN codec pipeline on real data
# (examples/codec-demo.sh: bytes, ratios and errors of each codec).
set -eu
D=$(dirname "$0")
sh "$D/hips-2dc.sh"
echo
sh "$D/codec-demo.sh"
