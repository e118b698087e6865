import Foundation
import GRDB
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Worker processes on this machine: at most `--jobs` at once, each `rdd-sweep worker REQUEST` with
/// RDD_THREADS = `--threads` (else cores / jobs). Every tick it reaps exited workers, samples the
/// running ones (progress.json, heartbeat, memory, new journal lines) and kills silent or stalled ones;
/// an attempt that did not complete is recorded with its reason and retried under `FailurePolicy`.
final class LocalExecutor: StageExecutor {
    unowned let run: Scheduler
    var running: [String: RunningStage] = [:]
    /// How workers are started and reaped: real processes, or an in-process stand-in (the harness
    /// benchmark, `HarnessBench`, measures the scheduler's own cost without training).
    var workers = WorkerProcesses()
    let policy: FailurePolicy
    /// The previous `sample()`, and the last sample and flush of the loop.
    var previousSample: Double?, lastSample = Date.distantPast, lastFlush = Date()

    struct WorkerProcesses {
        var spawn: (_ path: String, _ arguments: [String], _ env: [String: String], _ logPath: String) throws -> pid_t = Proc.spawn
        var reap: (pid_t) -> Proc.Exit? = Proc.reap
    }

    final class RunningStage {
        let identity: String
        let pid: pid_t
        let attempt: Int
        let started: Date
        let logOffset: Int
        var journalOffset = 0
        var journalInode: UInt64 = 0
        var pending: [Journal.Entry] = []
        var step: Int?
        var total: Int?
        var metrics: [(String, Double)] = []
        /// What the worker does after its counted steps (progress.json "phase"), e.g. "Inception features".
        var phase: String?
        var firstSample: (step: Int, time: Double)?
        var rate: Double?
        var peakKiB: Int?
        var killReason: String?
        var heartbeatAge: Double = 0
        /// Step and phase last seen (from the heartbeat and progress.json), and when they last changed.
        var progressMark = ""
        var progressAt: Double
        var reaped = false
        init(identity: String, pid: pid_t, attempt: Int, started: Date, logOffset: Int) {
            self.identity = identity; self.pid = pid; self.attempt = attempt; self.started = started; self.logOffset = logOffset
            progressAt = started.timeIntervalSince1970
        }
    }

    init(_ run: Scheduler) {
        self.run = run
        policy = FailurePolicy(retries: run.options.retries)
    }

    var options: RunOptions { run.options }
    var threadsPerJob: Int { options.threads ?? max(1, options.cores / max(1, options.jobs)) }
    var follows: Bool { true }
    var tick: Double { options.pollInterval }
    var isIdle: Bool { running.isEmpty }

    // MARK: the executor's steps

    func start() throws {
        let plan = run.plan
        let inFlight = try run.ledger.slurmInFlight()
        let busy = plan.stages.filter { inFlight[$0.identity] != nil }
        if !busy.isEmpty {
            throw PipelineError("\(busy.count) stage(s) of this sweep are in Slurm jobs (\(busy.prefix(3).map { "\($0.displayName) in \(inFlight[$0.identity]!)" }.joined(separator: ", "))\(busy.count > 3 ? ", …" : "")); running them locally too would duplicate work. `rdd-sweep collect --root \(options.root)` records what finished; `rdd-sweep cancel` stops the jobs; or continue with `--executor slurm`.")
        }
    }

    func startEvents(reused: Int) -> [String] {
        let plan = run.plan
        var out = ["sweep \(run.sweepLabel): \(plan.trials.count) trials, \(plan.stages.count) stages (\(reused) done already, \(plan.stages.count - reused) to run), \(options.jobs) job\(options.jobs == 1 ? "" : "s") × RDD_THREADS=\(threadsPerJob) — root \(run.root)"]
        if options.jobs * threadsPerJob > options.cores {
            out.append("note: \(options.jobs) jobs × \(threadsPerJob) threads exceed the \(options.cores) cores this process may use: workers will share cores")
        }
        let blocked = plan.stages.filter { run.status[$0.identity] == .failed }
        if !blocked.isEmpty {
            out.append("note: \(blocked.count) stage(s) failed in an earlier run and are not retried (their trials stay failed): `rdd-sweep retry --failed` requeues them")
        }
        return out
    }

    func submit() throws {
        while interruptRequested == 0, running.count < max(1, options.jobs), let next = run.nextReady() { try launch(next) }
    }

    func poll() throws {
        for (id, r) in running { if let ex = workers.reap(r.pid) { try finish(id, r, ex) } }
        let now = Date()
        if now.timeIntervalSince(lastSample) >= 0.5 { sample(); lastSample = now }
        if now.timeIntervalSince(lastFlush) >= 2 { try flush(); lastFlush = now }
    }

