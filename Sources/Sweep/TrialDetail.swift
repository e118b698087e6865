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
        /// The database status, "cached" when another sweep ran it, `Reports.notRunning` when running without a scheduler or Slurm job.
        public var status: String
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
        public var outcome: String
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
    /// The database status, or `Reports.notRunning` when it is recorded as running and nothing runs it.
    public var status: String
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
            guard let sw = try SweepRecord.find(db, ref) else { return nil }
            return try trialDetail(db, sw, index: index)
        }
    }

    func trialDetail(_ db: Database, _ sw: SweepRecord, index idx: Int) throws -> TrialDetail? {
        guard let t = try Row.fetchOne(db, sql: "SELECT * FROM trials WHERE sweep_id = ? AND trial_index = ?", arguments: [sw.id, idx]) else { return nil }
        let tid: Int64 = t["id"]
        let cfgJSON: String = t["config_json"]
        var changes: [String]?
        let cfg = try? JSONParser.parse(cfgJSON).value
        if let cfg, let def = try? JSON.encode(ExperimentConfig.defaults(preset: sw.preset)) {
            changes = diffPaths(def, cfg, prefix: "")
        }
        let live = schedulerRunning
        var trialStatus: String = t["status"]
        if trialStatus == "running" && !live,
           try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") == 0 { trialStatus = Reports.notRunning }
        var stages: [TrialDetail.Stage] = []
        for s in try Row.fetchAll(db, sql: """
            SELECT ts.name, ts.role, s.* FROM trial_stages ts JOIN stages s ON s.identity = ts.stage WHERE ts.trial_id = ? ORDER BY s.rowid
            """, arguments: [tid]) {
            var st: String = s["status"]
            let ranBy: Int64? = s["ran_by_sweep"]
            if st == "completed" && ranBy != sw.id { st = "cached" }
            if st == "running" && !live,
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE stage = ? AND finished IS NULL", arguments: [s["identity"] as String]) == 0 { st = Reports.notRunning }
            stages.append(TrialDetail.Stage(name: s["name"], kind: s["kind"], identity: s["identity"], status: st, totalSteps: s["total_steps"],
                                            lastStep: s["last_step"], attempts: s["attempts"], seconds: s["seconds"], peakKiB: s["peak_rss_kib"], error: s["error"]))
        }
        let evals = try Row.fetchAll(db, sql: """
            SELECT ts.role, e.* FROM trial_stages ts JOIN evaluations e ON e.stage = ts.stage WHERE ts.trial_id = ? ORDER BY ts.role, e.metric
            """, arguments: [tid]).map { e in
            TrialDetail.Evaluation(role: e["role"], metric: e["metric"], value: e["value"], samples: e["samples"], label: e["label"],
                                   model: e["model_label"], steps: e["steps"])
        }
        let fails = try Row.fetchAll(db, sql: """
            SELECT a.*, ts.name FROM attempts a JOIN trial_stages ts ON ts.stage = a.stage
            WHERE ts.trial_id = ? AND a.outcome IN ('failed', 'stale', 'interrupted') ORDER BY a.started
            """, arguments: [tid]).map { a in
            TrialDetail.Attempt(stage: a["name"], attempt: a["attempt"], outcome: a["outcome"], exitStatus: a["exit_status"], signal: a["signal"],
                                lastStep: a["last_step"], stderrTail: a["stderr_tail"] ?? "")
        }
        return TrialDetail(sweep: sw, index: idx, key: t["trial_key"], status: trialStatus, axesJSON: t["axes_json"], configJSON: cfgJSON,
                           conditional: cfg?["conditional"] == .bool(true), configChanges: changes, stages: stages, evaluations: evals, unsuccessfulAttempts: fails)
    }
}
