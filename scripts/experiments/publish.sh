#!/usr/bin/env bash
# Publishes a run root's results into the repository: the report export of one preset's sweeps, one
# trial × metric CSV per sweep, and every report. Read-only on the run database, so it is safe while a
# sweep runs (unfinished trials then show as such in the reports, with the command that resumes them).
#   scripts/experiments/publish.sh [ROOT=results] [PRESET=small] [BIN=.build/release]
# Writes ROOT/export.json, ROOT/trials-<sweep>.csv and ROOT/reports/, and (ROOT = results) refreshes the
# notebooks; re-running `rdd-report all` on the committed export reproduces ROOT/reports byte for byte.
set -euo pipefail
root=${1:-results}
preset=${2:-small}
bin=${3:-.build/release}
for tool in rdd-sweep rdd-report; do
  [ -x "$bin/$tool" ] || { echo "publish.sh: $bin/$tool not found: build with 'swift build -c release' or pass BIN" >&2; exit 2; }
done
"$bin/rdd-sweep" export --root "$root" --format report --preset "$preset" --output "$root/export.json"
# Latest revision of every sweep of the preset: `list` prints NAME@REV first and the preset in the
# column headed "preset" (counted from the end, since the creation time is two words).
"$bin/rdd-sweep" list --root "$root" |
awk -v p="$preset" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "preset") back = NF - i; next }
                    $(NF - back) == p { split($1, a, "@"); print a[1] }' | sort -u |
while read -r sweep; do
  "$bin/rdd-sweep" export --root "$root" --sweep "$sweep" --format csv --output "$root/trials-$sweep.csv"
done
"$bin/rdd-report" all --export "$root/export.json" --out-dir "$root/reports" --preset "$preset"
# The notebooks read the committed exports: refresh them after the export they read has changed.
if [ "$root" = results ] && [ -d notebooks-md ]; then
  for page in notebooks-md/*.md; do
    [ "$(basename "$page")" = README.md ] || "$bin/rdd-report" notebook "$page" >/dev/null
  done
fi
echo "published $preset results of $root: $root/export.json, $root/trials-*.csv, $root/reports/"
