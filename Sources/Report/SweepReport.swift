import Foundation

// `rdd-report sweep NAME[@REV]`: any sweep's answer — every metric at every student step count, per axis
// (marginal over the others) and in full for two or three axes, with paired differences against a baseline
// under the reports' statistics rules (docs/reports.md), and a plot against each numeric axis.

/// What `rdd-report sweep` was asked for.
public struct SweepReportOptions: Equatable {
    public var name: String
    /// `--metric` (repeatable); empty: every recorded metric.
    public var metrics: [String] = []
    /// `--baseline AXIS=VALUE`.
    public var baseline: String?
    /// `--steps K`; nil: every student step count evaluated.
    public var steps: Int?
    public init(name: String) { self.name = name }
}

/// The sweep's trials at one combination of axis values, per seed: for a marginal, each seed's value is the
/// mean over the other axes' values that seed has (so the seed stays the unit of the interval).
func sweepCell(_ trials: [TrialView], metric: String, steps: Int) -> Cell {
    let values = trials.compactMap { t in t.metric("eval-\(t.method)-\(steps)", metric).map { seedValue(t, $0) } }
    let bySeed = Dictionary(grouping: values, by: \.seed)
    guard bySeed.values.contains(where: { $0.count > 1 }) else { return Cell(values) }
    return Cell(bySeed.keys.sorted().map { seed in
        let vs = bySeed[seed]!
        let mean = vs.map(\.value).reduce(0, +) / Double(vs.count)
        var companions: [String: Double] = [:]
        for m in vs[0].companions.keys where vs.allSatisfy({ $0.companions[m] != nil }) {
            companions[m] = vs.map { $0.companions[m]! }.reduce(0, +) / Double(vs.count)
        }
        return SeedValue(seed: seed, value: mean, trial: vs.map(\.trial).joined(separator: SeedValue.trialSeparator), record: vs[0].record, companions: companions)
    })
}

/// The report of one sweep. Refuses (ReportError) an unknown sweep, a `--baseline` the sweep does not have,
/// a metric it never recorded, and a step count it did not evaluate, before rendering anything.
public func sweepReport(_ data: ReportData, options o: SweepReportOptions, links: LinkStyle) throws -> (String, [ReportFile]) {
    let sweep = try resolveSweep(data.export, o.name)
    let all = data.trials.filter { $0.record.sweep == sweep.name }
    let done = all.filter(\.isCompleted)
    let axes = reportAxes(sweep, all)
    let base = try baselines(axes, option: o.baseline)
    let recorded = recordedMetrics(done)
    for m in o.metrics where !recorded.contains(m) {
        throw ReportError("rdd-report sweep: --metric \(m): sweep \(sweep.name) never recorded it; recorded: \(recorded.isEmpty ? "none (no completed evaluation)" : recorded.joined(separator: ", "))")
    }
    let metrics = o.metrics.isEmpty ? recorded : o.metrics
    let evaluated = studentSteps(done)
    if let k = o.steps, !evaluated.contains(k) {
        throw ReportError("rdd-report sweep: --steps \(k): sweep \(sweep.name) evaluated no \(k)-step student; evaluated: \(evaluated.isEmpty ? "none" : evaluated.map(String.init).joined(separator: ", "))")
    }
    let steps = o.steps.map { [$0] } ?? evaluated

    let heading = "## Sweep `\(sweep.name)`\(sweep.description.map { " — " + $0 } ?? "")\n\n"
    var out = "Spec `\(sweep.specPath)` (preset `\(sweep.preset)`): \(all.count) trial\(all.count == 1 ? "" : "s"), \(done.count) completed. "
    let seeds = Array(Set(all.map(\.seed))).sorted()
    out += "Axes: " + (axes.isEmpty ? "none but the seed" : axes.enumerated().map { i, a in
        "\(a.name) (\(a.pathText), \(a.source)): \(a.values.map(ReportAxis.show).joined(separator: a.paths.count > 1 ? "; " : ", ")); baseline \(ReportAxis.show(base[i]))"
    }.joined(separator: "; ")) + "; seeds: \(seeds.map(String.init).joined(separator: ", ")).\n\n"
    let waiting = all.filter { !$0.isCompleted }
    if !waiting.isEmpty {
        out += "**Unfinished:** \(waiting.count) trial\(waiting.count == 1 ? "" : "s") (\(statesText(waiting))); `\(sweep.resumeCommand)` resumes \(waiting.count == 1 ? "it" : "them"):\n\n"
        for t in waiting { out += "- \(t.record.key): \(axisText(axes, t)), seed \(t.seed) — \(t.record.status.rawValue)\n" }
        out += "\n"
    }
    if done.isEmpty || metrics.isEmpty || steps.isEmpty {
        return (heading + out + "No completed evaluation yet: nothing to tabulate.\n", [])
    }

    var verdicts: [Verdict] = []
    var panels: [SVGPlot.Panel] = []
    var records: [EvaluationRecord] = []
    var convergence = ConvergenceNotes()
    for k in steps { for m in metrics {
        let label = done.lazy.compactMap { t in t.metric("eval-\(t.method)-\(k)", m) }.first?.label ?? m
        out += "### `\(m)` of the \(k)-step student\n\n\(label).\n\n"
        for (i, a) in axes.enumerated() {
            out += "**\(a.name)** (\(a.pathText))\(axes.count > 1 ? " — marginal: per seed, the mean over the other axes' values" : "")\n\n"
            let baseCell = sweepCell(done.filter { a.key($0) == base[i] }, metric: m, steps: k)
            var rows: [[String]] = []
            for v in a.values {
                let c = sweepCell(done.filter { a.key($0) == v }, metric: m, steps: k)
                records += c.records
                var row = axisRow(ReportAxis.show(v), c, decimals: decimals(m), against: v == base[i] ? nil : baseCell)
                if v == base[i] { row[3] = "baseline" } else {
                    let claim = "`\(m)` at \(k) step\(k == 1 ? "" : "s"): \(a.name) = \(ReportAxis.show(v)) vs \(ReportAxis.show(base[i]))"
                    verdicts.append(Verdict(claim: claim, a: c, b: baseCell, unit: unitName(m), decimals: decimals(m),
                                            missingA: "\(a.name) = \(ReportAxis.show(v))", missingB: "the baseline", neutral: true))
                }
                let flag = convergence.mark(c, steps: k, in: done, what: "\(a.name) = \(ReportAxis.show(v)), \(k)-step student")
                row[1] += flag
                rows.append(row)
            }
            out += markdownTable([a.name, "mean ± 95% CI [n]", "per seed", "− \(ReportAxis.show(base[i])) (paired 95% CI)"], rows, align: ["l", "r", "l", "r"]) + "\n"
            if a.isNumeric { panels.append(sweepAxisPanel(done, axes: axes, axis: i, metric: m, steps: k)) }
        }
        if (2...3).contains(axes.count) { out += fullTable(done, axes: axes, metric: m, steps: k) }
    } }
    out += LabelSummary(records: records, trials: done).lines(metric: metrics.first(where: { $0.hasPrefix("fid") }) ?? metrics[0], scoreMetric: nil).joined(separator: "\n") + "\n"
    if let note = convergence.footnote { out += note + "\n" }
    out += "\n"
    let (judged, size) = judgedAsFamily(verdicts)
    if size > 0 || !judged.isEmpty {
        out += "**Differences against the baseline** (paired over the seeds both cells have (at least two), Welch otherwise; \"differs\" when the Holm-adjusted p over these \(size) comparisons is < 0.05; \"metrics disagree\" when FID and KID differ in sign with a CI excluding 0; inconclusive paired comparisons state their minimum detectable effect; docs/reports.md):\n\n"
        out += judged.map { "- \($0.line)\n" }.joined() + "\n"
    }
    guard !panels.isEmpty else { return (heading + out, []) }
    let svg = SVGPlot(panels: panels, columns: min(2, panels.count)).render()
    return (heading + "![\(sweep.name): each metric against each numeric axis](\(links.asset("svg")))\n\n" + out,
            [ReportFile(name: links.assetName("svg"), data: Data(svg.utf8))])
}

