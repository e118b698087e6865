import Foundation
import XCTest
@testable import Metrics

/// d² = ‖μ₁−μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½ (spec §5 "FID", §8 E2).
final class FrechetDistanceTests: XCTestCase {
    func fd(_ m1: [Double], _ c1: [Double], _ m2: [Double], _ c2: [Double],
            tolerance: Double? = nil) throws -> FrechetDistance {
        try frechetDistance(mean1: m1, covariance1: c1, mean2: m2, covariance2: c2, roundingTolerance: tolerance)
    }

    /// E2: μ₁ = 0, μ₂ = (1,1), Σ₁ = I₂, Σ₂ = 4·I₂ gives 2 + 2·(1 + 4 − 4) = 4.
    func testE2() throws {
        let r = try fd([0, 0], [1, 0, 0, 1], [1, 1], [4, 0, 0, 4])
        XCTAssertEqual(r.value, 4, accuracy: 1e-14)
        XCTAssertEqual(r.meanTerm, 2)
        XCTAssertEqual(r.traceSqrtProduct, 4, accuracy: 1e-14)
    }

    /// E2: identical statistics give 0 (random full-rank Σ from data).
    func testIdenticalStatisticsGiveZero() throws {
        var rng = TestRNG(10)
        let n = 40, d = 12
        let x = rng.normals(n * d, mean: 1, scale: 3)
        let (mu, cov) = naiveMeanCovariance(x, rows: n, cols: d)
        let r = try fd(mu, cov, mu, cov)
        XCTAssertEqual(r.value, 0, accuracy: 1e-12 * (r.trace1 + r.trace2))
        assertRelative(r.traceSqrtProduct, r.trace1, 1e-13, "Tr (Σ²)^½ = Tr Σ")
    }

    /// Random Gaussian closed form: Σ₁ = Q D₁ Qᵀ, Σ₂ = Q D₂ Qᵀ commute, so
    /// Tr (Σ₁Σ₂)^½ = Σ √(d₁ᵢ d₂ᵢ) and d² = ‖μ₁−μ₂‖² + Σ (√d₁ᵢ − √d₂ᵢ)². Also with a singular D₁.
    func testCommutingCovariancesClosedForm() throws {
        var rng = TestRNG(11)
        let d = 10
        let q = randomOrthogonal(d, &rng)
        for singular in [false, true] {
            let d1 = (0..<d).map { i in singular && i % 3 == 0 ? 0 : 0.1 + 3 * rng.uniform() }
            let d2 = (0..<d).map { _ in 0.1 + 5 * rng.uniform() }
            let m1 = rng.normals(d), m2 = rng.normals(d)
            let r = try fd(m1, conjugate(q, d1), m2, conjugate(q, d2))
            var expected = 0.0
            for i in 0..<d {
                expected += (m1[i] - m2[i]) * (m1[i] - m2[i])
                expected += (d1[i].squareRoot() - d2[i].squareRoot()) * (d1[i].squareRoot() - d2[i].squareRoot())
            }
            assertRelative(r.value, expected, 1e-12, "commuting, singular \(singular)")
            let traceSqrt = zip(d1, d2).map { ($0 * $1).squareRoot() }.reduce(0, +)
            assertRelative(r.traceSqrtProduct, traceSqrt, 1e-12, "Tr sqrt, singular \(singular)")
            XCTAssertEqual(r.zeroedEigenvaluesSigma1, singular ? 4 : 0)
            // Negatives-only clamping keeps √(rounding noise) of the four zero eigenvalues: ~1e-8 relative.
            let literal = try fd(m1, conjugate(q, d1), m2, conjugate(q, d2), tolerance: 0)
            assertRelative(literal.value, expected, singular ? 1e-7 : 1e-12, "tolerance 0, singular \(singular)")
        }
    }

