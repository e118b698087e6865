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

    /// Every trial–stage link of sweep `sweep`'s trials, by trial row id, each trial's in the order its plan linked
    /// them (classifier, teacher, PD chain, distillation stages in training order, evaluations): the trial-plan name
    /// and the stage's identity. One query for the sweep (an export of 10,000 trials made one per trial: a cursor's
    /// set-up each); the links come by the `trial_stages` key (trial, name) and each trial's are put in link order
    /// (rowid) here, which spares SQLite a sort of every link of the sweep.
    static func sweepLinks(_ db: Database, sweep: Int64) throws -> [Int64: [(name: String, stage: String)]] {
        var byTrial: [Int64: [(rowid: Int64, name: String, stage: String)]] = [:]
        let rows = try Row.fetchCursor(db, sql: """
            SELECT ts.trial_id, ts.rowid, ts.name, ts.stage FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id WHERE t.sweep_id = ?
            """, arguments: [sweep])
        while let r = try rows.next() { byTrial[r[0], default: []].append((r[1], r[2], r[3])) }
        return byTrial.mapValues { $0.sorted { $0.rowid < $1.rowid }.map { ($0.name, $0.stage) } }
    }

    /// Stage `identity`'s row (nil: no row), by the stages' key with a statement prepared once per connection: the
    /// report export reads each stage of a sweep this way as the first trial linking it comes, so its first trial is
    /// written while the rest are read (one query for all of a sweep's stages made every trial wait for all of them —
    /// a third of a 10,000-trial export — and built a temporary index of the sweep's 110,000 links).
    static func stage(_ db: Database, identity: String) throws -> StoredStage? {
        let st = try db.cachedStatement(sql: "SELECT \(StoredStage.columns) FROM stages WHERE identity = ?")
        return try Row.fetchOne(st, arguments: [identity]).map { try StoredStage(positional: $0) }
    }

    /// Stage `identity`'s evaluations by metric (the evaluations' key), with a statement prepared once per connection.
    static func stageEvaluations(_ db: Database, stage identity: String) throws -> [StoredEvaluation] {
        let st = try db.cachedStatement(sql: "SELECT \(StoredEvaluation.columns) FROM evaluations WHERE stage = ? ORDER BY metric")
        return try Row.fetchAll(st, arguments: [identity]).map { StoredEvaluation(positional: $0) }
    }

    /// How many journal rows the root's database holds (`rdd-bench harness` reports it).
    static func metricRowCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics") ?? 0
    }
}
