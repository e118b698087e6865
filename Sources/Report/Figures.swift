import Foundation

// Figures 6–9 as configurations of "metric against an axis" (AxisSeries.swift): one swept key per panel,
// the 4-step student's FID against the swept value, one line per method (and per value of any other swept
// key), error bars over seeds, RCFD's 4-step FID as the reference line, the paper's stated optimum marked.

/// One panel of a figure: the key, its symbol, and the values the paper states as best (marked on the plot).
struct SweepKey {
    var path: String
    var symbol: String
    var paperOptimum: [Double] = []
}

/// The trials that sweep `key` in a scope, as lines of points at one student step count.
struct SweepData {
    var key: SweepKey
    var lines: [AxisLine]
    var fid: String
}

/// The figures' view of a key: trials whose axes contain `key.path` (with a number), one line per method +
/// other swept keys but the seed, a point's cell the `steps`-step student's `fid` of each trial.
func figureView(_ key: SweepKey, cell: @escaping ([TrialView]) -> Cell) -> AxisView {
    AxisView(x: { t in t.record.axes[key.path] != nil ? t.axisNumber(key.path) : nil },
             line: { t in
                 let others = t.sweptKeys.filter { $0 != key.path && $0 != "distill.method" }
                     .map { "\($0.split(separator: ".").last!)=\(t.record.axes[$0]!)" }
                 return ([t.method] + others).joined(separator: ", ")
             },
             cell: cell)
}

/// Lines of a sweep: trials whose axes contain `key.path`, evaluated at `steps` steps.
func sweepData(_ trials: [TrialView], key: SweepKey, fid: String, steps: Int = 4) -> SweepData {
    let view = figureView(key) { at in studentCell(at, methods: Array(Set(at.map(\.method))), steps: steps, metric: fid) }
    return SweepData(key: key, lines: view.lines(trials), fid: fid)
}

/// RCFD's 4-step FID in a scope: every trial with method rcfd that evaluated its 4-step student.
func rcfdReference(_ trials: [TrialView], fid: String) -> Cell {
    studentCell(trials.filter { $0.method == "rcfd" }, methods: ["rcfd"], steps: 4, metric: fid)
}

/// What an FID metric measures, for axis labels: never a bare metric key.
func fidAxisName(_ metric: String) -> String {
    switch metric {
    case "fid_classifier": return "classifier features"
    case "fid_inception": return "Inception pool3"
    case "fid_evaluator": return "independent evaluator"
    default: return metric
    }
}

/// The SVG panel of one sweep.
func sweepPanel(_ s: SweepData, rcfd: Cell, title: String) -> SVGPlot.Panel {
    axisPanel(s.lines, title: title, xLabel: "\(s.key.symbol) (\(s.key.path))", yLabel: "FID of the 4-step student (\(fidAxisName(s.fid)))",
              references: rcfd.summary.map { [SVGPlot.Reference(label: "RCFD 4-step (n=\($0.count))", y: $0.mean, band: $0.halfWidth95)] } ?? [],
              marks: s.key.paperOptimum.map { (x: $0, label: "paper: \(compact($0))") })
}

/// The data table of a sweep (every point, per seed, vs RCFD), a point's FID marked "†" when the 8 → 4
/// stage of one of its seeds had not converged (`convergence` collects the footnote).
func sweepTable(_ s: SweepData, rcfd: Cell, links: LinkStyle, linkTerms: Bool, linked: Set<String>, convergence: inout ConvergenceNotes) -> String {
    var rows: [[String]] = []
    for l in s.lines {
        for pt in l.points {
            var r = [l.name] + axisRow(compact(pt.x), pt.cell, decimals: 2, against: rcfd)
            r[2] += convergence.mark(pt.cell, steps: 4, in: pt.trials, what: "\(l.name), \(s.key.symbol) = \(compact(pt.x))")
            if linkTerms {
                let ts = pt.trials.filter { linked.contains($0.ref) }.sorted { $0.seed < $1.seed }
                r.append(ts.isEmpty ? "–" : ts.map { links.link("seed \($0.seed)", report: "terms", anchor: termsAnchor($0.ref)) }.joined(separator: " "))
            }
            rows.append(r)
        }
    }
    var header = ["Line", s.key.symbol, "FID mean ± 95% CI [n]", "Per seed", "− RCFD"]
    var align = ["l", "r", "r", "l", "r"]
    if linkTerms { header.append("Term diagnostics"); align.append("l") }
    return markdownTable(header, rows, align: align)
}

