import Foundation
import GRDB
import HeapModule
import Pipeline
import Tensor
#if canImport(Glibc)
import Glibc
import RunModel
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
    /// Scheduler tick of the local executor (seconds).
    public var pollInterval: Double = 0.02
    /// Where stages run (`rdd-sweep run --executor`).
    public var executor: ExecutorKind = .local
    /// Options of the Slurm executor (used with `executor == .slurm`).
    public var slurm = SlurmRunOptions()
    /// Which ready stage the local executor launches first (`rdd-sweep run --order`).
    public var order: StageOrder = .plan

    public init(root: String, workerExecutable: String) {
        self.root = root
        self.workerExecutable = workerExecutable
    }
}

/// Which ready stage the local executor launches first. Either order launches a stage only once its inputs
/// are done and computes the same numbers; it decides what is finished when a run is interrupted.
public enum StageOrder: String, CaseIterable, Sendable {
    /// Plan order: trial 0's chain first, then each trial's stages in the order the spec expands them
    /// (for a grid over methods × seeds, every seed of the first method before the second method).
    case plan
    /// Seed by seed (in the order of the spec's seeds), plan order within a seed: every method of the
    /// first seed completes before the next seed's chain starts, so an interrupted multi-day sweep leaves
    /// whole replicates — a table with fewer seeds — rather than whole methods and none of the others.
    case seeds

