// The Fréchet distance between two Gaussians fitted to feature sets (spec §5 "FID").

/// A Fréchet distance and the terms and diagnostics behind it.
public struct FrechetDistance: Sendable, Equatable {
    /// d² = ‖μ₁−μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½.
    public let value: Double
    /// ‖μ₁−μ₂‖².
    public let meanTerm: Double
    /// Tr Σ₁.
    public let trace1: Double
    /// Tr Σ₂.
    public let trace2: Double
    /// Tr (Σ₁Σ₂)^½ = Σ_i √λ_i(Σ₁^½ Σ₂ Σ₁^½).
    public let traceSqrtProduct: Double
    /// Eigenvalues of Σ₁ set to 0: negative ones, and with a non-zero `roundingTolerance` also positive
    /// ones inside the rounding band (|λ| ≤ tolerance · λ_max). N < D gives at least D − N + 1 of them.
    public let zeroedEigenvaluesSigma1: Int
    /// Eigenvalues of Σ₁^½ Σ₂ Σ₁^½ set to 0 (same rule).
    public let zeroedEigenvaluesProduct: Int
    /// The most negative eigenvalue that was set to 0 (0 when none was negative).
    public let mostNegativeZeroed: Double
}

/// Eigenvalues below −`psdTolerance` · (largest |eigenvalue|) mean the input is not a covariance.
/// Rounding in the eigensolver on a PSD matrix stays near D · 2.2e-16 · ‖A‖ (≈ 5e-13 relative at D = 2048).
public let psdTolerance = 1e-6

/// The default rounding band for eigenvalues, relative to the largest, per matrix dimension:
/// eigenvalues with |λ| ≤ D · ε · λ_max (ε = 2.2e-16) are indistinguishable from 0 after the eigensolver.
public let defaultEigenvalueRoundingTolerancePerDimension = Double.ulpOfOne

/// The Fréchet distance between two feature statistics (spec §5):
///
///     d² = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½
///
/// Refuses (throws) when the statistics differ in feature network, preprocessing or dimension.
/// See ``frechetDistance(mean1:covariance1:mean2:covariance2:roundingTolerance:)`` for the method.
public func frechetDistance(_ first: FeatureStatistics, _ second: FeatureStatistics,
                            roundingTolerance: Double? = nil) throws -> FrechetDistance {
    try first.checkComparable(with: second)
    return try frechetDistance(mean1: first.mean, covariance1: first.covariance,
                               mean2: second.mean, covariance2: second.covariance,
                               roundingTolerance: roundingTolerance)
}

