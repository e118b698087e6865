import Foundation

/// The kinds of stage in a trial's graph (issue 7 §2).
public enum StageKind: String, Codable, Sendable, CaseIterable {
    case classifier, teacher, pd, distill, eval
    /// The independent evaluator's training (Pipeline/Evaluator.swift): an input of evaluations only.
    case evaluator
}

/// A stage's name within a trial: "classifier", "evaluator", "teacher", "pd512", "distill-rdd-4", "eval-rdd-1",
/// "eval-ddim-8". Typed, so code that looks a stage up cannot misspell it; `description` is the stored text.
public enum StageName: Hashable, Sendable, CustomStringConvertible {
    case classifier, evaluator, teacher
    /// The PD chain's student with this many steps.
    case pd(steps: Int)
    /// The distilled student with this many steps.
    case distill(method: DistillMethod, steps: Int)
    /// An evaluation; `label` is the method of a student, "pd" for the PD chain's model, or a baseline's sampler.
    case eval(label: String, steps: Int)
    /// The learning curve of the distillation stage `distill(method, steps)`: its snapshots evaluated (an `eval` stage).
    case curve(method: DistillMethod, steps: Int)

    public var description: String {
        switch self {
        case .classifier: return "classifier"
        case .evaluator: return "evaluator"
        case .teacher: return "teacher"
        case .pd(let s): return "pd\(s)"
        case .distill(let m, let s): return "distill-\(m.rawValue)-\(s)"
        case .eval(let label, let s): return "eval-\(label)-\(s)"
        case .curve(let m, let s): return "curve-\(m.rawValue)-\(s)"
        }
    }

    /// Parses the stored text (nil when it is not a stage name).
    public init?(_ text: String) {
        switch text {
        case "classifier": self = .classifier; return
        case "evaluator": self = .evaluator; return
        case "teacher": self = .teacher; return
        default: break
        }
        if text.hasPrefix("pd"), let s = Int(text.dropFirst(2)) { self = .pd(steps: s); return }
        guard let dash = text.lastIndex(of: "-"), let s = Int(text[text.index(after: dash)...]) else { return nil }
        let head = text[..<dash]
        if head.hasPrefix("distill-"), let m = DistillMethod(rawValue: String(head.dropFirst(8))) { self = .distill(method: m, steps: s); return }
        if head.hasPrefix("eval-") { self = .eval(label: String(head.dropFirst(5)), steps: s); return }
        if head.hasPrefix("curve-"), let m = DistillMethod(rawValue: String(head.dropFirst(6))) { self = .curve(method: m, steps: s); return }
        return nil
    }
}

/// One node of a trial's stage graph: its typed settings, which hold exactly what determines the stage's output
/// (so two trials that agree on them share the stage), and its inputs by role ("teacher", "classifier", "model",
/// "evaluator") → another node's name in the same plan.
public struct StageNode: Equatable, Sendable {
    public var name: StageName
    public var settings: StageSettings
    public var inputs: [String: StageName]

    public var kind: StageKind { settings.kind }
    /// The settings' canonical JSON: what is hashed into the stage identity and written to `request.json`.
    public var config: String { settings.canonicalJSON }
}

/// A stage's settings as one value: what the plan hashes, the scheduler stores and a worker runs.
/// Encoded as the payload's canonical JSON (the kind travels beside it), decoded once with `decode(kind:json:)`.
public enum StageSettings: Equatable, Sendable {
    case classifier(ClassifierStageConfig)
    case teacher(TeacherStageConfig)
    case pd(PDStageConfig)
    case distill(DistillStageConfig)
    case evaluator(EvaluatorStageConfig)
    case eval(EvalStageConfig)

    public var kind: StageKind {
        switch self {
        case .classifier: return .classifier
        case .teacher: return .teacher
        case .pd: return .pd
        case .distill: return .distill
        case .evaluator: return .evaluator
        case .eval: return .eval
        }
    }

    /// The settings value itself, whatever its stage kind.
    public var payload: any Encodable {
        switch self {
        case .classifier(let c): return c
        case .teacher(let c): return c
        case .pd(let c): return c
        case .distill(let c): return c
        case .evaluator(let c): return c
        case .eval(let c): return c
        }
    }

    /// What is hashed into the stage identity and written to the database and request.json.
    public var canonicalJSON: String { RunModel.canonicalJSON(payload) }

    /// The one decoder of stage settings (workers, the scheduler's reconciliation, reports).
    public static func decode(kind: StageKind, json: String) throws -> StageSettings {
        let d = Data(json.utf8), dec = JSONDecoder()
        switch kind {
        case .classifier: return .classifier(try dec.decode(ClassifierStageConfig.self, from: d))
        case .teacher: return .teacher(try dec.decode(TeacherStageConfig.self, from: d))
        case .pd: return .pd(try dec.decode(PDStageConfig.self, from: d))
        case .distill: return .distill(try dec.decode(DistillStageConfig.self, from: d))
        case .evaluator: return .evaluator(try dec.decode(EvaluatorStageConfig.self, from: d))
        case .eval: return .eval(try dec.decode(EvalStageConfig.self, from: d))
        }
    }

