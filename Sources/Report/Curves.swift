import Foundation
import RunModel

// `rdd-report curves` (issue 20 §4): per configuration, each distillation stage's loss terms and, where the trial
// set `evaluation.every`, its student's FID against the training step — is the student still improving when the
// stage stops?

/// A configuration: the trials of one sweep with the same values on every axis but the seed.
struct CurveConfiguration {
    var sweep: String
    var axes: [(String, String)]
    var trials: [TrialView]

    var title: String {
        "\(sweep)" + (axes.isEmpty ? "" : ": " + axes.map { "\($0.0) = \($0.1)" }.joined(separator: ", "))
    }
}

/// The loss series of a distillation stage's journal (`SeriesName.isLoss`: not the learning rate, the gradient norm,
/// a measurement or a `diag/…`, `memory/…`, `queue/…` series) — `total` and one per term of the objective.
func lossSeriesNames(_ s: StageRecord) -> [String] {
    s.series.keys.filter(SeriesName.isLoss)
        .sorted { ($0 == SeriesName.total ? 0 : 1, termOrder(termName($0)), $0) < ($1 == SeriesName.total ? 0 : 1, termOrder(termName($1)), $1) }
}

/// The mean over `stages` of each one's value at each step they all logged, divided by the mean at the first such
/// step (so every term starts at 1 and terms of different scales share an axis). Nil without a common step.
func relativeMeanSeries(_ series: [[SeriesPoint]]) -> [SVGPlot.Point]? {
    guard let first = series.first else { return nil }
    let common = series.dropFirst().reduce(Set(first.map(\.step))) { $0.intersection($1.map(\.step)) }.sorted()
    let byStep = series.map { Dictionary($0.map { ($0.step, $0.value) }, uniquingKeysWith: { a, _ in a }) }
    let means = common.map { s in byStep.map { $0[s]! }.reduce(0, +) / Double(byStep.count) }
    guard let m0 = means.first, m0 != 0, m0.isFinite else { return nil }
    return zip(common, means).map { SVGPlot.Point(x: Double($0), y: $1 / m0) }
}

