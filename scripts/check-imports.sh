#!/usr/bin/env bash
# Compares what each target of Package.swift imports with what it declares as dependencies, and prints
# the differences (docs/architecture.md, "Targets"). Exit status 0 when every Swift target imports exactly
# the package targets and products it declares; 1 when there is a difference; 2 when the manifest
# cannot be read.
#
#   scripts/check-imports.sh          one line per difference:  TARGET: imports X, not declared
#                                                               TARGET: declares X, never imports it
#
# A Swift target sees every module built before it, declared or not, so an undeclared import compiles
# until the build order changes; this check keeps the manifest honest. What counts:
# - imports: `import X`, `@testable import X`, `@_exported import X`, `import struct X.Y` in the target's
#   .swift files (Sources/NAME or Tests/NAME, or the target's `path:`), for X a target of this package or a
#   product module of a dependency; system modules (Foundation, XCTest, Glibc, …) are not dependencies;
# - declared: the target's `dependencies:` (target names, and product names, which are also the modules).
# Targets without Swift files (C targets, system libraries) and plugins are skipped.
# Needs swift (for `swift package dump-package`, the manifest as Swift reads it) and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# A scratch path of its own, so the check never waits for (or disturbs) a build using .build.
swift package --scratch-path "$scratch" dump-package > "$scratch/package.json" 2> "$scratch/err" || {
  echo "check-imports: cannot read Package.swift:" >&2; cat "$scratch/err" >&2; exit 2; }

# Modules a target may depend on: the package's targets and the products of its dependencies that targets name.
known=$(jq -r '.targets[].name, (.targets[].dependencies[] | .product? // empty | .[0])' "$scratch/package.json" | sort -u)

status=0
while IFS=$'\t' read -r name type path; do
  [ "$type" = plugin ] && continue
  [ "$type" = system ] && continue
  dir=${path:-$([ "$type" = test ] && echo "Tests/$name" || echo "Sources/$name")}
  [ -d "$dir" ] || { echo "$name: directory $dir not found"; status=1; continue; }
  files=$(find "$dir" -name '*.swift' -not -path '*/Fixtures/*' | sort)
  [ -n "$files" ] || continue
  imported=$(sed -nE 's/^[[:space:]]*(@[_A-Za-z]+[[:space:]]+)*import[[:space:]]+((struct|class|enum|protocol|func|var|let|typealias)[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*).*/\4/p' $files \
             | sort -u | comm -12 - <(echo "$known"))
  declared=$(jq -r --arg n "$name" '.targets[] | select(.name == $n) | .dependencies[] | (.byName? // .target? // .product?) | .[0]' \
             "$scratch/package.json" | sort -u)
  while read -r m; do [ -n "$m" ] && { echo "$name: imports $m, not declared"; status=1; }; done < <(comm -23 <(echo "$imported") <(echo "$declared"))
  while read -r m; do [ -n "$m" ] && { echo "$name: declares $m, never imports it"; status=1; }; done < <(comm -13 <(echo "$imported") <(echo "$declared"))
done < <(jq -r '.targets[] | [.name, .type, (.path // "")] | @tsv' "$scratch/package.json")
[ $status -eq 0 ] && echo "check-imports: every target imports exactly what it declares"
exit $status
