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

    public init(runner: SlurmCommandRunner = ProcessSlurmRunner()) { self.runner = runner }
}

/// The Slurm executor: the stage graph goes to Slurm job arrays instead of local processes.
///
/// Every stage that can be submitted now (queued; each input done or itself in a job) is submitted
/// in one pass. Stages with the same resources (their kind's) and the same unfinished inputs form one
/// job array (`--array=0-N%K`), whose task i runs stage i; arrays wait for exactly the array tasks
/// their inputs run in (`--dependency=afterok:12_0:13_2`, with `--kill-on-invalid-dep=yes` so a job
/// whose input failed is cancelled instead of pending forever). Grouping by input set keeps a failure
/// local: only the stages that need a failed stage's output are cancelled, and they are queued again.
/// Workers on the nodes write their stage directories as local workers do; the database is written
/// only by this process, holding `<root>/.scheduler.lock`: polling is a `SlurmCollector` pass, which
/// records through the run's `RunLedger`. Ctrl-C detaches (the jobs run on); `rdd-sweep cancel` cancels.
public final class SlurmExecutor: StageExecutor {
    unowned let run: Scheduler
    let slurmOptions: SlurmRunOptions
    let client: SlurmClient
    var collector: SlurmCollector!
    /// The job arrays this run submitted.
    var submittedJobs: [String] = []
    /// `start` has just collected: the first poll has nothing new to ask.
    var collectedAtStart = false

    init(_ run: Scheduler, options: SlurmRunOptions) {
        self.run = run
        slurmOptions = options
        client = SlurmClient(runner: options.runner)
    }

    var plan: SweepPlan { run.plan }
    /// Where scripts and Slurm's output files go: `<root>/slurm/<sweep name>/`.
    var logDirectory: String { run.root + "/slurm/" + plan.spec.name }
    var follows: Bool { !slurmOptions.detach }
    var tick: Double { slurmOptions.pollInterval }
    var isIdle: Bool { get throws { try inFlightOfPlan().isEmpty } }

    // MARK: the executor's steps

