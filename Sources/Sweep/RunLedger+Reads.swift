import Foundation
import GRDB
import Pipeline
import RunModel

/// The ledger's read queries for `plan`, `status`, `show` and the dashboard's live and stage views, each
/// returning typed rows (statuses as `StageStatus` / `TrialStatus` / `AttemptOutcome`). They are static:
/// readers open the database read-only (`RunDatabase(readerAt:)`, no lock, no registered sweep) and pass
/// the connection of their read transaction, so one command's queries see one snapshot. Every query here
/// is index-backed; docs/run-database.md, "Queries and their plans", shows each plan.
extension RunLedger {
    // MARK: typed rows

    /// A `stages` row as the read paths use it.
    struct StoredStage {
        var identity: String, kind: String, name: String
        var status: StageStatus
        /// The sweep whose worker completed it (nil: not completed by a worker here, or that sweep was forgotten).
        var ranBySweep: Int64?
        var configJSON: String, artifactDir: String, codeVersion: String
        var attempts: Int, failures: Int
        var totalSteps: Int?, lastStep: Int?, threads: Int?, peakKiB: Int?
        var started: Double?, finished: Double?, seconds: Double?, heartbeat: Double?
        var error: String?, provenanceJSON: String?

        /// Decodes the columns of `SELECT s.*`; a status the enum does not know throws (naming the column
        /// and value) instead of trapping.
        init(_ r: Row) throws {
            identity = r["identity"]; kind = r["kind"]; name = r["name"]
            status = try r.decode(StageStatus.self, forColumn: "status")
            ranBySweep = r["ran_by_sweep"]; configJSON = r["config_json"]; artifactDir = r["artifact_dir"]; codeVersion = r["code_version"]
            attempts = r["attempts"]; failures = r["failures"]
            totalSteps = r["total_steps"]; lastStep = r["last_step"]; threads = r["threads"]; peakKiB = r["peak_rss_kib"]
            started = r["started"]; finished = r["finished"]; seconds = r["seconds"]; heartbeat = r["heartbeat"]
            error = r["error"]; provenanceJSON = r["provenance_json"]
        }

        /// The columns `init(positional:)` reads, in its order.
        static let columns = """
            identity, kind, name, status, ran_by_sweep, config_json, artifact_dir, code_version, attempts, failures, total_steps,
            last_step, threads, peak_rss_kib, started, finished, seconds, heartbeat, error, provenance_json
            """

        /// Decodes a row of `SELECT <columns>` by position: a look-up by name lowercases the names of a row copied out
        /// of its statement, which was most of reading 20,000 stages one by one.
        init(positional r: Row) throws {
            identity = r[0]; kind = r[1]; name = r[2]
            status = try r.decode(StageStatus.self, atIndex: 3)
            ranBySweep = r[4]; configJSON = r[5]; artifactDir = r[6]; codeVersion = r[7]
            attempts = r[8]; failures = r[9]
            totalSteps = r[10]; lastStep = r[11]; threads = r[12]; peakKiB = r[13]
            started = r[14]; finished = r[15]; seconds = r[16]; heartbeat = r[17]
            error = r[18]; provenanceJSON = r[19]
        }

        /// The state a reader of sweep `sweep` sees: `cached` for a stage another sweep's worker completed,
        /// `stale` for one recorded as running that nothing runs (`orphaned`: no scheduler holds the root
        /// and no Slurm task of it is in flight), else the recorded status.
        func seen(by sweep: Int64, orphaned: Bool) -> StageStatus {
            SweepProgress.state(status, ranByThisSweep: ranBySweep == sweep, orphaned: orphaned)
        }
    }

    /// A `trials` row.
    struct StoredTrial {
        var id: Int64, index: Int, key: String, status: TrialStatus, axesJSON: String, configJSON: String
        init(_ r: Row) throws {
            id = r["id"]; index = r["trial_index"]; key = r["trial_key"]
            status = try r.decode(TrialStatus.self, forColumn: "status")
            axesJSON = r["axes_json"]; configJSON = r["config_json"]
        }
    }

    /// An `evaluations` row.
    struct StoredEvaluation {
        var stage: String, metric: String, value: Double, label: String, featureNetwork: String, samples: Int
        var reference: String, sampler: String, steps: Int, nfe: Int, modelLabel: String, secondsPerImage: Double?
        init(_ r: Row) {
            stage = r["stage"]; metric = r["metric"]; value = r["value"]; label = r["label"]; featureNetwork = r["feature_network"]
            samples = r["samples"]; reference = r["reference"]; sampler = r["sampler"]; steps = r["steps"]; nfe = r["nfe"]
            modelLabel = r["model_label"]; secondsPerImage = r["seconds_per_image"]
        }

