import Foundation
import GRDB
import Pipeline
import RunModel

/// One trial as `rdd-sweep show` prints it and the dashboard's trial page shows it: axes, how its resolved
/// configuration differs from its preset's defaults, its stages, evaluations and unsuccessful attempts.
public struct TrialDetail {
    public struct Stage {
        public var name: String
        public var kind: String
        public var identity: String
        /// The database status, `cached` when another sweep ran it, `stale` when recorded as running while
        /// no scheduler or Slurm job runs it (`orphaned`).
        public var state: StageStatus
        /// Recorded as running while nothing runs it.
        public var orphaned: Bool
        /// What `show` prints: the state's name, or `Reports.notRunning` for an orphaned stage.
        public var status: String { orphaned ? Reports.notRunning : state.displayName }
        public var totalSteps: Int?
        public var lastStep: Int?
        public var attempts: Int
        public var seconds: Double?
        public var peakKiB: Int?
        public var error: String?
    }
    public struct Evaluation {
        /// What was measured ("student@1", "ddim@8").
        public var role: String
        public var metric: String
        public var value: Double
        public var samples: Int
        public var label: String
        /// The model that was sampled ("rdd", "ddim") and its sampler steps: the paper's row.
        public var model: String
        public var steps: Int
    }
    public struct Attempt {
        public var stage: String
        public var attempt: Int
        public var outcome: AttemptOutcome
        public var exitStatus: Int?
        public var signal: Int?
        public var lastStep: Int?
        /// The last 2000 bytes of the attempt's worker log.
        public var stderrTail: String
        /// Why it failed, from the last 50 lines of `stderrTail` ("" when nothing there says).
        public var why: String { Proc.failureLine(stderrTail) ?? "" }
    }

    public var sweep: SweepRecord
    public var index: Int
    public var key: String
    /// The database status.
    public var state: TrialStatus
    /// Recorded as running while no scheduler or Slurm job runs anything of the root.
    public var orphaned: Bool
    /// What `show` prints: the state's name, or `Reports.notRunning` for an orphaned trial.
    public var status: String { orphaned ? Reports.notRunning : state.displayName }
    public var axesJSON: String
    public var configJSON: String
    /// The configuration's `conditional` (class-conditional trials stand beside the paper's Table 2).
    public var conditional: Bool
    /// "distill.method = \"rdd\"" for every leaf that differs from the preset's defaults (nil: not comparable).
    public var configChanges: [String]?
    public var stages: [Stage]
    public var evaluations: [Evaluation]
    public var unsuccessfulAttempts: [Attempt]
}

extension Reports {
    /// Trial `index` of sweep `sw`, or nil when the sweep has no such trial.
    public func trialDetail(sweep ref: String, index: Int) throws -> TrialDetail? {
        let db = try openReader()
        return try db.read { db in
            guard let sw = try RunLedger.sweep(db, ref) else { return nil }
            return try trialDetail(db, sw, index: index)
        }
    }

    func trialDetail(_ db: Database, _ sw: SweepRecord, index idx: Int) throws -> TrialDetail? {
        guard let t = try RunLedger.trial(db, sweep: sw.id, index: idx) else { return nil }
        var changes: [String]?
        let cfg = try? JSONParser.parse(t.configJSON).value
        if let cfg, let def = try? JSON.encode(ExperimentConfig.defaults(preset: sw.preset)) {
            changes = diffPaths(def, cfg, prefix: "")
        }
        let live = schedulerRunning
        let trialOrphaned = try t.status == .running && !live && RunLedger.slurmTaskCount(db) == 0
        let stages = try RunLedger.trialStages(db, trial: t.id).map { name, s in
            let orphaned = try s.status == .running && !live && !RunLedger.hasSlurmTask(db, stage: s.identity)
            return TrialDetail.Stage(name: name, kind: s.kind, identity: s.identity, state: s.seen(by: sw.id, orphaned: orphaned), orphaned: orphaned,
                                     totalSteps: s.totalSteps, lastStep: s.lastStep, attempts: s.attempts, seconds: s.seconds, peakKiB: s.peakKiB, error: s.error)
        }
        let evals = try RunLedger.trialEvaluations(db, trial: t.id).map { role, e in
            TrialDetail.Evaluation(role: role, metric: e.metric, value: e.value, samples: e.samples, label: e.label, model: e.modelLabel, steps: e.steps)
        }
        let fails = try RunLedger.unsuccessfulAttempts(db, trial: t.id).map { a in
            TrialDetail.Attempt(stage: a.stage, attempt: a.attempt, outcome: a.outcome, exitStatus: a.exitStatus, signal: a.signal,
                                lastStep: a.lastStep, stderrTail: a.stderrTail ?? "")
        }
        return TrialDetail(sweep: sw, index: idx, key: t.key, state: t.status, orphaned: trialOrphaned, axesJSON: t.axesJSON, configJSON: t.configJSON,
                           conditional: cfg?["conditional"] == .bool(true), configChanges: changes, stages: stages, evaluations: evals, unsuccessfulAttempts: fails)
    }
}
