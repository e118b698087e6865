import Foundation
import GRDB
import Pipeline
import RunModel

/// What ended an attempt that did not complete, and what happens to its stage: one retry rule for
/// every executor.
struct FailurePolicy {
    /// Automatic retries of a stage whose worker crashed or was killed (`--retries`).
    var retries: Int

    /// A worker that exits `stageError` or `usage` failed deterministically (the stage threw, or its
    /// request is wrong): running it again gives the same failure, so it is not retried.
    static func isDeterministic(exitStatus: Int?) -> Bool {
        exitStatus == Int(WorkerExit.stageError) || exitStatus == Int(WorkerExit.usage)
    }

    /// Whether the `failures`-th failure (counting this one) is retried.
    func retries(failures: Int, exitStatus: Int?) -> Bool {
        !Self.isDeterministic(exitStatus: exitStatus) && failures <= retries
    }

    /// The end of a failure event: what happens next and how to try again. `retryCommand` is the
    /// command that requeues failed stages for this executor.
    func outcome(failures f: Int, exitStatus: Int?, retrying: String, retryCommand: String) -> String {
        if retries(failures: f, exitStatus: exitStatus) { return "\(retrying) (retry \(f) of \(retries))" }
        if Self.isDeterministic(exitStatus: exitStatus) { return "not retried (the stage itself failed; fix it, then `\(retryCommand)`)" }
        return "giving up after \(f) failed attempt\(f == 1 ? "" : "s") (`\(retryCommand)` tries again)"
    }
}

