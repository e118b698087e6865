import XCTest
import TestSupport

/// The shared approximate-equality rule (Sources/TestSupport/Closeness.swift): symmetric, NaN-aware, with the
/// documented bound |a − b| ≤ atol + rtol·max(|a|, |b|). Values chosen so each case sits on one side of it.
final class ClosenessTests: XCTestCase {
    func testBoundIsSymmetricAndTight() {
        // atol 0, rtol 0.1: 1 and 1.1 differ by 0.1 ≤ 0.1·max(1, 1.1) = 0.11 → close in either order.
        XCTAssertTrue(isClose(1.0, 1.1, rtol: 0.1, atol: 0))
        XCTAssertTrue(isClose(1.1, 1.0, rtol: 0.1, atol: 0))
        // 1 and 1.12: 0.12 > 0.1·1.12 → not close, in either order.
        XCTAssertFalse(isClose(1.0, 1.12, rtol: 0.1, atol: 0))
        XCTAssertFalse(isClose(1.12, 1.0, rtol: 0.1, atol: 0))
        // Near zero the absolute floor decides.
        XCTAssertTrue(isClose(0, 1e-6, rtol: 0, atol: 1e-6))
        XCTAssertFalse(isClose(0, 2e-6, rtol: 0, atol: 1e-6))
        // Exact tolerance: only equal values pass.
        XCTAssertTrue(isClose(3, 3, rtol: 0, atol: 0))
        XCTAssertFalse(isClose(3, 3.0000001, rtol: 0, atol: 0))
    }

    func testNaNAndInfinities() {
        XCTAssertFalse(isClose(.nan, 1))
        XCTAssertFalse(isClose(1, .nan))
        XCTAssertFalse(isClose(.nan, .nan))
        XCTAssertTrue(isClose(.nan, .nan, nanEqual: true))
        XCTAssertFalse(isClose(.nan, 1, nanEqual: true))
        XCTAssertTrue(isClose(.infinity, .infinity))
        XCTAssertFalse(isClose(.infinity, -.infinity))
        XCTAssertFalse(isClose(.infinity, 1e300, rtol: 1, atol: 1))
        XCTAssertEqual(closenessRatio(1, 1.2, rtol: 0, atol: 0.1), 2, accuracy: 1e-12)
        XCTAssertEqual(closenessRatio(.nan, 1, rtol: 1, atol: 1), .infinity)
    }
}
