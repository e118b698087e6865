import Foundation
import GRDB
import Pipeline
import RunModel

/// One sweep's progress as `rdd-sweep status` prints it and the dashboard shows it: trial counts, every
/// stage with the state a reader should see, worker time and the ETA. Computed here once from the run
/// database (read-only); `Reports.status` formats it as text, `rdd-sweep serve` as HTML and JSON.
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
    /// Trials by database status (completed, running, failed, queued).
    public var trialCounts: [TrialStatus: Int]
    /// Trials recorded as running while nothing runs them: no scheduler holds the root and no Slurm job is in flight.
    public var trialsOrphaned: Bool
    /// Stages by `Stage.state`.
    public var stageCounts: [StageStatus: Int]
    public var stages: [Stage]
    /// "Slurm: …" when Slurm tasks of the root are in flight.
    public var slurmLine: String?
    /// Worker seconds of the completed stages this sweep ran, and of those it reused from other sweeps.
    public var computeSeconds: (ran: Double, reused: Double)
    /// The "compute: …" line of `rdd-sweep status` (empty when nothing has completed).
    public var computeLine: String
    /// Estimated seconds left (nil when every stage is done), and what the estimate could not cover.
    public var etaSeconds: Double?
    public var etaRunning: Int
    public var etaUnestimatedClassifiers: Int
    public var etaNoRate: [String]

    public var trialTotal: Int { trialCounts.values.reduce(0, +) }
    public var stagesDone: Int { StageStatus.allCases.filter(\.isDone).map { stageCounts[$0] ?? 0 }.reduce(0, +) }
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
        let tc = try RunLedger.trialCounts(db, sweep: sw.id)
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
        var counts: [StageStatus: Int] = [:]
        var stages: [SweepStatus.Stage] = []
        var remaining: [String: Double] = [:]   // kind → remaining steps
        var unknown = 0
        var evalLeft: [String: Double] = [:]     // EvalCost.key → samples left
        let now = Date().timeIntervalSince1970
        for (r, nTrials, names) in rows {
            let job = slurm[r.identity]
            let state = r.seen(by: sw.id, orphaned: !live && job == nil)
            counts[state, default: 0] += 1
            let total = r.totalSteps, last = r.lastStep
            if !state.isDone {
                if r.kind == StageKind.eval.rawValue, let e = EvalCost(configJSON: r.configJSON) {
                    evalLeft[e.key, default: 0] += Double(e.samples - min(e.samples, last ?? 0))
                } else if let total { remaining[r.kind, default: 0] += Double(total - min(total, last ?? 0)) } else { unknown += 1 }
            }
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
                                            totalSteps: total, lastStep: last, attempts: r.attempts, seconds: r.seconds, peakKiB: r.peakKiB,
                                            trials: nTrials, heartbeat: hb, note: note))
        }
        // ETA: remaining steps × mean seconds_per_step observed for the stage kind (any sweep in this root).
        var eta = 0.0
        var noRate: [String] = []
        for (kind, steps) in remaining where steps > 0 {
            if let sps = try RunLedger.meanSecondsPerStep(db, kind: kind) { eta += steps * sps } else { noRate.append(kind) }
        }
        // Evaluations log no seconds_per_step: seconds per sample of finished evaluations with the same
        // sampler, step count and metrics, this sweep's first (same protocol), else any in the root.
        if !evalLeft.isEmpty {
            let done = try RunLedger.finishedEvaluations(db)
                .compactMap { r in EvalCost(configJSON: r.configJSON).map { (identity: r.identity, cost: $0, seconds: r.seconds) } }
            let mine = Set(rows.map(\.stage.identity))
            for (key, samples) in evalLeft.sorted(by: { $0.key < $1.key }) where samples > 0 {
                let same = done.filter { $0.cost.key == key && $0.cost.samples > 0 }
                let pool = same.contains { mine.contains($0.identity) } ? same.filter { mine.contains($0.identity) } : same
                if pool.isEmpty { noRate.append("eval " + key); continue }
                eta += samples * pool.map(\.seconds).reduce(0, +) / Double(pool.map(\.cost.samples).reduce(0, +))
            }
        }
        let runningNow = max(1, counts[.running] ?? 0)
        let done = StageStatus.allCases.filter(\.isDone).map { counts[$0] ?? 0 }.reduce(0, +)
        let stored = rows.map(\.stage)
        return SweepStatus(sweep: sw, schedulerRunning: live, schedulerOwner: FileLock.owner(root + "/.scheduler.lock"), trialCounts: tc, trialsOrphaned: orphaned,
                           stageCounts: counts, stages: stages, slurmLine: slurmLine, computeSeconds: computeSeconds(stored, sweepID: sw.id),
                           computeLine: computeTimeLine(stored, sweepID: sw.id), etaSeconds: rows.count > done ? eta / Double(runningNow) : nil,
                           etaRunning: runningNow, etaUnestimatedClassifiers: unknown, etaNoRate: noRate.sorted())
    }
}
