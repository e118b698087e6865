// The Inception Score formula (spec §5 "IS"), applied to any classifier's softmax outputs.
import Foundation

/// Which network produced the class probabilities. Only the Inception-v3 1008-way softmax gives an
/// "Inception Score"; any other classifier's result is a "classifier score" and must be named so.
public enum ScoreNetwork: Sendable, Hashable, CustomStringConvertible {
    /// The pytorch-fid Inception-v3 1008-way fc (bias removed) + softmax, as in spec §5.
    case inceptionV3
    /// Any other classifier, e.g. `.classifier(name: "densenet201-cifar10")`.
    case classifier(name: String)

    /// "Inception Score" or "classifier score (<name>)": the name to print in tables.
    public var description: String {
        switch self {
        case .inceptionV3: return "Inception Score"
        case .classifier(let name): return "classifier score (\(name))"
        }
    }
}

/// An Inception-Score-formula result over equal splits.
public struct SplitScore: Sendable, Equatable {
    /// The network whose probabilities were scored; `network.description` is the metric's name.
    public let network: ScoreNetwork
    /// The mean over splits of exp(mean_x KL(p(y|x) ‖ p̄(y))).
    public let mean: Double
    /// The population standard deviation (np.std, ddof 0) over splits.
    public let standardDeviation: Double
    /// The per-split scores, in split order.
    public let splitScores: [Double]
    /// Metric name for reports: "Inception Score" or "classifier score (<name>)".
    public var name: String { network.description }
}

/// The Inception Score formula of spec §5 on softmax probabilities p(y|x) (N × K):
///
///     for each of `splits` splits S:  score_S = exp( mean_{x∈S} Σ_y p(y|x) (ln p(y|x) − ln p̄_S(y)) ),
///     p̄_S(y) = mean_{x∈S} p(y|x);   result = mean_S score_S ± population std_S score_S.
///
/// Split i holds rows ⌊i·N/splits⌋ ..< ⌊(i+1)·N/splits⌋, as in pytorch-ddpm's `score/both.py` (equal
/// when `splits` divides N). Terms with p(y|x) = 0 contribute 0 (the limit of p ln p); the reference
/// numpy code would produce NaN there. Computed in Float64.
///
/// Throws unless 1 ≤ splits ≤ N, every probability is in [0, 1] and every row sums to 1 within 1e-4.
public func inceptionScore<S: FeatureScalar>(probabilities: FeatureMatrix<S>, splits: Int = 10,
                                             network: ScoreNetwork) throws -> SplitScore {
    let n = probabilities.rows, k = probabilities.columns
    guard splits >= 1 else {
        throw MetricsError.invalidArgument(name: "splits", value: "\(splits)", requirement: "must be ≥ 1")
    }
    guard n >= splits else {
        throw MetricsError.tooFewRows(what: "probabilities for \(splits) splits", rows: n, minimum: splits)
    }
    let p = probabilities.widenRows(Array(0..<n))
    for r in 0..<n {
        var sum = 0.0
        for c in 0..<k {
            let v = p[r * k + c]
            guard v >= 0, v <= 1 else { throw MetricsError.invalidProbability(row: r, column: c, value: v) }
            sum += v
        }
        guard abs(sum - 1) <= 1e-4 else { throw MetricsError.probabilitiesDoNotSumToOne(row: r, sum: sum) }
    }

    var scores: [Double] = []
    for s in 0..<splits {
        let lo = s * n / splits, hi = (s + 1) * n / splits
        let count = Double(hi - lo)
        var marginal = [Double](repeating: 0, count: k)
        for r in lo..<hi { for c in 0..<k { marginal[c] += p[r * k + c] } }
        let logMarginal = marginal.map { log($0 / count) }
        var klSum = 0.0
        for r in lo..<hi {
            var kl = 0.0
            for c in 0..<k {
                let v = p[r * k + c]
                if v > 0 { kl += v * (log(v) - logMarginal[c]) }
            }
            klSum += kl
        }
        scores.append(exp(klSum / count))
    }
    let mean = scores.reduce(0, +) / Double(splits)
    let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
    return SplitScore(network: network, mean: mean, standardDeviation: variance.squareRoot(), splitScores: scores)
}
