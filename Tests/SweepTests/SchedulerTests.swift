import XCTest
import Foundation
import GRDB
@testable import Sweep
import Pipeline
import Report
import RunModel

/// The scheduler with real worker processes on very small `tiny` trials: cache reuse across sweeps,
/// crash recovery with killed workers, changed specs, failure records, and the CLI end to end.
final class SchedulerTests: XCTestCase {
    /// The `rdd-sweep` executable built next to the test bundle.
    static var executable: String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<3 {
            let p = dir.appendingPathComponent("rdd-sweep").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        for b in Bundle.allBundles {
            let p = URL(fileURLWithPath: b.bundlePath).deletingLastPathComponent().appendingPathComponent("rdd-sweep").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func worker() throws -> String {
        guard let e = Self.executable else {
            // `swift test` builds every product next to the test bundle; a missing worker is a failure, not a skip.
            XCTFail("rdd-sweep executable not found next to the test bundle; build it (swift build --product rdd-sweep) with the same scratch path")
            throw CancellationError()
        }
        return e
    }

    /// SQL condition on the `metrics` table: the computed series, not the measurements (`SeriesName.measurements`:
    /// timings, the loss's peak memory), which vary from run to run. Two runs of the same stages agree on these bit
    /// for bit.
    static let computedMetricsSQL = "name NOT IN (" + SeriesName.measurements.sorted().map { "'\($0)'" }.joined(separator: ", ") + ")"

    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-sweep-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// A tiny trial cut down to a few steps per stage: classifier (1 epoch of 6 batches), teacher,
    /// 3 PD halvings (1024 → 128), one distillation stage (128 → 64), an evaluation of 32 samples.
    static func fastSpec(name: String, methods: [String], seeds: [Int], teacherSteps: Int = 6, extraBase: String = "", checkpointEvery: Int = 2) -> String {
        """
        {"name": "\(name)", "preset": "tiny",
         "base": {"teacher": {"steps": \(teacherSteps), "batchSize": 8, "warmup": 1},
                  "pd": {"stepsPerHalving": 3, "batchSize": 8, "downTo": 128},
                  "classifier": {"epochs": 1, "batchSize": 256},
                  "distill": {"from": 128, "to": 64, "steps": [4], "batchSize": 8, "diagnosticsEvery": 0,
                              "queue": {"size": 64, "contrastSize": 32, "updateCount": 8}},
                  "evaluation": {"samples": 32, "batchSize": 32, "studentSteps": [64]}\(extraBase)},
         "grid": {"distill.method": [\(methods.map { "\"\($0)\"" }.joined(separator: ", "))]},
         "seeds": [\(seeds.map(String.init).joined(separator: ", "))],
         "execution": {"checkpointEvery": \(checkpointEvery), "logEvery": 1}}
        """
    }

    func plan(_ text: String, file: String = "test.json") throws -> SweepPlan { try SweepPlan.make(SweepSpec.parse(text, file: file)) }

    func options(_ root: String, _ exe: String) -> RunOptions {
        var o = RunOptions(root: root, workerExecutable: exe)
        o.display = .quiet
        o.jobs = 2
        o.cores = 2
        return o
    }

    func count(_ root: String, _ sql: String, _ args: StatementArguments = []) throws -> Int {
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        return try db.read { try Int.fetchOne($0, sql: sql, arguments: args) ?? 0 }
    }

    // MARK: cache reuse

    func testSecondSweepReusesSharedStages() throws {
        let exe = try worker()
        let root = tempDir("cache")
        let a = try Scheduler(plan: plan(Self.fastSpec(name: "a", methods: ["pd"], seeds: [0])), options: options(root, exe)).run()
        XCTAssertEqual(a.trialsCompleted, 1)
        XCTAssertEqual(a.stagesRun, 7, "classifier, teacher, 3 PD, distill, eval")
        let pb = try plan(Self.fastSpec(name: "b", methods: ["pd", "rdd"], seeds: [0]))
        let b = try Scheduler(plan: pb, options: options(root, exe)).run()
        XCTAssertEqual(b.trialsCompleted, 2)
        XCTAssertEqual(b.stagesReused, 7, "all of sweep a's stages are sweep b's trial 0")
        XCTAssertEqual(b.stagesRun, 2, "only rdd's distillation and evaluation run")
        // Every shared training stage ran exactly once across both sweeps.
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM attempts a JOIN stages s ON s.identity = a.stage WHERE s.kind IN ('classifier', 'teacher', 'pd')"), 5)
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM stages"), 9)
        // Status of b calls the reused stages cached.
        let status = try Reports(root: root).status(sweep: "b", all: true)
        XCTAssertTrue(status.contains("done 9 (ran 2, cached 7)"), status)
        // Its compute line splits the two stages it ran (by kind) from the seven it reused.
        let compute = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("compute: ") }, status)
        XCTAssertTrue(compute.contains(" run by this sweep (") && compute.contains("distill ") && compute.contains("eval ") && compute.contains(" reused from other sweeps"), String(compute))
        XCTAssertFalse(compute.contains("teacher"), "the teacher was sweep a's: \(compute)")
        // A third run of b does nothing.
        let again = try Scheduler(plan: pb, options: options(root, exe)).run()
        XCTAssertEqual(again.stagesRun, 0)
        XCTAssertEqual(again.trialsCompleted, 2)

        // ETA of a queued evaluation: samples left × seconds per sample of the finished evaluation with the
        // same sampler, steps and metrics (sweep a's, given 640 s for 32 samples here): 32 × 20 s = 10:40.
        let w = try RunDatabase(writerAt: RunDatabase.path(root: root))
        try w.write { db in
            let aID = try Int64.fetchOne(db, sql: "SELECT id FROM sweeps WHERE name = 'a'")
            try db.execute(sql: "UPDATE stages SET seconds = 640 WHERE kind = 'eval' AND ran_by_sweep = ?", arguments: [aID])
            try db.execute(sql: "UPDATE stages SET status = 'queued', last_step = NULL WHERE kind = 'eval' AND ran_by_sweep != ?", arguments: [aID])
        }
        let queued = try Reports(root: root).status(sweep: "b", all: false)
        XCTAssertTrue(queued.contains("ETA ≈ 10:40 ("), queued)
    }