    func collect(into summary: inout RunSummary) throws { try flush() }

    func endEvents(_ summary: RunSummary) -> [String] {
        if summary.interrupted {
            return ["interrupted: running stages were stopped and are marked stale; `rdd-sweep run \(run.plan.spec.file) --root \(options.root)` resumes them from their last checkpoint"]
        }
        return [String(format: "sweep %@: %d/%d trials completed, %d failed; %d stages run now, %d reused; %.1f s (scheduler bookkeeping %.0f ms)",
                       summary.sweep, summary.trialsCompleted, summary.trials, summary.trialsFailed, summary.stagesRun, summary.stagesReused,
                       summary.seconds, summary.bookkeepingSeconds * 1000)]
    }

    // MARK: launching

    func launch(_ s: PlannedStage) throws {
        let id = s.identity, dir = run.stageDir(id)
        // Its directory is held by another worker: starting one would only exit 75; wait instead.
        if run.holdIfBusy(id) { run.status[id] = .running; return }
        // Its inputs must be what their workers wrote; a corrupt one is requeued and this stage waits for it.
        guard try run.inputsVerified(s) else { return }
        try run.prepareStage(s)
        // Keep a stage's thread count across resumes: identical numbers need the same count.
        let hasCheckpoint = FileManager.default.fileExists(atPath: dir + "/checkpoint.h5")
        let threads = hasCheckpoint ? (run.threadsUsed[id] ?? threadsPerJob) : threadsPerJob
        run.threadsUsed[id] = threads
        var env = ProcessInfo.processInfo.environment
        for (k, v) in options.environment { env[k] = v }
        env["RDD_THREADS"] = String(threads)
        let attempt = (run.attempts[id] ?? 0) + 1
        run.attempts[id] = attempt
        let logPath = dir + "/" + StageFiles.log
        let header = "\n=== rdd-sweep \(run.sweepLabel): attempt \(attempt) of stage \(s.displayName) [\(id)] at \(ISO8601DateFormatter().string(from: Date())), RDD_THREADS=\(threads) ===\n"
        if let h = FileHandle(forWritingAtPath: logPath) { h.seekToEndOfFile(); h.write(Data(header.utf8)); try? h.close() }
        else { _ = FileManager.default.createFile(atPath: logPath, contents: Data(header.utf8)) }
        try? FileManager.default.removeItem(atPath: dir + "/" + StageFiles.progress)
        let logOffset = Proc.fileSize(logPath) ?? 0
        let exe = options.workerExecutable
        let pid = try workers.spawn(exe, [exe, "worker", dir + "/" + StageFiles.request,
                                          "--checkpoint-every", String(run.plan.spec.checkpointEvery), "--log-every", String(run.plan.spec.logEvery)],
                                    env, logPath)
        let now = Date()
        let r = RunningStage(identity: id, pid: pid, attempt: attempt, started: now, logOffset: logOffset)
        r.total = s.totalSteps
        running[id] = r
        run.status[id] = .running
        try run.ledger.write { db in
            try run.ledger.recordStart(db, id, attempt: attempt, sweep: run.sweepID, pid: pid, threads: threads, at: now.timeIntervalSince1970)
            try run.updateTrials(db, s.trials)
        }
        run.display.event("▶ \(s.displayName) [\(s.shortID)] started (attempt \(attempt), pid \(pid))")
    }

    // MARK: following workers

    /// Reads progress, heartbeat, memory and new journal lines of running workers; kills silent ones.
    func sample() {
        let now = Date().timeIntervalSince1970
        // A gap between two samples far longer than the tick means the scheduler itself did not run (SIGSTOP of the
        // whole sweep, a suspended VM or laptop): its workers did not run either, so every heartbeat looks old.
        // Heartbeat ages are then counted from the resumption, instead of killing healthy workers as silent.
        if let last = previousSample, now - last > max(options.heartbeatTimeout / 2, 5) {
            run.resumedAt = now
            if !running.isEmpty { run.display.event(String(format: "the scheduler did not run for %.0f s (suspended?): heartbeat ages restart now", now - last)) }
        }
        previousSample = now
        for (_, r) in running { sample(r, now: now) }
    }

