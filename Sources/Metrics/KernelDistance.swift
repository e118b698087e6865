// Kernel Inception Distance: the unbiased MMD² with a cubic polynomial kernel (Bińkowski et al. 2018,
// "Demystifying MMD GANs"; the clean-fid / torch-fidelity definition). Spec §5 has no KID; data.md asks
// for it alongside FID at small N, where FID is biased upwards.

/// A KID estimate over random subsets.
public struct KernelDistance: Sendable, Equatable {
    /// The mean of the per-subset unbiased MMD² values (what clean-fid returns as "KID").
    public let mean: Double
    /// The population standard deviation (ddof 0) of the per-subset values, as torch-fidelity reports it.
    public let standardDeviation: Double
    /// The per-subset unbiased MMD² values, in draw order.
    public let subsetValues: [Double]
    /// The subset size used: min(requested size, N₁, N₂), as in clean-fid.
    public let subsetSize: Int
    /// The seed the subsets were drawn with.
    public let seed: UInt64
}

/// The unbiased MMD² between the rows `rowsX` of `x` and the rows `rowsY` of `y`, with the cubic
/// polynomial kernel k(u, v) = (uᵀv/d + 1)³ (d = feature dimension):
///
///     MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1)) − 2 Σ_{i,j} k(x_i, y_j) / (mn)
///
/// With m = n this is clean-fid's per-subset term. Computed in Float64 (clean-fid computes in the
/// features' float32). Gram matrices by DSYRK/DGEMM. Throws unless the dimensions agree, m, n ≥ 2 and
/// every index is a valid row; indices may repeat only as the caller intends (no check).
public func polynomialMMD2Unbiased<S: FeatureScalar>(_ x: FeatureMatrix<S>, rows rowsX: [Int],
                                                     _ y: FeatureMatrix<S>, rows rowsY: [Int]) throws -> Double {
    let d = x.columns
    guard y.columns == d else {
        throw MetricsError.incompatible(field: "feature dimension", first: "\(d)", second: "\(y.columns)")
    }
    guard rowsX.count >= 2 else { throw MetricsError.tooFewRows(what: "KID subset of the first set", rows: rowsX.count, minimum: 2) }
    guard rowsY.count >= 2 else { throw MetricsError.tooFewRows(what: "KID subset of the second set", rows: rowsY.count, minimum: 2) }
    if let bad = rowsX.first(where: { $0 < 0 || $0 >= x.rows }) {
        throw MetricsError.invalidArgument(name: "row index of the first set", value: "\(bad)", requirement: "must be in 0..<\(x.rows)")
    }
    if let bad = rowsY.first(where: { $0 < 0 || $0 >= y.rows }) {
        throw MetricsError.invalidArgument(name: "row index of the second set", value: "\(bad)", requirement: "must be in 0..<\(y.rows)")
    }
    let a = x.widenRows(rowsX), b = y.widenRows(rowsY)
    let m = rowsX.count, n = rowsY.count
    let scale = 1 / Double(d)
    @inline(__always) func kernel(_ g: Double) -> Double { let t = g * scale + 1; return t * t * t }

    /// Σ_{i≠j} k over the Gram matrix of `rows` × d data `z` (upper triangle from DSYRK, doubled).
    func offDiagonalSum(_ z: [Double], rows: Int) -> Double {
        var g = [Double](repeating: 0, count: rows * rows)
        z.withUnsafeBufferPointer { zp in
            g.withUnsafeMutableBufferPointer { gp in dsyrkUpperAAt(n: rows, k: d, a: zp.baseAddress!, c: gp.baseAddress!) }
        }
        var s = 0.0
        for i in 0..<rows { for j in (i + 1)..<rows { s += kernel(g[i * rows + j]) } }
        return 2 * s
    }
    let kxx = offDiagonalSum(a, rows: m)
    let kyy = offDiagonalSum(b, rows: n)
    var g = [Double](repeating: 0, count: m * n)
    a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            g.withUnsafeMutableBufferPointer { gp in
                dgemm(transB: true, m: m, n: n, k: d, a: ap.baseAddress!, b: bp.baseAddress!, c: gp.baseAddress!)
            }
        }
    }
    let kxy = g.reduce(0) { $0 + kernel($1) }
    return kxx / Double(m * (m - 1)) + kyy / Double(n * (n - 1)) - 2 * kxy / Double(m * n)
}

/// KID between two feature sets (N₁ × D and N₂ × D), as clean-fid's `kernel_distance`: `subsets` times,
/// draw m = min(subsetSize, N₁, N₂) rows of each set without replacement and take the unbiased MMD² of
/// ``polynomialMMD2Unbiased(_:rows:_:rows:)``; report the mean and the population std over subsets.
///
/// Subsets come from a SplitMix64 stream seeded with `seed` (first set's rows, then the second's, per
/// subset; partial Fisher–Yates), so a (data, seed) pair always gives the same value. The defaults are
/// clean-fid's (100 subsets of 1000). Note: for identical inputs the estimate is not 0 unless the
/// subsets differ; with m = N (each subset is the whole set) it equals (2/m)(mean_{i≠j} k − mean_i k_ii) < 0.
public func kernelInceptionDistance<S: FeatureScalar>(_ first: FeatureMatrix<S>, _ second: FeatureMatrix<S>,
                                                      subsets: Int = 100, subsetSize: Int = 1000,
                                                      seed: UInt64 = 0) throws -> KernelDistance {
    guard subsets >= 1 else {
        throw MetricsError.invalidArgument(name: "subsets", value: "\(subsets)", requirement: "must be ≥ 1")
    }
    guard first.columns == second.columns else {
        throw MetricsError.incompatible(field: "feature dimension", first: "\(first.columns)", second: "\(second.columns)")
    }
    let m = min(subsetSize, first.rows, second.rows)
    guard m >= 2 else {
        throw MetricsError.invalidArgument(name: "KID subset size min(subsetSize, N₁, N₂)", value: "\(m)",
                                           requirement: "must be ≥ 2 (subsetSize \(subsetSize), N₁ \(first.rows), N₂ \(second.rows))")
    }
    var rng = SplitMix64(seed: seed)
    var pool1 = Array(0..<first.rows), pool2 = Array(0..<second.rows)
    var values: [Double] = []
    for _ in 0..<subsets {
        let rows1 = rng.sampleWithoutReplacement(&pool1, count: m)
        let rows2 = rng.sampleWithoutReplacement(&pool2, count: m)
        values.append(try polynomialMMD2Unbiased(first, rows: rows1, second, rows: rows2))
    }
    let mean = values.reduce(0, +) / Double(subsets)
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(subsets)
    return KernelDistance(mean: mean, standardDeviation: variance.squareRoot(), subsetValues: values,
                          subsetSize: m, seed: seed)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, self-contained so subset draws do not
/// depend on the standard library's bounded-random algorithm or on another module's generator.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound ≥ 1), Lemire's multiply-and-reject method (unbiased).
    mutating func next(below bound: Int) -> Int {
        let b = UInt64(bound)
        let threshold = (0 &- b) % b
        while true {
            let product = next().multipliedFullWidth(by: b)
            if product.low >= threshold { return Int(product.high) }
        }
    }

    /// The first `count` entries of `pool` after a partial Fisher–Yates shuffle: a uniformly random
    /// `count`-subset (in random order) whatever order `pool` was in.
    mutating func sampleWithoutReplacement(_ pool: inout [Int], count: Int) -> [Int] {
        for i in 0..<count {
            let j = i + next(below: pool.count - i)
            pool.swapAt(i, j)
        }
        return Array(pool[0..<count])
    }
}
