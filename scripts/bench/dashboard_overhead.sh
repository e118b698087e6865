#!/usr/bin/env bash
# Does watching a sweep slow it? Runs the same tiny sweep (a teacher of STEPS steps, one worker of one thread)
# under a fresh root REPEATS times without a client and REPEATS times while a client polls the dashboard's live
# view every INTERVAL seconds (the page's own script polls every 2 s), alternating, and prints the teacher's
# mean seconds per step of each run (the `seconds_per_step` its journal logged, from the run database).
# Usage: scripts/bench/dashboard_overhead.sh [STEPS=300] [REPEATS=2] [INTERVAL=0.5]   (after swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-300}; REPEATS=${2:-2}; INTERVAL=${3:-0.5}
BIN=.build/release/rdd-sweep
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/spec.json" <<SPEC
{"name": "overhead", "preset": "tiny",
 "base": {"teacher": {"steps": $STEPS, "batchSize": 8, "warmup": 1},
          "pd": {"stepsPerHalving": 1, "batchSize": 8, "downTo": 512},
          "classifier": {"epochs": 1, "batchSize": 256},
          "distill": {"from": 512, "to": 256, "steps": [1], "batchSize": 8},
          "evaluation": {"samples": 8, "batchSize": 8, "studentSteps": [256]}},
 "grid": {"distill.method": ["pd"]}, "seeds": [0],
 "execution": {"checkpointEvery": 100, "logEvery": 10}}
SPEC
rate() {   # mean teacher seconds_per_step of root $1
  python3 - "$1/runs.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
avg, n = db.execute("SELECT AVG(m.value), COUNT(*) FROM metrics m JOIN stages s ON s.identity = m.stage "
                    "WHERE s.kind = 'teacher' AND m.name = 'seconds_per_step'").fetchone()
print(f"{avg:.4f} s/step over {n} logged steps")
PY
}
for i in $(seq 1 "$REPEATS"); do
  for mode in alone polled; do
    root="$WORK/$mode-$i"
    mkdir -p "$root"
    if [ "$mode" = polled ]; then
      rm -f "$WORK/serve.out"   # else the wait below can read the previous server's address before this one starts
      "$BIN" serve --root "$root" --port 0 > "$WORK/serve.out" &
      SERVE=$!
      until grep -q http "$WORK/serve.out" 2>/dev/null; do sleep 0.1; done
      URL=$(grep -o 'http://[^ ]*' "$WORK/serve.out")
      # Counts the polls and those the dashboard answered 200 (the sweep is unknown until the scheduler registers it).
      ( n=0; ok=0; while true; do
          if curl -sf -o /dev/null "${URL}sweeps/overhead/live?fragment=1"; then ok=$((ok+1)); fi
          n=$((n+1)); echo "$n polls, $ok answered" > "$WORK/polls"; sleep "$INTERVAL"; done ) &
      POLL=$!
    fi
    "$BIN" run "$WORK/spec.json" --root "$root" --threads 1 --display quiet > /dev/null
    if [ "$mode" = polled ]; then
      alive=$(kill -0 $SERVE 2>/dev/null && echo "server alive" || echo "SERVER GONE")
      kill $POLL $SERVE 2>/dev/null || true; wait $POLL $SERVE 2>/dev/null || true
      extra=" ($(cat "$WORK/polls"); $alive)"
    else extra=""; fi
    echo "run $i $mode: $(rate "$root")$extra"
  done
done