/// Said instead of a table of "missing" rows when the trials that sweep a figure's key evaluated no 4-step
/// student (e.g. a sweep of 1-step students): which step counts they did evaluate, and the report that reads them.
func mismatchNote(_ s: SweepData) -> String {
    let trials = s.lines.flatMap { l in l.points.flatMap { $0.trials } }
    let sweeps = Array(Set(trials.map { String($0.record.sweep.split(separator: "@")[0]) })).sorted()
    let steps = studentSteps(trials)
    let evaluated = steps.isEmpty ? "no student evaluation" : "only \(steps.map(String.init).joined(separator: ", "))-step students"
    return "The \(trials.count) trial\(trials.count == 1 ? "" : "s") sweeping `\(s.key.path)` (\(sweeps.joined(separator: ", "))) evaluated \(evaluated), not the 4-step student of an 8 → 4 stage that this figure plots: "
        + sweeps.map { "`rdd-report sweep \($0)`" }.joined(separator: ", ") + " reports \(sweeps.count == 1 ? "that sweep" : "those sweeps") at the step counts evaluated."
}

/// "every value beats RCFD": one verdict per (line, value), combined.
func beatsRCFD(_ s: SweepData, rcfd: Cell) -> [Verdict] {
    var parts: [Verdict] = []
    for l in s.lines { for pt in l.points {
        parts.append(Verdict(claim: "\(l.name), \(s.key.symbol) = \(compact(pt.x)) < RCFD", a: pt.cell, b: rcfd, unit: "FID",
                             missingA: "\(s.key.symbol) = \(compact(pt.x))", missingB: "RCFD at 4 steps"))
    } }
    return [combined("Every \(s.key.symbol) value beats RCFD's 4-step FID", parts)] + parts
}

/// Where the smallest mean FID of each line lies, whether the data separate it from the other values, and
/// the optimum the paper states. "Resolved" needs every other value above the lowest beyond the 95% CI of
/// their difference (`Difference`: paired over the seeds both cells have (at least two), Welch otherwise); a lowest mean
/// that is not separated is reported as such rather than as an optimum.
func optimumLine(_ s: SweepData) -> String {
    let paper = PaperReference.figureOptima[s.key.path].map { "paper's optimum: \($0)" } ?? "paper: no optimum stated"
    let ours = s.lines.map { l -> String in
        let points = l.points.filter { $0.cell.mean != nil }
        guard let best = points.min(by: { $0.cell.mean! < $1.cell.mean! }) else { return "\(l.name): no data" }
        let head = "\(l.name): lowest mean FID at \(s.key.symbol) = \(compact(best.x)) (\(fixed(best.cell.mean!, 3)))"
        let others = points.filter { $0.x != best.x }
        if others.isEmpty { return head + "; the only value measured" }
        let close = others.filter { p in
            guard let d = Difference(p.cell, best.cell), let h = d.halfWidth else { return true }
            return d.mean - h <= 0
        }
        if close.isEmpty { return head + ", resolved: every other value is above it beyond the 95% CI of the difference" }
        let list = close.map { compact($0.x) }.joined(separator: ", ")
        return head + ", not resolved: \(s.key.symbol) = \(list) \(close.count == 1 ? "is" : "are") not above it beyond the 95% CI of the difference"
    }
    return "- Optimum: " + (ours.isEmpty ? "no data" : ours.joined(separator: "; ")) + " (\(paper)).\n"
}

/// A paper figure as a configuration of "metric against an axis": which keys (one panel each), what the
/// paper claims about them (verdicts from intervals), and any extra panel and table (Fig. 6's memory). The
/// y value is always the paper's: the FID of the 4-step student of the 8 → 4 stage; lines, cells, panels and
/// rows come from AxisSeries.swift, the same code `rdd-report sweep` plots with.
struct FigureConfig {
    var number: Int
    var title: String
    var keys: [SweepKey]
    var intro: String
    var claims: (SweepData, Cell, [TrialView]) -> [Verdict]
    var extraPanels: (SweepData, [TrialView]) -> [SVGPlot.Panel] = { _, _ in [] }
    var extraTable: (SweepData, [TrialView]) -> String = { _, _ in "" }
    /// Link each point's seeds to their loss-term diagnostics (terms.md).
    var linkTerms = false
}

