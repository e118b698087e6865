import Foundation
import GRDB
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// How `rdd-sweep run --executor slurm` submits and follows a sweep.
public struct SlurmRunOptions {
    /// Command-line resources; they override the spec's `execution.slurm` (docs/sweeps.md, "Slurm").
    public var flags = SlurmResources()
    /// Return right after submission (the jobs run on; `status`/`collect` pick the results up).
    public var detach = false
    /// Seconds between two collections of an attached run.
    public var pollInterval: Double = 5
    /// The Slurm client commands (a mock in unit tests).
    public var runner: SlurmCommandRunner

    public init(runner: SlurmCommandRunner) { self.runner = runner }
}

/// The Slurm executor: the local scheduler's registration and reconciliation, then the stage graph
/// goes to Slurm instead of local processes.
///
/// Every stage that can be submitted now (queued; each input done or itself in a job) is submitted
/// in one pass. Stages with the same resources (their kind's) and the same unfinished inputs form one
/// job array (`--array=0-N%K`), whose task i runs stage i; arrays wait for exactly the array tasks
/// their inputs run in (`--dependency=afterok:12_0:13_2`, with `--kill-on-invalid-dep=yes` so a job
/// whose input failed is cancelled instead of pending forever). Grouping by input set keeps a failure
/// local: only the stages that need a failed stage's output are cancelled, and they are queued again.
/// Workers on the nodes write their stage directories as local workers do; the database is written
/// only here, holding `<root>/.scheduler.lock`, by `SlurmCollector`.
public final class SlurmExecutor: Scheduler {
    let slurmOptions: SlurmRunOptions
    let client: SlurmClient
    var collector: SlurmCollector!

    public init(plan: SweepPlan, options: RunOptions, slurm: SlurmRunOptions) {
        slurmOptions = slurm
        client = SlurmClient(runner: slurm.runner)
        super.init(plan: plan, options: options)
    }

    /// Where scripts and Slurm's output files go: `<root>/slurm/<sweep name>/`.
    var logDirectory: String { root + "/slurm/" + plan.spec.name }

    /// Submits the sweep and, unless detached, follows it to the end (collect, resubmit retries and
    /// stages whose inputs were cancelled, until nothing is in flight or can be submitted).
    public override func run() throws -> RunSummary {
        let t0 = Date()
        try FileManager.default.createDirectory(atPath: root + "/stages", withIntermediateDirectories: true)
        let lockPath = root + "/.scheduler.lock"
        guard let lock = FileLock.tryLock(lockPath) else {
            let owner = FileLock.owner(lockPath)
            throw RootLockedError("another rdd-sweep (pid \(owner)) is writing '\(root)'; one writer per results root. Watch it with `rdd-sweep status --root \(options.root)`.")
        }
        lock.writeOwner("\(getpid())\n")
        defer { withExtendedLifetime(lock) {} }
        db = try RunDatabase(writerAt: RunDatabase.path(root: root))
        display = ProgressDisplay(mode: options.display)
        collector = SlurmCollector(root: root, db: db, client: client, retries: options.retries)
        // What finished since the last look, before deciding what to submit.
        report(try collector.collect())
        inFlight = try db.read { try SlurmCollector.inFlight($0) }
        try register()
        try reconcile()
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)

        var oldInt: (@convention(c) (Int32) -> Void)?, oldTerm: (@convention(c) (Int32) -> Void)?
        if options.handleSignals {
            interruptRequested = 0
            oldInt = signal(SIGINT) { _ in interruptRequested = 1 }
            oldTerm = signal(SIGTERM) { _ in interruptRequested = 1 }
            signal(SIGPIPE, SIG_IGN)
        }
        defer { if options.handleSignals { signal(SIGINT, oldInt); signal(SIGTERM, oldTerm) } }

