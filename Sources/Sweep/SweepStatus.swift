import Foundation
import GRDB
import Pipeline
import RunModel

/// One sweep's progress as `rdd-sweep status` prints it and the dashboard's sweep page shows it: its numbers
/// (`SweepProgress`: counts, worker time, ETA — the same rules and the same queries as the dashboard's sweeps list)
/// and every stage with the state a reader should see. Read from the run database (read-only); `Reports.status`
/// formats it as text, `rdd-sweep serve` as HTML and JSON.
public struct SweepStatus {
    /// One stage of the sweep (shared stages once, under every node name that needs them).
    public struct Stage {
        /// The trial-plan names of the stage, comma-separated ("teacher", "pd512,pd256" …).
        public var names: String
        public var identity: String
        public var kind: String
        /// The state counted in the totals: the database status, with `cached` for a completed stage another
        /// sweep ran and `stale` for a running stage whose scheduler (or Slurm job) is gone.
        public var state: StageStatus
        /// What a reader is shown: `state`'s name, or "retrying" (queued after failures), "submitted" (queued in Slurm).
        public var shown: String
        public var totalSteps: Int?
        public var lastStep: Int?
        public var attempts: Int
        public var seconds: Double?
        public var peakKiB: Int?
        public var trials: Int
        /// Last worker heartbeat the scheduler saw (Unix seconds).
        public var heartbeat: Double?
        /// Why it failed, how it stopped, or its Slurm job (as the status table's note column).
        public var note: String
        public var isDone: Bool { state.isDone }
    }

    public var sweep: SweepRecord
    /// Whether a scheduler holds the root's lock, and what it wrote there (its pid).
    public var schedulerRunning: Bool
    public var schedulerOwner: String
    /// Trials recorded as running while nothing runs them: no scheduler holds the root and no Slurm job is in flight.
    public var trialsOrphaned: Bool
    /// Counts, worker time and ETA.
    public var progress: SweepProgress
    /// Every stage of the sweep, in the order of the first trial that needs it.
    public var stages: [Stage]
    /// "Slurm: …" when Slurm tasks of the root are in flight.
    public var slurmLine: String?
}

extension Reports {
    /// The status of sweep `ref` (NAME or NAME@REV; nil: the only sweep).
    public func sweepStatus(_ ref: String?) throws -> SweepStatus {
        let db = try openReader()
        return try db.read { db in try sweepStatus(db, try resolveSweep(db, ref)) }
    }

    /// Every sweep revision in the database, by name then revision.
    public func sweepRecords() throws -> [SweepRecord] {
        try openReader().read { try RunLedger.sweeps($0) }
    }

    /// The status of every sweep's latest revision, by name (the dashboard's first page).
    public func allSweepStatuses() throws -> [SweepStatus] {
        let db = try openReader()
        return try db.read { db in
            var latest: [String: SweepRecord] = [:]
            for s in try RunLedger.sweeps(db) { latest[s.name] = s }   // ordered by revision: the last wins
            return try latest.values.sorted { $0.name < $1.name }.map { try sweepStatus(db, $0) }
        }
    }

    func sweepStatus(_ db: Database, _ sw: SweepRecord) throws -> SweepStatus {
        let live = schedulerRunning
        let orphaned = try !live && RunLedger.slurmTaskCount(db) == 0
        let rows = try RunLedger.sweepStages(db, sweep: sw.id)
        // Stages in Slurm jobs (the Slurm executor): they run without a local scheduler.
        var slurm: [String: RunLedger.InFlightTask] = [:]
        for t in try RunLedger.inFlightTasks(db) { slurm[t.stage] = t }
        var slurmLine: String?
        if !slurm.isEmpty {
            let mine = try RunLedger.inFlightTasks(db, sweep: sw.id)
            let running = mine.filter { ["RUNNING", "COMPLETING"].contains($0.state) }.count
            let jobs = Array(Set(mine.map(\.job))).sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
            let seen = try RunLedger.lastSlurmContact(db)
            var line = "Slurm: \(mine.count) task\(mine.count == 1 ? "" : "s") of this sweep in flight (\(running) running, \(mine.count - running) pending or starting)"
            line += jobs.isEmpty ? "" : " in job array\(jobs.count == 1 ? "" : "s") \(jobs.prefix(12).joined(separator: ", "))\(jobs.count > 12 ? ", …" : "")"
            slurmLine = line + "; Slurm last asked \(seen.map { fmtDate($0) } ?? "never")"
        }
        var stages: [SweepStatus.Stage] = []
        let now = Date().timeIntervalSince1970
        for (r, nTrials, names) in rows {
            let job = slurm[r.identity]
            let state = r.seen(by: sw.id, orphaned: !live && job == nil)
            var shown = state.displayName
            let hb = r.heartbeat
            var note = r.error ?? ""
            if state == .running, let hb { note = String(format: "heartbeat %.0f s ago", now - hb) }
            if state == .stale { note = (r.status == .running ? Reports.notRunning + ": " : "") + "was stopped while running (its scheduler stopped, or its Slurm job was cancelled); `rdd-sweep run` resumes it from its checkpoint" }
            if let job {
                note = "Slurm \(job.job)_\(job.task) \(job.state)" + (job.state == "RUNNING" ? job.node.map { " on \($0)" } ?? "" : job.reason.map { " (\($0))" } ?? "")
                    + (state == .running ? hb.map { String(format: ", heartbeat %.0f s ago", now - $0) } ?? "" : "")
                if state == .queued { shown = "submitted" }
            }
            if state == .queued, job == nil, r.failures > 0 { shown = "retrying" }
            stages.append(SweepStatus.Stage(names: names, identity: r.identity, kind: r.kind, state: state, shown: shown,
                                            totalSteps: r.totalSteps, lastStep: r.lastStep, attempts: r.attempts, seconds: r.seconds, peakKiB: r.peakKiB,
                                            trials: nTrials, heartbeat: hb, note: note))
        }
        return SweepStatus(sweep: sw, schedulerRunning: live, schedulerOwner: FileLock.owner(root + "/.scheduler.lock"), trialsOrphaned: orphaned,
                           progress: try sweepProgress(db, sw, live: live), stages: stages, slurmLine: slurmLine)
    }
}