/// A figure report over the unconditional scopes: panels of the figure's keys, each plotted and tabulated.
func figureReport(_ data: ReportData, _ figure: FigureConfig, links: LinkStyle) -> (String, [ReportFile]) {
    let number = figure.number, keys = figure.keys
    var out = "## Fig. \(number) — \(figure.title)\n\n" + figure.intro + "\n\n"
    let scopes = data.scopes(conditional: false)
    let sweepsAKey = { (t: TrialView) in keys.contains { t.record.axes[$0.path] != nil } }
    let linked = figure.linkTerms ? termsLinkTargets(data) : []
    var panels: [SVGPlot.Panel] = []
    var body = ""
    for scope in scopes {
        let trials = data.trials(in: scope)
        let fid = fidMetric(trials)
        let rcfd = rcfdReference(trials, fid: fid)
        let sweeps = keys.map { sweepData(trials, key: $0, fid: fid) }
        if sweeps.allSatisfy({ $0.lines.isEmpty }) { continue }
        if scopes.count > 1 { body += "### \(scope.title)\n\n" }
        body += "Data set **\(scope.dataset)**, preset `\(scope.preset)`; the RCFD reference is the 4-step student of every `rcfd` trial in the export: \(rcfd.text(2)) (paper, CIFAR-10: \(fixed(PaperReference.rcfd4StepFID, 2))).\n\n"
        body += pendingNote(data, data.unfinished(in: scope).filter(sweepsAKey))
        var records: [EvaluationRecord] = rcfd.records
        var verdicts: [Verdict] = []
        var convergence = ConvergenceNotes()
        for s in sweeps {
            body += "**\(s.key.symbol)** (`\(s.key.path)`)\n\n"
            if s.lines.isEmpty {
                body += "missing: no completed trial sweeps `\(s.key.path)` — " + runHint(data, spec: "fig\(number)",
                    waiting: data.unfinished(in: scope).filter { $0.record.axes[s.key.path] != nil },
                    orAdd: "add a sweep over it with `distill.to: 4`, `evaluation.studentSteps: [4]` and several seeds") + "\n\n"
                continue
            }
            if s.lines.allSatisfy({ $0.points.allSatisfy { $0.cell.isEmpty } }) {
                body += mismatchNote(s) + "\n\n"
                continue
            }
            panels.append(sweepPanel(s, rcfd: rcfd, title: "\(s.key.symbol) — \(scope.dataset)"))
            panels += figure.extraPanels(s, trials)
            body += sweepTable(s, rcfd: rcfd, links: links, linkTerms: figure.linkTerms, linked: linked, convergence: &convergence) + "\n"
            body += figure.extraTable(s, trials)
            body += optimumLine(s) + "\n"
            records += s.lines.flatMap { $0.points.flatMap(\.cell.records) }
            verdicts += figure.claims(s, rcfd, trials)
        }
        body += LabelSummary(records: records, trials: trials).lines(metric: fid, scoreMetric: nil).joined(separator: "\n") + "\n"
        if let note = convergence.footnote { body += note + "\n" }
        body += "- Error bars and the grey band: 95% CI over seeds (none for n = 1). “− RCFD”: the difference to RCFD's 4-step FID with its CI (paired over the seeds both cells have (at least two), Welch otherwise)."
        body += keys.contains { !$0.paperOptimum.isEmpty } ? " Dotted vertical lines: the paper's stated optimum, where it lies within the values measured.\n\n" : "\n\n"
        if !verdicts.isEmpty { body += verdictSection(verdicts) + "\n" }
    }
    if panels.isEmpty, !body.isEmpty { return (out + body, []) }
    if panels.isEmpty {
        out += "missing: no completed unconditional trial sweeps " + keys.map { "`\($0.path)`" }.joined(separator: " or ") + " — "
        out += runHint(data, spec: "fig\(number)", waiting: data.notCompleted.filter { !$0.conditional && sweepsAKey($0) },
                       orAdd: "add a sweep over it with `distill.to: 4`, `evaluation.studentSteps: [4]` and several seeds") + "\n"
        return (out, [])
    }
    let svg = SVGPlot(panels: panels, columns: min(2, panels.count)).render()
    out += "![Fig. \(number): \(figure.title)](\(links.asset("svg")))\n\n" + body
    return (out, [ReportFile(name: links.assetName("svg"), data: Data(svg.utf8))])
}

