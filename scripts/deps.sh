#!/bin/sh
# scripts/deps.sh — `make deps`: makes sure the Debian packages geomx needs are
# installed. As root it installs what is missing; otherwise it prints the exact
# apt-get line and fails.
# Usage: sh scripts/deps.sh [GROUP]...   where a group adds packages that only
# some scripts need: bench (gnuplot-nox, for bench/wan-ablation.sh's plot).
PKGS="build-essential pkg-config python3 libopenblas-dev libsodium-dev libzstd-dev zlib1g-dev dataset-fashion-mnist"
for g in "$@"; do
	case $g in
	bench) PKGS="$PKGS gnuplot-nox" ;;
	*) echo "geomx: scripts/deps.sh: unknown group '$g' (known: bench)" >&2; exit 2 ;;
	esac
done
missing=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case $s in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "geomx: missing packages:$missing (not a Debian system: install their equivalents)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "geomx: missing packages; run as root:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
echo "geomx: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || apt-get update
apt-get install -y -qq --no-install-recommends $missing || {
	echo "geomx: apt-get install failed for:$missing" >&2
	exit 1
}