    /// Launch rank of each plan position (lower first). A stage shared by several trials ranks with its
    /// earliest seed; its inputs are shared by at least the same trials, so they never rank later than it.
    func ranks(_ plan: SweepPlan) -> [Int] {
        switch self {
        case .plan: return Array(plan.stages.indices)
        case .seeds:
            var seedRank: [UInt64: Int] = [:]
            for t in plan.trials where seedRank[t.config.seed] == nil { seedRank[t.config.seed] = seedRank.count }
            let byTrial = Dictionary(uniqueKeysWithValues: plan.trials.map { ($0.index, seedRank[$0.config.seed]!) })
            let key = plan.stages.map { s in s.trials.compactMap { byTrial[$0] }.min() ?? 0 }
            let order = plan.stages.indices.sorted { (key[$0], $0) < (key[$1], $1) }
            var rank = [Int](repeating: 0, count: order.count)
            for (r, i) in order.enumerated() { rank[i] = r }
            return rank
        }
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

/// Runs a sweep plan: registers it in the run database, reconciles what is already done with the disk,
/// and hands every remaining stage to a `StageExecutor` (local worker processes, or Slurm job arrays) in
/// dependency order, until nothing is left that can run. The one scheduling loop for every executor.
///
/// The loop owns the plan's view of the run (each stage's `StageStatus`, which stages may be ready,
/// stages another process holds, verified artifacts); the `RunLedger` writes it to the database; the
/// executor says what happened to the stages it was given.
public final class Scheduler {
    public let plan: SweepPlan
    public let options: RunOptions
    let root: String
    var ledger: RunLedger!
    var executor: (any StageExecutor)!
    var status: [String: StageStatus] = [:]
    var failures: [String: Int] = [:]
    var attempts: [String: Int] = [:]
    var threadsUsed: [String: Int] = [:]
    /// Stages whose directory another process (an earlier scheduler's orphaned worker) holds (HeldStages.swift).
    var held: [String: HeldStage] = [:]
    /// Completed stages whose artifact was fully verified in this run (ArtifactCheck.swift).
    var verifiedArtifacts = Set<String>()
    /// Corrupt-artifact requeues per stage in this run (ArtifactCheck.swift: a stage whose artifact keeps
    /// failing verification fails instead of being requeued forever).
    var corruptRequeues: [String: Int] = [:]
    var stagesRun = 0, failedAttempts = 0
    var failureMessages: [String] = []
    var display: ProgressDisplay!
    var bookkeeping = 0.0
    let stageByID: [String: PlannedStage]
    /// Stages with a Slurm task in flight (`slurm_tasks`) → "JOB_TASK": reconciliation leaves them alone.
    var inFlight: [String: String] = [:]
    /// The last time the scheduler found itself resumed after a suspension (heartbeat ages count from it).
    var resumedAt = 0.0
    /// Launch ranks (`options.order`) of the stages that may be ready to launch (`nextReady` checks lazily);
    /// a stage is pushed when it is queued at reconciliation, when one of its inputs completes and when it
    /// is requeued for a retry, so the first ready stage is found without scanning the plan.
    var candidates = Heap<Int>()
    /// Plan position → launch rank, and rank → position.
    let rank: [Int], positionOfRank: [Int]
    /// Plan position → positions of the stages that take it as an input.
    let dependents: [[Int]]

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
        rank = options.order.ranks(plan)
        var positionOfRank = [Int](repeating: 0, count: rank.count)
        for (i, r) in rank.enumerated() { positionOfRank[r] = i }
        self.positionOfRank = positionOfRank
        executor = options.executor.make(for: self)
    }

    /// The run database (tests and the harness benchmark open it without running).
    var db: RunDatabase! {
        get { ledger?.db }
        set { ledger = newValue.map { RunLedger(root: root, db: $0) } }
    }
    var sweepID: Int64 { ledger.sweepID }
    var sweepLabel: String { ledger.sweepLabel }


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
        ledger = try RunLedger(writerAt: root)
        display = ProgressDisplay(mode: options.display)
        try executor.start()
        inFlight = try ledger.slurmInFlight()
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
        let reused = plan.stages.filter { status[$0.identity]?.isDone ?? false }.count
        for e in executor.startEvents(reused: reused) { display.event(e) }

        var interrupted = false
        while true {
            if interruptRequested != 0 { interrupted = true; try executor.cancel(); break }
            let tick = Date()
            try executor.poll()
            try pollHeld()
            if interruptRequested == 0 { try executor.submit() }
            if try !executor.follows || (executor.isIdle && held.isEmpty) { bookkeeping += Date().timeIntervalSince(tick); break }
            display.render(executor.rows())
            bookkeeping += Date().timeIntervalSince(tick)
            sleepInterruptibly(executor.tick)
        }
        display.render([])
        var summary = RunSummary(
            sweep: sweepLabel, trials: plan.trials.count, trialsCompleted: 0, trialsFailed: 0,
            stagesRun: stagesRun, stagesReused: reused, stagesFailed: 0,
            failedAttempts: failedAttempts, interrupted: interrupted, seconds: 0, bookkeepingSeconds: bookkeeping,
            failures: [], startupSeconds: startup)
        try executor.collect(into: &summary)
        let trialStatus = plan.trials.map { trialState($0.index) }
        summary.trialsCompleted = trialStatus.filter { $0 == .completed }.count
        summary.trialsFailed = trialStatus.filter { $0 == .failed }.count
        summary.stagesFailed = plan.stages.filter { status[$0.identity] == .failed }.count
        summary.failedAttempts = failedAttempts
        summary.failures = failureMessages
        summary.seconds = Date().timeIntervalSince(t0)
        for e in executor.endEvents(summary) { display.event(e) }
        if !interrupted && executor.follows {
            for id in plan.stages.map(\.identity) where status[id] == .failed {
                let s = stageByID[id]!
                display.event("  failed: \(s.displayName) [\(s.shortID)] (\(s.trials.count) trial\(s.trials.count == 1 ? "" : "s")): \(ledger.error(id) ?? "?")")
            }
        }
        return summary
    }

    /// Sleeps `seconds`, waking early when an interrupt was requested.
    func sleepInterruptibly(_ seconds: Double) {
        guard seconds > 0.05 else { usleep(UInt32(max(0, seconds) * 1e6)); return }
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && interruptRequested == 0 { usleep(50_000) }
    }

    // MARK: registration and reconciliation

    func register() throws { try ledger.register(plan, newRevision: options.newRevision) }

