import XCTest
@testable import Metrics

/// The report statistics (issue 20 item 3) against independent values printed by
/// scripts/stats/reference_values.py (scipy.stats.t, scipy.stats.nct, a direct Holm implementation).
final class StatisticsTests: XCTestCase {
    /// Issue 20's reference, also printed by the script: [0.01, 0.04, 0.03, 0.005] → [0.03, 0.06, 0.06, 0.02].
    func testHolmAdjusted() {
        let adj = holmAdjusted([0.01, 0.04, 0.03, 0.005])
        for (a, e) in zip(adj, [0.03, 0.06, 0.06, 0.02]) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        XCTAssertEqual(holmAdjusted([0.3]), [0.3], "a family of one is not adjusted")
        XCTAssertEqual(holmAdjusted([0.5, 0.6]), [1.0, 1.0], "capped at 1")
        let withNaN = holmAdjusted([0.01, .nan, 0.04])
        XCTAssertEqual(withNaN[0], 0.02, accuracy: 1e-12)
        XCTAssertTrue(withNaN[1].isNaN)
        XCTAssertEqual(withNaN[2], 0.04, accuracy: 1e-12)
    }

    /// scipy: 2·t.sf(t, df), printed by the script to 10 decimals.
    func testTwoSidedP() {
        let cases: [(Double, Double, Double)] = [(2.0, 2, 0.1835034191), (1.0, 4, 0.3739009663), (3.5, 9, 0.0067235158),
                                                 (0.3, 1, 0.8144528418), (2.2, 40, 0.0336452756)]
        for (t, df, p) in cases {
            XCTAssertEqual(studentTTwoSidedP(t, degreesOfFreedom: df), p, accuracy: 1e-9, "t = \(t), ν = \(df)")
            XCTAssertEqual(studentTTwoSidedP(-t, degreesOfFreedom: df), p, accuracy: 1e-9)
        }
        XCTAssertEqual(studentTTwoSidedP(.infinity, degreesOfFreedom: 3), 0)
        XCTAssertEqual(studentTTwoSidedP(0, degreesOfFreedom: 3), 1, accuracy: 1e-12)
        // At the 0.975 quantile the two-sided p is 0.05: the interval and the p-value agree.
        XCTAssertEqual(studentTTwoSidedP(try studentTQuantile975(degreesOfFreedom: 4), degreesOfFreedom: 4), 0.05, accuracy: 1e-9)
    }

    /// scipy.stats.nct: power of the paired two-sided t test at α = 0.05.
    func testPairedPower() throws {
        XCTAssertEqual(try pairedTPower(n: 3, delta: 1.0), 0.179255, accuracy: 2e-6)
        XCTAssertEqual(try pairedTPower(n: 5, delta: 2.0), 0.908885, accuracy: 2e-6)
        XCTAssertEqual(try pairedTPower(n: 10, delta: 0.5), 0.293176, accuracy: 2e-6)
        XCTAssertEqual(try pairedTPower(n: 5, delta: 0), 0.05, accuracy: 1e-9, "the level under the null")
        XCTAssertThrowsError(try pairedTPower(n: 1, delta: 1))
    }

    /// Issue 20's reference in SD units (n = 3 → 3.2640, 5 → 1.6820, 10 → 0.9960, 20 → 0.6604), which the script
    /// reproduces with scipy (3.264044, 1.681997, 0.996001, 0.660442; n = 2: 11.549888).
    func testMinimumDetectableEffect() throws {
        for (n, e) in [(2, 11.549888), (3, 3.264044), (5, 1.681997), (10, 0.996001), (20, 0.660442)] {
            XCTAssertEqual(try pairedMinimumDetectableEffect(n: n), e, accuracy: 2e-6, "n = \(n)")
        }
    }

    /// Pairs needed: the smallest n whose MDE is at most δ (from the MDE table above: 0.996 at n = 10, so a
    /// δ of 1.0 needs 10 pairs and 0.99 needs more).
    func testPairsNeeded() throws {
        XCTAssertEqual(try pairsNeeded(delta: 1.0), 10)
        XCTAssertEqual(try pairsNeeded(delta: -1.0), 10, "the sign does not matter")
        XCTAssertEqual(try pairsNeeded(delta: 3.3), 3)
        XCTAssertEqual(try pairsNeeded(delta: 0.995), 11)
        XCTAssertNil(try pairsNeeded(delta: 0))
        XCTAssertNil(try pairsNeeded(delta: 0.01), "beyond 1000 pairs")
    }
}
