import Foundation
import GRDB
import Checkpoint
import Pipeline
import Report
#if canImport(Glibc)
import Glibc
import RunModel
#endif

/// The harness at scale (docs/benchmarks.md, "Harness at scale"): what `plan`, the scheduler's own
/// bookkeeping, `status`, `show`, `export` and the report layer cost as a sweep grows, measured on
/// synthetic sweeps without training. The scheduler runs for real (`Scheduler.run`, its database,
/// its files) with in-process stand-in workers that write what a worker writes — `journal.jsonl`,
/// `result.json`, `done.json` — so the run database is filled by the scheduler's own ingestion.
public enum HarnessBench {
    /// Journal steps each stand-in training stage logs; a distillation stage logs `distillSeries` names
    /// per step, so 10,000 trials give ≈ 1,000,000 metric rows (the size the run database must handle).
    public static let journalSteps = 8
    static let distillSeries = ["cfd", "is_p2p", "m_p2p", "total", "grad_norm", "lr", "seconds_per_step", "diag/cfd/share",
                                "diag/cfd/value", "diag/is_p2p/share", "diag/is_p2p/value", "diag/m_p2p/share"]

    /// A `tiny` grid τ_IS × α × 10 seeds (RDD, 8 → 4, the 4-step student evaluated) of `trials`
    /// trials rounded up to a multiple of 100: 10 α values, 10 seeds and ⌈trials / 100⌉ τ_IS values.
    public static func gridSpec(name: String, trials: Int) -> String {
        let taus = (0..<max(1, (trials + 99) / 100)).map { "\(Double(500 + $0) / 1000)" }
        let alphas = (0..<10).map { "\(Double(5 + $0) / 10)" }
        return """
            {"name": "\(name)", "preset": "tiny",
             "base": {"distill": {"method": "rdd", "to": 4}, "evaluation": {"studentSteps": [4]}},
             "grid": {"distill.tauIS": [\(taus.joined(separator: ", "))], "distill.alpha": [\(alphas.joined(separator: ", "))]},
             "seeds": [\((0..<10).map(String.init).joined(separator: ", "))]}
            """
    }

    /// What is timed.
    public enum Operation: String, CaseIterable {
        /// `rdd-sweep plan SPEC --no-stages`: parse, expand, build the stage graph, render; and of that, the
        /// rendering alone (where a scan per trial–stage link once made it quadratic).
        case plan = "plan --no-stages", planRender = "plan: rendering only"
        /// Scheduler start-up on an empty root (open, register, reconcile).
        case startupFresh = "scheduler start-up, empty root"
        /// Scheduler start-up on a root whose every stage is complete on disk but not in the database: reconciliation
        /// ingests them all (`measureAdopted`, the way to a database of 10,000 trials without the hour-long stand-in run).
        case startupAdopt = "scheduler start-up adopting every stage"
        /// `rdd-sweep run` again on the finished root: start-up, nothing to run.
        case startupRestart = "scheduler restart, all done"
        /// The scheduler's own time per completed stage (launch, sampling, ingestion, trial updates, ticks),
        /// without the stand-in workers' time.
        case perStage = "scheduler bookkeeping per stage"
        case status, show = "show (one trial)", exportCSV = "export csv", exportJSON = "export json", exportReport = "export report"
        /// Fig. 7 and Fig. 9 (the τ_IS and α figures) from the report export.
        case report = "reports fig7 + fig9"
    }

    /// Wall and CPU seconds (the process's CPU time: on a shared machine it varies far less than wall time).
    public struct Time { public var wall = 0.0, cpu = 0.0 }

    /// One size's measurements.
    public struct Measurement {
        public var trials = 0, stages = 0, links = 0, metricRows = 0
        public var times: [Operation: Time] = [:]
        /// Peak resident memory of this process after planning (KiB; sizes are planned in ascending order).
        public var planPeakKiB = 0
        /// The stand-in workers' total wall time.
        public var workerSeconds = 0.0
        public var databaseBytes = 0
        public var hasDatabase: Bool { times[.status] != nil }
    }

