import Foundation
import RunModel

// `rdd-report plateau` (issue 24 §2): how many distillation steps per stage are enough? A pilot sweep with learning
// curves (`evaluation.every`, evaluated against the validation set) trains longer than needed; this report reads its
// export and names the fewest steps S at which every stage of every configuration has stopped improving, by a rule
// fixed before the pilot ran (scripts/experiments/make_v2_specs.py). The main runs then train S steps per stage.

/// `rdd-report plateau`'s options.
public struct PlateauOptions: Equatable {
    /// Only this sweep's trials ("NAME" any revision, "NAME@REV"); nil: every trial with learning curves.
    public var sweep: String?
    /// The largest relative fall that still counts as a plateau, for the loss and for the FID (5%).
    public var threshold = 0.05
    public init(sweep: String? = nil, threshold: Double = 0.05) { self.sweep = sweep; self.threshold = threshold }
}

/// The plateau rule at a candidate step count S, for one distillation stage of one trial:
/// (a) the stage's loss `total`, restricted to steps ≤ S, reads "converged" by `ConvergenceRule` (least-squares
///     fall over the last quarter of [first logged step, S] at most `threshold` of that quarter's mean), and
/// (b) the student's FID at the snapshots in [S/2, S] — at least three of them — has a least-squares fall of at
///     most `threshold` of their mean (a fitted line, as (a), because one snapshot's FID at a cheap N is noisy).
/// Undetermined readings (too few points) do not qualify: S must be shown to be enough, not merely not refuted.
struct PlateauRule {
    var threshold: Double
    static let minimumSnapshots = 3

    struct Reading: Equatable {
        /// The loss's fall over the last quarter of [0, S] (nil: undetermined) and the FID's over [S/2, S].
        var lossFall: Double?, fidFall: Double?
        var threshold: Double
        var qualifies: Bool {
            guard let l = lossFall, let f = fidFall else { return false }
            return l <= threshold && f <= threshold
        }
    }

    func reading(loss: [SeriesPoint], fid: [SeriesPoint], at s: Int) -> Reading {
        let lossFall: Double?
        switch ConvergenceRule(threshold: threshold).assess(loss.filter { $0.step <= s }) {
        case .converged(let f), .notConverged(let f): lossFall = f
        case .undetermined: lossFall = nil
        }
        let window = fid.filter { 2 * $0.step >= s && $0.step <= s }
        return Reading(lossFall: lossFall, fidFall: relativeFall(window, minimumPoints: Self.minimumSnapshots), threshold: threshold)
    }
}

/// One distillation stage of one trial with its learning curve.
struct PlateauStage {
    var configuration: String, stage: String, seed: Int
    var loss: [SeriesPoint], fid: [SeriesPoint], fidName: String
}

/// The stages of the completed trials (within `options.sweep`) that have both a logged loss and a learning curve.
func plateauStages(_ data: ReportData) -> [PlateauStage] {
    var out: [PlateauStage] = []
    for t in data.completed {
        let axes = t.record.axes.filter { $0.key != "seed" }.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }
        let configuration = t.record.sweep + (axes.isEmpty ? "" : ": " + axes.joined(separator: ", "))
        for d in distillStagesInTrainingOrder(t.record.stages) {
            guard let loss = d.series[SeriesName.total], case .distill(let method, let steps)? = StageName(d.name),
                  let curve = t.stage(StageName.curve(method: method, steps: steps).description) else { continue }
            guard let name = [EvaluationMetric.fidEvaluator, .fidClassifier].map(\.rawValue).first(where: { curve.series[$0] != nil }) else { continue }
            out.append(PlateauStage(configuration: configuration, stage: d.name, seed: t.seed, loss: loss, fid: curve.series[name]!, fidName: name))
        }
    }
    return out
}

