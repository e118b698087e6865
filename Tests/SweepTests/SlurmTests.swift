import XCTest
import Foundation
import GRDB
@testable import Sweep
import Pipeline
import Checkpoint
import RunModel

/// A Slurm that records every command and answers from what the test set: `sbatch` returns job ids
/// 100, 101, …; `squeue` prints the lines in `queue` for the jobs asked about; `scontrol show job`
/// prints `scontrol[id]` or "Invalid job id"; `scancel` succeeds.
final class MockSlurm: SlurmCommandRunner {
    var calls: [[String]] = []
    /// Script text of every sbatch call, in order.
    var scripts: [String] = []
    var nextJob = 100
    /// "JOB_TASK" → one squeue line (SlurmClient.squeueFormat).
    var queue: [String: String] = [:]
    var scontrol: [String: String] = [:]

    func run(_ a: [String]) throws -> CommandResult {
        calls.append(a)
        switch a[0] {
        case "sbatch":
            scripts.append(try String(contentsOfFile: a.last!, encoding: .utf8))
            defer { nextJob += 1 }
            return CommandResult(status: 0, stdout: "\(nextJob)\n")
        case "squeue":
            let jobs = Set(a.first { $0.hasPrefix("--jobs=") }!.dropFirst(7).split(separator: ",").map(String.init))
            let lines = queue.filter { jobs.contains(String($0.key.prefix { $0 != "_" })) }.sorted { $0.key < $1.key }.map(\.value)
            if lines.isEmpty { return CommandResult(status: 1, stdout: "", stderr: "slurm_load_jobs error: Invalid job id specified\n") }
            return CommandResult(status: 0, stdout: lines.map { $0 + "\n" }.joined())
        case "scontrol":
            if let t = scontrol[a.last!] { return CommandResult(status: 0, stdout: t) }
            return CommandResult(status: 1, stdout: "", stderr: "slurm_load_jobs error: Invalid job id specified\n")
        default:
            return CommandResult(status: 0, stdout: "")
        }
    }

    /// A squeue line: task `key` ("100_0") in `state`.
    func set(_ key: String, _ state: String, reason: String = "None", exit raw: Int = 0, restarts: Int = 0, jobID: String = "500") {
        let code = ["PENDING": "PD", "RUNNING": "R", "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA"][state] ?? "?"
        queue[key] = "\(key)|\(jobID)|\(code)|\(state)|\(reason)|\(raw)|\(restarts)|\(state == "PENDING" ? "" : "vm")|"
    }
}

