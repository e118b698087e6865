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
/// retry policy (`retries`, `FailurePolicy`) or marked failed. Workers never touch the database; only the
/// caller, who holds `<root>/.scheduler.lock`, writes — through the `RunLedger`, which holds every statement.
public final class SlurmCollector {
    let ledger: RunLedger
    let client: SlurmClient
    let policy: FailurePolicy
    /// Journal bytes already ingested per running stage (an attached run reads only new lines).
    var journalOffsets: [String: Int] = [:]
    typealias Task = RunLedger.SlurmTask

    init(ledger: RunLedger, client: SlurmClient, retries: Int) {
        self.ledger = ledger; self.client = client; policy = FailurePolicy(retries: retries)
    }

    func stageDir(_ id: String) -> String { ledger.stageDir(id) }

    /// One pass over every in-flight task. Throws only when Slurm cannot be asked at all.
    @discardableResult
    public func collect() throws -> SlurmCollectSummary {
        var sum = SlurmCollectSummary()
        let tasks = try ledger.slurmTasksInFlight()
        guard !tasks.isEmpty else { return sum }
        var states = try client.queueStates(jobs: Array(Set(tasks.map(\.job))).sorted())
        for t in tasks where states[t.key] == nil {
            if let s = try client.taskState(job: t.job, task: t.task) { states[t.key] = s }
        }
        try ledger.write { db in
            for t in tasks { try apply(db, t, states[t.key], &sum) }
        }
        return sum
    }

    // MARK: one task

    func apply(_ db: Database, _ r: Task, _ st: SlurmTaskState?, _ sum: inout SlurmCollectSummary) throws {
        try record(db, r, st, &sum)
        try ledger.updateTrials(db, stage: r.stage)
    }

    /// What the task's state (nil: Slurm has forgotten it) means for its stage and attempt.
    func record(_ db: Database, _ r: Task, _ st: SlurmTaskState?, _ sum: inout SlurmCollectSummary) throws {
        var attempt = r.attempt
        let label = "\(try ledger.stageName(db, r.stage)) [\(r.stage.prefix(10))] (Slurm \(r.key))"
        let dir = stageDir(r.stage)
        // Requeued since we last looked (preemption, time-limit warning): the run we saw was interrupted;
        // runs we never saw are recorded too, so `attempts` counts every start.
        if let st, st.restarts > r.restarts {
            var missed = st.restarts - r.restarts
            if let a = attempt {
                try ledger.closeAttempt(db, r.stage, a, outcome: .interrupted, tail: Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output),
                                        lastStep: progressStep(dir))
                attempt = nil; missed -= 1
            }
            for _ in 0..<max(0, missed) {
                let a = try openAttempt(db, r, started: r.submitted)
                try ledger.closeAttempt(db, r.stage, a, outcome: .interrupted)
            }
            try ledger.requeueRunning(db, r.stage)
            sum.interrupted += 1
            sum.events.append("↻ \(label) requeued by Slurm (restart \(st.restarts)); it resumes from its checkpoint")
        }
        try ledger.recordSlurmState(db, r, state: st, attempt: attempt)
        let done = FileManager.default.fileExists(atPath: dir + "/" + StageFiles.done)

        guard let st, st.isTerminal else {
            if let st, st.isRunning {
                if attempt == nil {
                    attempt = try openAttempt(db, r, started: Date().timeIntervalSince1970)
                    try ledger.setSlurmAttempt(db, r, attempt: attempt!)
                    sum.events.append("▶ \(label) started on \(st.node ?? "?") (attempt \(attempt!))")
                }
                try sampleRunning(db, r.stage)
                sum.running += 1
            } else if st != nil {
                sum.pending += 1
            } else {
                // Slurm has forgotten the job: the stage directory says how it ended.
                try finishForgotten(db, r, attempt, done: done, label: label, &sum)
                return
            }
            sum.inFlight += 1
            return
        }

