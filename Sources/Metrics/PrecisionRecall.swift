// Improved precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen, Aila 2019, "Improved Precision and
// Recall Metric for Assessing Generative Models", §2): FID mixes fidelity and coverage into one number;
// precision says which share of generated samples look real, recall which share of real samples the
// generator covers.

/// Precision and recall of a generated feature set against a real one.
public struct PrecisionRecall: Sendable, Equatable {
    /// Share of generated samples inside the real manifold.
    public let precision: Double
    /// Share of real samples inside the generated manifold.
    public let recall: Double
    /// The neighbourhood size k of the manifold estimate (3 in the paper).
    public let k: Int
}

/// The k-NN manifold estimate of the paper (eq. 1–2): a set Φ covers a point φ when φ lies within the
/// distance from some φ′ ∈ Φ to its k-th nearest neighbour in Φ (φ′ itself excluded), boundary included:
///
///     f(φ, Φ) = 1  iff  ∃ φ′ ∈ Φ: ‖φ − φ′‖ ≤ ‖φ′ − NN_k(φ′, Φ)‖
///     precision = mean over generated φ_g of f(φ_g, Φ_real),   recall = mean over real φ_r of f(φ_r, Φ_gen).
///
/// Distances are Euclidean in Float64 (squared distances from Gram matrices, ‖a‖² + ‖b‖² − 2aᵀb, clamped
/// at 0); O(N²·D) time and O(N²) memory, fine for the evaluation sizes of the scaled presets (N ≤ a few
/// thousand). The paper's reference code batches the same computation. Needs k < rows of each set.
public func precisionRecall<S: FeatureScalar>(real: FeatureMatrix<S>, generated: FeatureMatrix<S>, k: Int = 3) throws -> PrecisionRecall {
    guard real.columns == generated.columns else {
        throw MetricsError.incompatible(field: "feature dimension", first: "\(real.columns)", second: "\(generated.columns)")
    }
    guard k >= 1 else { throw MetricsError.invalidArgument(name: "k", value: "\(k)", requirement: "must be ≥ 1") }
    guard real.rows > k else { throw MetricsError.tooFewRows(what: "real features for a \(k)-NN radius", rows: real.rows, minimum: k + 1) }
    guard generated.rows > k else { throw MetricsError.tooFewRows(what: "generated features for a \(k)-NN radius", rows: generated.rows, minimum: k + 1) }
    let r = real.widenRows(Array(0..<real.rows)), g = generated.widenRows(Array(0..<generated.rows))
    let d = real.columns
    let rr = squaredDistances(r, r, d), gg = squaredDistances(g, g, d), gr = squaredDistances(g, r, d)
    let radiusReal = kthNeighbourRadii(rr, rows: real.rows, k: k)
    let radiusGen = kthNeighbourRadii(gg, rows: generated.rows, k: k)
    let nr = real.rows, ng = generated.rows
    var inReal = 0
    for i in 0..<ng where (0..<nr).contains(where: { gr[i * nr + $0] <= radiusReal[$0] }) { inReal += 1 }
    var inGen = 0
    for j in 0..<nr where (0..<ng).contains(where: { gr[$0 * nr + j] <= radiusGen[$0] }) { inGen += 1 }
    return PrecisionRecall(precision: Double(inReal) / Double(ng), recall: Double(inGen) / Double(nr), k: k)
}

/// Squared Euclidean distances between the rows of `a` (m × d) and `b` (n × d), row-major m × n.
func squaredDistances(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
    let m = a.count / d, n = b.count / d
    var g = [Double](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            g.withUnsafeMutableBufferPointer { gp in dgemm(transB: true, m: m, n: n, k: d, a: ap.baseAddress!, b: bp.baseAddress!, c: gp.baseAddress!) }
        }
    }
    func norms(_ x: [Double], _ rows: Int) -> [Double] { (0..<rows).map { i in (0..<d).reduce(0) { $0 + x[i * d + $1] * x[i * d + $1] } } }
    let na = norms(a, m), nb = norms(b, n)
    for i in 0..<m { for j in 0..<n { g[i * n + j] = max(0, na[i] + nb[j] - 2 * g[i * n + j]) } }
    return g
}

/// For each row of a square distance matrix, its k-th smallest distance to another row (itself excluded).
func kthNeighbourRadii(_ dist: [Double], rows n: Int, k: Int) -> [Double] {
    (0..<n).map { i in
        var row = (0..<n).filter { $0 != i }.map { dist[i * n + $0] }
        row.sort()
        return row[k - 1]
    }
}