    /// What finished since the last look, before the loop decides what to submit.
    func start() throws {
        collector = SlurmCollector(ledger: run.ledger, client: client, retries: run.options.retries)
        report(try collector.collect())
        collectedAtStart = true
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    func startEvents(reused: Int) -> [String] {
        ["sweep \(run.sweepLabel): \(plan.trials.count) trials, \(plan.stages.count) stages (\(reused) done already, \(run.inFlight.count) in Slurm jobs) — Slurm executor, root \(run.root)"]
    }

    /// One collection pass; a controller that does not answer once (restart, overload) is not the end of the sweep.
    func poll() throws {
        if collectedAtStart { collectedAtStart = false; return }
        do { report(try collector.collect()) } catch {
            run.display.event("warning: \(error); asking again in \(Int(slurmOptions.pollInterval.rounded(.up))) s")
            return
        }
        try refreshStatus()
    }

    /// The jobs run on without this process: nothing to stop.
    func cancel() throws {}

    func collect(into summary: inout RunSummary) throws {
        try refreshStatus()
        summary.stagesRun = try run.ledger.stagesRun(by: run.sweepID)
        summary.submittedJobs = submittedJobs
        summary.bookkeepingSeconds = 0
    }

    func endEvents(_ summary: RunSummary) -> [String] {
        let spec = plan.spec.file
        let n = (try? inFlightOfPlan().count) ?? 0
        if slurmOptions.detach && n == 0 && !summary.interrupted {
            let blocked = plan.stages.filter { run.status[$0.identity] == .failed }.count
            return ["nothing to submit: \(summary.trialsCompleted)/\(summary.trials) trials completed"
                    + (blocked > 0 ? "; \(blocked) failed stage(s) block the rest (`rdd-sweep retry --failed \(spec) --executor slurm`)" : "")]
        } else if slurmOptions.detach || summary.interrupted {
            return ["\(summary.interrupted ? "detached" : "submitted"): \(n) stage(s) in Slurm jobs\(submittedJobs.isEmpty ? "" : " (job arrays \(submittedJobs.joined(separator: ", ")))"); they run on without this process. "
                    + "`rdd-sweep status \(spec)` shows progress (and collects), `rdd-sweep collect --root \(run.options.root)` records results, "
                    + "`rdd-sweep run \(spec) --executor slurm` resubmits what is left, `rdd-sweep cancel \(spec)` cancels the jobs"]
        }
        return [String(format: "sweep %@: %d/%d trials completed, %d failed; %d stages run by this sweep, %d reused; %.1f s",
                       summary.sweep, summary.trialsCompleted, summary.trials, summary.trialsFailed, summary.stagesRun, summary.stagesReused, summary.seconds)]
    }

    func report(_ s: SlurmCollectSummary) {
        for e in s.events {
            run.display.event(e)
            if e.hasPrefix("✗"), !e.contains("will be resubmitted") { run.failureMessages.append(e) }
        }
        run.failedAttempts += s.failedAttempts
    }

    /// This plan's stages with a task in flight.
    func inFlightOfPlan() throws -> [String: String] {
        run.inFlight = try run.ledger.slurmInFlight()
        return run.inFlight.filter { run.stageByID[$0.key] != nil }
    }

    /// Reloads the plan's stage states from the database (the collector changed them).
    func refreshStatus() throws {
        for r in try run.ledger.stageStates() where run.stageByID[r.identity] != nil {
            run.status[r.identity] = r.status
            run.threadsUsed[r.identity] = r.threads
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
        var refs = run.inFlight
        var groups: [Group] = []
        var index: [String: Int] = [:]
        for s in plan.stages where run.status[s.identity] == .queued && run.inFlight[s.identity] == nil {
            var deps: [String] = []
            var ready = true
            for src in s.inputs.values.sorted() where !run.isDone(src) {
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

    /// Submits everything that can go now.
    func submit() throws {
        let groups = plannedGroups()
        guard !groups.isEmpty else { return }
        var jobOf: [Int: String] = [:]
        for (gi, g) in groups.enumerated() {
            let deps = g.dependencies.map { d -> String in
                guard d.hasPrefix("#") else { return d }
                let p = d.dropFirst().split(separator: "_")
                return jobOf[Int(p[0])!]! + "_" + p[1]
            }
            var tasks: [SlurmArrayJob.Task] = []
            for s in g.stages {
                try run.prepareStage(s)
                // A stage resumed from a checkpoint keeps the thread count it started with (identical numbers).
                let hasCheckpoint = FileManager.default.fileExists(atPath: run.stageDir(s.identity) + "/checkpoint.h5")
                let threads = hasCheckpoint ? (run.threadsUsed[s.identity] ?? g.resources.cpusPerTask ?? 1) : (g.resources.cpusPerTask ?? 1)
                tasks.append(.init(identity: s.identity, name: s.displayName, threads: threads))
            }
            let job = SlurmArrayJob(sweep: run.sweepLabel, jobName: jobName(g), tasks: tasks, resources: g.resources, dependencies: deps,
                                    root: run.root, logDirectory: logDirectory, workerExecutable: run.options.workerExecutable,
                                    checkpointEvery: plan.spec.checkpointEvery, logEvery: plan.spec.logEvery)
            let problems = job.problems()
            guard problems.isEmpty else { throw PipelineError("cannot write a Slurm job for \(g.stages.map(\.displayName).joined(separator: ", ")):\n  " + problems.joined(separator: "\n  ")) }
            let scriptPath = uniquePath(logDirectory + "/" + job.jobName, ext: "sbatch")
            try atomicWrite(Data(job.render().utf8), to: scriptPath)
            let id = try client.submit(script: scriptPath)
            jobOf[gi] = id
            submittedJobs.append(id)
            try run.ledger.write { db in
                for (i, t) in tasks.enumerated() {
                    try run.ledger.recordSubmission(db, job: id, task: i, stage: t.identity, jobName: job.jobName, script: scriptPath,
                                                    output: job.outputPath(jobID: id, task: i),
                                                    dependency: deps.isEmpty ? nil : "afterok:" + deps.joined(separator: ":"), threads: t.threads)
                    run.threadsUsed[t.identity] = t.threads
                }
            }
            for (i, s) in g.stages.enumerated() { run.inFlight[s.identity] = "\(id)_\(i)" }
            let names = g.stages.prefix(4).map(\.displayName).joined(separator: ", ") + (g.stages.count > 4 ? ", …" : "")
            run.display.event("⇢ job array \(id) (\(job.jobName)): \(g.stages.count) stage\(g.stages.count == 1 ? "" : "s") [\(names)]"
                          + (deps.isEmpty ? "" : " after \(deps.joined(separator: ", "))"))
        }
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
    func rows() -> [ProgressRow] {
        let runStarts = run.ledger.runningAttemptStarts()
        return plan.stages.compactMap { s in
            guard run.status[s.identity] == .running else { return nil }
            let p = StageProgress.read(run.stageDir(s.identity))
            let started = runStarts[s.identity] ?? Date().timeIntervalSince1970
            return ProgressRow(name: s.displayName, shortID: s.shortID, step: p?.step, total: p?.total ?? s.totalSteps, rate: nil,
                               elapsed: Date().timeIntervalSince1970 - started, metrics: p?.metrics ?? [], attempt: run.attempts[s.identity] ?? 1)
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
        return try SlurmCollector(ledger: try RunLedger(writerAt: root), client: SlurmClient(runner: runner), retries: retries).collect()
    }

    /// Whether the root has Slurm tasks not yet collected as finished (read-only; false without a database).
    public static func hasInFlight(root: String) -> Bool { RunLedger.hasSlurmInFlight(root: root) }

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
        let ledger = try RunLedger(writerAt: root)
        let client = SlurmClient(runner: runner)
        try SlurmCollector(ledger: ledger, client: client, retries: Int.max).collect()
        let sweep = try ledger.read { try Reports(root: root).resolveSweep($0, ref) }
        let tasks = try ledger.slurmTasksInFlight(sweep: sweep.id)
        guard !tasks.isEmpty else { return "sweep \(sweep.label): no Slurm jobs in flight\n" }
        let jobs = Array(Set(tasks.map(\.job))).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
        try client.cancel(jobs)
        var stale = 0, queued = 0
        try ledger.write { db in
            for t in tasks {
                if let a = t.attempt {
                    try ledger.recordCancelled(db, t.stage, attempt: a)
                    stale += 1
                } else {
                    try ledger.requeueUnstarted(db, t.stage)
                    queued += 1
                }
                try ledger.finishSlurmTask(db, t, state: "CANCELLED", reason: "rdd-sweep cancel")
                try ledger.updateTrials(db, stage: t.stage)
            }
        }
        return "sweep \(sweep.label): cancelled job array\(jobs.count == 1 ? "" : "s") \(jobs.joined(separator: ", ")) — \(stale) running stage(s) stopped (they checkpoint on SIGTERM; `rdd-sweep run SPEC --executor slurm` resumes them), \(queued) pending stage(s) unsubmitted\n"
    }
}
