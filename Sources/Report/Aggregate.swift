import Foundation
import Metrics

/// One measured value of one seed, with the trial it came from.
public struct SeedValue: Equatable {
    public var seed: Int
    public var value: Double
    public var trial: String
    public var record: EvaluationRecord?
    /// The other distance metrics (FID/KID) the same evaluation recorded, by name: the companions a verdict
    /// checks for agreement (docs/reports.md, "metrics disagree").
    public var companions: [String: Double] = [:]

    /// Joins the refs of the trials a marginal value averages. Not "+": method names contain it
    /// ("cfd+is_p2p"), and a trial ref holds its compact axes JSON, which has no spaces.
    static let trialSeparator = " + "
}

/// Lower-is-better distance metrics that a verdict compares side by side ("fid_classifier", "kid_classifier",
/// "fid_inception", …; not their "_std" spreads).
func isDistanceMetric(_ name: String) -> Bool {
    (name.hasPrefix("fid") || name.hasPrefix("kid")) && !name.hasSuffix("_std")
}

/// The seed value of `record` in trial `t`, with the other distance metrics of the same stage as companions.
func seedValue(_ t: TrialView, _ record: EvaluationRecord) -> SeedValue {
    var c: [String: Double] = [:]
    for e in t.record.evaluations where e.stage == record.stage && e.metric != record.metric && isDistanceMetric(e.metric) { c[e.metric] = e.value }
    return SeedValue(seed: t.seed, value: record.value, trial: t.ref, record: record, companions: c)
}

/// The values behind one table cell or plotted point: one per seed.
///
/// Aggregation rule (docs/reports.md): one value per seed; when several trials give the same seed, the
/// first in export order (sweep, then trial key) is kept and the others are counted as duplicates.
/// A non-finite value (a diverged run) is not averaged: it is counted. Neither is dropped silently: the
/// cell's text shows both counts beside n.
/// The cell shows mean ± the half-width of the Student-t 95% CI (`Metrics.summarize`), and n.
public struct Cell {
    public var values: [SeedValue]
    public var duplicates: Int
    public var nonFinite: Int

    public init(_ raw: [SeedValue]) {
        var seen = Set<Int>()
        var kept: [SeedValue] = []
        for v in raw where v.value.isFinite {
            if seen.insert(v.seed).inserted { kept.append(v) }
        }
        values = kept.sorted { $0.seed < $1.seed }
        nonFinite = raw.filter { !$0.value.isFinite }.count
        duplicates = raw.count - nonFinite - kept.count
    }

    /// The metric of the cell's evaluation records (nil for values that are not evaluations, e.g. memory).
    public var metric: String? { values.first?.record?.metric }
    /// The companion metrics every value of the cell has.
    public var companionMetrics: [String] {
        guard let first = values.first else { return [] }
        return first.companions.keys.filter { m in values.allSatisfy { $0.companions[m] != nil } }.sorted()
    }
    /// The cell of a companion metric: the same seeds and trials, the other metric's values.
    public func companion(_ metric: String) -> Cell {
        Cell(values.compactMap { v in v.companions[metric].map { SeedValue(seed: v.seed, value: $0, trial: v.trial, record: nil) } })
    }

    /// "; 1 duplicate seed not used, 1 non-finite value excluded" after n when any, else "".
    var droppedText: String {
        var parts: [String] = []
        if duplicates > 0 { parts.append("\(duplicates) duplicate seed\(duplicates == 1 ? "" : "s") not used") }
        if nonFinite > 0 { parts.append("\(nonFinite) non-finite value\(nonFinite == 1 ? "" : "s") excluded") }
        return parts.isEmpty ? "" : "; " + parts.joined(separator: ", ")
    }

    public var isEmpty: Bool { values.isEmpty }
    public var n: Int { values.count }
    public var seeds: [Int] { values.map(\.seed) }
    public var summary: SeedSummary? { values.isEmpty ? nil : try? summarize(values.map(\.value)) }
    public var mean: Double? { summary?.mean }
    public var records: [EvaluationRecord] { values.compactMap(\.record) }

    /// "12.34 ± 0.56 [n=3]", "12.34 [n=1]" or "missing"; with "; 1 duplicate seed not used" etc. inside the
    /// brackets when values were set aside.
    public func text(_ decimals: Int) -> String {
        guard let s = summary else { return nonFinite > 0 ? "missing [\(droppedText.dropFirst(2))]" : "missing" }
        if let h = s.halfWidth95 { return "\(fixed(s.mean, decimals)) ± \(fixed(h, decimals)) [n=\(s.count)\(droppedText)]" }
        return "\(fixed(s.mean, decimals)) [n=1\(droppedText)]"
    }

    /// "ours (paper)": the cell text followed by the paper's value in parentheses ("–" when it has none).
    public func text(_ decimals: Int, paper: Double?) -> String {
        text(decimals) + " (" + (paper.map { fixed($0, 2) } ?? "–") + ")"
    }

    /// The per-seed values, "s0: 1.23, s1: 1.45".
    public func perSeed(_ decimals: Int) -> String {
        values.map { "s\($0.seed): \(fixed($0.value, decimals))" }.joined(separator: ", ")
    }
}

/// The values of `metric` at evaluation stage `stage` over `trials`, one per seed.
public func cell(_ trials: [TrialView], stage: String, metric: String) -> Cell {
    Cell(trials.compactMap { t in
        t.metric(stage, metric).map { seedValue(t, $0) }
    })
}

