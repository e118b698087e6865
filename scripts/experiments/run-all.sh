#!/usr/bin/env bash
# Runs every reproduction spec of one size in order, then exports and writes the reports.
# Resumable: rerun the same command after a crash or a lost session; finished stages are reused.
#   [RDD_JOBS=2] scripts/experiments/run-all.sh [experiments|experiments/tiny] [BIN_DIR]
# RDD_JOBS: worker processes at once (each with RDD_THREADS = 2 / RDD_JOBS on 2 cores). At `small` two
# 1-thread workers train 1.47× faster in all than one 2-thread worker (docs/benchmarks.md); a spec that is one
# long stage (table1-ddim1024, table2-ddim1024) keeps one worker with both threads. Numbers are identical at equal thread
# counts; the export records each stage's.
# Order: Table 3 first (it builds the shared classifier / teacher / PD chain), then what reuses that chain;
# DDIM-1024 last (one evaluation of N samples × 1024 U-Net passes: hours at small, resumable by batch).
set -uo pipefail
dir=${1:-experiments}
bin=${2:-.build/release}
root=results; [ "$dir" = experiments/tiny ] && root=results/tiny-run
status=0
for name in ablation table1 fig7 fig9 fig8 fig6 table2 table1-inception table1-ddim1024 table2-ddim1024; do
  spec=$dir/$name.json
  [ -f "$spec" ] || continue
  echo "== $(date -u +%FT%TZ) $spec"
  jobs=${RDD_JOBS:-1}; case $name in *-ddim1024) jobs=1 ;; esac
  "$bin/rdd-sweep" run "$spec" --root "$root" --display plain --jobs "$jobs" || { echo "!! $spec failed (exit $?)"; status=1; }
done
# Export and reports of this size's sweeps (binaries older than `export --preset` export every sweep).
preset=small; [ "$dir" = experiments/tiny ] && preset=tiny
"$(dirname "$0")/publish.sh" "$root" "$preset" "$bin" || "$bin/rdd-sweep" export --root "$root" --format report --output "$root/export.json" || status=1
exit $status