        let reused = plan.stages.filter { ["completed", "cached"].contains(status[$0.identity]) }.count
        display.event("sweep \(sweepLabel): \(plan.trials.count) trials, \(plan.stages.count) stages (\(reused) done already, \(inFlight.count) in Slurm jobs) — Slurm executor, root \(root)")
        var submittedJobs: [String] = []
        submittedJobs += try submitReady()
        var interrupted = false
        if !slurmOptions.detach {
            while true {
                if interruptRequested != 0 { interrupted = true; break }
                if try inFlightOfPlan().isEmpty { break }
                sleepInterruptibly(slurmOptions.pollInterval)
                if interruptRequested != 0 { interrupted = true; break }
                // A controller that does not answer once (restart, overload) is not the end of the sweep.
                do { report(try collector.collect()) } catch {
                    display.event("warning: \(error); asking again in \(Int(slurmOptions.pollInterval.rounded(.up))) s")
                    continue
                }
                try refreshStatus()
                submittedJobs += try submitReady()
                display.render(rows())
            }
            display.render([])
        }
        try refreshStatus()
        let trialStatus = plan.trials.map { trialState($0.index) }
        var summary = RunSummary(
            sweep: sweepLabel, trials: plan.trials.count,
            trialsCompleted: trialStatus.filter { $0 == "completed" }.count, trialsFailed: trialStatus.filter { $0 == "failed" }.count,
            stagesRun: try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM stages WHERE status = 'completed' AND ran_by_sweep = ?", arguments: [sweepID]) ?? 0 },
            stagesReused: reused, stagesFailed: plan.stages.filter { status[$0.identity] == "failed" }.count,
            failedAttempts: failedAttempts, interrupted: interrupted, seconds: Date().timeIntervalSince(t0), bookkeepingSeconds: 0,
            failures: failureMessages)
        summary.submittedJobs = submittedJobs
        let spec = plan.spec.file
        let n = try inFlightOfPlan().count
        if slurmOptions.detach && n == 0 && !interrupted {
            let blocked = plan.stages.filter { status[$0.identity] == "failed" }.count
            display.event("nothing to submit: \(summary.trialsCompleted)/\(summary.trials) trials completed"
                          + (blocked > 0 ? "; \(blocked) failed stage(s) block the rest (`rdd-sweep retry --failed \(spec) --executor slurm`)" : ""))
        } else if slurmOptions.detach || interrupted {
            display.event("\(interrupted ? "detached" : "submitted"): \(n) stage(s) in Slurm jobs\(submittedJobs.isEmpty ? "" : " (job arrays \(submittedJobs.joined(separator: ", ")))"); they run on without this process. "
                          + "`rdd-sweep status \(spec)` shows progress (and collects), `rdd-sweep collect --root \(options.root)` records results, "
                          + "`rdd-sweep run \(spec) --executor slurm` resubmits what is left, `rdd-sweep cancel \(spec)` cancels the jobs")
        } else {
            display.event(String(format: "sweep %@: %d/%d trials completed, %d failed; %d stages run by this sweep, %d reused; %.1f s",
                                 sweepLabel, summary.trialsCompleted, summary.trials, summary.trialsFailed, summary.stagesRun, reused, summary.seconds))
            for id in plan.stages.map(\.identity) where status[id] == "failed" {
                let s = stageByID[id]!
                let err = (try? db.read { try String.fetchOne($0, sql: "SELECT error FROM stages WHERE identity = ?", arguments: [id]) }) ?? nil
                display.event("  failed: \(s.displayName) [\(s.shortID)] (\(s.trials.count) trial\(s.trials.count == 1 ? "" : "s")): \(err ?? "?")")
            }
        }
        return summary
    }

    func sleepInterruptibly(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && interruptRequested == 0 { usleep(50_000) }
    }

    func report(_ s: SlurmCollectSummary) {
        for e in s.events {
            display.event(e)
            if e.hasPrefix("✗"), !e.contains("will be resubmitted") { failureMessages.append(e) }
        }
        failedAttempts += s.failedAttempts
    }

    /// This plan's stages with a task in flight.
    func inFlightOfPlan() throws -> [String: String] {
        inFlight = try db.read { try SlurmCollector.inFlight($0) }
        return inFlight.filter { stageByID[$0.key] != nil }
    }

    /// Reloads the plan's stage states from the database (the collector changed them).
    func refreshStatus() throws {
        let rows = try db.read { try Row.fetchAll($0, sql: "SELECT identity, status, threads FROM stages") }
        for r in rows {
            let id: String = r["identity"]
            guard stageByID[id] != nil else { continue }
            status[id] = r["status"]
            threadsUsed[id] = r["threads"]
        }
    }

    // MARK: submission

    /// A job array being assembled: its stages and the dependencies (resolved refs or placeholders).
    struct Group {
        var resources: SlurmResources
        var dependencies: [String]
        var stages: [PlannedStage] = []
    }

    /// The job arrays for what can be submitted now, in an order where every array comes after the
    /// arrays it depends on. Dependencies on stages submitted in the same pass are placeholders
    /// "#GROUP_TASK", resolved to "JOB_TASK" as the arrays are submitted.
    func plannedGroups() -> [Group] {
        var refs = inFlight
        var groups: [Group] = []
        var index: [String: Int] = [:]
        for s in plan.stages where status[s.identity] == "queued" && inFlight[s.identity] == nil {
            var deps: [String] = []
            var ready = true
            for src in s.inputs.values.sorted() where !isDone(src) {
                guard let r = refs[src] else { ready = false; break }   // an input failed or cannot run yet
                deps.append(r)
            }
            guard ready else { continue }
            deps = Array(Set(deps)).sorted()
            let res = plan.spec.slurm.resources(for: s.kind, flags: slurmOptions.flags)
            let key = "\(res)|\(deps.joined(separator: ","))"
            let g: Int
            if let i = index[key] { g = i } else {
                g = groups.count
                index[key] = g
                groups.append(Group(resources: res, dependencies: deps))
            }
            refs[s.identity] = "#\(g)_\(groups[g].stages.count)"
            groups[g].stages.append(s)
        }
        return groups
    }

    /// Submits everything that can go now; returns the new array job ids.
    func submitReady() throws -> [String] {
        let groups = plannedGroups()
        guard !groups.isEmpty else { return [] }
        var jobOf: [Int: String] = [:]
        var out: [String] = []
        for (gi, g) in groups.enumerated() {
            let deps = g.dependencies.map { d -> String in
                guard d.hasPrefix("#") else { return d }
                let p = d.dropFirst().split(separator: "_")
                return jobOf[Int(p[0])!]! + "_" + p[1]
            }
            var tasks: [SlurmArrayJob.Task] = []
            for s in g.stages {
                try prepareStage(s)
                // A stage resumed from a checkpoint keeps the thread count it started with (identical numbers).
                let hasCheckpoint = FileManager.default.fileExists(atPath: stageDir(s.identity) + "/checkpoint.h5")
                let threads = hasCheckpoint ? (threadsUsed[s.identity] ?? g.resources.cpusPerTask ?? 1) : (g.resources.cpusPerTask ?? 1)
                tasks.append(.init(identity: s.identity, name: s.displayName, threads: threads))
            }
            let job = SlurmArrayJob(sweep: sweepLabel, jobName: jobName(g), tasks: tasks, resources: g.resources, dependencies: deps,
                                    root: root, logDirectory: logDirectory, workerExecutable: options.workerExecutable,
                                    checkpointEvery: plan.spec.checkpointEvery, logEvery: plan.spec.logEvery)
            let problems = job.problems()
            guard problems.isEmpty else { throw PipelineError("cannot write a Slurm job for \(g.stages.map(\.displayName).joined(separator: ", ")):\n  " + problems.joined(separator: "\n  ")) }
            let scriptPath = uniquePath(logDirectory + "/" + job.jobName, ext: "sbatch")
            try atomicWrite(Data(job.render().utf8), to: scriptPath)
            let id = try client.submit(script: scriptPath)
            jobOf[gi] = id
            out.append(id)
            let now = Date().timeIntervalSince1970
            try db.write { db in
                for (i, t) in tasks.enumerated() {
                    try db.execute(sql: """
                        INSERT INTO slurm_tasks (job_id, task, stage, sweep_id, job_name, script, output, dependency, threads, submitted)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [id, i, t.identity, sweepID, job.jobName, scriptPath, job.outputPath(jobID: id, task: i),
                                         deps.isEmpty ? nil : "afterok:" + deps.joined(separator: ":"), t.threads, now])
                    try db.execute(sql: "UPDATE stages SET threads = ?, pid = NULL WHERE identity = ?", arguments: [t.threads, t.identity])
                    threadsUsed[t.identity] = t.threads
                }
            }
            for (i, s) in g.stages.enumerated() { inFlight[s.identity] = "\(id)_\(i)" }
            let names = g.stages.prefix(4).map(\.displayName).joined(separator: ", ") + (g.stages.count > 4 ? ", …" : "")
            display.event("⇢ job array \(id) (\(job.jobName)): \(g.stages.count) stage\(g.stages.count == 1 ? "" : "s") [\(names)]"
                          + (deps.isEmpty ? "" : " after \(deps.joined(separator: ", "))"))
        }
        return out
    }

    /// "rdd.<sweep>.<first stage>[+N]", with characters Slurm or file names would mind replaced.
    func jobName(_ g: Group) -> String {
        let first = g.stages[0].names[0]
        let raw = "rdd.\(plan.spec.name).\(first)" + (g.stages.count > 1 ? "+\(g.stages.count - 1)" : "")
        return String(raw.map { $0.isLetter || $0.isNumber || "._+@-".contains($0) ? $0 : "_" }.prefix(120))
    }

    func uniquePath(_ base: String, ext: String) -> String {
        var n = 1
        while FileManager.default.fileExists(atPath: "\(base)_\(n).\(ext)") { n += 1 }
        return "\(base)_\(n).\(ext)"
    }

    // MARK: display

    /// Progress rows of the plan's running stages, read from their stage directories.
    override func rows() -> [ProgressRow] {
        var runStarts: [String: Double] = [:]
        if let r = try? db.read({ try Row.fetchAll($0, sql: "SELECT stage, started FROM attempts WHERE outcome = 'running'") }) {
            for x in r { runStarts[x["stage"]] = x["started"] }
        }
        return plan.stages.compactMap { s in
            guard status[s.identity] == "running" else { return nil }
            let dir = stageDir(s.identity)
            var step: Int?, total = s.totalSteps
            var metrics: [(String, Double)] = []
            if let d = FileManager.default.contents(atPath: dir + "/" + StageFiles.progress), let p = try? JSONParser.parse(String(decoding: d, as: UTF8.self)).value {
                step = p["step"]?.intValue
                total = p["total"]?.intValue ?? total
                metrics = p["metrics"]?.objectPairs?.compactMap { k, v in
                    switch v { case .double(let x): return (k, x); case .int(let i): return (k, Double(i)); default: return nil }
                } ?? []
            }
            let started = runStarts[s.identity] ?? Date().timeIntervalSince1970
            return ProgressRow(name: s.displayName, shortID: s.shortID, step: step, total: total, rate: nil,
                               elapsed: Date().timeIntervalSince1970 - started, metrics: metrics, attempt: attempts[s.identity] ?? 1)
        }
    }
}

// MARK: - collect and cancel without a plan

extension SlurmExecutor {
    /// `rdd-sweep collect` (and `status` when no one else writes the root): one collection pass over
    /// every in-flight task of the root. Nil when another rdd-sweep holds the root's lock (it collects).
    public static func collect(root: String, retries: Int, runner: SlurmCommandRunner) throws -> SlurmCollectSummary? {
        let root = URL(fileURLWithPath: root).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: RunDatabase.path(root: root)) else {
            throw PipelineError("no run database at '\(RunDatabase.path(root: root))'")
        }
        guard let lock = FileLock.tryLock(root + "/.scheduler.lock") else { return nil }
        lock.writeOwner("\(getpid())\n")
        defer { withExtendedLifetime(lock) {} }
        let db = try RunDatabase(writerAt: RunDatabase.path(root: root))
        return try SlurmCollector(root: root, db: db, client: SlurmClient(runner: runner), retries: retries).collect()
    }

    /// Whether the root has Slurm tasks not yet collected as finished (read-only; false without a database).
    public static func hasInFlight(root: String) -> Bool {
        let path = RunDatabase.path(root: root)
        guard FileManager.default.fileExists(atPath: path), let db = try? RunDatabase(readerAt: path) else { return false }
        let n: Int? = try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") }
        return (n ?? 0) > 0
    }

    /// `rdd-sweep cancel`: collects first (so nothing finished is lost), then `scancel`s the in-flight
    /// arrays the sweep submitted and records their stages as never started (queued) or interrupted
    /// (stale: the next `run` resumes them from their checkpoints). Returns a report.
    public static func cancel(root: String, sweep ref: String?, runner: SlurmCommandRunner) throws -> String {
        let root = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let lock = FileLock.tryLock(root + "/.scheduler.lock") else {
            let owner = (try? String(contentsOfFile: root + "/.scheduler.lock", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            throw RootLockedError("another rdd-sweep (pid \(owner)) is writing '\(root)'; stop it first (Ctrl-C detaches an attached Slurm run without cancelling its jobs)")
        }
        defer { withExtendedLifetime(lock) {} }
        let db = try RunDatabase(writerAt: RunDatabase.path(root: root))
        let client = SlurmClient(runner: runner)
        let collector = SlurmCollector(root: root, db: db, client: client, retries: Int.max)
        try collector.collect()
        let sweep = try db.read { try Reports(root: root).resolveSweep($0, ref) }
        let rows = try db.read {
            try Row.fetchAll($0, sql: "SELECT job_id, task, stage, attempt FROM slurm_tasks WHERE finished IS NULL AND sweep_id = ? ORDER BY job_id, task", arguments: [sweep.id])
        }
        guard !rows.isEmpty else { return "sweep \(sweep.label): no Slurm jobs in flight\n" }
        let jobs = Array(Set(rows.map { $0["job_id"] as String })).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
        try client.cancel(jobs)
        let now = Date().timeIntervalSince1970
        var stale = 0, queued = 0
        try db.write { db in
            for r in rows {
                let stage: String = r["stage"]
                if let a: Int = r["attempt"] {
                    try db.execute(sql: "UPDATE attempts SET outcome = 'interrupted', finished = ? WHERE stage = ? AND attempt = ? AND outcome = 'running'", arguments: [now, stage, a])
                    try db.execute(sql: "UPDATE stages SET status = 'stale', pid = NULL WHERE identity = ?", arguments: [stage])
                    stale += 1
                } else {
                    try db.execute(sql: "UPDATE stages SET status = 'queued' WHERE identity = ? AND status IN ('queued', 'running')", arguments: [stage])
                    queued += 1
                }
                try db.execute(sql: "UPDATE slurm_tasks SET state = 'CANCELLED', reason = 'rdd-sweep cancel', finished = ? WHERE job_id = ? AND task = ?",
                               arguments: [now, r["job_id"] as String, r["task"] as Int])
                try collector.updateTrials(db, stage: stage)
            }
        }
        return "sweep \(sweep.label): cancelled job array\(jobs.count == 1 ? "" : "s") \(jobs.joined(separator: ", ")) — \(stale) running stage(s) stopped (they checkpoint on SIGTERM; `rdd-sweep run SPEC --executor slurm` resumes them), \(queued) pending stage(s) unsubmitted\n"
    }
}