    static func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    static func wallNow() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Best of `repeats` wall and CPU times of `body` (a shared machine: the minimum is the least disturbed run).
    static func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Time {
        var t = Time(wall: .infinity, cpu: .infinity)
        for _ in 0..<max(1, repeats) {
            let w0 = wallNow(), c0 = cpuNow()
            try body()
            t.cpu = min(t.cpu, cpuNow() - c0)
            t.wall = min(t.wall, wallNow() - w0)
        }
        return t
    }

    /// Times `plan` of a `trials`-trial grid (library calls, so no grid-size limit of the CLI applies).
    public static func measurePlan(trials: Int, scratch: String, repeats: Int = 1) throws -> Measurement {
        var m = Measurement()
        let text = gridSpec(name: "scale\(trials)", trials: trials)
        let root = scratch + "/plan-root"
        var out = "", made: SweepPlan?
        m.times[.plan] = try best(repeats) {
            let plan = try SweepPlan.make(try SweepSpec.parse(text, file: "(harness \(trials))"), maxTrials: .max)
            out = try Reports(root: root).plan(plan, showStages: false)
            m.trials = plan.trials.count; m.stages = plan.stages.count; m.links = plan.links.values.map(\.count).reduce(0, +)
            made = plan
        }
        guard out.contains("\(m.trials) trials"), let plan = made else { throw PipelineError("harness plan of \(trials) trials printed no trial count") }
        m.times[.planRender] = try best(repeats) { _ = try Reports(root: root).plan(plan, showStages: false) }
        m.planPeakKiB = Proc.peakRSSKiB(getpid()) ?? 0
        return m
    }

    /// Runs a `trials`-trial grid through the scheduler with stand-in workers into a fresh root under
    /// `scratch`, then times the read-side commands on the database it wrote. `m` carries `plan`'s numbers.
    public static func measureRun(trials: Int, scratch: String, repeats: Int = 1, into m: inout Measurement) throws {
        let root = scratch + "/root-\(trials)"
        try? FileManager.default.removeItem(atPath: root)
        let spec = try SweepSpec.parse(gridSpec(name: "scale\(trials)", trials: trials), file: "scale\(trials).json")
        let plan = try SweepPlan.make(spec, maxTrials: .max)
        var o = RunOptions(root: root, workerExecutable: "/nonexistent/stand-in-worker")
        o.display = .quiet
        o.jobs = 2
        o.threads = 1
        o.pollInterval = 0
        let stand = StandInWorkers()
        // Start-up alone, as `run` does it before its first launch: open (create, migrate), register, reconcile.
        let startup = try best(1) {
            try FileManager.default.createDirectory(atPath: root + "/stages", withIntermediateDirectories: true)
            let s = Scheduler(plan: plan, options: o)
            s.db = try RunDatabase(writerAt: RunDatabase.path(root: root))
            s.display = ProgressDisplay(mode: .quiet)
            try s.register()
            try s.reconcile()
        }
        m.times[.startupFresh] = startup
        let run = Scheduler(plan: plan, options: o)
        stand.install(in: run)
        var summary: RunSummary!
        let whole = try best(1) { summary = try run.run() }
        guard summary.trialsCompleted == plan.trials.count, summary.stagesRun == plan.stages.count else {
            throw PipelineError("harness run of \(trials) trials: \(summary.trialsCompleted)/\(plan.trials.count) trials, \(summary.stagesRun)/\(plan.stages.count) stages completed: \(summary.failures.prefix(3))")
        }
        m.workerSeconds = stand.time.wall
        let n = Double(plan.stages.count)
        m.times[.perStage] = Time(wall: (summary.bookkeepingSeconds - summary.startupSeconds - stand.time.wall) / n,
                                  cpu: (whole.cpu - startup.cpu - stand.time.cpu) / n)
        m.times[.startupRestart] = try best(repeats) {
            let again = Scheduler(plan: plan, options: o)
            stand.install(in: again)
            let s = try again.run()
            guard s.stagesRun == 0, s.trialsCompleted == plan.trials.count else { throw PipelineError("harness restart ran stages again") }
        }
        try measureReads(root: root, plan: plan, repeats: repeats, into: &m)
    }

