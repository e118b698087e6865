import Foundation
import Pipeline
import Checkpoint
import Report
#if canImport(Glibc)
import Glibc
#endif

/// Files a stage directory holds besides the stage's own outputs (final.h5 / result.json,
/// checkpoint.h5, journal.jsonl, samples.h5). A classifier stage's directory also gets `reference-stats/`,
/// the cached reference statistics its evaluations compute (docs/metrics.md).
public enum StageFiles {
    public static let request = "request.json"
    public static let done = "done.json"
    public static let progress = "progress.json"
    public static let heartbeat = "heartbeat"
    public static let log = "worker.log"
    public static let lock = ".lock"
    public static let meta = "stage.json"
    /// Why a worker stopped without completing, when it knows (`WorkerExitRecord`): the Slurm
    /// executor reads it when Slurm has already forgotten the job's exit status.
    public static let exit = "exit.json"
    /// The stages' folder of a results root: one directory per stage identity.
    public static let stagesFolder = "stages"

    /// `<root>/stages/<identity>`: where a stage's artifacts live (docs/architecture.md, "A results root is
    /// self-contained and movable"). The one definition of the layout.
    public static func directory(root: String, identity: String) -> String { root + "/" + stagesFolder + "/" + identity }
}

/// Something that works on one results root: it finds a stage's directory by identity (`StageFiles.directory`).
protocol ResultsRootUser {
    var root: String { get }
}

extension ResultsRootUser {
    func stageDir(_ identity: String) -> String { StageFiles.directory(root: root, identity: identity) }
}

/// Exit statuses of `rdd-sweep worker`.
public enum WorkerExit {
    /// The stage threw (bad data path, non-finite loss, …): deterministic, not retried automatically.
    public static let stageError: Int32 = 3
    /// Bad request file or arguments.
    public static let usage: Int32 = 64
    /// The scheduler that started this worker died; the stage stops and resumes later from its checkpoint.
    public static let orphaned: Int32 = 70
    /// Another worker holds this stage directory.
    public static let busy: Int32 = 75
    /// A Slurm worker was signalled (preemption, time-limit warning, scancel): it saved a checkpoint
    /// and stopped; for a warning signal it first asked Slurm to requeue its job.
    public static let requeued: Int32 = 76
}

/// `exit.json`: a worker's own record of a deliberate non-zero exit (the stage threw, or it stopped on
/// a signal), so the reason survives Slurm forgetting the job.
public struct WorkerExitRecord: Codable, Equatable {
    public var status: Int32
    public var reason: String
    public var step: Int?
    public var time: Double
}

/// The signal that asked a Slurm worker to stop (0: none yet). Set by its signal handler.
nonisolated(unsafe) var workerStopSignal: Int32 = 0

/// What a worker writes last (`done.json`): the stage is complete when this file exists.
public struct WorkerDone: Codable, Equatable {
    public var seconds: Double
    public var peakRSSKiB: Int?
    public var finished: Double
    public var pid: Int32
    public var codeVersion: String
    public var threads: String?
    /// Which build and machine computed the stage (`Provenance.current()` of the completing worker);
    /// nil in done.json files written before it was recorded.
    public var provenance: Provenance?
    /// Size and modification time of the stage's artifact (final.h5 or result.json) when it completed:
    /// `ArtifactCheck.stampProblem` compares them (absent in done.json files of older workers).
    public var artifactSize: Int? = nil
    public var artifactModified: Double? = nil

    /// The `done.json` of the stage directory `directory`, or nil when it is absent or unreadable.
    public static func read(directory: String) -> WorkerDone? {
        FileManager.default.contents(atPath: directory + "/" + StageFiles.done).flatMap { try? JSONDecoder().decode(WorkerDone.self, from: $0) }
    }
}

