import Foundation

/// A configuration field with a fixed set of values, decoded once into an enum (a typo fails at
/// `plan`, with "did you mean", instead of in a worker hours later). Its raw values are what the
/// JSON holds, so stage identities (canonical JSON) are the same as when these fields were strings.
public protocol ConfigEnum: Codable, Sendable, CustomStringConvertible {
    /// Every valid JSON value, in documentation order.
    static var validNames: [String] { get }
}

extension ConfigEnum where Self: CaseIterable & RawRepresentable, Self.RawValue == String {
    public static var validNames: [String] { allCases.map(\.rawValue) }
    /// The JSON value, so labels and messages read "dpm_solver", not the case name.
    public var description: String { rawValue }
}

/// A value outside a field's fixed set, e.g. `--method rddd` (the spec parser reports JSON paths itself).
public struct ConfigValueError: Error, CustomStringConvertible, Equatable {
    public var field: String, value: String, valid: [String]
    public init(field: String, value: String, valid: [String]) { self.field = field; self.value = value; self.valid = valid }
    public var description: String { "unknown \(field) '\(value)': " + enumProblem(value, valid) }
}

/// `evaluation.metrics` (docs/metrics.md).
public enum EvaluationMetric: String, CaseIterable, ConfigEnum {
    case fidClassifier = "fid_classifier"
    case classifierScore = "classifier_score"
    case kidClassifier = "kid_classifier"
    /// Needs the converted Inception-v3 weights (docs/inception.md).
    case fidInception = "fid_inception"
    /// On the independent evaluator's features (`EvaluatorMetric`, docs/metrics.md).
    case fidEvaluator = "fid_evaluator"
    case kidEvaluator = "kid_evaluator"
    case precisionEvaluator = "precision_evaluator"
    case recallEvaluator = "recall_evaluator"
    /// The IS formula on the independent evaluator's softmax (docs/metrics.md): the unbiased IS-style score.
    case scoreEvaluator = "score_evaluator"

    /// Whether it is computed on the trial's own classifier's features (so the plan needs the classifier).
    public var usesClassifier: Bool { [.fidClassifier, .classifierScore, .kidClassifier].contains(self) }
}

/// `evaluation.reference`: the real images FID, KID and precision/recall compare the samples against
/// (docs/metrics.md, "Reference sets").
public enum EvaluationReference: String, CaseIterable, ConfigEnum {
    /// The dataset's test split: the numbers reports show. The default (an absent field).
    case test
    /// A validation set drawn from the training split (Pipeline/ReferenceImages.swift), for pilots and any
    /// choice of settings: nothing is chosen by a test-split number (issue 24 §2).
    case validation
}

/// The sampler of a training-free baseline `evaluation.baselines` entry "KIND:STEPS" (docs/samplers.md): the PD
/// chain's model at that step count (`pd`, sampled with DDIM), or a sampler of Diffusion's registry
/// (`SamplerKind`: ddim, dpm_solver, pndm) on the base model. The sampler names come from the registry only.
public enum BaselineSampler: RawRepresentable, CaseIterable, Equatable, Hashable, ConfigEnum {
    case pd
    case sampler(SamplerKind)

    public static var allCases: [BaselineSampler] { [.pd] + SamplerKind.allCases.map { .sampler($0) } }

    public init?(rawValue: String) {
        if rawValue == "pd" { self = .pd } else if let k = SamplerKind(rawValue: rawValue) { self = .sampler(k) } else { return nil }
    }

    public var rawValue: String {
        switch self {
        case .pd: return "pd"
        case .sampler(let k): return k.rawValue
        }
    }
}

/// The samplers an evaluation can run (docs/samplers.md). The raw values are what configurations, stage names
/// ("eval-dpm_solver-12") and result records hold. Diffusion's registry (`SamplerKind.sampler`, Diffusion/Sampler.swift)
/// maps each case to its implementation; adding a sampler is a case here, its name, and its `Sampler` in Diffusion.
public enum SamplerKind: String, CaseIterable, ConfigEnum {
    /// DDIM (spec §1.7): deterministic, one network call per step, on the model's own step grid.
    case ddim
    /// DPM-Solver++(3M), the official low-resolution recipe (Diffusion/DPMSolver.swift).
    case dpmSolver = "dpm_solver"
    /// F-PNDM as in the authors' code (Diffusion/PNDM.swift).
    case pndm