/// Which FID the reports use in a scope — for their cells, figures and verdicts — in order of preference:
/// 1. `fid_inception` when every evaluation with an FID has an Inception FID (the paper's metric);
/// 2. `fid_evaluator` when every evaluation with an FID has the independent evaluator's (a network no loss has
///    seen, trained apart from the distillation classifier: issue 20 §1, the metric of issue 24's v2 verdicts);
/// 3. else `fid_classifier`, computed on the network whose features the feature-matching losses match (biased
///    toward them; every table says so beside it).
/// The others the evaluations recorded stay as companions (columns, and the verdicts' "metrics disagree").
public func fidMetric(_ trials: [TrialView]) -> String {
    let evals = trials.flatMap(\.record.evaluations)
    func stages(_ metrics: Set<String>) -> Set<String> {
        Set(evals.filter { metrics.contains($0.metric) }.map { "\($0.stage)@\($0.artifactDirectory)" })
    }
    let withFID = stages(["fid_classifier", "fid_inception", "fid_evaluator"])
    for m in ["fid_inception", "fid_evaluator"] {
        let with = stages([m])
        if !with.isEmpty && with == withFID { return m }
    }
    return "fid_classifier"
}

/// Which IS-style score the tables show in the paper's Inception Score column: `score_evaluator` (the formula on the
/// independent evaluator's softmax, which no loss sees) when every evaluation with a score has it, else
/// `classifier_score` (on the distillation classifier's softmax) — the same preference as `fidMetric`.
public func scoreMetric(_ trials: [TrialView]) -> String {
    let evals = trials.flatMap(\.record.evaluations)
    func stages(_ metrics: Set<String>) -> Set<String> {
        Set(evals.filter { metrics.contains($0.metric) }.map { "\($0.stage)@\($0.artifactDirectory)" })
    }
    let with = stages(["score_evaluator"])
    return !with.isEmpty && with == stages(["score_evaluator", "classifier_score"]) ? "score_evaluator" : "classifier_score"
}

/// The table heading of a score metric.
func scoreHeading(_ metric: String) -> String {
    metric == "score_evaluator" ? "IS-style score (independent evaluator)" : "Classifier score"
}

/// What a score metric is, for the lines under a table.
func scoreNote(_ metric: String) -> String {
    metric == "score_evaluator"
        ? "the IS formula on the independent evaluator's softmax, not Inception's; no loss sees this network"
        : "the IS formula on our classifier's softmax, not Inception's"
}

/// What the FID in a report is, and why it is not the paper's number.
public func fidCaveat(_ metric: String, samples: [Int]) -> String {
    let n = samples.isEmpty ? "?" : samples.map(String.init).joined(separator: ", ")
    if metric == "fid_inception" {
        return "FID here is the Inception FID, but on N = \(n) samples per evaluation of our scaled models and data, not the paper's 50,000 CIFAR-10 samples: compare orderings and differences, not numbers."
    }
    if metric == "fid_evaluator" {
        return "FID here is computed on the independent evaluator's features (a small network trained on our data set apart from the distillation classifier; not Inception), on N = \(n) samples per evaluation: it is not comparable in absolute value with the paper's Inception FID on CIFAR-10 / ImageNet 64 — compare orderings and differences, not numbers."
    }
    return "FID here is computed on our classifier's features (not Inception), on N = \(n) samples per evaluation: it is not comparable in absolute value with the paper's Inception FID on CIFAR-10 / ImageNet 64 — compare orderings and differences, not numbers."
}

/// The labels of the records behind a report, summarised: sample counts, feature networks, references.
public struct LabelSummary {
    public var samples: [Int] = []
    public var featureNetworks: [String] = []
    public var references: [String] = []
    public var datasets: [String] = []
    public var presets: [String] = []
    /// Which code and machine computed the trials' stages (`computedOnLine`).
    public var computedOn = ""
    /// Which stages the intervals resample (`varianceSourcesLine`).
    public var varianceSources = ""

    public init(records: [EvaluationRecord], trials: [TrialView]) {
        samples = Array(Set(records.map(\.samples))).sorted()
        featureNetworks = Array(Set(records.filter { $0.metric.hasPrefix("fid") || $0.metric.hasPrefix("kid") }.map(\.featureNetwork))).sorted()
        references = Array(Set(records.filter { $0.reference != "none" }.map(\.reference))).sorted()
        datasets = Array(Set(trials.map(\.dataset))).sorted()
        presets = Array(Set(trials.map(\.preset))).sorted()
        computedOn = computedOnLine(trials)
        // The trials behind the records (a table's trials include rows it did not show).
        let shown = Set(records.map { $0.stage + "@" + $0.artifactDirectory })
        let behind = records.isEmpty ? trials : trials.filter { t in t.record.evaluations.contains { shown.contains($0.stage + "@" + $0.artifactDirectory) } }
        varianceSources = varianceSourcesLine(behind)
    }

    /// The lines stated under a table.
    public func lines(metric: String, scoreMetric: String? = "classifier_score") -> [String] {
        var out = [
            "- Aggregation: mean ± half-width of the 95% Student-t confidence interval over seeds (one value per seed, first trial in export order when a seed repeats; repeated seeds and non-finite values are counted inside the brackets, never dropped silently); n = number of seeds in brackets; n = 1 has no interval.",
            varianceSources,
            "- N (samples per evaluation): \(samples.isEmpty ? "–" : samples.map(String.init).joined(separator: ", ")); FID metric: `\(metric)`\(scoreMetric.map { "; score metric: `\($0)` (\(scoreNote($0)))" } ?? "").",
            "- Feature network: \(featureNetworks.isEmpty ? "–" : featureNetworks.joined(separator: "; ")).",
            "- Reference: \(references.isEmpty ? "–" : references.joined(separator: "; ")).",
            "- Dataset: \(datasets.joined(separator: ", ")); preset: \(presets.joined(separator: ", ")).",
        ]
        out.append(computedOn)
        out.append("- " + fidCaveat(metric, samples: samples))
        return out
    }
}
