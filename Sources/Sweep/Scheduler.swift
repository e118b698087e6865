import Foundation
import GRDB
import HeapModule
import Pipeline
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// How `rdd-sweep run` executes a plan.
public struct RunOptions {
    /// Results root: `runs.sqlite` and `stages/<identity>/`.
    public var root: String
    /// Worker processes at once; each gets RDD_THREADS = `threads`, else max(1, cores / jobs).
    public var jobs: Int = 1
    /// Threads of each worker (its RDD_THREADS) when set; numbers are identical at equal thread counts.
    public var threads: Int?
    /// Automatic retries of a stage whose worker crashed or was killed (a stage that threw is not retried).
    public var retries: Int = 2
    /// Requeue stages that failed in earlier runs (`rdd-sweep retry --failed`).
    public var retryFailed = false
    /// Record a changed spec as a new revision of the sweep instead of refusing.
    public var newRevision = false
    /// The `rdd-sweep` executable whose hidden `worker` subcommand runs a stage.
    public var workerExecutable: String
    /// A running worker whose heartbeat file is older than this is killed and its stage retried.
    public var heartbeatTimeout: Double = 120
    /// A running worker whose step (and phase) has not advanced for this many seconds is "stalled": killed
    /// and its stage retried, with that reason (0 disables). Generous by default: the slowest step of a
    /// `paper` stage and the longest phase without steps (reference statistics) take minutes, not an hour.
    public var stallTimeout: Double = 3600
    public var display: DisplayMode = .auto
    /// Extra environment for workers (tests use RDD_DIE_AFTER_STEPS).
    public var environment: [String: String] = [:]
    /// The CPUs this process may use (its affinity mask: `taskset`, cpusets).
    public var cores = Threads.availableCores()
    /// Install SIGINT/SIGTERM handlers that stop workers and leave their stages resumable.
    public var handleSignals = false
    /// Scheduler tick (seconds).
    public var pollInterval: Double = 0.02

    public init(root: String, workerExecutable: String) {
        self.root = root
        self.workerExecutable = workerExecutable
    }
}

/// What a run did.
public struct RunSummary {
    public var sweep: String
    public var trials: Int
    public var trialsCompleted: Int
    public var trialsFailed: Int
    /// Stages a worker completed in this run.
    public var stagesRun: Int
    /// Stages this sweep needed that were already complete (earlier runs, other sweeps, adopted from disk).
    public var stagesReused: Int
    public var stagesFailed: Int
    /// Worker attempts that ended without completing (crashes, kills, stage errors).
    public var failedAttempts: Int
    public var interrupted: Bool
    public var seconds: Double
    /// Wall time spent in the scheduler's own work (database, files, spawning, display), excluding
    /// waiting for workers: the fixed cost it adds to the stages.
    public var bookkeepingSeconds: Double
    public var failures: [String]
    /// Of `bookkeepingSeconds`, opening the database, registering the sweep and reconciling it with the disk.
    public var startupSeconds = 0.0
    /// Slurm executor: the job arrays this run submitted.
    public var submittedJobs: [String] = []
}

/// A spec whose name exists in the database with different trials.
public struct ChangedSpecError: Error, CustomStringConvertible, LocalizedError {
    public var message: String
    public var description: String { message }
    public var errorDescription: String? { message }
}

nonisolated(unsafe) var interruptRequested: Int32 = 0

/// Runs a sweep plan: registers it in the run database, reconciles what is already done, and runs
/// every remaining stage in worker processes, at most `jobs` at a time, in dependency order.
/// `SlurmExecutor` is the same with Slurm jobs instead of local processes (it reuses registration,
/// reconciliation and the trial bookkeeping here).
public class Scheduler {
    public let plan: SweepPlan
    public let options: RunOptions
    let root: String
    var db: RunDatabase!
    var sweepID: Int64 = 0
    var sweepLabel = ""
    var status: [String: String] = [:]
    var failures: [String: Int] = [:]
    var attempts: [String: Int] = [:]
    var threadsUsed: [String: Int] = [:]
    var running: [String: RunningStage] = [:]
    /// Stages whose directory another process (an earlier scheduler's orphaned worker) holds (HeldStages.swift).
    var held: [String: HeldStage] = [:]
    /// Completed stages whose artifact was fully verified in this run (ArtifactCheck.swift).
    var verifiedArtifacts = Set<String>()
    var stagesRun = 0, failedAttempts = 0
    var failureMessages: [String] = []
    var display: ProgressDisplay!
    var bookkeeping = 0.0
    let stageByID: [String: PlannedStage]
    /// Stages with a Slurm task in flight (`slurm_tasks`): reconciliation leaves them alone.
    var inFlight: [String: String] = [:]
    /// The previous `sample()` and the last time the scheduler found itself resumed after a suspension.
    var previousSample: Double?, resumedAt = 0.0
    /// Plan positions of the stages that may be ready to launch (`nextReady` checks lazily); a stage is
    /// pushed when it is queued at reconciliation, when one of its inputs completes and when it is
    /// requeued for a retry, so the first ready stage in plan order is found without scanning the plan.
    var candidates = Heap<Int>()
    /// Plan position → positions of the stages that take it as an input.
    let dependents: [[Int]]
    /// How workers are started and reaped: real processes, or an in-process stand-in (the harness
    /// benchmark, `HarnessBench`, measures the scheduler's own cost without training).
    var workers = WorkerProcesses()

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

