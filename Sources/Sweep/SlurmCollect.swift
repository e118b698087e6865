import Foundation
import GRDB
import Pipeline

/// What one collection pass saw and did.
public struct SlurmCollectSummary: Equatable {
    public var inFlight = 0, pending = 0, running = 0
    public var completed = 0
    /// Failed attempts recorded (crashes, kills, time limits, stage errors).
    public var failedAttempts = 0
    /// Runs that stopped to be requeued (preemption, time-limit warning) or were cancelled.
    public var interrupted = 0
    /// Tasks Slurm cancelled because a dependency failed (their stages are queued again, no attempt).
    public var neverStarted = 0
    public var events: [String] = []
}

/// Brings the run database up to date with Slurm for every task the Slurm executor submitted under
/// one results root (`slurm_tasks` rows not yet finished): states from `squeue --states=all`, then
/// `scontrol show job` for a task squeue did not list, then — when Slurm has forgotten a job
/// (MinJobAge) — the stage directory's own files (`done.json`, `exit.json`). Completed stages are
/// ingested exactly as the local scheduler does; failed runs become `attempts` rows with exit status,
/// signal, Slurm state and reason, last step and stderr tail, and their stage is queued again under the
/// retry policy (`retries`) or marked failed. Workers never touch the database; only the caller, who
/// holds `<root>/.scheduler.lock`, writes.
public final class SlurmCollector {
    let root: String
    let db: RunDatabase
    let client: SlurmClient
    let retries: Int
    /// Journal bytes already ingested per running stage (an attached run reads only new lines).
    var journalOffsets: [String: Int] = [:]

