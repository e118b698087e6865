import Foundation
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// `rdd-sweep import --from OTHER_ROOT`: the completed stage directories of another results root (another
/// machine, or a second root run beside this one to use an idle core) brought into this one, so that the next
/// `rdd-sweep run` here adopts them as cached instead of computing them again.
///
/// A stage directory's name is its identity, a hash of the code version, the stage's resolved parameters and
/// everything upstream (docs/sweeps.md), so a directory of the same name elsewhere is the same computation.
/// Only directories with `done.json` are taken. Each lands under a temporary name and is renamed into place,
/// so an interrupted import leaves no half-copied stage. A local directory of the same stage that is not
/// complete (an interrupted attempt) is replaced; a complete one is kept. The import holds the root's
/// scheduler lock: it refuses to run beside a scheduler, which could start a stage while it arrives (a dry
/// run only reads and does not need the lock).
public enum StageImport {
    public struct Summary: Equatable {
        /// Identities of the stages brought in (sorted).
        public var imported: [String] = []
        /// Complete elsewhere and already complete here.
        public var alreadyHere = 0
        /// Not complete in the source root (not taken).
        public var unfinishedThere = 0
        /// Local unfinished directories replaced by the complete ones.
        public var replaced = 0
        public var bytes: Int64 = 0

        /// One line; `dryRun` says "to import" instead of "imported".
        public func text(dryRun: Bool = false) -> String {
            let mib = String(format: "%.1f MiB", Double(bytes) / 1_048_576)
            var s = "\(imported.count) completed stage\(imported.count == 1 ? "" : "s") \(dryRun ? "to import" : "imported") (\(mib))"
            if replaced > 0 { s += ", \(replaced) of them \(dryRun ? "replacing" : "over") unfinished local attempts" }
            s += "; \(alreadyHere) already complete here; \(unfinishedThere) unfinished there (not taken)"
            return s
        }
    }

    /// Brings the completed stages of `source` into `root`. `link` hard-links files instead of copying them
    /// (same file system; stage files are never modified after done.json). `dryRun` only counts.
    public static func run(from source: String, into root: String, link: Bool = false, dryRun: Bool = false) throws -> Summary {
        let fm = FileManager.default
        let src = URL(fileURLWithPath: source).standardizedFileURL.path
        let dst = URL(fileURLWithPath: root).standardizedFileURL.path
        guard src != dst else { throw PipelineError("rdd-sweep import: --from '\(source)' is the results root itself") }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: src + "/stages", isDirectory: &isDir), isDir.boolValue else {
            throw PipelineError("rdd-sweep import: '\(source)' is not a results root (no stages/ directory in it)")
        }
        if !dryRun { try fm.createDirectory(atPath: dst + "/stages", withIntermediateDirectories: true) }
        let lockPath = dst + "/.scheduler.lock"
        // A dry run only reads, so it may look while a scheduler runs.
        let lock = dryRun ? nil : FileLock.tryLock(lockPath)
        if !dryRun && lock == nil {
            let owner = FileLock.owner(lockPath)
            throw RootLockedError("rdd-sweep import: a scheduler (pid \(owner)) is running on '\(root)'; import when it has stopped (a stage it is about to run could arrive while it starts it)")
        }
        lock?.writeOwner("\(getpid()) (rdd-sweep import)\n")
        defer { withExtendedLifetime(lock) {} }

        var summary = Summary()
        for id in try fm.contentsOfDirectory(atPath: src + "/stages").sorted() where !id.hasPrefix(".") {
            let from = StageFiles.directory(root: src, identity: id), to = StageFiles.directory(root: dst, identity: id)
            guard fm.fileExists(atPath: from + "/" + StageFiles.done) else { summary.unfinishedThere += 1; continue }
            let here = fm.fileExists(atPath: to)
            if here && fm.fileExists(atPath: to + "/" + StageFiles.done) { summary.alreadyHere += 1; continue }
            summary.imported.append(id)
            summary.bytes += try treeSize(from)
            if here { summary.replaced += 1 }
            if dryRun { continue }
            let tmp = dst + "/stages/.import-" + id
            try? fm.removeItem(atPath: tmp)
            try copyTree(from, to: tmp, link: link)
            if here {
                let old = dst + "/stages/.replaced-" + id
                try? fm.removeItem(atPath: old)
                try fm.moveItem(atPath: to, toPath: old)
                try fm.moveItem(atPath: tmp, toPath: to)
                try fm.removeItem(atPath: old)
            } else {
                try fm.moveItem(atPath: tmp, toPath: to)
            }
        }
        return summary
    }

    /// Bytes of the regular files under `path`.
    static func treeSize(_ path: String) throws -> Int64 {
        let fm = FileManager.default
        var total: Int64 = 0
        for rel in try fm.subpathsOfDirectory(atPath: path) {
            let a = try fm.attributesOfItem(atPath: path + "/" + rel)
            if a[.type] as? FileAttributeType == .typeRegular { total += (a[.size] as? NSNumber)?.int64Value ?? 0 }
        }
        return total
    }

    /// Recreates the directory tree `from` at `to`, hard-linking files when `link` (falling back to a copy
    /// across file systems), else copying them.
    static func copyTree(_ from: String, to: String, link: Bool) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: to, withIntermediateDirectories: false)
        for name in try fm.contentsOfDirectory(atPath: from) {
            let a = from + "/" + name, b = to + "/" + name
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: a, isDirectory: &isDir)
            if isDir.boolValue { try copyTree(a, to: b, link: link); continue }
            if link, Glibc.link(a, b) == 0 { continue }
            try fm.copyItem(atPath: a, toPath: b)
        }
    }
}