    /// Non-commuting 2×2 closed form: for A with eigenvalues λ₁, λ₂ ≥ 0,
    /// Tr A^½ = √λ₁ + √λ₂ = √(Tr A + 2√det A), with A = Σ₁Σ₂ and det A = det Σ₁ · det Σ₂.
    func testTwoByTwoClosedForm() throws {
        var rng = TestRNG(12)
        for _ in 0..<20 {
            func spd() -> [Double] {
                let a = rng.normals(4)
                return [a[0] * a[0] + a[1] * a[1], a[0] * a[2] + a[1] * a[3],
                        a[0] * a[2] + a[1] * a[3], a[2] * a[2] + a[3] * a[3]]
            }
            let s1 = spd(), s2 = spd()
            let trProduct = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3]
            let det = (s1[0] * s1[3] - s1[1] * s1[2]) * (s2[0] * s2[3] - s2[1] * s2[2])
            let trSqrt = (trProduct + 2 * det.squareRoot()).squareRoot()
            let r = try fd([0, 0], s1, [0.5, -1], s2)
            assertRelative(r.traceSqrtProduct, trSqrt, 1e-11, "2×2 Tr sqrt")
            XCTAssertEqual(r.value, 1.25 + s1[0] + s1[3] + s2[0] + s2[3] - 2 * trSqrt,
                           accuracy: 1e-10 * (s1[0] + s1[3] + s2[0] + s2[3]))
        }
    }

    /// Against scripts/fid_reference.py: the exact (mpmath, 60 digits) FID of the features and the
    /// reference pipeline (scipy sqrtm), including near-singular cases with N < D.
    func testAgainstReferenceFixture() throws {
        let fixture = try ReferenceFixture.load()
        XCTAssertEqual(fixture.fid.count, 5)
        for c in fixture.fid {
            let a = try FeatureStatistics(features: float32Matrix(c.features1, rows: c.n1, cols: c.d),
                                          featureNetwork: "n", dataset: "a", preprocessing: "p")
            let b = try FeatureStatistics(features: float32Matrix(c.features2, rows: c.n2, cols: c.d),
                                          featureNetwork: "n", dataset: "b", preprocessing: "p")
            let r = try frechetDistance(a, b)
            assertRelative(r.trace1, c.trace_sigma1, 1e-13, "\(c.name) Tr Σ₁")
            assertRelative(r.trace2, c.trace_sigma2, 1e-13, "\(c.name) Tr Σ₂")
            // The clamped eigenvalues of Σ₁ can only be among its numerically zero ones.
            if c.name.hasPrefix("identical") {
                let scale = c.trace_sigma1 + c.trace_sigma2
                XCTAssertEqual(r.value, 0, accuracy: 1e-6 * scale, "\(c.name) ours")
                XCTAssertEqual(c.fid_reference_pipeline, 0, accuracy: 1e-6 * scale, "\(c.name) reference")
                continue
            }
            // Default rounding band: the exact FID of the features, also when N < D.
            assertRelative(r.value, c.fid_exact, 1e-11, "\(c.name) vs exact")
            XCTAssertEqual(r.zeroedEigenvaluesSigma1, c.d - c.rank1, "\(c.name) zeroed = D − rank Σ₁")
            // Against the reference pipeline (scipy sqrtm) and numpy eigvals: within 1e-6.
            assertRelative(r.value, c.fid_reference_pipeline, 1e-6, "\(c.name) vs reference pipeline")
            assertRelative(r.value, c.fid_numpy_eigvals, 1e-6, "\(c.name) vs numpy eigvals")
            // Negatives-only clamping (tolerance 0) behaves like the float64 references: ~1e-8 off exact.
            let literal = try frechetDistance(a, b, roundingTolerance: 0)
            assertRelative(literal.value, c.fid_exact, 1e-7, "\(c.name) tolerance 0 vs exact")
            assertRelative(literal.value, c.fid_reference_pipeline, 1e-6, "\(c.name) tolerance 0 vs reference")
            if c.rank1 == c.d && c.rank2 == c.d {
                assertRelative(r.value, c.fid_exact, 1e-12, "\(c.name) full rank vs exact")
                assertRelative(literal.value, r.value, 1e-14, "\(c.name) full rank: band is irrelevant")
                XCTAssertEqual(r.zeroedEigenvaluesSigma1 + r.zeroedEigenvaluesProduct, 0)
            }
        }
    }

    func testNotPositiveSemidefiniteThrows() throws {
        XCTAssertThrowsError(try fd([0, 0], [1, 0, 0, -0.5], [0, 0], [1, 0, 0, 1])) { error in
            XCTAssertEqual(error as? MetricsError,
                           .notPositiveSemidefinite(what: "covariance1", eigenvalue: -0.5, largest: 1))
            XCTAssertTrue("\(error)".contains("-0.5"))
        }
        // Tiny negative rounding is clamped and counted, not refused.
        let r = try fd([0, 0], [1, 0, 0, -1e-17], [0, 0], [1, 0, 0, 1])
        XCTAssertEqual(r.zeroedEigenvaluesSigma1, 1)
        XCTAssertEqual(r.mostNegativeZeroed, -1e-17)
        XCTAssertEqual(r.traceSqrtProduct, 1, accuracy: 1e-15)
        // A tiny positive eigenvalue is inside the default band (2·ε·λ_max) and zeroed; with tolerance 0
        // it is kept and adds √(1e-17 · 1) ≈ 3.2e-9 to the trace term.
        let banded = try fd([0, 0], [1, 0, 0, 1e-17], [0, 0], [1, 0, 0, 1])
        XCTAssertEqual(banded.zeroedEigenvaluesSigma1, 1)
        XCTAssertEqual(banded.traceSqrtProduct, 1)
        let kept = try fd([0, 0], [1, 0, 0, 1e-17], [0, 0], [1, 0, 0, 1], tolerance: 0)
        XCTAssertEqual(kept.zeroedEigenvaluesSigma1, 0)
        XCTAssertEqual(kept.traceSqrtProduct, 1 + 1e-17.squareRoot(), accuracy: 1e-15)
        XCTAssertThrowsError(try fd([0], [1], [0], [1], tolerance: -1)) { error in
            XCTAssertTrue("\(error)".contains("-1"), "\(error)")
        }
    }

    func testShapeErrors() {
        XCTAssertThrowsError(try fd([0, 0], [1, 0, 0, 1], [0, 0, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1])) { error in
            XCTAssertEqual(error as? MetricsError, .incompatible(field: "mean dimension", first: "2", second: "3"))
        }
        XCTAssertThrowsError(try fd([0, 0], [1, 0, 0], [0, 0], [1, 0, 0, 1]))
        XCTAssertThrowsError(try fd([0, .infinity], [1, 0, 0, 1], [0, 0], [1, 0, 0, 1])) { error in
            XCTAssertEqual(error as? MetricsError, .nonFinite(what: "mean1", index: 1, value: .infinity))
        }
    }


    // MARK: helpers

    /// Q from Gram–Schmidt on a random matrix (rows orthonormal).
    func randomOrthogonal(_ d: Int, _ rng: inout TestRNG) -> [Double] {
        var q = rng.normals(d * d)
        for i in 0..<d {
            for j in 0..<i {
                var dot = 0.0
                for k in 0..<d { dot += q[i * d + k] * q[j * d + k] }
                for k in 0..<d { q[i * d + k] -= dot * q[j * d + k] }
            }
            var norm = 0.0
            for k in 0..<d { norm += q[i * d + k] * q[i * d + k] }
            for k in 0..<d { q[i * d + k] /= norm.squareRoot() }
        }
        return q
    }

    /// Qᵀ diag(v) Q by loops.
    func conjugate(_ q: [Double], _ v: [Double]) -> [Double] {
        let d = v.count
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d {
            var s = 0.0
            for k in 0..<d { s += q[k * d + i] * v[k] * q[k * d + j] }
            out[i * d + j] = s
        } }
        return out
    }
}
