import Foundation
import Metrics

/// The outcome of testing one claim of the paper on our data.
public enum Outcome: String, Equatable {
    case reproduced
    case notReproduced = "not reproduced"
    case inconclusive
    case untested
}

/// The difference A − B of two cells with its 95% confidence interval.
///
/// Rule (docs/reports.md): when both cells have the same seeds and n ≥ 2, the difference is paired by
/// seed (d_s = A_s − B_s; mean ± t_{0.975, n−1}·s_d/√n). Otherwise Welch: mean_A − mean_B ±
/// t_{0.975, ν}·√(s_A²/n_A + s_B²/n_B) with the Welch–Satterthwaite ν rounded down (conservative);
/// this needs n ≥ 2 on both sides. With fewer values there is no interval.
public struct Difference: Equatable {
    public enum Kind: String { case paired, welch, none }
    public var kind: Kind
    public var mean: Double
    public var halfWidth: Double?
    public var nA: Int
    public var nB: Int

    public init?(_ a: Cell, _ b: Cell) {
        guard let sa = a.summary, let sb = b.summary else { return nil }
        nA = sa.count; nB = sb.count
        if a.seeds == b.seeds, a.n >= 2 {
            let d = zip(a.values, b.values).map { $0.value - $1.value }
            let s = try? summarize(d)
            kind = .paired; mean = s?.mean ?? (sa.mean - sb.mean); halfWidth = s?.halfWidth95
            return
        }
        mean = sa.mean - sb.mean
        guard let sdA = sa.standardDeviation, let sdB = sb.standardDeviation else { kind = .none; halfWidth = nil; return }
        let va = sdA * sdA / Double(sa.count), vb = sdB * sdB / Double(sb.count)
        let se = (va + vb).squareRoot()
        kind = .welch
        if se == 0 { halfWidth = 0; return }
        let nu = (va + vb) * (va + vb) / (va * va / Double(sa.count - 1) + vb * vb / Double(sb.count - 1))
        let t = (try? studentTQuantile975(degreesOfFreedom: max(1, Int(nu.rounded(.down))))) ?? .nan
        halfWidth = t * se
    }

    public var nText: String { kind == .paired ? "n = \(nA)" : "n = \(nA) vs \(nB)" }

    public var ciText: String {
        switch kind {
        case .paired: return "95% CI of the paired difference over seeds"
        case .welch: return "95% Welch CI of the difference of means"
        case .none: return "no CI: n = 1 on a side"
        }
    }
}

/// A claim "A < B" on a lower-is-better metric, judged from the data.
public struct Verdict {
    public var claim: String
    public var outcome: Outcome
    public var line: String

    /// Tests `claim` (A < B). `unit` names the metric in the line ("FID"); `paper` is the paper's A − B.
    public init(claim: String, a: Cell, b: Cell, unit: String, decimals: Int = 2, paper: Double? = nil,
                missingA: String, missingB: String) {
        self.claim = claim
        // A claim "A < B" that the paper's own numbers do not make at this cell (paper's A − B ≥ 0) says so.
        let paperText = paper.map { "; paper: \(signed($0, 2))" + ($0 >= 0 ? " (the paper's own numbers do not show this claim here)" : "") } ?? ""
        guard let d = Difference(a, b) else {
            outcome = .untested
            let what = [a.isEmpty ? missingA : nil, b.isEmpty ? missingB : nil].compactMap { $0 }.joined(separator: " and ")
            line = "\(claim): untested (no data for \(what))\(paperText)"
            return
        }
        let diff = "difference \(signed(d.mean, decimals))" + (d.halfWidth.map { " ± \(fixed($0, decimals))" } ?? "") + " \(unit)"
        if let h = d.halfWidth {
            if d.mean + h < 0 { outcome = .reproduced }
            else if d.mean - h > 0 { outcome = .notReproduced }
            else { outcome = .inconclusive }
        } else {
            outcome = .inconclusive
        }
        let why: String
        switch outcome {
        case .reproduced: why = "reproduced"
        case .notReproduced: why = "not reproduced (the opposite holds)"
        case .inconclusive: why = d.halfWidth == nil ? "inconclusive (n = 1 on a side: no CI)" : "inconclusive (CI includes 0)"
        case .untested: why = "untested"
        }
        line = "\(claim): \(why), \(diff)\(d.kind == .none ? "" : " (\(d.ciText))"), \(d.nText)\(paperText)"
    }

    public init(claim: String, outcome: Outcome, line: String) {
        self.claim = claim; self.outcome = outcome; self.line = line
    }
}

/// Several verdicts that together test one claim ("every value beats RCFD"): reproduced when all are,
/// not reproduced when any is, otherwise inconclusive (untested when none could be tested).
public func combined(_ claim: String, _ parts: [Verdict]) -> Verdict {
    let tested = parts.filter { $0.outcome != .untested }
    let outcome: Outcome
    if tested.isEmpty { outcome = .untested }
    else if tested.contains(where: { $0.outcome == .notReproduced }) { outcome = .notReproduced }
    else if tested.count == parts.count, tested.allSatisfy({ $0.outcome == .reproduced }) { outcome = .reproduced }
    else { outcome = .inconclusive }
    let counts = [Outcome.reproduced, .notReproduced, .inconclusive, .untested].map { o in (o, parts.filter { $0.outcome == o }.count) }
        .filter { $0.1 > 0 }.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
    return Verdict(claim: claim, outcome: outcome, line: "\(claim): \(outcome.rawValue) (\(counts) of \(parts.count))")
}

/// The verdict lines as a Markdown list under a heading.
public func verdictSection(_ verdicts: [Verdict], heading: String = "Verdicts") -> String {
    var out = "**\(heading)** (rule: docs/reports.md — paired by seed when the seeds match, Welch otherwise; reproduced when the 95% CI of the difference excludes 0 in the paper's direction; each comparison is its own 95% test, not corrected for how many this report makes):\n\n"
    for v in verdicts { out += "- \(v.line)\n" }
    return out
}