/// "τ_IS = 0.05, method = rdd": a trial's values on the axes.
func axisText(_ axes: [ReportAxis], _ t: TrialView) -> String {
    axes.isEmpty ? "no axis" : axes.map { "\($0.name) = \($0.key(t).map(ReportAxis.show) ?? "–")" }.joined(separator: ", ")
}

func decimals(_ metric: String) -> Int { metric.hasPrefix("kid") ? 4 : 2 }

/// How a metric is named after a difference: "FID", "KID", or the key.
func unitName(_ metric: String) -> String {
    metric.hasPrefix("fid") ? "FID" : metric.hasPrefix("kid") ? "KID" : metric
}

/// Every combination of two or three axes: the cells behind the marginals.
func fullTable(_ trials: [TrialView], axes: [ReportAxis], metric: String, steps: Int) -> String {
    var combos: [[String]] = [[]]
    for a in axes { combos = combos.flatMap { c in a.values.map { c + [$0] } } }
    var rows: [[String]] = []
    for c in combos {
        let at = trials.filter { t in axes.indices.allSatisfy { axes[$0].key(t) == c[$0] } }
        if at.isEmpty && axes.contains(where: { $0.source.hasPrefix("zip") }) { continue }
        let cell = sweepCell(at, metric: metric, steps: steps)
        rows.append(c.map(ReportAxis.show) + [cell.text(decimals(metric)), cell.isEmpty ? "–" : cell.perSeed(decimals(metric))])
    }
    return "Every combination:\n\n" + markdownTable(axes.map(\.name) + ["mean ± 95% CI [n]", "per seed"], rows,
                                                   align: axes.map { _ in "l" } + ["r", "l"]) + "\n"
}

/// `metric` against numeric axis `i` (AxisSeries.swift, as the figures): one line per value of the first other
/// axis (each point marginal over any third), error bars the 95% CI over seeds, and the paper's stated optimum
/// marked when the axis is one the paper swept (Figs. 6–9) and it lies within the values measured.
func sweepAxisPanel(_ trials: [TrialView], axes: [ReportAxis], axis i: Int, metric: String, steps: Int) -> SVGPlot.Panel {
    let a = axes[i]
    let other = axes.indices.first { $0 != i }
    let view = AxisView(x: { t in a.key(t).flatMap(ReportAxis.number) },
                        line: { t in other.map { j in "\(axes[j].name) = \(axes[j].key(t).map(ReportAxis.show) ?? "–")" } ?? "all" },
                        cell: { sweepCell($0, metric: metric, steps: steps) },
                        lineOrder: other.map { j in axes[j].values.map { "\(axes[j].name) = \(ReportAxis.show($0))" } } ?? ["all"])
    let marks = a.paths.count == 1 ? (PaperReference.figureOptimumValues[a.paths[0]] ?? []).map { (x: $0, label: "paper: \(compact($0))") } : []
    return axisPanel(view.lines(trials), title: "\(metric), \(steps)-step student", xLabel: "\(a.name) (\(a.paths.joined(separator: ", ")))",
                     yLabel: metric, marks: marks)
}
