import Foundation

// Is a distillation stage's loss still falling when it stops? (issue 20 §4: RCFD/RDD losses at the small
// preset still fell 10–26% over the last quarter of their 200 steps, and nothing said so.)

/// The reading of one loss series' last quarter.
public enum Convergence: Equatable, Sendable {
    /// The fitted fall over the last quarter is at most the threshold fraction of the quarter's mean.
    case converged(fall: Double)
    /// The loss still falls by more than the threshold: `fall` is the fraction, e.g. 0.15 for 15%.
    case notConverged(fall: Double)
    /// Fewer than `ConvergenceRule.minimumPoints` logged points in the last quarter, or a mean ≤ 0.
    case undetermined

    public var flag: String? { if case .notConverged = self { return "not converged" }; return nil }
}

/// The rule: over the points whose step lies in the last quarter of the logged step range [s₀, s₁]
/// (step ≥ s₁ − (s₁ − s₀)/4), fit a least-squares line v ≈ a + b·step and take
///
///     fall = −b · (last step − first step of the quarter) / mean(v of the quarter),
///
/// the relative drop the trend makes across the quarter. A fitted line rather than first-vs-last value,
/// because a logged loss is noisy step to step (one mini-batch per point); relative to the quarter's mean,
/// so the rule does not depend on the loss's scale. `fall > threshold` flags the stage "not converged".
public struct ConvergenceRule: Sendable {
    /// 5% by default: a loss still dropping by a twentieth over the last quarter would plausibly gain more.
    public var threshold: Double = 0.05
    public static let minimumPoints = 3

    public init(threshold: Double = 0.05) { self.threshold = threshold }

    public func assess(_ series: [SeriesPoint]) -> Convergence {
        guard let s0 = series.map(\.step).min(), let s1 = series.map(\.step).max(), s1 > s0 else { return .undetermined }
        let cut = Double(s1) - Double(s1 - s0) / 4
        let q = series.filter { Double($0.step) >= cut && $0.value.isFinite }
        guard q.count >= Self.minimumPoints else { return .undetermined }
        let n = Double(q.count)
        let mx = q.map { Double($0.step) }.reduce(0, +) / n, my = q.map(\.value).reduce(0, +) / n
        guard my > 0 else { return .undetermined }
        var sxy = 0.0, sxx = 0.0
        for p in q { let dx = Double(p.step) - mx; sxy += dx * (p.value - my); sxx += dx * dx }
        guard sxx > 0 else { return .undetermined }
        let span = Double(q.map(\.step).max()! - q.map(\.step).min()!)
        let fall = -(sxy / sxx) * span / my
        return fall > threshold ? .notConverged(fall: fall) : .converged(fall: fall)
    }
}
