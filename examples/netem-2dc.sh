#!/bin/sh
# examples/netem-2dc.sh — the demo's HiPS training (examples/hips-wan.sh:
# one global PS in the center, two data centers of one local PS and two
# workers, cnn on Fashion-MNIST) across a packet-level WAN: data center
# dc0 is 40 ms from the center, dc1 80 ms (one way, each direction), and
# both links lose 0.5 % of their packets. Every IP packet between a data
# center and the center crosses geomx-netem in the center namespace, so the
# job meets TCP as a real WAN makes it behave: slow start over a long round
# trip, retransmissions, a far site that is twice as slow to answer.
#
# Usage: sh examples/netem-2dc.sh [hips-wan.sh OPTION]...  (as root)
#   e.g. sh examples/netem-2dc.sh --steps 100 --limit 4000
# The options are hips-wan.sh's (--epochs, --steps, --batch, --limit, ...),
# less those that shape the WAN. Exit status: hips-wan.sh's (0 done, 1 a
# process failed, 2 usage, 77 no namespaces or TUN, 130 on Ctrl-C, 143 on
# SIGTERM); every process and namespace it made is gone when it exits.
exec sh "$(dirname "$0")/hips-wan.sh" --netem - "$@" <<'TABLE'
dc0 center delay=40ms loss=0.5%
dc1 center delay=80ms loss=0.5%
TABLE