    /// Steps of a training stage (nil for classifier and evaluator pre-training, whose step count depends on the
    /// dataset size, and for evaluations).
    public var totalSteps: Int? {
        switch self {
        case .teacher(let c): return c.settings.steps
        case .pd(let c): return c.settings.stepsPerHalving
        case .distill(let c): return c.steps
        case .classifier, .evaluator, .eval: return nil
        }
    }
}

/// The dataset a stage reads: `ExperimentConfig`'s top-level fields, passed whole.
public struct DataSettings: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int
    public init(dataset: String, dataRoot: String?, imageSize: Int) { self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize }
}

/// DenseNet-BC pre-training (spec §3).
public struct ClassifierStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, settings: ClassifierSettings, seed: UInt64
    /// nil: the whole training split (every trial without an evaluator metric, as before the evaluator existed);
    /// `.even` when the trial's independent evaluator trains on the `.odd` half.
    public var trainingPart: TrainingPart? = nil
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }

    public init(dataset: String, dataRoot: String?, imageSize: Int, settings: ClassifierSettings, seed: UInt64,
                trainingPart: TrainingPart? = nil) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.settings = settings
        self.seed = seed; self.trainingPart = trainingPart
    }
}

/// The 1024-step base model (spec §2.3).
public struct TeacherStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: TeacherSettings, seed: UInt64
    public init(dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: TeacherSettings, seed: UInt64) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.conditional = conditional
        self.unet = unet; self.settings = settings; self.seed = seed
    }
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }
}

/// One halving of the PD chain, teacher T → student T/2 (spec §2.4).
public struct PDStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: PDSettings, teacherSteps: Int, seed: UInt64
    public init(dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: PDSettings,
                teacherSteps: Int, seed: UInt64) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.conditional = conditional
        self.unet = unet; self.settings = settings; self.teacherSteps = teacherSteps; self.seed = seed
    }
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }
}

/// One distillation stage teacher (T, s) → student (T/2, 2s) with one method (spec §2.5, §4). `settings` is the
/// trial's `distill` narrowed to this stage (`DistillSettings.stage(teacherSteps:)`): `from` = T, `to` = T/2, one
/// τ_CFD and one step count, so trials that differ only in other stages' values share this one.
public struct DistillStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig
    public var settings: DistillSettings
    public var seed: UInt64
    /// Keep the student after every this many steps (and at step 0) as `snapshots/step-<n>.h5`, for a learning
    /// curve (`evaluation.every`). nil: none, and absent from the canonical JSON (identities as before). It changes
    /// no trained number, but it is part of the identity so a stage reused for a curve has its snapshots.
    public var snapshotEvery: Int?
    public init(dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: DistillSettings, seed: UInt64,
                snapshotEvery: Int? = nil) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.conditional = conditional
        self.unet = unet; self.settings = settings; self.seed = seed; self.snapshotEvery = snapshotEvery
    }
    /// The training steps after which a snapshot exists: 0, K, 2K, … below `steps`, and `steps` (the stage's
    /// `final.h5`). Empty without `snapshotEvery`.
    public var snapshotSteps: [Int] {
        guard let k = snapshotEvery, k >= 1 else { return [] }
        return Array(stride(from: 0, to: steps, by: k)) + [steps]
    }
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }
    public var method: DistillMethod { settings.method }
    /// T: the teacher's step count.
    public var teacherSteps: Int { settings.from }
    /// Training steps of this stage.
    public var steps: Int { settings.steps[0] }
}

/// Sampling and measuring one model (spec §5).
public struct EvalStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig
    /// DDIM (stride 1 on students; stride 1024/steps on the base model), DPM-Solver or PNDM.
    public var sampler: SamplerKind
    public var steps: Int
    public var samples: Int, metrics: [EvaluationMetric], batchSize: Int, seed: UInt64
    /// What the model is, for labels: "rdd", "pd", "teacher", ...
    public var label: String
    /// A learning curve (`StageName.curve`): the training steps of the model stage's snapshots to evaluate, each at
    /// `samples`; its values go to the journal at their step. nil for an ordinary evaluation (and then absent
    /// from the canonical JSON).
    public var snapshots: [Int]?
    /// The reference set (`evaluation.reference`): nil for the test split, so evaluations planned before the field
    /// existed keep their identities; `.validation` for a pilot's.
    public var reference: EvaluationReference?

    public init(dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, sampler: SamplerKind, steps: Int,
                samples: Int, metrics: [EvaluationMetric], batchSize: Int, seed: UInt64, label: String) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.conditional = conditional; self.unet = unet
        self.sampler = sampler; self.steps = steps; self.samples = samples; self.metrics = metrics; self.batchSize = batchSize
        self.seed = seed; self.label = label
    }
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }
}