        /// The columns `init(positional:)` reads, in its order.
        static let columns = "stage, metric, value, label, feature_network, samples, reference, sampler, steps, nfe, model_label, seconds_per_image"

        /// Decodes a row of `SELECT <columns>` by position (see `StoredStage.init(positional:)`).
        init(positional r: Row) {
            stage = r[0]; metric = r[1]; value = r[2]; label = r[3]; featureNetwork = r[4]
            samples = r[5]; reference = r[6]; sampler = r[7]; steps = r[8]; nfe = r[9]
            modelLabel = r[10]; secondsPerImage = r[11]
        }
    }

    /// A Slurm task not yet collected as finished, as `status` describes it.
    struct InFlightTask {
        var stage: String, sweep: Int64?, job: String, task: Int, state: String, reason: String?, node: String?
    }

    // MARK: sweeps (every command)

    /// All sweeps, latest revision last per name.
    static func sweeps(_ db: Database) throws -> [SweepRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM sweeps ORDER BY name, revision").map(SweepRecord.init)
    }

    /// `NAME` (latest revision) or `NAME@REV`.
    static func sweep(_ db: Database, _ ref: String) throws -> SweepRecord? {
        let parts = ref.split(separator: "@", maxSplits: 1).map(String.init)
        if parts.count == 2, let rev = Int(parts[1]) {
            return try Row.fetchOne(db, sql: "SELECT * FROM sweeps WHERE name = ? AND revision = ?", arguments: [parts[0], rev]).map(SweepRecord.init)
        }
        return try Row.fetchOne(db, sql: "SELECT * FROM sweeps WHERE name = ? ORDER BY revision DESC LIMIT 1", arguments: [ref]).map(SweepRecord.init)
    }

    // MARK: plan

    /// Every stage's recorded status, by identity.
    static func stageStatuses(_ db: Database) throws -> [String: StageStatus] {
        var out: [String: StageStatus] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT identity, status FROM stages") { out[r["identity"]] = try r.decode(StageStatus.self, forColumn: "status") }
        return out
    }

    // MARK: status

