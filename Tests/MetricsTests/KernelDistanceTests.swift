import Foundation
import XCTest
@testable import Metrics

/// KID: unbiased MMD² with k(x, y) = (xᵀy/d + 1)³ (Bińkowski et al. 2018; clean-fid).
final class KernelDistanceTests: XCTestCase {
    /// Obviously-correct loops for the unbiased MMD² (any m, n).
    func naiveMMD2(_ x: [[Double]], _ y: [[Double]]) -> Double {
        let d = Double(x[0].count)
        func k(_ a: [Double], _ b: [Double]) -> Double {
            let t = zip(a, b).map(*).reduce(0, +) / d + 1
            return t * t * t
        }
        let m = x.count, n = y.count
        var sxx = 0.0, syy = 0.0, sxy = 0.0
        for i in 0..<m { for j in 0..<m where i != j { sxx += k(x[i], x[j]) } }
        for i in 0..<n { for j in 0..<n where i != j { syy += k(y[i], y[j]) } }
        for i in 0..<m { for j in 0..<n { sxy += k(x[i], y[j]) } }
        return sxx / Double(m * (m - 1)) + syy / Double(n * (n - 1)) - 2 * sxy / Double(m * n)
    }

    func rows(_ m: FeatureMatrix<Double>) -> [[Double]] {
        (0..<m.rows).map { Array(m.values[($0 * m.columns)..<(($0 + 1) * m.columns)]) }
    }

    func testMatchesNaiveLoops() throws {
        var rng = TestRNG(20)
        let x = try FeatureMatrix(rows: 9, columns: 4, values: rng.normals(36))
        let y = try FeatureMatrix(rows: 7, columns: 4, values: rng.normals(28, mean: 0.3))
        let v = try polynomialMMD2Unbiased(x, rows: Array(0..<9), y, rows: Array(0..<7))
        assertRelative(v, naiveMMD2(rows(x), rows(y)), 1e-12, "MMD² whole sets")
        let sub = try polynomialMMD2Unbiased(x, rows: [8, 1, 3], y, rows: [0, 6])
        let xr = rows(x), yr = rows(y)
        assertRelative(sub, naiveMMD2([xr[8], xr[1], xr[3]], [yr[0], yr[6]]), 1e-12, "MMD² subsets")
    }

    /// Identical sets, each subset the whole set: MMD²_u = (2/m)(mean_{i≠j} k − mean_i k_ii), not 0.
    func testIdenticalSetsClosedForm() throws {
        var rng = TestRNG(21)
        let m = 30, d = 5
        let x = try FeatureMatrix(rows: m, columns: d, values: rng.normals(m * d))
        let kid = try kernelInceptionDistance(x, x, subsets: 3, subsetSize: 1000, seed: 7)
        XCTAssertEqual(kid.subsetSize, m)
        let xr = rows(x)
        var off = 0.0, diag = 0.0
        for i in 0..<m { for j in 0..<m {
            let t = zip(xr[i], xr[j]).map(*).reduce(0, +) / Double(d) + 1
            if i == j { diag += t * t * t } else { off += t * t * t }
        } }
        let expected = 2 / Double(m) * (off / Double(m * (m - 1)) - diag / Double(m))
        XCTAssertLessThan(expected, 0)
        for v in kid.subsetValues { assertRelative(v, expected, 1e-11, "identical sets") }
        XCTAssertEqual(kid.standardDeviation, 0, accuracy: 1e-12 * abs(expected))
    }

    /// Same distribution ≈ 0 (small next to a shifted distribution, which is clearly > 0).
    func testSameDistributionNearZeroShiftedPositive() throws {
        var rng = TestRNG(22)
        let n = 400, d = 8
        let a = try FeatureMatrix(rows: n, columns: d, values: rng.normals(n * d))
        let b = try FeatureMatrix(rows: n, columns: d, values: rng.normals(n * d))
        let shifted = try FeatureMatrix(rows: n, columns: d, values: rng.normals(n * d, mean: 0.5))
        let same = try kernelInceptionDistance(a, b, subsets: 20, subsetSize: 200, seed: 1)
        let diff = try kernelInceptionDistance(a, shifted, subsets: 20, subsetSize: 200, seed: 1)
        XCTAssertGreaterThan(diff.mean, 0)
        XCTAssertGreaterThan(diff.mean, 5 * diff.standardDeviation)
        XCTAssertLessThan(abs(same.mean), 0.05 * diff.mean)
        XCTAssertLessThan(abs(same.mean), 3 * same.standardDeviation)
    }

