#!/usr/bin/env bash
# Publishes one v2 sweep (issue 24) from the shared v2 run root into results/v2/NAME/: its report export, every
# report (`rdd-report all`), and its learning curves when the sweep recorded any. Read-only on the run database, so
# it is safe while sweeps run: a sweep published before it completes says so in every report (n per cell, the
# trials not yet run, and the command that resumes them), and publishing again later replaces the files.
#   scripts/experiments/publish_v2.sh NAME [BIN=.build/release] [ROOT=runs/v2]
# NAME is the spec's file name under experiments/v2 (tables, table1, inception, ddim1024, fig7, …); the sweep is v2-NAME.
# CommittedResultsTests regenerates every file written here from the committed export, byte for byte, and checks
# that the export's stages started after the spec's (single) commit.
set -euo pipefail
name=${1:?usage: scripts/experiments/publish_v2.sh NAME [BIN] [ROOT]}
bin=${2:-.build/release}
root=${3:-runs/v2}
spec=experiments/v2/$name.json
out=results/v2/$name
[ -f "$spec" ] || { echo "publish_v2.sh: $spec not found (NAME is a spec under experiments/v2)" >&2; exit 2; }
[ "$name" != pilot ] || { echo "publish_v2.sh: the pilot is published by its own commands (results/v2/pilot/README.md)" >&2; exit 2; }
for tool in rdd-sweep rdd-report; do
  [ -x "$bin/$tool" ] || { echo "publish_v2.sh: $bin/$tool not found: build with 'swift build -c release' or pass BIN" >&2; exit 2; }
done
[ -f "$root/runs.sqlite" ] || { echo "publish_v2.sh: $root/runs.sqlite not found: nothing has run under $root" >&2; exit 2; }
mkdir -p "$out"
# Write into a temporary directory and move into place at the end: an interrupted publish leaves the old files.
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$bin/rdd-sweep" export --root "$root" --sweep "v2-$name" --format report --output "$tmp/export.json"
"$bin/rdd-report" all --export "$tmp/export.json" --out-dir "$tmp/reports" --preset small
if grep -q '"curve-' "$tmp/export.json"; then
  "$bin/rdd-report" curves --export "$tmp/export.json" --out-dir "$tmp/curves"
fi
for part in export.json reports curves; do
  rm -rf "${out:?}/$part"
  [ ! -e "$tmp/$part" ] || mv "$tmp/$part" "$out/$part"
done
"$bin/rdd-sweep" status "$spec" --root "$root" | sed -n 1,3p
echo "published v2-$name: $out/export.json, $out/reports/$( [ -d "$out/curves" ] && echo ", $out/curves/")"