// MARK: The four figures

/// A key the paper sweeps: its symbol and the optimum its text states (PaperReference).
func paperKey(_ path: String) -> SweepKey {
    SweepKey(path: path, symbol: PaperReference.axisSymbols[path] ?? path, paperOptimum: PaperReference.figureOptimumValues[path] ?? [])
}

/// The peak resident memory of each trial's 8 → 4 distillation stage (MiB): the whole process (teacher,
/// classifier, data and the step), what exports before issue 20 §5 record.
func stagePeakMemory(_ ts: [TrialView]) -> Cell {
    Cell(ts.compactMap { t in
        t.stage("distill-\(t.method)-4").map { SeedValue(seed: t.seed, value: Double($0.peakMemoryBytes) / 1_048_576, trial: t.ref, record: nil) }
    })
}

/// The distillation step's own loss working set (MiB): the largest `memory/loss_peak_bytes` the 8 → 4 stage
/// logged (the rise of the peak resident set while the loss terms and IS_P2P's gradient are evaluated) —
/// what the paper's GPU memory grows with. Trials whose stage did not log it are left out.
func lossPeakMemory(_ ts: [TrialView]) -> Cell {
    Cell(ts.compactMap { t in
        t.stage("distill-\(t.method)-4")?.series["memory/loss_peak_bytes"]?.map(\.value).max()
            .map { SeedValue(seed: t.seed, value: $0 / 1_048_576, trial: t.ref, record: nil) }
    })
}

/// Fig. 6's memory measure for these trials: the loss's own peak when every stage logged it, else the process peak.
func figureMemory(_ ts: [TrialView]) -> (cell: ([TrialView]) -> Cell, name: String) {
    let logged = !ts.isEmpty && ts.allSatisfy { $0.stage("distill-\($0.method)-4")?.series["memory/loss_peak_bytes"] != nil }
    return logged ? (lossPeakMemory, "peak memory of the loss evaluation (`memory/loss_peak_bytes`)")
                  : (stagePeakMemory, "peak resident memory of the process during the stage (`peakMemoryBytes`)")
}

/// Fig. 8's check that N_q can matter: how often each seed's pixel queue was refilled during the 8 → 4 stage
/// (`queue/refills`, cumulative; 0 = filled once and never refreshed). Empty when no stage logged it.
func queueRefillsTable(_ s: SweepData) -> String {
    var rows: [[String]] = [], never: [String] = []
    for l in s.lines { for pt in l.points {
        let counts = pt.trials.sorted { $0.seed < $1.seed }.compactMap { t in
            t.stage("distill-\(t.method)-4")?.series["queue/refills"]?.last.map { (t.seed, Int($0.value)) }
        }
        guard !counts.isEmpty else { continue }
        let zero = counts.contains { $0.1 == 0 }
        if zero { never.append("\(l.name), \(s.key.symbol) = \(compact(pt.x))") }
        rows.append([l.name, compact(pt.x), counts.map { "s\($0.0): \($0.1)" }.joined(separator: ", "), zero ? "never refreshed" : ""])
    }}
    guard !rows.isEmpty else { return "" }
    var out = "Pixel-queue refills during the 8 → 4 stage (`queue/refills`: times the queue's write position wrapped; 0 = filled once and never refreshed, so N_q cannot matter there):\n\n"
    out += markdownTable(["Line", s.key.symbol, "refills per seed", ""], rows, align: ["l", "r", "l", "l"]) + "\n"
    if !never.isEmpty { out += "- Queue never refreshed in: \(never.joined(separator: "; ")) — a verdict about N_q there says nothing about the queue.\n\n" }
    return out
}

