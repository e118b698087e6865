import Foundation

// "A metric against an axis": the one implementation behind the plots of `rdd-report sweep` and the paper's
// figure reports (Figs. 6–9). A figure is a configuration of it (Figures.swift: which axis, how trials form
// lines, which student step count, which reference line, which of the paper's values are overlaid); the sweep
// report is another (SweepReport.swift: the spec's axes, one line per value of the next axis).

/// One point of a line: the axis value, the cell there (mean ± 95% CI over seeds), and the trials behind it.
struct AxisPoint {
    var x: Double
    var cell: Cell
    var trials: [TrialView]
}

/// One line: trials that share everything but their value on the axis.
struct AxisLine {
    var name: String
    var points: [AxisPoint]
}

/// How trials become lines of points.
struct AxisView {
    /// A trial's numeric value on the axis; nil leaves the trial out (it does not sweep the axis).
    var x: (TrialView) -> Double?
    /// The line a trial belongs to.
    var line: (TrialView) -> String
    /// A point's cell from the trials at it.
    var cell: ([TrialView]) -> Cell
    /// Line names in display order, every one shown even without trials; nil: the lines present, by name.
    var lineOrder: [String]? = nil

    /// The lines of `trials`, each with its points in increasing x.
    func lines(_ trials: [TrialView]) -> [AxisLine] {
        var groups: [String: [TrialView]] = [:]
        for t in trials where x(t) != nil { groups[line(t), default: []].append(t) }
        return (lineOrder ?? groups.keys.sorted()).map { name in
            let ts = groups[name] ?? []
            let xs = Array(Set(ts.compactMap(x))).sorted()
            return AxisLine(name: name, points: xs.map { v in
                let at = ts.filter { x($0) == v }
                return AxisPoint(x: v, cell: cell(at), trials: at)
            })
        }
    }
}

/// The SVG panel of `lines`: each point's mean with its 95% CI as an error bar (none for n = 1; points
/// without a value are left out), `references` as dashed horizontal lines with their CI band (RCFD's
/// 4-step FID in the figures), and `marks` as dotted vertical lines (the paper's stated optimum) — a mark
/// outside the data's x range is left out rather than stretching the axis (the text states it).
func axisPanel(_ lines: [AxisLine], title: String, xLabel: String, yLabel: String,
               references: [SVGPlot.Reference] = [], marks: [(x: Double, label: String)] = []) -> SVGPlot.Panel {
    var p = SVGPlot.Panel(title: title, xLabel: xLabel, yLabel: yLabel, series: lines.map { l in
        SVGPlot.Series(name: l.name, points: l.points.compactMap { pt in
            pt.cell.summary.map { SVGPlot.Point(x: pt.x, y: $0.mean, error: $0.halfWidth95) }
        })
    })
    p.references = references
    let xs = p.series.flatMap { $0.points.map(\.x) }
    if let lo = xs.min(), let hi = xs.max() { p.markers = marks.filter { $0.x >= lo && $0.x <= hi } }
    return p
}

/// One table row of a point: the axis value's text, mean ± 95% CI [n], the per-seed values, and the
/// difference against `baseline` with its CI ("–" when there is none to take).
func axisRow(_ value: String, _ cell: Cell, decimals d: Int, against baseline: Cell?) -> [String] {
    let diff = baseline.flatMap { Difference(cell, $0) }.map { $0.text(d) } ?? "–"
    return [value, cell.text(d), cell.isEmpty ? "–" : cell.perSeed(d), diff]
}
