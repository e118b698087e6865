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

    /// The text tables of `plan` and `status` pad as Foundation's `padding(toLength:)` did (UTF-16 units, widths in
    /// characters), also for cells that are not ASCII: a flag (2 UTF-16 units per scalar) is wider in units than the
    /// column's width in characters and is cut, as Foundation cuts it.
    func testTablePadsAsFoundation() {
        let rows = [["τ_IS=0.5", "x", "a"], ["🇫🇷", "🇫🇷", "b"], ["e\u{301}", "", "c"], ["plain", "é", "d"]]
        let header = ["axis", "v", "last"]
        var w = [0, 0, 0]
        for r in [header] + rows { for (i, c) in r.enumerated() { w[i] = max(w[i], c.count) } }
        let reference = ([header] + rows).map { r in "  " + r.enumerated().map { i, c in i == 2 ? c : c.padding(toLength: w[i], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n")
        XCTAssertEqual(table(header, rows), reference)
    }
}
