import Foundation
import Models
import Distill

/// The kinds of stage in a trial's graph (issue 7 §2).
public enum StageKind: String, Codable, Sendable, CaseIterable {
    case classifier, teacher, pd, distill, eval
    /// The independent evaluator's training (Pipeline/Evaluator.swift): an input of evaluations only.
    case evaluator
}

/// One node of a trial's stage graph. `config` holds exactly the settings that determine this
/// stage's output (canonical JSON), so two trials that agree on them share the stage; `inputs` maps
/// a role ("teacher", "classifier", "model") to another node's `name` in the same plan.
public struct StageNode: Codable, Equatable, Sendable {
    /// Unique within a trial: "classifier", "teacher", "pd512", …, "distill-rdd-4", "eval-rdd-1".
    public var name: String
    public var kind: StageKind
    public var config: String
    public var inputs: [String: String]
}

/// Stage configurations as they are hashed and handed to workers.
public struct ClassifierStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, settings: ClassifierSettings, seed: UInt64
    /// nil: the whole training split (every trial without an evaluator metric, as before the evaluator existed);
    /// `.even` when the trial's independent evaluator trains on the `.odd` half.
    public var trainingPart: TrainingPart? = nil
}
public struct TeacherStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: TeacherSettings, seed: UInt64
}
public struct PDStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, settings: PDSettings, teacherSteps: Int, seed: UInt64
}
/// One distillation stage teacher (T, s) → student (T/2, 2s) with one method (spec §2.5, §4).
public struct DistillStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig
    public var method: String, teacherSteps: Int, steps: Int, batchSize: Int, lr: Float, headLR: Float, gradClip: Float
    public var alpha: Float, beta: Float, tauCFD: Float, tauIS: Float, tauContrast: Float, tauKD: Float
    public var perceptualWeight: Float, includePD: Bool, queue: QueueSettings, isP2PBlockSize: Int, diagnosticsEvery: Int
    public var seed: UInt64
}
/// Sampling and measuring one model (spec §5).
public struct EvalStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig
    /// "ddim" (stride 1 on students; stride 1024/steps on the base model), "dpm_solver", "pndm".
    public var sampler: String
    public var steps: Int
    public var samples: Int, metrics: [String], batchSize: Int, seed: UInt64
    /// What the model is, for labels: "rdd", "pd", "teacher", ...
    public var label: String

    public init(dataset: String, dataRoot: String?, imageSize: Int, conditional: Bool, unet: UNetConfig, sampler: String, steps: Int,
                samples: Int, metrics: [String], batchSize: Int, seed: UInt64, label: String) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.conditional = conditional; self.unet = unet
        self.sampler = sampler; self.steps = steps; self.samples = samples; self.metrics = metrics; self.batchSize = batchSize
        self.seed = seed; self.label = label
    }
}

public enum StagePlan {
    /// The stage graph of a trial, in an order where every node comes after its inputs.
    public static func plan(_ c: ExperimentConfig) -> [StageNode] {
        var nodes: [StageNode] = []
        func add<T: Encodable>(_ name: String, _ kind: StageKind, _ cfg: T, _ inputs: [String: String] = [:]) {
            nodes.append(StageNode(name: name, kind: kind, config: canonicalJSON(cfg), inputs: inputs))
        }
        let needsClassifier = c.evaluation.metrics.contains(where: \.usesClassifier)
            || DistillNeedsClassifier(c.distill.method)
        if needsClassifier {
            add("classifier", .classifier, ClassifierStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize,
                                                                 settings: c.classifier, seed: c.stageChainSeed,
                                                                 trainingPart: c.usesEvaluator ? .even : nil))
        }
        if c.usesEvaluator {
            add("evaluator", .evaluator, EvaluatorStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize,
                                                              settings: c.evaluator, trainingPart: .odd))
        }
        add("teacher", .teacher, TeacherStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                                     unet: c.unet, settings: c.teacher, seed: c.stageChainSeed))
        var prev = "teacher", t = 1024
        var modelAt: [Int: String] = [1024: "teacher"]
        while t > c.pd.downTo {
            let name = "pd\(t / 2)"
            add(name, .pd, PDStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                         unet: c.unet, settings: c.pd, teacherSteps: t, seed: c.stageChainSeed), ["teacher": prev])
            prev = name
            t /= 2
            modelAt[t] = name
        }
        var students: [Int: String] = [:]
        while t > c.distill.to {
            let name = "distill-\(c.distill.method.rawValue)-\(t / 2)"
            var inputs = ["teacher": prev]
            if DistillNeedsClassifier(c.distill.method) { inputs["classifier"] = "classifier" }
            let d = c.distill
            add(name, .distill, DistillStageConfig(
                dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional, unet: c.unet,
                method: d.method.rawValue, teacherSteps: t, steps: c.distillSteps(forTeacherSteps: t), batchSize: d.batchSize, lr: d.lr,
                headLR: d.headLR, gradClip: d.gradClip, alpha: d.alpha, beta: d.beta, tauCFD: c.tauCFD(forTeacherSteps: t),
                tauIS: d.tauIS, tauContrast: d.tauContrast, tauKD: d.tauKD, perceptualWeight: d.perceptualWeight,
                includePD: d.includePD, queue: d.queue, isP2PBlockSize: d.isP2PBlockSize, diagnosticsEvery: d.diagnosticsEvery,
                seed: c.seed), inputs)
            prev = name
            t /= 2
            students[t] = name
        }
        func eval(_ name: String, model: String, sampler: String, steps: Int, label: String) {
            var inputs = ["model": model]
            if needsClassifier { inputs["classifier"] = "classifier" }
            if c.usesEvaluator { inputs["evaluator"] = "evaluator" }
            add(name, .eval, EvalStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: c.conditional,
                                             unet: c.unet, sampler: sampler, steps: steps, samples: c.evaluation.samples,
                                             metrics: c.evaluation.metrics.map(\.rawValue), batchSize: c.evaluation.batchSize, seed: c.seed, label: label), inputs)
        }
        for s in c.evaluation.studentSteps {
            if let m = students[s] { eval("eval-\(c.distill.method.rawValue)-\(s)", model: m, sampler: "ddim", steps: s, label: c.distill.method.rawValue) }
        }
        for b in c.evaluation.baselines.compactMap(Baseline.init) {
            let kind = b.sampler.rawValue, steps = b.steps
            switch b.sampler {
            case .pd: if let m = modelAt[steps] { eval("eval-pd-\(steps)", model: m, sampler: "ddim", steps: steps, label: "pd") }
            default: eval("eval-\(kind)-\(steps)", model: "teacher", sampler: kind, steps: steps, label: kind)
            }
        }
        return nodes
    }
}

/// Whether a distillation method uses the classifier (every method but plain PD).
public func DistillNeedsClassifier(_ method: DistillMethod) -> Bool { method != .pd }
