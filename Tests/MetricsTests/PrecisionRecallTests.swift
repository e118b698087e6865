import XCTest
@testable import Metrics

/// Improved precision and recall (Kynkäänniemi et al. 2019) on 1-D sets worked out by hand.
final class PrecisionRecallTests: XCTestCase {
    func column(_ v: [Double]) throws -> FeatureMatrix<Double> { try FeatureMatrix(rows: v.count, columns: 1, values: v) }

    /// Real {0, 1, 2, 3, 10}, generated {0.5, 5, 19, 2.9}.
    /// k = 1: real radii 1, 1, 1, 1, 7 — 0.5, 2.9 lie within 1 of a real point, 5 within 7 of 10, 19 is 9 > 7
    /// from 10: precision 3/4. Generated radii 2.4, 2.1, 2.1, 14 (sorted 0.5, 2.9, 5, 19) cover 0…3 and 10
    /// (9 ≤ 14 from 19): recall 1.
    /// k = 3: the radius of 10 becomes its 3rd-nearest distance 9, and 19 lies exactly on it (the boundary
    /// counts): precision 4/4.
    func testHandWorkedExample() throws {
        let real = try column([0, 1, 2, 3, 10]), gen = try column([0.5, 5, 19, 2.9])
        let k1 = try precisionRecall(real: real, generated: gen, k: 1)
        XCTAssertEqual(k1.precision, 0.75)
        XCTAssertEqual(k1.recall, 1)
        XCTAssertEqual(try precisionRecall(real: real, generated: gen, k: 3).precision, 1)
        // Swapping the sets swaps the two numbers.
        let swapped = try precisionRecall(real: gen, generated: real, k: 1)
        XCTAssertEqual(swapped.precision, k1.recall)
        XCTAssertEqual(swapped.recall, k1.precision)
    }

    func testBadInputIsRefused() throws {
        XCTAssertThrowsError(try precisionRecall(real: try column([0, 1, 2]), generated: try column([0, 1, 2, 3]), k: 3))
        XCTAssertThrowsError(try precisionRecall(real: try column([0, 1, 2, 3]), generated: try FeatureMatrix(rows: 4, columns: 2, values: [Double](repeating: 0, count: 8))))
    }
}
