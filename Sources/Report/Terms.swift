import Foundation

// Loss-term diagnostics (issue 11): is each term of the objective doing anything?

/// The paper's name of a loss term of ours.
func termName(_ t: String) -> String {
    switch t {
    case "cfd": return "CFD"
    case "is_p2p": return "IS_P2P"
    case "m_p2p": return "M_P2P"
    case "ii_p2p": return "II_P2P"
    case "pd": return "PD"
    case "perceptual": return "perceptual"
    default: return t
    }
}

/// Thresholds of the one-line reading (docs/reports.md).
public enum TermThresholds {
    /// A term whose share of the parameter-gradient norm is below this is "nearly inert".
    public static let inertShare = 0.01
    /// A term whose share is above this "dominates" (only said when there are several terms).
    public static let dominantShare = 0.9
    /// Two terms whose parameter gradients have a cosine below this "pull against each other".
    public static let conflictCosine = -0.2
    /// Relation rows whose entropy is at least this fraction of the maximum are "nearly uniform".
    public static let uniformEntropy = 0.99
}

/// A number with 4 significant digits in a fixed style: fixed decimals in [0.01, 10⁴), else scientific.
func sig(_ x: Double) -> String {
    if x == 0 { return "0" }
    let a = abs(x)
    if a >= 0.01 && a < 1e4 { return fixed(x, a >= 100 ? 1 : (a >= 1 ? 3 : 4)) }
    return String(format: "%.3e", x)
}

func mean(_ pts: [SeriesPoint]?) -> Double? {
    guard let p = pts, !p.isEmpty else { return nil }
    return p.map(\.value).reduce(0, +) / Double(p.count)
}

/// The terms with diagnostics in a stage, in a fixed order.
func diagnosedTerms(_ s: StageRecord) -> [String] {
    let order = ["pd", "perceptual", "cfd", "ii_p2p", "is_p2p", "m_p2p"]
    let present = Set(s.series.keys.compactMap { k -> String? in
        let p = k.split(separator: "/")
        return p.count == 3 && p[0] == "diag" && p[2] == "share" ? String(p[1]) : nil
    })
    return present.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
}

/// The one-line reading of a stage's time-averaged diagnostics.
func termReading(_ s: StageRecord, tauIS: Double?) -> String {
    let terms = diagnosedTerms(s)
    var findings: [String] = []
    let shares = terms.compactMap { t in mean(s.series["diag/\(t)/share"]).map { (t, $0) } }
    for (t, v) in shares where v < TermThresholds.inertShare {
        findings.append("\(termName(t)) carries \(fixed(100 * v, 1))% of the gradient: at this setting it is nearly inert")
    }
    if terms.count > 1 { for (t, v) in shares where v > TermThresholds.dominantShare {
        findings.append("\(termName(t)) carries \(fixed(100 * v, 1))% of the gradient: it dominates")
    } }
    for k in s.series.keys.sorted() where k.hasPrefix("diag/cos/") {
        if let c = mean(s.series[k]), c < TermThresholds.conflictCosine {
            let pair = k.dropFirst("diag/cos/".count).split(separator: "|").map { termName(String($0)) }
            findings.append("\(pair.joined(separator: " and ")) pull against each other (cos \(signed(c, 2)))")
        }
    }
    if terms.contains("is_p2p"), let e = mean(s.series["diag/is_p2p/entropy_teacher"]), e >= TermThresholds.uniformEntropy {
        findings.append("the teacher's IS_P2P relation rows are nearly uniform (entropy \(fixed(e, 3)) of the maximum\(tauIS.map { " at τ_IS = \(compact($0))" } ?? "")): they carry little information")
    }
    if terms.contains("m_p2p"), let e = mean(s.series["diag/m_p2p/entropy_teacher"]), e >= TermThresholds.uniformEntropy {
        findings.append("the teacher's M_P2P relation rows over the queue are nearly uniform (entropy \(fixed(e, 3)) of the maximum): they carry little information")
    }
    if findings.isEmpty {
        if terms.count == 1 { return "\(termName(terms[0])) is the only term." }
        return "All terms contribute (gradient shares: " + shares.map { "\(termName($0.0)) \(fixed(100 * $0.1, 1))%" }.joined(separator: ", ") + ")."
    }
    return findings.joined(separator: "; ").prefix(1).uppercased() + findings.joined(separator: "; ").dropFirst() + "."
}

