import Foundation

/// Which stages of the pipeline a report's intervals resample: a stage whose identity differs between the
/// seeds of one configuration is rerun per seed (its noise is in the CI); one whose identity is the same
/// for every seed is shared (its noise is not). Read from the export's stage identities, so it states what
/// ran, not what a spec meant (issue 20: today all seeds share one classifier, teacher and PD chain).
func varianceSourcesLine(_ trials: [TrialView]) -> String {
    // Trials of one configuration: the same sweep and swept values but the seed.
    var groups: [String: [TrialView]] = [:]
    for t in trials {
        let key = t.record.sweep + "|" + t.sweptKeys.map { "\($0)=\(t.record.axes[$0]!)" }.joined(separator: ",")
        groups[key, default: []].append(t)
    }
    var perSeed = Set<String>(), shared = Set<String>()
    for key in groups.keys.sorted() {
        let ts = groups[key]!
        let seeds = Set(ts.map(\.seed))
        guard seeds.count >= 2 else { continue }
        var identities: [String: (kind: String, ids: Set<String>)] = [:]
        for t in ts { for s in t.record.stages {
            identities[s.name, default: (s.kind.rawValue, [])].ids.insert(s.identity)
        } }
        for (_, v) in identities { if v.ids.count == 1 { shared.insert(v.kind) } else { perSeed.insert(v.kind) } }
    }
    guard !perSeed.isEmpty || !shared.isEmpty else {
        return "- Sources of variance: no configuration here has two seeds, so there is no interval over seeds."
    }
    func names(_ kinds: Set<String>) -> String {
        let order = ["classifier", "evaluator", "teacher", "pd", "distill", "eval"]
        return kinds.sorted { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
            .map(stageKindName).joined(separator: ", ")
    }
    let mixed = perSeed.intersection(shared)
    var line = "- Sources of variance: the 95% CIs resample "
    line += perSeed.subtracting(mixed).isEmpty ? "nothing per seed" : names(perSeed.subtracting(mixed)) + " (rerun for each seed)"
    if !shared.subtracting(mixed).isEmpty {
        line += "; \(names(shared.subtracting(mixed))) \(shared.subtracting(mixed).count == 1 ? "is" : "are") shared by every seed (one run each), so the intervals do not include \(shared.subtracting(mixed).count == 1 ? "its" : "their") training noise"
    }
    if !mixed.isEmpty { line += "; \(names(mixed)): per seed in some configurations, shared in others" }
    return line + "."
}

/// How a stage kind is named in the variance line.
func stageKindName(_ kind: String) -> String {
    switch kind {
    case "classifier": return "the classifier"
    case "evaluator": return "the evaluator network"
    case "teacher": return "the teacher"
    case "pd": return "the PD chain"
    case "distill": return "the distillation"
    case "eval": return "the evaluation's samples"
    default: return "the \(kind) stages"
    }
}
