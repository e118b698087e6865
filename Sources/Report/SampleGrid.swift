import Foundation
import Checkpoint

// Fig. 5: samples of PD, RCFD and RDD from the same initial noise, as a PNG grid.

/// A 3×5 pixel font for the row labels (only the letters the labels use; others are skipped).
let glyphs: [Character: [String]] = [
    "C": ["111", "100", "100", "100", "111"],
    "D": ["110", "101", "101", "101", "110"],
    "F": ["111", "100", "110", "100", "100"],
    "P": ["110", "101", "110", "100", "100"],
    "R": ["110", "101", "110", "101", "101"],
]

/// Draws `text` at (x, y) with each font pixel `scale`×`scale`, in `value` on every channel.
func drawText(_ img: inout Image8, _ text: String, x: Int, y: Int, scale: Int, value: UInt8) {
    var cx = x
    for ch in text {
        if let g = glyphs[ch] {
            for (r, row) in g.enumerated() { for (c, bit) in row.enumerated() where bit == "1" {
                for dy in 0..<scale { for dx in 0..<scale {
                    let px = cx + c * scale + dx, py = y + r * scale + dy
                    if px < img.width && py < img.height { for k in 0..<img.channels { img[px, py, k] = value } }
                } }
            } }
        }
        cx += 4 * scale
    }
}

/// The samples of one evaluation: (n, H, W, C) in [−1, 1] from `samples.h5`.
struct Samples { var n: Int; var h: Int; var w: Int; var c: Int; var values: [Float] }

func loadSamples(_ path: String) throws -> Samples {
    let ck = try Checkpoint.load(from: path)
    let a = try ck.array("samples")
    guard a.shape.count == 4, let v = a.float32Values ?? a.float64Values?.map(Float.init) else {
        throw ReportError("\(path): 'samples' must be a float array (n, H, W, C), got \(a)")
    }
    return Samples(n: a.shape[0], h: a.shape[1], w: a.shape[2], c: a.shape[3], values: v)
}

/// Rows of images (one row per label) in a grid with a label column, upscaled so a tile is ≥ 32 px.
func sampleGrid(_ rows: [(label: String, samples: Samples)], count: Int) -> Image8 {
    let first = rows[0].samples
    let scale = max(1, 32 / max(first.h, 1)), gap = 2, fontScale = 2
    let labelW = (rows.map { $0.label.count }.max() ?? 0) * 4 * fontScale + 2 * gap + 4
    let cols = min(count, rows.map { $0.samples.n }.min() ?? 0)
    let tw = first.w * scale, th = first.h * scale
    let channels = first.c == 3 ? 3 : 1
    var img = Image8(width: labelW + cols * (tw + gap) + gap, height: rows.count * (th + gap) + gap, channels: channels, fill: 200)
    for (r, row) in rows.enumerated() {
        let oy = gap + r * (th + gap)
        drawText(&img, row.label, x: gap + 2, y: oy + max(0, (th - 5 * fontScale) / 2), scale: fontScale, value: 0)
        let s = row.samples
        for i in 0..<cols {
            let ox = labelW + i * (tw + gap)
            for y in 0..<th { for x in 0..<tw {
                let sy = y / scale, sx = x / scale
                for k in 0..<channels {
                    let v = s.values[((i * s.h + sy) * s.w + sx) * s.c + min(k, s.c - 1)]
                    img[ox + x, oy + y, k] = UInt8(((max(-1, min(1, v)) + 1) / 2 * 255).rounded())
                }
            } }
        }
    }
    return img
}

