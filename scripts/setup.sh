#!/usr/bin/env bash
# Installs what rdd needs on a fresh Debian/Ubuntu machine (Swift 6 itself must already be installed):
# OpenBLAS (with LAPACK), HDF5, SQLite, zlib, Debian's Fashion-MNIST package, headless Chromium (the dashboard's
# browser test, docs/dashboard.md; 3 min 6 s to install on the loaded 2-core machine), and, for the h5py
# cross-check tests, h5py + numpy from PyPI (those tests print a note and pass without them).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libopenblas-dev libhdf5-dev libsqlite3-dev zlib1g-dev dataset-fashion-mnist chromium >/dev/null
if command -v python3 >/dev/null; then
  python3 -c "import h5py, numpy" 2>/dev/null || python3 -m pip install --quiet h5py numpy || echo "note: h5py/numpy not installed; the h5py cross-check tests will skip their Python part"
fi
echo "setup: system libraries installed"
