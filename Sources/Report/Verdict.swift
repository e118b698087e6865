import Foundation
import Metrics

/// The outcome of testing one claim of the paper on our data.
public enum Outcome: String, Equatable, CaseIterable {
    case reproduced
    case notReproduced = "not reproduced"
    case inconclusive
    /// The report's metric and another distance metric of the same evaluations (FID and KID) differ in
    /// sign with at least one 95% CI excluding 0: the report does not pick one.
    case metricsDisagree = "metrics disagree"
    case untested
}

/// Which way a claim points: "A < B" (lower is better: FID) or "A > B" (memory grows).
public enum ClaimDirection: Equatable { case lower, higher }

/// One claim "A < B" tested on two cells: the difference on the report's metric, the same difference on
/// the companion distance metrics of the same evaluations, and — once the report's family is known — the
/// Holm-adjusted p-value that decides the verdict word (docs/reports.md, "Statistics").
public struct Comparison {
    public var a: Cell
    public var b: Cell
    public var unit: String
    public var decimals: Int
    public var paper: Double?
    public var missingA: String
    public var missingB: String
    public var direction: ClaimDirection
    /// What A − B is, when the claim does not say it ("peak at batch 64 − batch 8; means by batch: …").
    public var label: String?
    public let difference: Difference?
    /// The same A − B on every other FID/KID metric both cells' evaluations recorded, by metric name.
    public let companions: [(metric: String, difference: Difference)]
    /// Neutral words for comparisons that test no claim (`rdd-report sweep`: a value against the baseline):
    /// "differs: lower" / "differs: higher" instead of reproduced / not reproduced.
    public var neutral = false
    /// Holm-adjusted p over the report's family and the family's size (1: not adjusted).
    public var adjustedP: Double?
    public var familySize = 1

    init(a: Cell, b: Cell, unit: String, decimals: Int, paper: Double?, missingA: String, missingB: String, direction: ClaimDirection) {
        self.a = a; self.b = b; self.unit = unit; self.decimals = decimals; self.paper = paper
        self.missingA = missingA; self.missingB = missingB; self.direction = direction
        difference = Difference(a, b)
        adjustedP = difference?.p
        let metric = a.metric ?? b.metric
        companions = Set(a.companionMetrics).intersection(b.companionMetrics).filter { $0 != metric }.sorted().compactMap { m in
            Difference(a.companion(m), b.companion(m)).map { (metric: m, difference: $0) }
        }
    }

    /// The outcome and its words, from the adjusted p (equivalently: the Holm step's interval), the
    /// claim's direction, and the companion metrics.
    func judge() -> (Outcome, String) {
        guard let d = difference else { return (.untested, "untested") }
        guard d.halfWidth != nil, let p = adjustedP else { return (.inconclusive, "inconclusive (n = 1 on a side: no CI)") }
        let metric = a.metric ?? b.metric
        // Metrics disagree: two distances (FID, KID) among {the report's metric, its companions} differ in sign
        // and one CI excludes 0. A score (higher is better) is never set against a distance.
        let all = ([(metric ?? unit, d)] + companions.map { ($0.metric, $0.difference) }).filter { isDistanceMetric($0.0) }
        for (i, x) in all.enumerated() { for y in all[(i + 1)...] where x.1.mean * y.1.mean < 0 && (x.1.excludesZero || y.1.excludesZero) {
            return (.metricsDisagree, "metrics disagree (`\(x.0)` \(signed(x.1.mean, 3)) vs `\(y.0)` \(signed(y.1.mean, 3)), opposite signs with a 95% CI excluding 0: no verdict is drawn from either)")
        } }
        if p < 0.05, neutral { return d.mean < 0 ? (.reproduced, "differs: lower") : (.notReproduced, "differs: higher") }
        if p < 0.05 {
            let holds = direction == .lower ? d.mean < 0 : d.mean > 0
            return holds ? (.reproduced, "reproduced") : (.notReproduced, "not reproduced (the opposite holds)")
        }
        if d.excludesZero { return (.inconclusive, "inconclusive after Holm's correction (the unadjusted 95% CI excludes 0)") }
        return (.inconclusive, "inconclusive (CI includes 0)")
    }