public enum StagePlan {
    /// The stage graph of a trial, in an order where every node comes after its inputs. Each stage receives its
    /// part of the configuration whole (`c.teacher`, `c.pd`, `c.distill` narrowed to the stage, …).
    public static func plan(_ c: ExperimentConfig) -> [StageNode] {
        var nodes: [StageNode] = []
        func add(_ name: StageName, _ s: StageSettings, _ inputs: [String: StageName] = [:]) {
            nodes.append(StageNode(name: name, settings: s, inputs: inputs))
        }
        let needsClassifier = c.evaluation.metrics.contains(where: \.usesClassifier) || c.distill.method.needsClassifier
        // A learning curve on the classifier's features needs it even where nothing else does (a `pd` trial).
        if needsClassifier || (c.evaluation.every != nil && c.evaluation.curveMetric.usesClassifier) {
            add(.classifier, .classifier(ClassifierStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize,
                                                               settings: c.classifier, seed: c.stageChainSeed,
                                                               trainingPart: c.usesEvaluator ? .even : nil)))
        }
        if c.usesEvaluator {
            add(.evaluator, .evaluator(EvaluatorStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize,
                                                            settings: c.evaluator, trainingPart: .odd)))
        }
        add(.teacher, .teacher(TeacherStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                                  unet: c.unet, settings: c.teacher, seed: c.stageChainSeed)))
        var prev = StageName.teacher, t = 1024
        var modelAt: [Int: StageName] = [1024: .teacher]
        while t > c.pd.downTo {
            let name = StageName.pd(steps: t / 2)
            add(name, .pd(PDStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                        unet: c.unet, settings: c.pd, teacherSteps: t, seed: c.stageChainSeed)), ["teacher": prev])
            prev = name
            t /= 2
            modelAt[t] = name
        }
        var students: [Int: StageName] = [:]
        while t > c.distill.to {
            let name = StageName.distill(method: c.distill.method, steps: t / 2)
            var inputs = ["teacher": prev]
            if c.distill.method.needsClassifier { inputs["classifier"] = .classifier }
            add(name, .distill(DistillStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                                  unet: c.unet, settings: c.distill.stage(teacherSteps: t), seed: c.seed,
                                                  snapshotEvery: c.evaluation.every)), inputs)
            prev = name
            t /= 2
            students[t] = name
        }
        // The test split travels as nil (identities as before the field existed).
        let reference: EvaluationReference? = c.evaluation.reference == .validation ? .validation : nil
        // Learning curves: each distillation stage's snapshots, sampled with DDIM at the student's step count.
        if c.evaluation.every != nil {
            for (steps, student) in students.sorted(by: { $0.key > $1.key }) {
                guard case .distill(let s)? = nodes.first(where: { $0.name == student })?.settings else { continue }
                var inputs = ["model": student]
                if c.evaluation.curveMetric.usesClassifier { inputs["classifier"] = .classifier } else { inputs["evaluator"] = .evaluator }
                var e = EvalStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                        unet: c.unet, sampler: .ddim, steps: steps, samples: c.evaluation.curveSamples,
                                        metrics: [c.evaluation.curveMetric], batchSize: c.evaluation.batchSize, seed: c.seed, label: c.distill.method.rawValue)
                e.snapshots = s.snapshotSteps
                e.reference = reference
                add(.curve(method: c.distill.method, steps: steps), .eval(e), inputs)
            }
        }
        func eval(model: StageName, sampler: SamplerKind, steps: Int, label: String) {
            var inputs = ["model": model]
            if needsClassifier { inputs["classifier"] = .classifier }
            if c.usesEvaluator { inputs["evaluator"] = .evaluator }
            var e = EvalStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                    unet: c.unet, sampler: sampler, steps: steps, samples: c.evaluation.samples,
                                    metrics: c.evaluation.metrics, batchSize: c.evaluation.batchSize, seed: c.seed, label: label)
            e.reference = reference
            add(.eval(label: label, steps: steps), .eval(e), inputs)
        }
        for s in c.evaluation.studentSteps {
            if let m = students[s] { eval(model: m, sampler: .ddim, steps: s, label: c.distill.method.rawValue) }
        }
        for b in c.evaluation.baselines {
            switch b.sampler {
            case .pd: if let m = modelAt[b.steps] { eval(model: m, sampler: .ddim, steps: b.steps, label: "pd") }
            case .sampler(let sampler): eval(model: .teacher, sampler: sampler, steps: b.steps, label: sampler.rawValue)
            }
        }
        return nodes
    }
}