final class SlurmTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/slurm").path

    /// Compares `text` with a committed golden file (RDD_UPDATE_GOLDEN=1 rewrites it).
    func assertGolden(_ text: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let path = Self.fixtures + "/" + name
        if ProcessInfo.processInfo.environment["RDD_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(atPath: Self.fixtures, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        let golden = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text, golden, "differs from \(path) (RDD_UPDATE_GOLDEN=1 rewrites it after review)", file: file, line: line)
    }

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-slurm-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    static let idA = String(repeating: "a", count: 64), idB = String(repeating: "0123456789abcdef", count: 4)

    // MARK: golden scripts

    func testScriptWithDependenciesMatchesGolden() throws {
        let job = SlurmArrayJob(
            sweep: "tiny-smoke@1", jobName: "rdd.tiny-smoke.distill-rdd-1+1",
            tasks: [.init(identity: Self.idA, name: "distill-rdd-1", threads: 2), .init(identity: Self.idB, name: "distill-cfd+ii_p2p-1", threads: 1)],
            resources: SlurmSettings().resources(for: .distill, flags: SlurmResources(partition: "gpu,cpu", account: "proj-1", cpusPerTask: 2, mem: "4G",
                                                                                        time: "1-12:00:00", throttle: 4, options: ["--constraint=avx2", "--exclusive"])),
            dependencies: ["12_0", "13_4"], root: "/scratch/rdd results", logDirectory: "/scratch/rdd results/slurm/tiny-smoke",
            workerExecutable: "/opt/rdd/bin/rdd-sweep", checkpointEvery: 100, logEvery: 10)
        XCTAssertEqual(job.problems(), [])
        try assertGolden(job.render(), "array-with-dependencies.sbatch")
    }

    func testScriptQuotesPathsForTheShell() throws {
        // A single quote and a '$' in the root: the shell must see them literally.
        let job = SlurmArrayJob(sweep: "s@2", jobName: "rdd.s.teacher", tasks: [.init(identity: Self.idA, name: "teacher", threads: 1)],
                                resources: SlurmResources.defaults, dependencies: [], root: "/tmp/it's $HOME", logDirectory: "/tmp/it's $HOME/slurm/s",
                                workerExecutable: "/usr/local/bin/rdd-sweep", checkpointEvery: 5, logEvery: 1)
        XCTAssertEqual(job.problems(), [])
        let text = job.render()
        XCTAssertTrue(text.contains(#"ROOT='/tmp/it'\''s $HOME'"#), text)
        XCTAssertFalse(text.contains("--dependency"), "no dependency line without inputs in flight")
        try assertGolden(text, "single-stage.sbatch")
        // bash itself reads ROOT back unchanged.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", text.components(separatedBy: "\n").first { $0.hasPrefix("ROOT=") }! + "; printf %s \"$ROOT\""]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "/tmp/it's $HOME")
    }

    func testUnsafeValuesAreRefused() {
        var job = SlurmArrayJob(sweep: "s", jobName: "rdd.s.x", tasks: [.init(identity: "abc; rm -rf /", name: "x", threads: 1)],
                                resources: SlurmResources(mem: "4G\n#SBATCH --wrap=x", options: ["--array=0-9"]), dependencies: ["1; true"],
                                root: "/tmp/a\"b", logDirectory: "relative/dir", workerExecutable: "/bin/rdd-sweep", checkpointEvery: 1, logEvery: 1)
        let p = job.problems().joined(separator: "\n")
        for part in ["stage identity \"abc; rm -rf /\"", "mem = \"4G\\n#SBATCH --wrap=x\"", "options[0] = \"--array=0-9\": --array is written by rdd-sweep",
                     "dependency \"1; true\"", "results root \"/tmp/a\\\"b\"", "log directory \"relative/dir\""] {
            XCTAssertTrue(p.contains(part), "missing '\(part)' in:\n\(p)")
        }
        job.tasks = []
        XCTAssertTrue(job.problems().contains("a job array needs at least one stage"))
    }

    // MARK: spec validation

    func testSpecSlurmSettingsAreValidatedWithFileFieldAndValue() throws {
        let text = """
            {"name": "t", "preset": "tiny",
             "execution": {"slurm": {"mem": "4 GB", "time": "1h", "signal": "USR1@120", "cpusPerTask": 0,
                                     "options": ["--array=1-3", "--mem=2G"], "partitin": "x",
                                     "stages": {"teachr": {"time": "10"}, "eval": {"time": "00:10:00", "throttle": 0}}}}}
            """
        XCTAssertThrowsError(try SweepSpec.parse(text, file: "specs/bad.json")) { e in
            let m = (e as? SpecError)?.messages ?? []
            func has(_ parts: [String]) { XCTAssertTrue(m.contains { x in parts.allSatisfy { x.contains($0) } }, "no message with \(parts) in \(m)") }
            has(["specs/bad.json:2", "execution.slurm.mem", "mem = \"4 GB\"", "500M, 4G"])
            has(["execution.slurm.time", "time = \"1h\"", "HH:MM:SS"])
            has(["execution.slurm.signal", "\"USR1@120\"", "must start with 'B:'"])
            has(["execution.slurm.cpusPerTask", "cpusPerTask = 0", "≥ 1"])
            has(["execution.slurm.options", "--array is written by rdd-sweep"])
            has(["options[1] = \"--mem=2G\"", "set 'mem' instead"])
            has(["execution.slurm.partitin", "did you mean 'partition'"])
            has(["specs/bad.json:4", "execution.slurm.stages.teachr", "did you mean 'teacher'"])
            has(["execution.slurm.stages.eval.throttle", "throttle = 0"])
            XCTAssertEqual(m.count, 9, "\(m)")
        }
        // A valid one: per-kind values override the spec's, flags override both; not part of the spec hash.
        let good = """
            {"name": "t", "preset": "tiny", "execution": {"slurm": {"time": "01:00:00", "mem": "2G", "partition": "cpu",
              "stages": {"teacher": {"time": "04:00:00", "cpusPerTask": 4}}}}}
            """
        let s = try SweepSpec.parse(good, file: "good.json")
        XCTAssertEqual(s.slurm.resources(for: .teacher), SlurmResources(partition: "cpu", cpusPerTask: 4, mem: "2G", time: "04:00:00", signal: "B:USR1@120"))
        XCTAssertEqual(s.slurm.resources(for: .eval, flags: SlurmResources(mem: "8G")).mem, "8G")
        XCTAssertEqual(s.slurm.resources(for: .eval).time, "01:00:00")
        let plain = try SweepSpec.parse(#"{"name": "t", "preset": "tiny"}"#, file: "p.json")
        XCTAssertEqual(try SweepPlan.make(s).specHash, try SweepPlan.make(plain).specHash)
    }

    // MARK: parsing Slurm's output (captured from Slurm 22.05 on the test cluster)

    func testSqueueAndScontrolParsing() throws {
        let squeue = try String(contentsOfFile: Self.fixtures + "/squeue.txt", encoding: .utf8)
        let s = SlurmClient.parseSqueue(squeue)
        XCTAssertEqual(s.count, 7)
        XCTAssertEqual(s["3_0"], SlurmTaskState(state: "CANCELLED", reason: "DependencyNeverSatisfied", jobID: "3", exitStatus: 0, restarts: 0))
        XCTAssertEqual(s["1_1"], SlurmTaskState(state: "FAILED", reason: "NonZeroExitCode", jobID: "5", exitStatus: 3, restarts: 0, node: "vm"))
        XCTAssertEqual(s["7_0"]?.restarts, 1)
        XCTAssertEqual(s["9_0"]?.signal, 9, "raw wait status 9 = killed by SIGKILL")
        XCTAssertTrue(s["9_0"]!.isTerminal)
        XCTAssertTrue(s["2_1"]!.isRunning)
        let rec = SlurmClient.parseScontrolRecord(try String(contentsOfFile: Self.fixtures + "/scontrol-show-job.txt", encoding: .utf8))
        XCTAssertEqual(rec["JobState"], "FAILED")
        XCTAssertEqual(rec["ArrayTaskId"], "1")
        XCTAssertEqual(rec["ExitCode"], "3:0")
        XCTAssertEqual(rec["Command"], "/tmp/st/a b.sh", "a value with a space")
        let mock = MockSlurm()
        mock.scontrol["1_1"] = try String(contentsOfFile: Self.fixtures + "/scontrol-show-job.txt", encoding: .utf8)
        let st = try SlurmClient(runner: mock).taskState(job: "1", task: 1)
        XCTAssertEqual(st?.exitStatus, 3)
        XCTAssertEqual(st?.jobID, "9")
        XCTAssertNil(try SlurmClient(runner: mock).taskState(job: "99", task: 0), "a job Slurm forgot")
        XCTAssertEqual(try SlurmClient(runner: mock).queueStates(jobs: ["99"]), [:], "squeue's 'Invalid job id' = nothing known")
        XCTAssertThrowsError(try SlurmClient(runner: FailingRunner()).submit(script: "/x.sbatch")) { e in
            XCTAssertTrue("\(e)".contains("sbatch refused /x.sbatch (exit status 1): sbatch: error: invalid partition specified: nope"), "\(e)")
        }
    }

    final class FailingRunner: SlurmCommandRunner {
        func run(_ a: [String]) throws -> CommandResult { CommandResult(status: 1, stdout: "", stderr: "sbatch: error: invalid partition specified: nope\n") }
    }

    // MARK: the worker under Slurm (a real worker process, a fake scontrol)

    /// `rdd-sweep worker --slurm` on a teacher stage: SIGUSR1 (the time-limit warning) → checkpoint at that
    /// step, `scontrol requeue ARRAYJOB_TASK`, exit 76, exit.json; SIGTERM (preemption, scancel) → the same
    /// without requeueing; resumed twice, the journal equals an uninterrupted run's.
    func testWorkerCheckpointsAndRequeuesOnSignal() throws {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        let root = tempDir("signal"), bin = root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try Data("#!/bin/sh\necho \"$@\" >> \"\(root)/scontrol.log\"\n".utf8).write(to: URL(fileURLWithPath: bin + "/scontrol"))
        chmod(bin + "/scontrol", 0o755)
        let spec = """
            {"name": "w", "preset": "tiny",
             "base": {"teacher": {"steps": 60, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}}}
            """
        let p = try SweepPlan.make(SweepSpec.parse(spec, file: "w.json"))
        XCTAssertEqual(p.stages.map(\.kind), [.teacher])
        let interrupted = root + "/a", clean = root + "/b"
        for r in [interrupted, clean] { try Scheduler(plan: p, options: RunOptions(root: r, workerExecutable: exe)).prepareStage(p.stages[0]) }
        let id = p.stages[0].identity
        func worker(_ r: String) throws -> Process {
            let w = Process()
            w.executableURL = URL(fileURLWithPath: exe)
            w.arguments = ["worker", "\(r)/stages/\(id)/request.json", "--checkpoint-every", "1000", "--log-every", "1", "--slurm"]
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["SLURM_ARRAY_JOB_ID"] = "5"; env["SLURM_ARRAY_TASK_ID"] = "2"; env["SLURM_JOB_ID"] = "7"; env["RDD_THREADS"] = "1"
            w.environment = env
            w.standardOutput = FileHandle.nullDevice
            w.standardError = FileHandle.nullDevice
            try w.run()
            return w
        }
        func progress(_ r: String) -> Int { (try? JSONParser.parse(String(contentsOfFile: "\(r)/stages/\(id)/progress.json", encoding: .utf8)).value["step"]?.intValue) ?? 0 }
        func exitRecord(_ r: String) throws -> WorkerExitRecord {
            try JSONDecoder().decode(WorkerExitRecord.self, from: Data(contentsOf: URL(fileURLWithPath: "\(r)/stages/\(id)/exit.json")))
        }
        var stops: [Int] = []
        for (sig, after) in [(SIGUSR1, 5), (SIGTERM, 25)] {
            try? FileManager.default.removeItem(atPath: "\(interrupted)/stages/\(id)/progress.json")
            let w = try worker(interrupted)
            while w.isRunning && progress(interrupted) < max(after, (stops.last ?? 0) + 3) { usleep(5_000) }
            kill(w.processIdentifier, sig)
            w.waitUntilExit()
            XCTAssertEqual(w.terminationStatus, WorkerExit.requeued, "signal \(sig)")
            let rec = try exitRecord(interrupted)
            XCTAssertEqual(rec.status, WorkerExit.requeued)
            // USR1: the stop recorded before scontrol ran, then its outcome (the fake scontrol succeeds).
            XCTAssertEqual(rec.reason.hasSuffix("; job 5_2 to be requeued (scontrol requeue 5_2); job 5_2 requeued"), sig == SIGUSR1, rec.reason)
            let info = try Checkpoint.inspect(interrupted + "/stages/\(id)/checkpoint.h5")
            guard case .int(let step)? = info.attributes["step"] else { XCTFail("no step in the checkpoint"); return }
            XCTAssertEqual(rec.step, Int(step), "checkpoint saved where it stopped, not at a multiple of 1000")
            XCTAssertGreaterThanOrEqual(Int(step), after)
            XCTAssertLessThan(Int(step), 60)
            stops.append(Int(step))
        }
        XCTAssertEqual(try String(contentsOfFile: root + "/scontrol.log", encoding: .utf8), "requeue 5_2\n", "USR1 requeues the array task; SIGTERM does not")
        let last = try worker(interrupted)
        last.waitUntilExit()
        XCTAssertEqual(last.terminationStatus, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: interrupted + "/stages/\(id)/exit.json"), "a new run clears exit.json")
        let ref = try worker(clean)
        ref.waitUntilExit()
        func journal(_ r: String) throws -> [String] {
            try String(contentsOfFile: "\(r)/stages/\(id)/journal.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
                .filter { line in SeriesName.measurements.allSatisfy { !line.contains("\"name\":\"\($0)\"") } }   // measurements vary
        }
        let a = try journal(interrupted), b = try journal(clean)
        XCTAssertGreaterThan(b.count, 60)
        XCTAssertEqual(a, b, "stopped at steps \(stops), resumed: same journal")
    }

    // MARK: submission, collection, resubmission, cancel (mocked Slurm, no stage runs)

    func executor(_ p: SweepPlan, _ root: String, _ mock: MockSlurm, detach: Bool = true) -> Scheduler {
        var o = RunOptions(root: root, workerExecutable: "/opt/rdd/rdd-sweep")
        o.display = .quiet
        o.retries = 1
        var so = SlurmRunOptions(runner: mock)
        so.detach = detach
        so.flags = SlurmResources(throttle: 2)
        o.executor = .slurm
        o.slurm = so
        return Scheduler(plan: p, options: o)
    }

    func rows(_ root: String, _ sql: String, _ args: StatementArguments = []) throws -> [Row] {
        try RunDatabase(readerAt: RunDatabase.path(root: root)).read { try Row.fetchAll($0, sql: sql, arguments: args) }
    }

    /// Writes what a worker leaves after completing: journal, done.json.
    func complete(_ root: String, _ id: String, value: Double = 0.5) throws {
        let dir = root + "/stages/" + id
        try Data("{\"step\":0,\"name\":\"loss\",\"value\":\(value)}\n".utf8).write(to: URL(fileURLWithPath: dir + "/journal.jsonl"))
        try Data(JSONEncoder().encode(WorkerDone(seconds: 1.5, peakRSSKiB: 2048, finished: Date().timeIntervalSince1970, pid: 1, codeVersion: CodeVersion.string, threads: "1")))
            .write(to: URL(fileURLWithPath: dir + "/done.json"))
    }

    func testSubmitGroupsByInputsCollectsOutcomesAndResubmits() throws {
        let root = tempDir("submit")
        let p = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "m", methods: ["pd", "rdd"], seeds: [0]), file: "m.json"))
        let mock = MockSlurm()
        let s1 = try executor(p, root, mock).run()
        XCTAssertEqual(s1.submittedJobs.count, mock.scripts.count)

        // Every stage went out exactly once; each array waits for exactly its inputs' tasks.
        let tasks = try rows(root, "SELECT * FROM slurm_tasks ORDER BY job_id, task")
        XCTAssertEqual(Set(tasks.map { $0["stage"] as String }), Set(p.stages.map(\.identity)))
        XCTAssertEqual(tasks.count, p.stages.count)
        var ref: [String: String] = [:]
        for t in tasks { ref[t["stage"]] = "\(t["job_id"] as String)_\(t["task"] as Int)" }
        for t in tasks {
            let s = p.stage(t["stage"])!
            let expected = s.inputs.values.map { ref[$0]! }.sorted()
            let dep: String? = t["dependency"]
            XCTAssertEqual(dep.map { Array($0.dropFirst(8).split(separator: ":").map(String.init)).sorted() } ?? [], expected, "\(s.displayName)")
        }
        // classifier + teacher have no inputs and the same resources: one array of two.
        XCTAssertTrue(mock.scripts[0].contains("#SBATCH --array=0-1%2\n"), mock.scripts[0])
        XCTAssertFalse(mock.scripts[0].contains("--dependency"))
        XCTAssertTrue(mock.scripts.dropFirst().allSatisfy { $0.contains("#SBATCH --kill-on-invalid-dep=yes\n") })
        XCTAssertEqual(mock.calls.filter { $0[0] == "sbatch" }.count, mock.scripts.count)
        XCTAssertTrue(mock.calls.allSatisfy { $0[0] == "sbatch" && $0[1] == "--parsable" }, "no squeue before anything was submitted: \(mock.calls)")

        // Outcomes: classifier completed; teacher killed (signal 9) → retried; its dependents cancelled by Slurm.
        let cls = p.stages.first { $0.kind == .classifier }!, teacher = p.stages.first { $0.kind == .teacher }!
        try complete(root, cls.identity)
        mock.set(ref[cls.identity]!, "COMPLETED")
        try Data("=== rdd-sweep header ===\nrdd-sweep worker pid 7: teacher stage\nstep 3 of 6\n".utf8).write(to: URL(fileURLWithPath: root + "/stages/\(teacher.identity)/worker.log"))
        Proc.quickWrite("7 0\n", to: root + "/stages/\(teacher.identity)/heartbeat")
        mock.set(ref[teacher.identity]!, "FAILED", reason: "NonZeroExitCode", exit: 9)
        for s in p.stages where s.kind != .classifier && s.kind != .teacher {
            mock.set(ref[s.identity]!, "CANCELLED", reason: "DependencyNeverSatisfied")
        }
        let c = try XCTUnwrap(try SlurmExecutor.collect(root: root, retries: 1, runner: mock))
        XCTAssertEqual(c.completed, 1)
        XCTAssertEqual(c.failedAttempts, 1)
        XCTAssertEqual(c.neverStarted, p.stages.count - 2)
        let st = try rows(root, "SELECT identity, status, failures, attempts, error, exit_status, signal FROM stages")
        let byID = Dictionary(uniqueKeysWithValues: st.map { ($0["identity"] as String, $0) })
        XCTAssertEqual(byID[cls.identity]?["status"], "completed")
        XCTAssertEqual(byID[teacher.identity]?["status"], "queued", "a kill is retried (retries 1)")
        XCTAssertEqual(byID[teacher.identity]?["signal"], 9)
        let err: String = byID[teacher.identity]?["error"] ?? ""
        XCTAssertTrue(err.hasPrefix("Slurm job \(ref[teacher.identity]!): Slurm FAILED (NonZeroExitCode), killed by signal 9 (SIGKILL)"), err)
        XCTAssertTrue(err.hasSuffix("step 3 of 6"), err)
        XCTAssertEqual(try rows(root, "SELECT * FROM attempts").count, 2, "classifier completed + teacher failed; cancelled dependents never started")
        XCTAssertEqual(try rows(root, "SELECT * FROM metrics WHERE stage = ?", [cls.identity]).count, 1, "journal ingested")
        XCTAssertEqual(try rows(root, "SELECT * FROM slurm_tasks WHERE finished IS NULL").count, 0)

        // The next run resubmits the teacher and everything below it, not the classifier.
        mock.scripts = []
        _ = try executor(p, root, mock).run()
        let again = try rows(root, "SELECT stage, dependency FROM slurm_tasks WHERE finished IS NULL")
        XCTAssertEqual(Set(again.map { $0["stage"] as String }), Set(p.stages.filter { $0.kind != .classifier }.map(\.identity)))
        XCTAssertTrue(mock.scripts[0].contains("#   task 0: teacher [\(teacher.identity)]"), mock.scripts[0])
        XCTAssertFalse(again.contains { ($0["dependency"] as String?)?.contains(ref[cls.identity]!) ?? false }, "a completed input is no dependency")

        // The teacher fails deterministically now (exit 3): failed, not retried; a running dependent is impossible,
        // so its dependents are cancelled by Slurm and stay queued behind a failed input.
        var ref2: [String: String] = [:]
        for t in try rows(root, "SELECT * FROM slurm_tasks WHERE finished IS NULL") { ref2[t["stage"]] = "\(t["job_id"] as String)_\(t["task"] as Int)" }
        mock.queue = [:]
        mock.set(ref2[teacher.identity]!, "FAILED", reason: "NonZeroExitCode", exit: 3 << 8)
        for s in p.stages where s.kind != .classifier && s.kind != .teacher { mock.set(ref2[s.identity]!, "CANCELLED", reason: "DependencyNeverSatisfied") }
        _ = try SlurmExecutor.collect(root: root, retries: 1, runner: mock)
        XCTAssertEqual(try rows(root, "SELECT status FROM stages WHERE identity = ?", [teacher.identity]).first?["status"], "failed")
        XCTAssertEqual(try rows(root, "SELECT status FROM trials").map { $0["status"] as String }, ["failed", "failed"])
        mock.scripts = []
        _ = try executor(p, root, mock).run()
        XCTAssertEqual(mock.scripts, [], "nothing can run below a failed stage")
    }

    func testRunningRequeuedForgottenAndCancel() throws {
        let root = tempDir("requeue")
        let p = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "q", methods: ["pd"], seeds: [0]), file: "q.json"))
        let mock = MockSlurm()
        _ = try executor(p, root, mock).run()
        var ref: [String: String] = [:]
        for t in try rows(root, "SELECT * FROM slurm_tasks") { ref[t["stage"]] = "\(t["job_id"] as String)_\(t["task"] as Int)" }
        let cls = p.stages.first { $0.kind == .classifier }!, teacher = p.stages.first { $0.kind == .teacher }!
        // Everything pending behind its inputs; then the teacher runs, is requeued (preemption / time-limit
        // warning), and completes in the same job.
        for s in p.stages { mock.set(ref[s.identity]!, "PENDING", reason: "Dependency") }
        mock.set(ref[teacher.identity]!, "RUNNING")
        mock.set(ref[cls.identity]!, "RUNNING")
        _ = try SlurmExecutor.collect(root: root, retries: 2, runner: mock)
        XCTAssertEqual(try rows(root, "SELECT status FROM stages WHERE identity = ?", [teacher.identity]).first?["status"], "running")
        let status = try Reports(root: root).status(sweep: "q")
        XCTAssertTrue(status.contains("Slurm: \(p.stages.count) tasks of this sweep in flight (2 running"), status)
        XCTAssertTrue(status.contains("Slurm \(ref[teacher.identity]!) RUNNING on vm"), status)
        XCTAssertTrue(status.contains("running 2, failed 0, stale 0, queued 5"), "a stage in a Slurm job is not stale without a local scheduler: \(status)")
        XCTAssertTrue(status.contains("submitted") && status.contains("PENDING (Dependency)"), status)
        mock.set(ref[teacher.identity]!, "PENDING", reason: "BeginTime", restarts: 1)
        _ = try SlurmExecutor.collect(root: root, retries: 2, runner: mock)
        mock.set(ref[teacher.identity]!, "COMPLETED", restarts: 1)
        try complete(root, teacher.identity)
        // The classifier's job is forgotten by Slurm; it left exit.json: the stage threw.
        mock.queue[ref[cls.identity]!] = nil
        let rec = WorkerExitRecord(status: WorkerExit.stageError, reason: "stage failed: no data", step: 2, time: Date().timeIntervalSince1970)
        try JSONEncoder().encode(rec).write(to: URL(fileURLWithPath: root + "/stages/\(cls.identity)/exit.json"))
        _ = try SlurmExecutor.collect(root: root, retries: 2, runner: mock)
        let att = try rows(root, "SELECT stage, attempt, outcome, exit_status FROM attempts ORDER BY stage, attempt")
        XCTAssertEqual(att.filter { $0["stage"] == teacher.identity }.map { $0["outcome"] as String }, ["interrupted", "completed"])
        XCTAssertEqual(att.filter { $0["stage"] == cls.identity }.map { $0["outcome"] as String }, ["failed"])
        XCTAssertEqual(try rows(root, "SELECT status FROM stages WHERE identity = ?", [cls.identity]).first?["status"], "failed", "exit 3 is not retried")
        XCTAssertEqual(try rows(root, "SELECT * FROM slurm_tasks WHERE stage = ? AND finished IS NULL", [cls.identity]).count, 0)
        // squeue was asked first; scontrol only about the task squeue no longer listed.
        XCTAssertEqual(mock.calls.filter { $0[0] == "scontrol" }.map { $0.last! }, [ref[cls.identity]!])

        // A local run of the same sweep refuses while its stages are in Slurm jobs.
        var o = RunOptions(root: root, workerExecutable: "/bin/false")
        o.display = .quiet
        XCTAssertThrowsError(try Scheduler(plan: p, options: o).run()) { e in XCTAssertTrue("\(e)".contains("are in Slurm jobs"), "\(e)") }

        // cancel: scancel of the sweep's in-flight arrays; a running stage becomes stale, pending ones queued.
        let pd = p.stages.first { $0.kind == .pd }!
        mock.set(ref[pd.identity]!, "RUNNING")
        _ = try SlurmExecutor.collect(root: root, retries: 2, runner: mock)
        mock.calls = []
        let out = try SlurmExecutor.cancel(root: root, sweep: "q", runner: mock)
        let cancelled = mock.calls.filter { $0[0] == "scancel" }
        XCTAssertEqual(cancelled.count, 1)
        guard cancelled.count == 1 else { return }
        let inFlightJobs = Set(p.stages.filter { $0.kind != .classifier && $0.kind != .teacher }.map { String(ref[$0.identity]!.prefix { $0 != "_" }) })
        XCTAssertEqual(Set(cancelled[0].dropFirst()), inFlightJobs)
        XCTAssertTrue(out.contains("1 running stage(s) stopped"), out)
        XCTAssertEqual(try rows(root, "SELECT status FROM stages WHERE identity = ?", [pd.identity]).first?["status"], "stale")
        XCTAssertEqual(try rows(root, "SELECT * FROM slurm_tasks WHERE finished IS NULL").count, 0)
        XCTAssertEqual(try rows(root, "SELECT outcome FROM attempts WHERE stage = ?", [pd.identity]).map { $0["outcome"] as String }, ["interrupted"])
        XCTAssertTrue(try SlurmExecutor.cancel(root: root, sweep: "q", runner: mock).contains("no Slurm jobs in flight"))
    }
}
