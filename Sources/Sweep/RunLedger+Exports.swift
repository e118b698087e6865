import Foundation
import GRDB
import RunModel

/// The ledger's read queries for `list`, `export` (csv, json, report) and the trials table, static like
/// those of `RunLedger+Reads.swift` (a reader's read transaction passes its connection). Index-backed;
/// docs/run-database.md, "Queries and their plans".
extension RunLedger {
    /// A sweep with the counts of its trials that `rdd-sweep list` prints.
    struct SweepSummary {
        var sweep: SweepRecord
        var trials: Int
        var byStatus: [TrialStatus: Int]
    }

    /// Every sweep revision, by name then revision, with its trial counts.
    static func sweepSummaries(_ db: Database) throws -> [SweepSummary] {
        try Row.fetchAll(db, sql: """
            SELECT s.*, COUNT(t.id) AS n, SUM(t.status = ?) AS c, SUM(t.status = ?) AS f, SUM(t.status = ?) AS r
            FROM sweeps s LEFT JOIN trials t ON t.sweep_id = s.id GROUP BY s.id ORDER BY s.name, s.revision
            """, arguments: [TrialStatus.completed, TrialStatus.failed, TrialStatus.running]).map { r in
            SweepSummary(sweep: SweepRecord(r), trials: r["n"],
                         byStatus: [.completed: (r["c"] as Int?) ?? 0, .failed: (r["f"] as Int?) ?? 0, .running: (r["r"] as Int?) ?? 0])
        }
    }

    /// The trials of sweep `sweep` by index.
    static func trials(_ db: Database, sweep: Int64) throws -> [StoredTrial] {
        try Row.fetchAll(db, sql: "SELECT * FROM trials WHERE sweep_id = ? ORDER BY trial_index", arguments: [sweep]).map(StoredTrial.init)
    }

    /// A trial as the trials table needs it: no configuration, only whether it is class-conditional.
    struct TrialLine {
        var index: Int, key: String, status: TrialStatus, axesJSON: String, conditional: Bool
    }

    /// The trials of sweep `sweep` by index, without their configurations.
    static func trialLines(_ db: Database, sweep: Int64) throws -> [TrialLine] {
        // json_extract: SQLite reads one key of each configuration, so 10,000 trials cost no JSON parsing here.
        try Row.fetchAll(db, sql: """
            SELECT trial_index, trial_key, status, axes_json, COALESCE(json_extract(config_json, '$.conditional'), 0) AS conditional
            FROM trials WHERE sweep_id = ? ORDER BY trial_index
            """, arguments: [sweep]).map { t in
            TrialLine(index: t["trial_index"], key: t["trial_key"], status: try t.decode(TrialStatus.self, forColumn: "status"), axesJSON: t["axes_json"],
                      conditional: (t["conditional"] as Int? ?? 0) != 0)
        }
    }

    /// Every evaluation of sweep `sweep`'s trials with the trial's index and the role of the stage that made it,
    /// by trial index, role and metric.
    static func sweepEvaluations(_ db: Database, sweep: Int64) throws -> [(trial: Int, role: String, evaluation: StoredEvaluation)] {
        try Row.fetchAll(db, sql: """
            SELECT t.trial_index, ts.role, e.* FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id JOIN evaluations e ON e.stage = ts.stage
            WHERE t.sweep_id = ? ORDER BY t.trial_index, ts.role, e.metric
            """, arguments: [sweep]).map { ($0["trial_index"], $0["role"], StoredEvaluation($0)) }
    }

    /// The stages of trial `trial` (row id) in the order its plan linked them (classifier, teacher, PD chain,
    /// distillation stages in training order, evaluations), with their trial-plan names.
    static func trialStagesInPlanOrder(_ db: Database, trial: Int64) throws -> [(name: String, stage: StoredStage)] {
        try Row.fetchAll(db, sql: """
            SELECT ts.name AS tname, s.* FROM trial_stages ts JOIN stages s ON s.identity = ts.stage
            WHERE ts.trial_id = ? ORDER BY ts.rowid
            """, arguments: [trial]).map { r in (r["tname"], try StoredStage(r)) }
    }

    /// Stage `id`'s evaluations by metric.
    static func evaluations(_ db: Database, stage id: String) throws -> [StoredEvaluation] {
        try Row.fetchAll(db, sql: "SELECT * FROM evaluations WHERE stage = ? ORDER BY metric", arguments: [id]).map(StoredEvaluation.init)
    }

    /// How many journal rows the root's database holds (`rdd-bench harness` reports it).
    static func metricRowCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics") ?? 0
    }
}
