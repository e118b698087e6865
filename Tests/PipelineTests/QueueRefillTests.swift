import XCTest
import Foundation
@testable import Pipeline
import RunModel

/// Issue 20 §5 (data only): a distillation stage with a pixel queue logs how many times the queue's write pointer
/// wrapped to its start, `queue/refills`, cumulative over the stage.
final class QueueRefillTests: XCTestCase {
    /// N_q = 8, K = 4 rows per push (official-code mode: min(B·A, K) = 4 with B = 4): the pointer goes 0 → 4, then
    /// 4 + 4 ≥ 8 wraps to 0 (refill 1), → 4, wraps (refill 2). Logged at steps 0 and 3 (logEvery 10, and the last step).
    func testRefillsCountThePointersWraps() throws {
        var c = try TrialTests.toyEightToFour(method: "rdd", steps: 4)
        c.distill.queue = QueueSettings(mode: .officialCode, size: 8, contrastSize: 8, updateCount: 4)
        let root = scratchRoot("refills")
        try runTrialInProcess(c, root: root) { _ in }
        let refills = Journal.read(path: root + "/distill-rdd-4/journal.jsonl").filter { $0.name == "queue/refills" }
        XCTAssertEqual(refills.map(\.step), [0, 3])
        XCTAssertEqual(refills.map(\.value), [0, 2])
        // A method without a queue logs none.
        var plain = c
        plain.distill.method = .rcfd
        try runTrialInProcess(plain, root: root) { _ in }
        XCTAssertFalse(Journal.read(path: root + "/distill-rcfd-4/journal.jsonl").contains { $0.name == "queue/refills" })
    }
}
