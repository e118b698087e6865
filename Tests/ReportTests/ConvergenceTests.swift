import XCTest
@testable import Report

/// The "not converged" rule (issue 20 §4) on synthetic loss series whose answer is known by hand.
final class ConvergenceTests: XCTestCase {
    func series(_ f: (Int) -> Double, steps: StrideTo<Int> = stride(from: 0, to: 201, by: 1)) -> [SeriesPoint] {
        steps.map { SeriesPoint(step: $0, value: f($0)) }
    }

    /// v = 2 − 0.004·step on 0…200: the last quarter is 150…200, where the line falls 0.2 from 1.4 to 1.2
    /// around a mean of 1.3: fall = 0.2 / 1.3 = 0.153846…, above 5%.
    func testLinearFallIsNotConverged() {
        let r = ConvergenceRule().assess(series { 2 - 0.004 * Double($0) })
        guard case .notConverged(let fall) = r else { return XCTFail("\(r)") }
        XCTAssertEqual(fall, 0.2 / 1.3, accuracy: 1e-12)
        XCTAssertEqual(r.flag, "not converged")
        // The same series passes a 20% threshold.
        XCTAssertEqual(ConvergenceRule(threshold: 0.2).assess(series { 2 - 0.004 * Double($0) }).flag, nil)
    }

    /// A plateau with step-to-step noise (+0.05 at even steps, −0.05 at odd ones, around 1): the last quarter
    /// 150…200 is symmetric about step 175, so the fitted slope is 0 (up to rounding): converged. A rising loss
    /// is converged too (it is not falling).
    func testNoisyPlateauAndRiseAreConverged() {
        let plateau = ConvergenceRule().assess(series { 1 + ($0 % 2 == 0 ? 0.05 : -0.05) })
        guard case .converged(let fall) = plateau else { return XCTFail("\(plateau)") }
        XCTAssertLessThan(abs(fall), 0.01)
        XCTAssertNil(ConvergenceRule().assess(series { 1 + 0.001 * Double($0) }).flag)
    }

    /// Logged every 4 steps of 20 (0, 4, …, 16, 19): the last quarter 15…19 has two points: undetermined.
    func testTooFewPointsIsUndetermined() {
        let pts = [0, 4, 8, 12, 16, 19].map { SeriesPoint(step: $0, value: 1 / Double($0 + 1)) }
        XCTAssertEqual(ConvergenceRule().assess(pts), .undetermined)
        XCTAssertEqual(ConvergenceRule().assess([]), .undetermined)
    }
}
