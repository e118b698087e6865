import Foundation
import GRDB
import Pipeline
import RunModel

/// The run database as the scheduling loop, the executors and the Slurm collector write it: every SQL
/// statement they issue is a method here, so what a stage's row means is decided in one file
/// (and its extensions: `RunLedger+Attempts.swift`, `RunLedger+Slurm.swift`, `RunLedger+Ingest.swift`).
/// The read paths (`status`, `show`, `list`, `export`, the dashboard) use its static queries
/// (`RunLedger+Reads.swift`, `RunLedger+Exports.swift`) and `gc` its maintenance (`RunLedger+Maintenance.swift`):
/// no SQL outside these files and the schema (`RunDatabase.swift`); `LedgerSQLTests` checks it.
///
/// The ledger decides nothing about *what happened* to a stage — the executors do (a worker exited, a
/// Slurm task timed out) — it records it. The callers choose the transactions (`write`), so a tick's
/// changes commit together. One process writes a results root at a time (`<root>/.scheduler.lock`,
/// held by the caller).
public final class RunLedger {
    let root: String
    let db: RunDatabase
    /// The sweep revision this run registered (`register`); 0 for a collector working without a plan.
    var sweepID: Int64 = 0
    var sweepLabel = ""

    init(root: String, db: RunDatabase) {
        self.root = root
        self.db = db
    }

