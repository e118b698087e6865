#!/usr/bin/env bash
# Regenerates numerics.manifest: the SHA-256 of every source file that can change a stage's numbers,
# keyed to the code version (CodeVersion.numerics in Sources/Pipeline/TrainingState.swift). The test
# SweepTests.CodeVersionTests fails when these sources differ from the manifest, so a numerics change
# cannot silently reuse cached stages computed by older code under the same identity.
#
# After changing any of them, say which case it is:
#   scripts/numerics-manifest.sh --bumped                 numbers change; CodeVersion.numerics was bumped
#   scripts/numerics-manifest.sh --unchanged "REASON"     numbers do not change (refactor, comments, docs);
#                                                         REASON is recorded in the manifest for review
set -euo pipefail
cd "$(dirname "$0")/.."
# Modules whose code computes or stores stage numbers, and RunModel, whose settings and plan determine them (Sweep, Report and the executables only schedule,
# record and present them). Keep in sync with CodeVersionTests.numericsDirectories.
DIRS=(Sources/RunModel Sources/Tensor Sources/CGemm Sources/CLinearAlgebra Sources/CBLAS Sources/NN Sources/Models Sources/Diffusion Sources/Distill
      Sources/Data Sources/Metrics Sources/Inception Sources/Checkpoint Sources/CHDF5 Sources/CZlib Sources/Pipeline)
version=$(sed -n 's/.*public static let numerics = "\([^"]*\)".*/\1/p' Sources/Pipeline/TrainingState.swift)
[ -n "$version" ] || { echo "cannot read CodeVersion.numerics" >&2; exit 2; }
old=$(sed -n 's/^version //p' numerics.manifest 2>/dev/null || true)
case "${1:-}" in
  --bumped)
    [ "$version" != "$old" ] || { echo "CodeVersion.numerics is still $old: bump it in Sources/Pipeline/TrainingState.swift first" >&2; exit 2; }
    note="numbers changed: code version $old -> $version";;
  --unchanged)
    [ -n "${2:-}" ] || { echo "say why the numbers do not change: --unchanged \"REASON\"" >&2; exit 2; }
    [ -z "$old" ] || [ "$version" == "$old" ] || { echo "CodeVersion.numerics changed ($old -> $version): use --bumped" >&2; exit 2; }
    note="numbers unchanged under $version: $2";;
  *) sed -n '2,13p' "$0" >&2; exit 2;;
esac
{
  echo "# SHA-256 of the sources that affect numbers (scripts/numerics-manifest.sh; checked by CodeVersionTests)."
  echo "# last update: $note"
  echo "version $version"
  find "${DIRS[@]}" -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' -o -name '*.modulemap' \) | LC_ALL=C sort | xargs sha256sum
} > numerics.manifest.tmp
mv numerics.manifest.tmp numerics.manifest
echo "numerics.manifest: $(grep -c '  Sources/' numerics.manifest) files, $note"