    // MARK: crash recovery

    /// Workers die at random steps (RDD_DIE_AFTER_STEPS → exit 137), are SIGKILLed from outside at random
    /// moments, and the scheduler itself is interrupted; the sweep is rerun until done. It must end
    /// with every trial completed, each stage completed by exactly one attempt, no duplicate metric
    /// rows, and the same numbers as an uninterrupted run.
    func testKilledWorkersResumeToIdenticalResults() throws {
        let exe = try worker()
        let spec = Self.fastSpec(name: "crash", methods: ["pd", "rdd"], seeds: [0], teacherSteps: 10)
        let p = try plan(spec)
        let clean = tempDir("clean"), crashed = tempDir("crashed")
        var o = options(clean, exe)
        o.jobs = 1
        let ref = try Scheduler(plan: p, options: o).run()
        XCTAssertEqual(ref.trialsCompleted, 2)

        var rng = SystemRandomNumberGenerator()
        final class Counter: @unchecked Sendable { var n = 0 }
        let kills = Counter()
        var runs = 0
        var finished = false
        while !finished && runs < 40 {
            runs += 1
            var oc = options(crashed, exe)
            oc.jobs = 1
            oc.retries = 1
            oc.retryFailed = true
            let mode = runs % 3
            if mode == 0 { oc.environment["RDD_DIE_AFTER_STEPS"] = String(Int.random(in: 2...5, using: &rng)) }
            let stop = DispatchSemaphore(value: 0)
            let killer = Thread {
                // Mode 1: SIGKILL a running worker at a random moment; mode 2: also interrupt the scheduler.
                while stop.wait(timeout: .now() + .milliseconds(Int.random(in: 150...700))) == .timedOut {
                    guard mode != 0 else { continue }
                    let stages = (try? FileManager.default.contentsOfDirectory(atPath: crashed + "/stages")) ?? []
                    for s in stages {
                        let dir = crashed + "/stages/" + s
                        guard !FileManager.default.fileExists(atPath: dir + "/done.json"),
                              let hb = try? String(contentsOfFile: dir + "/heartbeat", encoding: .utf8),
                              let pid = Int32(hb.split(separator: " ").first ?? "") else { continue }
                        // Only our own worker of this stage (never a process that reused the pid).
                        guard let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                              cmd.contains("worker"), cmd.contains(s) else { continue }
                        if Bool.random() { kill(pid, SIGKILL); kills.n += 1 }
                    }
                    if mode == 2, Int.random(in: 0..<4) == 0 { interruptRequested = 1 }
                }
            }
            killer.start()
            let s = try Scheduler(plan: p, options: oc).run()
            stop.signal()
            while !killer.isFinished { usleep(10_000) }
            interruptRequested = 0
            finished = s.trialsCompleted == 2
        }
        XCTAssertTrue(finished, "sweep finished within \(runs) runs")
        XCTAssertGreaterThan(runs, 1, "the sweep was interrupted at least once")
        print("crash test: \(runs) runs, \(kills.n) external SIGKILLs")

        // Every trial completed; every stage completed by exactly one attempt.
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM trials WHERE status = 'completed'"), 2)
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM stages WHERE status = 'completed'"), p.stages.count)
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM attempts WHERE outcome = 'completed'"), p.stages.count)
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM (SELECT stage FROM attempts WHERE outcome = 'completed' GROUP BY stage HAVING COUNT(*) > 1)"), 0)
        XCTAssertGreaterThan(try count(crashed, "SELECT COUNT(*) FROM attempts WHERE outcome <> 'completed'"), 0, "some attempts failed or were interrupted")
        // No duplicate metric rows (the unique index makes them impossible; check the count anyway).
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM metrics"), try count(crashed, "SELECT COUNT(*) FROM (SELECT DISTINCT stage, step, name FROM metrics)"))
        // Identical numbers: every metric but wall-clock timings, and every evaluation.
        func rows(_ root: String) throws -> [String] {
            let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
            return try db.read { db in
                // Measurements, not results, vary from run to run and are left out: timings and the loss's peak memory.
                try String.fetchAll(db, sql: """
                    SELECT stage || ' ' || step || ' ' || name || ' ' || quote(value) FROM metrics
                    WHERE \(Self.computedMetricsSQL) ORDER BY stage, step, name
                    """) + String.fetchAll(db, sql: "SELECT stage || ' ' || metric || ' ' || quote(value) FROM evaluations ORDER BY stage, metric")
            }
        }
        let r1 = try rows(clean), r2 = try rows(crashed)
        XCTAssertGreaterThan(r1.count, 50)
        XCTAssertEqual(r1.count, r2.count)
        for (x, y) in zip(r1, r2) where x != y { XCTFail("differs: \(x) vs \(y)"); break }
        XCTAssertEqual(try count(crashed, "SELECT COUNT(*) FROM evaluations"), try count(clean, "SELECT COUNT(*) FROM evaluations"))
    }