extension FigureConfig {
    static let fig6: FigureConfig = {
        /// The memory lines: the figure's own lines and points, the cell the memory measure (`figureMemory`).
        func memLines(_ s: SweepData) -> [AxisLine] {
            let trials = s.lines.flatMap { $0.points.flatMap(\.trials) }
            return figureView(s.key, cell: figureMemory(trials).cell).lines(trials)
        }
        func memName(_ s: SweepData) -> String { figureMemory(s.lines.flatMap { $0.points.flatMap(\.trials) }).name }
        return FigureConfig(number: 6, title: "batch size: FID and peak memory", keys: [paperKey("distill.batchSize")],
            intro: "The paper sweeps the distillation batch size for IS_P2P (8 → 4 on CIFAR-10): a larger batch gives more inter-sample relations and a better FID, while GPU memory grows steeply. We plot the 4-step student's FID and the memory of its 8 → 4 distillation stage: the loss evaluation's own peak (`memory/loss_peak_bytes`: the rise of the peak resident set while the loss terms and IS_P2P's gradient are evaluated — what grows with the batch) when the stage logged it, else the peak resident memory of the whole process (`peakMemoryBytes`, CPU RAM: it includes the teacher, the classifier and the data, not only the batch).",
            claims: { s, _, _ in
                var v: [Verdict] = []
                for l in s.lines {
                    guard let lo = l.points.first, let hi = l.points.last, l.points.count >= 2 else { continue }
                    v.append(Verdict(claim: "\(l.name): batch \(compact(hi.x)) < batch \(compact(lo.x)) (a larger batch helps IS_P2P)", a: hi.cell, b: lo.cell,
                                     unit: "FID", missingA: "batch \(compact(hi.x))", missingB: "batch \(compact(lo.x))"))
                    // "Memory grows with the batch" from the interval of the difference, largest − smallest batch.
                    let mem = memLines(s).first { $0.name == l.name }!.points.filter { !$0.cell.isEmpty }
                    if let mlo = mem.first, let mhi = mem.last, mem.count >= 2 {
                        let means = mem.map { "\(compact($0.x)): \(fixed($0.cell.mean!, 1))" }.joined(separator: ", ")
                        v.append(Verdict(claim: "\(l.name): memory grows with batch", a: mhi.cell, b: mlo.cell,
                                         unit: "MiB", decimals: 1, missingA: "batch \(compact(mhi.x))", missingB: "batch \(compact(mlo.x))", direction: .higher,
                                         label: "peak at batch \(compact(mhi.x)) − batch \(compact(mlo.x)); mean peak MiB by batch: \(means)"))
                    }
                }
                return v
            },
            extraPanels: { s, _ in
                [axisPanel(memLines(s), title: "peak memory — distill stage", xLabel: "batch size (distill.batchSize)",
                           yLabel: memName(s).hasPrefix("peak memory of the loss") ? "loss peak memory (MiB)" : "peak resident memory (MiB)")]
            },
            extraTable: { s, _ in
                let rows = memLines(s).flatMap { l in l.points.map { [l.name] + axisRow(compact($0.x), $0.cell, decimals: 1, against: nil).dropLast() } }
                let what = memName(s).hasPrefix("peak memory of the loss") ? "Peak memory of the loss evaluation (MiB, `memory/loss_peak_bytes`)" : "Peak memory of the distillation stage (MiB)"
                return what + ":\n\n" + markdownTable(["Line", "batch size", "peak MiB mean ± 95% CI [n]", "Per seed"], rows, align: ["l", "r", "r", "l"]) + "\n"
            })
    }()

    static let fig7 = FigureConfig(number: 7, title: "temperatures τ of IS_P2P and M_P2P",
        keys: [paperKey("distill.tauIS"), paperKey("distill.tauContrast")],
        intro: "The paper sweeps the relation temperature of IS_P2P (τ_IS) and the contrast temperature of M_P2P (τ_M) on the 8 → 4 stage and reports that every value beats RCFD's 4-step FID (3.80 on CIFAR-10); the best values stated are τ_IS = 0.7 and 0.9, τ_M = 0.4.",
        claims: { s, rcfd, _ in beatsRCFD(s, rcfd: rcfd) }, linkTerms: true)

    static let fig8 = FigureConfig(number: 8, title: "pixel queue: size N_q and contrast sample V",
        keys: [paperKey("distill.queue.size"), paperKey("distill.queue.contrastSize")],
        intro: "The paper sweeps the memory queue size N_q and the number V of queued pixels sampled for M_P2P: performance rises and then falls with N_q (best at 20,000) and saturates with V (2048 chosen).",
        claims: { s, _, _ in
            s.key.path == "distill.queue.size" ? s.lines.flatMap { riseThenFall($0, symbol: s.key.symbol) } : s.lines.flatMap { saturates($0, symbol: s.key.symbol) }
        },
        extraTable: { s, _ in queueRefillsTable(s) })

