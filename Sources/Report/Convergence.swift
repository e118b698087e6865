import Foundation
import RunModel

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
        guard let fall = relativeFall(series.filter { Double($0.step) >= cut }, minimumPoints: Self.minimumPoints) else { return .undetermined }
        return fall > threshold ? .notConverged(fall: fall) : .converged(fall: fall)
    }
}

/// The relative drop of a least-squares line v ≈ a + b·step fitted to the finite points: −b · (their step span) /
/// (their mean), positive when falling. nil with fewer than `minimumPoints` finite points, a mean ≤ 0 or one step.
/// The convergence rule reads a loss's last quarter with it, the plateau rule (Plateau.swift) a curve's FIDs.
func relativeFall(_ points: [SeriesPoint], minimumPoints: Int) -> Double? {
    let q = points.filter { $0.value.isFinite }
    guard q.count >= minimumPoints else { return nil }
    let n = Double(q.count)
    let mx = q.map { Double($0.step) }.reduce(0, +) / n, my = q.map(\.value).reduce(0, +) / n
    guard my > 0 else { return nil }
    var sxy = 0.0, sxx = 0.0
    for p in q { let dx = Double(p.step) - mx; sxy += dx * (p.value - my); sxx += dx * dx }
    guard sxx > 0 else { return nil }
    return -(sxy / sxx) * Double(q.map(\.step).max()! - q.map(\.step).min()!) / my
}

/// The "not converged" flag of report cells (issue 20 §4): a cell's students were trained by the distillation
/// stages `distill-<method>-<steps>` of its trials; each stage's logged `total` loss is read by `rule`. A cell
/// gets the marker when the stage of any of its seeds is not converged, and the report gets one footnote that
/// states the rule, the flagged cells with each seed's fall, and how many stages were read.
///
/// A flagged stage whose trial has its learning curve (`curve-<method>-<steps>`, the snapshots evaluated) also
/// shows how the student's FID moved over the second half of the stage — the plateau rule's part (b) (Plateau.swift:
/// least-squares line over the snapshots in [S/2, S], relative to their mean). A per-batch loss can keep falling
/// after the samples stop improving (the v2 pilot: FID flat in 18 of 21 stages, loss still falling in 20), and the
/// reader of a verdict needs to know which of the two a † means.
struct ConvergenceNotes {
    var rule = ConvergenceRule()
    static let marker = "†"
    /// The flagged cells ("RCFD 1 step: s0 12% (FID −1%), s2 7%"), each once, in the order first marked.
    private(set) var flagged: [String] = []
    private(set) var stages = 0, notConverged = 0, undetermined = 0
    /// Flagged stages with a readable learning curve, those whose FID fell by at most the threshold over its second
    /// half, and the FID series read.
    private(set) var flaggedWithCurve = 0, flatCurves = 0, risingCurves = 0
    private(set) var curveMetrics = Set<String>()
    private var seen = Set<String>()

    /// " †" when the training stage of any of the cell's seeds is not converged, else "". `what` names the cell
    /// in the footnote. A value of several trials (a sweep marginal, refs joined by `SeedValue.trialSeparator`) reads each.
    mutating func mark(_ cell: Cell, steps: Int, in trials: [TrialView], what: String) -> String {
        var falls: [String] = []
        for v in cell.values {
            for ref in v.trial.components(separatedBy: SeedValue.trialSeparator) {
                guard let t = trials.first(where: { $0.ref == ref }), let stage = t.stage("distill-\(t.method)-\(steps)"),
                      let series = stage.series[SeriesName.total] else { continue }
                let reading = rule.assess(series)
                let firstRead = seen.insert(stage.identity).inserted
                if firstRead {
                    stages += 1
                    if reading == .undetermined { undetermined += 1 }
                    if reading.flag != nil { notConverged += 1 }
                }
                if case .notConverged(let fall) = reading {
                    var text = "s\(t.seed) \(fixed(100 * fall, 0))%"
                    if let (metric, fidFall) = Self.curveFall(t, distillStage: stage.name) {
                        text += " (FID \(signed(-100 * fidFall, 0))%)"
                        if firstRead {
                            flaggedWithCurve += 1
                            curveMetrics.insert(metric)
                            if fidFall <= rule.threshold { flatCurves += 1 }
                            if fidFall < 0 { risingCurves += 1 }
                        }
                    }
                    falls.append(text)
                }
            }
        }
        guard !falls.isEmpty else { return "" }
        let line = "\(what): \(falls.joined(separator: ", "))"
        if !flagged.contains(line) { flagged.append(line) }
        return " " + Self.marker
    }

