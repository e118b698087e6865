#!/usr/bin/env bash
# Regenerates results/tiny with the current code (README's quick-start claim: the quick start's Table 3 equals
# results/tiny/reports/table3.md on any x86-64 machine). Runs every tiny spec whose results are committed there in
# one fresh run root, then writes results/tiny/export.json, results/tiny/trials-<spec>.csv and results/tiny/reports/
# (Fig. 5 reads its sample images from the run root) and refreshes the notebooks, which read the committed exports.
#   scripts/experiments/publish_tiny.sh [ROOT=runs/tiny-<code version>] [BIN=.build/release]
# A rerun resumes: finished stages are reused from ROOT.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/.*public static let numerics = "\([^"]*\)".*/\1/p' Sources/Pipeline/TrainingState.swift)
root=${1:-runs/tiny-$version}
bin=${2:-.build/release}
specs=(ablation fig6 fig7 fig8 fig9 table1 table1-ddim1024 table2 table2-ddim1024)
for tool in rdd-sweep rdd-report; do
  [ -x "$bin/$tool" ] || { echo "publish_tiny.sh: $bin/$tool not found: build with 'swift build -c release' or pass BIN" >&2; exit 2; }
done
for s in "${specs[@]}"; do "$bin/rdd-sweep" run "experiments/tiny/$s.json" --root "$root"; done
"$bin/rdd-sweep" export --root "$root" --format report --preset tiny --output results/tiny/export.json
for s in "${specs[@]}"; do
  "$bin/rdd-sweep" export "experiments/tiny/$s.json" --root "$root" --format csv --output "results/tiny/trials-$s.csv"
done
"$bin/rdd-report" all --export results/tiny/export.json --out-dir results/tiny/reports --preset tiny --results-root "$root"
for page in notebooks-md/*.md; do
  [ "$(basename "$page")" = README.md ] || "$bin/rdd-report" notebook "$page" >/dev/null
done
echo "published the tiny results of $root ($version) into results/tiny/"