/// The trials a terms report shows: the selected ones, or one per configuration (lowest seed) that has diagnostics.
func termsSelection(_ data: ReportData, _ selectors: [String]) throws -> [TrialView] {
    let hasDiag: (TrialView) -> Bool = { t in t.record.stages.contains { $0.kind == .distill && $0.series.keys.contains { $0.hasPrefix("diag/") } } }
    if !selectors.isEmpty {
        var out: [TrialView] = []
        for sel in selectors {
            let m = data.trials.filter { $0.ref == sel || $0.record.key == sel }
            if m.isEmpty {
                throw ReportError("terms: no trial '\(sel)' in the export; give sweep/key or key, e.g. \(data.trials.prefix(3).map(\.ref).joined(separator: ", "))")
            }
            out += m.filter { t in !out.contains { $0.index == t.index } }
        }
        return out.sorted { $0.index < $1.index }
    }
    var seen = Set<String>()
    var out: [TrialView] = []
    for t in data.completed.filter(hasDiag).sorted(by: { ($0.seed, $0.index) < ($1.seed, $1.index) }) {
        let config = t.record.sweep + "|" + t.record.axes.filter { $0.key != "seed" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        if seen.insert(config).inserted { out.append(t) }
    }
    return out.sorted { $0.index < $1.index }
}

/// The trials the default terms report shows (one per configuration): the targets other reports link to.
func termsLinkTargets(_ data: ReportData) -> Set<String> {
    Set(((try? termsSelection(data, [])) ?? []).map(\.ref))
}

public func termsReport(_ data: ReportData, trials selectors: [String], links: LinkStyle) throws -> (String, [ReportFile]) {
    var out = "## Loss-term diagnostics — what each term of the objective does\n\n"
    out += "Every `distill.diagnosticsEvery` steps each distillation stage logs, per loss term L_i with weight w_i: its value and weighted value w_i·L_i, the norm of ∂(w_i L_i)/∂x̂_S (the student's output image) and of ∂(w_i L_i)/∂θ (the student's parameters), its share ‖g_i‖ / Σ_j ‖g_j‖ of the parameter-gradient norms, the cosine between every pair of terms' parameter gradients, and the entropy of the relation softmax rows divided by its maximum (1 = uniform): IS_P2P's pixel-to-pixel rows at τ_IS (II_P2P's are their same-image subset), M_P2P's rows over the V queued pixels at τ_kd. The tables average each quantity over the logged steps of the stage.\n\n"
    out += "Reading thresholds (docs/reports.md): share < \(fixed(100 * TermThresholds.inertShare, 0))% → nearly inert; share > \(fixed(100 * TermThresholds.dominantShare, 0))% (with several terms) → dominates; cosine < \(signed(TermThresholds.conflictCosine, 1)) → the terms pull against each other; relation entropy ≥ \(fixed(TermThresholds.uniformEntropy, 2)) of the maximum → nearly uniform rows.\n\n"
    let chosen = try termsSelection(data, selectors)
    if chosen.isEmpty {
        return (out + "missing: no completed trial with loss-term diagnostics (`diag/…` series of a distillation stage) in this export — run trials with `distill.diagnosticsEvery` > 0.\n", [])
    }
    if selectors.isEmpty { out += "Trials: one per configuration (sweep and swept values other than the seed), the lowest seed; select others with `--trial sweep/key`.\n\n" }
    out += "![Gradient share of each term over training](\(links.asset("svg")))\n\n"
    var panels: [SVGPlot.Panel] = []
    for t in chosen {
        let axes = t.record.axes.keys.sorted().map { "\($0)=\(t.record.axes[$0]!)" }.joined(separator: ", ")
        out += "<a id=\"\(termsAnchor(t.ref))\"></a>\n\n### \(t.ref) — \(t.method), seed \(t.seed)\n\n"
        out += "Axes: \(axes.isEmpty ? "none" : axes); preset `\(t.preset)`, data set \(t.dataset).\n\n"
        out += computedOnLine([t]) + "\n\n"
        let stages = distillStagesInTrainingOrder(t.record.stages)
        var series: [String: [SVGPlot.Point]] = [:]
        var markers: [(Double, String)] = []
        var offset = 0
        for s in stages {
            let terms = diagnosedTerms(s)
            let lastStep = s.series.values.flatMap { $0.map(\.step) }.max() ?? 0
            markers.append((Double(offset), s.name.replacingOccurrences(of: "distill-", with: "")))
            out += "**\(s.name)** — \(fixed(s.seconds, 1)) s, peak memory \(mebibytes(Double(s.peakMemoryBytes)))"
            if let sps = mean(s.series["seconds_per_step"]) { out += ", \(fixed(sps, 3)) s per step" }
            out += "\n\n"
            if terms.isEmpty { out += "No diagnostics logged in this stage.\n\n"; offset += lastStep + 1; continue }
            var rows: [[String]] = []
            for term in terms {
                func q(_ name: String) -> String { mean(s.series["diag/\(term)/\(name)"]).map(sig) ?? "–" }
                let n = s.series["diag/\(term)/share"]?.count ?? 0
                rows.append([termName(term), q("value"), q("weighted"), q("grad_image"), q("grad_params"),
                             mean(s.series["diag/\(term)/share"]).map { fixed(100 * $0, 1) + "%" } ?? "–", "\(n)"])
                for p in s.series["diag/\(term)/share"] ?? [] { series[termName(term), default: []].append(SVGPlot.Point(x: Double(offset + p.step), y: p.value)) }
            }
            out += markdownTable(["Term", "Value", "Weighted", "‖∂/∂x̂_S‖", "‖∂/∂θ‖", "Share", "Points"], rows, align: ["l", "r", "r", "r", "r", "r", "r"]) + "\n"
            var extra: [String] = []
            let et = mean(s.series["diag/is_p2p/entropy_teacher"]), es = mean(s.series["diag/is_p2p/entropy_student"])
            if terms.contains("is_p2p"), et != nil || es != nil {
                extra.append("IS_P2P relation entropy ÷ maximum: teacher \(et.map { fixed($0, 3) } ?? "–"), student \(es.map { fixed($0, 3) } ?? "–")")
            }
            let mt = mean(s.series["diag/m_p2p/entropy_teacher"]), ms = mean(s.series["diag/m_p2p/entropy_student"])
            if terms.contains("m_p2p"), mt != nil || ms != nil {
                extra.append("M_P2P relation entropy ÷ maximum: teacher \(mt.map { fixed($0, 3) } ?? "–"), student \(ms.map { fixed($0, 3) } ?? "–")")
            }
            let cos = s.series.keys.filter { $0.hasPrefix("diag/cos/") }.sorted().compactMap { k -> String? in
                mean(s.series[k]).map { "cos(\(k.dropFirst("diag/cos/".count).split(separator: "|").map { termName(String($0)) }.joined(separator: ", "))) = \(signed($0, 3))" }
            }
            if !cos.isEmpty { extra.append("gradient cosines: " + cos.joined(separator: ", ")) }
            if !extra.isEmpty { out += extra.map { "- \($0)\n" }.joined() }
            out += "- Reading: \(termReading(s, tauIS: t.config.map { Double($0.distill.tauIS) }))\n\n"
            offset += lastStep + 1
        }
        let swept = t.sweptKeys.filter { $0 != "distill.method" }.map { "\($0.split(separator: ".").last!)=\(t.record.axes[$0]!)" }
        var p = SVGPlot.Panel(title: "\(t.record.sweep): " + ([t.method] + swept + ["seed \(t.seed)"]).joined(separator: ", "), xLabel: "training step (stages in order)", yLabel: "share of gradient norm",
                              series: series.keys.sorted { termOrder($0) < termOrder($1) }.map { SVGPlot.Series(name: $0, points: series[$0]!) })
        p.markers = markers.map { (x: $0.0, label: $0.1) }
        p.yRange = 0...1
        p.logX = false
        p.xTicks = nil
        if !p.series.isEmpty { panels.append(p) }
    }
    let svg = SVGPlot(panels: panels, columns: min(2, max(1, panels.count))).render()
    return (out, [ReportFile(name: links.assetName("svg"), data: Data(svg.utf8))])
}

/// A trial's distillation stages in the order they train. Stage names end in the student's step count
/// ("distill-rdd-4" is 8 → 4), and each stage halves the steps of the one before, so training order is
/// descending step count. Exports list stages in plan order, but older ones (results/tiny/export.json)
/// list them by name, which would put the 1-step stage first.
func distillStagesInTrainingOrder(_ stages: [StageRecord]) -> [StageRecord] {
    func steps(_ s: StageRecord) -> Int { Int(s.name.split(separator: "-").last ?? "") ?? Int.max }
    return stages.filter { $0.kind == .distill }.sorted { (-steps($0), $0.name) < (-steps($1), $1.name) }
}

func termOrder(_ paperName: String) -> Int {
    ["PD", "perceptual", "CFD", "II_P2P", "IS_P2P", "M_P2P"].firstIndex(of: paperName) ?? 99
}