    /// The fall of the student's FID over the second half of the learning curve of `distillStage` (its snapshots in
    /// [S/2, S], S the last; at least `PlateauRule.minimumSnapshots`), with the FID series read — the independent
    /// evaluator's where the curve has it; nil without a curve or with too few snapshots.
    static func curveFall(_ t: TrialView, distillStage: String) -> (metric: String, fall: Double)? {
        guard case .distill(let method, let steps)? = StageName(distillStage),
              let curve = t.stage(StageName.curve(method: method, steps: steps).description),
              let metric = [EvaluationMetric.fidEvaluator, .fidClassifier].map(\.rawValue).first(where: { curve.series[$0] != nil }),
              let points = curve.series[metric], let last = points.map(\.step).max() else { return nil }
        guard let fall = relativeFall(points.filter { 2 * $0.step >= last }, minimumPoints: PlateauRule.minimumSnapshots) else { return nil }
        return (metric, fall)
    }

    /// The footnote (a Markdown list item), nil when no cell's stage had a loss series to read.
    var footnote: String? {
        guard stages > 0 else { return nil }
        let pct = fixed(100 * rule.threshold, 0) + "%"
        let few = "fewer than \(ConvergenceRule.minimumPoints) points in the last quarter of their logged steps"
        let rest = undetermined > 0 ? "; \(undetermined) had \(few) to tell" : ""
        guard !flagged.isEmpty else {
            if undetermined == stages {
                return "- Convergence: undetermined — the \(stages) distillation stages behind these cells have \(few), too few for the rule (docs/reports.md, \"Convergence rule\")."
            }
            return "- Convergence: none of the \(stages - undetermined) distillation stages behind these cells whose loss (`total`) could be read still lowered it by more than \(pct) over the last quarter of its steps\(rest) (docs/reports.md, \"Convergence rule\")."
        }
        return "- \(Self.marker) **not converged**: the distillation stage that trained the student (`distill-<method>-<steps>`) of at least one seed "
            + "still lowered its loss (`total`) by more than \(pct) over the last quarter of its logged steps (least-squares line over that quarter's "
            + "points, relative to their mean; docs/reports.md, \"Convergence rule\"): its value may still be improving. "
            + flagged.joined(separator: "; ") + ". \(notConverged) of the \(stages) stages behind these cells are not converged\(rest)." + curveText
    }

    /// What the learning curves say of the flagged stages ("" when none has one).
    private var curveText: String {
        guard flaggedWithCurve > 0 else { return "" }
        let pct = fixed(100 * rule.threshold, 0) + "%"
        let metrics = curveMetrics.sorted().map { "`\($0)`" }.joined(separator: ", ")
        return " In parentheses, where the trial has its learning curve: the change of the student's FID (\(metrics)) over the second half of "
            + "the stage (least-squares line over the snapshots in [S/2, S], S the last, relative to their mean: the plateau rule's part (b), "
            + "docs/reports.md). \(flatCurves) of the \(flaggedWithCurve) flagged stages with a curve lowered their FID by at most \(pct) there "
            + "(\(risingCurves) of them raised it): their samples had stopped improving measurably while the per-batch loss still fell."
    }
}
