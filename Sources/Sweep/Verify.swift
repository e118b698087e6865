import Foundation
import Report

/// `rdd-sweep verify SPEC --against EXPORT`: a committed export's metrics against a rerun of the same
/// spec, cell by cell (docs/sweeps.md, "Verifying a committed result").
///
/// A cell is one evaluation metric of one trial: (trial key, evaluation stage, metric), e.g.
/// ({"distill.method":"rdd","seed":0}, eval-rdd-1, fid_classifier). Trial keys are the canonical JSON of
/// the swept values, so the same spec gives the same keys under any root. "Identical" means the same
/// Double, bit for bit (both sides parse their JSON numbers exactly); anything else is reported with
/// the difference rerun − committed and its size relative to the committed value.
public struct Verification {
    public struct CellResult: Equatable {
        public var trial: String
        public var stage: String
        public var metric: String
        public var committed: Double?
        public var rerun: Double?

        public var identical: Bool { committed != nil && committed == rerun }
    }

    /// The sweep name (without revision) compared.
    public var sweep: String
    public var cells: [CellResult]
    /// The sweep records of both sides, with the spec hash each was expanded from.
    public var committedSweep: Report.SweepRecord
    public var rerunSweep: Report.SweepRecord
    /// The "Computed on" lines of both sides' stages.
    public var committedProvenance: String
    public var rerunProvenance: String
    /// Thread counts of the stages of each side (from provenance, else the stage's recorded threads).
    public var committedThreads: [Int]
    public var rerunThreads: [Int]

    public var identicalCount: Int { cells.filter(\.identical).count }
    public var allIdentical: Bool { !cells.isEmpty && identicalCount == cells.count }

    /// The trials of sweep `name` (its latest revision in `export`) as report views, and that revision's record.
    static func sweepTrials(_ export: RunExport, name: String) -> (Report.SweepRecord, [TrialView])? {
        func base(_ label: String) -> String { String(label.split(separator: "@").first ?? "") }
        func revision(_ label: String) -> Int { label.split(separator: "@").dropFirst().first.flatMap { Int($0) } ?? 0 }
        guard let record = export.sweeps.filter({ base($0.name) == name }).max(by: { revision($0.name) < revision($1.name) }) else { return nil }
        let trials = export.trials.enumerated().filter { $0.element.sweep == record.name }.map { TrialView($0.element, index: $0.offset) }
        return (record, trials)
    }

    /// The sweeps an export holds, by name without revision (for an error naming what is there).
    public static func sweepNames(_ export: RunExport) -> [String] {
        Array(Set(export.sweeps.map { String($0.name.split(separator: "@").first ?? "") })).sorted()
    }

    /// Compares sweep `name` in `committed` with the same sweep in `rerun`; nil when either lacks it.
    public init?(sweep name: String, committed: RunExport, rerun: RunExport) {
        guard let (cs, ct) = Self.sweepTrials(committed, name: name), let (rs, rt) = Self.sweepTrials(rerun, name: name) else { return nil }
        sweep = name
        committedSweep = cs
        rerunSweep = rs
        committedProvenance = String(computedOnLine(ct).dropFirst(2))
        rerunProvenance = String(computedOnLine(rt).dropFirst(2))
        func threads(_ ts: [TrialView]) -> [Int] {
            Array(Set(ts.flatMap { $0.record.stages.compactMap { $0.provenance?.threads ?? $0.threads } })).sorted()
        }
        committedThreads = threads(ct)
        rerunThreads = threads(rt)
        // Cells in the committed export's order (trial, then its evaluations), then any the rerun adds.
        func values(_ ts: [TrialView]) -> [(key: String, value: Double)] {
            ts.flatMap { t in t.record.evaluations.map { (key: [t.record.key, $0.stage, $0.metric].joined(separator: "\u{1F}"), value: $0.value) } }
        }
        let c = values(ct), r = values(rt)
        let committedByKey = Dictionary(c.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let rerunByKey = Dictionary(r.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        cells = (c + r).map(\.key).filter { seen.insert($0).inserted }.map { key in
            let parts = key.components(separatedBy: "\u{1F}")
            return CellResult(trial: parts[0], stage: parts[1], metric: parts[2], committed: committedByKey[key], rerun: rerunByKey[key])
        }
    }

    /// What `verify` prints: both sides' provenance, then one line per cell, then the tally.
    public func text(committedPath: String, rerun: String) -> String {
        var out = "verify \(sweep): committed \(committedSweep.name) in \(committedPath) against \(rerunSweep.name) \(rerun)\n"
        out += "  committed: \(committedProvenance)\n"
        out += "  rerun:     \(rerunProvenance)\n"
        if committedSweep.specHash != rerunSweep.specHash {
            out += "  note: the spec's trials differ from the committed sweep's (spec hash \(rerunSweep.specHash.prefix(12)) vs \(committedSweep.specHash.prefix(12))): cells may not correspond\n"
        }
        if !committedThreads.isEmpty, !rerunThreads.isEmpty, committedThreads != rerunThreads {
            out += "  note: threads per stage differ (committed \(committedThreads.map(String.init).joined(separator: ", ")), rerun \(rerunThreads.map(String.init).joined(separator: ", "))): reductions round differently, so differences are expected; rerun under a fresh --root with --threads \(committedThreads.map(String.init).joined(separator: ","))\n"
        }
        for c in cells {
            out += "  \(c.trial) \(c.stage) \(c.metric): " + Self.verdict(c) + "\n"
        }
        let differ = cells.filter { $0.committed != nil && $0.rerun != nil && !$0.identical }.count
        let onlyCommitted = cells.filter { $0.committed != nil && $0.rerun == nil }.count
        let onlyRerun = cells.filter { $0.committed == nil }.count
        out += "\(cells.count) cells: \(identicalCount) identical, \(differ) differ, \(onlyCommitted) missing in the rerun, \(onlyRerun) not in the committed export\n"
        return out
    }

    static func verdict(_ c: CellResult) -> String {
        guard let a = c.committed else { return "not in the committed export (rerun \(exact(c.rerun!)))" }
        guard let b = c.rerun else { return "missing in the rerun (committed \(exact(a)); its trial did not complete)" }
        if c.identical { return "identical (\(exact(a)))" }
        let d = b - a
        let rel = a != 0 ? String(format: " (%+.3g%%)", 100 * d / abs(a)) : ""
        return "differs by \(String(format: "%+.6g", d))\(rel): committed \(exact(a)), rerun \(exact(b))"
    }

    /// The shortest text that parses back to the same Double.
    static func exact(_ x: Double) -> String { "\(x)" }
}
