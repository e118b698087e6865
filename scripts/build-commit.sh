#!/bin/sh
# Writes the git commit of the package being built as Swift source (run by Plugins/BuildCommit before
# every build): usage: build-commit.sh PACKAGE_DIR OUTPUT_FILE.
#
# commit: `git rev-parse HEAD` of PACKAGE_DIR when it is the top of a git checkout, else "unknown" (a
# tarball, or a directory inside some other repository). inputsModified: the build's inputs
# (Package.swift, Sources/, Plugins/) differ from that commit — modified, staged or untracked files —
# so the commit alone does not name the code. The file is rewritten only when its text changes, so
# an unchanged commit does not recompile anything.
pkg=$1
out=$2
commit=unknown
modified=false
g() { GIT_OPTIONAL_LOCKS=0 git -c safe.directory='*' -C "$pkg" "$@" 2>/dev/null; }
top=$(g rev-parse --show-toplevel) || top=
here=$(cd "$pkg" && pwd -P)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$here" ] && c=$(g rev-parse HEAD); then
    commit=$c
    if [ -n "$(g status --porcelain --untracked-files=normal -- Package.swift Sources Plugins)" ]; then modified=true; fi
fi
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
cat > "$tmp" <<SWIFT
// Generated before every build by Plugins/BuildCommit (scripts/build-commit.sh). Do not edit.
enum GeneratedBuildCommit {
    static let commit = "$commit"
    static let inputsModified = $modified
}
SWIFT
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv -f "$tmp" "$out"; fi