    func line(claim: String) -> (Outcome, String) {
        // A claim that the paper's own numbers do not make at this cell (paper's A − B ≥ 0) says so.
        let paperText = paper.map { "; paper: \(signed($0, 2))" + ($0 >= 0 ? " (the paper's own numbers do not show this claim here)" : "") } ?? ""
        let (outcome, why) = judge()
        guard let d = difference else {
            let what = [a.isEmpty ? missingA : nil, b.isEmpty ? missingB : nil].compactMap { $0 }.joined(separator: " and ")
            return (outcome, "\(claim): untested (no data for \(what))\(paperText)")
        }
        let metric = (a.metric ?? b.metric).map { " (`\($0)`)" } ?? ""
        var line = "\(claim): \(why), difference\(label.map { " (\($0))" } ?? "") \(d.text(decimals)) \(unit)\(metric)\(d.kind == .none ? "" : " (\(d.ciText))"), \(d.nText)"
        if let p = d.p {
            line += ", \(pText(p))"
            if familySize > 1, let pa = adjustedP { line += ", Holm-adjusted \(pText(pa)) over \(familySize) comparisons" }
        }
        for c in companions { line += "; `\(c.metric)`: \(c.difference.text(companionDecimals(c.metric)))" }
        if outcome == .inconclusive, let mde = detectableEffectText(d, unit: unit, decimals: decimals) { line += "; " + mde }
        return (outcome, line + paperText)
    }
}

/// Decimals for a companion metric's difference: KID is ~100× smaller than FID.
func companionDecimals(_ metric: String) -> Int { metric.hasPrefix("kid") ? 3 : 2 }

/// A claim of the paper judged from the data: one comparison, a combination of verdicts, or a fixed line.
public struct Verdict {
    indirect enum Rule {
        case fixed
        case comparison(Comparison)
        /// Reproduced when all parts are, not reproduced when any is, untested when none could be tested.
        case all([Verdict], detail: String)
        /// "saturates": the first step helps beyond its CI and the last does not (docs/reports.md).
        case saturation(first: Verdict, last: Verdict, detail: String)
    }
    public var claim: String
    public private(set) var outcome: Outcome
    public private(set) var line: String
    var rule: Rule

    /// Tests `claim` "A < B" (or, `direction: .higher`, "A > B"). `unit` names the metric in the line ("FID");
    /// `paper` is the paper's A − B. Judged as a family of one until `judgedAsFamily` adjusts it.
    public init(claim: String, a: Cell, b: Cell, unit: String, decimals: Int = 2, paper: Double? = nil,
                missingA: String, missingB: String, direction: ClaimDirection = .lower, label: String? = nil, neutral: Bool = false) {
        self.claim = claim
        var c = Comparison(a: a, b: b, unit: unit, decimals: decimals, paper: paper, missingA: missingA, missingB: missingB, direction: direction)
        c.label = label
        c.neutral = neutral
        rule = .comparison(c)
        outcome = .untested; line = ""
        render()
    }

    public init(claim: String, outcome: Outcome, line: String) {
        self.claim = claim; self.outcome = outcome; self.line = line; rule = .fixed
    }

    init(claim: String, rule: Rule) {
        self.claim = claim; self.rule = rule; outcome = .untested; line = ""
        render()
    }

    /// The comparison behind a one-comparison verdict.
    public var comparison: Comparison? { if case .comparison(let c) = rule { return c }; return nil }

    mutating func render() {
        switch rule {
        case .fixed: return
        case .comparison(let c): (outcome, line) = c.line(claim: claim)
        case .all(let parts, let detail):
            outcome = allOutcome(parts.map(\.outcome))
            line = "\(claim): \(outcome.rawValue) (\(countsText(parts)))\(detail)"
        case .saturation(let first, let last, let detail):
            if first.outcome == .untested || last.outcome == .untested { outcome = .untested }
            else if first.outcome == .notReproduced || last.outcome == .reproduced { outcome = .notReproduced }
            else if first.outcome == .reproduced, last.outcome == .inconclusive || last.outcome == .notReproduced { outcome = .reproduced }
            else { outcome = .inconclusive }
            line = "\(claim): \(outcome.rawValue) (first step: \(first.outcome.rawValue), last step: \(last.outcome.rawValue))\(detail)"
        }
    }

