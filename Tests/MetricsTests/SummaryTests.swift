import XCTest
@testable import Metrics

/// Mean, sample std and Student-t 95% interval over seeds.
final class SummaryTests: XCTestCase {
    func testKnownSample() throws {
        // values 1..5: mean 3, s = √2.5, t_{0.975,4} = 2.7764451052.
        let s = try summarize([1, 2, 3, 4, 5])
        XCTAssertEqual(s.count, 5)
        XCTAssertEqual(s.mean, 3)
        XCTAssertEqual(s.standardDeviation!, 2.5.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(s.halfWidth95!, 2.7764451052 * 2.5.squareRoot() / 5.squareRoot(), accuracy: 1e-12)
        let i = try XCTUnwrap(s.interval95)
        XCTAssertEqual(i.lowerBound, 3 - s.halfWidth95!)
        XCTAssertEqual(i.upperBound, 3 + s.halfWidth95!)
    }

    func testTwoValuesUseTwelvePointSeven() throws {
        let s = try summarize([10, 12])
        XCTAssertEqual(s.standardDeviation!, 2.squareRoot(), accuracy: 1e-15)
        // half-width = 12.7062047362 · √2/√2
        XCTAssertEqual(s.halfWidth95!, 12.7062047362, accuracy: 1e-9)
    }

    func testSingleValueHasNoSpread() throws {
        let s = try summarize([7.5])
        XCTAssertEqual(s.mean, 7.5)
        XCTAssertNil(s.standardDeviation)
        XCTAssertNil(s.halfWidth95)
        XCTAssertNil(s.interval95)
    }

    /// Quantiles against scipy.stats.t.ppf(0.975, ν) (values printed by scipy 1.17).
    func testStudentTQuantiles() throws {
        let scipy: [(Int, Double)] = [
            (1, 12.706204736174694), (2, 4.302652729749462), (3, 3.1824463052837078), (4, 2.7764451051977934),
            (9, 2.262157162798205), (29, 2.045229642132703), (30, 2.0422724563012378),
            (31, 2.039513446396408), (60, 2.0002978220142604), (100, 1.9839715185235518),
            (1000, 1.9623390808264083),
        ]
        for (nu, q) in scipy {
            let tol = nu <= 30 ? 5e-11 : 3e-8
            XCTAssertEqual(try studentTQuantile975(degreesOfFreedom: nu), q, accuracy: tol, "ν = \(nu)")
        }
        // ν → ∞: the standard normal quantile Φ⁻¹(0.975) = 1.959963984540054 (scipy.stats.norm.ppf(0.975)).
        XCTAssertEqual(try studentTQuantile975(degreesOfFreedom: 10_000_000), 1.959963984540054, accuracy: 1e-6)
        // Monotone decreasing across the table/expansion boundary.
        var previous = Double.infinity
        for nu in 1...200 {
            let q = try studentTQuantile975(degreesOfFreedom: nu)
            XCTAssertLessThan(q, previous, "ν = \(nu)")
            previous = q
        }
    }

    func testBadInputsThrow() {
        XCTAssertThrowsError(try summarize([])) { error in
            XCTAssertEqual(error as? MetricsError, .tooFewRows(what: "values to summarise", rows: 0, minimum: 1))
        }
        XCTAssertThrowsError(try summarize([1, .nan, 3])) { error in
            guard case .nonFinite(_, let index, _)? = error as? MetricsError else { return XCTFail("\(error)") }
            XCTAssertEqual(index, 1)
        }
        XCTAssertThrowsError(try studentTQuantile975(degreesOfFreedom: 0)) { error in
            XCTAssertTrue("\(error)".contains("0"))
        }
    }
}
