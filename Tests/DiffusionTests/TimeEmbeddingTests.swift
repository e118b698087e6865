import Foundation
import XCTest
@testable import Diffusion

/// Spec §2.2 time embedding and check S3 of §8.
final class TimeEmbeddingTests: XCTestCase {
    /// Distance between two Float32 values in units in the last place of `expected`.
    func ulps(_ actual: Float, _ expected: Float) -> Float { abs(actual - expected) / expected.ulp }

    /// S3: row 1, first four = [0.8414709568, 0.5403023362, 0.7617203593, 0.6479058862];
    /// row 1000, last two = [0.1152216718, 0.9933397770]. The printed values are torch's float32
    /// outputs, whose sin/cos are faithfully but not always correctly rounded (cos(1) = 0.54030230587
    /// comes out as 0.5403023362, one ulp above the correctly rounded 0.5403022766). We round
    /// correctly, so the check is "within one float32 ulp", and exact where torch rounds correctly.
    func testS3OfficialArithmetic() throws {
        let d = 128
        let emb = try timeEmbeddingTable(rows: 1025, dim: d)
        XCTAssertEqual(emb.count, 1025 * d)
        let expected: [(Int, Float)] = [
            (d + 0, 0.8414709568), (d + 1, 0.5403023362), (d + 2, 0.7617203593), (d + 3, 0.6479058862),
            (1000 * d + d - 2, 0.1152216718), (1000 * d + d - 1, 0.9933397770),
        ]
        for (index, value) in expected {
            XCTAssertLessThanOrEqual(ulps(emb[index], value), 1, "entry \(index): \(emb[index]) vs \(value)")
        }
        for j in [0, 2, 3] { XCTAssertEqual(emb[d + j], expected[j].1) }  // exact where torch rounds correctly
        XCTAssertEqual(emb[1000 * d + d - 2], 0.1152216718)  // the float32 argument matters here
        XCTAssertEqual(emb[1000 * d + d - 1], 0.9933397770)
        XCTAssertEqual(emb[d + 1], Float(cos(1.0)))          // correctly rounded, 1 ulp below torch
    }

    /// Row 1023, columns 2…11, as torch 2.13 computes model.py's table (printed with `%.10f`). At this
    /// row the float32 rounding of the argument p·ω_i moves sin/cos by up to ~3e-5, so these entries
    /// pin the official float32 arithmetic (not just the formula).
    func testOfficialArithmeticMatchesTorchAtRow1023() throws {
        let d = 128
        let emb = try timeEmbeddingTable(rows: 1025, dim: d)
        let f64 = try timeEmbeddingTable(rows: 1025, dim: d, arithmetic: .float64)
        let torch: [Float] = [-0.0476405472, 0.9988645315, 0.5589982867, 0.8291687965, -0.9916391969,
                              -0.1290415525, -0.3557831645, -0.9345685244, 0.9747227430, -0.2234178334]
        for (offset, value) in torch.enumerated() {
            let j = 1023 * d + 2 + offset
            XCTAssertLessThanOrEqual(ulps(emb[j], value), 1, "col \(2 + offset): \(emb[j]) vs torch \(value)")
            XCTAssertGreaterThan(abs(f64[j] - value), 1e-6, "float64 variant col \(2 + offset)")
        }
    }

    /// The Float64 variant against an independent Float64 evaluation of the §2.2 formula, and its
    /// documented difference from S3 at row 1000 (float32 argument rounding in the official code).
    func testFloat64ArithmeticMatchesFormula() throws {
        let rows = 1025, d = 128
        let emb = try timeEmbeddingTable(rows: rows, dim: d, arithmetic: .float64)
        for p in [0, 1, 2, 511, 1000, 1024] {
            for j in 0..<d {
                let i = j / 2
                let arg = Double(p) * exp(-Double(2 * i) / Double(d) * log(10000.0))
                let expected = j % 2 == 0 ? sin(arg) : cos(arg)
                XCTAssertEqual(Double(emb[p * d + j]), expected, accuracy: 1e-7, "p \(p) j \(j)")
            }
        }
        XCTAssertEqual(Double(emb[d]), 0.8414709568, accuracy: 5e-11)  // row 1 agrees exactly
        // Row 1000's sin entry is 6 float32 ulps (4.5e-8) away from S3: the official table rounds the
        // argument 1000·ω_63 to float32 first.
        let diff = ulps(emb[1000 * d + d - 2], 0.1152216718)
        XCTAssertGreaterThanOrEqual(diff, 5)
        XCTAssertLessThanOrEqual(diff, 7)
        // Both variants agree to the documented bound over the whole table.
        let official = try timeEmbeddingTable(rows: rows, dim: d)
        let worst = zip(emb, official).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4)
        XCTAssertGreaterThan(worst, 1e-6)
    }

    func testInterleavingAndRowZero() throws {
        let d = 6
        let emb = try timeEmbeddingTable(rows: 3, dim: d)
        XCTAssertEqual(Array(emb[0..<d]), [0, 1, 0, 1, 0, 1])
        // Column 0 is sin(p), column 1 cos(p) (frequency 1).
        XCTAssertEqual(emb[d], Float(sin(1.0)))
        XCTAssertEqual(emb[d + 1], Float(cos(1.0)))
        XCTAssertEqual(emb[2 * d], Float(sin(2.0)))
        for p in 0..<3 { for i in 0..<(d / 2) {
            let s = emb[p * d + 2 * i], c = emb[p * d + 2 * i + 1]
            XCTAssertEqual(s * s + c * c, 1, accuracy: 1e-6)
        } }
    }

    func testBadShapesThrow() {
        XCTAssertThrowsError(try timeEmbeddingTable(rows: 1025, dim: 127)) { error in
            XCTAssertEqual(error as? ScheduleError, .invalidEmbeddingShape(rows: 1025, dim: 127))
            XCTAssertTrue("\(error)".contains("127"))
        }
        XCTAssertThrowsError(try timeEmbeddingTable(rows: 0, dim: 128))
        XCTAssertThrowsError(try timeEmbeddingTable(rows: 10, dim: 0))
    }
}