    public init(root: String, db: RunDatabase, client: SlurmClient, retries: Int) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.db = db; self.client = client; self.retries = retries
    }

    struct Row_ {
        var job: String, task: Int, stage: String, sweep: Int64?, output: String, submitted: Double
        var state: String, restarts: Int, attempt: Int?
        var key: String { "\(job)_\(task)" }
    }

    /// Stages of in-flight tasks → "JOB_TASK" (what a dependent job would wait for).
    static func inFlight(_ db: Database) throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT job_id, task, stage FROM slurm_tasks WHERE finished IS NULL") {
            out[r["stage"]] = "\(r["job_id"] as String)_\(r["task"] as Int)"
        }
        return out
    }

    /// One pass over every in-flight task. Throws only when Slurm cannot be asked at all.
    @discardableResult
    public func collect() throws -> SlurmCollectSummary {
        var sum = SlurmCollectSummary()
        let rows = try db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL ORDER BY submitted, job_id, task").map {
                Row_(job: $0["job_id"], task: $0["task"], stage: $0["stage"], sweep: $0["sweep_id"], output: $0["output"],
                     submitted: $0["submitted"], state: $0["state"], restarts: $0["restarts"], attempt: $0["attempt"])
            }
        }
        guard !rows.isEmpty else { return sum }
        var states = try client.queueStates(jobs: Array(Set(rows.map(\.job))).sorted())
        for r in rows where states[r.key] == nil {
            if let s = try client.taskState(job: r.job, task: r.task) { states[r.key] = s }
        }
        try db.write { db in
            for r in rows { try apply(db, r, states[r.key], &sum) }
        }
        return sum
    }

    // MARK: one task

    func apply(_ db: Database, _ r: Row_, _ st: SlurmTaskState?, _ sum: inout SlurmCollectSummary) throws {
        let now = Date().timeIntervalSince1970
        var attempt = r.attempt
        let name = try String.fetchOne(db, sql: "SELECT name FROM stages WHERE identity = ?", arguments: [r.stage]) ?? "?"
        let label = "\(name) [\(r.stage.prefix(10))] (Slurm \(r.key))"
        // Requeued since we last looked (preemption, time-limit warning): the run we saw was interrupted;
        // runs we never saw are recorded too, so `attempts` counts every start.
        if let st, st.restarts > r.restarts {
            var missed = st.restarts - r.restarts
            if let a = attempt {
                let dir = stageDir(r.stage)
                try closeAttempt(db, r.stage, a, outcome: "interrupted", exit: nil, signal: nil,
                                 note: Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output), lastStep: progressStep(dir))
                attempt = nil; missed -= 1
            }
            for _ in 0..<max(0, missed) {
                let a = try openAttempt(db, r, started: r.submitted)
                try closeAttempt(db, r.stage, a, outcome: "interrupted", exit: nil, signal: nil, note: nil)
            }
            try db.execute(sql: "UPDATE stages SET status = 'queued', pid = NULL WHERE identity = ? AND status = 'running'", arguments: [r.stage])
            sum.interrupted += 1
            sum.events.append("↻ \(label) requeued by Slurm (restart \(st.restarts)); it resumes from its checkpoint")
        }
        try db.execute(sql: "UPDATE slurm_tasks SET state = ?, reason = ?, task_job_id = COALESCE(?, task_job_id), node = COALESCE(?, node), restarts = ?, attempt = ?, seen = ? WHERE job_id = ? AND task = ?",
                       arguments: [st?.state ?? "GONE", st?.reason, st?.jobID, st?.node, max(st?.restarts ?? 0, r.restarts), attempt, now, r.job, r.task])
        let dir = stageDir(r.stage)
        let done = FileManager.default.fileExists(atPath: dir + "/" + StageFiles.done)

        guard let st, st.isTerminal else {
            if let st, st.isRunning {
                if attempt == nil {
                    attempt = try openAttempt(db, r, started: now)
                    try db.execute(sql: "UPDATE slurm_tasks SET attempt = ? WHERE job_id = ? AND task = ?", arguments: [attempt, r.job, r.task])
                    sum.events.append("▶ \(label) started on \(st.node ?? "?") (attempt \(attempt!))")
                }
                try sampleRunning(db, r.stage)
                sum.running += 1
            } else if st != nil {
                sum.pending += 1
            } else {
                // Slurm has forgotten the job: the stage directory says how it ended.
                try finishForgotten(db, r, attempt, done: done, label: label, &sum)
                try updateTrials(db, stage: r.stage)
                return
            }
            sum.inFlight += 1
            try updateTrials(db, stage: r.stage)
            return
        }

        // Finished: one of completed, failed (retried or not), interrupted, never started.
        try db.execute(sql: "UPDATE slurm_tasks SET finished = ?, exit_status = ?, signal = ? WHERE job_id = ? AND task = ?",
                       arguments: [now, st.exitStatus, st.signal, r.job, r.task])
        let ran = attempt != nil || (Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? 0) >= r.submitted
        if done {   // wrote done.json (even if Slurm then marked the job otherwise, e.g. cancelled while exiting)
            try complete(db, r, attempt, label: label, &sum)
        } else if st.state == "CANCELLED" && !ran {
            try db.execute(sql: "UPDATE stages SET status = 'queued', pid = NULL WHERE identity = ? AND status IN ('queued', 'running')", arguments: [r.stage])
            sum.neverStarted += 1
            let why = (st.reason ?? "").contains("Dependency") ? "an input's job failed (DependencyNeverSatisfied)" : "cancelled before it started"
            sum.events.append("· \(label) did not start: \(why); it is queued again")
        } else if st.state == "CANCELLED" || st.exitStatus == Int(WorkerExit.requeued) {
            let a = try attempt ?? openAttempt(db, r, started: r.submitted)
            try closeAttempt(db, r.stage, a, outcome: "interrupted", exit: st.exitStatus, signal: st.signal,
                             note: Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output), lastStep: progressStep(dir))
            let next = st.state == "CANCELLED" ? "stale" : "queued"
            try db.execute(sql: "UPDATE stages SET status = ?, pid = NULL WHERE identity = ?", arguments: [next, r.stage])
            sum.interrupted += 1
            sum.events.append(st.state == "CANCELLED"
                ? "■ \(label) cancelled while running; `rdd-sweep run` resumes it from its checkpoint"
                : "↻ \(label) stopped on a signal with a checkpoint but was not requeued; it is queued again")
        } else {
            var why = "Slurm \(st.state)\(st.reason.map { " (\($0))" } ?? "")"
            if st.state == "COMPLETED" { why += ", exit status 0 without done.json" } else { why += ", " + st.exitDescription }
            if st.state == "TIMEOUT" { why = "time limit reached (Slurm TIMEOUT; raise execution.slurm.time or --time)" }
            if st.state == "OUT_OF_MEMORY" { why = "out of memory (Slurm OUT_OF_MEMORY; raise execution.slurm.mem or --mem)" }
            try fail(db, r, attempt, reason: why, exit: st.exitStatus, signal: st.signal, label: label, &sum)
        }
        try updateTrials(db, stage: r.stage)
    }

    /// A task Slurm no longer knows (finished longer than MinJobAge ago): done.json, else exit.json, else unknown.
    func finishForgotten(_ db: Database, _ r: Row_, _ attempt: Int?, done: Bool, label: String, _ sum: inout SlurmCollectSummary) throws {
        let now = Date().timeIntervalSince1970
        try db.execute(sql: "UPDATE slurm_tasks SET finished = ? WHERE job_id = ? AND task = ?", arguments: [now, r.job, r.task])
        let dir = stageDir(r.stage)
        if done { try complete(db, r, attempt, label: label, &sum); return }
        let rec = FileManager.default.contents(atPath: dir + "/" + StageFiles.exit).flatMap { try? JSONDecoder().decode(WorkerExitRecord.self, from: $0) }
        if let rec, rec.time >= r.submitted {
            if rec.status == WorkerExit.requeued {
                let a = try attempt ?? openAttempt(db, r, started: r.submitted)
                try closeAttempt(db, r.stage, a, outcome: "interrupted", exit: Int(rec.status), signal: nil, note: nil)
                try db.execute(sql: "UPDATE stages SET status = 'queued', pid = NULL WHERE identity = ?", arguments: [r.stage])
                sum.interrupted += 1
                sum.events.append("↻ \(label) \(rec.reason); it is queued again")
                return
            }
            try fail(db, r, attempt, reason: "exit status \(rec.status) (from exit.json; Slurm no longer knows the job)", exit: Int(rec.status), signal: nil, label: label, &sum)
            return
        }
        let ran = attempt != nil || (Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? 0) >= r.submitted
        if !ran {
            try db.execute(sql: "UPDATE stages SET status = 'queued', pid = NULL WHERE identity = ? AND status IN ('queued', 'running')", arguments: [r.stage])
            sum.neverStarted += 1
            sum.events.append("· \(label) left Slurm without starting; it is queued again")
            return
        }
        try fail(db, r, attempt, reason: "Slurm no longer knows the job (it ended more than MinJobAge ago) and it wrote no done.json: killed or crashed; see \(r.output)",
                 exit: nil, signal: nil, label: label, &sum)
    }

    // MARK: outcomes

    func complete(_ db: Database, _ r: Row_, _ attempt: Int?, label: String, _ sum: inout SlurmCollectSummary) throws {
        let dir = stageDir(r.stage), now = Date().timeIntervalSince1970
        let d = WorkerDone.read(directory: dir)
        let a = try attempt ?? openAttempt(db, r, started: (d.map { $0.finished - $0.seconds }) ?? r.submitted)
        try RunDatabase.ingestCompleted(db, stage: r.stage, directory: dir)
        try db.execute(sql: """
            UPDATE stages SET status = 'completed', finished = ?, seconds = ?, peak_rss_kib = COALESCE(?, peak_rss_kib),
              last_step = COALESCE(total_steps, last_step), exit_status = 0, signal = NULL, error = NULL, pid = NULL, failures = 0,
              ran_by_sweep = ?, heartbeat = ?
            WHERE identity = ?
            """, arguments: [d?.finished ?? now, d?.seconds, d?.peakRSSKiB, r.sweep, now, r.stage])
        try db.execute(sql: "UPDATE attempts SET outcome = 'completed', finished = ?, exit_status = 0, peak_rss_kib = ?, last_step = (SELECT last_step FROM stages WHERE identity = ?) WHERE stage = ? AND attempt = ?",
                       arguments: [d?.finished ?? now, d?.peakRSSKiB, r.stage, r.stage, a])
        journalOffsets[r.stage] = nil
        sum.completed += 1
        sum.events.append(String(format: "✓ %@ completed in %.1f s%@", label, d?.seconds ?? 0,
                                 (d?.peakRSSKiB).map { String(format: ", peak %.0f MB", Double($0) / 1024) } ?? ""))
    }

    /// A failed run: records it like the local scheduler does and queues the stage again unless the
    /// failure is deterministic (the stage threw) or the retry budget is spent.
    func fail(_ db: Database, _ r: Row_, _ attempt: Int?, reason why: String, exit: Int?, signal: Int?, label: String,
              _ sum: inout SlurmCollectSummary) throws {
        let dir = stageDir(r.stage), now = Date().timeIntervalSince1970
        let a = try attempt ?? openAttempt(db, r, started: r.submitted)
        var lastStep: Int? = try Int.fetchOne(db, sql: "SELECT last_step FROM stages WHERE identity = ?", arguments: [r.stage])
        if let m = Journal.read(path: dir + "/journal.jsonl").map(\.step).max() { lastStep = max(lastStep ?? 0, m + 1) }
        if let p = progressStep(dir) { lastStep = max(lastStep ?? 0, p) }
        let total = try Int.fetchOne(db, sql: "SELECT total_steps FROM stages WHERE identity = ?", arguments: [r.stage])
        let tail = Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output)
        let lastLine = tail.split(separator: "\n").last(where: { !$0.hasPrefix("rdd-sweep worker pid") && !$0.hasPrefix("===") }).map(String.init) ?? ""
        var reason = "Slurm job \(r.key): " + why
        if let st = lastStep { reason += " at step \(st)\(total.map { "/\($0)" } ?? "")" }
        if !lastLine.isEmpty { reason += ": " + lastLine }
        let deterministic = exit == Int(WorkerExit.stageError) || exit == Int(WorkerExit.usage)
        let f = (try Int.fetchOne(db, sql: "SELECT failures FROM stages WHERE identity = ?", arguments: [r.stage]) ?? 0) + 1
        let retry = !deterministic && f <= retries
        try db.execute(sql: """
            UPDATE stages SET status = ?, failures = ?, exit_status = ?, signal = ?, error = ?, last_step = ?, pid = NULL, finished = ?
            WHERE identity = ?
            """, arguments: [retry ? "queued" : "failed", f, exit, signal, reason, lastStep, now, r.stage])
        try closeAttempt(db, r.stage, a, outcome: "failed", exit: exit, signal: signal, note: tail, lastStep: lastStep)
        journalOffsets[r.stage] = nil
        sum.failedAttempts += 1
        let what = retry ? "will be resubmitted (retry \(f) of \(retries))"
            : deterministic ? "not retried (the stage itself failed; fix it, then `rdd-sweep retry --failed --executor slurm`)"
            : "giving up after \(f) failed attempt\(f == 1 ? "" : "s") (`rdd-sweep retry --failed --executor slurm` tries again)"
        sum.events.append("✗ \(label) attempt \(a): \(reason) — \(what)")
    }

    // MARK: attempts, progress, trials

    func openAttempt(_ db: Database, _ r: Row_, started: Double) throws -> Int {
        let n = (try Int.fetchOne(db, sql: "SELECT attempts FROM stages WHERE identity = ?", arguments: [r.stage]) ?? 0) + 1
        let threads = try Int.fetchOne(db, sql: "SELECT threads FROM slurm_tasks WHERE job_id = ? AND task = ?", arguments: [r.job, r.task])
        try db.execute(sql: "UPDATE stages SET status = 'running', attempts = ?, started = COALESCE(started, ?), threads = COALESCE(?, threads), heartbeat = ? WHERE identity = ?",
                       arguments: [n, started, threads, started, r.stage])
        try db.execute(sql: "INSERT OR REPLACE INTO attempts (stage, attempt, sweep_id, threads, started, outcome) VALUES (?, ?, ?, ?, ?, 'running')",
                       arguments: [r.stage, n, r.sweep, threads, started])
        return n
    }

    func closeAttempt(_ db: Database, _ stage: String, _ a: Int, outcome: String, exit: Int?, signal: Int?, note: String?, lastStep: Int? = nil) throws {
        try db.execute(sql: """
            UPDATE attempts SET outcome = ?, finished = ?, exit_status = ?, signal = ?, stderr_tail = COALESCE(?, stderr_tail),
              last_step = COALESCE(?, last_step) WHERE stage = ? AND attempt = ?
            """, arguments: [outcome, Date().timeIntervalSince1970, exit, signal, note, lastStep, stage, a])
    }

    func progressStep(_ dir: String) -> Int? {
        guard let d = FileManager.default.contents(atPath: dir + "/" + StageFiles.progress),
              let p = try? JSONParser.parse(String(decoding: d, as: UTF8.self)).value else { return nil }
        return p["step"]?.intValue
    }

    /// A running stage: heartbeat (the worker's file), step, new journal rows.
    func sampleRunning(_ db: Database, _ stage: String) throws {
        let dir = stageDir(stage)
        let hb = Proc.mtime(dir + "/" + StageFiles.heartbeat)
        try db.execute(sql: "UPDATE stages SET status = 'running', heartbeat = COALESCE(?, heartbeat), last_step = COALESCE(?, last_step) WHERE identity = ?",
                       arguments: [hb, progressStep(dir), stage])
        let (entries, off) = Journal.read(path: dir + "/journal.jsonl", from: journalOffsets[stage] ?? 0)
        journalOffsets[stage] = off
        try RunDatabase.upsertMetrics(db, stage: stage, entries)
    }

    /// Trials of `stage` (every sweep): completed when all their stages are, failed when one failed,
    /// running when one runs, else queued — the rule of `Scheduler.trialState`.
    func updateTrials(_ db: Database, stage: String) throws {
        let now = Date().timeIntervalSince1970
        for t in try Int64.fetchAll(db, sql: "SELECT DISTINCT trial_id FROM trial_stages WHERE stage = ?", arguments: [stage]) {
            let st = try String.fetchAll(db, sql: "SELECT s.status FROM trial_stages ts JOIN stages s ON s.identity = ts.stage WHERE ts.trial_id = ?", arguments: [t])
            let s = st.allSatisfy { $0 == "completed" || $0 == "cached" } ? "completed"
                : st.contains("failed") ? "failed" : st.contains("running") ? "running" : "queued"
            try db.execute(sql: "UPDATE trials SET status = ?, completed = CASE WHEN ? = 'completed' THEN COALESCE(completed, ?) ELSE NULL END WHERE id = ?",
                           arguments: [s, s, now, t])
        }
    }

    /// The last 2000 bytes of worker.log from the last attempt header on.
    static func attemptTail(_ path: String) -> String {
        let t = Proc.tail(path, maxBytes: 8000)
        let part = t.range(of: "\n=== rdd-sweep", options: .backwards).map { String(t[$0.lowerBound...]) } ?? t
        return String(part.suffix(2000))
    }

    /// Slurm's own lines in a task's output file ("slurmstepd: error: *** JOB 12 ON vm CANCELLED …").
    static func slurmMessages(_ path: String) -> String {
        let lines = Proc.tail(path, maxBytes: 4000).split(separator: "\n").filter { $0.contains("slurmstepd") || $0.contains("***") }
        return lines.suffix(5).map { "\n" + $0 }.joined()
    }
}

extension SlurmCollector: ResultsRootUser {}
