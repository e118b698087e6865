import Foundation

// The speed-up of the students over DDIM at 1024 steps: the controlled benchmark (SamplingBenchmark.swift), then the
// measured sampling time per image of every student and baseline evaluated in the export.

/// Order of rows: the distilled students by method, then the training-free baselines.
let speedupMethodOrder = ["pd", "pd_perceptual", "rcfd", "rdd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "cfd+is_p2p+m_p2p"]

/// The controlled benchmark of each preset in the export (`SamplingBenchmark`, from `benchmarkDirectory`) first,
/// then every evaluation's own sampling time against DDIM-1024's, per scope.
public func speedupReport(_ data: ReportData, benchmarkDirectory: String, links: LinkStyle) throws -> String {
    var out = "## Speed-up — controlled benchmark, then every evaluation's seconds per image against DDIM at 1024 steps\n\n"
    let scopes = data.scopes()
    var presets: [String] = []
    for s in scopes where !presets.contains(s.preset) { presets.append(s.preset) }
    if !presets.isEmpty {
        out += "**Controlled benchmark** (`rdd-bench sampling`: both sides in one run, on one U-Net, at one thread count, the rounds alternating student and DDIM-1024 so both see the same load; the ratio of sampling times at equal N):\n\n"
        for p in presets {
            let record = try SamplingBenchmark.load(directory: benchmarkDirectory, preset: p)
            out += controlledBenchmarkLine(preset: p, record)
        }
        out += "\n"
    }
    out += "**Per-trial sampling times** (not a controlled measurement: each evaluation ran in its own stage, at its own thread count and machine load; every row is listed). "
    out += "Each evaluation records the wall time of sampling its N images divided by N (`secondsPerImage`: sampling only, no metric), and its network evaluations per image (NFE). The speed-up of a row is DDIM-1024's seconds per image over the row's, computed per trial when the trial also evaluated DDIM-1024 with the same seed (then averaged over seeds), else as the ratio of the means. The ideal speed-up is the NFE ratio 1024 / NFE.\n\n"
    if scopes.isEmpty { return out + "missing: no completed trials in this export.\n" }
    for scope in scopes {
        let trials = data.trials(in: scope).filter(isTableTrial)
        out += "### \(scope.title)\n\n"
        // One record per (trial, stage): the first record of the stage carries its time and NFE.
        func timeCell(_ stage: String) -> Cell {
            Cell(trials.compactMap { t in t.record.evaluations.first { $0.stage == stage }.map { SeedValue(seed: t.seed, value: $0.secondsPerImage, trial: t.ref, record: $0) } })
        }
        let ddim = timeCell("eval-ddim-1024")
        var stages = Array(Set(trials.flatMap { $0.record.evaluations.map(\.stage) })).sorted()
        func key(_ st: String) -> (Int, Int, String) {
            let p = st.split(separator: "-").map(String.init)
            let steps = Int(p.last ?? "") ?? 0, m = p.dropFirst().dropLast().joined(separator: "-")
            let isStudent = steps <= 4 && speedupMethodOrder.contains(m)
            return (isStudent ? (speedupMethodOrder.firstIndex(of: m) ?? 99) : 100, steps, m)
        }
        stages.sort { key($0) < key($1) }
        var rows: [[String]] = []
        for st in stages {
            let c = timeCell(st)
            guard let first = c.records.first else { continue }
            let nfe = Array(Set(c.records.map(\.nfe))).sorted().map(String.init).joined(separator: ", ")
            var speed = "–"
            if st != "eval-ddim-1024", !ddim.isEmpty {
                // Per trial: the trial's own DDIM-1024 time over its time for this row (then one value per seed).
                let paired = Cell(trials.compactMap { t in
                    guard let mine = t.record.evaluations.first(where: { $0.stage == st }),
                          let ref = t.record.evaluations.first(where: { $0.stage == "eval-ddim-1024" }), mine.secondsPerImage > 0 else { return nil }
                    return SeedValue(seed: t.seed, value: ref.secondsPerImage / mine.secondsPerImage, trial: t.ref, record: nil)
                })
                if !paired.isEmpty { speed = paired.text(1).replacingOccurrences(of: " [", with: " × [") }
                else if let a = ddim.mean, let b = c.mean { speed = fixed(a / b, 1) + " × (ratio of means)" }
            }
            let ideal = first.nfe > 0 && ddim.records.first != nil ? fixed(Double(ddim.records.first!.nfe) / Double(first.nfe), 1) + " ×" : "–"
            let name = st == "eval-ddim-1024" ? "DDIM 1024 steps (reference)" : "\(PaperReference.paperName(first.model)) \(first.steps) step\(first.steps == 1 ? "" : "s")"
            rows.append([name, "`\(st)`", nfe, c.text(5).replacingOccurrences(of: " [", with: " s [").replacingOccurrences(of: "missing", with: "–"), speed, ideal])
        }
        out += markdownTable(["Row", "Evaluation", "NFE", "Seconds per image, mean ± 95% CI [n]", "Speed-up vs DDIM-1024", "Ideal (NFE ratio)"], rows,
                             align: ["l", "l", "r", "r", "r", "r"]) + "\n"
        let batch = Array(Set(trials.compactMap { $0.config?.evaluation.batchSize }.map { Int($0) })).sorted().map(String.init).joined(separator: ", ")
        let samples = Array(Set(trials.flatMap { $0.record.evaluations.map(\.samples) })).sorted().map(String.init).joined(separator: ", ")
        out += "- Aggregation: mean ± 95% Student-t CI over seeds (one value per seed, first trial in export order when a seed repeats); the speed-up is averaged over seeds of per-trial ratios.\n"
        out += "- Measured on the machine that ran the trials (CPU), sampling batch \(batch.isEmpty ? "?" : batch), N = \(samples.isEmpty ? "?" : samples) images per evaluation; the time of a shared machine varies, so read ratios, not seconds.\n"
        out += computedOnLine(trials) + "\n"
        if ddim.isEmpty { out += "- missing: eval-ddim-1024 — run \(ddim1024Spec(scope.preset, conditional: scope.conditional)), or add \"ddim:1024\" to evaluation.baselines of a spec, to measure the reference.\n" }
        out += "\n"
    }
    return out
}