    /// The paper's name of the sampler, for report labels.
    public var displayName: String {
        switch self {
        case .ddim: return "DDIM"
        case .dpmSolver: return "DPM-Solver"
        case .pndm: return "PNDM"
        }
    }
}

/// A configuration field written as one JSON string with an inner structure ("ddim:8"), decoded once into its type.
/// The spec parser checks every such value with `problem` (the message names the file, line, JSON path and value,
/// before any compute), decoding refuses a malformed one, and encoding writes the same string back, so canonical JSON,
/// spec hashes and stage identities are what they were when the field was a string. Only the canonical spelling
/// decodes (`init(parsing:)` refuses "ddim:08"), so decoding and encoding are inverse on every accepted value.
public protocol ConfigText: Codable, Sendable, CustomStringConvertible {
    /// The written form, for messages ("KIND:STEPS with KIND one of …").
    static var form: String { get }
    /// Parses the written form; throws a `ConfigTextError` saying what is wrong with `text`.
    init(parsing text: String) throws
}

extension ConfigText {
    /// Why `text` is not a value of this type (nil when it is one).
    public static func problem(_ text: String) -> String? {
        do { _ = try Self(parsing: text); return nil } catch { return "\(error)" }
    }

    /// The value decoded from its written form (a conforming type's `init(from:)`); a malformed value is a
    /// `DecodingError` whose message says why.
    public static func decodeText(from decoder: Decoder) throws -> Self {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        do { return try Self(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(String(reflecting: text)): \(error)")
        }
    }

    /// Encodes the written form, `description` (a conforming type's `encode(to:)`).
    public func encodeText(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// What is wrong with the text of a `ConfigText` value.
public struct ConfigTextError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One `evaluation.baselines` entry, written "KIND:STEPS": "ddim:8" is DDIM with 8 steps on the base model, "pd:8"
/// the PD chain's 8-step model (docs/samplers.md). Which step counts a sampler can run is the registry's to say
/// (`ExperimentConfig.validationErrors`); this type knows only the form.
public struct Baseline: ConfigText, Equatable, Hashable {
    public var sampler: BaselineSampler
    public var steps: Int

    public init(_ sampler: BaselineSampler, steps: Int) { self.sampler = sampler; self.steps = steps }

    public static var form: String {
        "KIND:STEPS with KIND one of \(BaselineSampler.validNames.joined(separator: ", ")) (e.g. ddim:8, pd:8)"
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw ConfigTextError("must be \(Self.form)") }
        guard let s = BaselineSampler(rawValue: parts[0]) else {
            throw ConfigTextError("unknown sampler '\(parts[0])': \(enumProblem(parts[0], BaselineSampler.validNames)) (KIND:STEPS, e.g. ddim:8)")
        }
        guard let n = Int(parts[1]), String(n) == parts[1] else {
            throw ConfigTextError("STEPS '\(parts[1])' must be an integer written in plain digits (KIND:STEPS, e.g. \(s.rawValue):8)")
        }
        sampler = s
        steps = n
    }

    /// "ddim:8": the JSON value.
    public var description: String { "\(sampler.rawValue):\(steps)" }

    public init(from decoder: Decoder) throws { self = try Self.decodeText(from: decoder) }
    public func encode(to encoder: Encoder) throws { try encodeText(to: encoder) }
}

/// "must be one of a, b, c; did you mean 'b'?" for a bad enum value (edit distance ≤ max(2, length/3)).
public func enumProblem(_ value: String, _ valid: [String]) -> String {
    var out = "must be one of \(valid.joined(separator: ", "))"
    let scored = valid.map { ($0, levenshtein(value, $0)) }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
    if let best = scored.first, best.1 <= max(2, value.count / 3) { out += "; did you mean '\(best.0)'?" }
    return out
}

/// Levenshtein distance (case-insensitive), for "did you mean".
public func levenshtein(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased()), y = Array(b.lowercased())
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count), cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[y.count]
}