    // MARK: failures, changed specs

    func testFailedStageIsRecordedAndOtherTrialsFinish() throws {
        let exe = try worker()
        let root = tempDir("fail")
        // Trial 1 names a CIFAR-10 folder that does not exist: valid configuration, its teacher stage throws.
        let spec = """
            {"name": "f", "preset": "tiny",
             "base": {"teacher": {"steps": 2, "batchSize": 8, "warmup": 1}, "pd": {"stepsPerHalving": 1, "batchSize": 8, "downTo": 512},
                      "distill": {"method": "pd", "from": 512, "to": 256, "steps": [2], "batchSize": 8},
                      "evaluation": {"samples": 8, "batchSize": 8, "studentSteps": [256], "metrics": []}},
             "trials": [{"seed": 0}, {"seed": 1, "dataset": "cifar10", "dataRoot": "/nonexistent/cifar"}]}
            """
        let p = try plan(spec)
        let s = try Scheduler(plan: p, options: options(root, exe)).run()
        XCTAssertEqual(s.trialsCompleted, 1)
        XCTAssertEqual(s.trialsFailed, 1)
        XCTAssertEqual(s.failedAttempts, 1, "a stage that throws is not retried automatically")
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        let row = try db.read { try Row.fetchOne($0, sql: "SELECT * FROM stages WHERE status = 'failed'") }
        XCTAssertEqual(row?["exit_status"] as Int?, Int(WorkerExit.stageError))
        XCTAssertTrue((row?["error"] as String? ?? "").contains("cifar"), "\(String(describing: row))")
        let tail = try db.read { try String.fetchOne($0, sql: "SELECT stderr_tail FROM attempts WHERE outcome = 'failed'") } ?? ""
        XCTAssertTrue(tail.contains("dataRoot") || tail.contains("cifar"), tail)
        let shown = try Reports(root: root).show(trial: "f/1", sweep: nil)
        XCTAssertTrue(shown.contains("failed"), shown)
        XCTAssertTrue(shown.contains("dataset = \"cifar10\""), shown)
        // A rerun does not retry it; retry --failed does (and it fails again the same way).
        let again = try Scheduler(plan: p, options: options(root, exe)).run()
        XCTAssertEqual(again.failedAttempts, 0)
        XCTAssertEqual(again.trialsFailed, 1)
        var o = options(root, exe)
        o.retryFailed = true
        let retried = try Scheduler(plan: p, options: o).run()
        XCTAssertEqual(retried.failedAttempts, 1)
    }