    /// Builds the database of a `trials`-trial grid without the scheduling loop: each stage's directory gets the files
    /// a stand-in worker writes, then the scheduler's start-up (register, reconcile) finds every stage complete on disk
    /// and ingests it, as a restart after a crash does. The same rows as `measureRun`'s database but for the stages'
    /// status (`cached`: no attempt recorded) and attempts, in minutes where the stand-in run of 10,000 trials takes
    /// over an hour on the shared machine; then the read-side commands are timed on it.
    public static func measureAdopted(trials: Int, scratch: String, repeats: Int = 1, into m: inout Measurement) throws {
        let root = scratch + "/root-\(trials)"
        try? FileManager.default.removeItem(atPath: root)
        let plan = try SweepPlan.make(try SweepSpec.parse(gridSpec(name: "scale\(trials)", trials: trials), file: "scale\(trials).json"), maxTrials: .max)
        let stand = StandInWorkers()
        for s in plan.stages {
            let dir = root + "/stages/" + s.identity
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try stand.write(kind: s.kind, config: s.config, directory: dir)
        }
        var o = RunOptions(root: root, workerExecutable: "/nonexistent/stand-in-worker")
        o.display = .quiet
        m.times[.startupAdopt] = try best(1) {
            let s = Scheduler(plan: plan, options: o)
            s.db = try RunDatabase(writerAt: RunDatabase.path(root: root))
            s.display = ProgressDisplay(mode: .quiet)
            try s.register()
            try s.reconcile()
            guard plan.stages.allSatisfy({ s.status[$0.identity]?.isDone ?? false }) else { throw PipelineError("harness: reconciliation left stages of \(trials) trials undone") }
        }
        try measureReads(root: root, plan: plan, repeats: repeats, into: &m)
    }

    /// Times `status`, `show`, `export` (csv, json, report) and Figs. 7 and 9 on the database under `root`.
    static func measureReads(root: String, plan: SweepPlan, repeats: Int, into m: inout Measurement) throws {
        let reports = Reports(root: root)
        m.metricRows = try reports.openReader().read { try RunLedger.metricRowCount($0) }
        m.databaseBytes = Proc.fileSize(RunDatabase.path(root: root)) ?? 0
        m.times[.status] = try best(repeats) { _ = try reports.status(sweep: nil) }
        m.times[.show] = try best(repeats) { _ = try reports.show(trial: "\(plan.trials.count / 2)", sweep: nil) }
        // As `rdd-sweep export` writes them (`writeExport`), into a sink that only counts the bytes.
        for (op, format) in [(Operation.exportCSV, Reports.ExportFormat.csv), (.exportJSON, .json), (.exportReport, .report)] {
            m.times[op] = try best(repeats) {
                var bytes = 0
                try reports.writeExport(sweep: nil, format: format) { bytes += $0.count }
                guard bytes > 0 else { throw PipelineError("harness: export \(format.rawValue) wrote nothing") }
            }
        }
        let export = try reports.runExport()
        m.times[.report] = try best(repeats) {
            let data = ReportData(export)
            for kind in [ReportKind.fig7, .fig9] {
                let md = try produceReport(kind, data, request: ReportRequest(kind: kind), links: LinkStyle(stem: kind.rawValue)).markdown
                guard md.contains("α") || md.contains("τ") else { throw PipelineError("harness \(kind.rawValue) report is empty") }
            }
        }
    }

