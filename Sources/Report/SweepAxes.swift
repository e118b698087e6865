import Foundation

// What `rdd-report sweep` needs to know about one sweep: which sweep, its axes, its metrics and step
// counts, and the baseline of each axis — resolved and checked before anything is rendered.

/// One axis of a sweep report: a spec axis, or a zip group whose paths move together.
struct ReportAxis: Equatable {
    /// The dotted paths ("distill.tauIS"; several for a zip group).
    var paths: [String]
    /// Where the spec declares it: "grid", "zip[0]", "trials", or "trials" for an export without the spec.
    var source: String
    /// Value keys in spec order: each path's JSON text, joined by ", ".
    var values: [String]

    /// Short name: the paper's symbol for a key it sweeps ("τ_IS"), else the last path component.
    var name: String { paths.map { PaperReference.axisSymbols[$0] ?? String($0.split(separator: ".").last!) }.joined(separator: " & ") }
    var pathText: String { paths.map { "`\($0)`" }.joined(separator: ", ") }

    /// The value key of a trial on this axis (nil when the trial does not set it).
    func key(_ t: TrialView) -> String? {
        let vs = paths.map { t.record.axes[$0] }
        return vs.contains(nil) ? nil : vs.map { $0! }.joined(separator: ", ")
    }

    /// A value key as shown: strings unquoted, numbers compact.
    static func show(_ key: String) -> String {
        key.split(separator: ",", omittingEmptySubsequences: false).map { part -> String in
            let p = part.trimmingCharacters(in: .whitespaces)
            if let d = Double(p) { return compact(d) }
            return p.hasPrefix("\"") && p.hasSuffix("\"") && p.count >= 2 ? String(p.dropFirst().dropLast()) : p
        }.joined(separator: ", ")
    }

    /// The number of a value key (its first path), when it is one: numeric axes are plotted.
    static func number(_ key: String) -> Double? { Double(key.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") }

    var isNumeric: Bool { values.count >= 2 && values.allSatisfy { ReportAxis.number($0) != nil } }
}

/// The sweep named `ref` ("NAME" = its latest revision in the export, or "NAME@REV"); an unknown name is
/// refused with the sweeps the export holds and the closest name.
func resolveSweep(_ export: RunExport, _ ref: String) throws -> SweepRecord {
    if let s = export.sweeps.first(where: { $0.name == ref }) { return s }
    let base = { (n: String) in String(n.split(separator: "@").first ?? "") }
    let revision = { (n: String) in Int(n.split(separator: "@").last ?? "") ?? 0 }
    if !ref.contains("@"), let s = export.sweeps.filter({ base($0.name) == ref }).max(by: { revision($0.name) < revision($1.name) }) { return s }
    let names = export.sweeps.map(\.name)
    let hint = closestName(base(ref), names.map(base)).map { " — did you mean '\($0)'?" } ?? ""
    throw ReportError("rdd-report sweep: no sweep '\(ref)' in this run export/database\(hint); sweeps: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
}

/// The candidate closest to `s` by edit distance, when it is within a third of the longer name (did-you-mean).
func closestName(_ s: String, _ candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var prev = row[0]
            row[0] = i
            for j in 1...b.count {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let scored = Set(candidates).sorted().map { ($0, distance(Array(s.lowercased()), Array($0.lowercased()))) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, max(s.count, best.0.count) / 3) else { return nil }
    return best.0
}

/// The axes of a sweep but the seed: from the spec when the export recorded it (zip groups joined), else
/// from the trials' swept keys (sorted, values in order of first appearance).
func reportAxes(_ sweep: SweepRecord, _ trials: [TrialView]) -> [ReportAxis] {
    if let axes = sweep.axes {
        var out: [ReportAxis] = []
        for a in axes where a.path != "seed" {
            if a.source.hasPrefix("zip"), let i = out.firstIndex(where: { $0.source == a.source }) {
                out[i].paths.append(a.path)
                out[i].values = zip(out[i].values, a.values).map { $0 + ", " + $1 }
            } else { out.append(ReportAxis(paths: [a.path], source: a.source, values: a.values)) }
        }
        return out
    }
    let paths = Array(Set(trials.flatMap(\.sweptKeys))).sorted()
    return paths.map { p in
        var values: [String] = []
        for t in trials { if let v = t.record.axes[p], !values.contains(v) { values.append(v) } }
        return ReportAxis(paths: [p], source: "trials", values: values)
    }
}

/// The baseline value of each axis: `--baseline AXIS=VALUE` for its axis (checked: the axis and the value
/// must exist, else refused listing the valid ones); otherwise `rcfd` (else `pd`) when the axis is the
/// method and has it, else the spec's first value.
func baselines(_ axes: [ReportAxis], option: String?) throws -> [String] {
    var out = axes.map { a -> String in
        if a.paths == ["distill.method"] { for m in ["rcfd", "pd"] where a.values.contains("\"\(m)\"") { return "\"\(m)\"" } }
        return a.values[0]
    }
    guard let option else { return out }
    let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
    let valid = axes.map { "\($0.paths.joined(separator: ",")) (\($0.values.map(ReportAxis.show).joined(separator: " | ")))" }.joined(separator: "; ")
    guard parts.count == 2 else { throw ReportError("rdd-report sweep: --baseline \(option): expected AXIS=VALUE; axes and values: \(valid)") }
    guard let i = axes.firstIndex(where: { a in a.paths.contains(parts[0]) || a.paths.contains { $0.split(separator: ".").last.map(String.init) == parts[0] } || a.name == parts[0] }) else {
        throw ReportError("rdd-report sweep: --baseline \(option): the sweep has no axis '\(parts[0])'; axes and values: \(valid)")
    }
    let wanted = parts[1]
    guard let v = axes[i].values.first(where: { ReportAxis.show($0) == wanted || $0 == wanted || (ReportAxis.number($0) != nil && ReportAxis.number($0) == Double(wanted)) }) else {
        throw ReportError("rdd-report sweep: --baseline \(option): axis \(axes[i].paths.joined(separator: ",")) has no value '\(wanted)'; its values: \(axes[i].values.map(ReportAxis.show).joined(separator: ", "))")
    }
    out[i] = v
    return out
}

/// The evaluation metrics the trials recorded (spreads "_std" left out), FID first, then KID, then the rest.
func recordedMetrics(_ trials: [TrialView]) -> [String] {
    let names = Set(trials.flatMap { $0.record.evaluations.map(\.metric) }).filter { !$0.hasSuffix("_std") }
    func rank(_ m: String) -> Int { m.hasPrefix("fid") ? 0 : (m.hasPrefix("kid") ? 1 : 2) }
    return names.sorted { (rank($0), $0) < (rank($1), $1) }
}

/// The student step counts evaluated: stages "eval-<method>-<K>" of each trial's own method.
func studentSteps(_ trials: [TrialView]) -> [Int] {
    Array(Set(trials.flatMap { t in t.record.evaluations.filter { $0.stage == "eval-\(t.method)-\($0.steps)" }.map(\.steps) })).sorted()
}
