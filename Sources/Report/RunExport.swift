import Foundation
import Metrics
import RunModel

/// The run database's content as reports need it: trials × metrics with everything that labels them.
///
/// `rdd-sweep export --format json` writes this; `rdd-report` reads it (or builds it from the
/// database), so a committed export reproduces every report byte for byte without the database or
/// the checkpoints. Keys are sorted and arrays ordered (by sweep, then trial key) for determinism.
public struct RunExport: Codable, Equatable, Sendable {
    public var formatVersion: Int
    public var sweeps: [SweepRecord]
    public var trials: [TrialRecord]

    public init(formatVersion: Int = 1, sweeps: [SweepRecord], trials: [TrialRecord]) {
        self.formatVersion = formatVersion; self.sweeps = sweeps; self.trials = trials
    }
}

public struct SweepRecord: Codable, Equatable, Sendable {
    public var name: String
    /// The spec file the sweep came from (relative path as given).
    public var specPath: String
    public var specHash: String
    public var preset: String
    /// The spec's `description` (heads `rdd-report sweep`); nil when it has none or the export predates it.
    public var description: String?
    /// The spec's axes in spec order (nil in exports written before they were recorded: reports then read
    /// the axes from the trials).
    public var axes: [SweepAxisRecord]?
    /// The results root the sweep ran under, relative to the working directory of `rdd-sweep export` when it lies
    /// below it ("runs/v2"), else absolute — so the reports' "`rdd-sweep run SPEC --root ROOT` resumes them" names the
    /// root that holds the finished stages (`resumeCommand`). Nil in exports written before it was recorded.
    public var root: String?
    public init(name: String, specPath: String, specHash: String, preset: String, description: String? = nil, axes: [SweepAxisRecord]? = nil,
                root: String? = nil) {
        self.name = name; self.specPath = specPath; self.specHash = specHash; self.preset = preset
        self.description = description; self.axes = axes; self.root = root
    }

    /// The command that runs (or resumes) this sweep where it ran: `rdd-sweep run SPEC`, with `--root ROOT` unless the
    /// root is rdd-sweep's default (`results`) or unknown.
    public var resumeCommand: String {
        "rdd-sweep run \(specPath)" + (root.map { $0 == "results" ? "" : " --root \($0)" } ?? "")
    }
}

/// One axis of a sweep spec: its dotted path, where the spec declares it ("grid", "zip[0]" — zipped axes
/// move together —, "trials", "seeds") and its values as JSON text in spec order.
public struct SweepAxisRecord: Codable, Equatable, Sendable {
    public var path: String
    public var source: String
    public var values: [String]
    public init(path: String, source: String, values: [String]) { self.path = path; self.source = source; self.values = values }
}

/// One trial: its swept values, its resolved configuration, what its stages measured.
public struct TrialRecord: Codable, Equatable, Sendable {
    public var sweep: String
    /// Stable key within the sweep (e.g. "t003").
    public var key: String
    /// Swept keys → values as JSON text (e.g. "distill.method": "\"rdd\"", "seed": "1").
    public var axes: [String: String]
    /// The resolved ExperimentConfig as canonical JSON.
    public var configJSON: String
    /// The trial's state (its raw value in the JSON: "completed", "failed", "running", "queued").
    public var status: TrialStatus
    public var evaluations: [EvaluationRecord]
    public var stages: [StageRecord]
    /// What a seed replicates (RunModel.ReplicateMode): "shared" (classifier, teacher and PD chain shared by all
    /// seeds: intervals cover distillation and evaluation only) or "chain" (each seed retrains them: intervals
    /// cover the whole pipeline). nil in exports written before it was recorded, which were all "shared".
    public var replicate: ReplicateMode?
    public init(sweep: String, key: String, axes: [String: String], configJSON: String, status: TrialStatus,
                evaluations: [EvaluationRecord], stages: [StageRecord], replicate: ReplicateMode? = nil) {
        self.sweep = sweep; self.key = key; self.axes = axes; self.configJSON = configJSON; self.status = status
        self.evaluations = evaluations; self.stages = stages; self.replicate = replicate
    }
}

/// One labelled metric of one evaluation stage (spec §5): the stage's `MetricResult` (Metrics; what the
/// worker wrote to result.json) joined with where it belongs in the trial. One type for the measured part:
/// its fields read through (`record.value`, `record.nfe`, …); `metric` is the result's `name`, the export's
/// JSON keeps its flat form (`metric`, `value`, … beside `stage`, `model`), so committed exports decode as before.
@dynamicMemberLookup
public struct EvaluationRecord: Codable, Equatable, Sendable {
    /// The evaluation stage's name in the trial's plan: "eval-rdd-1", "eval-ddim-8", "eval-pd-8", ...
    public var stage: String
    /// What was sampled: a method name ("rdd", "pd", ...) or a baseline sampler ("ddim", "dpm_solver", "pndm").
    public var model: String
    /// The measured value and its label, sampler, steps and NFE.
    public var result: MetricResult
    public var secondsPerImage: Double
    /// Directory of the stage's artifacts (samples.h5), relative to the results root.
    public var artifactDirectory: String