/// The worker: runs one stage request (`StageRequest` JSON) in this process. It takes the stage
/// directory's lock, touches `heartbeat` every second (and exits if its parent scheduler is gone),
/// writes `progress.json` as steps complete, calls `Pipeline.runStage`, and on success writes
/// `done.json`. Returns the exit status.
///
/// With `slurm` (the executor's job script passes `--slurm`), SIGUSR1/SIGUSR2/SIGINT (the `--signal`
/// warning before the time limit) and SIGTERM (preemption, scancel) make the training loop save a
/// checkpoint at the next step boundary and stop; for a warning signal the worker then runs
/// `scontrol requeue $SLURM_ARRAY_JOB_ID_$SLURM_ARRAY_TASK_ID`, so the job goes back to the queue and resumes from that checkpoint.
/// For SIGTERM Slurm decides (a preemption with requeue requeues the job; scancel ends it). A stage
/// without a training loop (evaluation) stops at once; a loop that does not reach a step boundary
/// within 60 s is stopped too (resuming from its last periodic checkpoint).
public func runWorker(requestPath: String, checkpointEvery: Int, logEvery: Int, slurm: Bool = false) -> Int32 {
    let request: StageRequest
    do {
        request = try JSONDecoder().decode(StageRequest.self, from: Data(contentsOf: URL(fileURLWithPath: requestPath)))
    } catch {
        FileHandle.standardError.write(Data("rdd-sweep worker: cannot read request '\(requestPath)': \(error)\n".utf8))
        return WorkerExit.usage
    }
    let dir = request.directory
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    guard let lock = FileLock.tryLock(dir + "/" + StageFiles.lock) else {
        FileHandle.standardError.write(Data("rdd-sweep worker: another worker is running the stage in '\(dir)'\n".utf8))
        return WorkerExit.busy
    }
    lock.writeOwner("\(getpid())\n")
    try? FileManager.default.removeItem(atPath: dir + "/" + StageFiles.done)
    try? FileManager.default.removeItem(atPath: dir + "/" + StageFiles.exit)
    if slurm {
        workerStopSignal = 0
        for sig in [SIGUSR1, SIGUSR2, SIGINT, SIGTERM] { signal(sig) { workerStopSignal = $0 } }
    }
    final class StepBox: @unchecked Sendable { var step: Int? }
    let last = StepBox()   // the last completed step (read by the heartbeat thread)

    let parent = getppid()
    let heartbeatPath = dir + "/" + StageFiles.heartbeat
    Heartbeat.write(heartbeatPath, step: nil)
    let beat = Thread {
        var stopSeen: Date?
        while true {
            Thread.sleep(forTimeInterval: slurm && workerStopSignal != 0 ? 0.25 : 1)
            if slurm, workerStopSignal != 0 {
                let since = stopSeen ?? Date()
                stopSeen = since
                if request.kind == .eval || Date().timeIntervalSince(since) > 60 {
                    _exit(stopForSlurm(dir: dir, step: last.step, note: request.kind == .eval ? "evaluation resumes from its last saved batch of samples (sampling.h5)" : "no step boundary within 60 s"))
                }
            }
            if parent != 1 && getppid() != parent {
                FileHandle.standardError.write(Data("rdd-sweep worker: scheduler (pid \(parent)) is gone; stopping (the stage resumes from its checkpoint)\n".utf8))
                _exit(WorkerExit.orphaned)
            }
            Heartbeat.write(heartbeatPath, step: last.step)
        }
    }
    beat.start()
    let hangAt = Heartbeat.testHangStep(directory: dir)

    let progressPath = dir + "/" + StageFiles.progress
    var lastWrite = 0.0
    let start = Date()
    var lastTotal = 0
    func writeProgress(step: Int, total: Int, time: Double, metrics: [(String, Double)], phase: String?) {
        var m: [(String, JSON)] = []
        for (k, v) in metrics where v.isFinite { m.append((k, .double(v))) }
        var fields: [(String, JSON)] = [("step", .int(Int64(step))), ("total", .int(Int64(total))), ("time", .double(time)), ("metrics", .object(m))]
        if let phase { fields.append(("phase", .string(phase))) }
        Proc.quickWrite(JSON.object(fields).serialized(), to: progressPath)
    }
    var ctx = StageContext(directory: dir, checkpointEvery: checkpointEvery, logEvery: logEvery) { step, total, metrics in
        last.step = step
        if step == hangAt { Heartbeat.hangForTest(step: step) }
        lastTotal = total
        let now = Date().timeIntervalSince1970
        guard now - lastWrite >= 0.25 || step == total else { return }
        lastWrite = now
        writeProgress(step: step, total: total, time: now, metrics: metrics, phase: nil)
    }
    ctx.phase = { name in
        lastWrite = Date().timeIntervalSince1970
        let step = last.step ?? lastTotal
        writeProgress(step: step, total: max(lastTotal, step), time: lastWrite, metrics: [], phase: name)
    }
    if slurm { ctx.stopRequested = { workerStopSignal != 0 } }
    print("rdd-sweep worker pid \(getpid()): \(request.kind.rawValue) stage in \(dir), RDD_THREADS=\(ProcessInfo.processInfo.environment["RDD_THREADS"] ?? "default")")
    fflush(stdout)
    chooseCheckpoint(directory: dir)
    prepareJournalForResume(directory: dir)
    do {
        try runStage(request, context: ctx)
        try finishJournal(directory: dir)
    } catch let e as StageInterrupted where slurm {
        return stopForSlurm(dir: dir, step: e.step, note: "checkpoint saved at step \(e.step)")
    } catch {
        FileHandle.standardError.write(Data("rdd-sweep worker: stage failed: \(error)\n".utf8))
        writeExitRecord(dir: dir, WorkerExitRecord(status: WorkerExit.stageError, reason: "stage failed: \(error)", step: last.step, time: Date().timeIntervalSince1970))
        return WorkerExit.stageError
    }
    let artifact = ArtifactCheck.stamp(ArtifactCheck.artifact(dir, kind: request.kind))
    let done = WorkerDone(seconds: Date().timeIntervalSince(start), peakRSSKiB: Proc.peakRSSKiB(getpid()),
                          finished: Date().timeIntervalSince1970, pid: getpid(), codeVersion: CodeVersion.string,
                          threads: ProcessInfo.processInfo.environment["RDD_THREADS"], provenance: .current(),
                          artifactSize: artifact?.size, artifactModified: artifact?.modified)
    do {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try atomicWrite(try enc.encode(done), to: dir + "/" + StageFiles.done)
    } catch {
        FileHandle.standardError.write(Data("rdd-sweep worker: cannot write done.json: \(error)\n".utf8))
        return WorkerExit.stageError
    }
    try? FileManager.default.removeItem(atPath: dir + "/" + previousCheckpointName)
    print("rdd-sweep worker: done in \(String(format: "%.2f", done.seconds)) s, peak RSS \(done.peakRSSKiB ?? 0) KiB")
    withExtendedLifetime(lock) {}
    return 0
}