/// Attempts: their start, progress, and end, and the stage row that goes with each.
extension RunLedger {
    /// A worker started (`pid` nil for a Slurm task, whose start the collector sees later).
    func recordStart(_ db: Database, _ id: String, attempt: Int, sweep: Int64?, pid: Int32?, threads: Int?, at time: Double) throws {
        try db.execute(sql: """
            UPDATE stages SET status = ?, attempts = ?, started = COALESCE(started, ?), pid = ?, threads = COALESCE(?, threads), heartbeat = ?
            WHERE identity = ?
            """, arguments: [StageStatus.running, attempt, time, pid, threads, time, id])
        try db.execute(sql: """
            INSERT OR REPLACE INTO attempts (stage, attempt, sweep_id, pid, threads, started, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, attempt, sweep, pid, threads, time, AttemptOutcome.running])
    }

    /// The next attempt number of a stage (its row's `attempts` + 1).
    func nextAttempt(_ db: Database, _ id: String) throws -> Int {
        (try Int.fetchOne(db, sql: "SELECT attempts FROM stages WHERE identity = ?", arguments: [id]) ?? 0) + 1
    }

    /// A running stage's heartbeat, step, memory and new journal rows.
    func recordProgress(_ db: Database, _ id: String, heartbeat: Double?, step: Int?, total: Int?, peakKiB: Int?, metrics: [Journal.Entry]) throws {
        try db.execute(sql: """
            UPDATE stages SET status = ?, heartbeat = COALESCE(?, heartbeat), last_step = COALESCE(?, last_step),
              total_steps = COALESCE(?, total_steps), peak_rss_kib = COALESCE(?, peak_rss_kib) WHERE identity = ?
            """, arguments: [StageStatus.running, heartbeat, step, total, peakKiB, id])
        try RunLedger.upsertMetrics(db, stage: id, metrics)
    }

    /// New journal rows of a stage that stopped (they are kept).
    func recordMetrics(_ db: Database, _ id: String, _ entries: [Journal.Entry]) throws {
        try RunLedger.upsertMetrics(db, stage: id, entries)
    }

    /// Attempt `attempt` completed the stage: its outputs are ingested and the row describes the
    /// completed stage (no failure fields of earlier attempts). `lastStep` nil: the stage's total.
    func recordCompleted(_ db: Database, _ id: String, attempt: Int, ranBy sweep: Int64?, finished: Double, seconds: Double?,
                         peakKiB: Int?, lastStep: Int?) throws {
        try ingest(db, id)
        let now = Date().timeIntervalSince1970
        try db.execute(sql: """
            UPDATE stages SET status = ?, finished = ?, seconds = ?, peak_rss_kib = COALESCE(?, peak_rss_kib),
              last_step = COALESCE(total_steps, last_step), exit_status = 0, signal = NULL, error = NULL, pid = NULL, failures = 0,
              ran_by_sweep = ?, heartbeat = ?
            WHERE identity = ?
            """, arguments: [StageStatus.completed, finished, seconds, peakKiB, sweep, now, id])
        try db.execute(sql: """
            UPDATE attempts SET outcome = ?, finished = ?, exit_status = 0, peak_rss_kib = ?,
              last_step = COALESCE(?, (SELECT last_step FROM stages WHERE identity = ?)) WHERE stage = ? AND attempt = ?
            """, arguments: [AttemptOutcome.completed, finished, peakKiB, lastStep, id, id, attempt])
    }

    /// Attempt `attempt` failed: the stage becomes `status` (queued for a retry, or failed) with the
    /// failure count `failures` and the reason; the attempt keeps its exit, last step and log tail.
    func recordFailure(_ db: Database, _ id: String, attempt: Int, status: StageStatus, failures: Int, outcome: AttemptOutcome,
                       exitStatus: Int?, signal: Int?, reason: String, lastStep: Int?, peakKiB: Int?, tail: String?) throws {
        let now = Date().timeIntervalSince1970
        try db.execute(sql: """
            UPDATE stages SET status = ?, failures = ?, exit_status = ?, signal = ?, error = ?, last_step = ?, pid = NULL,
              peak_rss_kib = CASE WHEN ? IS NULL THEN peak_rss_kib ELSE MAX(COALESCE(peak_rss_kib, 0), ?) END, finished = ?
            WHERE identity = ?
            """, arguments: [status, failures, exitStatus, signal, reason, lastStep, peakKiB, peakKiB, now, id])
        try closeAttempt(db, id, attempt, outcome: outcome, exitStatus: exitStatus, signal: signal, tail: tail, lastStep: lastStep, peakKiB: peakKiB)
    }

    /// Ends an attempt's row (fields given as nil keep what the row has).
    func closeAttempt(_ db: Database, _ id: String, _ attempt: Int, outcome: AttemptOutcome, exitStatus: Int? = nil, signal: Int? = nil,
                      tail: String? = nil, lastStep: Int? = nil, peakKiB: Int? = nil) throws {
        try db.execute(sql: """
            UPDATE attempts SET outcome = ?, finished = ?, exit_status = ?, signal = ?, stderr_tail = COALESCE(?, stderr_tail),
              last_step = COALESCE(?, last_step), peak_rss_kib = COALESCE(?, peak_rss_kib) WHERE stage = ? AND attempt = ?
            """, arguments: [outcome, Date().timeIntervalSince1970, exitStatus, signal, tail, lastStep, peakKiB, id, attempt])
    }

    /// A stage stopped on purpose while running (Ctrl-C): stale, its attempt interrupted, resumable.
    func recordStopped(_ db: Database, _ id: String, attempt: Int, lastStep: Int?) throws {
        try db.execute(sql: "UPDATE stages SET status = ?, pid = NULL, last_step = ? WHERE identity = ?", arguments: [StageStatus.stale, lastStep, id])
        try db.execute(sql: "UPDATE attempts SET outcome = ?, finished = ?, last_step = ? WHERE stage = ? AND attempt = ?",
                       arguments: [AttemptOutcome.interrupted, Date().timeIntervalSince1970, lastStep, id, attempt])
    }

    /// Attempts still recorded as running (their worker is gone) become interrupted.
    func interruptOpenAttempts(_ db: Database, _ id: String) throws {
        try db.execute(sql: "UPDATE attempts SET outcome = ?, finished = COALESCE(finished, ?) WHERE stage = ? AND outcome = ?",
                       arguments: [AttemptOutcome.interrupted, Date().timeIntervalSince1970, id, AttemptOutcome.running])
    }

    /// An attempt that found the stage held by another worker did nothing: its number and row are withdrawn.
    func withdrawAttempt(_ db: Database, _ id: String, attempt: Int) throws {
        try db.execute(sql: "DELETE FROM attempts WHERE stage = ? AND attempt = ?", arguments: [id, attempt])
        try db.execute(sql: "UPDATE stages SET attempts = ?, pid = NULL WHERE identity = ?", arguments: [attempt - 1, id])
    }

    /// A stage whose worker wrote done.json but whose end no scheduler saw (it was interrupted, or the
    /// worker was killed after finishing, or it was an earlier scheduler's orphan): ingest it, and credit
    /// the attempt whose pid wrote done.json as the one that completed it (other open attempts were
    /// interrupted); the stage row loses the failure fields of earlier attempts. Returns the number of an
    /// attempt row it had to add (a local worker that completed without one), else nil.
    @discardableResult
    func adoptCompleted(_ db: Database, _ id: String) throws -> Int? {
        let dir = stageDir(id)
        try ingest(db, id)
        let done = WorkerDone.read(directory: dir)
        var added: Int?
        // The attempt whose worker wrote done.json (its pid); else the latest.
        var byPid = try Int.fetchOne(db, sql: "SELECT MAX(attempt) FROM attempts WHERE stage = ? AND pid = ?", arguments: [id, done?.pid])
        let latest = try Int.fetchOne(db, sql: "SELECT MAX(attempt) FROM attempts WHERE stage = ?", arguments: [id])
        let local = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE stage = ? AND pid IS NULL", arguments: [id]) == 0
        if byPid == nil, let done, local {
            // A local worker completed it without a row of its own (its scheduler was killed between starting it and
            // recording it): add the row. (Slurm attempts have no pid; their collector records them.)
            let a = (latest ?? 0) + 1
            try db.execute(sql: "INSERT INTO attempts (stage, attempt, pid, started, outcome) VALUES (?, ?, ?, ?, ?)",
                           arguments: [id, a, done.pid, done.finished - done.seconds, AttemptOutcome.completed])
            try db.execute(sql: "UPDATE stages SET attempts = MAX(attempts, ?) WHERE identity = ?", arguments: [a, id])
            added = a
            byPid = a
        }
        if let a = byPid ?? latest {
            try db.execute(sql: "UPDATE attempts SET outcome = ?, finished = COALESCE(?, finished), exit_status = 0, signal = NULL, stderr_tail = NULL WHERE stage = ? AND attempt = ?",
                           arguments: [AttemptOutcome.completed, done?.finished, id, a])
            try interruptOpenAttempts(db, id)
            let by = try Int64.fetchOne(db, sql: "SELECT sweep_id FROM attempts WHERE stage = ? AND attempt = ?", arguments: [id, a])
            try db.execute(sql: "UPDATE stages SET ran_by_sweep = COALESCE(?, ran_by_sweep) WHERE identity = ?", arguments: [by, id])
        }
        // The row describes the completed stage, not the attempts before it (they keep their own records).
        try db.execute(sql: """
            UPDATE stages SET status = ?, exit_status = 0, signal = NULL, error = NULL, pid = NULL, failures = 0,
              last_step = COALESCE(total_steps, last_step) WHERE identity = ?
            """, arguments: [StageStatus.completed, id])
        return added
    }
}