/// The learning curves of every configuration with distillation stages: `index.md` (the `links` stem) with one
/// section per configuration — its figure, and per stage the convergence reading of each seed and the curve's
/// FID at its first and last snapshot — and one SVG per configuration (`<stem>-<n>.svg`): per distillation stage
/// (in training order) a panel of its loss terms relative to their first logged value (mean over seeds) and,
/// when the trials set `evaluation.every`, a panel of the student's FID at each snapshot (mean ± 95% CI over seeds).
public func curvesReport(_ data: ReportData, links: LinkStyle) -> ReportOutput {
    var out = "## Learning curves — loss terms and FID against the distillation step\n\n"
    var configs: [String: CurveConfiguration] = [:]
    var order: [String] = []
    for t in data.completed where t.record.stages.contains(where: { $0.kind == .distill && !$0.series.isEmpty }) {
        let axes = t.record.axes.filter { $0.key != "seed" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let key = t.record.sweep + "|" + axes.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        if configs[key] == nil { configs[key] = CurveConfiguration(sweep: t.record.sweep, axes: axes, trials: []); order.append(key) }
        configs[key]!.trials.append(t)
    }
    guard !order.isEmpty else {
        return ReportOutput(markdown: out + "No completed trial with a logged distillation stage in this export: every curve is missing — run a sweep with a distillation method (and `evaluation.every: K` for FID curves; docs/sweeps.md), then export again.\n")
    }
    out += "One figure per configuration (a sweep's trials with the same values on every axis but the seed). Per distillation stage, in training order: "
    out += "its logged loss terms (`total` and each term of the objective), each divided by its value at the first logged step and averaged over seeds "
    out += "(so terms of different scales share an axis), and — when the trials set `evaluation.every` — the FID of the stage's student at each snapshot "
    out += "(`curve-<method>-<steps>` stages: the student after that many steps, sampled with DDIM at its step count; mean ± 95% CI over seeds). "
    out += "The convergence column applies the rule of docs/reports.md (\"Convergence rule\") to each seed's `total`.\n\n"
    var files: [ReportFile] = []
    let rule = ConvergenceRule()
    for (i, key) in order.enumerated() {
        let c = configs[key]!
        let name = "\(links.stem)-\(i + 1).svg"
        out += "### \(c.title)\n\n"
        out += "Trials: \(c.trials.map { "\($0.ref) (seed \($0.seed))" }.joined(separator: ", ")).\n\n"
        var lossPanels: [SVGPlot.Panel] = [], fidPanels: [SVGPlot.Panel] = []
        var rows: [[String]] = []
        let stageNames = distillStagesInTrainingOrder(c.trials[0].record.stages).map(\.name)
        for stage in stageNames {
            let records = c.trials.compactMap { $0.stage(stage) }
            let names = lossSeriesNames(records[0])
            let series = names.compactMap { n -> SVGPlot.Series? in
                relativeMeanSeries(records.compactMap { $0.series[n] }).map { SVGPlot.Series(name: termName(n), points: $0) }
            }
            lossPanels.append(SVGPlot.Panel(title: "\(stage): loss / first value", xLabel: "step", yLabel: "relative loss", series: series))
            let readings = c.trials.compactMap { t in t.stage(stage)?.series[SeriesName.total].map { (t.seed, rule.assess($0)) } }
            let conv = readings.map { reading -> String in
                let (seed, r) = reading
                switch r {
                case .converged(let f): return "s\(seed): falls \(fixed(100 * f, 1))%"
                case .notConverged(let f): return "s\(seed): **not converged** (falls \(fixed(100 * f, 1))%)"
                case .undetermined: return "s\(seed): too few points"
                }
            }.joined(separator: ", ")
            // The curve stage of this distillation stage: "distill-<method>-<K>" → "curve-<method>-<K>".
            let curveName = "curve-" + stage.dropFirst("distill-".count)
            let curves = c.trials.compactMap { t in t.stage(curveName).map { (t, $0) } }
            let metric = curves.lazy.flatMap { $0.1.series.keys.filter(isDistanceMetric) }.sorted().first
            var fidText = "–"
            if let metric {
                let steps = Array(Set(curves.flatMap { $0.1.series[metric]?.map(\.step) ?? [] })).sorted()
                func at(_ s: Int) -> Cell {
                    Cell(curves.compactMap { pair in
                        pair.1.series[metric]?.first { $0.step == s }.map { SeedValue(seed: pair.0.seed, value: $0.value, trial: pair.0.ref) }
                    })
                }
                let points = steps.compactMap { s in at(s).summary.map { SVGPlot.Point(x: Double(s), y: $0.mean, error: $0.halfWidth95) } }
                fidPanels.append(SVGPlot.Panel(title: "\(stage): \(metric) of the student", xLabel: "step", yLabel: metric,
                                               series: [SVGPlot.Series(name: "\(metric), mean ± 95% CI over seeds", points: points)]))
                if let a = steps.first, let b = steps.last {
                    fidText = "`\(metric)` step \(a): \(at(a).text(2)) → step \(b): \(at(b).text(2))"
                }
            }
            rows.append([stage, conv.isEmpty ? "–" : conv, fidText])
        }
        let plot = SVGPlot(panels: lossPanels + fidPanels, columns: max(1, lossPanels.count))
        files.append(ReportFile(name: name, data: Data(plot.render().utf8)))
        out += "![\(c.title)](\(links.prefix)\(name))\n\n"
        out += markdownTable(["Stage", "Convergence of `total` per seed", "Student FID, first → last snapshot"], rows) + "\n"
        if !fidPanels.isEmpty, let t = c.trials.first { out += "- FID: \(curveLabel(fidPanels.first.map(\.yLabel) ?? "", t)).\n\n" }
    }
    return ReportOutput(markdown: out, files: files)
}

/// What a curve's metric is: the independent evaluator's FID, or the classifier-feature FID with its caveat.
func curveLabel(_ metric: String, _ t: TrialView) -> String {
    let n = t.config.map { "N=\($0.evaluation.curveSamples) per snapshot" } ?? "N as configured"
    // The snapshots are scored against the trial's `evaluation.reference` (a pilot's: the validation set).
    let reference = (t.config?.evaluation.reference ?? .test) == .test ? "test split" : "validation set (from the training split)"
    switch metric {
    case "fid_evaluator": return "FID (independent evaluator \(t.config?.evaluator.networkLabel ?? "?"), \(n), vs \(t.dataset) \(reference))"
    case "fid_classifier": return "FID (classifier features, \(n), vs \(t.dataset) \(reference); same network as the distillation losses: biased toward feature-matching methods)"
    default: return "\(metric) (\(n))"
    }
}