    func sample(_ r: RunningStage, now: Double) {
        let dir = run.stageDir(r.identity)
        if let p = StageProgress.read(dir) {
            if let step = p.step {
                r.step = step
                r.total = p.total ?? r.total
                let t = p.time ?? now
                if let f = r.firstSample { if t > f.time + 0.2, step > f.step { r.rate = Double(step - f.step) / (t - f.time) } }
                else { r.firstSample = (step, t) }
            }
            r.phase = p.phase
            if let m = p.metrics { r.metrics = m }
        }
        let hb = Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? r.started.timeIntervalSince1970
        r.heartbeatAge = now - max(hb, r.started.timeIntervalSince1970, run.resumedAt)
        if r.heartbeatAge > options.heartbeatTimeout, r.killReason == nil {
            r.killReason = String(format: "no heartbeat for %.0f s (limit %.0f s)", r.heartbeatAge, options.heartbeatTimeout)
            kill(r.pid, SIGKILL)
        }
        // Liveness is not progress: the heartbeat thread beats while a training loop hangs, so the step it
        // carries (and progress.json's step and phase) must advance too.
        let beatStep = Heartbeat.step(dir + "/" + StageFiles.heartbeat)
        if let b = beatStep { r.step = max(r.step ?? b, b) }   // progress.json is written at most 4 times a second
        let mark = "\(beatStep.map(String.init) ?? "-") \(r.step.map(String.init) ?? "-") \(r.phase ?? "")"
        if mark != r.progressMark { r.progressMark = mark; r.progressAt = now }
        let still = now - max(r.progressAt, run.resumedAt)
        if options.stallTimeout > 0, still > options.stallTimeout, r.killReason == nil {
            let at = (beatStep ?? r.step).map { "step \($0)" } ?? "its start"
            r.killReason = String(format: "stalled: no progress past %@ for %.0f s (--stall-timeout %.0f s)", at, still, options.stallTimeout)
            Heartbeat.note("=== rdd-sweep: attempt \(r.attempt) killed: \(r.killReason!) ===", log: dir + "/" + StageFiles.log)
            kill(r.pid, SIGKILL)
        }
        if let k = Proc.peakRSSKiB(r.pid) { r.peakKiB = max(r.peakKiB ?? 0, k) }
        let jp = dir + "/journal.jsonl"
        let ino = Proc.inode(jp) ?? 0
        if ino != r.journalInode { r.journalInode = ino; r.journalOffset = 0 }
        let (entries, off) = Journal.read(path: jp, from: r.journalOffset)
        r.journalOffset = off
        r.pending += entries
    }

    /// Writes running stages' heartbeat, step, memory and new metric rows (one transaction).
    func flush() throws {
        guard !running.isEmpty else { return }
        try run.ledger.write { db in
            for (_, r) in running {
                try run.ledger.recordProgress(db, r.identity, heartbeat: Date().timeIntervalSince1970 - r.heartbeatAge, step: r.step, total: r.total,
                                              peakKiB: r.peakKiB, metrics: r.pending)
                r.pending = []
            }
        }
    }

    // MARK: ends

    func finish(_ id: String, _ r: RunningStage, _ ex: Proc.Exit) throws {
        running[id] = nil
        sample(r, now: Date().timeIntervalSince1970)
        let s = run.stageByID[id]!, dir = run.stageDir(id)
        let now = Date()
        let seconds = now.timeIntervalSince(r.started)
        if ex == .exited(0), let done = WorkerDone.read(directory: dir) {
            let peak = max(r.peakKiB ?? 0, done.peakRSSKiB ?? 0)
            try run.ledger.write { db in
                try run.ledger.recordCompleted(db, id, attempt: r.attempt, ranBy: run.sweepID, finished: now.timeIntervalSince1970, seconds: seconds,
                                               peakKiB: peak, lastStep: r.step)
                run.status[id] = .completed
                try run.updateTrials(db, s.trials)
            }
            run.stagesRun += 1
            run.markCandidates(after: id)
            run.display.event(String(format: "✓ %@ [%@] completed in %.1f s%@", s.displayName, s.shortID, seconds,
                                     peak > 0 ? String(format: ", peak %.0f MB", Double(peak) / 1024) : ""))
            return
        }
        if ex == .exited(WorkerExit.busy) {
            try run.busyAtStart(s, attempt: r.attempt)
            return
        }
        if interruptRequested != 0 {
            // The sweep is being stopped: this stage is resumable, not failed (cancel records it).
            r.reaped = true
            running[id] = r
            return
        }
        run.failedAttempts += 1
        // A failed attempt: record why, then retry under the policy.
        var lastStep = r.step
        let journal = Journal.read(path: dir + "/journal.jsonl")
        if let m = journal.map(\.step).max() { lastStep = max(lastStep ?? 0, m + 1) }
        let tail = Proc.lastLines(Proc.tail(dir + "/" + StageFiles.log, from: r.logOffset, maxBytes: 256 * 1024), 50)
        let lastLine = Proc.failureLine(tail) ?? ""
        var exitStatus: Int?, sig: Int?
        switch ex { case .exited(let c): exitStatus = Int(c); case .signaled(let sg): sig = Int(sg) }
        let exitNote: String
        switch ex {
        case .exited(0): exitNote = "exit status 0 without done.json"
        case .exited(137): exitNote = "exit status 137 (killed)"
        case .exited(WorkerExit.orphaned): exitNote = "exit status 70 (worker lost its scheduler)"
        default: exitNote = ex.description
        }
        var reason = (r.killReason.map { $0 + "; " } ?? "") + exitNote
        if let st = lastStep { reason += " at step \(st)\(r.total.map { "/\($0)" } ?? "")" }
        if !lastLine.isEmpty { reason += ": " + lastLine }
        let f = (run.failures[id] ?? 0) + 1
        run.failures[id] = f
        let retry = policy.retries(failures: f, exitStatus: exitStatus)
        run.stageChanged(id, to: retry ? .queued : .failed)
        try run.ledger.write { db in
            try run.ledger.recordMetrics(db, id, r.pending)
            r.pending = []
            try run.ledger.recordFailure(db, id, attempt: r.attempt, status: retry ? .queued : .failed, failures: f,
                                         outcome: r.killReason != nil ? .stale : .failed, exitStatus: exitStatus, signal: sig, reason: reason,
                                         lastStep: lastStep, peakKiB: r.peakKiB, tail: tail)
            try run.updateTrials(db, s.trials)
        }
        let what = policy.outcome(failures: f, exitStatus: exitStatus, retrying: "retrying", retryCommand: "rdd-sweep retry --failed")
        let msg = "✗ \(s.displayName) [\(s.shortID)] attempt \(r.attempt): \(reason) — \(what)"
        run.display.event(msg)
        if !retry { run.failureMessages.append(msg) }
    }