    /// Every comparison in this verdict (its own, or its parts'), depth first.
    var leafComparisons: [(String, Comparison)] {
        switch rule {
        case .fixed: return []
        case .comparison(let c): return [(claim, c)]
        case .all(let parts, _): return parts.flatMap(\.leafComparisons)
        case .saturation(let f, let l, _): return f.leafComparisons + l.leafComparisons
        }
    }

    /// This verdict with each comparison's p replaced by `adjusted[claim]` (Holm over the family of `m`).
    func adjusted(_ adjusted: [String: Double], m: Int) -> Verdict {
        var v = self
        switch rule {
        case .fixed: return v
        case .comparison(var c):
            if let p = adjusted[claim] { c.adjustedP = p; c.familySize = m }
            v.rule = .comparison(c)
        case .all(let parts, let detail): v.rule = .all(parts.map { $0.adjusted(adjusted, m: m) }, detail: detail)
        case .saturation(let f, let l, let detail): v.rule = .saturation(first: f.adjusted(adjusted, m: m), last: l.adjusted(adjusted, m: m), detail: detail)
        }
        v.render()
        return v
    }
}

func allOutcome(_ parts: [Outcome]) -> Outcome {
    let tested = parts.filter { $0 != .untested }
    if tested.isEmpty { return .untested }
    if tested.contains(.notReproduced) { return .notReproduced }
    if tested.count == parts.count, tested.allSatisfy({ $0 == .reproduced }) { return .reproduced }
    return .inconclusive
}

/// "2 reproduced, 1 inconclusive of 3".
func countsText(_ parts: [Verdict]) -> String {
    Outcome.allCases.map { o in (o, parts.filter { $0.outcome == o }.count) }
        .filter { $0.1 > 0 }.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ") + " of \(parts.count)"
}

/// Several verdicts that together test one claim ("every value beats RCFD"): reproduced when all are,
/// not reproduced when any is, otherwise inconclusive (untested when none could be tested).
public func combined(_ claim: String, _ parts: [Verdict], detail: String = "") -> Verdict {
    Verdict(claim: claim, rule: .all(parts, detail: detail))
}

/// The verdicts of one report section judged as one family: Holm–Bonferroni over every comparison with a
/// p-value (each claim once, however many combined claims reuse it); the verdict words come from the
/// adjusted p-values.
public func judgedAsFamily(_ verdicts: [Verdict]) -> (verdicts: [Verdict], size: Int) {
    var order: [String] = []
    var p: [String: Double] = [:]
    for (claim, c) in verdicts.flatMap(\.leafComparisons) where p[claim] == nil {
        guard let raw = c.difference?.p else { continue }
        order.append(claim); p[claim] = raw
    }
    let adj = holmAdjusted(order.map { p[$0]! })
    let map = Dictionary(uniqueKeysWithValues: zip(order, adj))
    return (verdicts.map { $0.adjusted(map, m: order.count) }, order.count)
}

/// The verdict lines as a Markdown list under a heading, judged as one family (`judgedAsFamily`).
public func verdictSection(_ verdicts: [Verdict], heading: String = "Verdicts") -> String {
    let (judged, m) = judgedAsFamily(verdicts)
    var out = "**\(heading)** (rule: docs/reports.md — paired over the seeds both cells have (at least two), Welch otherwise, on the 95% CI of the difference; "
    out += "the verdict word comes from the Holm-adjusted p over this list's \(m) comparison\(m == 1 ? "" : "s") (reproduced: adjusted p < 0.05 in the paper's direction); "
    out += "\"metrics disagree\" when FID and KID differ in sign with a CI excluding 0; an inconclusive paired comparison states its minimum detectable effect):\n\n"
    for v in judged { out += "- \(v.line)\n" }
    return out
}
