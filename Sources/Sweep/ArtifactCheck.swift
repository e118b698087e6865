import Foundation
import GRDB
import Checkpoint
import Pipeline
#if canImport(Glibc)
import Glibc
import RunModel
#endif

/// Whether a completed stage's artifact is what its worker wrote.
///
/// - Cheap (`stampProblem`): `done.json` records the size and modification time of the stage's artifact
///   (`final.h5`, or `result.json` for an evaluation) when it completed; a file whose size or time differs
///   has been touched since. `plan` uses only this (it reads no artifact), and so does reconciliation to
///   decide which artifacts to verify fully.
/// - Full (`verify`): `final.h5` is read and checked against the CRC-32 every checkpoint carries
///   (`rdd_checksum`, docs/checkpoint-format.md); `result.json` must decode. The scheduler runs it on
///   every input of a stage before that stage starts (once per input and run), and on a stage whose
///   stamp differs, so a corrupt artifact is rerun — recorded against the stage that made it — instead
///   of failing the healthy stages that read it.
enum ArtifactCheck {
    /// The artifact of a completed stage of `kind` in `dir`.
    static func artifact(_ dir: String, kind: StageKind) -> String { dir + (kind == .eval ? "/result.json" : "/final.h5") }

    /// (size, mtime) of a file.
    static func stamp(_ path: String) -> (size: Int, modified: Double)? {
        guard let size = Proc.fileSize(path), let m = Proc.mtime(path) else { return nil }
        return (size, m)
    }

    /// Why the artifact differs from what done.json recorded, or nil (also nil for an older done.json without a stamp).
    static func stampProblem(_ dir: String, kind: StageKind) -> String? {
        guard let done = WorkerDone.read(directory: dir), let size = done.artifactSize, let modified = done.artifactModified else { return nil }
        let path = artifact(dir, kind: kind), name = (path as NSString).lastPathComponent
        guard let now = stamp(path) else { return "\(name) is missing" }
        if now.size != size { return "\(name) has \(now.size) bytes, \(size) when the stage completed" }
        if abs(now.modified - modified) > 1e-3 { return "\(name) was modified after the stage completed" }
        return nil
    }

    /// Why the artifact cannot be used (it does not read, or its checksum does not match), or nil.
    static func verify(_ dir: String, kind: StageKind) -> String? {
        let path = artifact(dir, kind: kind)
        if kind == .eval {
            guard let d = FileManager.default.contents(atPath: path) else { return "result.json is missing" }
            do { _ = try JSONDecoder().decode(EvaluationResult.self, from: d); return nil } catch { return "result.json does not decode: \(error)" }
        }
        do { _ = try Checkpoint.load(from: path); return nil } catch { return "\(error)" }
    }
}

extension Scheduler {
    /// How many times one run finds a stage's artifact corrupt before it stops rerunning the stage: a
    /// worker that writes a corrupt artifact every time (a bad disk, a bug in the writer) would otherwise
    /// be rerun forever. The stage then fails (`rdd-sweep retry --failed` tries again).
    static let corruptArtifactLimit = 2

    /// Fully verifies the inputs of `s` not yet verified in this run. A corrupt one is requeued (the
    /// event recorded on its own row) and false returned: `s` waits until the input has run again.
    func inputsVerified(_ s: PlannedStage) throws -> Bool {
        var ok = true
        for src in Set(s.inputs.values).sorted() where !verifiedArtifacts.contains(src) {
            guard let input = stageByID[src] else { continue }
            if let problem = ArtifactCheck.verify(stageDir(src), kind: input.kind) {
                try requeueCorrupt(input, because: problem, foundBy: "before \(s.displayName) used it")
                ok = false
            } else {
                verifiedArtifacts.insert(src)
            }
        }
        return ok
    }

    /// A completed stage whose artifact is corrupt: the artifact is moved aside (`*.corrupt`), done.json
    /// removed, the stage queued to run again (resuming from its checkpoint, normally at its last step)
    /// and its row says why — or, the `corruptArtifactLimit`-th time in this run, failed. Its failure
    /// count is untouched: no attempt failed.
    func requeueCorrupt(_ s: PlannedStage, because problem: String, foundBy: String) throws {
        let (note, st) = quarantineArtifact(s, because: problem, foundBy: foundBy)
        try ledger.write { db in
            try ledger.recordCorrupt(db, s.identity, status: st, note: note)
            try updateTrials(db, s.trials)
        }
    }

    /// The file side of `requeueCorrupt` (for callers already inside a database transaction); returns the
    /// note for the stage's row and its new status (queued, or failed when the limit is reached).
    func quarantineArtifact(_ s: PlannedStage, because problem: String, foundBy: String) -> (note: String, status: StageStatus) {
        let dir = stageDir(s.identity), path = ArtifactCheck.artifact(dir, kind: s.kind)
        _ = rename(path, path + ".corrupt")
        try? FileManager.default.removeItem(atPath: dir + "/" + StageFiles.done)
        verifiedArtifacts.remove(s.identity)
        let n = (corruptRequeues[s.identity] ?? 0) + 1
        corruptRequeues[s.identity] = n
        let moved = "moved to \((path as NSString).lastPathComponent).corrupt"
        let giveUp = n >= Self.corruptArtifactLimit
        let note = giveUp
            ? "artifact failed verification \(foundBy) (\(problem)); \(moved); corrupt \(n) times in this run, so the stage is not rerun: its worker writes a corrupt artifact every time (check the disk and the stage's worker.log; `rdd-sweep retry --failed` tries again)"
            : "artifact failed verification \(foundBy) (\(problem)); \(moved) and rerun"
        stageChanged(s.identity, to: giveUp ? .failed : .queued)
        Heartbeat.note("=== rdd-sweep: \(note) ===", log: dir + "/" + StageFiles.log)
        let event = "\(giveUp ? "✗" : "⚠") \(s.displayName) [\(s.shortID)]: \(note)"
        display.event(event)
        if giveUp { failureMessages.append(event) }
        return (note, giveUp ? .failed : .queued)
    }
}
