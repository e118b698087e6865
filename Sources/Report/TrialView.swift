import Foundation
import RunModel

/// A trial with its configuration decoded once into the run model's `ExperimentConfig` (nil when an export holds a
/// configuration this code cannot read: reports then show "?" for its fields rather than guess).
public struct TrialView {
    public let record: TrialRecord
    /// Position of the trial in the export (reports keep this order wherever they must choose).
    public let index: Int
    public let config: ExperimentConfig?

    public init(_ record: TrialRecord, index: Int) {
        self.record = record
        self.index = index
        config = try? JSONDecoder().decode(ExperimentConfig.self, from: Data(record.configJSON.utf8))
    }

    /// "sweep/key": how reports name a trial.
    public var ref: String { record.sweep + "/" + record.key }

    /// The number a swept axis took in this trial ("distill.tauIS" → 0.5), from the export's axis values: the
    /// one place reports read a setting by its spec path, because the axes are whatever the user swept.
    public func axisNumber(_ path: String) -> Double? { record.axes[path].flatMap(Double.init) }

    public var preset: String { config?.preset ?? "?" }
    public var dataset: String { config?.dataset ?? "?" }
    public var conditional: Bool { config?.conditional ?? false }
    public var method: String { config?.distill.method.rawValue ?? "?" }
    /// The trial seed: the axis "seed" when swept, else the configuration's.
    public var seed: Int { record.axes["seed"].flatMap { Int($0) } ?? config.map { Int($0.seed) } ?? 0 }
    public var isCompleted: Bool { record.status == .completed }

    /// Swept keys other than the seed, in sorted order.
    public var sweptKeys: [String] { record.axes.keys.filter { $0 != "seed" }.sorted() }

    /// The value of an evaluation metric at a stage ("eval-rdd-1"), if recorded.
    public func metric(_ stage: String, _ name: String) -> EvaluationRecord? {
        record.evaluations.first { $0.stage == stage && $0.metric == name }
    }

    public func stage(_ name: String) -> StageRecord? { record.stages.first { $0.name == name } }
}

/// The part of the export one report looks at: preset, dataset and conditioning.
public struct Scope: Hashable, Comparable {
    public var preset: String
    public var dataset: String
    public var conditional: Bool
    public static func < (a: Scope, b: Scope) -> Bool {
        (a.preset, a.dataset, a.conditional ? 1 : 0) < (b.preset, b.dataset, b.conditional ? 1 : 0)
    }
    public var title: String { "preset \(preset), dataset \(dataset)\(conditional ? ", class-conditional" : "")" }
    public func contains(_ t: TrialView) -> Bool { t.preset == preset && t.dataset == dataset && t.conditional == conditional }
}

/// The export as reports see it: trials in export order with decoded configurations.
public struct ReportData {
    public let export: RunExport
    public let trials: [TrialView]
    /// Restrict to one preset (nil: all).
    public var presetFilter: String?
    /// Restrict to the sweeps named this: "NAME" (any revision) or "NAME@REV", or a comma-separated list of them — one
    /// report over several sweeps, e.g. "v2-table1,v2-ddim1024" (nil: all).
    public var sweepFilter: String?
    /// Restrict to trials with at least one evaluation of this metric, e.g. "fid_inception" (nil: all).
    public var metricFilter: String?

    public init(_ export: RunExport, preset: String? = nil, sweep: String? = nil) {
        self.export = export
        trials = export.trials.enumerated().map { TrialView($0.element, index: $0.offset) }
        presetFilter = preset
        sweepFilter = sweep
    }

    /// Completed trials (within the preset and sweep filters).
    public var completed: [TrialView] { trials.filter { $0.isCompleted && passesFilters($0) } }

    /// Trials not completed (queued, running, stale, failed), within the filters.
    public var notCompleted: [TrialView] { trials.filter { !$0.isCompleted && passesFilters($0) } }

    /// The preset filter, and the sweep filter: each of its comma-separated entries "NAME@REV" exactly, "NAME" any revision.
    func passesFilters(_ t: TrialView) -> Bool {
        if let p = presetFilter, t.preset != p { return false }
        if let m = metricFilter, !t.record.evaluations.contains(where: { $0.metric == m }) { return false }
        guard let f = sweepFilter else { return true }
        let name = t.record.sweep.split(separator: "@").first.map(String.init)
        return f.split(separator: ",").contains { entry in
            let e = entry.trimmingCharacters(in: .whitespaces)
            return e.contains("@") ? t.record.sweep == e : name == e
        }
    }

    /// Scopes present among completed trials, sorted.
    public func scopes(conditional: Bool? = nil) -> [Scope] {
        Array(Set(completed.filter { conditional == nil || $0.conditional == conditional }
            .map { Scope(preset: $0.preset, dataset: $0.dataset, conditional: $0.conditional) })).sorted()
    }

    public func trials(in s: Scope) -> [TrialView] { completed.filter { s.contains($0) } }

    /// Trials of a scope that have not completed (queued, running, stale, failed), within the filters.
    public func unfinished(in s: Scope) -> [TrialView] { notCompleted.filter(s.contains) }

    public func sweep(named n: String) -> SweepRecord? { export.sweeps.first { $0.name == n } }
}

/// Trials that feed the tables: nothing swept but the method and the seed (sweeps of other keys feed the figures).
public func isTableTrial(_ t: TrialView) -> Bool {
    t.sweptKeys.allSatisfy { $0 == "distill.method" }
}
