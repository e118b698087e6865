import Foundation
import Report
import Sweep
import RunModel

// Loss curves: a logged series (the stages' journals, as the database holds them) against the step, one panel per
// stage of the trial plan, one line per selected trial; drawn server-side by Report's SVGPlot.

/// The selected trials and series of a curves request: `trial=3&trial=5` or `trials=3,5`, and `series=loss`.
struct CurveSelection {
    var trials: [Int]
    var series: String

    /// At most 8 trials, the colours of Report's palette.
    static let maxTrials = 8

    init(query: [(String, String)], available: [Int]) throws {
        var t: [Int] = []
        for (k, v) in query where k == "trial" || k == "trials" {
            for part in v.split(separator: ",") {
                let s = part.trimmingCharacters(in: .whitespaces)
                guard let i = Int(s) else { throw DashboardError(status: 400, title: "Bad request", message: "\(k)=\(v): '\(s)' is not a trial index") }
                if !t.contains(i) { t.append(i) }
            }
        }
        if t.isEmpty { t = Array(available.prefix(4)) }
        trials = Array(t.prefix(Self.maxTrials))
        series = query.last { $0.0 == "series" }?.1 ?? "loss"
    }
}

extension Dashboard {
    func curvesPage(_ sw: SweepRow, query: [(String, String)]) throws -> String {
        // The first 101 trials: a checkbox each when there are at most 100, else a box for indices (a large sweep is
        // not read whole to draw a few curves).
        let listed = try reports.trialsPage(sweep: sw.label, TrialsQuery(per: 101))
        let table = listed.table
        let sel = try CurveSelection(query: query, available: table.trials.map(\.index))
        var details: [TrialDetail] = []
        for i in sel.trials {
            guard let d = try reports.trialDetail(sweep: sw.label, index: i) else {
                throw DashboardError.notFound("sweep \(sw.label) has no trial \(i) (trials 0…\(max(0, listed.total - 1)))")
            }
            details.append(d)
        }
        // Training stages' journals, and the learning curves' evaluations of their snapshots (`curve-…`, issue 20 §4:
        // FID against step), which are evaluation stages with a series.
        func plotted(_ s: TrialDetail.Stage) -> Bool {
            if s.kind != "eval" { return true }
            if case .curve? = StageName(s.name) { return true }
            return false
        }
        let trained = details.flatMap { d in d.stages.filter(plotted) }
        let ids = Array(Set(trained.map(\.identity))).sorted()
        let names = try reports.seriesNames(stages: ids)
        let data = try reports.series(stages: ids, names: [sel.series])
        // One panel per stage of the plan: the same name across trials, distillation stages by their student's step
        // count ("distill-rdd-4" and "distill-pd-4" are both the 8 → 4 stage), in plan order.
        func panelKey(_ s: TrialDetail.Stage) -> String {
            s.kind == "distill" ? "distill → \(s.name.split(separator: "-").last ?? "")" : s.name
        }
        var order: [String] = []
        var panels: [String: [SVGPlot.Series]] = [:]
        for d in details {
            let label = "trial \(d.index)" + (d.sweep.axes.isEmpty ? "" : " (" + d.sweep.axes.compactMap { a in axisText(d.axesJSON, a) }.joined(separator: ", ") + ")")
            for s in d.stages where plotted(s) {
                let key = panelKey(s)
                if !order.contains(key) { order.append(key) }
                guard let pts = data[s.identity]?[sel.series], !pts.isEmpty else { continue }
                panels[key, default: []].append(SVGPlot.Series(name: label, points: pts.map { SVGPlot.Point(x: Double($0.step), y: $0.value) }))
            }
        }
        let shown = order.filter { panels[$0] != nil }
        let plot = SVGPlot(panels: shown.map { k in
            var p = SVGPlot.Panel(title: "\(k): \(sel.series)", xLabel: "step", yLabel: sel.series, series: panels[k]!)
            p.logX = false
            return p
        }, columns: 2)
        let base = "/sweeps/\(pathSegment(sw.name))"
        var b = "<form class=\"curves\" method=\"get\" action=\"\(base)/curves\"><p><b>Series</b> <select name=\"series\">"
        for n in (names.contains(sel.series) ? names : [sel.series] + names) { b += "<option\(n == sel.series ? " selected" : "")>\(h(n))</option>" }
        b += "</select> <button type=\"submit\">Draw</button></p><p><b>Trials</b> (at most \(CurveSelection.maxTrials)): "
        if listed.total <= 100 {
            for t in table.trials {
                let axes = sw.axes.compactMap { t.axis($0) }.joined(separator: ", ")
                b += "<label><input type=\"checkbox\" name=\"trial\" value=\"\(t.index)\"\(sel.trials.contains(t.index) ? " checked" : "")> \(t.index)\(axes.isEmpty ? "" : " (\(h(axes)))")</label> "
            }
        } else {
            b += "<input name=\"trials\" value=\"\(sel.trials.map(String.init).joined(separator: ","))\" placeholder=\"e.g. 0,5,17\">"
        }
        b += "</p></form>\n"
        if shown.isEmpty {
            b += "<p class=\"muted\">No stage of the selected trials has logged <code>\(h(sel.series))</code> yet.</p>"
        } else {
            b += "<div class=\"figure\">" + inlineSVG(Data(plot.render().utf8)) + "</div>\n"
        }
        b += "<p class=\"note\">From the stages' journals as the scheduler ingests them (a running stage's curve grows as you reload). "
        b += "Shared stages (teacher, PD chain) draw one line per trial on top of each other. FID against step appears here once evaluations at intermediate steps exist.</p>"
        return page("\(sw.label) — curves", crumbs: [(sw.label, base + "/live"), ("curves", base + "/curves")], b)
    }
}

/// One axis value of a trial's axes JSON, as text.
func axisText(_ axesJSON: String, _ path: String) -> String? {
    guard let v = (try? JSONParser.parse(axesJSON).value)?[path] else { return nil }
    return v.stringValue ?? v.serialized()
}