/// The report: the rule, per candidate S whether each stage qualifies (with its two falls), and the chosen S —
/// the smallest candidate at which every stage qualifies — or, when none does, the stages that never plateaued.
func plateauReport(_ data: ReportData, options: PlateauOptions) throws -> String {
    guard options.threshold > 0 && options.threshold < 1 else {
        throw ReportError("rdd-report plateau: --threshold \(options.threshold): must be a fraction in (0, 1), e.g. 0.05 for 5%")
    }
    var data = data
    data.sweepFilter = options.sweep
    let stages = plateauStages(data)
    guard !stages.isEmpty else {
        throw ReportError("rdd-report plateau: no completed trial\(options.sweep.map { " of sweep \($0)" } ?? "") has a distillation stage with a learning curve (set evaluation.every in the spec; docs/sweeps.md)")
    }
    let rule = PlateauRule(threshold: options.threshold)
    // Candidates: the snapshot steps every curve has, from the third positive snapshot on (so [S/2, S] can hold three).
    let common = stages.dropFirst().reduce(Set(stages[0].fid.map(\.step))) { $0.intersection($1.fid.map(\.step)) }
    let positive = common.filter { $0 > 0 }.sorted()
    let candidates = positive.filter { s in positive.filter { 2 * $0 >= s && $0 <= s }.count >= PlateauRule.minimumSnapshots }
    let pct = fixed(100 * options.threshold, 0) + "%"
    var out = "## Plateau: the fewest distillation steps per stage at which every stage has stopped improving\n\n"
    out += "Rule (fixed before the pilot ran; scripts/experiments/make_v2_specs.py): a stage qualifies at S when (a) its loss `total` on steps ≤ S "
    out += "falls by at most \(pct) over the last quarter (least-squares line relative to the quarter's mean; docs/reports.md, \"Convergence rule\") "
    out += "and (b) its student's FID at the snapshots in [S/2, S] (at least \(PlateauRule.minimumSnapshots)) falls by at most \(pct) of their mean "
    out += "(least-squares line). S is the smallest candidate at which every stage qualifies. Cells: loss fall / FID fall in %, ✓ when both are within \(pct); "
    out += "\"–\" too few points to tell (does not qualify).\n\n"
    let fidNames = Set(stages.map(\.fidName)).sorted()
    out += "Read: \(stages.count) stages of \(Set(stages.map { $0.configuration + "#\($0.seed)" }).count) completed trials; FID series: \(fidNames.joined(separator: ", ")); "
    out += "snapshot steps \(common.sorted().map(String.init).joined(separator: ", ")).\n\n"
    guard !candidates.isEmpty else {
        return out + "No candidate: the curves share fewer than \(PlateauRule.minimumSnapshots) snapshots in any [S/2, S]; nothing can be chosen.\n"
    }
    func pc(_ v: Double?) -> String { v.map { fixed(100 * $0, 1) } ?? "–" }
    out += "| configuration | stage | seed | " + candidates.map { "S = \($0)" }.joined(separator: " | ") + " |\n"
    out += "|---|---|---:|" + String(repeating: "---|", count: candidates.count) + "\n"
    var failing: [Int: Int] = [:]
    for st in stages {
        let cells = candidates.map { s -> String in
            let r = rule.reading(loss: st.loss, fid: st.fid, at: s)
            if !r.qualifies { failing[s, default: 0] += 1 }
            return "\(pc(r.lossFall)) / \(pc(r.fidFall))" + (r.qualifies ? " ✓" : "")
        }
        out += "| \(st.configuration) | \(st.stage) | \(st.seed) | " + cells.joined(separator: " | ") + " |\n"
    }
    out += "| **stages not qualifying** | | | " + candidates.map { "\(failing[$0] ?? 0)" }.joined(separator: " | ") + " |\n\n"
    if let chosen = candidates.first(where: { (failing[$0] ?? 0) == 0 }) {
        out += "**S = \(chosen)**: the smallest candidate at which all \(stages.count) stages qualify.\n"
    } else {
        let best = candidates.min { (failing[$0] ?? 0, -$0) < (failing[$1] ?? 0, -$1) }!
        out += "**No candidate qualifies for every stage**: the rule then trains the largest, S = \(candidates.last!), and reports flag "
        out += "the stages that did not plateau (fewest failing: \(failing[best] ?? 0) of \(stages.count) at S = \(best)).\n"
    }
    return out
}
