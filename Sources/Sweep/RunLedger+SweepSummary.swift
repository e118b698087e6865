import Foundation
import GRDB
import Pipeline
import RunModel

/// A sweep's progress in numbers — trials by status, stages by the state a reader sees, worker time, the ETA — by one
/// set of rules (docs/sweeps.md, "status") for `rdd-sweep status` (`SweepStatus`, which adds every stage's row) and the
/// dashboard's sweeps list and live view (`SweepSummary`). It is read from grouped queries — a few dozen aggregate rows
/// whatever the sweep's size — so a sweep of 10,000 trials and 40,000 stages costs about what a small one costs.
///
/// The rules: a completed stage another sweep ran counts as cached; a running stage counts as stale when no scheduler
/// holds the root and no Slurm task of it is in flight (`state`); compute is the worker seconds of the completed
/// stages the sweep ran (by kind) and of those it reused; the ETA is the remaining steps of each stage kind × the mean
/// `seconds_per_step` logged for that kind, plus the samples left of each evaluation protocol × the seconds per sample
/// of finished evaluations of that protocol (this sweep's first, else any in the root), divided by the stages running.
public struct SweepProgress {
    /// Trials by database status (completed, running, failed, queued).
    public var trialCounts: [TrialStatus: Int]
    /// Stages by the state a reader sees (completed, cached, running, stale, failed, queued).
    public var stageCounts: [StageStatus: Int]
    /// Worker seconds of the completed stages this sweep ran, by stage kind, and of those it reused from other sweeps.
    public var ranSecondsByKind: [String: Double]
    public var reusedSeconds: Double
    /// Estimated seconds left; nil when every stage is done.
    public var etaSeconds: Double?
    /// The divisor of the ETA: the stages running now (at least 1).
    public var etaRunning: Int
    /// Stages not done whose step count is not known yet (classifiers), left out of the ETA.
    public var etaUnestimatedClassifiers: Int
    /// Stage kinds and evaluation protocols with work left and no rate logged yet, left out of the ETA.
    public var etaNoRate: [String]

    public var trialTotal: Int { trialCounts.values.reduce(0, +) }
    public var stageTotal: Int { stageCounts.values.reduce(0, +) }
    public var stagesDone: Int { StageStatus.allCases.filter(\.isDone).map { stageCounts[$0] ?? 0 }.reduce(0, +) }
    /// Worker seconds of the completed stages this sweep ran, and of those it reused from other sweeps.
    public var computeSeconds: (ran: Double, reused: Double) { (ranSecondsByKind.values.reduce(0, +), reusedSeconds) }

    /// The "compute: …" line of `rdd-sweep status` (empty when nothing has completed): the worker time of the sweep's
    /// completed stages (the `seconds` each took), those it ran by kind and those it reused — how long the experiment
    /// took on this machine, without the waiting and pauses that wall-clock time includes.
    public var computeLine: String {
        let total = computeSeconds.ran
        guard total + reusedSeconds > 0 else { return "" }
        let kinds = ranSecondsByKind.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \(formatDuration($0.value))" }.joined(separator: ", ")
        return "compute: \(formatDuration(total)) run by this sweep" + (kinds.isEmpty ? "" : " (\(kinds))")
            + "; \(formatDuration(reusedSeconds)) reused from other sweeps' stages (h:mm:ss of worker time, completed stages only)\n"
    }

    /// The state a reader of a sweep sees for a stage recorded as `stored`: `cached` for one another sweep's worker
    /// completed, `stale` for one recorded as running that nothing runs (`orphaned`: no scheduler holds the root and no
    /// Slurm task of it is in flight), else the recorded status.
    static func state(_ stored: StageStatus, ranByThisSweep: Bool, orphaned: Bool) -> StageStatus {
        if stored == .completed && !ranByThisSweep { return .cached }
        if stored == .running && orphaned { return .stale }
        return stored
    }
}

/// A sweep's line on the dashboard: its progress and who runs it.
public struct SweepSummary {
    public var sweep: SweepRecord
    /// Whether a scheduler holds the root's lock, and what it wrote there (its pid).
    public var schedulerRunning: Bool
    public var schedulerOwner: String
    public var progress: SweepProgress
    /// Slurm tasks of this sweep in flight (submitted, not finished).
    public var slurmTasks: Int
}

