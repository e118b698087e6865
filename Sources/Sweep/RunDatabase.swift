import Foundation
import GRDB
import Pipeline

/// The run database `<root>/runs.sqlite` (docs/run-database.md). The scheduler of `rdd-sweep run`
/// is its one writer (it holds `<root>/.scheduler.lock`); workers never open it — they write files in
/// their stage directory that the scheduler ingests. WAL journal, 10 s busy timeout, schema by
/// GRDB's `DatabaseMigrator` before any worker starts. Read-only commands open it read-only.
public final class RunDatabase {
    public let path: String
    public let queue: DatabaseQueue

    /// Migrations in order; never edit a shipped one, add another.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-initial") { db in
            for sql in RunDatabase.schemaV1 { try db.execute(sql: sql) }
        }
        m.registerMigration("v2-slurm") { db in
            for sql in RunDatabase.schemaV2Slurm { try db.execute(sql: sql) }
        }
        m.registerMigration("v3-provenance") { db in
            for sql in RunDatabase.schemaV3Provenance { try db.execute(sql: sql) }
        }
        m.registerMigration("v4-query-indexes") { db in
            for sql in RunDatabase.queryIndexes { try db.execute(sql: sql) }
        }
        m.registerMigration("v5-dashboard-indexes") { db in
            for sql in RunDatabase.dashboardIndexes { try db.execute(sql: sql) }
        }
        m.registerMigration("v6-clustered-metrics") { db in
            for sql in RunDatabase.clusteredMetrics { try db.execute(sql: sql) }
        }
        return m
    }

    /// The schema (also shown in docs/run-database.md).
    public static let schemaV1 = [
        """
        CREATE TABLE sweeps (
          id           INTEGER PRIMARY KEY,
          name         TEXT NOT NULL,
          revision     INTEGER NOT NULL,
          spec_file    TEXT NOT NULL,
          spec_json    TEXT NOT NULL,
          spec_hash    TEXT NOT NULL,
          preset       TEXT NOT NULL,
          axes_json    TEXT NOT NULL,
          code_version TEXT NOT NULL,
          created      REAL NOT NULL,
          UNIQUE (name, revision))
        """,
        """
        CREATE TABLE trials (
          id           INTEGER PRIMARY KEY,
          sweep_id     INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
          trial_index  INTEGER NOT NULL,
          trial_key    TEXT NOT NULL,
          axes_json    TEXT NOT NULL,
          config_json  TEXT NOT NULL,
          status       TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
          completed    REAL,
          UNIQUE (sweep_id, trial_index),
          UNIQUE (sweep_id, trial_key))
        """,
        """
        CREATE TABLE stages (
          identity     TEXT PRIMARY KEY,
          kind         TEXT NOT NULL,
          name         TEXT NOT NULL,
          config_json  TEXT NOT NULL,
          inputs_json  TEXT NOT NULL,
          code_version TEXT NOT NULL,
          status       TEXT NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stale', 'cached')),
          attempts     INTEGER NOT NULL DEFAULT 0,
          failures     INTEGER NOT NULL DEFAULT 0,
          total_steps  INTEGER,
          last_step    INTEGER,
          threads      INTEGER,
          pid          INTEGER,
          created      REAL NOT NULL,
          started      REAL,
          finished     REAL,
          seconds      REAL,
          heartbeat    REAL,
          peak_rss_kib INTEGER,
          artifact_dir TEXT NOT NULL,
          exit_status  INTEGER,
          signal       INTEGER,
          error        TEXT,
          ran_by_sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL)
        """,
        """
        CREATE TABLE trial_stages (
          trial_id     INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
          name         TEXT NOT NULL,
          role         TEXT NOT NULL,
          stage        TEXT NOT NULL REFERENCES stages(identity),
          PRIMARY KEY (trial_id, name))
        """,
        "CREATE INDEX trial_stages_stage ON trial_stages(stage)",
        """
        CREATE TABLE attempts (
          stage        TEXT NOT NULL REFERENCES stages(identity) ON DELETE CASCADE,
          attempt      INTEGER NOT NULL,
          sweep_id     INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
          pid          INTEGER,
          threads      INTEGER,
          started      REAL NOT NULL,
          finished     REAL,
          outcome      TEXT NOT NULL CHECK (outcome IN ('running', 'completed', 'failed', 'interrupted', 'stale')),
          exit_status  INTEGER,
          signal       INTEGER,
          last_step    INTEGER,
          peak_rss_kib INTEGER,
          stderr_tail  TEXT,
          PRIMARY KEY (stage, attempt))
        """,
        """
        CREATE TABLE metrics (
          stage        TEXT NOT NULL REFERENCES stages(identity) ON DELETE CASCADE,
          step         INTEGER NOT NULL,
          name         TEXT NOT NULL,
          value        REAL)
        """,
        "CREATE UNIQUE INDEX metrics_key ON metrics(stage, step, name)",
        """
        CREATE TABLE evaluations (
          stage             TEXT NOT NULL REFERENCES stages(identity) ON DELETE CASCADE,
          metric            TEXT NOT NULL,
          value             REAL NOT NULL,
          label             TEXT NOT NULL,
          feature_network   TEXT NOT NULL,
          samples           INTEGER NOT NULL,
          reference         TEXT NOT NULL,
          sampler           TEXT NOT NULL,
          steps             INTEGER NOT NULL,
          nfe               INTEGER NOT NULL,
          model_label       TEXT NOT NULL,
          seconds_per_image REAL,
          PRIMARY KEY (stage, metric))
        """,
    ]

    /// The Slurm executor's record of what it submitted (docs/run-database.md, "slurm_tasks").
    public static let schemaV2Slurm = [
        """
        CREATE TABLE slurm_tasks (
          job_id       TEXT NOT NULL,
          task         INTEGER NOT NULL,
          stage        TEXT NOT NULL REFERENCES stages(identity) ON DELETE CASCADE,
          sweep_id     INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,
          job_name     TEXT NOT NULL,
          script       TEXT NOT NULL,
          output       TEXT NOT NULL,
          dependency   TEXT,
          threads      INTEGER,
          submitted    REAL NOT NULL,
          state        TEXT NOT NULL DEFAULT 'SUBMITTED',
          reason       TEXT,
          task_job_id  TEXT,
          node         TEXT,
          restarts     INTEGER NOT NULL DEFAULT 0,
          attempt      INTEGER,
          exit_status  INTEGER,
          signal       INTEGER,
          seen         REAL,
          finished     REAL,
          PRIMARY KEY (job_id, task))
        """,
        "CREATE INDEX slurm_tasks_stage ON slurm_tasks(stage)",
        "CREATE INDEX slurm_tasks_in_flight ON slurm_tasks(finished)",
    ]

    /// Which build and machine computed each completed stage (docs/run-database.md, "Provenance"): the
    /// `Provenance` of its done.json as JSON, NULL for stages completed before it was recorded.
    public static let schemaV3Provenance = [
        "ALTER TABLE stages ADD COLUMN provenance_json TEXT",
    ]

    /// Indexes for the queries the CLI and reports make that the keys above do not serve (docs/run-database.md,
    /// "Queries and their plans", has each query's EXPLAIN QUERY PLAN): `status`' ETA (seconds_per_step of
    /// a stage kind, finished evaluations), and the columns `ON DELETE SET NULL` updates when `gc
    /// --drop-old-revisions` forgets a sweep (without them each forgotten sweep scans stages and attempts).
    public static let queryIndexes = [
        "CREATE INDEX metrics_name ON metrics(name, stage)",
        "CREATE INDEX stages_kind_status ON stages(kind, status)",
        "CREATE INDEX stages_ran_by_sweep ON stages(ran_by_sweep)",
        "CREATE INDEX attempts_sweep ON attempts(sweep_id)",
        "CREATE INDEX slurm_tasks_sweep ON slurm_tasks(sweep_id)",
    ]

    /// Indexes for the dashboard's pages that are reloaded every few seconds (docs/run-database.md, "Queries and their
    /// plans"): a sweep's trials by status (`SweepSummary`'s counts, read from the index alone) and the stages not
    /// done (the live view's list, without visiting every stage of the sweep).
    public static let dashboardIndexes = [
        "CREATE INDEX trials_sweep_status ON trials(sweep_id, status)",
        "CREATE INDEX stages_status ON stages(status)",
    ]

    /// The metrics table stored in its key's order (docs/run-database.md, "metrics"): a `WITHOUT ROWID` table whose
    /// primary key is `metrics_key`'s (stage, step, name), so a stage's series is one range of one B-tree, read with
    /// its values — before, each of its rows was found in `metrics_key` and then looked up in the table by rowid, the
    /// most expensive part of a large report export (issue 29) — and each row is stored once instead of twice (the
    /// 10,000-trial benchmark database: 361 MB → 241 MB). The rows are copied; `metrics_name` is rebuilt.
    public static let clusteredMetrics = [
        """
        CREATE TABLE metrics_clustered (
          stage        TEXT NOT NULL REFERENCES stages(identity) ON DELETE CASCADE,
          step         INTEGER NOT NULL,
          name         TEXT NOT NULL,
          value        REAL,
          PRIMARY KEY (stage, step, name)) WITHOUT ROWID
        """,
        "INSERT INTO metrics_clustered (stage, step, name, value) SELECT stage, step, name, value FROM metrics",
        "DROP TABLE metrics",
        "ALTER TABLE metrics_clustered RENAME TO metrics",
        "CREATE INDEX metrics_name ON metrics(name, stage)",
    ]

    public static func path(root: String) -> String { root + "/runs.sqlite" }

    /// How long a connection waits for a lock held by another (SQLite's busy timeout).
    static let busySeconds: TimeInterval = 10

    /// Opens (creating and migrating) the database for writing. Only the scheduler does this.
    public init(writerAt path: String) throws {
        self.path = path
        var c = Configuration()
        c.journalMode = .wal
        c.busyMode = .timeout(RunDatabase.busySeconds)
        c.label = "rdd-sweep scheduler"
        // WAL + synchronous=NORMAL: commits do not fsync (checkpoints do); a power cut can lose the
        // last transactions but never corrupts the file, and every row can be re-derived from the
        // stage directories on the next run (reconcile + ingestion are idempotent).
        c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        queue = try DatabaseQueue(path: path, configuration: c)
        try RunDatabase.migrator.migrate(queue)
    }

    /// Opens an existing database read-only (status, show, list, export, plan).
    public init(readerAt path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PipelineError("no run database at '\(path)' (nothing has run under this root yet; `rdd-sweep run SPEC --root DIR` creates it)")
        }
        self.path = path
        var c = Configuration()
        c.readonly = true
        c.busyMode = .timeout(RunDatabase.busySeconds)
        c.label = "rdd-sweep reader"
        // Read through a memory map rather than `pread` into SQLite's page cache: a report export reads most of the
        // database once, and the copies were 8% of its time at 10,000 trials (issue 29).
        c.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = \(RunDatabase.readerMapBytes)") }
        queue = try DatabaseQueue(path: path, configuration: c)
        let applied = try queue.read { try RunDatabase.migrator.appliedIdentifiers($0) }
        let known = Set(RunDatabase.migrator.migrations)
        if !applied.isSuperset(of: known) {
            throw PipelineError("run database '\(path)' has an older schema; any `rdd-sweep run` migrates it")
        }
        if !applied.isSubset(of: known) {
            throw PipelineError("run database '\(path)' was written by a newer rdd-sweep (migrations \(applied.subtracting(known).sorted()))")
        }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T { try queue.read(body) }

    /// How much of the database a reader maps (SQLite caps it at its compile-time maximum, 2 GB by default).
    static let readerMapBytes = 1 << 34

    /// Runs `body` in a write transaction, then keeps the WAL bounded (`boundWAL`).
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        let result = try queue.write(body)
        try boundWAL()
        return result
    }

    /// Above this size the WAL file is checkpointed and truncated after a write (docs/run-database.md, "The WAL").
    public var walLimitBytes = RunDatabase.defaultWALLimitBytes
    public static let defaultWALLimitBytes = 64 << 20
    /// How long a truncating checkpoint waits for readers of an older snapshot before giving up: longer than one read
    /// (a `status` refresh at 10,000 trials takes about a second; the ingestion benchmark's back-to-back reader's
    /// queries took up to ≈ 0.5 s under load), so a reader that never pauses still lets it through — each read it is
    /// already in ends, and the reads it starts after the copy read the database file, not the WAL. At 100 ms a
    /// reader that never paused kept the WAL growing to 1.4 GB (docs/benchmarks.md, "Harness at scale").
    static let checkpointWaitMilliseconds = 1000
    /// After a checkpoint that timed out, the WAL size at which the next one is tried (`walLimitBytes` / 8 further), so
    /// a reader that keeps the WAL busy costs the writer one wait per 8 MB written, not one per write.
    private var nextWALAttempt = 0
    /// Truncating checkpoints that completed (`rdd-bench harness` counts them).
    public private(set) var walTruncations = 0

    /// SQLite's automatic checkpoint (every 1000 pages, inside a commit) copies what it can into the database file
    /// but never waits for readers, and it can restart the WAL only when no reader holds a snapshot in it: with
    /// `status` or the dashboard polling, the WAL grew to 2.8 GB beside a 100 MB database (docs/benchmarks.md,
    /// "Harness at scale"). So once the WAL passes `walLimitBytes`, a TRUNCATE checkpoint copies every frame,
    /// waits up to `checkpointWaitMilliseconds` for the readers still in an older snapshot (new readers read the
    /// fully copied database file, not the WAL), and empties the file. A checkpoint that times out (a long read) has
    /// still copied what it could (SQLite then proceeds as PASSIVE); it is tried again once the WAL has grown by another
    /// eighth of the limit, and it never fails the write.
    /// Returns whether the WAL was truncated.
    @discardableResult
    public func boundWAL() throws -> Bool {
        guard let size = Proc.fileSize(path + "-wal"), size > max(walLimitBytes, nextWALAttempt) else { return false }
        return try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA busy_timeout = \(RunDatabase.checkpointWaitMilliseconds)")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(Int(RunDatabase.busySeconds * 1000))") }
            do {
                _ = try db.checkpoint(.truncate)
                walTruncations += 1
                nextWALAttempt = 0
                return true
            } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED {
                nextWALAttempt = size + walLimitBytes / 8
                return false
            }
        }
    }
}
