import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Stages whose directory lock (`<stage>/.lock`) another process holds when this scheduler wants to
/// run them: the worker of an earlier scheduler that was killed (SIGKILL, a lost ssh session) and
/// has not yet noticed (a worker checks its parent once a second, then stops with exit 70 keeping its
/// checkpoint), or one that is finishing its last step and writing `done.json`.
///
/// Such a stage is *busy*, not crashed: the scheduler neither starts a worker for it (that worker
/// would exit 75 at once) nor counts anything against it. It waits until the lock is released, then
/// adopts the holder's result when it wrote `done.json` (crediting the attempt whose pid wrote it),
/// else runs the stage (resuming from the holder's last checkpoint). A holder whose heartbeat is older
/// than `--heartbeat-timeout` is killed, as a silent worker of this scheduler would be.
extension Scheduler {
    struct HeldStage {
        /// The lock holder's pid (from the lock file), when readable.
        var pid: pid_t?
        var since: Date
    }

    func lockPath(_ id: String) -> String { stageDir(id) + "/" + StageFiles.lock }

    /// Whether another process holds `id`'s stage directory; if so, records it as held.
    func holdIfBusy(_ id: String) -> Bool {
        guard held[id] == nil else { return true }
        guard FileLock.isHeld(lockPath(id)) else { return false }
        let pid = Int32(FileLock.owner(lockPath(id)))
        held[id] = HeldStage(pid: pid, since: Date())
        let s = stageByID[id]!
        display.event("… \(s.displayName) [\(s.shortID)] is held by another worker\(pid.map { " (pid \($0))" } ?? ""), left by an earlier scheduler; waiting for it")
        return true
    }

    /// A worker that exited 75 (another process took the stage's lock between our check and its start):
    /// it did nothing, so its attempt is withdrawn (number and row) rather than counted as a failure,
    /// and the stage waits for the holder like any held stage. worker.log keeps a line about it.
    func busyAtStart(_ s: PlannedStage, attempt: Int) throws {
        let id = s.identity
        attempts[id] = attempt - 1
        try ledger.write { db in try ledger.withdrawAttempt(db, id, attempt: attempt) }
        if let h = FileHandle(forWritingAtPath: stageDir(id) + "/" + StageFiles.log) {
            h.seekToEndOfFile()
            h.write(Data("=== rdd-sweep: that attempt found the stage held by another worker (exit 75); withdrawn, not counted ===\n".utf8))
            try? h.close()
        }
        status[id] = .running
        if !holdIfBusy(id) { stageChanged(id, to: .queued) }   // released already: it starts again on the next tick
    }

    /// Called every tick: releases held stages whose lock is free, adopting a completed result.
    func pollHeld() throws {
        for (id, h) in held {
            let dir = stageDir(id)
            if FileLock.isHeld(lockPath(id)) {
                // An orphan that stopped beating (SIGSTOPped, hung) is killed like a silent worker of ours,
                // but only if the pid is still a worker of this very stage (never a process that reused it).
                let hb = Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? h.since.timeIntervalSince1970
                let age = Date().timeIntervalSince1970 - max(hb, h.since.timeIntervalSince1970, resumedAt)
                if age > options.heartbeatTimeout, let pid = h.pid, Proc.isWorker(pid, of: dir) { kill(pid, SIGKILL) }
                continue
            }
            held[id] = nil
            let s = stageByID[id]!
            let done = WorkerDone.read(directory: dir)
            try ledger.write { db in
                if done != nil {
                    adopted(id, try ledger.adoptCompleted(db, id))
                    status[id] = .completed
                } else {
                    try ledger.interruptOpenAttempts(db, id)
                    try ledger.setStatus(db, id, .queued)
                    status[id] = .queued
                }
                try updateTrials(db, s.trials)
            }
            markCandidates(after: id)
            display.event(done != nil ? "✓ \(s.displayName) [\(s.shortID)] was completed by the worker that held it; adopted"
                                      : "… \(s.displayName) [\(s.shortID)] was released without completing; it runs again from its last checkpoint")
        }
    }
}

extension Proc {
    /// Whether `pid` is an `rdd-sweep worker` of the stage directory `dir` (its command line names it).
    static func isWorker(_ pid: pid_t, of dir: String) -> Bool {
        guard let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
        return cmd.contains("\0worker\0") && cmd.contains(dir)
    }
}
