// The Gaussian summary (μ, Σ) of a feature set that the Fréchet distance compares (spec §5 "FID").

/// Mean and covariance of N feature vectors of dimension D, in Float64, with the labels that decide
/// whether two statistics may be compared at all.
///
/// Spec §5: "μ and Σ from np.cov(rowvar=False) in float64", i.e. μ = (1/N) Σ_n x_n and
/// Σ = 1/(N−1) · Σ_n (x_n − μ)(x_n − μ)ᵀ.
///
/// Labels: `featureNetwork` (e.g. "inception-v3-pool3 (fid-helper default_1.pt)" or
/// "densenet201-cifar pooled"), `dataset` (what the features were computed on) and `preprocessing`
/// (resize, value range, …). Statistics with a different feature network, preprocessing or dimension
/// are refused, not compared (``checkComparable(with:)``); the datasets differ by design.
public struct FeatureStatistics: Sendable, Equatable {
    /// μ, D entries.
    public let mean: [Double]
    /// Σ, D×D row-major, exactly symmetric.
    public let covariance: [Double]
    /// N, the number of feature vectors summarised.
    public let count: Int
    /// D.
    public let dimension: Int
    public let featureNetwork: String
    public let dataset: String
    public let preprocessing: String

    /// Statistics from a stored μ and Σ (e.g. a reference `.npz`). Throws unless μ has D entries, Σ has
    /// D×D, all are finite, N ≥ 2, and Σ is symmetric to 1e-9 of its largest entry. Σ is stored as
    /// (Σ + Σᵀ)/2, which leaves an exactly symmetric input unchanged.
    public init(mean: [Double], covariance: [Double], count: Int,
                featureNetwork: String, dataset: String, preprocessing: String) throws {
        let d = mean.count
        guard d >= 1 else {
            throw MetricsError.invalidArgument(name: "mean dimension", value: "0", requirement: "must be ≥ 1")
        }
        guard covariance.count == d * d else {
            throw MetricsError.shapeMismatch(what: "covariance for D = \(d)", expected: d * d, actual: covariance.count)
        }
        guard count >= 2 else { throw MetricsError.tooFewRows(what: "feature statistics", rows: count, minimum: 2) }
        if let i = mean.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(what: "mean", index: i, value: mean[i])
        }
        if let i = covariance.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(what: "covariance", index: i, value: covariance[i])
        }
        let scale = covariance.reduce(0) { max($0, abs($1)) }
        var sym = covariance
        for i in 0..<d {
            for j in (i + 1)..<d {
                let a = covariance[i * d + j], b = covariance[j * d + i]
                if abs(a - b) > 1e-9 * scale {
                    throw MetricsError.invalidArgument(
                        name: "covariance[\(i),\(j)] vs [\(j),\(i)]", value: "\(a) vs \(b)",
                        requirement: "a covariance must be symmetric (to 1e-9 of its largest entry \(scale))")
                }
                let m = (a + b) / 2
                sym[i * d + j] = m
                sym[j * d + i] = m
            }
        }
        self.mean = mean
        self.covariance = sym
        self.count = count
        self.dimension = d
        self.featureNetwork = featureNetwork
        self.dataset = dataset
        self.preprocessing = preprocessing
    }

    /// μ and Σ of the rows of `features` (N × D, N ≥ 2), in Float64 (spec §5).
    ///
    /// Two passes over the data in blocks of `chunkRows` rows, each block widened to Float64: the first
    /// sums the rows, the second centres each block on μ and accumulates (X−μ)ᵀ(X−μ) (the upper triangle,
    /// then mirrored). Centring before the product is what np.cov does and avoids the cancellation of
    /// E[xxᵀ] − μμᵀ. Every sum runs over the rows in order, products rounded separately (LinearAlgebra.swift),
    /// so μ and Σ have the same bits on every CPU and at any thread count, whatever `chunkRows` is.
    /// Cost ≈ N·D²/2 multiply-adds; memory: the D×D result plus one chunkRows × D Float64 block.
    public init<S: FeatureScalar>(features: FeatureMatrix<S>, featureNetwork: String, dataset: String,
                                  preprocessing: String, chunkRows: Int = 1024) throws {
        let n = features.rows, d = features.columns
        guard n >= 2 else { throw MetricsError.tooFewRows(what: "features for a covariance", rows: n, minimum: 2) }
        guard chunkRows >= 1 else {
            throw MetricsError.invalidArgument(name: "chunkRows", value: "\(chunkRows)", requirement: "must be ≥ 1")
        }
        let block = min(chunkRows, n)
        var buffer = [Double](repeating: 0, count: block * d)
        var sum = [Double](repeating: 0, count: d)
        // Pass 1: μ.
        buffer.withUnsafeMutableBufferPointer { buf in
            sum.withUnsafeMutableBufferPointer { s in
                for start in stride(from: 0, to: n, by: block) {
                    let rows = min(block, n - start)
                    features.widenRows(start..<(start + rows), into: buf.baseAddress!)
                    columnSums(k: rows, n: d, a: buf.baseAddress!, into: s.baseAddress!)
                }
            }
        }
        let mean = sum.map { $0 / Double(n) }
        // Pass 2: Σ (upper triangle), then mirror and scale by 1/(N−1).
        var cov = [Double](repeating: 0, count: d * d)
        buffer.withUnsafeMutableBufferPointer { buf in
            cov.withUnsafeMutableBufferPointer { c in
                mean.withUnsafeBufferPointer { mu in
                    for start in stride(from: 0, to: n, by: block) {
                        let rows = min(block, n - start)
                        let x = buf.baseAddress!
                        features.widenRows(start..<(start + rows), into: x)
                        for r in 0..<rows {
                            let row = x + r * d
                            for j in 0..<d { row[j] -= mu[j] }
                        }
                        dsyrkUpperAtA(n: d, k: rows, a: x, c: c.baseAddress!)
                    }
                }
                mirrorUpper(c.baseAddress!, n: d)
                let scale = 1 / Double(n - 1)
                for i in 0..<(d * d) { c[i] *= scale }
            }
        }
        try self.init(mean: mean, covariance: cov, count: n, featureNetwork: featureNetwork,
                      dataset: dataset, preprocessing: preprocessing)
    }

    /// Throws ``MetricsError/incompatible(field:first:second:)`` naming both values when the two
    /// statistics differ in feature network, preprocessing or dimension ("refused, not compared").
    public func checkComparable(with other: FeatureStatistics) throws {
        if featureNetwork != other.featureNetwork {
            throw MetricsError.incompatible(field: "feature network", first: featureNetwork, second: other.featureNetwork)
        }
        if preprocessing != other.preprocessing {
            throw MetricsError.incompatible(field: "preprocessing", first: preprocessing, second: other.preprocessing)
        }
        if dimension != other.dimension {
            throw MetricsError.incompatible(field: "feature dimension", first: "\(dimension)", second: "\(other.dimension)")
        }
    }
}
