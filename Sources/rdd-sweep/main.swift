import Foundation
import ArgumentParser
import Dashboard
import Pipeline
import Report
import Sweep
import Tensor

/// `rdd-sweep`: run sweeps of trials as a content-addressed stage graph in worker processes,
/// tracked in a SQLite run database (docs/sweeps.md, docs/run-database.md).
@main
struct RDDSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-sweep",
        abstract: "Plan, run, resume and inspect sweeps of RDD trials (docs/sweeps.md).",
        discussion: "Exit status of every subcommand: " + SweepExitCode.allCases.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: "; ") + ".",
        subcommands: [Run.self, Verify.self, Plan.self, Status.self, Show.self, Retry.self, Collect.self, Cancel.self, List.self, Export.self, GC.self, Import.self,
                      Serve.self, Worker.self, MeasureOverhead.self])

    /// Runs the subcommand and maps every way it can end onto one exit-status table (`SweepExitCode`):
    /// argument-parser usage errors (its 64) and bad specs are 2, a locked root 3, other errors 4 —
    /// never 1, which means "the sweep ran and some trials failed". The hidden `worker` keeps its own
    /// statuses (`WorkerExit`), read by the scheduler.
    static func main() {
        let code: Int32
        do {
            var command = try parseAsRoot()
            try command.run()
            return
        } catch let e as ExitCode {
            code = e.rawValue
        } catch {
            let parser = exitCode(for: error)
            let message = fullMessage(for: error)
            if parser == .success { if !message.isEmpty { print(message) }; Foundation.exit(0) }
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            switch error {
            case is RootLockedError: code = SweepExitCode.rootLocked.rawValue
            case is SpecError, is ChangedSpecError, is ValidationError: code = SweepExitCode.invalidInput.rawValue
            default: code = parser == .validationFailure ? SweepExitCode.invalidInput.rawValue : SweepExitCode.failed.rawValue
            }
        }
        Foundation.exit(code)
    }
}

/// The running executable (workers are this binary's hidden `worker` subcommand).
func selfExecutable() -> String {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    return Bundle.main.executablePath ?? CommandLine.arguments[0]
}

/// Reads, validates and plans a spec: every trial's whole stage plan is built and checked here, before
/// anything runs. A bad spec throws `SpecError` (exit 2, `RDDSweep.main`).
func loadPlan(_ path: String, maxTrials: Int) throws -> SweepPlan {
    guard maxTrials >= 1 else { throw ValidationError("--max-trials must be ≥ 1, got \(maxTrials)") }
    return try SweepPlan.make(try SweepSpec.load(path: path), maxTrials: maxTrials)
}

/// Where stages run (`ExecutorKind`, Sources/Sweep/StageExecutor.swift).
extension ExecutorKind: ExpressibleByArgument {}
/// Which ready stage a local run launches first (`StageOrder`, Sources/Sweep/Scheduler.swift).
extension StageOrder: ExpressibleByArgument {}

struct CommonRunOptions: ParsableArguments {
    @Option(help: "Worker processes at once (each gets RDD_THREADS = --threads, else max(1, cores / jobs)).") var jobs = 1
    @Option(help: ArgumentHelp("Threads of each local worker (its RDD_THREADS). Default: the RDD_THREADS environment variable if set, else max(1, cores / jobs), cores being the CPUs this process may run on (taskset, cpusets).", valueName: "n")) var threads: Int?
    @Option(help: "Results root: runs.sqlite and stages/<identity>/ (shared by every sweep run under it).") var root = "results"
    @Option(help: "Automatic retries of a stage whose worker crashed or was killed.") var retries = 2
    @Option(help: "Kill and retry a worker whose heartbeat is older than this many seconds.") var heartbeatTimeout: Double = 120
    @Option(help: "Kill and retry a worker whose step has not advanced for this many seconds (\"stalled\"; 0: never).") var stallTimeout: Double = 3600
    @Option(help: "Progress display: auto (tty on a terminal, else plain), tty, plain, quiet.") var display: String = "auto"
    @Option(help: "Where stages run: local (worker processes here) or slurm (sbatch job arrays; docs/sweeps.md, \"Slurm\").") var executor = ExecutorKind.local
    @Option(help: "Refuse a spec that expands to more trials than this (counted before expanding).") var maxTrials = SweepSpec.defaultMaxTrials
    @Option(help: "Which ready stage the local executor launches first: plan (the spec's trial order) or seeds (seed by seed, so an interrupted run leaves whole replicates). Same numbers either way.") var order = StageOrder.plan
}

