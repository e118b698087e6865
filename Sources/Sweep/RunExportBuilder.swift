import Foundation
import GRDB
import Report
import RunModel

extension Reports {
    /// The `RunExport` of the database file at `path` (`rdd-report --db PATH`): the same value
    /// `rdd-sweep export --format report --root <directory of PATH>` writes, built in memory.
    public static func runExport(databasePath path: String, sweep: String? = nil) throws -> RunExport {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ReportError("no run database at '\(path)' (rdd-sweep run writes <root>/runs.sqlite)")
        }
        return try Reports(databasePath: path).runExport(sweep: sweep)
    }

    /// The run database as a `RunExport` (what `rdd-report` reads): every sweep's latest revision (or
    /// the one named), its trials with resolved configurations and axis values, each trial's labelled
    /// evaluations, and its stages with time, peak memory and — for distillation stages — the logged
    /// series (losses and loss-term diagnostics). Ordered by sweep name, trial index, the trial's plan
    /// (classifier, teacher, PD chain, distillation stages in training order, evaluations) and metric
    /// name, so equal databases give byte-identical exports.
    /// `preset` keeps only the sweeps of that preset (a root holding both tiny and small sweeps).
    public func runExport(sweep ref: String? = nil, preset: String? = nil) throws -> RunExport {
        try openReader().read { db in
            let sweeps = try exportSweeps(db, sweep: ref, preset: preset)
            var trials: [TrialRecord] = []
            try exportTrials(db, sweeps) { trials.append($0.record()) }
            return RunExport(sweeps: Self.exportRecords(sweeps, root: root), trials: trials)
        }
    }

    /// `runExport(sweep:preset:)` encoded (`RunExport.encoded()`'s bytes) and then `trailer`, handed to `sink` in pieces
    /// as the trials are read (`RunExport.stream`): a 10,000-trial export (≈ 180 MB of JSON, ≈ 200 MB as values) is never
    /// held whole, in either form.
    public func streamRunExport(sweep ref: String? = nil, preset: String? = nil, trailer: String = "",
                                into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try openReader().read { db in
            let sweeps = try exportSweeps(db, sweep: ref, preset: preset)
            // The database is read on this thread, each trial's record is assembled and written on the second.
            try RunExport.stream(sweeps: Self.exportRecords(sweeps, root: root), trailer: trailer, into: sink, parts: { emit in
                try exportTrials(db, sweeps, emit)
            }, trial: { $0.record() })
        }
    }

    /// The sweeps an export holds: every sweep's latest revision (or the one named), of `preset` when given.
    func exportSweeps(_ db: Database, sweep ref: String?, preset: String?) throws -> [SweepRecord] {
        var sweeps = try RunLedger.sweeps(db)
        if let ref { sweeps = [try resolveSweep(db, ref)] } else {
            var latest: [String: SweepRecord] = [:]
            for s in sweeps where (latest[s.name]?.revision ?? -1) < s.revision { latest[s.name] = s }
            sweeps = latest.values.sorted { $0.name < $1.name }
        }
        if let preset {
            let all = sweeps
            sweeps = sweeps.filter { $0.preset == preset }
            if sweeps.isEmpty {
                throw ReportError("--preset \(preset): no sweep of that preset in \(dbPath)\(ref.map { " named \($0)" } ?? ""); presets here: \(Set(all.map(\.preset)).sorted().joined(separator: ", "))")
            }
        }
        return sweeps
    }

    /// The export's sweep records (name, spec, its axes).
    /// `root` (absolute) is recorded as `displayedRoot` says (`SweepRecord.root`).
    static func exportRecords(_ sweeps: [SweepRecord], root: String) -> [Report.SweepRecord] {
        let shown = displayedRoot(root, workingDirectory: FileManager.default.currentDirectoryPath)
        return sweeps.map { sw in
            let spec = try? SweepSpec.parse(sw.specJSON, file: sw.specFile)
            return Report.SweepRecord(name: sw.label, specPath: sw.specFile, specHash: sw.specHash, preset: sw.preset,
                                      description: spec?.description, axes: spec.map(Self.axisRecords), root: shown)
        }
    }

    /// An absolute results root as a user would type it: relative to the working directory when it lies below it
    /// ("runs/v2"), else whole.
    static func displayedRoot(_ root: String, workingDirectory: String) -> String {
        let cwd = URL(fileURLWithPath: workingDirectory).standardizedFileURL.path
        return root.hasPrefix(cwd + "/") ? String(root.dropFirst(cwd.count + 1)) : root
    }

    /// What the database says of one trial, read on the reading thread; `record()` assembles its `TrialRecord` (on the
    /// writing thread, when streaming): the copies of shared stage records, the axes' parse and the configuration's
    /// look-up were a fifth of the reading thread's time.
    struct TrialParts {
        var sweep: String, key: String, axesJSON: String, configJSON: String, status: TrialStatus
        /// The trial's links in plan order: its name for the stage, the stage, and the series its record carries.
        var stages: [(name: String, stage: ExportedStage, series: [String: [SeriesPoint]]?)]

        func record() -> TrialRecord {
            var axes: [String: String] = [:]
            for (k, v) in ((try? JSONParser.parse(axesJSON).value)?.objectPairs) ?? [] { axes[k] = v.serialized() }
            var evaluations: [EvaluationRecord] = []
            var records: [StageRecord] = []
            records.reserveCapacity(stages.count)
            for (name, stage, series) in stages {
                var record = stage.record
                record.name = name
                if let series { record.series = series }
                for var e in stage.evaluations { e.stage = name; evaluations.append(e) }
                records.append(record)
            }
            // Written only when not the default (ExperimentConfig.encode): absent = "shared". A configuration whose text
            // has no "replicate" key anywhere has none at the top level either, so it is not parsed.
            let replicate: ReplicateMode = !Reports.mentionsReplicate(configJSON) ? .shared
                : (try? JSONParser.parse(configJSON).value)?["replicate"]?.stringValue.flatMap(ReplicateMode.init(rawValue:)) ?? .shared
            return TrialRecord(sweep: sweep, key: key, axes: axes, configJSON: configJSON, status: status,
                               evaluations: evaluations, stages: records, replicate: replicate)
        }
    }

    /// A stage as every trial linking it exports it: its record (`name` and series set per trial) and its evaluations
    /// (`stage` set per trial). A class: a trial's parts refer to it, and it is never changed once made.
    final class ExportedStage: @unchecked Sendable {
        let record: StageRecord
        let evaluations: [EvaluationRecord]
        init(record: StageRecord, evaluations: [EvaluationRecord]) { self.record = record; self.evaluations = evaluations }
    }

    /// Hands each trial of `sweeps` to `body`, in export order (by sweep, then trial index).
    func exportTrials(_ db: Database, _ sweeps: [SweepRecord], _ body: (TrialParts) throws -> Void) throws {
        // A stage shared by many trials (the classifier, teacher and PD chain of a seed) is read and converted once,
        // not once per trial: its record (all but the trial's name for it), its evaluations and its series.
        var stageOf: [String: ExportedStage?] = [:]
        // Each stage's row and evaluations are read when the first trial linking it comes, and become its record then
        // (its configuration and inputs are not kept): the first trials are written while the later ones' are read.
        func stage(_ identity: String) throws -> ExportedStage? {
            if let known = stageOf[identity] { return known }
            let made = try RunLedger.stage(db, identity: identity).map {
                let (record, evaluations) = try stageRecord($0, evaluations: RunLedger.stageEvaluations(db, stage: identity))
                return ExportedStage(record: record, evaluations: evaluations)
            }
            stageOf[identity] = .some(made)
            return made
        }
        var seriesOf: [String: [String: [SeriesPoint]]] = [:]
        for sw in sweeps {
            let links = try RunLedger.sweepLinks(db, sweep: sw.id)
            // A series is kept for reuse only when another link of the sweep will ask for it again (a shared stage):
            // a trial's own distillation journal is read, exported and dropped.
            var linkCount: [String: Int] = [:]
            for l in links.values { for (_, stage) in l { linkCount[stage, default: 0] += 1 } }
            for t in try RunLedger.trials(db, sweep: sw.id) {
                var parts = TrialParts(sweep: sw.label, key: t.key, axesJSON: t.axesJSON, configJSON: t.configJSON, status: t.status, stages: [])
                for (tname, identity) in links[t.id] ?? [] {
                    guard let known = try stage(identity) else { continue }   // a link without a stage row is not exported
                    var series: [String: [SeriesPoint]]?
                    // Learning curves (`curve-…` evaluations) keep theirs too: their values by training step.
                    if known.record.kind == .distill || StageName(tname).map({ if case .curve = $0 { return true }; return false }) == true {
                        if let s = seriesOf[identity] { series = s } else {
                            let read = try RunLedger.series(db, stage: identity).mapValues { $0.map { SeriesPoint(step: $0.step, value: $0.value) } }
                            if (linkCount[identity] ?? 0) > 1 || sweeps.count > 1 { seriesOf[identity] = read }
                            series = read
                        }
                    }
                    parts.stages.append((tname, known, series))
                }
                try body(parts)
            }
        }
    }

    /// Whether the JSON text has `"replicate"` anywhere (a byte search: Foundation's `String.contains` was 8% of the
    /// export's instructions).
    static func mentionsReplicate(_ json: String) -> Bool {
        var text = json
        let key: StaticString = "\"replicate\""
        return text.withUTF8 { t in
            key.withUTF8Buffer { k in
                guard t.count >= k.count else { return false }
                for i in 0...(t.count - k.count) where t[i] == k[0] {
                    if (1..<k.count).allSatisfy({ t[i + $0] == k[$0] }) { return true }
                }
                return false
            }
        }
    }

    /// Stage `identity`'s record as every trial linking it exports it (its `name` and the evaluations' `stage`, the
    /// trial's name for it, set by the caller; `series` empty: the caller reads it where the trial's name asks for
    /// it), with its evaluations.
    private func stageRecord(_ s: RunLedger.StoredStage, evaluations stored: [RunLedger.StoredEvaluation]) throws -> (record: StageRecord, evaluations: [EvaluationRecord]) {
        let identity = s.identity
        // A stage's artifacts are `<root>/stages/<identity>` (Scheduler); export that relative form even when the
        // database recorded another prefix (a moved or copied root), so the reports resolve it under --results-root
        // wherever the root now is.
        var dir = s.artifactDir
        let own = "stages/" + identity
        if dir.hasSuffix("/" + own) { dir = own } else if dir.hasPrefix(root + "/") { dir = String(dir.dropFirst(root.count + 1)) }
        let evaluations = stored.map { e in
            EvaluationRecord(stage: "", model: e.modelLabel, metric: e.metric, value: e.value,
                             label: e.label, featureNetwork: e.featureNetwork, samples: e.samples,
                             reference: e.reference, sampler: e.sampler, steps: e.steps, nfe: e.nfe,
                             secondsPerImage: e.secondsPerImage ?? 0, artifactDirectory: dir)
        }
        guard let kind = StageKind(rawValue: s.kind) else {
            throw ReportError("\(dbPath): stage \(identity.prefix(12)) has kind '\(s.kind)', which this version does not know (known: \(StageKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let record = StageRecord(name: "", kind: kind, identity: identity, status: s.status,
                                 seconds: s.seconds ?? 0, peakMemoryBytes: (s.peakKiB ?? 0) * 1024,
                                 series: [:], codeVersion: s.codeVersion, threads: s.threads,
                                 startedAt: exportTimestamp(s.started), finishedAt: exportTimestamp(s.finished),
                                 provenance: try s.provenanceJSON.map { try JSONDecoder().decode(Provenance.self, from: Data($0.utf8)) })
        return (record, evaluations)
    }

    /// A spec's axes in spec order (trials, grid, zip groups, seeds), values as JSON text.
    static func axisRecords(_ spec: SweepSpec) -> [SweepAxisRecord] {
        var out: [SweepAxisRecord] = []
        for t in spec.trials { for (p, v) in t {
            if let i = out.firstIndex(where: { $0.path == p }) { if !out[i].values.contains(v.serialized()) { out[i].values.append(v.serialized()) } }
            else { out.append(SweepAxisRecord(path: p, source: "trials", values: [v.serialized()])) }
        } }
        for (p, vs) in spec.grid { out.append(SweepAxisRecord(path: p, source: "grid", values: vs.map { $0.serialized() })) }
        for (i, g) in spec.zip.enumerated() { for (p, vs) in g { out.append(SweepAxisRecord(path: p, source: "zip[\(i)]", values: vs.map { $0.serialized() })) } }
        if let seeds = spec.seeds { out.append(SweepAxisRecord(path: "seed", source: "seeds", values: seeds.map { $0.serialized() })) }
        return out
    }
}

/// A database time (Unix seconds) as the export writes it: UTC ISO 8601 to the second, e.g. "2026-12-06T19:35:11Z" —
/// what `ISO8601DateFormatter` writes with `.withInternetDateTime` in UTC, composed from `gmtime_r`'s calendar fields:
/// making a formatter for each of a stage's two times was most of `export --format report`'s time (issue 29).
func exportTimestamp(_ seconds: Double?) -> String? {
    guard let seconds, seconds.isFinite, seconds > 0 else { return nil }
    var t = time_t(min(seconds, 253_402_300_800).rounded(.down)), c = tm()
    guard seconds < 253_402_300_800, gmtime_r(&t, &c) != nil else {   // past 9999-12-31: the formatter's own form
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: seconds.rounded(.down)))
    }
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(c.tm_year + 1900)-\(two(c.tm_mon + 1))-\(two(c.tm_mday))T\(two(c.tm_hour)):\(two(c.tm_min)):\(two(c.tm_sec))Z"
}
