#!/bin/sh
# Run a command with Debian's OpenBLAS (pthread build, forced to 1 thread) placed in
# front of the system libblas.so.3 via LD_LIBRARY_PATH -- without installing it and
# without touching update-alternatives.  Debian's python3-torch is built with
# BLAS_INFO=generic, i.e. it uses whatever libblas.so.3 the dynamic linker finds; on a
# machine with only libblas3 that is the slow netlib *reference* BLAS.
#
#   scripts/torch/with-openblas.sh /usr/bin/python3 scripts/torch/bench.py latency --h 256
#
# The package is fetched once with `apt-get download` and unpacked with `dpkg -x` into
# $IMPLICIT_OPENBLAS_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/implicit/openblas).
set -eu
DIR=${IMPLICIT_OPENBLAS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/implicit/openblas}
find_lib() { find "$DIR" -path '*openblas-pthread*' -name libblas.so.3 2>/dev/null | head -n 1; }
LIB=$(find_lib)
if [ -z "$LIB" ]; then
    mkdir -p "$DIR"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download libopenblas0-pthread >&2); then
        echo "with-openblas.sh: apt-get download libopenblas0-pthread failed (run apt-get update first?)" >&2
        rm -rf "$tmp"; exit 2
    fi
    dpkg -x "$tmp"/libopenblas0-pthread_*.deb "$DIR"
    rm -rf "$tmp"
    LIB=$(find_lib)
    [ -n "$LIB" ] || { echo "with-openblas.sh: libblas.so.3 not found in the package" >&2; exit 2; }
fi
LD_LIBRARY_PATH=$(dirname "$LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
OPENBLAS_NUM_THREADS=1
export LD_LIBRARY_PATH OPENBLAS_NUM_THREADS
exec "$@"
