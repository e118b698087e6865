import XCTest
@testable import Sweep

/// One line per running stage in the live display.
final class DisplayTests: XCTestCase {
    func testTrainingRowShowsRateAndETA() {
        let r = ProgressRow(name: "teacher", shortID: "2acd11a43f", step: 1000, total: 4000, rate: 2.5, elapsed: 400,
                            metrics: [("loss", 0.1896), ("lr", 1e-4)], attempt: 2)
        XCTAssertEqual(r.line(barWidth: 4), "teacher        [2acd11a43f] █░░░  1000/4000   25%     2.5 steps/s  ETA 20:00  loss 0.1896  (attempt 2)")
    }

    /// After sampling, an evaluation names its metric phase instead of a stale "ETA 0:00".
    func testEvaluationPhaseReplacesTheETA() {
        let r = ProgressRow(name: "eval-pd-1", shortID: "34db823452", step: 2000, total: 2000, rate: 200, elapsed: 1500,
                            metrics: [], attempt: 1, phase: "Inception features of 2000 samples")
        XCTAssertEqual(r.line(barWidth: 4), "eval-pd-1      [34db823452] ████  2000/2000  100%  Inception features of 2000 samples (elapsed 25:00)")
    }
}
