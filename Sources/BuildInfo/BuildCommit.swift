/// The git commit this binary was built from, embedded at build time by the `BuildCommit` plugin
/// (Plugins/BuildCommit, scripts/build-commit.sh), which runs before every build.
public enum BuildCommit {
    /// `git rev-parse HEAD` of the package directory when it was built; nil when it was not the top of
    /// a git checkout (a source tarball), so the commit is unknown.
    public static let hash: String? = GeneratedBuildCommit.commit == "unknown" ? nil : GeneratedBuildCommit.commit

    /// True when the build's inputs (Package.swift, Sources/, Plugins/) had changes not in `hash`
    /// (modified, staged or untracked files): the commit then does not name the code exactly.
    public static let inputsModified: Bool = GeneratedBuildCommit.inputsModified
}