    /// Trials of sweep `sweep` by status.
    static func trialCounts(_ db: Database, sweep: Int64) throws -> [TrialStatus: Int] {
        var out: [TrialStatus: Int] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM trials WHERE sweep_id = ? GROUP BY status", arguments: [sweep]) {
            out[try r.decode(TrialStatus.self, forColumn: "status")] = r["n"]
        }
        return out
    }

    /// The stages of sweep `sweep` (each once, ordered by the first trial that needs it, then registration
    /// order), with how many of its trials need each and under which trial-plan names.
    static func sweepStages(_ db: Database, sweep: Int64) throws -> [(stage: StoredStage, trials: Int, names: String)] {
        try Row.fetchAll(db, sql: """
            SELECT s.*, MIN(t.trial_index) AS first_trial, COUNT(DISTINCT t.id) AS n_trials, GROUP_CONCAT(DISTINCT ts.name) AS names
            FROM stages s JOIN trial_stages ts ON ts.stage = s.identity JOIN trials t ON t.id = ts.trial_id
            WHERE t.sweep_id = ? GROUP BY s.identity ORDER BY first_trial, s.rowid
            """, arguments: [sweep]).map { r in (try StoredStage(r), r["n_trials"], r["names"] ?? r["name"]) }
    }

    /// Whether the root has Slurm tasks not yet collected as finished.
    static func slurmTaskCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") ?? 0
    }

    /// The Slurm tasks in flight (of sweep `sweep` only, when given).
    static func inFlightTasks(_ db: Database, sweep: Int64? = nil) throws -> [InFlightTask] {
        let rows = try sweep.map { try Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL AND sweep_id = ?", arguments: [$0]) }
            ?? Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL")
        return rows.map { InFlightTask(stage: $0["stage"], sweep: $0["sweep_id"], job: $0["job_id"], task: $0["task"], state: $0["state"],
                                       reason: $0["reason"], node: $0["node"]) }
    }

    /// When the collector last asked Slurm about any task (nil: never).
    static func lastSlurmContact(_ db: Database) throws -> Double? {
        try Double.fetchOne(db, sql: "SELECT MAX(seen) FROM slurm_tasks")
    }

    /// Whether stage `id` has a Slurm task in flight.
    static func hasSlurmTask(_ db: Database, stage id: String) throws -> Bool {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE stage = ? AND finished IS NULL", arguments: [id]) != 0
    }

    /// The mean logged `seconds_per_step` of the stages of `kind` (any sweep in the root; nil: none logged yet).
    static func meanSecondsPerStep(_ db: Database, kind: String) throws -> Double? {
        try Double.fetchOne(db, sql: """
            SELECT AVG(m.value) FROM metrics m JOIN stages s ON s.identity = m.stage WHERE s.kind = ? AND m.name = 'seconds_per_step'
            """, arguments: [kind])
    }

    // MARK: live view and stage pages

    /// The metrics of stage `id`'s latest logged step, by name (NaN, stored as NULL, left out).
    static func latestMetrics(_ db: Database, stage id: String) throws -> [(String, Double)] {
        try Row.fetchAll(db, sql: """
            SELECT name, value FROM metrics WHERE stage = ? AND step = (SELECT MAX(step) FROM metrics WHERE stage = ?) ORDER BY name
            """, arguments: [id, id]).compactMap { r in (r["value"] as Double?).map { (r["name"] as String, $0) } }
    }

    /// The latest logged `seconds_per_step` of stage `id`.
    static func latestSecondsPerStep(_ db: Database, stage id: String) throws -> Double? {
        try Double.fetchOne(db, sql: "SELECT value FROM metrics WHERE stage = ? AND name = 'seconds_per_step' ORDER BY step DESC LIMIT 1", arguments: [id])
    }

    /// When stage `id`'s current attempt started.
    static func started(_ db: Database, stage id: String) throws -> Double? {
        try Double.fetchOne(db, sql: "SELECT started FROM stages WHERE identity = ?", arguments: [id])
    }

    /// Stage `id`'s logged series: name → (step, value) by step (NaN, stored as NULL, left out).
    static func series(_ db: Database, stage id: String) throws -> [String: [(step: Int, value: Double)]] {
        var out: [String: [(step: Int, value: Double)]] = [:]
        // Prepared once per connection, read through a cursor by column position, in the order of the metrics table's
        // primary key (stage, step, name: one range, no sort, values read in place): an export reads every
        // distillation stage's series. Each series is in step order.
        let st = try db.cachedStatement(sql: "SELECT step, name, value FROM metrics WHERE stage = ? ORDER BY step, name")
        // A journal logs the same names at every step, so the k-th row of a step usually has the name the k-th row of
        // the step before had: that name's series is found by one comparison instead of a hash look-up per row.
        var names: [String] = [], series: [[(step: Int, value: Double)]] = [], position: [String: Int] = [:]
        var step = Int.min, k = 0
        let rows = try Row.fetchCursor(st, arguments: [id])
        while let r = try rows.next() {
            guard !r.hasNull(atIndex: 2) else { continue }
            let s: Int = r[0], name: String = r[1]
            if s != step { step = s; k = 0 }
            let i: Int
            if k < names.count && names[k] == name { i = k } else if let known = position[name] { i = known } else {
                i = names.count; names.append(name); series.append([]); position[name] = i
            }
            series[i].append((s, r[2]))
            k = i + 1
        }
        for (i, name) in names.enumerated() { out[name] = series[i] }
        return out
    }

    /// The names logged by the stages `identities`, sorted.
    static func seriesNames(_ db: Database, stages identities: [String]) throws -> [String] {
        let marks = Array(repeating: "?", count: identities.count).joined(separator: ",")
        return try String.fetchAll(db, sql: "SELECT DISTINCT name FROM metrics WHERE stage IN (\(marks)) ORDER BY name", arguments: StatementArguments(identities))
    }

    /// The stage whose identity starts with `prefix` (one match) as JSON: its row column by column, its
    /// attempts (`attempt_records`) and the trials that use it (`trials`). Nil: no match, or several.
    static func stageJSON(_ db: Database, identityPrefix prefix: String) throws -> JSON? {
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM stages WHERE identity >= ? AND identity < ? LIMIT 2", arguments: [prefix, prefix + "g"])
        guard rows.count == 1, let s = rows.first, case .object(var kv) = rowJSON(s) else { return nil }
        let id: String = s["identity"]
        let attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE stage = ? ORDER BY attempt", arguments: [id]).map(rowJSON)
        let trials = try Row.fetchAll(db, sql: """
            SELECT sw.name, sw.revision, t.trial_index, ts.name AS node FROM trial_stages ts JOIN trials t ON t.id = ts.trial_id
            JOIN sweeps sw ON sw.id = t.sweep_id WHERE ts.stage = ? ORDER BY sw.name, sw.revision, t.trial_index
            """, arguments: [id]).map { r -> JSON in
            .object([("sweep", .string("\(r["name"] as String)@\(r["revision"] as Int)")), ("trial", .int(r["trial_index"])), ("node", .string(r["node"]))])
        }
        kv.append(("attempt_records", .array(attempts)))
        kv.append(("trials", .array(trials)))
        return .object(kv)
    }

    // MARK: show

    /// Trial `index` of sweep `sweep`.
    static func trial(_ db: Database, sweep: Int64, index: Int) throws -> StoredTrial? {
        try Row.fetchOne(db, sql: "SELECT * FROM trials WHERE sweep_id = ? AND trial_index = ?", arguments: [sweep, index]).map(StoredTrial.init)
    }

    /// How many trials sweep `sweep` has.
    static func trialCount(_ db: Database, sweep: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials WHERE sweep_id = ?", arguments: [sweep]) ?? 0
    }

    /// The stages of trial `trial` (row id) with their trial-plan names, in registration order.
    static func trialStages(_ db: Database, trial: Int64) throws -> [(name: String, stage: StoredStage)] {
        try Row.fetchAll(db, sql: """
            SELECT ts.name, ts.role, s.* FROM trial_stages ts JOIN stages s ON s.identity = ts.stage WHERE ts.trial_id = ? ORDER BY s.rowid
            """, arguments: [trial]).map { r in (r["name"], try StoredStage(r)) }
    }

    /// The evaluations of trial `trial` with the role of the stage that made each, by role then metric.
    static func trialEvaluations(_ db: Database, trial: Int64) throws -> [(role: String, evaluation: StoredEvaluation)] {
        try Row.fetchAll(db, sql: """
            SELECT ts.role, e.* FROM trial_stages ts JOIN evaluations e ON e.stage = ts.stage WHERE ts.trial_id = ? ORDER BY ts.role, e.metric
            """, arguments: [trial]).map { ($0["role"], StoredEvaluation($0)) }
    }

    /// An attempt that did not complete, under its stage's trial-plan name.
    struct UnsuccessfulAttempt {
        var stage: String, attempt: Int, outcome: AttemptOutcome, exitStatus: Int?, signal: Int?, lastStep: Int?, stderrTail: String?
    }

    /// The failed, stale and interrupted attempts of trial `trial`'s stages, oldest first.
    static func unsuccessfulAttempts(_ db: Database, trial: Int64) throws -> [UnsuccessfulAttempt] {
        try Row.fetchAll(db, sql: """
            SELECT a.*, ts.name FROM attempts a JOIN trial_stages ts ON ts.stage = a.stage
            WHERE ts.trial_id = ? AND a.outcome IN (?, ?, ?) ORDER BY a.started
            """, arguments: [trial, AttemptOutcome.failed, AttemptOutcome.stale, AttemptOutcome.interrupted]).map { a in
            UnsuccessfulAttempt(stage: a["name"], attempt: a["attempt"], outcome: try a.decode(AttemptOutcome.self, forColumn: "outcome"),
                                exitStatus: a["exit_status"], signal: a["signal"], lastStep: a["last_step"], stderrTail: a["stderr_tail"])
        }
    }
}