/// A stage of a sweep that is not done, as the live view lists it (the first `limit` by trial).
public struct UnfinishedStage {
    public var names: String
    public var identity: String
    public var kind: String
    /// The state (queued, running, stale, failed), or "retrying" (queued after failures), "submitted" (queued in Slurm).
    public var shown: String
    public var totalSteps: Int?
    public var lastStep: Int?
    public var attempts: Int
    /// Why it failed, how it stopped, or the age of its heartbeat.
    public var note: String
}

extension Reports {
    /// The summary of every sweep's latest revision, by name (the dashboard's first page).
    public func allSweepSummaries() throws -> [SweepSummary] {
        let db = try openReader()
        let live = schedulerRunning, owner = FileLock.owner(root + "/.scheduler.lock")
        return try db.read { db in
            var latest: [String: SweepRecord] = [:]
            for s in try RunLedger.sweeps(db) { latest[s.name] = s }   // ordered by revision: the last wins
            return try latest.values.sorted { $0.name < $1.name }.map { try sweepSummary(db, $0, live: live, owner: owner) }
        }
    }

    /// The summary of sweep `ref` (NAME or NAME@REV).
    public func sweepSummary(_ ref: String) throws -> SweepSummary {
        let db = try openReader()
        let live = schedulerRunning, owner = FileLock.owner(root + "/.scheduler.lock")
        return try db.read { db in try sweepSummary(db, try resolveSweep(db, ref), live: live, owner: owner) }
    }

    /// The sweep's stages (each once, however many trials share it) as a subquery: its trials by the `trials` key,
    /// their links by the `trial_stages` key.
    static let sweepStagesSQL = "SELECT ts.stage FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id WHERE t.sweep_id = ?"

    func sweepSummary(_ db: Database, _ sw: SweepRecord, live: Bool, owner: String) throws -> SweepSummary {
        let slurm = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL AND sweep_id = ?", arguments: [sw.id]) ?? 0
        return SweepSummary(sweep: sw, schedulerRunning: live, schedulerOwner: owner, progress: try sweepProgress(db, sw, live: live), slurmTasks: slurm)
    }

    /// Sweep `sw`'s `SweepProgress` (`live`: a scheduler holds the root).
    func sweepProgress(_ db: Database, _ sw: SweepRecord, live: Bool) throws -> SweepProgress {
        let tc = try RunLedger.trialCounts(db, sweep: sw.id)
        // One row per (kind, status, ran by this sweep, in a Slurm task in flight): counts, seconds, remaining steps, and
        // how many have no step count.
        let groups = try Row.fetchAll(db, sql: """
            SELECT s.kind, s.status, s.ran_by_sweep IS ? AS own,
                   EXISTS (SELECT 1 FROM slurm_tasks st WHERE st.stage = s.identity AND st.finished IS NULL) AS slurm,
                   COUNT(*) AS n, TOTAL(s.seconds) AS seconds,
                   TOTAL(s.total_steps - MIN(s.total_steps, COALESCE(s.last_step, 0))) AS remaining,
                   SUM(s.total_steps IS NULL) AS unknown
            FROM stages s WHERE s.identity IN (\(Self.sweepStagesSQL)) GROUP BY 1, 2, 3, 4
            """, arguments: [sw.id, sw.id])
        var counts: [StageStatus: Int] = [:]
        var ran: [String: Double] = [:], reused = 0.0
        var remaining: [String: Double] = [:]
        var unknown = 0
        for g in groups {
            let status = try g.decode(StageStatus.self, forColumn: "status"), own: Bool = g["own"], slurm: Bool = g["slurm"], kind: String = g["kind"]
            let state = SweepProgress.state(status, ranByThisSweep: own, orphaned: !live && !slurm)
            counts[state, default: 0] += g["n"] as Int
            if status == .completed { if own { ran[kind, default: 0] += g["seconds"] } else { reused += g["seconds"] } }
            if !state.isDone && kind != StageKind.eval.rawValue {
                remaining[kind, default: 0] += g["remaining"]
                unknown += g["unknown"] as Int
            }
        }
        let done = StageStatus.allCases.filter(\.isDone).map { counts[$0] ?? 0 }.reduce(0, +)
        let total = counts.values.reduce(0, +)
        let running = max(1, counts[.running] ?? 0)
        var eta: Double?
        var noRate: [String] = []
        if total > done {
            var seconds = 0.0
            for (kind, steps) in remaining where steps > 0 {
                if let sps = try RunLedger.meanSecondsPerStep(db, kind: kind) { seconds += steps * sps } else { noRate.append(kind) }
            }
            let evaluations = try evaluationSecondsLeft(db, sw)
            seconds += evaluations.seconds
            noRate += evaluations.noRate.map { "eval " + $0 }
            eta = seconds / Double(running)
        }
        return SweepProgress(trialCounts: tc, stageCounts: counts, ranSecondsByKind: ran, reusedSeconds: reused, etaSeconds: eta,
                             etaRunning: running, etaUnestimatedClassifiers: unknown, etaNoRate: noRate.sorted())
    }