    /// Against scripts/fid_reference.py: clean-fid's per-subset formula on the fixture's subset rows,
    /// the general unbiased MMD² on whole sets (m ≠ n), and a set against itself.
    func testAgainstReferenceFixture() throws {
        let fixture = try ReferenceFixture.load()
        XCTAssertEqual(fixture.kid.count, 2)
        for c in fixture.kid {
            let x = try float32Matrix(c.features1, rows: c.n1, cols: c.d)
            let y = try float32Matrix(c.features2, rows: c.n2, cols: c.d)
            assertRelative(try polynomialMMD2Unbiased(x, rows: Array(0..<c.n1), y, rows: Array(0..<c.n2)),
                           c.mmd2_whole_sets, 1e-9, "\(c.name) whole sets")
            assertRelative(try polynomialMMD2Unbiased(x, rows: Array(0..<c.n1), x, rows: Array(0..<c.n1)),
                           c.mmd2_first_with_itself, 1e-9, "\(c.name) itself")
            var values: [Double] = []
            for (r1, r2) in zip(c.subset_rows1, c.subset_rows2) {
                values.append(try polynomialMMD2Unbiased(x, rows: r1, y, rows: r2))
            }
            for (a, b) in zip(values, c.subset_values) { assertRelative(a, b, 1e-9, "\(c.name) subset") }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            assertRelative(mean, c.kid_mean, 1e-9, "\(c.name) mean")
            assertRelative(std, c.kid_std, 1e-7, "\(c.name) std")
        }
    }

    func testSeededAndSubsetsAreValid() throws {
        var rng = TestRNG(23)
        let a = try FeatureMatrix(rows: 50, columns: 3, values: rng.normals(150))
        let b = try FeatureMatrix(rows: 60, columns: 3, values: rng.normals(180, mean: 0.2))
        let k1 = try kernelInceptionDistance(a, b, subsets: 5, subsetSize: 20, seed: 42)
        let k2 = try kernelInceptionDistance(a, b, subsets: 5, subsetSize: 20, seed: 42)
        let k3 = try kernelInceptionDistance(a, b, subsets: 5, subsetSize: 20, seed: 43)
        XCTAssertEqual(k1, k2)
        XCTAssertNotEqual(k1.subsetValues, k3.subsetValues)
        XCTAssertEqual(k1.subsetValues.count, 5)
        XCTAssertEqual(k1.subsetSize, 20)
        // The sampler draws distinct, in-range rows.
        var s = SplitMix64(seed: 9)
        var pool = Array(0..<50)
        for _ in 0..<100 {
            let pick = s.sampleWithoutReplacement(&pool, count: 20)
            XCTAssertEqual(Set(pick).count, 20)
            XCTAssertTrue(pick.allSatisfy { (0..<50).contains($0) })
        }
        // Every row is reachable and draws are roughly uniform: 2000 draws of 1 from 10.
        var counts = [Int](repeating: 0, count: 10)
        var small = Array(0..<10)
        for _ in 0..<2000 { counts[s.sampleWithoutReplacement(&small, count: 1)[0]] += 1 }
        XCTAssertTrue(counts.allSatisfy { $0 > 140 && $0 < 260 }, "\(counts)")
    }

    func testBadInputsThrow() throws {
        let a = try FeatureMatrix<Double>(rows: 3, columns: 2, values: [1, 2, 3, 4, 5, 6])
        let b = try FeatureMatrix<Double>(rows: 3, columns: 3, values: Array(repeating: 1, count: 9))
        let one = try FeatureMatrix<Double>(rows: 1, columns: 2, values: [1, 2])
        XCTAssertThrowsError(try kernelInceptionDistance(a, b)) { error in
            XCTAssertEqual(error as? MetricsError, .incompatible(field: "feature dimension", first: "2", second: "3"))
        }
        XCTAssertThrowsError(try kernelInceptionDistance(a, one)) { error in
            XCTAssertTrue("\(error)".contains("= 1"), "\(error)")
        }
        XCTAssertThrowsError(try kernelInceptionDistance(a, a, subsets: 0))
        XCTAssertThrowsError(try polynomialMMD2Unbiased(a, rows: [0, 3], a, rows: [0, 1])) { error in
            XCTAssertTrue("\(error)".contains("3"), "\(error)")
        }
    }
}
