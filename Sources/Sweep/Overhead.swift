import Foundation
import Pipeline

/// A spec of one `tiny` teacher stage of `teacherSteps` steps and nothing else (no PD, no
/// distillation, no evaluation), for overhead measurements and scheduler tests.
public func singleTeacherSpec(name: String, teacherSteps: Int, seed: Int = 0) -> String {
    """
    {"name": "\(name)", "preset": "tiny",
     "base": {"chainSeed": \(seed), "teacher": {"steps": \(teacherSteps), "batchSize": 8, "warmup": 2},
              "pd": {"downTo": 1024}, "distill": {"method": "pd", "from": 1024, "to": 1024},
              "evaluation": {"metrics": [], "studentSteps": []}}}
    """
}

/// Times one stage run directly in this process (`Pipeline.runStage`) and through the scheduler
/// (database registration, worker process, heartbeats, ingestion), `repeats` times each, in fresh
/// directories. Returns a report; the difference of medians is the scheduler's per-stage fixed cost.
public func measureSchedulerOverhead(teacherSteps: Int, repeats: Int, scratch: String, workerExecutable: String) throws -> String {
    let fm = FileManager.default
    try? fm.removeItem(atPath: scratch)
    try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    let spec = try SweepSpec.parse(singleTeacherSpec(name: "overhead", teacherSteps: teacherSteps), file: "(overhead)")
    let plan = try SweepPlan.make(spec)
    guard plan.stages.count == 1, let stage = plan.stages.first else { throw PipelineError("overhead spec should have one stage, has \(plan.stages.count)") }
    var direct: [Double] = [], scheduled: [Double] = [], spawnOnly: [Double] = [], bookkeeping: [Double] = [], workerInside: [Double] = []
    for r in 0..<repeats {
        let dir = scratch + "/direct-\(r)"
        let req = StageRequest(kind: stage.kind, config: stage.config, inputs: [:], classifierNetwork: nil, directory: dir)
        let t0 = Date()
        try runStage(req, context: StageContext(directory: dir, checkpointEvery: spec.checkpointEvery, logEvery: spec.logEvery))
        direct.append(Date().timeIntervalSince(t0))

        var o = RunOptions(root: scratch + "/sched-\(r)", workerExecutable: workerExecutable)
        o.display = .quiet
        o.jobs = 1
        let t1 = Date()
        let s = try Scheduler(plan: plan, options: o).run()
        scheduled.append(Date().timeIntervalSince(t1))
        guard s.stagesRun == 1 else { throw PipelineError("scheduled run did not complete its stage: \(s.failures)") }
        bookkeeping.append(s.bookkeepingSeconds)
        if let done = WorkerDone.read(directory: StageFiles.directory(root: o.root, identity: stage.identity)) { workerInside.append(done.seconds) }

        // Process start-up alone: the worker binary with a missing request exits at once.
        let t2 = Date()
        let pid = try Proc.spawn(path: workerExecutable, arguments: [workerExecutable, "worker", scratch + "/missing.json"], env: ProcessInfo.processInfo.environment,
                                 logPath: scratch + "/spawn.log")
        while Proc.reap(pid) == nil { usleep(1000) }
        spawnOnly.append(Date().timeIntervalSince(t2))
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
    let overhead = median(scheduled) - median(direct)
    var out = "one tiny teacher stage of \(teacherSteps) steps, \(repeats) repeats, RDD_THREADS=\(ProcessInfo.processInfo.environment["RDD_THREADS"] ?? "default (cores)") in-process, \(max(1, ProcessInfo.processInfo.activeProcessorCount)) for the worker\n"
    out += "direct (runStage in process): " + direct.map { String(format: "%.3f s", $0) }.joined(separator: ", ") + "\n"
    out += "through the scheduler:        " + scheduled.map { String(format: "%.3f s", $0) }.joined(separator: ", ") + "\n"
    out += "  of which runStage in worker: " + workerInside.map { String(format: "%.3f s", $0) }.joined(separator: ", ") + "\n"
    out += "scheduler bookkeeping (DB, files, spawn, display; no waiting): " + bookkeeping.map { String(format: "%.1f ms", $0 * 1000) }.joined(separator: ", ") + "\n"
    out += "worker process start+exit (empty request): " + spawnOnly.map { String(format: "%.1f ms", $0 * 1000) }.joined(separator: ", ") + "\n"
    out += String(format: "medians: bookkeeping %.1f ms, process start+exit %.1f ms, end-to-end minus runStage in worker %.0f ms\n",
                  median(bookkeeping) * 1000, median(spawnOnly) * 1000, (median(scheduled) - median(workerInside)) * 1000)
    out += String(format: "per-stage fixed overhead (difference of medians): %.0f ms; that is %.3f%% of a 3-minute `small` stage\n", overhead * 1000, overhead / 180 * 100)
    return out
}