    public init(stage: String, model: String, result: MetricResult, secondsPerImage: Double, artifactDirectory: String) {
        self.stage = stage; self.model = model; self.result = result
        self.secondsPerImage = secondsPerImage; self.artifactDirectory = artifactDirectory
    }

    public init(stage: String, model: String, metric: String, value: Double, label: String, featureNetwork: String, samples: Int,
                reference: String, sampler: String, steps: Int, nfe: Int, secondsPerImage: Double, artifactDirectory: String) {
        self.init(stage: stage, model: model,
                  result: MetricResult(name: metric, value: value, label: label, featureNetwork: featureNetwork, samples: samples,
                                       reference: reference, sampler: sampler, steps: steps, nfe: nfe),
                  secondsPerImage: secondsPerImage, artifactDirectory: artifactDirectory)
    }

    /// The metric's name ("fid_classifier", …): `result.name`.
    public var metric: String {
        get { result.name }
        set { result.name = newValue }
    }

    public subscript<T>(dynamicMember field: WritableKeyPath<MetricResult, T>) -> T {
        get { result[keyPath: field] }
        set { result[keyPath: field] = newValue }
    }

    /// The export's flat JSON, in the order of the fields before `result` was one value.
    enum CodingKeys: String, CodingKey {
        case stage, model, metric, value, label, featureNetwork, samples, reference, sampler, steps, nfe, secondsPerImage, artifactDirectory
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func text(_ k: CodingKeys) throws -> String { try c.decode(String.self, forKey: k) }
        func int(_ k: CodingKeys) throws -> Int { try c.decode(Int.self, forKey: k) }
        self.init(stage: try text(.stage), model: try text(.model),
                  result: MetricResult(name: try text(.metric), value: try c.decode(Double.self, forKey: .value), label: try text(.label),
                                       featureNetwork: try text(.featureNetwork), samples: try int(.samples), reference: try text(.reference),
                                       sampler: try text(.sampler), steps: try int(.steps), nfe: try int(.nfe)),
                  secondsPerImage: try c.decode(Double.self, forKey: .secondsPerImage),
                  artifactDirectory: try text(.artifactDirectory))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage); try c.encode(model, forKey: .model)
        try c.encode(result.name, forKey: .metric); try c.encode(result.value, forKey: .value)
        try c.encode(result.label, forKey: .label); try c.encode(result.featureNetwork, forKey: .featureNetwork)
        try c.encode(result.samples, forKey: .samples); try c.encode(result.reference, forKey: .reference)
        try c.encode(result.sampler, forKey: .sampler); try c.encode(result.steps, forKey: .steps)
        try c.encode(result.nfe, forKey: .nfe); try c.encode(secondsPerImage, forKey: .secondsPerImage)
        try c.encode(artifactDirectory, forKey: .artifactDirectory)
    }
}

/// One stage of a trial: timing, memory, and its logged series (losses, diagnostics).
public struct StageRecord: Codable, Equatable, Sendable {
    /// Name in the trial's plan ("teacher", "pd8", "distill-rdd-4", ...).
    public var name: String
    public var kind: StageKind
    public var identity: String
    /// What the sweep saw: `completed` (it ran the stage), `cached` (another sweep's result reused), …
    public var status: StageStatus
    public var seconds: Double
    public var peakMemoryBytes: Int
    /// Metric name → [(step, value)] in step order (journal entries: losses, lr, "diag/…").
    public var series: [String: [SeriesPoint]]
    /// The code version that ran the stage (part of its identity, Pipeline.CodeVersion); nil in exports
    /// written before it was recorded.
    public var codeVersion: String?
    /// The worker threads (RDD_THREADS) the stage ran with: numbers are identical at equal thread counts,
    /// and some reductions round differently at another. nil when not recorded.
    public var threads: Int?
    /// When the stage first started and when it finished (UTC, ISO 8601, whole seconds), so "the spec was
    /// committed before its run" can be checked against the repository history. nil when not recorded.
    public var startedAt: String?
    public var finishedAt: String?
    /// Which build and machine computed the stage (`Provenance`); nil in exports written before it was
    /// recorded (the reports then say so).
    public var provenance: Provenance?
    public init(name: String, kind: StageKind, identity: String, status: StageStatus, seconds: Double, peakMemoryBytes: Int,
                series: [String: [SeriesPoint]], codeVersion: String? = nil, threads: Int? = nil,
                startedAt: String? = nil, finishedAt: String? = nil, provenance: Provenance? = nil) {
        self.name = name; self.kind = kind; self.identity = identity; self.status = status; self.seconds = seconds
        self.peakMemoryBytes = peakMemoryBytes; self.series = series; self.codeVersion = codeVersion; self.threads = threads
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.provenance = provenance
    }
}