    /// What `measureMetricIngestion` measured (seconds, bytes).
    public struct Ingestion {
        public var rows = 0, commits = 0
        public var total = 0.0, median = 0.0, p99 = 0.0, max = 0.0
        /// Commits slower than 10× the median: those in which SQLite's automatic checkpoint ran (or the CPU was taken).
        public var slowCommits = 0
        /// The concurrent reader: queries completed, their median and largest latency.
        public var reads = 0, readMedian = 0.0, readMax = 0.0
        /// Largest size of the WAL file seen after a commit (and its bounding checkpoint, `RunDatabase.boundWAL`).
        public var walMaxBytes = 0
        /// Truncating checkpoints `RunDatabase.boundWAL` completed.
        public var walTruncations = 0
        /// `atomicWrite` of a 2 KB file (write, fsync, rename), median and 99th percentile: each launch does two
        /// (`request.json`, `stage.json`).
        public var fsyncMedian = 0.0, fsyncP99 = 0.0
    }

    /// The scheduler's metric ingestion at scale: `rows` journal rows written into a fresh run database with the
    /// scheduler's connection (WAL, synchronous = NORMAL, SQLite's automatic checkpoint every 1000 pages), one
    /// transaction per completed distillation stage as `ingestCompleted` writes it (a stage row and its `batch`
    /// rows: 8 steps × 12 series), while a second connection runs `status`' ETA query (the `metrics_name` index,
    /// over every `seconds_per_step` row) in a loop, as a `status` refresh or the dashboard does. A reader's
    /// snapshot keeps a checkpoint from resetting the WAL, so this is where the WAL grows and a checkpoint stalls.
    /// `walLimitBytes` is the writer's `RunDatabase.walLimitBytes` (`Int.max`: never truncated, as before it existed).
    /// `fileWrites`: how many per-launch file writes to time after the ingestion (0 skips them).
    public static func measureMetricIngestion(rows: Int, batch: Int = 96, scratch: String, reader: Bool = true,
                                              walLimitBytes: Int = RunDatabase.defaultWALLimitBytes, fileWrites: Int = 200) throws -> Ingestion {
        let path = scratch + "/ingest.sqlite"
        for f in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
        let db = try RunDatabase(writerAt: path)
        db.walLimitBytes = walLimitBytes
        var r = Ingestion()
        let shared = ReaderShared()
        let finished = DispatchSemaphore(value: 0)
        if reader {
            let thread = Thread {
                defer { finished.signal() }
                do {
                    let rdb = try RunDatabase(readerAt: path)
                    while !shared.lock.withLock({ shared.stop }) {
                        let t0 = wallNow()
                        _ = try rdb.read { try Double.fetchOne($0, sql: "SELECT AVG(m.value) FROM metrics m JOIN stages s ON s.identity = m.stage WHERE s.kind = 'distill' AND m.name = 'seconds_per_step'") }
                        let dt = wallNow() - t0
                        shared.lock.withLock { shared.readTimes.append(dt) }
                    }
                } catch { shared.lock.withLock { shared.readError = error } }
            }
            thread.start()
        }
        var times: [Double] = []
        let t0 = wallNow()
        var stage = 0
        while stage * batch < rows {
            let id = String(format: "%064x", stage)
            let entries = (0..<batch).map { i in Journal.Entry(step: i / 12, name: distillSeries[i % 12], value: Double(stage % 1000) + Double(i) / 100) }
            let c0 = wallNow()
            try db.write { db in
                try db.execute(sql: "INSERT INTO stages (identity, kind, name, config_json, inputs_json, code_version, created, artifact_dir) VALUES (?, 'distill', 'distill-rdd-4', '{}', '{}', 'x', 0, 'd')",
                               arguments: [id])
                try RunLedger.upsertMetrics(db, stage: id, entries)
            }
            times.append(wallNow() - c0)
            r.walMaxBytes = Swift.max(r.walMaxBytes, Proc.fileSize(path + "-wal") ?? 0)
            stage += 1
        }
        r.total = wallNow() - t0
        r.walTruncations = db.walTruncations
        shared.lock.withLock { shared.stop = true }
        if reader { finished.wait() }
        // The reader has signalled `finished` (or never ran): its fields are ours alone from here.
        if let readError = shared.readError { throw readError }
        var readTimes = shared.readTimes
        r.rows = stage * batch
        r.commits = times.count
        times.sort()
        r.median = times[times.count / 2]
        r.p99 = times[Swift.min(times.count - 1, times.count * 99 / 100)]
        r.max = times.last ?? 0
        r.slowCommits = times.filter { $0 > 10 * r.median }.count
        readTimes.sort()
        r.reads = readTimes.count
        r.readMedian = readTimes.isEmpty ? 0 : readTimes[readTimes.count / 2]
        r.readMax = readTimes.last ?? 0
        // The per-launch files: a 2 KB request written with write + fsync + rename, `fileWrites` times.
        guard fileWrites > 0 else { return r }
        let payload = Data(repeating: UInt8(ascii: "x"), count: 2048)
        var fs: [Double] = []
        for i in 0..<fileWrites {
            let f0 = wallNow()
            try atomicWrite(payload, to: scratch + "/request-\(i % 4).json")
            fs.append(wallNow() - f0)
        }
        fs.sort()
        r.fsyncMedian = fs[fs.count / 2]
        r.fsyncP99 = fs[fs.count * 99 / 100]
        return r
    }

