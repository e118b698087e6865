import XCTest
import Foundation
import GRDB
@testable import Sweep
import Pipeline
import Checkpoint
import RunModel

/// Corrupt artifacts are caught before use and rerun, recorded against the stage that made them; a
/// latest checkpoint that cannot be read falls back to the previous one, then to a fresh start, with
/// the same final model as an uninterrupted run.
final class ArtifactCheckTests: XCTestCase {
    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-artifact-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: d)
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// Overwrites 64 bytes in the middle of a file (its data, past the HDF5 superblock).
    func flip(_ path: String) throws {
        let h = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        let size = h.seekToEndOfFile()
        h.seek(toFileOffset: size / 2)
        let old = h.readData(ofLength: 64)
        h.seek(toFileOffset: size / 2)
        h.write(Data(old.map { ~$0 }))
        try h.close()
    }

    func setModified(_ path: String, _ t: Double) {
        var times = [timespec(tv_sec: Int(t), tv_nsec: Int((t - t.rounded(.down)) * 1e9)), timespec(tv_sec: Int(t), tv_nsec: Int((t - t.rounded(.down)) * 1e9))]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    func testCorruptArtifactIsRerunAndBlamedOnItsOwnStage() throws {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        let root = tempDir("corrupt")
        var o = RunOptions(root: root, workerExecutable: exe)
        o.display = .quiet
        o.cores = 2
        o.jobs = 2
        let a = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "a", methods: ["pd"], seeds: [0]), file: "a.json"))
        XCTAssertEqual(try Scheduler(plan: a, options: o).run().trialsCompleted, 1)
        // The last PD stage: the distillation stages of sweep b read its final.h5.
        let pd = try XCTUnwrap(a.stages.last { $0.kind == .pd })
        let dir = root + "/stages/" + pd.identity, final = dir + "/final.h5"
        let stamp = try XCTUnwrap(WorkerDone.read(directory: dir)?.artifactModified)
        let original = try Checkpoint.load(from: final).arrays
        try flip(final)

        // plan: the cheap check (size and time against done.json) no longer calls it done.
        let b = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "b", methods: ["pd", "rdd"], seeds: [0]), file: "b.json"))
        let planText = try Reports(root: root).plan(b)
        XCTAssertTrue(planText.contains("\(pd.shortID)") && planText.contains("to verify (artifact changed since it completed)"), planText)
        // With its time put back, only the full check (checksum) can tell: the scheduler runs it before a stage uses it.
        setModified(final, stamp)
        XCTAssertFalse(try Reports(root: root).plan(b).contains("to verify"))
        XCTAssertNotNil(ArtifactCheck.verify(dir, kind: .pd), "the checksum catches the flipped bytes")

        let s = try Scheduler(plan: b, options: o).run()
        XCTAssertEqual(s.trialsCompleted, 2)
        XCTAssertEqual(s.failedAttempts, 0, "no stage failed: the healthy distillation stage waited for its input to be rerun")
        XCTAssertEqual(s.stagesRun, 3, "the corrupt PD stage, then rdd's distillation and evaluation")
        XCTAssertNil(ArtifactCheck.verify(dir, kind: .pd))
        XCTAssertTrue(FileManager.default.fileExists(atPath: final + ".corrupt"))
        let log = try String(contentsOfFile: dir + "/worker.log", encoding: .utf8)
        XCTAssertTrue(log.contains("artifact failed verification before distill-rdd-64 used it"), log)
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        try db.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM stages WHERE status = 'failed' OR failures > 0"), 0)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE outcome <> 'completed'"), 0)
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts WHERE stage = ?", arguments: [pd.identity]), 2, "ran in a and again in b")
        }
        // The rerun resumed from the stage's checkpoint at its last step: the same model as before.
        XCTAssertEqual(try Checkpoint.load(from: final).arrays, original)
    }

    /// A worker that writes a corrupt artifact every time (issue 29's defect: it was requeued forever): the
    /// stage is rerun once, and the second time its artifact fails verification the stage fails with a
    /// reason that says so; the run ends, with every trial failed. In-process stand-in workers (no training)
    /// "complete" each stage with a `final.h5` that is not an HDF5 file.
    func testAnArtifactCorruptEveryTimeFailsItsStageAfterTwoTries() throws {
        let root = tempDir("always-corrupt")
        var o = RunOptions(root: root, workerExecutable: "/nonexistent/stand-in-worker")
        o.display = .quiet
        o.threads = 1
        o.pollInterval = 0
        let plan = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "c", methods: ["pd"], seeds: [0]), file: "c.json"))
        let run = Scheduler(plan: plan, options: o)
        let local = LocalExecutor(run)
        var spawned: [String: Int] = [:], pid: pid_t = 1 << 30
        local.workers.spawn = { _, arguments, _, _ in
            let dir = (arguments[2] as NSString).deletingLastPathComponent
            spawned[(dir as NSString).lastPathComponent, default: 0] += 1
            try Data("not an HDF5 file".utf8).write(to: URL(fileURLWithPath: dir + "/final.h5"))
            let done = WorkerDone(seconds: 1, peakRSSKiB: 1, finished: Date().timeIntervalSince1970, pid: pid, codeVersion: CodeVersion.string, threads: "1")
            try JSONEncoder().encode(done).write(to: URL(fileURLWithPath: dir + "/" + StageFiles.done))
            pid += 1
            return pid - 1
        }
        local.workers.reap = { _ in .exited(0) }
        run.executor = local
        let s = try run.run()

        // The teacher completed twice, and its artifact was found corrupt each time before a PD stage used it;
        // then it failed. Nothing downstream of it ran (the classifier's artifact is read only by evaluations).
        let teacher = try XCTUnwrap(plan.stages.first { $0.kind == .teacher })
        XCTAssertEqual(spawned[teacher.identity], Scheduler.corruptArtifactLimit)
        XCTAssertTrue(Set(spawned.keys).isSubset(of: plan.stages.filter { $0.inputs.isEmpty }.map(\.identity)), "only stages without inputs ran")
        XCTAssertEqual(s.trialsFailed, plan.trials.count)
        XCTAssertEqual(s.trialsCompleted, 0)
        XCTAssertEqual(s.stagesFailed, 1)
        XCTAssertEqual(s.failures.count, 1, "\(s.failures)")
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        try db.read { db in
            let row = try XCTUnwrap(try Row.fetchOne(db, sql: "SELECT status, error FROM stages WHERE identity = ?", arguments: [teacher.identity]))
            XCTAssertEqual(row["status"] as String, StageStatus.failed.rawValue)
            let error: String = row["error"]
            XCTAssertTrue(error.hasPrefix("artifact failed verification before "), error)
            XCTAssertTrue(error.contains("corrupt 2 times in this run, so the stage is not rerun"), error)
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT status FROM trials"), plan.trials.map { _ in "failed" })
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/stages/\(teacher.identity)/final.h5.corrupt"))
    }

    /// One teacher stage run in process: uninterrupted; stopped at step 12 (checkpoints at 5 and 10) with the
    /// latest checkpoint corrupted (resumes from the previous one); and with both corrupted (starts afresh).
    func testCorruptLatestCheckpointFallsBackToThePreviousThenAFreshStart() throws {
        let spec = """
            {"name": "ck", "preset": "tiny",
             "base": {"teacher": {"steps": 16, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}}}
            """
        let stage = try XCTUnwrap(try SweepPlan.make(SweepSpec.parse(spec, file: "ck.json")).stages.first)
        func run(_ dir: String, stopAfter: Int? = nil) throws {
            var ctx = StageContext(directory: dir, checkpointEvery: 5, logEvery: 1)
            ctx.dieAfterSteps = nil
            ctx.stopAfterSteps = stopAfter
            chooseCheckpoint(directory: dir)
            do { try runStage(StageRequest(kind: .teacher, config: stage.config, inputs: [:], classifierNetwork: nil, directory: dir), context: ctx) }
            catch is StageInterrupted { return }
        }
        let clean = tempDir("clean")
        try run(clean)
        let reference = try Checkpoint.load(from: clean + "/final.h5").arrays

        for both in [false, true] {
            let dir = tempDir(both ? "fresh" : "previous")
            try run(dir, stopAfter: 12)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/final.h5"))
            let prevStep = try Checkpoint.inspect(dir + "/" + previousCheckpointName).attributes["step"]
            XCTAssertEqual(prevStep, .int(5), "the checkpoint before the latest (step 10) is kept")
            try flip(dir + "/checkpoint.h5")
            if both { try flip(dir + "/" + previousCheckpointName) }
            chooseCheckpoint(directory: dir)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/checkpoint.corrupt.h5"))
            if both {
                XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoint.h5"), "nothing readable: a fresh start")
            } else {
                XCTAssertEqual(try Checkpoint.inspect(dir + "/checkpoint.h5").attributes["step"], .int(5), "resumes from the previous checkpoint")
            }
            try run(dir)
            XCTAssertEqual(try Checkpoint.load(from: dir + "/final.h5").arrays, reference, "same final model as the uninterrupted run (\(both ? "fresh start" : "from step 5"))")
        }
    }
}