    /// Opens (creating, migrating) the root's database for writing.
    convenience init(writerAt root: String) throws {
        self.init(root: root, db: try RunDatabase(writerAt: RunDatabase.path(root: root)))
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T { try db.read(body) }
    func write<T>(_ body: (Database) throws -> T) throws -> T { try db.write(body) }


    // MARK: registration

    /// Records the sweep (a new one, the same spec again, or a new revision) with its trials, stages and
    /// trial–stage links. A changed spec without `newRevision` throws `ChangedSpecError`.
    func register(_ plan: SweepPlan, newRevision: Bool) throws {
        let axes = String(decoding: try JSONEncoder().encode(plan.spec.axisPaths), as: UTF8.self)
        try db.write { db in
            let now = Date().timeIntervalSince1970
            if let e = try RunLedger.sweep(db, plan.spec.name) {
                if e.specHash == plan.specHash {
                    sweepID = e.id
                    try db.execute(sql: "UPDATE sweeps SET spec_json = ?, spec_file = ? WHERE id = ?", arguments: [plan.spec.text, plan.spec.file, e.id])
                    sweepLabel = e.label
                } else if newRevision {
                    try db.execute(sql: """
                        INSERT INTO sweeps (name, revision, spec_file, spec_json, spec_hash, preset, axes_json, code_version, created)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [plan.spec.name, e.revision + 1, plan.spec.file, plan.spec.text, plan.specHash, plan.spec.preset, axes, CodeVersion.string, now])
                    sweepID = db.lastInsertedRowID
                    sweepLabel = "\(plan.spec.name)@\(e.revision + 1)"
                } else {
                    throw ChangedSpecError(message: try changedSpecMessage(db, e, plan))
                }
            } else {
                try db.execute(sql: """
                    INSERT INTO sweeps (name, revision, spec_file, spec_json, spec_hash, preset, axes_json, code_version, created)
                    VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [plan.spec.name, plan.spec.file, plan.spec.text, plan.specHash, plan.spec.preset, axes, CodeVersion.string, now])
                sweepID = db.lastInsertedRowID
                sweepLabel = "\(plan.spec.name)@1"
            }
            // One transaction; each statement prepared once (cachedStatement) for the thousands of rows of a large sweep.
            let insertStage = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO stages (identity, kind, name, config_json, inputs_json, code_version, status, total_steps, created, artifact_dir)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for s in plan.stages {
                let inputs = JSON.object(s.inputs.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
                try insertStage.execute(arguments: [s.identity, s.kind.rawValue, s.names[0], s.config, inputs, CodeVersion.string,
                                                    StageStatus.queued, s.totalSteps, now, stageDir(s.identity)])
            }
            let insertTrial = try db.cachedStatement(sql: "INSERT OR IGNORE INTO trials (sweep_id, trial_index, trial_key, axes_json, config_json) VALUES (?, ?, ?, ?, ?)")
            let trialID = try db.cachedStatement(sql: "SELECT id FROM trials WHERE sweep_id = ? AND trial_index = ?")
            let deleteLinks = try db.cachedStatement(sql: "DELETE FROM trial_stages WHERE trial_id = ?")
            let insertLink = try db.cachedStatement(sql: "INSERT INTO trial_stages (trial_id, name, role, stage) VALUES (?, ?, ?, ?)")
            for t in plan.trials {
                try insertTrial.execute(arguments: [sweepID, t.index, t.key, JSON.object(t.axes).serialized(), t.configJSON])
                let tid = try Int64.fetchOne(trialID, arguments: [sweepID, t.index])!
                try deleteLinks.execute(arguments: [tid])
                for l in plan.links[t.index] ?? [] { try insertLink.execute(arguments: [tid, l.name, l.role, l.identity]) }
            }
        }
    }

    func changedSpecMessage(_ db: Database, _ e: SweepRecord, _ plan: SweepPlan) throws -> String {
        let rows = try Row.fetchAll(db, sql: "SELECT trial_index, trial_key, config_json FROM trials WHERE sweep_id = ? ORDER BY trial_index", arguments: [e.id])
        var old: [String: (Int, String)] = [:]
        for r in rows { old[r["trial_key"]] = (r["trial_index"], r["config_json"]) }
        let new = Dictionary(uniqueKeysWithValues: plan.trials.map { ($0.key, $0) })
        let added = plan.trials.filter { old[$0.key] == nil }.map { "\($0.index) [\($0.axesSummary)]" }
        let removed = old.filter { new[$0.key] == nil }.sorted { $0.value.0 < $1.value.0 }.map { "\($0.value.0) \($0.key)" }
        let changed = plan.trials.filter { t in old[t.key].map { $0.1 != t.configJSON } ?? false }.map { "\($0.index) [\($0.axesSummary)]" }
        let moved = plan.trials.filter { t in old[t.key].map { $0.0 != t.index && $0.1 == t.configJSON } ?? false }.map { "\($0.index) [\($0.axesSummary)]" }
        var parts: [String] = []
        if !added.isEmpty { parts.append("trials added: \(added.prefix(8).joined(separator: ", "))\(added.count > 8 ? ", …" : "")") }
        if !removed.isEmpty { parts.append("trials removed: \(removed.prefix(8).joined(separator: ", "))\(removed.count > 8 ? ", …" : "")") }
        if !changed.isEmpty { parts.append("configuration changed for trials: \(changed.prefix(8).joined(separator: ", "))\(changed.count > 8 ? ", …" : "")") }
        if !moved.isEmpty { parts.append("trials renumbered: \(moved.prefix(8).joined(separator: ", "))") }
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: e.created))
        return """
            sweep '\(e.name)' already exists in \(root)/runs.sqlite (revision \(e.revision), created \(when) from \(e.specFile)) with a different spec:
              \(parts.isEmpty ? "the trials' resolved configurations differ" : parts.joined(separator: "\n  "))
            Nothing was run. Either
              rdd-sweep run \(plan.spec.file) --new     # record this spec as revision \(e.revision + 1); stages it shares with revision \(e.revision) are reused
            or give the spec another "name".
            """
    }

    // MARK: stage rows

    /// What reconciliation needs of a stage's row.
    struct StageRow {
        var status: StageStatus, attempts: Int, failures: Int, threads: Int?
    }

    func stageRow(_ db: Database, _ id: String) throws -> StageRow? {
        let select = try db.cachedStatement(sql: "SELECT status, attempts, failures, threads FROM stages WHERE identity = ?")
        return try Row.fetchOne(select, arguments: [id]).map { StageRow(status: $0["status"], attempts: $0["attempts"], failures: $0["failures"], threads: $0["threads"]) }
    }

    /// Every stage's status and thread count (the Slurm executor's view after a collection).
    func stageStates() throws -> [(identity: String, status: StageStatus, threads: Int?)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT identity, status, threads FROM stages").map { r -> (identity: String, status: StageStatus, threads: Int?) in
                (r["identity"] as String, r["status"] as StageStatus, r["threads"] as Int?)
            }
        }
    }

    /// The reconciled state of a stage (`pid`: the holder of its directory lock, if another process has it).
    func setReconciled(_ db: Database, _ id: String, status: StageStatus, failures: Int, pid: Int32?) throws {
        let update = try db.cachedStatement(sql: "UPDATE stages SET status = ?, failures = ?, pid = ? WHERE identity = ?")
        try update.execute(arguments: [status, failures, pid, id])
    }

    func setStatus(_ db: Database, _ id: String, _ status: StageStatus) throws {
        try db.execute(sql: "UPDATE stages SET status = ?, pid = NULL WHERE identity = ?", arguments: [status, id])
    }

    /// A stage whose artifact was found corrupt: queued again (or failed, past the limit), saying why; its
    /// failure count is untouched.
    func recordCorrupt(_ db: Database, _ id: String, status: StageStatus, note: String) throws {
        try db.execute(sql: "UPDATE stages SET status = ?, error = ?, finished = NULL WHERE identity = ?", arguments: [status, note, id])
    }

    /// The recorded reason of a stage's last failure.
    func error(_ id: String) -> String? {
        (try? db.read { try String.fetchOne($0, sql: "SELECT error FROM stages WHERE identity = ?", arguments: [id]) }) ?? nil
    }

    /// Stages a worker of `sweep` completed (whenever that was).
    func stagesRun(by sweep: Int64) throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM stages WHERE status = ? AND ran_by_sweep = ?", arguments: [StageStatus.completed, sweep]) ?? 0 }
    }

    /// Start times of the open attempts, by stage.
    func runningAttemptStarts() -> [String: Double] {
        var out: [String: Double] = [:]
        if let rows = try? db.read({ try Row.fetchAll($0, sql: "SELECT stage, started FROM attempts WHERE outcome = ?", arguments: [AttemptOutcome.running]) }) {
            for r in rows { out[r["stage"]] = r["started"] }
        }
        return out
    }

    /// A completed stage's journal, evaluation and cost, read from its directory (idempotent).
    func ingest(_ db: Database, _ id: String) throws {
        try RunLedger.ingestCompleted(db, stage: id, directory: stageDir(id))
    }

    // MARK: trials

    /// Writes the state of the trials `indices` of this run's sweep, each derived by `TrialStatus(stages:)`
    /// from the stage states `state` knows (the loop's in-memory view, which the database mirrors).
    func updateTrials(_ db: Database, _ indices: [Int], plan: SweepPlan, state: (String) -> StageStatus?) throws {
        let now = Date().timeIntervalSince1970
        let update = try db.cachedStatement(sql: """
            UPDATE trials SET status = ?, completed = CASE WHEN ? THEN COALESCE(completed, ?) ELSE NULL END
            WHERE sweep_id = ? AND trial_index = ?
            """)
        for i in indices {
            let s = TrialStatus(stages: (plan.links[i] ?? []).map { state($0.identity) })
            try update.execute(arguments: [s, s == .completed, now, sweepID, i])
        }
    }

    /// Writes the state of every trial (of any sweep) that uses `stage`, from its stages' rows — the same
    /// rule, for a collector that has no plan.
    func updateTrials(_ db: Database, stage: String) throws {
        let now = Date().timeIntervalSince1970
        for t in try Int64.fetchAll(db, sql: "SELECT DISTINCT trial_id FROM trial_stages WHERE stage = ?", arguments: [stage]) {
            let st = try StageStatus.fetchAll(db, sql: "SELECT s.status FROM trial_stages ts JOIN stages s ON s.identity = ts.stage WHERE ts.trial_id = ?", arguments: [t])
            let s = TrialStatus(stages: st.map(Optional.some))
            try db.execute(sql: "UPDATE trials SET status = ?, completed = CASE WHEN ? THEN COALESCE(completed, ?) ELSE NULL END WHERE id = ?",
                           arguments: [s, s == .completed, now, t])
        }
    }
}
extension RunLedger: ResultsRootUser {}