    // MARK: import from another root

    /// Stages computed under another root (another machine, a second root on an idle core) are imported and the
    /// run here adopts them as cached, with the same evaluations; an unfinished local attempt is replaced; a
    /// running scheduler on the destination makes the import refuse.
    func testImportedStagesAreAdoptedAsCached() throws {
        let exe = try worker()
        let other = tempDir("import-src"), root = tempDir("import-dst")
        let p = try plan(Self.fastSpec(name: "a", methods: ["pd"], seeds: [0]))
        XCTAssertEqual(try Scheduler(plan: p, options: options(other, exe)).run().stagesRun, 7)
        // An interrupted local attempt of one stage (a directory without done.json) and a stray unfinished stage there.
        let ids = p.stages.map(\.identity)
        try FileManager.default.createDirectory(atPath: root + "/stages/" + ids[1], withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: root + "/stages/\(ids[1])/partial-attempt"))
        try FileManager.default.createDirectory(atPath: other + "/stages/unfinished", withIntermediateDirectories: true)

        let dry = try StageImport.run(from: other, into: root, dryRun: true)
        XCTAssertEqual(dry.imported.count, 7)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/stages/\(ids[0])"), "a dry run copies nothing")
        do {   // a scheduler holding the root's lock
            let lock = try XCTUnwrap(FileLock.tryLock(root + "/.scheduler.lock"))
            XCTAssertThrowsError(try StageImport.run(from: other, into: root)) { XCTAssertTrue("\($0)".contains("a scheduler"), "\($0)") }
            XCTAssertEqual(try StageImport.run(from: other, into: root, dryRun: true).imported.count, 7, "a dry run may look beside a scheduler")
            withExtendedLifetime(lock) {}
        }

        let s = try StageImport.run(from: other, into: root, link: true)
        XCTAssertEqual(s.imported, ids.sorted())
        XCTAssertEqual(s.replaced, 1)
        XCTAssertEqual(s.unfinishedThere, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/stages/\(ids[1])/partial-attempt"), "the partial attempt is gone")
        XCTAssertEqual(try StageImport.run(from: other, into: root).alreadyHere, 7, "a second import finds everything here")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/stages").filter { $0.hasPrefix(".") }, [], "no temporary directories left")

        let here = try Scheduler(plan: p, options: options(root, exe)).run()
        XCTAssertEqual(here.stagesRun, 0)
        XCTAssertEqual(here.stagesReused, 7)
        XCTAssertEqual(here.trialsCompleted, 1)
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM stages WHERE status = 'cached'"), 7)
        func evals(_ r: String) throws -> [String] {
            try RunDatabase(readerAt: RunDatabase.path(root: r)).read {
                try String.fetchAll($0, sql: "SELECT stage || ' ' || metric || ' ' || quote(value) FROM evaluations ORDER BY stage, metric")
            }
        }
        XCTAssertFalse(try evals(root).isEmpty)
        XCTAssertEqual(try evals(root), try evals(other))
        // Each adopted stage keeps its cost from the worker's done.json: the reports (Fig. 6's peak memory,
        // the term diagnostics' time) and `status` show what the stage took where it ran.
        for id in ids {
            let done = try JSONDecoder().decode(WorkerDone.self, from: try Data(contentsOf: URL(fileURLWithPath: root + "/stages/\(id)/" + StageFiles.done)))
            let row = try XCTUnwrap(try RunDatabase(readerAt: RunDatabase.path(root: root)).read {
                try Row.fetchOne($0, sql: "SELECT seconds, peak_rss_kib, threads FROM stages WHERE identity = ?", arguments: [id])
            })
            XCTAssertEqual(row["seconds"] as Double?, done.seconds, id)
            XCTAssertEqual(row["peak_rss_kib"] as Int?, done.peakRSSKiB, id)
            XCTAssertEqual(row["threads"] as Int?, done.threads.flatMap { Int($0) }, id)
        }
    }