    /// Seconds the sweep's unfinished evaluations need: per protocol (`EvalCost.key`: sampler, steps, metrics) the
    /// samples left × the seconds per sample of the finished evaluations of that protocol, this sweep's own when it
    /// has any, else any in the root; and the protocols with samples left and no finished evaluation to time them by.
    /// Configurations are parsed once per distinct text, not once per stage.
    func evaluationSecondsLeft(_ db: Database, _ sw: SweepRecord) throws -> (seconds: Double, noRate: [String]) {
        let open = try Row.fetchAll(db, sql: """
            SELECT config_json, COUNT(*) AS n, TOTAL(COALESCE(last_step, 0)) AS drawn FROM stages
            WHERE kind = 'eval' AND status NOT IN ('completed', 'cached') AND identity IN (\(Self.sweepStagesSQL)) GROUP BY config_json
            """, arguments: [sw.id])
        var left: [String: Double] = [:]
        for r in open {
            guard let c = EvalCost(configJSON: r["config_json"]) else { continue }
            left[c.key, default: 0] += max(0, Double(c.samples) * Double(r["n"] as Int) - r["drawn"])
        }
        guard !left.isEmpty else { return (0, []) }
        // (seconds, samples) of finished evaluations per protocol: this sweep's and all.
        var mine: [String: (Double, Double)] = [:], all: [String: (Double, Double)] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT config_json, COUNT(*) AS n, TOTAL(seconds) AS seconds,
                   SUM(identity IN (\(Self.sweepStagesSQL))) AS n_mine,
                   TOTAL(CASE WHEN identity IN (\(Self.sweepStagesSQL)) THEN seconds END) AS seconds_mine
            FROM stages WHERE kind = 'eval' AND status = 'completed' AND seconds IS NOT NULL GROUP BY config_json
            """, arguments: [sw.id, sw.id]) {
            guard let c = EvalCost(configJSON: r["config_json"]), c.samples > 0 else { continue }
            let s = Double(c.samples)
            all[c.key, default: (0, 0)].0 += r["seconds"]; all[c.key, default: (0, 0)].1 += s * Double(r["n"] as Int)
            if (r["n_mine"] as Int) > 0 { mine[c.key, default: (0, 0)].0 += r["seconds_mine"]; mine[c.key, default: (0, 0)].1 += s * Double(r["n_mine"] as Int) }
        }
        var seconds = 0.0, noRate: [String] = []
        for (key, samples) in left where samples > 0 {
            guard let rate = mine[key] ?? all[key], rate.1 > 0 else { noRate.append(key); continue }
            seconds += samples * rate.0 / rate.1
        }
        return (seconds, noRate)
    }

    /// The stages of sweep `ref` that are not done, in trial order, at most `limit` (the live view's list), and the
    /// running ones as the live view shows them (step, speed, latest metrics, heartbeat age).
    public func unfinishedStages(sweep ref: String, limit: Int) throws -> (stages: [UnfinishedStage], running: [LiveStage]) {
        let db = try openReader()
        let live = schedulerRunning
        return try db.read { db in
            let sw = try resolveSweep(db, ref)
            // Not-done stages by the v5 index on status, then those of this sweep (their links by stage). CROSS JOIN fixes
            // that order: left to itself SQLite starts from the sweep's trials and visits every stage of the sweep.
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.identity, s.kind, s.status, s.total_steps, s.last_step, s.attempts, s.failures, s.heartbeat, s.error, s.started,
                       MIN(t.trial_index) AS first_trial, GROUP_CONCAT(DISTINCT ts.name) AS names,
                       (SELECT st.job_id || '_' || st.task || ' ' || st.state FROM slurm_tasks st WHERE st.stage = s.identity AND st.finished IS NULL) AS slurm
                FROM stages s CROSS JOIN trial_stages ts ON ts.stage = s.identity CROSS JOIN trials t ON t.id = ts.trial_id
                WHERE s.status IN ('queued', 'running', 'failed', 'stale') AND t.sweep_id = ?
                GROUP BY s.identity ORDER BY s.status <> 'running', first_trial, s.rowid LIMIT ?
                """, arguments: [sw.id, limit])
            let now = Date().timeIntervalSince1970
            var stages: [UnfinishedStage] = [], running: [LiveStage] = []
            for r in rows {
                let status = try r.decode(StageStatus.self, forColumn: "status"), slurm: String? = r["slurm"], hb: Double? = r["heartbeat"]
                var shown = status.rawValue, note: String = r["error"] ?? ""
                if status == .running && (live || slurm != nil) { note = hb.map { String(format: "heartbeat %.0f s ago", now - $0) } ?? "" }
                if SweepProgress.state(status, ranByThisSweep: true, orphaned: !live && slurm == nil) == .stale {
                    shown = StageStatus.stale.rawValue
                    note = (status == .running ? Reports.notRunning + ": " : "")
                        + "was stopped while running (its scheduler stopped, or its Slurm job was cancelled); `rdd-sweep run` resumes it from its checkpoint"
                }
                if let slurm { note = "Slurm " + slurm + (note.isEmpty ? "" : "; " + note); if status == .queued { shown = "submitted" } }
                if shown == StageStatus.queued.rawValue, (r["failures"] as Int) > 0 { shown = "retrying" }
                let s = UnfinishedStage(names: r["names"], identity: r["identity"], kind: r["kind"], shown: shown, totalSteps: r["total_steps"],
                                        lastStep: r["last_step"], attempts: r["attempts"], note: note)
                stages.append(s)
                if shown == StageStatus.running.rawValue {
                    running.append(try liveStage(db, s, started: r["started"], heartbeat: hb, now: now))
                }
            }
            return (stages, running)
        }
    }

    /// A running stage's live numbers: the rate is 1 / the latest logged `seconds_per_step`, the metrics those of the
    /// latest logged step (by the metrics table's primary key).
    func liveStage(_ db: Database, _ s: UnfinishedStage, started: Double?, heartbeat: Double?, now: Double) throws -> LiveStage {
        let latest = try Row.fetchAll(db, sql: """
            SELECT name, value FROM metrics WHERE stage = ? AND step = (SELECT MAX(step) FROM metrics WHERE stage = ?) ORDER BY name
            """, arguments: [s.identity, s.identity])
        let metrics: [(String, Double)] = latest.compactMap { r in (r["value"] as Double?).map { (r["name"] as String, $0) } }
        let sps = try Double.fetchOne(db, sql: "SELECT value FROM metrics WHERE stage = ? AND name = 'seconds_per_step' ORDER BY step DESC LIMIT 1",
                                      arguments: [s.identity])
        let row = ProgressRow(name: s.names, shortID: String(s.identity.prefix(10)), step: s.lastStep, total: s.totalSteps,
                              rate: sps.flatMap { $0 > 0 ? 1 / $0 : nil }, elapsed: now - (started ?? now), metrics: metrics, attempt: s.attempts)
        return LiveStage(identity: s.identity, kind: s.kind, progress: row, heartbeatAge: heartbeat.map { now - $0 })
    }
}