extension CommonRunOptions {
    /// `--threads`, else a valid RDD_THREADS from the environment (what a user exporting it expects), else nil.
    func workerThreads() throws -> Int? {
        if let t = threads {
            guard t >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(t)") }
            return t
        }
        guard let s = ProcessInfo.processInfo.environment["RDD_THREADS"] else { return nil }
        guard let t = Int(s), t >= 1 else { throw ValidationError("RDD_THREADS must be a whole number ≥ 1, got '\(s)'") }
        return t
    }
}

/// Options of the Slurm executor; resources override the spec's `execution.slurm` for every stage kind.
struct SlurmFlags: ParsableArguments {
    @Flag(help: "Slurm: return after submitting (the jobs run on; `status`, `collect` and `cancel` work later).") var detach = false
    @Option(help: "Slurm: --partition of every job.") var partition: String?
    @Option(help: "Slurm: --account of every job.") var account: String?
    @Option(help: "Slurm: --qos of every job.") var qos: String?
    @Option(help: "Slurm: --cpus-per-task (also the worker's RDD_THREADS).") var cpusPerTask: Int?
    @Option(help: "Slurm: --mem, e.g. 4G.") var mem: String?
    @Option(help: "Slurm: --time, e.g. 01:00:00.") var time: String?
    @Option(help: "Slurm: --signal for checkpoint-and-requeue before the time limit, e.g. B:USR1@120.") var signal: String?
    @Option(help: "Slurm: at most this many tasks of one job array run at once (--array=0-N%K).") var throttle: Int?
    @Option(help: "Slurm: a further sbatch option, \"--name=value\" (repeatable).") var sbatchOption: [String] = []
    @Option(help: "Slurm: seconds between two looks at the queue of an attached run.") var pollInterval: Double = 5

    var resources: SlurmResources {
        SlurmResources(partition: partition, account: account, qos: qos, cpusPerTask: cpusPerTask, mem: mem, time: time, signal: signal,
                       throttle: throttle, options: sbatchOption)
    }
}