    /// The table of `ms` (ascending sizes): best wall time and CPU time per operation, and the growth
    /// exponent of the CPU time between consecutive sizes (log(t₂/t₁) / log(n₂/n₁): 1 is linear, 2 quadratic).
    public static func table(_ ms: [Measurement]) -> String {
        func fmt(_ s: Double) -> String { s >= 1 ? String(format: "%.2f s", s) : s >= 0.01 ? String(format: "%.0f ms", s * 1000) : String(format: "%.2f ms", s * 1000) }
        var out = "| operation (wall / CPU) | " + ms.map { "\($0.trials) trials" }.joined(separator: " | ") + " | CPU exponent |\n"
        out += "|---|" + ms.map { _ in "---:|" }.joined() + "---|\n"
        for op in Operation.allCases where ms.contains(where: { $0.times[op] != nil }) {
            let ts = ms.map { $0.times[op] }
            var exps: [String] = []
            for i in ms.indices.dropFirst() {
                if let a = ts[i - 1]?.cpu, let b = ts[i]?.cpu, a > 0, b > 0 {
                    exps.append(String(format: "%.2f", log(b / a) / log(Double(ms[i].trials) / Double(ms[i - 1].trials))))
                }
            }
            out += "| \(op.rawValue) | " + ts.map { t in t.map { "\(fmt($0.wall)) / \(fmt($0.cpu))" } ?? "–" }.joined(separator: " | ")
                + " | \(exps.isEmpty ? "–" : exps.joined(separator: ", ")) |\n"
        }
        out += "| plan: peak RSS of the process | " + ms.map { String(format: "%.0f MB", Double($0.planPeakKiB) / 1024) }.joined(separator: " | ") + " | |\n"
        out += "\n" + ms.map { m in
            "\(m.trials) trials: \(m.stages) stages, \(m.links) trial–stage links" + (m.hasDatabase
                ? String(format: ", %d metric rows, database %.0f MB", m.metricRows, Double(m.databaseBytes) / 1e6)
                    + (m.times[.perStage].map { String(format: "; scheduler bookkeeping per stage %.2f%% (wall) / %.2f%% (CPU) of a 1-second stage (stand-in workers %.1f s)",
                                                       $0.wall * 100, $0.cpu * 100, m.workerSeconds) } ?? "; database built by adoption (no scheduler run)") : "")
        }.joined(separator: "\n") + "\n"
        return out
    }
}

