import XCTest
import Foundation
import GRDB
@testable import Sweep
import Pipeline
import RunModel

/// End to end against a real Slurm cluster (scripts/slurm/start-cluster.sh: one node on localhost;
/// `.ci/run` starts it and sets RDD_SLURM_E2E=1). Without RDD_SLURM_E2E=1 the test is skipped (XCTSkip);
/// with it, an unreachable cluster is a failure.
final class SlurmClusterTests: XCTestCase {
    /// 9 stages: classifier, a teacher of 40 steps and a distillation of 16 (long enough to be caught
    /// mid-run), three short PD halvings (1024 → 128), pd and rdd students at 64 steps, evaluations of
    /// 16 samples at 64 steps.
    static let spec = """
        {"name": "slurm-e2e", "preset": "tiny",
         "base": {"teacher": {"steps": 40, "batchSize": 8, "warmup": 1},
                  "pd": {"stepsPerHalving": 2, "batchSize": 8, "downTo": 128},
                  "classifier": {"epochs": 1, "batchSize": 256},
                  "distill": {"from": 128, "to": 64, "steps": [16], "batchSize": 8, "diagnosticsEvery": 0,
                              "queue": {"size": 64, "contrastSize": 32, "updateCount": 8}},
                  "evaluation": {"samples": 16, "batchSize": 16, "studentSteps": [64]}},
         "grid": {"distill.method": ["pd", "rdd"]},
         "seeds": [0],
         "execution": {"checkpointEvery": 4, "logEvery": 1, "slurm": {"cpusPerTask": 1, "time": "00:30:00"}}}
        """

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-slurm-e2e-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// A live worker of stage `id` under `root` at step ≥ `minStep`: its pid and environment.
    static func worker(_ root: String, _ id: String, minStep: Int) -> (pid: Int32, env: [String: String])? {
        let dir = root + "/stages/" + id
        guard !FileManager.default.fileExists(atPath: dir + "/done.json"),
              let p = try? String(contentsOfFile: dir + "/progress.json", encoding: .utf8),
              let step = (try? JSONParser.parse(p).value)?["step"]?.intValue, step >= minStep,
              let hb = try? String(contentsOfFile: dir + "/heartbeat", encoding: .utf8),
              let pid = Int32(hb.split(separator: " ").first ?? ""),
              let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), cmd.contains("worker"), cmd.contains(id),
              let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var env: [String: String] = [:]
        for kv in environ.split(separator: 0) {
            let s = String(decoding: kv, as: UTF8.self)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        }
        return (pid, env)
    }

    func rows(_ root: String, _ sql: String, _ args: StatementArguments = []) throws -> [Row] {
        try RunDatabase(readerAt: RunDatabase.path(root: root)).read { try Row.fetchAll($0, sql: sql, arguments: args) }
    }

    func testSweepThroughSlurmWithRequeueAndRetryEqualsLocal() throws {
        guard ProcessInfo.processInfo.environment["RDD_SLURM_E2E"] == "1" else {
            throw XCTSkip("RDD_SLURM_E2E is not 1, so no Slurm cluster is expected and nothing was checked here. "
                          + "`bash scripts/slurm/start-cluster.sh` starts a one-node cluster (as .ci/run does); export the SLURM_CONF it prints and RDD_SLURM_E2E=1.")
        }
        let runner = ProcessSlurmRunner()
        let info = try runner.run(["sinfo", "--noheader", "--format=%T"])
        guard info.status == 0, ["idle", "mixed", "allocated"].contains(where: { info.stdout.contains($0) }) else {
            XCTFail("RDD_SLURM_E2E=1 but the Slurm cluster does not respond (sinfo exit \(info.status)): \(info.stdout) \(info.stderr)")
            return
        }
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        let t0 = Date()
        let plan = try SweepPlan.make(SweepSpec.parse(Self.spec, file: "slurm-e2e.json"))
        let teacher = plan.stages.first { $0.kind == .teacher }!
        let rddDistill = plan.stages.first { $0.kind == .distill && $0.names[0].contains("rdd") }!

        // The reference: the local executor, 2 workers of 1 thread (the Slurm jobs get 1 CPU each).
        let local = tempDir("local"), onSlurm = tempDir("slurm")
        var lo = RunOptions(root: local, workerExecutable: exe)
        lo.display = .quiet
        lo.jobs = 2
        lo.cores = 2
        let ref = try Scheduler(plan: plan, options: lo).run()
        XCTAssertEqual(ref.trialsCompleted, 2)
        let tLocal = Date().timeIntervalSince(t0)

        // Through Slurm, attached. Meanwhile: the teacher's job gets the time-limit warning (USR1 to the
        // batch shell, as --signal=B:USR1@… sends it) mid-stage — it must checkpoint, requeue and resume;
        // the rdd distillation's worker is SIGKILLed mid-stage — a failed attempt, retried from its checkpoint.
        final class Log: @unchecked Sendable { var requeued: String?; var killed: Int32?; var done = false }
        let log = Log()
        let chaos = Thread {
            let deadline = Date().addingTimeInterval(300)
            while !log.done && Date() < deadline && (log.requeued == nil || log.killed == nil) {
                if log.requeued == nil, let w = Self.worker(onSlurm, teacher.identity, minStep: 10),
                   let array = w.env["SLURM_ARRAY_JOB_ID"], let task = w.env["SLURM_ARRAY_TASK_ID"], (w.env["SLURM_RESTART_COUNT"] ?? "0") == "0" {
                    // JOB_TASK: a bare id can name the whole array (the classifier runs in the same one).
                    let job = array + "_" + task
                    _ = try? runner.run(["scancel", "--batch", "--signal=USR1", job])
                    log.requeued = job
                }
                if log.killed == nil, let w = Self.worker(onSlurm, rddDistill.identity, minStep: 3) {
                    kill(w.pid, SIGKILL)
                    log.killed = w.pid
                }
                usleep(20_000)
            }
        }
        chaos.start()
        var so = SlurmRunOptions(runner: runner)
        so.pollInterval = 0.3
        var o = RunOptions(root: onSlurm, workerExecutable: exe)
        o.display = .plain
        o.retries = 2
        o.executor = .slurm
        o.slurm = so
        let s = try Scheduler(plan: plan, options: o).run()
        log.done = true
        while !chaos.isFinished { usleep(10_000) }
        let tSlurm = Date().timeIntervalSince(t0) - tLocal
        XCTAssertNotNil(log.requeued, "the teacher was caught mid-stage and signalled")
        XCTAssertNotNil(log.killed, "the rdd distillation was caught mid-stage and killed")
        XCTAssertEqual(s.trialsCompleted, 2, "\(s.failures)")
        XCTAssertEqual(s.trialsFailed, 0)

        // The teacher: one run interrupted by the requeue, then completed in the same job (restart 1).
        let ta = try rows(onSlurm, "SELECT outcome, last_step FROM attempts WHERE stage = ? ORDER BY attempt", [teacher.identity])
        XCTAssertEqual(ta.map { $0["outcome"] as String }, ["interrupted", "completed"])
        let tt = try rows(onSlurm, "SELECT job_id, restarts, state FROM slurm_tasks WHERE stage = ?", [teacher.identity])
        XCTAssertEqual(tt.count, 1, "requeued within its job, not resubmitted")
        XCTAssertEqual(tt.first?["restarts"], 1)
        XCTAssertTrue(try String(contentsOfFile: onSlurm + "/stages/\(teacher.identity)/worker.log", encoding: .utf8).contains("requeued"))
        // The killed distillation: a failed attempt (signal 9) recorded, then a new job that completed it.
        let da = try rows(onSlurm, "SELECT outcome, signal, last_step FROM attempts WHERE stage = ? ORDER BY attempt", [rddDistill.identity])
        XCTAssertEqual(da.map { $0["outcome"] as String }, ["failed", "completed"])
        XCTAssertEqual(da.first?["signal"], Int(SIGKILL))
        XCTAssertEqual(try rows(onSlurm, "SELECT * FROM slurm_tasks WHERE stage = ?", [rddDistill.identity]).count, 2)
        XCTAssertEqual(try rows(onSlurm, "SELECT * FROM slurm_tasks WHERE finished IS NULL").count, 0)

        // Same numbers as the local executor: every metric but the measurements (wall-clock timings, the loss's peak memory), every evaluation.
        func numbers(_ root: String) throws -> [String] {
            try rows(root, """
                SELECT stage || ' ' || step || ' ' || name || ' ' || quote(value) AS x FROM metrics
                WHERE \(SchedulerTests.computedMetricsSQL) ORDER BY stage, step, name
                """).map { $0["x"] as String }
                + rows(root, "SELECT stage || ' ' || metric || ' ' || quote(value) AS x FROM evaluations ORDER BY stage, metric").map { $0["x"] as String }
        }
        let a = try numbers(local), b = try numbers(onSlurm)
        XCTAssertGreaterThan(a.count, 100)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) where x != y { XCTFail("differs: local \(x) vs Slurm \(y)"); break }
        XCTAssertEqual(try rows(onSlurm, "SELECT * FROM evaluations").count, try rows(local, "SELECT * FROM evaluations").count)

        // The command line: submit detached, status collects, cancel stops the job (the stage stays resumable).
        let cliRoot = tempDir("cli"), specFile = cliRoot + "/long.json"
        try Data(Self.spec.replacingOccurrences(of: "\"steps\": 40", with: "\"steps\": 5000").replacingOccurrences(of: "slurm-e2e", with: "slurm-cli")
            .utf8).write(to: URL(fileURLWithPath: specFile))
        func cli(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args + ["--root", cliRoot]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let d = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: d, as: UTF8.self))
        }
        let (rc, sub) = try cli(["run", specFile, "--executor", "slurm", "--detach", "--display", "plain"])
        XCTAssertEqual(rc, 0, sub)
        XCTAssertTrue(sub.contains("submitted:"), sub)
        var status = ""
        for _ in 0..<100 {   // until the teacher runs
            status = try cli(["status", specFile]).1
            if status.contains("RUNNING on") { break }
            usleep(200_000)
        }
        XCTAssertTrue(status.contains("tasks of this sweep in flight"), status)
        XCTAssertTrue(status.contains("RUNNING on"), status)
        let (crc, cancelled) = try cli(["cancel", specFile])
        XCTAssertEqual(crc, 0, cancelled)
        XCTAssertTrue(cancelled.contains("cancelled job array"), cancelled)
        let after = try cli(["status", specFile]).1
        XCTAssertFalse(after.contains("Slurm:"), after)
        XCTAssertTrue(after.contains("stale"), after)
        let left = try runner.run(["squeue", "--noheader", "--states=PENDING,RUNNING", "--format=%i %j"]).stdout
        XCTAssertFalse(left.contains("slurm-cli"), "no job of the sweep left in the queue: \(left)")
        print(String(format: "SlurmClusterTests: local run %.1f s, Slurm run %.1f s (teacher job %@ requeued, distillation worker %d killed), CLI part %.1f s",
                     tLocal, tSlurm, log.requeued ?? "-", log.killed ?? 0, Date().timeIntervalSince(t0) - tLocal - tSlurm))
    }
}