/// A `sweeps` row (`RunLedger.sweeps`, `RunLedger.sweep`).
public struct SweepRecord {
    public var id: Int64
    public var name: String
    public var revision: Int
    public var specFile: String
    public var specJSON: String
    public var specHash: String
    public var preset: String
    public var axes: [String]
    public var created: Double

    public var label: String { "\(name)@\(revision)" }

    init(_ r: Row) {
        id = r["id"]; name = r["name"]; revision = r["revision"]; specFile = r["spec_file"]; specJSON = r["spec_json"]
        specHash = r["spec_hash"]; preset = r["preset"]; created = r["created"]
        let a: String = r["axes_json"]
        axes = (try? JSONDecoder().decode([String].self, from: Data(a.utf8))) ?? []
    }
}

/// A database row as a JSON object, column by column (NULL → null, BLOB → its byte count).
func rowJSON(_ r: Row) -> JSON {
    .object(r.columnNames.map { name in
        let v: DatabaseValue = r[name]
        switch v.storage {
        case .null: return (name, .null)
        case .int64(let i): return (name, .int(i))
        case .double(let d): return (name, d.isFinite ? .double(d) : .null)
        case .string(let s): return (name, .string(s))
        case .blob(let b): return (name, .int(Int64(b.count)))
        }
    })
}