    public init(plan: SweepPlan, options: RunOptions) {
        self.plan = plan
        self.options = options
        root = URL(fileURLWithPath: options.root).standardizedFileURL.path
        stageByID = Dictionary(uniqueKeysWithValues: plan.stages.map { ($0.identity, $0) })
        var dependents = [[Int]](repeating: [], count: plan.stages.count)
        for (i, s) in plan.stages.enumerated() {
            for input in Set(s.inputs.values) { if let j = plan.position[input] { dependents[j].append(i) } }
        }
        self.dependents = dependents
    }

    public func run() throws -> RunSummary {
        let t0 = Date()
        try FileManager.default.createDirectory(atPath: root + "/stages", withIntermediateDirectories: true)
        let lockPath = root + "/.scheduler.lock"
        guard let lock = FileLock.tryLock(lockPath) else {
            let owner = FileLock.owner(lockPath)
            throw RootLockedError("another `rdd-sweep run` (pid \(owner)) is using '\(root)'; one scheduler per results root (it is the database's only writer). Watch it with `rdd-sweep status --root \(options.root)`.")
        }
        lock.writeOwner("\(getpid())\n")
        defer { withExtendedLifetime(lock) {} }
        let tb = Date()
        db = try RunDatabase(writerAt: RunDatabase.path(root: root))
        display = ProgressDisplay(mode: options.display)
        inFlight = try db.read { try SlurmCollector.inFlight($0) }
        let busy = plan.stages.filter { inFlight[$0.identity] != nil }
        if !busy.isEmpty {
            throw PipelineError("\(busy.count) stage(s) of this sweep are in Slurm jobs (\(busy.prefix(3).map { "\($0.displayName) in \(inFlight[$0.identity]!)" }.joined(separator: ", "))\(busy.count > 3 ? ", …" : "")); running them locally too would duplicate work. `rdd-sweep collect --root \(options.root)` records what finished; `rdd-sweep cancel` stops the jobs; or continue with `--executor slurm`.")
        }
        try register()
        try reconcile()
        bookkeeping += Date().timeIntervalSince(tb)
        let startup = bookkeeping

        var oldInt: (@convention(c) (Int32) -> Void)?, oldTerm: (@convention(c) (Int32) -> Void)?
        if options.handleSignals {
            interruptRequested = 0
            oldInt = signal(SIGINT) { _ in interruptRequested = 1 }
            oldTerm = signal(SIGTERM) { _ in interruptRequested = 1 }
            // A closed stdout (`| head`, a dead ssh pipe) must not kill the sweep: writes just fail.
            signal(SIGPIPE, SIG_IGN)
        }
        defer {
            if options.handleSignals { signal(SIGINT, oldInt); signal(SIGTERM, oldTerm) }
        }
        let reused = plan.stages.filter { ["completed", "cached"].contains(status[$0.identity]) }.count
        let todo = plan.stages.count - reused
        display.event("sweep \(sweepLabel): \(plan.trials.count) trials, \(plan.stages.count) stages (\(reused) done already, \(todo) to run), \(options.jobs) job\(options.jobs == 1 ? "" : "s") × RDD_THREADS=\(threadsPerJob) — root \(root)")
        if options.jobs * threadsPerJob > options.cores {
            display.event("note: \(options.jobs) jobs × \(threadsPerJob) threads exceed the \(options.cores) cores this process may use: workers will share cores")
        }
        let blockedAtStart = plan.stages.filter { status[$0.identity] == "failed" }
        if !blockedAtStart.isEmpty {
            display.event("note: \(blockedAtStart.count) stage(s) failed in an earlier run and are not retried (their trials stay failed): `rdd-sweep retry --failed` requeues them")
        }

        var interrupted = false
        var lastSample = Date.distantPast, lastFlush = Date()
        while true {
            if interruptRequested != 0 { interrupted = true; try stopAll(); break }
            let tick = Date()
            for (id, r) in running { if let ex = workers.reap(r.pid) { try finish(id, r, ex) } }
            try pollHeld()
            let now = Date()
            if now.timeIntervalSince(lastSample) >= 0.5 { sample(); lastSample = now }
            if now.timeIntervalSince(lastFlush) >= 2 { try flush(); lastFlush = now }
            while interruptRequested == 0, running.count < max(1, options.jobs), let next = nextReady() { try launch(next) }
            if running.isEmpty && held.isEmpty { bookkeeping += Date().timeIntervalSince(tick); break }
            display.render(rows())
            bookkeeping += Date().timeIntervalSince(tick)
            usleep(UInt32(options.pollInterval * 1e6))
        }
        try flush()
        display.render([])
        let trialStatus = plan.trials.map { trialState($0.index) }
        let summary = RunSummary(
            sweep: sweepLabel, trials: plan.trials.count,
            trialsCompleted: trialStatus.filter { $0 == "completed" }.count, trialsFailed: trialStatus.filter { $0 == "failed" }.count,
            stagesRun: stagesRun, stagesReused: reused, stagesFailed: plan.stages.filter { status[$0.identity] == "failed" }.count,
            failedAttempts: failedAttempts, interrupted: interrupted, seconds: Date().timeIntervalSince(t0), bookkeepingSeconds: bookkeeping,
            failures: failureMessages, startupSeconds: startup)
        if interrupted {
            display.event("interrupted: running stages were stopped and are marked stale; `rdd-sweep run \(plan.spec.file)` resumes them from their last checkpoint")
        } else {
            display.event(String(format: "sweep %@: %d/%d trials completed, %d failed; %d stages run now, %d reused; %.1f s (scheduler bookkeeping %.0f ms)",
                                 sweepLabel, summary.trialsCompleted, summary.trials, summary.trialsFailed, summary.stagesRun, reused, summary.seconds,
                                 summary.bookkeepingSeconds * 1000))
            for id in plan.stages.map(\.identity) where status[id] == "failed" {
                let s = stageByID[id]!
                let err = (try? db.read { try String.fetchOne($0, sql: "SELECT error FROM stages WHERE identity = ?", arguments: [id]) }) ?? nil
                display.event("  failed: \(s.displayName) [\(s.shortID)] (\(s.trials.count) trial\(s.trials.count == 1 ? "" : "s")): \(err ?? "?")")
            }
        }
        return summary
    }