/// Fig. 5 over every unconditional scope (the paper's figure is CIFAR-10): the `steps`-step students of PD, RCFD and RDD of one seed.
public func fig5Report(_ data: ReportData, resultsRoot: String, seed: Int?, steps: Int, count: Int, links: LinkStyle) -> (String, [ReportFile]) {
    var out = "## Fig. 5 — samples of PD, RCFD and RDD from the same noise\n\n"
    out += "Each row is one method's \(steps)-step student; every row uses the same trial seed, and the evaluation draws its initial noise x_T from that seed alone, so column i starts from the same x_T in every row. The images are the first \(count) of the N samples each evaluation stores in `samples.h5` (values in [−1, 1] mapped to 0–255, upscaled with nearest neighbours).\n\n"
    let methods = ["pd", "rcfd", "rdd"]
    var files: [ReportFile] = []
    let scopes = data.scopes(conditional: false)
    var any = false
    for scope in scopes {
        let trials = data.trials(in: scope).filter(isTableTrial)
        func rec(_ m: String, _ s: Int) -> (TrialView, EvaluationRecord)? {
            for t in trials where t.method == m && t.seed == s {
                if let r = t.record.evaluations.first(where: { $0.stage == "eval-\(m)-\(steps)" }) { return (t, r) }
            }
            return nil
        }
        let seeds = Array(Set(trials.filter { methods.contains($0.method) }.map(\.seed))).sorted()
        guard let chosen = seed ?? (seeds.first { s in methods.allSatisfy { rec($0, s) != nil } } ?? seeds.first) else { continue }
        any = true
        if scopes.count > 1 { out += "### \(scope.title)\n\n" }
        var rows: [(String, Samples)] = []
        var table: [[String]] = []
        var problems: [String] = []
        var shown: [TrialView] = []
        let fid = fidMetric(trials)
        for m in methods {
            let name = PaperReference.paperName(m)
            guard let (t, r) = rec(m, chosen) else {
                problems.append("missing: method=\(m) at \(steps) step\(steps == 1 ? "" : "s"), seed \(chosen) — no such evaluation in the export")
                continue
            }
            let path = resultsRoot + "/" + r.artifactDirectory + "/samples.h5"
            let fidText = t.metric(r.stage, fid).map { fixed($0.value, 2) } ?? "–"
            // The row comes from the export; only the image and its "Stored" column need the samples file.
            var stored = "not readable"
            do {
                let s = try loadSamples(path)
                if let f = rows.first?.1, (f.h, f.w, f.c) != (s.h, s.w, s.c) { throw ReportError("image size \(s.h)×\(s.w)×\(s.c) differs from the first row's") }
                rows.append((name, s))
                stored = "\(s.n) × \(s.h)×\(s.w)×\(s.c)"
            } catch {
                // The message names the path relative to the results root only, so the report does not depend on where it runs.
                problems.append("missing: \(name) samples `\(r.artifactDirectory)/samples.h5` could not be read under the results root — pass --results-root (the directory the evaluations' artifactDirectory is relative to)")
            }
            table.append([name, t.ref, "`\(r.stage)`", fidText, "`\(r.artifactDirectory)/samples.h5`", stored])
            shown.append(t)
        }
        if !rows.isEmpty {
            let name = scopes.count > 1 ? links.stem + "-" + anchorID(scope.title) + ".png" : links.assetName("png")
            if let png = try? encodePNG(sampleGrid(rows, count: count)) {
                files.append(ReportFile(name: name, data: png))
                out += "![Fig. 5 samples, seed \(chosen), \(steps) step\(steps == 1 ? "" : "s")](\(links.prefix)\(name))\n\n"
            }
        }
        out += "Seed \(chosen), \(steps)-step students, data set **\(scope.dataset)** (preset `\(scope.preset)`), rows top to bottom:\n\n"
        out += markdownTable(["Row", "Trial", "Evaluation", "FID of this seed (`\(fid)`)", "Samples file", "Stored"], table) + "\n"
        if !shown.isEmpty { out += computedOnLine(shown) + "\n\n" }
        if !problems.isEmpty { out += problems.map { "- \($0)\n" }.joined() + "\n" }
    }
    if !any { out += "missing: no completed unconditional trial with method pd, rcfd or rdd evaluated at \(steps) step\(steps == 1 ? "" : "s") in this export.\n" }
    return (out, files)
}
