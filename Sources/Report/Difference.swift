import Foundation
import Metrics

/// The difference A − B of two cells with its 95% confidence interval and two-sided p-value.
///
/// Rule (docs/reports.md): when the cells share at least two seeds, the difference is paired by seed over the
/// seeds both have (d_s = A_s − B_s; mean ± t_{0.975, n−1}·s_d/√n; t = mean/(s_d/√n) on n − 1 degrees of freedom,
/// n = the shared seeds). A seed only one cell has (a replicate not yet run on the other side, or a diverged run)
/// is left out and named: with replicate = chain each seed's pair shares its classifier, teacher and PD chain, so
/// the between-seed spread — most of a cell's interval — cancels in the pairs, and dropping the pairing for a
/// missing seed would throw that away. Otherwise (fewer than two shared seeds) Welch:
/// mean_A − mean_B ± t_{0.975, ν}·√(s_A²/n_A + s_B²/n_B) with the Welch–Satterthwaite ν rounded down
/// (conservative), and the p-value on the same ν, so "p < 0.05" and "the 95% CI excludes 0" are the same
/// statement. This needs n ≥ 2 on both sides; with fewer values there is no interval and no p.
/// A difference with no spread (s = 0) has p = 0 when its mean is not 0, else p = 1.
public struct Difference: Equatable {
    public enum Kind: String { case paired, welch, none }
    public var kind: Kind
    public var mean: Double
    public var halfWidth: Double?
    public var nA: Int
    public var nB: Int
    /// The two-sided p-value of "no difference" (nil without an interval).
    public var p: Double?
    /// Paired: the sample standard deviation s_d of the per-seed differences (the unit of the minimum
    /// detectable effect); nil otherwise.
    public var pairedSD: Double?
    /// Paired: the seeds of A, and of B, that the other cell lacks (left out of the pairs); empty otherwise.
    public var unpairedA: [Int] = [], unpairedB: [Int] = []

    public init?(_ a: Cell, _ b: Cell) {
        guard let sa = a.summary, let sb = b.summary else { return nil }
        nA = sa.count; nB = sb.count
        func pValue(_ mean: Double, _ se: Double, _ df: Double) -> Double {
            se == 0 ? (mean == 0 ? 1 : 0) : studentTTwoSidedP(mean / se, degreesOfFreedom: df)
        }
        let shared = Set(a.seeds).intersection(b.seeds)
        if shared.count >= 2 {
            // Both cells' values are sorted by seed, so the shared ones pair up in order.
            let pa = a.values.filter { shared.contains($0.seed) }, pb = b.values.filter { shared.contains($0.seed) }
            let d = zip(pa, pb).map { $0.value - $1.value }
            let s = try? summarize(d)
            kind = .paired; nA = d.count; nB = d.count
            unpairedA = a.seeds.filter { !shared.contains($0) }; unpairedB = b.seeds.filter { !shared.contains($0) }
            mean = s?.mean ?? 0; halfWidth = s?.halfWidth95
            pairedSD = s?.standardDeviation
            if let sd = pairedSD { p = pValue(mean, sd / Double(d.count).squareRoot(), Double(d.count - 1)) }
            return
        }
        mean = sa.mean - sb.mean
        guard let sdA = sa.standardDeviation, let sdB = sb.standardDeviation else { kind = .none; halfWidth = nil; return }
        let va = sdA * sdA / Double(sa.count), vb = sdB * sdB / Double(sb.count)
        let se = (va + vb).squareRoot()
        kind = .welch
        if se == 0 { halfWidth = 0; p = pValue(mean, 0, 1); return }
        let nu = (va + vb) * (va + vb) / (va * va / Double(sa.count - 1) + vb * vb / Double(sb.count - 1))
        let df = max(1, Int(nu.rounded(.down)))
        let t = (try? studentTQuantile975(degreesOfFreedom: df)) ?? .nan
        halfWidth = t * se
        p = pValue(mean, se, Double(df))
    }

    /// "n = 5"; "n = 3 paired seeds (s3, s4 on one side only, left out)"; "n = 4 vs 3" (Welch). No ";": the claims index
    /// (ClaimIndex.swift) ends a verdict's evidence at the first one.
    public var nText: String {
        guard kind == .paired else { return "n = \(nA) vs \(nB)" }
        let left = (unpairedA + unpairedB).sorted()
        return "n = \(nA)" + (left.isEmpty ? "" : " paired seeds (" + left.map { "s\($0)" }.joined(separator: ", ") + " on one side only, left out)")
    }

    public var ciText: String {
        switch kind {
        case .paired: return "95% CI of the paired difference over seeds"
        case .welch: return "95% Welch CI of the difference of means"
        case .none: return "no CI: n = 1 on a side"
        }
    }

    /// "−0.32 ± 0.14" (no "±" without an interval).
    public func text(_ decimals: Int) -> String {
        signed(mean, decimals) + (halfWidth.map { " ± " + fixed($0, decimals) } ?? "")
    }

    /// Whether the 95% CI lies entirely on one side of 0.
    public var excludesZero: Bool { halfWidth.map { mean - $0 > 0 || mean + $0 < 0 } ?? false }
}

/// "p = 0.034", "p < 0.001".
/// Near 0.05 three decimals can hide which side of the threshold p lies on ("0.050" for 0.0497, beside "reproduced"):
/// such a p gets more decimals, up to 6, until the printed value is not 0.05.
func pText(_ p: Double) -> String {
    if p < 0.001 { return "p < 0.001" }
    var decimals = 3
    while decimals < 6, Double(fixed(p, decimals)) == 0.05, p != 0.05 { decimals += 1 }
    return "p = " + fixed(p, decimals)
}

/// The minimum detectable effect of an inconclusive paired comparison (docs/reports.md): the true
/// difference the paired two-sided t test at 0.05 would detect with 80% power with this many seeds, at the
/// observed standard deviation of the paired differences, and how many seeds would detect the observed
/// difference at that SD. nil when it does not apply (not paired, or no spread).
func detectableEffectText(_ d: Difference, unit: String, decimals: Int) -> String? {
    guard d.kind == .paired, let sd = d.pairedSD, sd > 0, let mde = try? pairedMinimumDetectableEffect(n: d.nA) else { return nil }
    let observed = abs(d.mean) / sd
    let need: String
    if d.mean == 0 { need = "the observed difference is 0" }
    else if let n = try? pairsNeeded(delta: observed) {
        need = "detecting the observed \(signed(d.mean, decimals)) at this SD needs \(n) seeds"
    } else { need = "detecting the observed \(signed(d.mean, decimals)) at this SD needs more than 1000 seeds" }
    return "minimum detectable effect (80% power, paired t at 0.05, n = \(d.nA)): \(fixed(mde * sd, decimals)) \(unit) = \(fixed(mde, 2)) SD of the paired difference (SD \(fixed(sd, decimals))); \(need)"
}