    var threadsPerJob: Int { options.threads ?? max(1, options.cores / max(1, options.jobs)) }

    // MARK: registration and reconciliation

    func register() throws {
        let axes = String(decoding: try JSONEncoder().encode(plan.spec.axisPaths), as: UTF8.self)
        try db.write { db in
            let now = Date().timeIntervalSince1970
            if let e = try SweepRecord.find(db, plan.spec.name) {
                if e.specHash == plan.specHash {
                    sweepID = e.id
                    try db.execute(sql: "UPDATE sweeps SET spec_json = ?, spec_file = ? WHERE id = ?", arguments: [plan.spec.text, plan.spec.file, e.id])
                    sweepLabel = e.label
                } else if options.newRevision {
                    try db.execute(sql: """
                        INSERT INTO sweeps (name, revision, spec_file, spec_json, spec_hash, preset, axes_json, code_version, created)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [plan.spec.name, e.revision + 1, plan.spec.file, plan.spec.text, plan.specHash, plan.spec.preset, axes, CodeVersion.string, now])
                    sweepID = db.lastInsertedRowID
                    sweepLabel = "\(plan.spec.name)@\(e.revision + 1)"
                } else {
                    throw ChangedSpecError(message: try changedSpecMessage(db, e))
                }
            } else {
                try db.execute(sql: """
                    INSERT INTO sweeps (name, revision, spec_file, spec_json, spec_hash, preset, axes_json, code_version, created)
                    VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [plan.spec.name, plan.spec.file, plan.spec.text, plan.specHash, plan.spec.preset, axes, CodeVersion.string, now])
                sweepID = db.lastInsertedRowID
                sweepLabel = "\(plan.spec.name)@1"
            }
            // One transaction; each statement prepared once (cachedStatement) for the thousands of rows of a large sweep.
            let insertStage = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO stages (identity, kind, name, config_json, inputs_json, code_version, status, total_steps, created, artifact_dir)
                VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
                """)
            for s in plan.stages {
                let inputs = JSON.object(s.inputs.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).serialized()
                try insertStage.execute(arguments: [s.identity, s.kind.rawValue, s.names[0], s.config, inputs, CodeVersion.string, s.totalSteps, now, stageDir(s.identity)])
            }
            let insertTrial = try db.cachedStatement(sql: "INSERT OR IGNORE INTO trials (sweep_id, trial_index, trial_key, axes_json, config_json) VALUES (?, ?, ?, ?, ?)")
            let trialID = try db.cachedStatement(sql: "SELECT id FROM trials WHERE sweep_id = ? AND trial_index = ?")
            let deleteLinks = try db.cachedStatement(sql: "DELETE FROM trial_stages WHERE trial_id = ?")
            let insertLink = try db.cachedStatement(sql: "INSERT INTO trial_stages (trial_id, name, role, stage) VALUES (?, ?, ?, ?)")
            for t in plan.trials {
                try insertTrial.execute(arguments: [sweepID, t.index, t.key, JSON.object(t.axes).serialized(), t.configJSON])
                let tid = try Int64.fetchOne(trialID, arguments: [sweepID, t.index])!
                try deleteLinks.execute(arguments: [tid])
                for l in plan.links[t.index] ?? [] { try insertLink.execute(arguments: [tid, l.name, l.role, l.identity]) }
            }
        }
    }

    func changedSpecMessage(_ db: Database, _ e: SweepRecord) throws -> String {
        let rows = try Row.fetchAll(db, sql: "SELECT trial_index, trial_key, config_json FROM trials WHERE sweep_id = ? ORDER BY trial_index", arguments: [e.id])
        var old: [String: (Int, String)] = [:]
        for r in rows { old[r["trial_key"]] = (r["trial_index"], r["config_json"]) }
        let new = Dictionary(uniqueKeysWithValues: plan.trials.map { ($0.key, $0) })
        let added = plan.trials.filter { old[$0.key] == nil }.map { "\($0.index) [\($0.axesSummary)]" }
        let removed = old.filter { new[$0.key] == nil }.sorted { $0.value.0 < $1.value.0 }.map { "\($0.value.0) \($0.key)" }
        let changed = plan.trials.filter { t in old[t.key].map { $0.1 != t.configJSON } ?? false }.map { "\($0.index) [\($0.axesSummary)]" }
        let moved = plan.trials.filter { t in old[t.key].map { $0.0 != t.index && $0.1 == t.configJSON } ?? false }.map { "\($0.index) [\($0.axesSummary)]" }
        var parts: [String] = []
        if !added.isEmpty { parts.append("trials added: \(added.prefix(8).joined(separator: ", "))\(added.count > 8 ? ", …" : "")") }
        if !removed.isEmpty { parts.append("trials removed: \(removed.prefix(8).joined(separator: ", "))\(removed.count > 8 ? ", …" : "")") }
        if !changed.isEmpty { parts.append("configuration changed for trials: \(changed.prefix(8).joined(separator: ", "))\(changed.count > 8 ? ", …" : "")") }
        if !moved.isEmpty { parts.append("trials renumbered: \(moved.prefix(8).joined(separator: ", "))") }
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: e.created))
        return """
            sweep '\(e.name)' already exists in \(root)/runs.sqlite (revision \(e.revision), created \(when) from \(e.specFile)) with a different spec:
              \(parts.isEmpty ? "the trials' resolved configurations differ" : parts.joined(separator: "\n  "))
            Nothing was run. Either
              rdd-sweep run \(plan.spec.file) --new     # record this spec as revision \(e.revision + 1); stages it shares with revision \(e.revision) are reused
            or give the spec another "name".
            """
    }

    /// Brings the database in line with what is on disk and with the lock we hold: stages left
    /// running by a dead scheduler become stale then queued; complete outputs are adopted; failed
    /// stages stay failed unless `retryFailed`.
    func reconcile() throws {
        try db.write { db in
            let now = Date().timeIntervalSince1970
            let select = try db.cachedStatement(sql: "SELECT status, attempts, failures, threads FROM stages WHERE identity = ?")
            let update = try db.cachedStatement(sql: "UPDATE stages SET status = ?, failures = ?, pid = ? WHERE identity = ?")
            for s in plan.stages {
                let id = s.identity
                guard let row = try Row.fetchOne(select, arguments: [id]) else { continue }
                var st: String = row["status"]
                let done = FileManager.default.fileExists(atPath: stageDir(id) + "/" + StageFiles.done)
                attempts[id] = row["attempts"]
                failures[id] = row["failures"]
                threadsUsed[id] = row["threads"]
                if inFlight[id] != nil { status[id] = st; continue }   // a Slurm job has it; collection updates it
                switch st {
                case "completed", "cached":
                    if !done {
                        st = "queued"
                        display.event("note: \(s.displayName) [\(s.shortID)] was complete but its artifacts are gone; it will run again")
                    } else if let changed = ArtifactCheck.stampProblem(stageDir(id), kind: s.kind) {
                        // Touched since it completed: verify fully; a corrupt one runs again.
                        if let bad = ArtifactCheck.verify(stageDir(id), kind: s.kind) {
                            let note = quarantineArtifact(s, because: bad, foundBy: "at the start of this run (\(changed))")
                            try db.execute(sql: "UPDATE stages SET error = ?, finished = NULL WHERE identity = ?", arguments: [note, id])
                            st = "queued"
                        } else { verifiedArtifacts.insert(id) }
                    }
                case "running", "stale":
                    // A worker of the scheduler that recorded this may still hold the stage: wait for it (HeldStages).
                    if holdIfBusy(id) { st = "running"; break }
                    try db.execute(sql: "UPDATE attempts SET outcome = 'interrupted', finished = ? WHERE stage = ? AND outcome = 'running'", arguments: [now, id])
                    st = done ? "completed" : "queued"
                    if done { try adoptCompleted(db, id) }
                case "failed":
                    if done { st = "completed"; try adoptCompleted(db, id) }
                    else if options.retryFailed { st = "queued"; failures[id] = 0 }
                default:
                    if !done && holdIfBusy(id) { st = "running"; break }
                    if done {
                        st = (attempts[id] ?? 0) == 0 ? "cached" : "completed"
                        try RunDatabase.ingestCompleted(db, stage: id, directory: stageDir(id))
                    }
                }
                status[id] = st
                try update.execute(arguments: [st, failures[id] ?? 0, held[id]?.pid, id])
            }
            try updateTrials(db, plan.trials.map(\.index))
        }
        for (i, s) in plan.stages.enumerated() where status[s.identity] == "queued" { candidates.insert(i) }
    }

    // MARK: scheduling

    func isDone(_ id: String) -> Bool { ["completed", "cached"].contains(status[id]) }

    /// The first stage in plan order that is queued, not running, and whose inputs are all done.
    /// Candidates that are not ready are dropped; each is pushed again by the event that can make it
    /// ready (an input completing, a retry), so a sweep costs O(links · log stages), not stages².
    func nextReady() -> PlannedStage? {
        while let i = candidates.min {
            let s = plan.stages[i]
            if status[s.identity] == "queued" && running[s.identity] == nil && held[s.identity] == nil && s.inputs.values.allSatisfy(isDone) { return s }
            _ = candidates.removeMin()
        }
        return nil
    }

    /// Queues the stage at plan position `i` and, when it completed, its dependents as launch candidates.
    func markCandidates(after id: String) {
        guard let i = plan.position[id] else { return }
        if status[id] == "queued" { candidates.insert(i) }
        if isDone(id) { for d in dependents[i] { candidates.insert(d) } }
    }

    /// Writes a stage's `request.json` (what its worker runs) and, once, `stage.json` (what it is).
    func prepareStage(_ s: PlannedStage) throws {
        let id = s.identity, dir = stageDir(id)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var inputs: [String: String] = [:]
        for (role, src) in s.inputs { inputs[role] = stageDir(src) + "/final.h5" }
        let req = StageRequest(kind: s.kind, config: s.config, inputs: inputs, classifierNetwork: s.classifierNetwork, directory: dir)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        try atomicWrite(try enc.encode(req), to: dir + "/" + StageFiles.request)
        let metaPath = dir + "/" + StageFiles.meta
        if !FileManager.default.fileExists(atPath: metaPath) {
            let meta = JSON.object([("identity", .string(id)), ("kind", .string(s.kind.rawValue)), ("names", .array(s.names.map { .string($0) })),
                                    ("codeVersion", .string(CodeVersion.string)),
                                    ("inputs", .object(s.inputs.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                                    ("config", (try? JSONParser.parse(s.config).value) ?? .string(s.config))])
            try atomicWrite(Data(meta.serialized().utf8), to: metaPath)
        }
    }

    func launch(_ s: PlannedStage) throws {
        let id = s.identity, dir = stageDir(id)
        // Its directory is held by another worker: starting one would only exit 75; wait instead.
        if holdIfBusy(id) { status[id] = "running"; return }
        // Its inputs must be what their workers wrote; a corrupt one is requeued and this stage waits for it.
        guard try inputsVerified(s) else { return }
        try prepareStage(s)
        // Keep a stage's thread count across resumes: identical numbers need the same count.
        let hasCheckpoint = FileManager.default.fileExists(atPath: dir + "/checkpoint.h5")
        let threads = hasCheckpoint ? (threadsUsed[id] ?? threadsPerJob) : threadsPerJob
        threadsUsed[id] = threads
        var env = ProcessInfo.processInfo.environment
        for (k, v) in options.environment { env[k] = v }
        env["RDD_THREADS"] = String(threads)
        let attempt = (attempts[id] ?? 0) + 1
        attempts[id] = attempt
        let logPath = dir + "/" + StageFiles.log
        let header = "\n=== rdd-sweep \(sweepLabel): attempt \(attempt) of stage \(s.displayName) [\(id)] at \(ISO8601DateFormatter().string(from: Date())), RDD_THREADS=\(threads) ===\n"
        if let h = FileHandle(forWritingAtPath: logPath) { h.seekToEndOfFile(); h.write(Data(header.utf8)); try? h.close() }
        else { _ = FileManager.default.createFile(atPath: logPath, contents: Data(header.utf8)) }
        try? FileManager.default.removeItem(atPath: dir + "/" + StageFiles.progress)
        let logOffset = Proc.fileSize(logPath) ?? 0
        let exe = options.workerExecutable
        let pid = try workers.spawn(exe, [exe, "worker", dir + "/" + StageFiles.request,
                                          "--checkpoint-every", String(plan.spec.checkpointEvery), "--log-every", String(plan.spec.logEvery)],
                                    env, logPath)
        let now = Date()
        let r = RunningStage(identity: id, pid: pid, attempt: attempt, started: now, logOffset: logOffset)
        r.total = s.totalSteps
        running[id] = r
        status[id] = "running"
        try db.write { db in
            try db.execute(sql: """
                UPDATE stages SET status = 'running', attempts = ?, started = COALESCE(started, ?), pid = ?, threads = ?, heartbeat = ?
                WHERE identity = ?
                """, arguments: [attempt, now.timeIntervalSince1970, pid, threads, now.timeIntervalSince1970, id])
            try db.execute(sql: """
                INSERT OR REPLACE INTO attempts (stage, attempt, sweep_id, pid, threads, started, outcome) VALUES (?, ?, ?, ?, ?, ?, 'running')
                """, arguments: [id, attempt, sweepID, pid, threads, now.timeIntervalSince1970])
            try updateTrials(db, s.trials)
        }
        display.event("▶ \(s.displayName) [\(s.shortID)] started (attempt \(attempt), pid \(pid))")
    }

    /// Reads progress, heartbeat, memory and new journal lines of running workers; kills silent ones.
    func sample() {
        let now = Date().timeIntervalSince1970
        // A gap between two samples far longer than the tick means the scheduler itself did not run (SIGSTOP of the
        // whole sweep, a suspended VM or laptop): its workers did not run either, so every heartbeat looks old.
        // Heartbeat ages are then counted from the resumption, instead of killing healthy workers as silent.
        if let last = previousSample, now - last > max(options.heartbeatTimeout / 2, 5) {
            resumedAt = now
            if !running.isEmpty { display.event(String(format: "the scheduler did not run for %.0f s (suspended?): heartbeat ages restart now", now - last)) }
        }
        previousSample = now
        for (_, r) in running {
            let dir = stageDir(r.identity)
            if let d = FileManager.default.contents(atPath: dir + "/" + StageFiles.progress), let p = try? JSONParser.parse(String(decoding: d, as: UTF8.self)).value {
                if let step = p["step"]?.intValue {
                    r.step = step
                    r.total = p["total"]?.intValue ?? r.total
                    let t: Double
                    if case .double(let x)? = p["time"] { t = x } else { t = now }
                    if let f = r.firstSample { if t > f.time + 0.2, step > f.step { r.rate = Double(step - f.step) / (t - f.time) } }
                    else { r.firstSample = (step, t) }
                }
                if case .string(let ph)? = p["phase"] { r.phase = ph } else { r.phase = nil }
                if let m = p["metrics"]?.objectPairs {
                    r.metrics = m.compactMap { k, v in
                        switch v { case .double(let x): return (k, x); case .int(let i): return (k, Double(i)); default: return nil }
                    }
                }
            }
            let hb = Proc.mtime(dir + "/" + StageFiles.heartbeat) ?? r.started.timeIntervalSince1970
            r.heartbeatAge = now - max(hb, r.started.timeIntervalSince1970, resumedAt)
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
            let still = now - max(r.progressAt, resumedAt)
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
    }

    /// Writes running stages' heartbeat, step, memory and new metric rows (one transaction).
    func flush() throws {
        guard !running.isEmpty else { return }
        try db.write { db in
            for (_, r) in running {
                try db.execute(sql: "UPDATE stages SET heartbeat = ?, last_step = ?, total_steps = COALESCE(?, total_steps), peak_rss_kib = ? WHERE identity = ?",
                               arguments: [Date().timeIntervalSince1970 - r.heartbeatAge, r.step, r.total, r.peakKiB, r.identity])
                try RunDatabase.upsertMetrics(db, stage: r.identity, r.pending)
                r.pending = []
            }
        }
    }

    func finish(_ id: String, _ r: RunningStage, _ ex: Proc.Exit) throws {
        running[id] = nil
        sample(r)
        let s = stageByID[id]!, dir = stageDir(id)
        let now = Date()
        let seconds = now.timeIntervalSince(r.started)
        if ex == .exited(0), let done = WorkerDone.read(directory: dir) {
            let peak = max(r.peakKiB ?? 0, done.peakRSSKiB ?? 0)
            try db.write { db in
                try RunDatabase.ingestCompleted(db, stage: id, directory: dir)
                try db.execute(sql: """
                    UPDATE stages SET status = 'completed', finished = ?, seconds = ?, peak_rss_kib = ?, last_step = COALESCE(total_steps, last_step),
                      exit_status = 0, signal = NULL, error = NULL, pid = NULL, failures = 0, ran_by_sweep = ?, heartbeat = ?
                    WHERE identity = ?
                    """, arguments: [now.timeIntervalSince1970, seconds, peak, sweepID, now.timeIntervalSince1970, id])
                try db.execute(sql: "UPDATE attempts SET outcome = 'completed', finished = ?, exit_status = 0, last_step = ?, peak_rss_kib = ? WHERE stage = ? AND attempt = ?",
                               arguments: [now.timeIntervalSince1970, r.step, peak, id, r.attempt])
                status[id] = "completed"
                try updateTrials(db, s.trials)
            }
            stagesRun += 1
            markCandidates(after: id)
            display.event(String(format: "✓ %@ [%@] completed in %.1f s%@", s.displayName, s.shortID, seconds,
                                 peak > 0 ? String(format: ", peak %.0f MB", Double(peak) / 1024) : ""))
            return
        }
        if ex == .exited(WorkerExit.busy) {
            try busyAtStart(s, r)
            return
        }
        if interruptRequested != 0 {
            // The sweep is being stopped: this stage is resumable, not failed (stopAll records it).
            r.reaped = true
            running[id] = r
            return
        }
        failedAttempts += 1
        // A failed attempt: record why, then retry under the policy.
        var lastStep = r.step
        let journal = Journal.read(path: dir + "/journal.jsonl")
        if let m = journal.map(\.step).max() { lastStep = max(lastStep ?? 0, m + 1) }
        let tail = Proc.lastLines(Proc.tail(dir + "/" + StageFiles.log, from: r.logOffset, maxBytes: 256 * 1024), 50)
        let lastLine = Proc.failureLine(tail) ?? ""
        let deterministic = ex == .exited(WorkerExit.stageError) || ex == .exited(WorkerExit.usage)
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
        let f = (failures[id] ?? 0) + 1
        failures[id] = f
        let retry = !deterministic && f <= options.retries
        let newStatus = retry ? "queued" : "failed"
        status[id] = newStatus
        markCandidates(after: id)
        var exitStatus: Int?, sig: Int?
        switch ex { case .exited(let c): exitStatus = Int(c); case .signaled(let sg): sig = Int(sg) }
        try db.write { db in
            try RunDatabase.upsertMetrics(db, stage: id, r.pending)
            r.pending = []
            try db.execute(sql: """
                UPDATE stages SET status = ?, failures = ?, exit_status = ?, signal = ?, error = ?, last_step = ?, pid = NULL,
                  peak_rss_kib = MAX(COALESCE(peak_rss_kib, 0), ?), finished = ?
                WHERE identity = ?
                """, arguments: [newStatus, f, exitStatus, sig, reason, lastStep, r.peakKiB ?? 0, now.timeIntervalSince1970, id])
            try db.execute(sql: """
                UPDATE attempts SET outcome = ?, finished = ?, exit_status = ?, signal = ?, last_step = ?, peak_rss_kib = ?, stderr_tail = ?
                WHERE stage = ? AND attempt = ?
                """, arguments: [r.killReason != nil ? "stale" : "failed", now.timeIntervalSince1970, exitStatus, sig, lastStep, r.peakKiB, tail, id, r.attempt])
            try updateTrials(db, s.trials)
        }
        let what = retry ? "retrying (retry \(f) of \(options.retries))"
            : deterministic ? "not retried (the stage itself failed; fix it, then `rdd-sweep retry --failed`)"
            : "giving up after \(f) failed attempt\(f == 1 ? "" : "s") (`rdd-sweep retry --failed` tries again)"
        let msg = "✗ \(s.displayName) [\(s.shortID)] attempt \(r.attempt): \(reason) — \(what)"
        display.event(msg)
        if !retry { failureMessages.append(msg) }
    }

    func sample(_ r: RunningStage) {
        let saved = running
        running = [r.identity: r]
        sample()
        running = saved
    }

    /// Stops every worker (SIGTERM, then SIGKILL after 2 s) and marks their stages stale (resumable).
    func stopAll() throws {
        for (_, r) in running where !r.reaped { kill(r.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(2)
        var left = running.filter { !$0.value.reaped }
        while !left.isEmpty && Date() < deadline {
            for (id, r) in left where Proc.reap(r.pid) != nil { left[id] = nil }
            usleep(20_000)
        }
        for (_, r) in left { kill(r.pid, SIGKILL); while Proc.reap(r.pid) == nil { usleep(10_000) } }
        let now = Date().timeIntervalSince1970
        try db.write { db in
            for (id, r) in running {
                sample(r)
                try RunDatabase.upsertMetrics(db, stage: id, r.pending)
                try db.execute(sql: "UPDATE stages SET status = 'stale', pid = NULL, last_step = ? WHERE identity = ?", arguments: [r.step, id])
                try db.execute(sql: "UPDATE attempts SET outcome = 'interrupted', finished = ?, last_step = ? WHERE stage = ? AND attempt = ?",
                               arguments: [now, r.step, id, r.attempt])
                status[id] = "stale"
            }
            // Held stages keep their holder's attempt open: the next run waits for it or adopts its result.
            for id in held.keys {
                try db.execute(sql: "UPDATE stages SET status = 'stale' WHERE identity = ?", arguments: [id])
                status[id] = "stale"
            }
            try updateTrials(db, Array(Set((Array(running.keys) + Array(held.keys)).flatMap { stageByID[$0]?.trials ?? [] })).sorted())
        }
        running = [:]
        held = [:]
    }

    // MARK: trials

    func trialState(_ index: Int) -> String {
        let ids = (plan.links[index] ?? []).map(\.identity)
        let st = ids.map { status[$0] ?? "queued" }
        if st.allSatisfy({ $0 == "completed" || $0 == "cached" }) { return "completed" }
        if st.contains("failed") { return "failed" }
        if st.contains("running") { return "running" }
        return "queued"
    }

    /// A stage whose worker wrote done.json but whose end the scheduler did not see (it was interrupted, or
    /// the worker was killed after finishing, or it was an earlier scheduler's orphan): ingest it, and credit
    /// the attempt whose pid wrote done.json as the one that completed it (other open attempts were
    /// interrupted); the stage row loses the failure fields of earlier attempts.
    func adoptCompleted(_ db: Database, _ id: String) throws {
        let dir = stageDir(id)
        try RunDatabase.ingestCompleted(db, stage: id, directory: dir)
        let done = WorkerDone.read(directory: dir)
        // The attempt whose worker wrote done.json (its pid); else the latest.
        var byPid = try Int.fetchOne(db, sql: "SELECT MAX(attempt) FROM attempts WHERE stage = ? AND pid = ?", arguments: [id, done?.pid])
        let latest = try Int.fetchOne(db, sql: "SELECT MAX(attempt) FROM attempts WHERE stage = ?", arguments: [id])
        let local = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE stage = ? AND pid IS NULL", arguments: [id]) == 0
        if byPid == nil, let done, local {
            // A local worker completed it without a row of its own (its scheduler was killed between starting it and
            // recording it): add the row. (Slurm attempts have no pid; their collector records them.)
            let a = (latest ?? 0) + 1
            try db.execute(sql: "INSERT INTO attempts (stage, attempt, pid, started, outcome) VALUES (?, ?, ?, ?, 'completed')",
                           arguments: [id, a, done.pid, done.finished - done.seconds])
            try db.execute(sql: "UPDATE stages SET attempts = MAX(attempts, ?) WHERE identity = ?", arguments: [a, id])
            attempts[id] = max(attempts[id] ?? 0, a)
            byPid = a
        }
        if let a = byPid ?? latest {
            try db.execute(sql: "UPDATE attempts SET outcome = 'completed', finished = COALESCE(?, finished), exit_status = 0, signal = NULL, stderr_tail = NULL WHERE stage = ? AND attempt = ?",
                           arguments: [done?.finished, id, a])
            try db.execute(sql: "UPDATE attempts SET outcome = 'interrupted', finished = COALESCE(finished, ?) WHERE stage = ? AND outcome = 'running'",
                           arguments: [Date().timeIntervalSince1970, id])
            let by = try Int64.fetchOne(db, sql: "SELECT sweep_id FROM attempts WHERE stage = ? AND attempt = ?", arguments: [id, a])
            try db.execute(sql: "UPDATE stages SET ran_by_sweep = COALESCE(?, ran_by_sweep) WHERE identity = ?", arguments: [by, id])
        }
        // The row describes the completed stage, not the attempts before it (they keep their own records).
        try db.execute(sql: """
            UPDATE stages SET status = 'completed', exit_status = 0, signal = NULL, error = NULL, pid = NULL, failures = 0,
              last_step = COALESCE(total_steps, last_step) WHERE identity = ?
            """, arguments: [id])
        failures[id] = 0
    }

    func updateTrials(_ db: Database, _ indices: [Int]) throws {
        let now = Date().timeIntervalSince1970
        let update = try db.cachedStatement(sql: """
            UPDATE trials SET status = ?, completed = CASE WHEN ? = 'completed' THEN COALESCE(completed, ?) ELSE NULL END
            WHERE sweep_id = ? AND trial_index = ?
            """)
        for i in indices {
            let s = trialState(i)
            try update.execute(arguments: [s, s, now, sweepID, i])
        }
    }

    // MARK: display

    /// The running stages in plan order (sorting the few running ones, not scanning the plan each tick).
    func rows() -> [ProgressRow] {
        running.keys.compactMap { plan.position[$0] }.sorted().map { i in
            let s = plan.stages[i], r = running[s.identity]!
            return ProgressRow(name: s.displayName, shortID: s.shortID, step: r.step, total: r.total, rate: r.rate,
                               elapsed: Date().timeIntervalSince(r.started), metrics: r.metrics, attempt: r.attempt, phase: r.phase)
        }
    }
}

extension Scheduler: ResultsRootUser {}