/// The Fréchet distance d² = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr (Σ₁Σ₂)^½ of spec §5, in Float64.
///
/// The trace term uses symmetric eigen-decompositions only (`symmetricEigen`: Householder + implicit QL in a fixed order, the same bits on every CPU), never a general matrix
/// square root:
/// 1. Σ₁ = V Λ Vᵀ, so Σ₁^½ = V Λ^½ Vᵀ. Negative eigenvalues (rounding on a singular Σ₁) are set to 0
///    and counted; so are eigenvalues inside the rounding band |λ| ≤ tol · λ_max (see below).
/// 2. Σ₁Σ₂ has the same non-zero eigenvalues as the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½ (AB and BA share
///    their non-zero spectrum, A = Σ₁^½, B = Σ₁^½Σ₂), which is orthogonally similar to
///    M = Λ^½ (Vᵀ Σ₂ V) Λ^½. This holds for singular Σ₁ too. Rows and columns of M whose λ was set to
///    0 are exactly zero and are dropped before the second decomposition.
/// 3. Tr (Σ₁Σ₂)^½ = Σ_i √μ_i(M), with μ's negative or inside the rounding band set to 0 and counted.
///
/// The rounding band: tol = `roundingTolerance` ?? D · ε (ε = 2.2e-16). Why: √ is not Lipschitz at 0,
/// so an exactly singular covariance (N < D) whose zero eigenvalues come out as ±1e-16 · λ_max would add
/// ~1e-8 · √(λ_max μ_max) per zero eigenvalue; with the band, exactly singular statistics give the exact
/// FID to ~1e-12 relative. `roundingTolerance: 0` clamps negative eigenvalues only.
///
/// The reference pipeline (pytorch-ddpm / RCFD `calculate_frechet_distance`) instead calls
/// `scipy.linalg.sqrtm(Σ₁·Σ₂)` on the non-symmetric product, retries with 1e-6 added to both diagonals
/// when the result is non-finite, and drops imaginary parts when the diagonal's are ≤ 1e-3. Both compute
/// the same quantity; they differ by rounding, which is visible (~1e-8 relative) for near-singular
/// covariances (N < D): see docs/metrics.md.
///
/// Throws for mismatched shapes, non-finite values, a negative tolerance, or a covariance with an
/// eigenvalue below −1e-6 × its largest (not positive semi-definite).
public func frechetDistance(mean1: [Double], covariance1: [Double],
                            mean2: [Double], covariance2: [Double],
                            roundingTolerance: Double? = nil) throws -> FrechetDistance {
    let d = mean1.count
    guard d >= 1 else { throw MetricsError.invalidArgument(name: "mean1 dimension", value: "0", requirement: "must be ≥ 1") }
    guard mean2.count == d else {
        throw MetricsError.incompatible(field: "mean dimension", first: "\(d)", second: "\(mean2.count)")
    }
    guard covariance1.count == d * d else {
        throw MetricsError.shapeMismatch(what: "covariance1 for D = \(d)", expected: d * d, actual: covariance1.count)
    }
    guard covariance2.count == d * d else {
        throw MetricsError.shapeMismatch(what: "covariance2 for D = \(d)", expected: d * d, actual: covariance2.count)
    }
    for (name, values) in [("mean1", mean1), ("covariance1", covariance1), ("mean2", mean2), ("covariance2", covariance2)] {
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(what: name, index: i, value: values[i])
        }
    }
    let tolerance = roundingTolerance ?? Double(d) * defaultEigenvalueRoundingTolerancePerDimension
    guard tolerance >= 0, tolerance.isFinite else {
        throw MetricsError.invalidArgument(name: "roundingTolerance", value: "\(tolerance)", requirement: "must be finite and ≥ 0")
    }

    var meanTerm = 0.0
    for i in 0..<d { let diff = mean1[i] - mean2[i]; meanTerm += diff * diff }
    var trace1 = 0.0, trace2 = 0.0
    for i in 0..<d { trace1 += covariance1[i * d + i]; trace2 += covariance2[i * d + i] }

    // 1. Σ₁ = V Λ Vᵀ; `vt` holds Vᵀ (row j = eigenvector j). Keep the r eigenpairs outside the band.
    let (lambda1, vtOptional) = try symmetricEigen(covariance1, n: d, vectors: true)
    let first = try bandedSquareRoots(lambda1, tolerance: tolerance, what: "covariance1")
    let vt = vtOptional!
    let kept = (0..<d).filter { first.roots[$0] > 0 }
    let r = kept.count
    var traceSqrt = 0.0
    var second = BandedRoots(roots: [], zeroed: 0, mostNegative: 0)
    if r > 0 {
        // 2. B = V_rᵀ Σ₂ V_r (r×r), M = Λ_r^½ B Λ_r^½ (symmetrised: B is symmetric up to rounding).
        var er = [Double](repeating: 0, count: r * d)
        for (a, i) in kept.enumerated() { for k in 0..<d { er[a * d + k] = vt[i * d + k] } }
        var t = [Double](repeating: 0, count: r * d)
        var b = [Double](repeating: 0, count: r * r)
        er.withUnsafeBufferPointer { ep in
            covariance2.withUnsafeBufferPointer { s2 in
                t.withUnsafeMutableBufferPointer { tp in
                    dgemm(m: r, n: d, k: d, a: ep.baseAddress!, b: s2.baseAddress!, c: tp.baseAddress!)
                }
            }
            t.withUnsafeBufferPointer { tp in
                b.withUnsafeMutableBufferPointer { bp in
                    dgemm(transB: true, m: r, n: r, k: d, a: tp.baseAddress!, b: ep.baseAddress!, c: bp.baseAddress!)
                }
            }
        }
        var m = [Double](repeating: 0, count: r * r)
        for a in 0..<r {
            for c in a..<r {
                let v = first.roots[kept[a]] * (0.5 * (b[a * r + c] + b[c * r + a])) * first.roots[kept[c]]
                m[a * r + c] = v
                m[c * r + a] = v
            }
        }
        // 3. Tr (Σ₁Σ₂)^½ = Σ √μ(M), summed from the smallest eigenvalue up.
        let (mu, _) = try symmetricEigen(m, n: r, vectors: false)
        second = try bandedSquareRoots(mu, tolerance: Double(r) / Double(d) * tolerance,
                                       what: "Σ₁^½ Σ₂ Σ₁^½ (covariance2)")
        traceSqrt = second.roots.reduce(0, +)
    }

    return FrechetDistance(value: meanTerm + trace1 + trace2 - 2 * traceSqrt, meanTerm: meanTerm,
                           trace1: trace1, trace2: trace2, traceSqrtProduct: traceSqrt,
                           zeroedEigenvaluesSigma1: first.zeroed,
                           zeroedEigenvaluesProduct: second.zeroed + (d - r),
                           mostNegativeZeroed: min(first.mostNegative, second.mostNegative))
}

struct BandedRoots {
    var roots: [Double]
    var zeroed: Int
    var mostNegative: Double
}

/// √λ for each eigenvalue, with λ < 0 or |λ| ≤ tolerance · max|λ| set to 0 (and counted), and the most
/// negative λ set to 0 (0 if none). Throws when an eigenvalue is below −psdTolerance × max|λ|.
func bandedSquareRoots(_ eigenvalues: [Double], tolerance: Double, what: String) throws -> BandedRoots {
    let largest = eigenvalues.reduce(0) { max($0, abs($1)) }
    var out = BandedRoots(roots: [Double](repeating: 0, count: eigenvalues.count), zeroed: 0, mostNegative: 0)
    for (i, l) in eigenvalues.enumerated() {
        if l < -psdTolerance * largest {
            throw MetricsError.notPositiveSemidefinite(what: what, eigenvalue: l, largest: largest)
        }
        if l < 0 || l <= tolerance * largest {
            out.zeroed += 1
            out.mostNegative = min(out.mostNegative, l)
        } else {
            out.roots[i] = l.squareRoot()
        }
    }
    return out
}
