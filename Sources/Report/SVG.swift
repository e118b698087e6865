import Foundation

/// A small SVG writer for line plots: panels side by side (or in a grid), each with series of points (legend below the axis),
/// vertical error bars, horizontal reference lines, vertical markers, ticks and a legend.
/// Output is deterministic (fixed decimals, series in the given order).
public struct SVGPlot {
    public struct Point: Equatable {
        public var x: Double
        public var y: Double
        /// Half-length of the error bar (nil: none).
        public var error: Double?
        public init(x: Double, y: Double, error: Double? = nil) { self.x = x; self.y = y; self.error = error }
    }
    public struct Series {
        public var name: String
        public var points: [Point]
        public var dashed = false
        public init(name: String, points: [Point], dashed: Bool = false) { self.name = name; self.points = points; self.dashed = dashed }
    }
    public struct Reference {
        public var label: String
        public var y: Double
        /// Shaded band ± this (a CI), nil: none.
        public var band: Double?
        public init(label: String, y: Double, band: Double? = nil) { self.label = label; self.y = y; self.band = band }
    }
    public struct Panel {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var series: [Series]
        public var references: [Reference] = []
        /// Vertical lines with labels (e.g. stage boundaries).
        public var markers: [(x: Double, label: String)] = []
        /// Log₂ x axis (batch sizes, queue sizes); chosen automatically when nil.
        public var logX: Bool?
        /// Fixed y range (nil: from the data).
        public var yRange: ClosedRange<Double>?
        /// Tick positions on x (nil: the distinct x of the data when ≤ 12, else nice ticks).
        public var xTicks: [Double]?
        public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
            self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series
        }
    }

    public var panels: [Panel]
    public var columns: Int
    public var panelWidth = 420.0
    public var panelHeight = 300.0

    public init(panels: [Panel], columns: Int? = nil) {
        self.panels = panels
        self.columns = max(1, columns ?? panels.count)
    }

    /// Colour-blind-safe palette (Okabe–Ito), in order.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

    public func render() -> String {
        let rows = (panels.count + columns - 1) / columns
        let w = panelWidth * Double(min(columns, max(panels.count, 1))), h = panelHeight * Double(max(rows, 1))
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(w))\" height=\"\(f(h))\" viewBox=\"0 0 \(f(w)) \(f(h))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"#ffffff\"/>\n"
        for (i, p) in panels.enumerated() {
            let ox = Double(i % columns) * panelWidth, oy = Double(i / columns) * panelHeight
            s += "<g transform=\"translate(\(f(ox)),\(f(oy)))\">\n" + panel(p) + "</g>\n"
        }
        return s + "</svg>\n"
    }

    func panel(_ p: Panel) -> String {
        let left = 62.0, right = 14.0, top = 28.0
        // Legend below the x-axis label, wrapped into rows, so it never covers data.
        let pw = panelWidth - left - right
        var legend: [(x: Double, row: Int)] = []
        var lx = 0.0, row = 0
        for ser in p.series {
            let w = 30 + 6.5 * Double(ser.name.count) + 14
            if lx > 0 && lx + w > pw { lx = 0; row += 1 }
            legend.append((lx, row)); lx += w
        }
        let legendRows = p.series.isEmpty ? 0 : row + 1
        let bottom = 44.0 + 20 * Double(legendRows)
        let ph = panelHeight - top - bottom
        let xs = p.series.flatMap { $0.points.map(\.x) } + p.markers.map(\.x)
        let logX = p.logX ?? (xs.allSatisfy { $0 > 0 } && (xs.max() ?? 1) / (xs.min() ?? 1) >= 8)
        func tx(_ x: Double) -> Double { logX ? log2(x) : x }
        var x0 = xs.map(tx).min() ?? 0, x1 = xs.map(tx).max() ?? 1
        if x0 == x1 { x0 -= 1; x1 += 1 }
        let padX = (x1 - x0) * 0.06
        x0 -= padX; x1 += padX
        var ys = p.series.flatMap { $0.points.flatMap { [$0.y - ($0.error ?? 0), $0.y + ($0.error ?? 0)] } }
        ys += p.references.flatMap { [$0.y - ($0.band ?? 0), $0.y + ($0.band ?? 0)] }
        ys = ys.filter(\.isFinite)
        var y0 = p.yRange?.lowerBound ?? (ys.min() ?? 0), y1 = p.yRange?.upperBound ?? (ys.max() ?? 1)
        if y0 == y1 { y0 -= max(abs(y0) * 0.1, 0.5); y1 += max(abs(y1) * 0.1, 0.5) }
        if p.yRange == nil { let pad = (y1 - y0) * 0.08; y0 -= pad; y1 += pad }
        let yt = niceTicks(y0, y1, 5)
        func px(_ x: Double) -> Double { left + (tx(x) - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * ph }

        // Bold 12 px text is about 0.62 em per character: shrink long titles to fit the panel.
        let titleSize = min(12, max(7, (panelWidth - 16) / (0.62 * Double(max(p.title.count, 1)))))
        var s = "<text x=\"\(f(panelWidth / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"\(f(titleSize))\" font-weight=\"bold\">\(esc(p.title))</text>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1\"/>\n"
        for t in yt where t >= y0 && t <= y1 {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(left + pw))\" y2=\"\(f(py(t)))\" stroke=\"#e5e5e5\" stroke-width=\"1\"/>\n"
            s += "<text x=\"\(f(left - 5))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(esc(tickLabel(t, yt)))</text>\n"
        }
        let distinct = Array(Set(p.series.flatMap { $0.points.map(\.x) })).sorted()
        let xticks = p.xTicks ?? (distinct.count <= 12 && !distinct.isEmpty ? distinct
            : niceTicks(logX ? exp2(x0) : x0, logX ? exp2(x1) : x1, 6))
        for t in xticks where tx(t) >= x0 && tx(t) <= x1 {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top + ph))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + ph + 4))\" stroke=\"#444444\"/>\n"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(esc(tickLabel(t, xticks)))</text>\n"
        }
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(top + ph + 32))\" text-anchor=\"middle\">\(esc(p.xLabel + (logX ? " (log scale)" : "")))</text>\n"
        s += "<text transform=\"translate(14,\(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(p.yLabel))</text>\n"
        for m in p.markers {
            s += "<line x1=\"\(f(px(m.x)))\" y1=\"\(f(top))\" x2=\"\(f(px(m.x)))\" y2=\"\(f(top + ph))\" stroke=\"#999999\" stroke-dasharray=\"2,3\"/>\n"
            s += "<text x=\"\(f(px(m.x) + 3))\" y=\"\(f(top + 11))\" fill=\"#666666\" font-size=\"9\">\(esc(m.label))</text>\n"
        }
        for r in p.references {
            if let b = r.band {
                let ya = py(min(r.y + b, y1)), yb = py(max(r.y - b, y0))
                s += "<rect x=\"\(f(left))\" y=\"\(f(ya))\" width=\"\(f(pw))\" height=\"\(f(max(0, yb - ya)))\" fill=\"#888888\" fill-opacity=\"0.15\"/>\n"
            }
            s += "<line x1=\"\(f(left))\" y1=\"\(f(py(r.y)))\" x2=\"\(f(left + pw))\" y2=\"\(f(py(r.y)))\" stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"6,4\"/>\n"
            s += "<text x=\"\(f(left + 4))\" y=\"\(f(py(r.y) - 4))\" fill=\"#555555\" font-size=\"10\">\(esc(r.label))</text>\n"
        }
        for (i, ser) in p.series.enumerated() {
            let c = SVGPlot.palette[i % SVGPlot.palette.count]
            let pts = ser.points.filter { $0.y.isFinite }.sorted { $0.x < $1.x }
            if pts.count > 1 {
                let d = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"5,3\"" : "")/>\n"
            }
            for pt in pts {
                if let e = pt.error, e > 0 {
                    let xa = px(pt.x), ya = py(pt.y + e), yb = py(pt.y - e)
                    s += "<line x1=\"\(f(xa))\" y1=\"\(f(ya))\" x2=\"\(f(xa))\" y2=\"\(f(yb))\" stroke=\"\(c)\" stroke-width=\"1.2\"/>\n"
                    s += "<line x1=\"\(f(xa - 4))\" y1=\"\(f(ya))\" x2=\"\(f(xa + 4))\" y2=\"\(f(ya))\" stroke=\"\(c)\" stroke-width=\"1.2\"/>\n"
                    s += "<line x1=\"\(f(xa - 4))\" y1=\"\(f(yb))\" x2=\"\(f(xa + 4))\" y2=\"\(f(yb))\" stroke=\"\(c)\" stroke-width=\"1.2\"/>\n"
                }
                s += "<circle cx=\"\(f(px(pt.x)))\" cy=\"\(f(py(pt.y)))\" r=\"3\" fill=\"\(c)\"/>\n"
            }
        }
        for (i, ser) in p.series.enumerated() {
            let c = SVGPlot.palette[i % SVGPlot.palette.count]
            let x0 = left + legend[i].x, yy = top + ph + 50 + 16 * Double(legend[i].row)
            s += "<line x1=\"\(f(x0))\" y1=\"\(f(yy - 4))\" x2=\"\(f(x0 + 22))\" y2=\"\(f(yy - 4))\" stroke=\"\(c)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"5,3\"" : "")/>\n"
            s += "<circle cx=\"\(f(x0 + 11))\" cy=\"\(f(yy - 4))\" r=\"3\" fill=\"\(c)\"/>\n"
            s += "<text x=\"\(f(x0 + 28))\" y=\"\(f(yy))\">\(esc(ser.name))</text>\n"
        }
        return s
    }

    func f(_ x: Double) -> String { fixed(x, 1) }
}

/// 1-2-5 ticks covering [lo, hi], about `count` of them.
public func niceTicks(_ lo: Double, _ hi: Double, _ count: Int) -> [Double] {
    guard lo.isFinite, hi.isFinite, hi > lo else { return [lo] }
    let raw = (hi - lo) / Double(max(count, 1))
    let mag = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
    var t = ceil(lo / step) * step
    var out: [Double] = []
    while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
    return out
}

/// A tick label with as many decimals as the spacing of `all` needs (at most 4).
func tickLabel(_ t: Double, _ all: [Double]) -> String {
    let diffs = zip(all.dropFirst(), all).map { abs($0 - $1) }.filter { $0 > 0 }
    let step = diffs.min() ?? abs(t)
    var d = 0
    func scaled(_ d: Int) -> Double { step * pow(10, Double(d)) }
    while d < 4, abs(scaled(d) - scaled(d).rounded()) > 1e-6 * max(1, scaled(d)) || scaled(d) < 1 - 1e-9 { d += 1 }
    if t == t.rounded(), abs(t) >= 1 { return compact(t) }
    return fixed(t, d)
}

/// XML text escaping.
func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