    /// Brings the database in line with what is on disk and with the lock we hold: stages left
    /// running by a dead scheduler become stale then queued; complete outputs are adopted; failed
    /// stages stay failed unless `retryFailed`. Stages in Slurm jobs are left to the collector.
    func reconcile() throws {
        try ledger.write { db in
            for s in plan.stages {
                let id = s.identity
                guard let row = try ledger.stageRow(db, id) else { continue }
                var st = row.status
                let done = FileManager.default.fileExists(atPath: stageDir(id) + "/" + StageFiles.done)
                attempts[id] = row.attempts
                failures[id] = row.failures
                threadsUsed[id] = row.threads
                if inFlight[id] != nil { status[id] = st; continue }   // a Slurm job has it; collection updates it
                switch st {
                case .completed, .cached:
                    if !done {
                        st = .queued
                        display.event("note: \(s.displayName) [\(s.shortID)] was complete but its artifacts are gone; it will run again")
                    } else if let changed = ArtifactCheck.stampProblem(stageDir(id), kind: s.kind) {
                        // Touched since it completed: verify fully; a corrupt one runs again.
                        if let bad = ArtifactCheck.verify(stageDir(id), kind: s.kind) {
                            let (note, next) = quarantineArtifact(s, because: bad, foundBy: "at the start of this run (\(changed))")
                            try ledger.recordCorrupt(db, id, status: next, note: note)
                            st = next
                        } else { verifiedArtifacts.insert(id) }
                    }
                case .running, .stale:
                    // A worker of the scheduler that recorded this may still hold the stage: wait for it (HeldStages).
                    if holdIfBusy(id) { st = .running; break }
                    try ledger.interruptOpenAttempts(db, id)
                    st = done ? .completed : .queued
                    if done { adopted(id, try ledger.adoptCompleted(db, id)) }
                case .failed:
                    if done { st = .completed; adopted(id, try ledger.adoptCompleted(db, id)) }
                    else if options.retryFailed { st = .queued; failures[id] = 0 }
                case .queued:
                    if !done && holdIfBusy(id) { st = .running; break }
                    if done {
                        st = (attempts[id] ?? 0) == 0 ? .cached : .completed
                        try ledger.ingest(db, id)
                    }
                }
                status[id] = st
                try ledger.setReconciled(db, id, status: st, failures: failures[id] ?? 0, pid: held[id]?.pid)
            }
            try updateTrials(db, plan.trials.map(\.index))
        }
        for (i, s) in plan.stages.enumerated() where status[s.identity] == .queued { candidates.insert(rank[i]) }
    }

    /// The in-memory side of `RunLedger.adoptCompleted`: the stage failed no more; an attempt row it added counts.
    func adopted(_ id: String, _ addedAttempt: Int?) {
        failures[id] = 0
        if let a = addedAttempt { attempts[id] = max(attempts[id] ?? 0, a) }
    }

    // MARK: scheduling

    func isDone(_ id: String) -> Bool { status[id]?.isDone ?? false }

    /// The first stage in launch order (`options.order`) that is queued, not held, and whose inputs are all
    /// done. Candidates that are not ready are dropped; each is pushed again by the event that can make it
    /// ready (an input completing, a retry), so a sweep costs O(links · log stages), not stages².
    func nextReady() -> PlannedStage? {
        while let r = candidates.min {
            let s = plan.stages[positionOfRank[r]]
            if status[s.identity] == .queued && held[s.identity] == nil && s.inputs.values.allSatisfy(isDone) { return s }
            _ = candidates.removeMin()
        }
        return nil
    }

    /// Queues the stage at plan position `i` and, when it completed, its dependents as launch candidates.
    func markCandidates(after id: String) {
        guard let i = plan.position[id] else { return }
        if status[id] == .queued { candidates.insert(rank[i]) }
        if isDone(id) { for d in dependents[i] { candidates.insert(rank[d]) } }
    }

    /// An executor's report that a stage changed state (completed, requeued, failed, running).
    func stageChanged(_ id: String, to new: StageStatus) {
        status[id] = new
        markCandidates(after: id)
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

    // MARK: trials

    /// A trial's state from its stages' (`TrialStatus(stages:)`, the one rule).
    func trialState(_ index: Int) -> TrialStatus {
        TrialStatus(stages: (plan.links[index] ?? []).map { status[$0.identity] })
    }

    func updateTrials(_ db: Database, _ indices: [Int]) throws {
        try ledger.updateTrials(db, indices, plan: plan) { self.status[$0] }
    }
}

extension Scheduler: ResultsRootUser {}