    func testChangedSpecIsRefusedUnlessNew() throws {
        let exe = try worker()
        let root = tempDir("changed")
        let base = """
            {"name": "c", "preset": "tiny",
             "base": {"teacher": {"steps": 2, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}},
             "seeds": [0]}
            """
        _ = try Scheduler(plan: plan(base), options: options(root, exe)).run()
        let changed = base.replacingOccurrences(of: "\"seeds\": [0]", with: "\"seeds\": [0, 1]").replacingOccurrences(of: "\"steps\": 2,", with: "\"steps\": 3,")
        XCTAssertThrowsError(try Scheduler(plan: plan(changed, file: "c2.json"), options: options(root, exe)).run()) { e in
            let m = "\(e)"
            XCTAssertTrue(e is ChangedSpecError, m)
            XCTAssertTrue(m.contains("trials added: 1 [seed=1]"), m)
            XCTAssertTrue(m.contains("configuration changed for trials: 0 [seed=0]"), m)
            XCTAssertTrue(m.contains("--new"), m)
        }
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM trials"), 1, "nothing was mixed in")
        var o = options(root, exe)
        o.newRevision = true
        let s = try Scheduler(plan: plan(changed, file: "c2.json"), options: o).run()
        XCTAssertEqual(s.sweep, "c@2")
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM sweeps"), 2)
        XCTAssertTrue(try Reports(root: root).list().contains("c@2"))
        // gc keeps everything both revisions need; dropping revision 1 frees its teacher.
        XCTAssertTrue(try Reports(root: root).gc(dryRun: false, dropOldRevisions: false).contains("0 of 2 stage directories"))
        let out = try Reports(root: root).gc(dryRun: false, dropOldRevisions: true)
        XCTAssertTrue(out.contains("1 of 2 stage directories removed"), out)
    }

    /// A worker that stops beating (SIGSTOP: alive but silent) is killed after the heartbeat timeout,
    /// recorded as a stale attempt and retried; a second scheduler on the same root is refused.
    func testSilentWorkerIsKilledAndRetried() throws {
        let exe = try worker()
        let root = tempDir("stale")
        let spec = """
            {"name": "s", "preset": "tiny",
             "base": {"teacher": {"steps": 60, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}},
             "execution": {"checkpointEvery": 5, "logEvery": 5}}
            """
        var o = options(root, exe)
        o.heartbeatTimeout = 3
        let stopped = DispatchSemaphore(value: 0)
        let stopper = Thread {
            for _ in 0..<600 {
                usleep(50_000)
                let dirs = (try? FileManager.default.contentsOfDirectory(atPath: root + "/stages")) ?? []
                for d in dirs {
                    guard let p = try? String(contentsOfFile: root + "/stages/" + d + "/progress.json", encoding: .utf8), p.contains("\"step\""),
                          let hb = try? String(contentsOfFile: root + "/stages/" + d + "/heartbeat", encoding: .utf8),
                          let pid = Int32(hb.split(separator: " ").first ?? ""),
                          let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), cmd.contains(d) else { continue }
                    kill(pid, SIGSTOP)
                    stopped.signal()
                    return
                }
            }
            stopped.signal()
        }
        stopper.start()
        let s = try Scheduler(plan: plan(spec), options: o).run()
        XCTAssertEqual(s.trialsCompleted, 1)
        XCTAssertEqual(s.failedAttempts, 1)
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        let a = try db.read { try Row.fetchAll($0, sql: "SELECT outcome, signal FROM attempts ORDER BY attempt") }
        XCTAssertEqual(a.map { $0["outcome"] as String }, ["stale", "completed"])
        XCTAssertEqual(a.first?["signal"] as Int?, Int(SIGKILL))
        let err = try db.read { try String.fetchOne($0, sql: "SELECT stderr_tail FROM attempts WHERE outcome = 'stale'") }
        XCTAssertNotNil(err)
        let shown = try Reports(root: root).show(trial: "0", sweep: "s")
        XCTAssertTrue(shown.contains("stale"), shown)