/// Workers that finish at once, in process: `spawn` writes the files a worker of the stage's kind
/// writes (journal lines, an evaluation's `result.json`, `done.json` claiming one second) and returns a
/// pid no process has; `reap` reports it exited 0. `time` is their total wall and CPU time, so it can be taken
/// out of the scheduler's bookkeeping.
final class StandInWorkers {
    var time = HarnessBench.Time()
    var nextPID: pid_t = 1 << 30

    /// A local executor whose workers are these stand-ins, for `run`.
    func install(in run: Scheduler) {
        let local = LocalExecutor(run)
        local.workers.spawn = { [unowned self] _, arguments, _, _ in try self.spawn(requestPath: arguments[2]) }
        local.workers.reap = { _ in .exited(0) }
        run.executor = local
    }

    func spawn(requestPath: String) throws -> pid_t {
        let w0 = HarnessBench.wallNow(), c0 = HarnessBench.cpuNow()
        defer { time.wall += HarnessBench.wallNow() - w0; time.cpu += HarnessBench.cpuNow() - c0 }
        let request = try JSONDecoder().decode(StageRequest.self, from: Data(contentsOf: URL(fileURLWithPath: requestPath)))
        try write(kind: request.kind, config: request.config, directory: request.directory)
        nextPID += 1
        return nextPID - 1
    }

    /// The files a finished worker of a `kind` stage leaves in `dir`.
    func write(kind: StageKind, config: String, directory dir: String) throws {
        // A deterministic value per stage, so figures have points that differ.
        let h = Double(config.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 } % 1000) / 1000
        var journal = ""
        let names = kind == .distill ? HarnessBench.distillSeries : kind == .eval ? [] : ["loss", "seconds_per_step"]
        for step in 0..<HarnessBench.journalSteps {
            for n in names { journal += "{\"step\":\(step),\"name\":\"\(n)\",\"value\":\(h + Double(step) / 100)}\n" }
        }
        try Data(journal.utf8).write(to: URL(fileURLWithPath: dir + "/journal.jsonl"))
        if case .eval(let c) = try StageSettings.decode(kind: kind, json: config) {
            // EvaluationResult's JSON (the Codable keys of EvaluationResult and of Metrics' MetricResult), written with our JSON writer.
            func metric(_ name: String, _ value: Double) -> JSON {
                .object([("name", .string(name)), ("value", .double(value)), ("label", .string("\(name) (stand-in), N=\(c.samples), \(c.sampler) \(c.steps) steps")),
                         ("featureNetwork", .string("DenseNet-BC (stand-in)")), ("samples", .int(Int64(c.samples))), ("reference", .string("stand-in reference")),
                         ("sampler", .string(c.sampler.rawValue)), ("steps", .int(Int64(c.steps))), ("nfe", .int(Int64(c.steps)))])
            }
            let result = JSON.object([("metrics", .array([metric("fid_classifier", 20 + 10 * h), metric("kid_classifier", 0.01 * h),
                                                          metric("classifier_score", 5 + h), metric("classifier_score_std", 0.1)])),
                                      ("secondsPerImage", .double(0.001)), ("modelLabel", .string(c.label))])
            try Data(result.serialized().utf8).write(to: URL(fileURLWithPath: dir + "/result.json"))
        } else {
            // A valid (checksummed) artifact: the scheduler verifies every input before a dependent uses it,
            // and a missing or unreadable one would be requeued as corrupt again and again.
            try Checkpoint(arrays: ["w": ArrayValue(shape: [1], [Float(h)])]).save(to: dir + "/final.h5")
        }
        let done = WorkerDone(seconds: 1, peakRSSKiB: 100_000, finished: Date().timeIntervalSince1970, pid: nextPID, codeVersion: CodeVersion.string, threads: "1")
        try JSONEncoder().encode(done).write(to: URL(fileURLWithPath: dir + "/" + StageFiles.done))
    }
}

/// What `measureMetricIngestion`'s reader thread shares with the writer, every field behind `lock` while both run.
private final class ReaderShared: @unchecked Sendable {
    let lock = NSLock()
    var stop = false
    var readTimes: [Double] = []
    var readError: Error?
}
