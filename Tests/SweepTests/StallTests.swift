import XCTest
import Foundation
import GRDB
@testable import Sweep

/// Liveness is not progress: a worker whose training loop hangs (its heartbeat thread still beating)
/// is called stalled after `stallTimeout`, killed, and its stage retried, with that reason on record.
final class StallTests: XCTestCase {
    func testHangingStageIsKilledAsStalledAndRetried() throws {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        let root = NSTemporaryDirectory() + "rdd-stall-\(getpid())"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        // One teacher stage of 20 steps (no classifier, PD chain or evaluation).
        let spec = """
            {"name": "stall", "preset": "tiny",
             "base": {"teacher": {"steps": 20, "batchSize": 8, "warmup": 1}, "pd": {"downTo": 1024},
                      "distill": {"method": "pd", "from": 1024, "to": 1024}, "evaluation": {"metrics": [], "studentSteps": []}},
             "execution": {"checkpointEvery": 5, "logEvery": 5}}
            """
        let plan = try SweepPlan.make(SweepSpec.parse(spec, file: "stall.json"))
        XCTAssertEqual(plan.stages.map(\.kind), [.teacher])
        var o = RunOptions(root: root, workerExecutable: exe)
        o.display = .quiet
        o.cores = 2
        o.stallTimeout = 2
        o.heartbeatTimeout = 120   // the heartbeat keeps beating: only the stall detector can see the hang
        o.environment["RDD_TEST_HANG_AT_STEP"] = "3"
        let t0 = Date()
        let s = try Scheduler(plan: plan, options: o).run()
        XCTAssertEqual(s.trialsCompleted, 1)
        XCTAssertEqual(s.failedAttempts, 1)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 60)
        let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
        let a = try db.read { try Row.fetchAll($0, sql: "SELECT outcome, signal, last_step, stderr_tail FROM attempts ORDER BY attempt") }
        XCTAssertEqual(a.map { $0["outcome"] as String }, ["stale", "completed"])
        XCTAssertEqual(a.first?["signal"] as Int?, Int(SIGKILL))
        XCTAssertEqual(a.first?["last_step"] as Int?, 3, "it hung after step 3")
        let tail: String = a.first?["stderr_tail"] ?? ""
        XCTAssertTrue(tail.contains("hanging after step 3 (test hook)") && tail.contains("killed: stalled: no progress past step 3 for "), tail)
        XCTAssertTrue(tail.contains("(--stall-timeout 2 s)"), tail)
    }
}