/// Writes `exit.json` (best effort).
func writeExitRecord(dir: String, _ r: WorkerExitRecord) {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    if let d = try? enc.encode(r) { try? atomicWrite(d, to: dir + "/" + StageFiles.exit) }
}

/// A Slurm worker stopping on a signal: for a warning signal (not SIGTERM) asks Slurm to requeue its
/// job, records `exit.json`, and returns `WorkerExit.requeued`.
///
/// The stop is written (log line and `exit.json`) *before* `scontrol requeue` runs: Slurm ends a job it
/// requeues, and a worker killed while it waits for scontrol must still leave the record of why it
/// stopped. If it survives scontrol, the outcome is appended to the log and the record rewritten with it.
func stopForSlurm(dir: String, step: Int?, note: String) -> Int32 {
    let sig = workerStopSignal
    var what = "stopped by \(Proc.signalName(sig)) (\(note))"
    func record(_ line: String) {
        FileHandle.standardError.write(Data("rdd-sweep worker: \(line)\n".utf8))
        writeExitRecord(dir: dir, WorkerExitRecord(status: WorkerExit.requeued, reason: what, step: step, time: Date().timeIntervalSince1970))
    }
    // The task as ARRAYJOB_TASK: an array task's own SLURM_JOB_ID can equal the array's job id, which
    // scontrol would take as the whole array.
    let env = ProcessInfo.processInfo.environment
    let task = env["SLURM_ARRAY_JOB_ID"].flatMap { a in env["SLURM_ARRAY_TASK_ID"].map { "\(a)_\($0)" } } ?? env["SLURM_JOB_ID"]
    guard sig != SIGTERM, let job = task, job.range(of: "^[0-9]+(_[0-9]+)?$", options: .regularExpression) != nil else {
        record(what)
        return WorkerExit.requeued
    }
    what += "; job \(job) to be requeued (scontrol requeue \(job))"
    record(what)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["scontrol", "requeue", job]
    let outcome: String
    do {
        try p.run()
        p.waitUntilExit()
        outcome = p.terminationStatus == 0 ? "job \(job) requeued" : "`scontrol requeue \(job)` failed with exit status \(p.terminationStatus)"
    } catch { outcome = "cannot run scontrol: \(error)" }
    what += "; " + outcome
    record(outcome)
    return WorkerExit.requeued
}

// MARK: - Falling back when the latest checkpoint cannot be read