public struct SeriesPoint: Codable, Equatable, Sendable {
    public var step: Int
    public var value: Double
    public init(step: Int, value: Double) { self.step = step; self.value = value }
}

extension RunExport {
    /// Deterministic JSON (sorted keys, stable order): byte-identical for equal content. The bytes of
    /// `foundationEncoded()`, written by `RunExportJSONWriter` in one pass (a 10,000-trial export is ≈ 180 MB); a
    /// value Foundation cannot encode (a NaN or an infinity) is left to Foundation, which throws its own error.
    public func encoded() throws -> Data {
        var w = RunExportJSONWriter(capacity: 1 << 20)
        do { try w.write(self) } catch is RunExportJSONWriter.NonFinite { return try foundationEncoded() }
        return Data(w.out)
    }

    /// `encoded()`'s bytes, then `trailer`, handed to `sink` in pieces of about `chunk` bytes (whole trials): a
    /// 10,000-trial export is ≈ 180 MB, which `encoded()` holds whole and its callers copied twice more. An export
    /// Foundation cannot encode (a NaN or an infinity) throws Foundation's error before anything is written.
    public func encode(trailer: String = "", chunk: Int = 1 << 22, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard isFinite else {
            let data = try foundationEncoded()   // throws: Foundation refuses non-finite numbers by default
            try data.withUnsafeBytes { try sink($0) }
            return
        }
        try Self.stream(formatVersion: formatVersion, sweeps: sweeps, trailer: trailer, chunk: chunk, into: sink) { emit in
            for t in trials { try emit(t) }
        }
    }

    /// Writes an export whose trials `produce` hands over one at a time (to the function it is given), with `trailer`
    /// after it, to `sink` in pieces of about `chunk` bytes: the bytes `encoded()` writes for the export of those
    /// trials, with no more than a few trials and one piece in memory. A trial with a NaN or an infinity throws
    /// Foundation's error for an export of that trial alone, after the trials before it were handed to `sink` (a
    /// caller writing a file removes it).
    ///
    /// `produce` runs on the calling thread while the trials it has handed over are written on a second one
    /// (`TwoThreadPipeline`): reading the database and writing the JSON were each about half of a large export's
    /// time. `sink` is called on that second thread, in order, never concurrently with itself.
    public static func stream(formatVersion: Int = 1, sweeps: [SweepRecord], trailer: String = "", chunk: Int = 1 << 22,
                              into sink: (UnsafeRawBufferPointer) throws -> Void,
                              trials produce: ((TrialRecord) throws -> Void) throws -> Void) throws {
        try stream(formatVersion: formatVersion, sweeps: sweeps, trailer: trailer, chunk: chunk, into: sink, parts: produce, trial: { $0 })
    }

    /// `stream(…trials:)` where `produce` hands over what each trial is made of and `trial` makes it, on the writing
    /// thread: a reader can leave the assembly of its records (copies, parsing) to the thread that has time to spare.
    public static func stream<Parts>(formatVersion: Int = 1, sweeps: [SweepRecord], trailer: String = "", chunk: Int = 1 << 22,
                                     into sink: (UnsafeRawBufferPointer) throws -> Void,
                                     parts produce: ((Parts) throws -> Void) throws -> Void,
                                     trial make: (Parts) throws -> TrialRecord) throws {
        var w = RunExportJSONWriter(capacity: chunk + (1 << 20))
        w.begin(formatVersion: formatVersion, sweeps: sweeps)
        try TwoThreadPipeline.run(produce: produce, consume: { (parts: Parts) in
            let t = try make(parts)
            guard RunExport(sweeps: [], trials: [t]).isFinite else {
                _ = try RunExport(formatVersion: formatVersion, sweeps: sweeps, trials: [t]).foundationEncoded()   // throws
                throw ReportError("trial \(t.key) of \(t.sweep) has a number JSON cannot hold (NaN or infinite)")
            }
            try w.trial(t)
            if w.out.count >= chunk { try w.drain(into: sink) }
        }, finish: {
            w.end()
            w.append(trailer)
            try w.drain(into: sink)
        })
    }

    /// Every number the export writes is finite (what Foundation's encoder requires).
    var isFinite: Bool {
        trials.allSatisfy { t in
            t.evaluations.allSatisfy { $0.result.value.isFinite && $0.secondsPerImage.isFinite }
                && t.stages.allSatisfy { s in s.seconds.isFinite && s.series.values.allSatisfy { $0.allSatisfy(\.value.isFinite) } }
        }
    }

    /// Foundation's `JSONEncoder` with sorted keys, pretty-printed: what `encoded()` writes (the reference the tests
    /// compare the writer with).
    public func foundationEncoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try enc.encode(self)
    }

    public static func load(path: String) throws -> RunExport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportError("cannot read the run export '\(path)'")
        }
        do { return try JSONDecoder().decode(RunExport.self, from: data) }
        catch { throw ReportError("run export '\(path)' is not valid: \(error)") }
    }
}

public struct ReportError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
    public var errorDescription: String? { message }
}
