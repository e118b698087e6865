import Foundation
import GRDB
import RunModel

/// The Slurm executor's records (`slurm_tasks`, docs/run-database.md): what was submitted, what Slurm
/// last said about each task, and when it was collected as finished.
extension RunLedger {
    /// One submitted array task not yet collected as finished.
    struct SlurmTask {
        var job: String, task: Int, stage: String, sweep: Int64?, output: String, submitted: Double
        var state: String, restarts: Int, attempt: Int?
        /// "JOB_TASK", what a dependent job waits for.
        var key: String { "\(job)_\(task)" }
    }

    /// Stages of in-flight tasks → "JOB_TASK".
    func slurmInFlight() throws -> [String: String] {
        try db.read { db in
            var out: [String: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT job_id, task, stage FROM slurm_tasks WHERE finished IS NULL") {
                out[r["stage"]] = "\(r["job_id"] as String)_\(r["task"] as Int)"
            }
            return out
        }
    }

    /// Whether a root has Slurm tasks not yet collected as finished (read-only; false without a database).
    static func hasSlurmInFlight(root: String) -> Bool {
        let path = RunDatabase.path(root: root)
        guard FileManager.default.fileExists(atPath: path), let db = try? RunDatabase(readerAt: path) else { return false }
        let n: Int? = try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") }
        return (n ?? 0) > 0
    }

    /// The in-flight tasks, oldest first; of sweep `sweep` only when given.
    func slurmTasksInFlight(sweep: Int64? = nil) throws -> [SlurmTask] {
        try db.read { db in
            let rows = sweep == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL ORDER BY submitted, job_id, task")
                : try Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL AND sweep_id = ? ORDER BY job_id, task", arguments: [sweep])
            return rows.map {
                SlurmTask(job: $0["job_id"], task: $0["task"], stage: $0["stage"], sweep: $0["sweep_id"], output: $0["output"],
                          submitted: $0["submitted"], state: $0["state"], restarts: $0["restarts"], attempt: $0["attempt"])
            }
        }
    }

    /// Task `task` of job array `job` runs stage `stage` with `threads` threads.
    func recordSubmission(_ db: Database, job: String, task: Int, stage: String, jobName: String, script: String, output: String,
                          dependency: String?, threads: Int) throws {
        try db.execute(sql: """
            INSERT INTO slurm_tasks (job_id, task, stage, sweep_id, job_name, script, output, dependency, threads, submitted)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [job, task, stage, sweepID, jobName, script, output, dependency, threads, Date().timeIntervalSince1970])
        try db.execute(sql: "UPDATE stages SET threads = ?, pid = NULL WHERE identity = ?", arguments: [threads, stage])
    }

    /// A stage's name (for events about tasks of any sweep).
    func stageName(_ db: Database, _ id: String) throws -> String {
        try String.fetchOne(db, sql: "SELECT name FROM stages WHERE identity = ?", arguments: [id]) ?? "?"
    }

    /// What Slurm said about a task this time (`state` "GONE" when it no longer knows the job).
    func recordSlurmState(_ db: Database, _ t: SlurmTask, state: SlurmTaskState?, attempt: Int?) throws {
        try db.execute(sql: """
            UPDATE slurm_tasks SET state = ?, reason = ?, task_job_id = COALESCE(?, task_job_id), node = COALESCE(?, node), restarts = ?,
              attempt = ?, seen = ? WHERE job_id = ? AND task = ?
            """, arguments: [state?.state ?? "GONE", state?.reason, state?.jobID, state?.node, max(state?.restarts ?? 0, t.restarts), attempt,
                             Date().timeIntervalSince1970, t.job, t.task])
    }

    /// The attempt a running task is (once its start was seen).
    func setSlurmAttempt(_ db: Database, _ t: SlurmTask, attempt: Int) throws {
        try db.execute(sql: "UPDATE slurm_tasks SET attempt = ? WHERE job_id = ? AND task = ?", arguments: [attempt, t.job, t.task])
    }

    /// The task is collected: it is no longer in flight. `state` (a cancel) overrides what Slurm said.
    func finishSlurmTask(_ db: Database, _ t: SlurmTask, exitStatus: Int? = nil, signal: Int? = nil, state: String? = nil, reason: String? = nil) throws {
        try db.execute(sql: """
            UPDATE slurm_tasks SET finished = ?, exit_status = COALESCE(?, exit_status), signal = COALESCE(?, signal),
              state = COALESCE(?, state), reason = COALESCE(?, reason) WHERE job_id = ? AND task = ?
            """, arguments: [Date().timeIntervalSince1970, exitStatus, signal, state, reason, t.job, t.task])
    }

    /// The thread count a task was submitted with.
    func slurmThreads(_ db: Database, _ t: SlurmTask) throws -> Int? {
        try Int.fetchOne(db, sql: "SELECT threads FROM slurm_tasks WHERE job_id = ? AND task = ?", arguments: [t.job, t.task])
    }

    /// A stage whose task never started (cancelled, its dependency failed, lost) is queued again, unless it
    /// has meanwhile reached another state.
    func requeueUnstarted(_ db: Database, _ id: String) throws {
        try db.execute(sql: "UPDATE stages SET status = ?, pid = NULL WHERE identity = ? AND status IN (?, ?)",
                       arguments: [StageStatus.queued, id, StageStatus.queued, StageStatus.running])
    }

    /// A running stage whose task Slurm requeued (its next run resumes): queued.
    func requeueRunning(_ db: Database, _ id: String) throws {
        try db.execute(sql: "UPDATE stages SET status = ?, pid = NULL WHERE identity = ? AND status = ?",
                       arguments: [StageStatus.queued, id, StageStatus.running])
    }

    /// `rdd-sweep cancel` stopped a running task: its attempt is interrupted and the stage stale (resumable).
    func recordCancelled(_ db: Database, _ id: String, attempt: Int) throws {
        try db.execute(sql: "UPDATE attempts SET outcome = ?, finished = ? WHERE stage = ? AND attempt = ? AND outcome = ?",
                       arguments: [AttemptOutcome.interrupted, Date().timeIntervalSince1970, id, attempt, AttemptOutcome.running])
        try setStatus(db, id, .stale)
    }

    /// The stage row's last step, total steps and failure count (a failure's reason and the retry rule).
    func failureContext(_ db: Database, _ id: String) throws -> (lastStep: Int?, total: Int?, failures: Int) {
        guard let r = try Row.fetchOne(db, sql: "SELECT last_step, total_steps, failures FROM stages WHERE identity = ?", arguments: [id]) else {
            return (nil, nil, 0)
        }
        return (r["last_step"] as Int?, r["total_steps"] as Int?, r["failures"] as Int)
    }
}