    static let fig9 = FigureConfig(number: 9, title: "loss weights α (IS_P2P) and β (M_P2P)",
        keys: [paperKey("distill.alpha"), paperKey("distill.beta")],
        intro: "The paper sweeps the weights of IS_P2P (α) and M_P2P (β) on the 8 → 4 stage and reports that every value beats RCFD's 4-step FID; the best values stated are α = 0.8 and β = 0.3.",
        claims: { s, rcfd, _ in beatsRCFD(s, rcfd: rcfd) }, linkTerms: true)
}

public func fig6Report(_ data: ReportData, links: LinkStyle) -> (String, [ReportFile]) { figureReport(data, .fig6, links: links) }
public func fig7Report(_ data: ReportData, links: LinkStyle) -> (String, [ReportFile]) { figureReport(data, .fig7, links: links) }
public func fig8Report(_ data: ReportData, links: LinkStyle) -> (String, [ReportFile]) { figureReport(data, .fig8, links: links) }
public func fig9Report(_ data: ReportData, links: LinkStyle) -> (String, [ReportFile]) { figureReport(data, .fig9, links: links) }

/// Fig. 8's N_q claim "performance rises then falls": an interior value below both ends. The candidate is
/// the interior value with the lowest mean (a choice of which comparison to make); the verdict comes from the
/// two intervals, interior − first and interior − last (`combined`: reproduced when both exclude 0 below,
/// not reproduced when either excludes 0 above). A line whose lowest mean sits at an end says so.
func riseThenFall(_ l: AxisLine, symbol: String) -> [Verdict] {
    let claim = "\(l.name): performance rises then falls with \(symbol)"
    let pts = l.points.filter { !$0.cell.isEmpty }
    guard pts.count >= 3 else { return [Verdict(claim: claim, outcome: .untested, line: "\(claim): untested (needs ≥ 3 values, have \(pts.count))")] }
    let best = (1..<(pts.count - 1)).min { pts[$0].cell.mean! < pts[$1].cell.mean! }!
    let lowest = pts.indices.min { pts[$0].cell.mean! < pts[$1].cell.mean! }!
    let at = "\(symbol) = \(compact(pts[best].x))"
    func part(_ end: Int) -> Verdict {
        Verdict(claim: "\(l.name): \(at) < \(symbol) = \(compact(pts[end].x))", a: pts[best].cell, b: pts[end].cell, unit: "FID",
                missingA: at, missingB: "\(symbol) = \(compact(pts[end].x))")
    }
    let parts = [part(0), part(pts.count - 1)]
    let edge = lowest == 0 || lowest == pts.count - 1 ? "; the lowest mean FID is at the end \(symbol) = \(compact(pts[lowest].x))" : ""
    return [combined(claim, parts, detail: " — the interior value with the lowest mean, \(at), against both ends\(edge)")] + parts
}

/// Fig. 8's V claim "FID saturates": the first increase of V lowers FID beyond its CI, and the last does
/// not (its CI includes 0, or it raises FID). Not reproduced when the first increase raises FID, or the last
/// still lowers it, beyond the CI. Both from intervals (`Rule.saturation`).
func saturates(_ l: AxisLine, symbol: String) -> [Verdict] {
    let claim = "\(l.name): FID saturates with \(symbol)"
    let pts = l.points.filter { !$0.cell.isEmpty }
    guard pts.count >= 3 else { return [Verdict(claim: claim, outcome: .untested, line: "\(claim): untested (needs ≥ 3 values, have \(pts.count))")] }
    func step(_ i: Int) -> Verdict {
        let a = "\(symbol) = \(compact(pts[i + 1].x))", b = "\(symbol) = \(compact(pts[i].x))"
        return Verdict(claim: "\(l.name): \(a) < \(b)", a: pts[i + 1].cell, b: pts[i].cell, unit: "FID", missingA: a, missingB: b)
    }
    let first = step(0), last = step(pts.count - 2)
    return [Verdict(claim: claim, rule: .saturation(first: first, last: last, detail: " — rule: the first increase lowers FID beyond its CI and the last does not"))] + [first, last]
}