func execute(_ plan: SweepPlan, _ o: CommonRunOptions, _ sf: SlurmFlags, retryFailed: Bool, new: Bool) throws {
    guard o.jobs >= 1 else { throw ValidationError("--jobs must be ≥ 1") }
    if o.executor == .slurm, o.threads != nil { throw ValidationError("--threads is for the local executor; Slurm workers use --cpus-per-task") }
    let slurmProblems = sf.resources.problems(prefix: "--")
    if o.executor == .slurm, !slurmProblems.isEmpty {
        throw ValidationError("invalid Slurm option\(slurmProblems.count == 1 ? "" : "s"):\n  " + slurmProblems.map {
            $0.replacingOccurrences(of: "--cpusPerTask", with: "--cpus-per-task").replacingOccurrences(of: "--options", with: "--sbatch-option")
        }.joined(separator: "\n  "))
    }
    if o.executor == .local, sf.detach || sf.resources != SlurmResources() {
        throw ValidationError("--detach and the Slurm resource options need --executor slurm")
    }
    guard let mode = DisplayMode(rawValue: o.display) else { throw ValidationError("--display must be one of \(DisplayMode.allCases.map(\.rawValue).joined(separator: ", "))") }
    var opts = RunOptions(root: o.root, workerExecutable: selfExecutable())
    opts.jobs = o.jobs
    opts.threads = try o.workerThreads()
    opts.retries = max(0, o.retries)
    opts.retryFailed = retryFailed
    opts.newRevision = new
    opts.heartbeatTimeout = o.heartbeatTimeout
    guard o.stallTimeout >= 0 else { throw ValidationError("--stall-timeout must be ≥ 0 (0 disables it), got \(o.stallTimeout)") }
    opts.stallTimeout = o.stallTimeout
    opts.display = mode
    opts.handleSignals = true
    opts.executor = o.executor
    if o.executor == .slurm, o.order != .plan { throw ValidationError("--order is for the local executor; Slurm orders the jobs it is given by their dependencies") }
    opts.order = o.order
    opts.slurm.flags = sf.resources
    opts.slurm.detach = sf.detach
    opts.slurm.pollInterval = max(0.2, sf.pollInterval)
    let summary = try Scheduler(plan: plan, options: opts).run()
    if summary.interrupted { throw ExitCode(SweepExitCode.interrupted.rawValue) }
    if sf.detach { return }
    if summary.trialsFailed > 0 { throw ExitCode(SweepExitCode.trialsFailed.rawValue) }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a sweep; rerunning the same spec continues it (done stages skipped, interrupted ones resumed).")
    @Argument(help: "Sweep spec (JSON; schemas/sweep-spec.schema.json).") var spec: String
    @OptionGroup var common: CommonRunOptions
    @OptionGroup var slurm: SlurmFlags
    @Flag(help: "Record a changed spec as a new revision of the sweep (stages shared with earlier revisions are reused).") var new = false
    @Flag(help: "Also requeue stages that failed in earlier runs (same as `retry --failed`).") var retryFailed = false

    func run() throws { try execute(try loadPlan(spec, maxTrials: common.maxTrials), common, slurm, retryFailed: retryFailed, new: new) }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rerun a sweep (or read it, when complete under --root) and compare every metric with a committed export, cell by cell.",
        discussion: "Prints both sides' provenance and, per cell (trial, evaluation, metric), \"identical\" or by how much it differs. Exit status: 0 when every cell is identical; 1 when any differs or is missing on either side; 2 for a bad spec or export, or an export without the spec's sweep (nothing run); 130 when interrupted. Run it under a fresh --root to rebuild from scratch (docs/sweeps.md, \"Verifying a committed result\").")
    @Argument(help: "Sweep spec (JSON) that made the committed result.") var spec: String
    @Option(help: ArgumentHelp("The committed run export to compare with (rdd-sweep export --format report), e.g. results/tiny/export.json.", valueName: "export")) var against: String
    @Option(help: ArgumentHelp("Compare this export (written by `rdd-sweep export --format report`, by any version, e.g. binaries of another commit) instead of running the spec under --root.", valueName: "export")) var rerunExport: String?
    @OptionGroup var common: CommonRunOptions

    func run() throws {
        let plan = try loadPlan(spec, maxTrials: common.maxTrials)
        // Check the export before any compute is spent.
        let committed: RunExport
        var given: RunExport?
        do {
            committed = try RunExport.load(path: against)
            given = try rerunExport.map { try RunExport.load(path: $0) }
        } catch {
            FileHandle.standardError.write(Data("rdd-sweep verify: \(error)\n".utf8)); throw ExitCode(2)
        }
        let name = plan.spec.name
        guard committed.sweeps.contains(where: { $0.name.split(separator: "@").first.map(String.init) == name }) else {
            let names = Sweep.Verification.sweepNames(committed)
            FileHandle.standardError.write(Data("rdd-sweep verify: --against \(against) holds no sweep '\(name)' (the spec's name); it holds: \(names.isEmpty ? "none" : names.joined(separator: ", "))\n".utf8))
            throw ExitCode(2)
        }
        let rerun: RunExport
        if let given { rerun = given } else {
            do { try execute(plan, common, try SlurmFlags.parse([]), retryFailed: false, new: false) } catch let e as ExitCode where e.rawValue == 1 {
                // Failed trials: their cells are reported missing below.
            }
            rerun = try Reports(root: common.root).runExport(sweep: name)
        }
        guard let v = Sweep.Verification(sweep: name, committed: committed, rerun: rerun) else {
            FileHandle.standardError.write(Data("rdd-sweep verify: \(rerunExport ?? common.root) holds no sweep '\(name)'\n".utf8))
            throw ExitCode(2)
        }
        print(v.text(committedPath: against, rerun: rerunExport.map { "in \($0)" } ?? "under --root \(common.root)"), terminator: "")
        if !v.allIdentical { throw ExitCode(1) }
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Requeue failed stages of a sweep and run it again.")
    @Flag(help: "Retry the stages that failed (required: says what is retried).") var failed = false
    @Argument(help: "Sweep spec; default: the spec stored in the database for --sweep.") var spec: String?
    @Option(help: "Sweep name (NAME or NAME@REVISION) when no SPEC is given.") var sweep: String?
    @OptionGroup var common: CommonRunOptions
    @OptionGroup var slurm: SlurmFlags

    func run() throws {
        guard failed else { throw ValidationError("say what to retry: `rdd-sweep retry --failed [SPEC]`") }
        let plan: SweepPlan
        if let spec { plan = try loadPlan(spec, maxTrials: common.maxTrials) } else {
            let (text, file) = try Reports(root: common.root).storedSpec(sweep: sweep)
            plan = try SweepPlan.make(try SweepSpec.parse(text, file: file), maxTrials: common.maxTrials)
        }
        try execute(plan, common, slurm, retryFailed: true, new: false)
    }
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Dry run: validate a spec, print its trials, the stages they share and which are done.")
    @Argument(help: "Sweep spec.") var spec: String
    @Option(help: "Results root to check for done stages.") var root = "results"
    @Flag(help: "Omit the per-stage table.") var noStages = false
    @Option(help: "Refuse a spec that expands to more trials than this (counted before expanding).") var maxTrials = SweepSpec.defaultMaxTrials

    func run() throws { print(try Reports(root: root).plan(try loadPlan(spec, maxTrials: maxTrials), showStages: !noStages), terminator: "") }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counts, ETA and per-stage progress of a sweep (works while it runs, or after).")
    @Argument(help: "A sweep spec (its name selects the sweep).") var spec: String?
    @Option(help: "Sweep name (NAME or NAME@REVISION).") var sweep: String?
    @Option(help: "Results root.") var root = "results"
    @Flag(help: "List every stage, not only those not done.") var all = false

    func run() throws {
        var ref = sweep
        if ref == nil, let spec { ref = try SweepSpec.load(path: spec).name }
        // Slurm jobs in flight: ask Slurm first (unless another rdd-sweep is writing the root; it does).
        if SlurmExecutor.hasInFlight(root: root), let c = try SlurmExecutor.collect(root: root, retries: retries, runner: ProcessSlurmRunner()) {
            for e in c.events { print(e) }
        }
        print(try Reports(root: root).status(sweep: ref, all: all), terminator: "")
    }
    @Option(help: "Slurm: automatic retries of a crashed stage when collecting (as `run --retries`).") var retries = 2
}

