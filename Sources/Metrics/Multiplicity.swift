// Multiplicity control for a family of tests (docs/reports.md, "Statistics").

/// Holm–Bonferroni adjusted p-values (Holm 1979), in the order given.
///
/// Sort the m p-values ascending, p_(1) ≤ … ≤ p_(m); the adjusted value of the k-th is
/// max_{j ≤ k} min(1, (m − j + 1)·p_(j)). Rejecting where the adjusted p < α controls the family-wise error
/// rate at α under any dependence, and is uniformly more powerful than Bonferroni. Ties keep their input
/// order (the result does not depend on it). NaN p-values are returned as NaN and do not count in m.
/// Reference: [0.01, 0.04, 0.03, 0.005] → [0.03, 0.06, 0.06, 0.02] (scripts/stats/reference_values.py).
public func holmAdjusted(_ p: [Double]) -> [Double] {
    let valid = p.indices.filter { !p[$0].isNaN }.sorted { (p[$0], $0) < (p[$1], $1) }
    let m = valid.count
    var out = [Double](repeating: .nan, count: p.count)
    var running = 0.0
    for (rank, i) in valid.enumerated() {
        running = max(running, min(1, Double(m - rank) * p[i]))
        out[i] = running
    }
    return out
}