        // A second scheduler on a root whose lock is held is refused at once.
        let held = FileLock.tryLock(root + "/.scheduler.lock")
        XCTAssertNotNil(held)
        XCTAssertThrowsError(try Scheduler(plan: plan(spec), options: o).run()) { e in
            XCTAssertTrue("\(e)".contains("another `rdd-sweep run`"), "\(e)")
        }
        withExtendedLifetime(held) {}
    }

    // MARK: the CLI end to end

    @discardableResult
    func cli(_ args: [String], expect code: Int32 = 0) throws -> String {
        let exe = try worker()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: Self.repo)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, code, "rdd-sweep \(args.joined(separator: " ")):\n\(text)")
        return text
    }

    func testCommandLineRunStatusExport() throws {
        _ = try worker()
        let root = tempDir("cli")
        let spec = "experiments/tiny/smoke.json"
        let plan1 = try cli(["plan", spec, "--root", root])
        XCTAssertTrue(plan1.contains("4 trials over distill.method, seed"), plan1)
        XCTAssertTrue(plan1.contains("to run"), plan1)
        // --threads sets every worker's RDD_THREADS (here more threads in all than 2 cores: allowed, noted).
        let run = try cli(["run", spec, "--root", root, "--jobs", "2", "--threads", "2", "--display", "plain"])
        XCTAssertTrue(run.contains("4/4 trials completed"), run)
        XCTAssertTrue(run.contains("2 jobs × RDD_THREADS=2"), run)
        XCTAssertEqual(try count(root, "SELECT COUNT(*) FROM stages WHERE threads IS NOT 2"), 0, "every stage ran with --threads 2")
        XCTAssertTrue(try cli(["run", spec, "--root", root, "--threads", "0"], expect: 2).contains("--threads must be ≥ 1, got 0"))
        XCTAssertTrue(try cli(["run", spec, "--root", root, "--threads", "2", "--executor", "slurm"], expect: 2).contains("Slurm workers use --cpus-per-task"))
        let status = try cli(["status", spec, "--root", root])
        XCTAssertTrue(status.contains("trials: 4 — completed 4"), status)
        let csv = try cli(["export", "--root", root, "--format", "csv"])
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, csv)
        XCTAssertEqual(lines[0], "sweep,trial,status,distill.method,seed,student@1/classifier_score,student@1/classifier_score_std,student@1/fid_classifier,student@1/kid_classifier")
        XCTAssertTrue(lines[1].hasPrefix("tiny-smoke@1,0,completed,pd,0,"), csv)
        XCTAssertTrue(lines[4].hasPrefix("tiny-smoke@1,3,completed,rdd,1,"), csv)
        XCTAssertEqual(try cli(["export", "--root", root, "--format", "csv"]), csv, "deterministic")
        let json = try cli(["export", "--root", root, "--format", "json"])
        XCTAssertTrue(json.contains("\"label\""), json)
        // --preset selects the sweeps of a report export; a preset with no sweep says which exist.
        let report = root + "/export.json"
        _ = try cli(["export", "--root", root, "--format", "report", "--preset", "tiny", "--output", report])
        XCTAssertEqual(try RunExport.load(path: report).trials.count, 4)
        XCTAssertTrue(try cli(["export", "--root", root, "--format", "report", "--preset", "small"], expect: 4).contains("presets here: tiny"))
        XCTAssertTrue(try cli(["export", "--root", root, "--format", "csv", "--preset", "tiny"], expect: 4).contains("--format report"))
        let show = try cli(["show", "tiny-smoke/3", "--root", root])
        XCTAssertTrue(show.contains("student@1"), show)
        let plan2 = try cli(["plan", spec, "--root", root, "--no-stages"])
        XCTAssertTrue(plan2.contains("done"), plan2)
        XCTAssertFalse(plan2.contains("to run,"), plan2)
        XCTAssertTrue(try cli(["list", "--root", root]).contains("tiny-smoke@1"))
        XCTAssertTrue(try cli(["gc", "--root", root, "--dry-run"]).contains("0 of"))
        // Errors surface with their exit status: a bad spec (2) and an unknown sweep.
        let badSpec = root + "/bad.json"
        try Data(#"{"name": "x", "preset": "tiny", "grid": {"distill.alpah": [1]}}"#.utf8).write(to: URL(fileURLWithPath: badSpec))
        XCTAssertTrue(try cli(["run", badSpec, "--root", root], expect: 2).contains("did you mean 'distill.alpha'"))
        XCTAssertTrue(try cli(["status", "--sweep", "tiny-smok", "--root", root], expect: 4).contains("did you mean 'tiny-smoke'"))
    }

    /// Issue 7 "Show": the tiny Table 3 ablation (all six loss configurations, 8 → 4 → 2 → 1) end to end through the
    /// command line — `run`, `status`, `export` — and `rdd-report table3` on the run database it leaves. The CI-sized
    /// spec cuts every stage to a few steps; the shared classifier / teacher / PD chain runs once for six trials.
    func testTinyAblationSpecEndToEnd() throws {
        let root = tempDir("ablation-ci")
        let spec = "experiments/tiny/ablation-ci.json"
        let methods = ["pd", "rcfd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "rdd"]
        let run = try cli(["run", spec, "--root", root, "--jobs", "2", "--display", "plain"])
        XCTAssertTrue(run.contains("6/6 trials completed, 0 failed"), run)
        // 1 classifier + 1 teacher + 7 PD halvings (1024 → 8) shared; per trial 3 distillation stages + 1 evaluation.
        XCTAssertTrue(run.contains("\(1 + 1 + 7 + 6 * 4) stages run now"), run)
        let status = try cli(["status", spec, "--root", root])
        XCTAssertTrue(status.contains("trials: 6 — completed 6"), status)
        let lines = try cli(["export", "--root", root, "--format", "csv"]).split(separator: "\n")
        XCTAssertEqual(lines.count, 7)
        for (i, m) in methods.enumerated() { XCTAssertTrue(lines[i + 1].hasPrefix("tiny-ablation-ci@1,\(i),completed,\(m),0,"), String(lines[i + 1])) }
        let report = try XCTUnwrap(ReportFromDatabaseTests.executable("rdd-report"), "rdd-report next to the test bundle")
        let t3 = try ReportFromDatabaseTests.run(report, ["table3", "--db", root + "/runs.sqlite"])
        XCTAssertEqual(t3.code, 0, t3.out)
        for m in methods { XCTAssertTrue(t3.out.contains("| `\(m)`") || t3.out.contains("| `\(m)`,"), "table3 row for \(m):\n\(t3.out)") }
        XCTAssertFalse(t3.out.contains("missing"), t3.out)
        XCTAssertTrue(t3.out.contains("[n=1]"), t3.out)
    }

    /// A sweep stopped as a whole (scheduler and worker SIGSTOPped longer than the heartbeat timeout, as a suspended
    /// machine or `kill -STOP` does) resumes without killing its healthy worker as silent.
    func testSuspendedSweepKeepsItsWorker() throws {
        let exe = try worker()
        let root = tempDir("suspend")
        let specPath = root + "/spec.json"
        try Data("""
            {"name": "s", "preset": "tiny",
             "base": {"teacher": {"steps": 400, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}},
             "execution": {"checkpointEvery": 50, "logEvery": 5}}
            """.utf8).write(to: URL(fileURLWithPath: specPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["run", specPath, "--root", root, "--heartbeat-timeout", "4", "--display", "plain"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        // Wait for the teacher's worker to report progress, then stop both processes for 7 s (> the 4 s timeout).
        var workerPID: Int32?
        for _ in 0..<1200 where workerPID == nil {
            usleep(50_000)
            for d in (try? FileManager.default.contentsOfDirectory(atPath: root + "/stages")) ?? [] {
                if let prog = try? String(contentsOfFile: root + "/stages/" + d + "/progress.json", encoding: .utf8), prog.contains("\"step\""),
                   let hb = try? String(contentsOfFile: root + "/stages/" + d + "/heartbeat", encoding: .utf8),
                   let pid = Int32(hb.split(separator: " ").first ?? "") { workerPID = pid }
            }
        }
        let w = try XCTUnwrap(workerPID, "a worker started")
        kill(p.processIdentifier, SIGSTOP); kill(w, SIGSTOP)
        sleep(7)
        kill(w, SIGCONT); kill(p.processIdentifier, SIGCONT)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("heartbeat ages restart now"), text)
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        let outcomes = try db.read { try String.fetchAll($0, sql: "SELECT outcome FROM attempts") }
        XCTAssertFalse(outcomes.contains("stale"), "\(outcomes)\n\(text)")
        XCTAssertEqual(outcomes.filter { $0 == "completed" }.count, outcomes.count, "\(outcomes)")
    }
}