        // Finished: one of completed, failed (retried or not), interrupted, never started.
        try ledger.finishSlurmTask(db, r, exitStatus: st.exitStatus, signal: st.signal)
        let ran = attempt != nil || (Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? 0) >= r.submitted
        if done {   // wrote done.json (even if Slurm then marked the job otherwise, e.g. cancelled while exiting)
            try complete(db, r, attempt, label: label, &sum)
        } else if st.state == "CANCELLED" && !ran {
            try ledger.requeueUnstarted(db, r.stage)
            sum.neverStarted += 1
            let why = (st.reason ?? "").contains("Dependency") ? "an input's job failed (DependencyNeverSatisfied)" : "cancelled before it started"
            sum.events.append("· \(label) did not start: \(why); it is queued again")
        } else if st.state == "CANCELLED" || st.exitStatus == Int(WorkerExit.requeued) {
            let a = try attempt ?? openAttempt(db, r, started: r.submitted)
            try ledger.closeAttempt(db, r.stage, a, outcome: .interrupted, exitStatus: st.exitStatus, signal: st.signal,
                                    tail: Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output), lastStep: progressStep(dir))
            try ledger.setStatus(db, r.stage, st.state == "CANCELLED" ? .stale : .queued)
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
    }

    /// A task Slurm no longer knows (finished longer than MinJobAge ago): done.json, else exit.json, else unknown.
    func finishForgotten(_ db: Database, _ r: Task, _ attempt: Int?, done: Bool, label: String, _ sum: inout SlurmCollectSummary) throws {
        try ledger.finishSlurmTask(db, r)
        let dir = stageDir(r.stage)
        if done { try complete(db, r, attempt, label: label, &sum); return }
        let rec = FileManager.default.contents(atPath: dir + "/" + StageFiles.exit).flatMap { try? JSONDecoder().decode(WorkerExitRecord.self, from: $0) }
        if let rec, rec.time >= r.submitted {
            if rec.status == WorkerExit.requeued {
                let a = try attempt ?? openAttempt(db, r, started: r.submitted)
                try ledger.closeAttempt(db, r.stage, a, outcome: .interrupted, exitStatus: Int(rec.status))
                try ledger.setStatus(db, r.stage, .queued)
                sum.interrupted += 1
                sum.events.append("↻ \(label) \(rec.reason); it is queued again")
                return
            }
            try fail(db, r, attempt, reason: "exit status \(rec.status) (from exit.json; Slurm no longer knows the job)", exit: Int(rec.status), signal: nil, label: label, &sum)
            return
        }
        let ran = attempt != nil || (Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? 0) >= r.submitted
        if !ran {
            try ledger.requeueUnstarted(db, r.stage)
            sum.neverStarted += 1
            sum.events.append("· \(label) left Slurm without starting; it is queued again")
            return
        }
        try fail(db, r, attempt, reason: "Slurm no longer knows the job (it ended more than MinJobAge ago) and it wrote no done.json: killed or crashed; see \(r.output)",
                 exit: nil, signal: nil, label: label, &sum)
    }

    // MARK: outcomes

    func complete(_ db: Database, _ r: Task, _ attempt: Int?, label: String, _ sum: inout SlurmCollectSummary) throws {
        let d = WorkerDone.read(directory: stageDir(r.stage))
        let a = try attempt ?? openAttempt(db, r, started: (d.map { $0.finished - $0.seconds }) ?? r.submitted)
        try ledger.recordCompleted(db, r.stage, attempt: a, ranBy: r.sweep, finished: d?.finished ?? Date().timeIntervalSince1970, seconds: d?.seconds,
                                   peakKiB: d?.peakRSSKiB, lastStep: nil)
        journalOffsets[r.stage] = nil
        sum.completed += 1
        sum.events.append(String(format: "✓ %@ completed in %.1f s%@", label, d?.seconds ?? 0,
                                 (d?.peakRSSKiB).map { String(format: ", peak %.0f MB", Double($0) / 1024) } ?? ""))
    }

    /// A failed run: recorded like a local worker's failure, and queued again under the one retry rule
    /// (`FailurePolicy`): not when the failure is deterministic (the stage threw) or the budget is spent.
    func fail(_ db: Database, _ r: Task, _ attempt: Int?, reason why: String, exit: Int?, signal: Int?, label: String,
              _ sum: inout SlurmCollectSummary) throws {
        let dir = stageDir(r.stage)
        let a = try attempt ?? openAttempt(db, r, started: r.submitted)
        let row = try ledger.failureContext(db, r.stage)
        var lastStep = row.lastStep
        if let m = Journal.read(path: dir + "/journal.jsonl").map(\.step).max() { lastStep = max(lastStep ?? 0, m + 1) }
        if let p = progressStep(dir) { lastStep = max(lastStep ?? 0, p) }
        let tail = Self.attemptTail(dir + "/" + StageFiles.log) + Self.slurmMessages(r.output)
        let lastLine = tail.split(separator: "\n").last(where: { !$0.hasPrefix("rdd-sweep worker pid") && !$0.hasPrefix("===") }).map(String.init) ?? ""
        var reason = "Slurm job \(r.key): " + why
        if let st = lastStep { reason += " at step \(st)\(row.total.map { "/\($0)" } ?? "")" }
        if !lastLine.isEmpty { reason += ": " + lastLine }
        let f = row.failures + 1
        let retry = policy.retries(failures: f, exitStatus: exit)
        try ledger.recordFailure(db, r.stage, attempt: a, status: retry ? .queued : .failed, failures: f, outcome: .failed,
                                 exitStatus: exit, signal: signal, reason: reason, lastStep: lastStep, peakKiB: nil, tail: tail)
        journalOffsets[r.stage] = nil
        sum.failedAttempts += 1
        let what = policy.outcome(failures: f, exitStatus: exit, retrying: "will be resubmitted", retryCommand: "rdd-sweep retry --failed --executor slurm")
        sum.events.append("✗ \(label) attempt \(a): \(reason) — \(what)")
    }

    // MARK: attempts, progress

    func openAttempt(_ db: Database, _ r: Task, started: Double) throws -> Int {
        let n = try ledger.nextAttempt(db, r.stage)
        try ledger.recordStart(db, r.stage, attempt: n, sweep: r.sweep, pid: nil, threads: try ledger.slurmThreads(db, r), at: started)
        return n
    }

    func progressStep(_ dir: String) -> Int? { StageProgress.read(dir)?.step }

    /// A running stage: heartbeat (the worker's file), step, new journal rows.
    func sampleRunning(_ db: Database, _ stage: String) throws {
        let dir = stageDir(stage)
        let (entries, off) = Journal.read(path: dir + "/journal.jsonl", from: journalOffsets[stage] ?? 0)
        journalOffsets[stage] = off
        try ledger.recordProgress(db, stage, heartbeat: Proc.mtime(dir + "/" + StageFiles.heartbeat), step: progressStep(dir), total: nil,
                                  peakKiB: nil, metrics: entries)
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

