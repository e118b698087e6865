#!/usr/bin/env bash
# Builds the report test fixture from real tiny runs (see README.md in this folder).
#
#   scripts/report-fixture/make-fixture.sh [ROOT]      (ROOT: run directories, default /tmp/rdd-report-fixture)
#
# 1. builds report-fixture-runner: the manifest is copied, the runner target is appended to it for the
#    build only, and the original manifest is put back on exit (the runner is not a product of rdd);
# 2. runs every trial of plan.json under ROOT/<sweep>/<key> (stages shared by identity are copied, not rerun;
#    rerunning resumes);
# 3. writes Tests/ReportTests/Fixtures/export.json and copies the samples.h5 that fig5 reads.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ROOT=${1:-/tmp/rdd-report-fixture}
SCRATCH=${SCRATCH:-.build-rep}
HERE=scripts/report-fixture
FIX=Tests/ReportTests/Fixtures

backup=$(mktemp)
cp Package.swift "$backup"
trap 'cp "$backup" Package.swift; rm -f "$backup"' EXIT
python3 - <<'PY'
import re
p = open("Package.swift").read()
anchor = '        .testTarget(name: "TensorTests"'
target = ('        .executableTarget(name: "report-fixture-runner", dependencies: ["Pipeline", "Report"], '
          'path: "scripts/report-fixture/runner"),\n')
assert anchor in p
open("Package.swift", "w").write(p.replace(anchor, target + anchor, 1))
PY
swift build -c release --scratch-path "$SCRATCH" --product report-fixture-runner
# Put the manifest back now (not at exit: the runs below take long and the manifest may change meanwhile).
cp "$backup" Package.swift
rm -f "$backup"
trap - EXIT

BIN="$SCRATCH/release/report-fixture-runner"
"$BIN" run "$HERE/plan.json" "$ROOT"
mkdir -p "$FIX"
"$BIN" export "$HERE/plan.json" "$ROOT" "$FIX/export.json"

# fig5 reads the first samples of the 1-step PD, RCFD and RDD students of the table sweep (seed 0 only).
rm -rf "$FIX/results"
for d in "$ROOT"/fixture-tables/t*/eval-{pd,rcfd,rdd}-1; do
  [ -f "$d/samples.h5" ] || continue
  seed=$(python3 -c 'import json,sys; print(dict(json.load(open(sys.argv[1]))["axes"])["seed"])' "$(dirname "$d")/trial.json")
  [ "$seed" = "0" ] || continue
  rel=${d#"$ROOT"/}
  mkdir -p "$FIX/results/$rel"
  cp "$d/samples.h5" "$FIX/results/$rel/samples.h5"
done
du -sh "$FIX"