/// Before a stage resumes: when `checkpoint.h5` cannot be read (checksum, truncated, not HDF5), it is
/// moved to `checkpoint.corrupt.h5` and the previous checkpoint (`checkpoint.prev.h5`, which
/// `TrainingState.save` keeps) takes its place; when that cannot be read either, the stage starts
/// afresh (its journal too). Also completes a save interrupted between its two renames.
func chooseCheckpoint(directory dir: String) {
    let ck = dir + "/checkpoint.h5", prev = dir + "/" + previousCheckpointName
    let fm = FileManager.default
    func problem(_ p: String) -> String? { do { _ = try Checkpoint.load(from: p); return nil } catch { return "\(error)" } }
    func say(_ s: String) { FileHandle.standardError.write(Data("rdd-sweep worker: \(s)\n".utf8)) }
    if !fm.fileExists(atPath: ck) {
        if fm.fileExists(atPath: prev), problem(prev) == nil { _ = rename(prev, ck) }
        return
    }
    guard let bad = problem(ck) else { return }
    _ = rename(ck, dir + "/checkpoint.corrupt.h5")
    if fm.fileExists(atPath: prev), problem(prev) == nil {
        _ = rename(prev, ck)
        let step = (try? Checkpoint.inspect(ck)).flatMap { i -> Int64? in if case .int(let s)? = i.attributes["step"] { return s }; return nil }
        say("checkpoint.h5 cannot be read (\(bad)); kept as checkpoint.corrupt.h5, resuming from the previous checkpoint\(step.map { " (step \($0))" } ?? "")")
    } else {
        try? fm.removeItem(atPath: prev)
        try? fm.removeItem(atPath: dir + "/journal.jsonl")
        try? fm.removeItem(atPath: dir + "/journal.kept")
        say("checkpoint.h5 cannot be read (\(bad)) and there is no readable previous checkpoint; kept as checkpoint.corrupt.h5, starting afresh")
    }
}

// MARK: - Exact journals across resumes (workaround)

/// Complete lines of a text file.
private func rawLines(_ path: String) -> [String] {
    guard let d = FileManager.default.contents(atPath: path) else { return [] }
    var lines = String(decoding: d, as: UTF8.self).components(separatedBy: "\n")
    lines.removeLast()   // the part after the last newline: empty or a torn line
    return lines.filter { !$0.isEmpty }
}

/// Lines in order, the first of each (step, name), optionally only steps below `limit`.
private func dedupe(_ lines: [String], below limit: Int? = nil) -> [String] {
    var seen = Set<String>(), out: [String] = []
    for l in lines {
        guard let e = Journal.parse(Substring(l)), limit.map({ e.step < $0 }) ?? true else { continue }
        if seen.insert("\(e.step)\t\(e.name)").inserted { out.append(l) }
    }
    return out
}

/// `Pipeline.Journal(resumeFrom:)` rewrites the lines it keeps through JSONSerialization, whose Linux
/// number parsing is 1–3 ulp off for some values, so a resumed stage's journal would not be identical
/// to an uninterrupted one. Until Pipeline keeps the lines verbatim, the worker does it: before a
/// resumed stage starts, the lines below the checkpoint's step are kept as written in `journal.kept`
/// and the stage starts an empty `journal.jsonl`; after it completes, `journal.jsonl` = kept + new.
func prepareJournalForResume(directory dir: String) {
    let jp = dir + "/journal.jsonl", kp = dir + "/journal.kept", ck = dir + "/checkpoint.h5"
    guard FileManager.default.fileExists(atPath: ck), let info = try? Checkpoint.inspect(ck),
          case .int(let step)? = info.attributes["step"] else { return }
    let kept = dedupe(rawLines(kp) + rawLines(jp), below: Int(step))
    do {
        try atomicWrite(Data(kept.map { $0 + "\n" }.joined().utf8), to: kp)
        try? FileManager.default.removeItem(atPath: jp)
    } catch {
        FileHandle.standardError.write(Data("rdd-sweep worker: cannot keep the journal before resuming: \(error)\n".utf8))
    }
}

/// Puts the kept lines back in front of the stage's new journal lines (see `prepareJournalForResume`).
func finishJournal(directory dir: String) throws {
    let jp = dir + "/journal.jsonl", kp = dir + "/journal.kept"
    guard FileManager.default.fileExists(atPath: kp) else { return }
    let merged = dedupe(rawLines(kp) + rawLines(jp))
    try atomicWrite(Data(merged.map { $0 + "\n" }.joined().utf8), to: jp)
    try FileManager.default.removeItem(atPath: kp)
}