struct Collect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Slurm: ask Slurm (squeue, scontrol) about every submitted job of the root and record what finished, failed or was requeued.",
        discussion: "Completed stages are ingested into the run database; failed runs are recorded with exit status, Slurm state and reason. Stages to retry are queued; `rdd-sweep run SPEC --executor slurm` resubmits them.")
    @Option(help: "Results root.") var root = "results"
    @Option(help: "Automatic retries of a crashed stage (a stage that threw is never retried automatically).") var retries = 2

    func run() throws {
        guard let c = try SlurmExecutor.collect(root: root, retries: max(0, retries), runner: ProcessSlurmRunner()) else {
            print("another rdd-sweep is writing \(root) (an attached Slurm run collects by itself); nothing done")
            return
        }
        for e in c.events { print(e) }
        print("collected: \(c.completed) completed, \(c.failedAttempts) failed attempt\(c.failedAttempts == 1 ? "" : "s"), \(c.interrupted) interrupted or requeued, \(c.neverStarted) not started; in flight: \(c.running) running, \(c.pending) pending")
    }
}

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Slurm: cancel the sweep's jobs (scancel); running stages keep their checkpoints and resume on the next run.")
    @Argument(help: "A sweep spec (its name selects the sweep).") var spec: String?
    @Option(help: "Sweep name (NAME or NAME@REVISION).") var sweep: String?
    @Option(help: "Results root.") var root = "results"

    func run() throws {
        var ref = sweep
        if ref == nil, let spec { ref = try SweepSpec.load(path: spec).name }
        print(try SlurmExecutor.cancel(root: root, sweep: ref, runner: ProcessSlurmRunner()), terminator: "")
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One trial: axes, configuration changes, stages, evaluations, failed attempts.")
    @Argument(help: "NAME/INDEX, NAME@REV/INDEX, or INDEX with --sweep (or when the database holds one sweep).") var trial: String
    @Option(help: "Sweep name.") var sweep: String?
    @Option(help: "Results root.") var root = "results"
    @Flag(help: "Print the resolved configuration.") var config = false

    func run() throws { print(try Reports(root: root).show(trial: trial, sweep: sweep, config: config), terminator: "") }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sweeps in the run database.")
    @Option(help: "Results root.") var root = "results"
    func run() throws { print(try Reports(root: root).list(), terminator: "") }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Trials × metrics: one row per trial with its axis values and every evaluation metric.")
    @Argument(help: "A sweep spec (its name selects the sweep).") var spec: String?
    @Option(help: "Sweep name (NAME or NAME@REVISION).") var sweep: String?
    @Option(help: "Results root.") var root = "results"
    @Option(help: "csv, json (trials × metrics) or report (the full RunExport that rdd-report reads).") var format = "csv"
    @Option(help: "Write to this file instead of stdout (atomically: a reader never sees half a file).") var output: String?
    @Option(help: "With --format report: only the sweeps of this preset (tiny, small, paper).") var preset: String?

    func run() throws {
        guard let f = Reports.ExportFormat(rawValue: format) else { throw ValidationError("--format must be csv, json or report, not '\(format)'") }
        var ref = sweep
        if ref == nil, let spec { ref = try SweepSpec.load(path: spec).name }
        let reports = Reports(root: root)
        guard let output else {
            try reports.writeExport(sweep: ref, format: f, preset: preset) { fwrite($0.baseAddress, 1, $0.count, stdout) }
            return
        }
        // Written to a temporary file beside the output, then renamed over it: a reader never sees half a file.
        let tmp = output + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let file = FileHandle(forWritingAtPath: tmp) else {
            throw ValidationError("--output \(output): cannot create '\(tmp)' in its directory")
        }
        do {
            try reports.writeExport(sweep: ref, format: f, preset: preset) { try file.write(contentsOf: Data($0)) }
            try file.close()
            guard rename(tmp, output) == 0 else { throw ValidationError("--output \(output): cannot rename '\(tmp)' to it: \(String(cString: strerror(errno)))") }
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Remove stage directories that no trial in the database needs.")
    @Option(help: "Results root.") var root = "results"
    @Flag(help: "Only say what would be removed.") var dryRun = false
    @Flag(help: "First forget superseded revisions of every sweep.") var dropOldRevisions = false
    func run() throws { print(try Reports(root: root).gc(dryRun: dryRun, dropOldRevisions: dropOldRevisions), terminator: "") }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the completed stages of another results root into this one (the next `run` adopts them as cached).",
        discussion: "For a sweep split across machines without Slurm, or a second root run beside this one on an idle core: run the same specs there, then import. Stage directories are named by their identity (code version, parameters, everything upstream), so only the same computation is adopted. Needs no scheduler running on --root.")
    @Option(help: "The other results root (its stages/ directory).") var from: String
    @Option(help: "Results root to import into.") var root = "results"
    @Flag(help: "Hard-link the files instead of copying them (same file system).") var link = false
    @Flag(help: "Only say what would be imported.") var dryRun = false
    func run() throws {
        let s = try StageImport.run(from: from, into: root, link: link, dryRun: dryRun)
        print(s.text(dryRun: dryRun))
        if !dryRun, !s.imported.isEmpty { print("`rdd-sweep run SPEC --root \(root)` records them as cached and runs only what is still missing.") }
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A read-only web dashboard of a results root: sweeps, live progress, trials, curves, reports, JSON API (docs/dashboard.md).",
        discussion: "Binds 127.0.0.1 (this machine only) unless --host names another address. Reads the run database read-only while sweeps run; never writes. Stop with Ctrl-C.")
    @Option(help: "Results root (its runs.sqlite and stages/).") var root = "results"
    @Option(help: "Port to listen on; 0 lets the system choose one (the address is printed).") var port = 8080
    @Option(help: "Address to bind: 127.0.0.1 (default), ::1, or another address of this machine — anything else exposes the dashboard beyond it.") var host = "127.0.0.1"

    func run() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        if !["127.0.0.1", "::1"].contains(host) {
            FileHandle.standardError.write(Data("warning: --host \(host) is not a loopback address: anyone who can reach this machine on port \(port) can read the dashboard (it has no login)\n".utf8))
        }
        let server = try DashboardServer(root: root, host: host, port: UInt16(port))
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let started = DispatchSemaphore(value: 0)
        Task {
            do {
                let url = try await server.start()
                print("rdd-sweep serve: \(server.dashboard.root) at \(url) (read-only; Ctrl-C stops)")
                fflush(stdout)
            } catch { outcome.error = error }
            started.signal()
        }
        started.wait()
        if let e = outcome.error { throw e }   // e.g. the port is taken: exit 4 (`SweepExitCode.failed`)
        while true { sleep(3600) }   // serves until interrupted
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one stage request (started by the scheduler).", shouldDisplay: false)
    @Argument var request: String
    @Option var checkpointEvery = 100
    @Option var logEvery = 10
    @Flag(help: "Started by a Slurm job: checkpoint and stop (requeueing the job) on USR1/USR2/INT/TERM.") var slurm = false
    func run() throws {
        let code = runWorker(requestPath: request, checkpointEvery: checkpointEvery, logEvery: logEvery, slurm: slurm)
        if code != 0 { throw ExitCode(code) }
    }
}

struct MeasureOverhead: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "measure-overhead",
                                                    abstract: "Time one stage run in this process and through the scheduler (docs/sweeps.md).", shouldDisplay: false)
    @Option(help: "Teacher steps of the measured stage.") var steps = 20
    @Option(help: "Repetitions.") var repeats = 3
    @Option(help: "Scratch directory.") var dir = NSTemporaryDirectory() + "rdd-sweep-overhead"
    func run() throws {
        print(try measureSchedulerOverhead(teacherSteps: steps, repeats: repeats, scratch: dir, workerExecutable: selfExecutable()))
    }
}
