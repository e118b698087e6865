import Foundation

// `rdd-report compare A B`: two sweeps, or two trials, side by side — the configuration keys that differ,
// every metric both recorded with its CI, and the difference B − A (paired over the seeds both have),
// under the reports' statistics rules (docs/reports.md).

/// One side of a comparison: a sweep's completed trials, or one trial ("NAME/INDEX", INDEX counted from 0
/// in the sweep's trial order).
struct CompareSide {
    var label: String
    var trials: [TrialView]
    var isTrial: Bool
}

func compareSide(_ data: ReportData, _ ref: String) throws -> CompareSide {
    if let slash = ref.lastIndex(of: "/") {
        let sweep = try resolveSweep(data.export, String(ref[..<slash]))
        let all = data.trials.filter { $0.record.sweep == sweep.name }
        let idx = String(ref[ref.index(after: slash)...])
        guard let i = Int(idx), all.indices.contains(i) else {
            throw ReportError("rdd-report compare: \(ref): sweep \(sweep.name) has trials 0…\(max(0, all.count - 1)); '\(idx)' is not one of them")
        }
        return CompareSide(label: "\(sweep.name)/\(i)", trials: [all[i]], isTrial: true)
    }
    let sweep = try resolveSweep(data.export, ref)
    return CompareSide(label: sweep.name, trials: data.trials.filter { $0.record.sweep == sweep.name }, isTrial: false)
}

/// A configuration flattened to dotted keys → JSON text (arrays kept whole): a diff of two documents lists
/// whatever differs, so it walks the recorded JSON rather than reading named settings.
func flattened(_ t: TrialView) -> [String: String] {
    var out: [String: String] = [:]
    func walk(_ v: Any, _ path: String) {
        if let d = v as? [String: Any] { for (k, x) in d { walk(x, path.isEmpty ? k : path + "." + k) } }
        else if let data = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]) {
            out[path] = String(decoding: data, as: UTF8.self)
        }
    }
    walk((try? JSONSerialization.jsonObject(with: Data(t.record.configJSON.utf8))) ?? [String: Any](), "")
    return out
}

/// The keys whose values differ between two sets of trials: each side's distinct values per key.
func configurationDiff(_ a: [TrialView], _ b: [TrialView]) -> [[String]] {
    let fa = a.map(flattened), fb = b.map(flattened)
    let keys = Set(fa.flatMap(\.keys) + fb.flatMap(\.keys)).sorted()
    func values(_ fs: [[String: String]], _ k: String) -> [String] {
        var vs: [String] = []
        for f in fs { let v = f[k] ?? "–"; if !vs.contains(v) { vs.append(v) } }
        return vs
    }
    return keys.compactMap { k in
        let va = values(fa, k), vb = values(fb, k)
        return va == vb && va.count == 1 ? nil : [k, va.joined(separator: " | "), vb.joined(separator: " | ")]
    }
}

/// The report of `rdd-report compare A B`.
public func compareReport(_ data: ReportData, _ refA: String, _ refB: String) throws -> String {
    let a = try compareSide(data, refA), b = try compareSide(data, refB)
    var out = "## Compare `\(a.label)` and `\(b.label)`\n\n"
    let da = a.trials.filter(\.isCompleted), db = b.trials.filter(\.isCompleted)
    out += "A = `\(a.label)`: \(a.trials.count) trial\(a.trials.count == 1 ? "" : "s"), \(da.count) completed; B = `\(b.label)`: \(b.trials.count) trial\(b.trials.count == 1 ? "" : "s"), \(db.count) completed.\n\n"
    let diff = configurationDiff(a.trials, b.trials).filter { a.isTrial || $0[0] != "seed" }
    out += "**Configuration keys that differ** (every distinct value of each side)\n\n"
    out += diff.isEmpty ? "None.\n\n" : markdownTable(["key", "A", "B"], diff) + "\n"
    let metrics = recordedMetrics(da).filter { recordedMetrics(db).contains($0) }
    let steps = studentSteps(da).filter { studentSteps(db).contains($0) }
    guard !metrics.isEmpty, !steps.isEmpty else {
        return out + "No metric at a student step count that both recorded: nothing to compare (A: \(recordedMetrics(da).joined(separator: ", ")) at \(studentSteps(da).map(String.init).joined(separator: ", ")) steps; B: \(recordedMetrics(db).joined(separator: ", ")) at \(studentSteps(db).map(String.init).joined(separator: ", ")) steps).\n"
    }
    var rows: [[String]] = []
    var verdicts: [Verdict] = []
    var records: [EvaluationRecord] = []
    for k in steps { for m in metrics {
        let ca = sweepCell(da, metric: m, steps: k), cb = sweepCell(db, metric: m, steps: k)
        records += ca.records + cb.records
        let d = Difference(cb, ca)
        rows.append(["`\(m)`", "\(k)", ca.text(decimals(m)), cb.text(decimals(m)), d.map { $0.text(decimals(m)) + " (\($0.kind.rawValue))" } ?? "–"])
        verdicts.append(Verdict(claim: "`\(m)` at \(k) step\(k == 1 ? "" : "s"): B vs A", a: cb, b: ca, unit: unitName(m), decimals: decimals(m),
                                missingA: "B", missingB: "A", neutral: true))
    } }
    out += "**Metrics** (mean ± 95% CI over seeds [n]; a sweep's value per seed is the mean over its other axes)\n\n"
    out += markdownTable(["metric", "steps", "A", "B", "B − A (95% CI)"], rows, align: ["l", "r", "r", "r", "r"]) + "\n"
    out += LabelSummary(records: records, trials: da + db).lines(metric: metrics.first(where: { $0.hasPrefix("fid") }) ?? metrics[0], scoreMetric: nil).joined(separator: "\n") + "\n\n"
    let (judged, size) = judgedAsFamily(verdicts)
    out += "**Differences B − A** (paired over the seeds both cells have (at least two), Welch otherwise; \"differs\" when the Holm-adjusted p over these \(size) comparisons is < 0.05; docs/reports.md):\n\n"
    return out + judged.map { "- \($0.line)\n" }.joined()
}
