import XCTest
@testable import Metrics

/// The metrics' Float64 linear algebra (Sources/CLinearAlgebra): one fixed order of operations, so the same
/// bits on every CPU and at any thread count (issue 23), and accurate (against Float64 references).
final class LinearAlgebraTests: XCTestCase {
    /// Inputs from integers only (no libm), so the inputs themselves are the same bits on every machine.
    func uniforms(_ count: Int, seed: UInt64) -> [Double] {
        var rng = TestRNG(seed)
        return (0..<count).map { _ in rng.uniform() * 2 - 1 }
    }

    /// The products are *defined* as the naive left-to-right loop (k ascending, separately rounded products),
    /// so they must equal it bit for bit — on shapes large enough to be split over threads and tiled.
    func testProductsEqualTheNaiveLoopBitForBit() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (37, 53, 29), (130, 600, 700)] {
            let a = uniforms(m * k, seed: UInt64(m)), b = uniforms(k * n, seed: UInt64(n))
            var c = [Double](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                dgemm(m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
            } } }
            var naive = [Double](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var s = 0.0
                for l in 0..<k { s = s + a[i * k + l] * b[l * n + j] }
                naive[i * n + j] = s
            } }
            XCTAssertEqual(c, naive, "dgemm \(m)×\(n)×\(k)")
            // Aᵀ-stored and Bᵀ-stored operands give the same bits as the untransposed product.
            var at = [Double](repeating: 0, count: m * k), bt = [Double](repeating: 0, count: k * n)
            for i in 0..<m { for l in 0..<k { at[l * m + i] = a[i * k + l] } }
            for l in 0..<k { for j in 0..<n { bt[j * k + l] = b[l * n + j] } }
            var c2 = [Double](repeating: .nan, count: m * n)
            at.withUnsafeBufferPointer { ap in bt.withUnsafeBufferPointer { bp in c2.withUnsafeMutableBufferPointer { cp in
                dgemm(transA: true, transB: true, m: m, n: n, k: k, a: ap.baseAddress!, b: bp.baseAddress!, c: cp.baseAddress!)
            } } }
            XCTAssertEqual(c2, naive, "dgemm Aᵀ·Bᵀ \(m)×\(n)×\(k)")
        }
    }

    func testSyrkAndColumnSumsEqualTheNaiveLoopBitForBit() {
        for (n, k) in [(1, 1), (7, 3), (300, 250)] {
            let x = uniforms(k * n, seed: UInt64(n * 31 + k))
            var c = [Double](repeating: 0, count: n * n)
            var sum = [Double](repeating: 0.25, count: n)
            x.withUnsafeBufferPointer { xp in
                c.withUnsafeMutableBufferPointer { dsyrkUpperAtA(n: n, k: k, a: xp.baseAddress!, c: $0.baseAddress!) }
                sum.withUnsafeMutableBufferPointer { columnSums(k: k, n: n, a: xp.baseAddress!, into: $0.baseAddress!) }
            }
            for i in 0..<n {
                for j in 0..<n {
                    if j < i { XCTAssertEqual(c[i * n + j], 0, "lower triangle untouched"); continue }
                    var s = 0.0
                    for r in 0..<k { s = s + x[r * n + i] * x[r * n + j] }
                    if c[i * n + j] != s { XCTFail("syrk (\(i), \(j)) of \(n)×\(k): \(c[i * n + j]) vs \(s)"); return }
                }
                var s = 0.25
                for r in 0..<k { s = s + x[r * n + i] }
                XCTAssertEqual(sum[i], s, "column sum \(i)")
            }
        }
    }

    /// Eigenpairs against their definition in Float64: ‖AV − VΛ‖ and ‖VᵀV − I‖ within 100·N·ε·‖A‖, ascending
    /// values, and the values-only path giving the same bits as the path with vectors.
    func testSymmetricEigenResidualOrthogonalityAndOrder() throws {
        for n in [1, 2, 3, 8, 64, 200] {
            let g = uniforms(n * (n + 2), seed: UInt64(100 + n))
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0..<n {
                var s = 0.0
                for r in 0..<(n + 2) { s += g[r * n + i] * g[r * n + j] }
                a[i * n + j] = s
            } }
            for i in 0..<n { for j in 0..<i { a[i * n + j] = a[j * n + i] } }
            let (w, vOpt) = try symmetricEigen(a, n: n, vectors: true)
            let v = try XCTUnwrap(vOpt)
            let (w2, none) = try symmetricEigen(a, n: n, vectors: false)
            XCTAssertNil(none)
            XCTAssertEqual(w, w2, "values-only = values with vectors, n = \(n)")
            XCTAssertEqual(w, w.sorted(), "ascending, n = \(n)")
            let norm = a.reduce(0) { max($0, abs($1)) } * Double(n)
            let tol = 100 * Double(n) * Double.ulpOfOne
            var residual = 0.0, orth = 0.0
            for p in 0..<n {
                for i in 0..<n {
                    var av = 0.0
                    for j in 0..<n { av += a[i * n + j] * v[p * n + j] }
                    residual = max(residual, abs(av - w[p] * v[p * n + i]))
                }
                for q in 0..<n {
                    var d = 0.0
                    for i in 0..<n { d += v[p * n + i] * v[q * n + i] }
                    orth = max(orth, abs(d - (p == q ? 1 : 0)))
                }
            }
            XCTAssertLessThanOrEqual(residual, tol * norm, "‖AV − VΛ‖, n = \(n)")
            XCTAssertLessThanOrEqual(orth, tol, "‖VᵀV − I‖, n = \(n)")
        }
        // Closed forms: a diagonal matrix (already tridiagonal, zero off-diagonal) and a multiple eigenvalue.
        let (d, _) = try symmetricEigen([3, 0, 0, 0, -1, 0, 0, 0, 2], n: 3, vectors: false)
        XCTAssertEqual(d, [-1, 2, 3])
        let (ones, _) = try symmetricEigen([Double](repeating: 1, count: 16), n: 4, vectors: false)
        for (x, e) in zip(ones, [0.0, 0, 0, 4]) { XCTAssertEqual(x, e, accuracy: 1e-14) }
    }

    /// The point of the module: an FID and a covariance whose bits do not depend on the CPU, its vector width
    /// or the thread count. The inputs are built from integers (the same bits everywhere); the pinned bit
    /// patterns were computed by this code on an Intel Xeon (family 6 model 207, AVX-512) on 2026-12-07 and
    /// must come out the same on every x86-64 CPU (CI runs on whichever machine it gets: AMD Zen 1–4 have
    /// all appeared). With OpenBLAS's per-CPU kernels the FID of the tiny sweep differed in the 13th digit
    /// between a Zen 1 and this Xeon. Changing the algorithm changes these pins — and is a code-version bump.
    func testFIDBitsArePinnedAcrossMachines() throws {
        let n = 300, d = 96
        let x = uniforms(n * d, seed: 7).map { Float($0) }, y = uniforms(n * d, seed: 8).map { Float($0 * 0.9 + 0.05) }
        let fx = try FeatureMatrix(rows: n, columns: d, values: x), fy = try FeatureMatrix(rows: n, columns: d, values: y)
        let a = try FeatureStatistics(features: fx, featureNetwork: "n", dataset: "a", preprocessing: "p")
        let b = try FeatureStatistics(features: fy, featureNetwork: "n", dataset: "b", preprocessing: "p")
        // The chunking of the rows does not change a bit (every sum runs over the rows in order).
        let a7 = try FeatureStatistics(features: fx, featureNetwork: "n", dataset: "a", preprocessing: "p", chunkRows: 7)
        XCTAssertEqual(a, a7)
        let fid = try frechetDistance(a, b)
        XCTAssertEqual(fid.value.bitPattern, 0x4015_4892_7a60_3770, "FID bits (5.320871269342987 here; got \(fid.value))")
        XCTAssertEqual(a.covariance[1].bitPattern, 0xbf97_9cf6_260e_1017, "Σ₁[0, 1] bits (got \(a.covariance[1]))")
    }
}