    /// Stops every worker (SIGTERM, then SIGKILL after 2 s) and marks their stages stale (resumable).
    func cancel() throws {
        for (_, r) in running where !r.reaped { kill(r.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(2)
        var left = running.filter { !$0.value.reaped }
        while !left.isEmpty && Date() < deadline {
            for (id, r) in left where Proc.reap(r.pid) != nil { left[id] = nil }
            usleep(20_000)
        }
        for (_, r) in left { kill(r.pid, SIGKILL); while Proc.reap(r.pid) == nil { usleep(10_000) } }
        let now = Date().timeIntervalSince1970
        try run.ledger.write { db in
            for (id, r) in running {
                sample(r, now: now)
                try run.ledger.recordMetrics(db, id, r.pending)
                try run.ledger.recordStopped(db, id, attempt: r.attempt, lastStep: r.step)
                run.status[id] = .stale
            }
            // Held stages keep their holder's attempt open: the next run waits for it or adopts its result.
            for id in run.held.keys {
                try run.ledger.setStatus(db, id, .stale)
                run.status[id] = .stale
            }
            try run.updateTrials(db, Array(Set((Array(running.keys) + Array(run.held.keys)).flatMap { run.stageByID[$0]?.trials ?? [] })).sorted())
        }
        running = [:]
        run.held = [:]
    }

    // MARK: display

    /// The running stages in plan order (sorting the few running ones, not scanning the plan each tick).
    func rows() -> [ProgressRow] {
        running.keys.compactMap { run.plan.position[$0] }.sorted().map { i in
            let s = run.plan.stages[i], r = running[s.identity]!
            return ProgressRow(name: s.displayName, shortID: s.shortID, step: r.step, total: r.total, rate: r.rate,
                               elapsed: Date().timeIntervalSince(r.started), metrics: r.metrics, attempt: r.attempt, phase: r.phase)
        }
    }
}

/// A worker's `progress.json` (step, total, time, phase, latest metrics), as the executors read it.
struct StageProgress {
    var step: Int?, total: Int?, time: Double?, phase: String?
    var metrics: [(String, Double)]?

    static func read(_ dir: String) -> StageProgress? {
        guard let d = FileManager.default.contents(atPath: dir + "/" + StageFiles.progress),
              let p = try? JSONParser.parse(String(decoding: d, as: UTF8.self)).value else { return nil }
        var out = StageProgress(step: p["step"]?.intValue, total: p["total"]?.intValue)
        if case .double(let x)? = p["time"] { out.time = x }
        if case .string(let ph)? = p["phase"] { out.phase = ph }
        out.metrics = p["metrics"]?.objectPairs.map { pairs in
            pairs.compactMap { k, v in
                switch v { case .double(let x): return (k, x); case .int(let i): return (k, Double(i)); default: return nil }
            }
        }
        return out
    }
}
