import Foundation

/// The fully resolved configuration of one trial: everything that determines its numbers.
///
/// A sweep spec names a preset, overrides keys of this structure (JSON paths such as
/// `distill.alpha` or `distill.queue.size`) and sweeps others; `ExperimentConfig.resolve` applies
/// them on top of the preset's defaults and `validationErrors` checks the result before anything
/// runs. `StagePlan.plan(_:)` turns it into the stage graph.
public struct ExperimentConfig: Codable, Equatable, Sendable {
    public var preset: String
    /// "digits", "fashion-mnist", "cifar10" or "imagenet64".
    public var dataset: String
    /// Directory of CIFAR-10 / ImageNet-64 files (the other datasets need none).
    public var dataRoot: String?
    public var imageSize: Int
    /// Class-conditional U-Nets and sampling (Table 2).
    public var conditional: Bool
    /// The trial's seed: distillation stages and evaluation. A first-class sweep axis.
    public var seed: UInt64
    /// The seed of the shared stages (classifier, teacher, PD chain), so trials with different
    /// `seed` share one teacher as in the paper.
    public var chainSeed: UInt64
    public var classifier: ClassifierSettings
    public var unet: UNetConfig
    public var teacher: TeacherSettings
    public var pd: PDSettings
    public var distill: DistillSettings
    public var evaluation: EvaluationSettings
    /// `shared` (default): every seed shares the classifier, teacher and PD chain (seeded by `chainSeed`), as the
    /// paper; `chain`: each seed retrains them with `seed` as their seed, so intervals over seeds cover the whole
    /// pipeline (issue 20 §2). Encoded only when `chain`, so configurations without it keep their JSON.
    public var replicate: ReplicateMode
    /// The independent evaluator (Pipeline/Evaluator.swift). Planned, hashed and encoded only when an
    /// evaluator metric is requested, so configurations without one keep their JSON and identities.
    public var evaluator: EvaluatorSettings
}

/// DenseNet-BC feature extractor and its pre-training (spec §3).
public struct ClassifierSettings: Codable, Equatable, Sendable {
    public var network: DenseNetConfig
    public var epochs: Int
    public var batchSize: Int
    public var lr: Float
    public var momentum: Float
    public var weightDecay: Float
    /// Epochs (fractions of `epochs`) at which lr is divided by 10 (spec: 150 and 225 of 300).
    public var milestones: [Double]
    /// Random-crop padding for augmentation (CIFAR: 4), 0 for none.
    public var cropPadding: Int

    public init(network: DenseNetConfig, epochs: Int, batchSize: Int, lr: Float, momentum: Float, weightDecay: Float,
                milestones: [Double], cropPadding: Int) {
        self.network = network; self.epochs = epochs; self.batchSize = batchSize; self.lr = lr
        self.momentum = momentum; self.weightDecay = weightDecay; self.milestones = milestones
        self.cropPadding = cropPadding
    }
}

/// Base-model training (spec §2.3).
public struct TeacherSettings: Codable, Equatable, Sendable {
    public var steps: Int
    public var batchSize: Int
    public var lr: Float
    public var warmup: Int
    public var emaDecay: Float
    public var gradClip: Float

    public init(steps: Int, batchSize: Int, lr: Float, warmup: Int, emaDecay: Float, gradClip: Float) {
        self.steps = steps; self.batchSize = batchSize; self.lr = lr; self.warmup = warmup; self.emaDecay = emaDecay; self.gradClip = gradClip
    }
}

/// The PD chain 1024 → … → `downTo` (spec §2.4).
public struct PDSettings: Codable, Equatable, Sendable {
    public var stepsPerHalving: Int
    public var batchSize: Int
    public var lr: Float
    public var gradClip: Float
    /// Where the PD chain stops and the distillation methods take over (8 in the paper).
    public var downTo: Int

    public init(stepsPerHalving: Int, batchSize: Int, lr: Float, gradClip: Float, downTo: Int) {
        self.stepsPerHalving = stepsPerHalving; self.batchSize = batchSize; self.lr = lr; self.gradClip = gradClip; self.downTo = downTo
    }
}

/// What is measured for the trial (spec §5, scaled).
public struct EvaluationSettings: Codable, Equatable, Sendable {
    /// Samples per evaluation (N).
    public var samples: Int
    /// fid_classifier, classifier_score, kid_classifier, and fid_inception when installed.
    public var metrics: [EvaluationMetric]
    /// Which distilled students to evaluate (by step count).
    public var studentSteps: [Int]
    /// Training-free baselines on the teacher / PD chain, written "ddim:8", "ddim:1024", "pd:8", "dpm_solver:12",
    /// "pndm:10" in JSON (`Baseline`: decoded once here, encoded back to the same strings).
    public var baselines: [Baseline]
    public var batchSize: Int
    /// Learning curves (issue 20 §4): every distillation stage keeps a snapshot of its student after every `every`
    /// steps (and at step 0), and a `curve-<method>-<steps>` stage evaluates them at `curveSamples` samples.
    /// nil (absent, the default) plans no curves; being optional, it is absent from the canonical JSON of every
    /// configuration without it, so their hashes and stage identities are unchanged.
    public var every: Int?
    /// Samples per snapshot evaluation (nil: `min(samples, 128)`, cheap next to a full evaluation).
    public var everySamples: Int?
    /// What the evaluations (and learning curves) compare against: the test split (nil, the default, or `test`)
    /// or the validation set a pilot chooses settings by. Absent from the canonical JSON when nil, so every
    /// configuration written before it keeps its hash; the stage plan passes `test` on as nil too, so
    /// `"reference": "test"` shares every stage with a spec that leaves it out.
    public var reference: EvaluationReference?

    public init(samples: Int, metrics: [EvaluationMetric], studentSteps: [Int], baselines: [Baseline], batchSize: Int,
                every: Int? = nil, everySamples: Int? = nil, reference: EvaluationReference? = nil) {
        self.samples = samples; self.metrics = metrics; self.studentSteps = studentSteps; self.baselines = baselines; self.batchSize = batchSize
        self.every = every; self.everySamples = everySamples; self.reference = reference
    }

    /// N of one snapshot evaluation of a learning curve.
    public var curveSamples: Int { everySamples ?? min(samples, 128) }

    /// The one metric of a learning curve: the independent evaluator's FID when the trial requests an evaluator
    /// metric (it is trained anyway), else the classifier-feature FID (the same network as the distillation
    /// losses: biased toward feature-matching methods, and the curve's label says so).
    public var curveMetric: EvaluationMetric {
        metrics.contains { EvaluatorMetric(rawValue: $0.rawValue) != nil } ? .fidEvaluator : .fidClassifier
    }
}

extension ExperimentConfig {
    /// The defaults of a preset (spec values for `paper`, scaled for `small` and `tiny`).
    public static func defaults(preset name: String) throws -> ExperimentConfig {
        let p = try Preset.named(name)
        let isPaper = name == "paper"
        let classifier: ClassifierSettings
        switch name {
        case "tiny":
            classifier = ClassifierSettings(network: DenseNetConfig(growthRate: 12, blockConfig: [2, 2], initFeatures: 24, numClasses: 10, inChannels: 1),
                                            epochs: 3, batchSize: 64, lr: 0.1, momentum: 0.9, weightDecay: 5e-4, milestones: [0.5, 0.75], cropPadding: 1)
        case "small":
            // Measured: [6, 6, 6] × 4 epochs took > 1 h on the shared 2 cores; [4, 4, 4] × 2 epochs ≈ 10–20 min.
            classifier = ClassifierSettings(network: DenseNetConfig(growthRate: 12, blockConfig: [4, 4, 4], initFeatures: 24, numClasses: 10, inChannels: 1),
                                            epochs: 2, batchSize: 128, lr: 0.1, momentum: 0.9, weightDecay: 5e-4, milestones: [0.5, 0.75], cropPadding: 2)
        default:
            classifier = ClassifierSettings(network: .densenet201, epochs: 300, batchSize: 128, lr: 0.1, momentum: 0.9,
                                            weightDecay: 5e-4, milestones: [0.5, 0.75], cropPadding: 4)
        }
        let queue = isPaper ? QueueSettings(mode: .officialCode, size: 20000, contrastSize: 4096, updateCount: 128)
            : (name == "small" ? QueueSettings(mode: .officialCode, size: 4000, contrastSize: 1024, updateCount: 64)
               : QueueSettings(mode: .officialCode, size: 512, contrastSize: 128, updateCount: 16))
        let distillSteps = isPaper ? [20000, 20000, 20000] : (name == "small" ? [200, 200, 200] : [20, 20, 20])
        var distill = DistillSettings.paper
        distill.queue = queue
        distill.batchSize = isPaper ? 32 : p.pdBatch
        distill.steps = distillSteps
        distill.lr = p.pdLR
        distill.headLR = p.pdLR
        distill.diagnosticsEvery = isPaper ? 500 : (name == "small" ? 50 : 20)
        return ExperimentConfig(
            preset: p.name, dataset: p.dataset, dataRoot: nil, imageSize: p.imageSize, conditional: false,
            seed: 0, chainSeed: 0, classifier: classifier, unet: p.unet,
            teacher: TeacherSettings(steps: p.teacherSteps, batchSize: p.teacherBatch, lr: p.teacherLR, warmup: p.teacherWarmup,
                                     emaDecay: p.emaDecay, gradClip: 1),
            pd: PDSettings(stepsPerHalving: p.pdStepsPerHalving, batchSize: p.pdBatch, lr: p.pdLR, gradClip: 1, downTo: 8),
            distill: distill,
            evaluation: EvaluationSettings(samples: isPaper ? 50000 : (name == "small" ? 2000 : 256),
                                           metrics: [.fidClassifier, .classifierScore, .kidClassifier],
                                           studentSteps: [1], baselines: [], batchSize: isPaper ? 128 : 128),
            replicate: .shared, evaluator: EvaluatorSettings.defaults(preset: p.name, inChannels: p.unet.inChannels, classifier: classifier))
    }

    /// Every problem with the configuration, each naming its JSON path and value (empty when valid).
    /// `samplerStepsProblem(kind, steps, modelSteps)` says why a sampler cannot run `steps` steps on a model with
    /// T = `modelSteps` (nil when it can): Diffusion's sampler registry knows, so Pipeline's `validationErrors()`
    /// passes it; the model of a run stays free of the samplers' arithmetic.
    public func validationErrors(samplerStepsProblem: (SamplerKind, _ steps: Int, _ modelSteps: Int) -> String?) -> [String] {
        var e: [String] = []
        func check(_ ok: Bool, _ path: String, _ value: Any, _ rule: String) { if !ok { e.append("\(path) = \(value): \(rule)") } }
        check(["digits", "fashion-mnist", "cifar10", "imagenet64"].contains(dataset), "dataset", dataset, "must be digits, fashion-mnist, cifar10 or imagenet64")
        e += unet.validationErrors().map { "unet: " + $0 }
        e += classifier.network.validationErrors().map { "classifier.network: " + $0 }
        check(unet.imageSize == imageSize, "unet.imageSize", unet.imageSize, "must equal imageSize = \(imageSize)")
        check(!conditional || unet.numClasses != nil, "unet.numClasses", unet.numClasses as Any, "must be set (the number of classes) when conditional = true")
        check(conditional || unet.numClasses == nil, "conditional", conditional, "must be true when unet.numClasses is set")
        check(imageSize >= 1, "imageSize", imageSize, "must be ≥ 1")
        check(dataRoot.map(safePathText) ?? true, "dataRoot", String(reflecting: dataRoot ?? ""), "must be a path without control characters (newlines, tabs)")
        let cl = classifier
        check(cl.epochs >= 1, "classifier.epochs", cl.epochs, "must be ≥ 1")
        check(cl.batchSize >= 1, "classifier.batchSize", cl.batchSize, "batch size must be ≥ 1")
        check(cl.lr > 0, "classifier.lr", cl.lr, "learning rate must be > 0")
        check(cl.momentum >= 0 && cl.momentum < 1, "classifier.momentum", cl.momentum, "must be in [0, 1)")
        check(cl.weightDecay >= 0, "classifier.weightDecay", cl.weightDecay, "must be ≥ 0")
        check(cl.milestones.allSatisfy { $0 > 0 && $0 <= 1 }, "classifier.milestones", cl.milestones, "every milestone is a fraction of the epochs in (0, 1]")
        check(cl.cropPadding >= 0, "classifier.cropPadding", cl.cropPadding, "must be ≥ 0")
        check(teacher.steps >= 1, "teacher.steps", teacher.steps, "must be ≥ 1")
        check(teacher.batchSize >= 1, "teacher.batchSize", teacher.batchSize, "must be ≥ 1")
        check(teacher.lr > 0, "teacher.lr", teacher.lr, "learning rate must be > 0")
        check(teacher.warmup >= 0, "teacher.warmup", teacher.warmup, "must be ≥ 0")
        check(teacher.emaDecay >= 0 && teacher.emaDecay < 1, "teacher.emaDecay", teacher.emaDecay, "must be in [0, 1)")
        check(teacher.gradClip > 0, "teacher.gradClip", teacher.gradClip, "must be > 0")
        check(pd.stepsPerHalving >= 1, "pd.stepsPerHalving", pd.stepsPerHalving, "must be ≥ 1")
        check(pd.batchSize >= 1, "pd.batchSize", pd.batchSize, "must be ≥ 1")
        check(pd.lr > 0, "pd.lr", pd.lr, "learning rate must be > 0")
        check(pd.gradClip > 0, "pd.gradClip", pd.gradClip, "must be > 0")
        check(pd.downTo >= 1 && pd.downTo <= 1024 && pd.downTo & (pd.downTo - 1) == 0, "pd.downTo", pd.downTo, "must be a power of two in 1…1024")
        let d = distill
        check(d.from == pd.downTo, "distill.from", d.from, "must equal pd.downTo = \(pd.downTo) (the stage schedule must halve from the PD chain's end)")
        check(d.to >= 1 && d.to <= d.from && d.to & (d.to - 1) == 0, "distill.to", d.to, "must be a power of two ≤ distill.from")
        check(d.alpha >= 0, "distill.alpha", d.alpha, "must be ≥ 0")
        check(d.beta >= 0, "distill.beta", d.beta, "must be ≥ 0")
        check(!d.tauCFD.isEmpty && d.tauCFD.allSatisfy { $0 > 0 }, "distill.tauCFD", d.tauCFD, "must be non-empty with every τ > 0")
        check(d.tauIS > 0, "distill.tauIS", d.tauIS, "τ must be > 0")
        check(d.tauContrast > 0, "distill.tauContrast", d.tauContrast, "τ must be > 0")
        check(d.tauKD > 0, "distill.tauKD", d.tauKD, "τ must be > 0")
        check(d.lr > 0, "distill.lr", d.lr, "learning rate must be > 0")
        check(d.headLR > 0, "distill.headLR", d.headLR, "learning rate must be > 0")
        check(d.gradClip > 0, "distill.gradClip", d.gradClip, "must be > 0")
        check(d.perceptualWeight >= 0, "distill.perceptualWeight", d.perceptualWeight, "must be ≥ 0")
        check(d.diagnosticsEvery >= 0, "distill.diagnosticsEvery", d.diagnosticsEvery, "must be ≥ 0 (0 disables the diagnostics)")
        check(d.queue.size >= 1, "distill.queue.size", d.queue.size, "N_q must be ≥ 1")
        check(d.queue.contrastSize >= 1 && d.queue.contrastSize <= d.queue.size, "distill.queue.contrastSize", d.queue.contrastSize, "V must be in 1…N_q = \(d.queue.size)")
        check(d.queue.updateCount >= 1, "distill.queue.updateCount", d.queue.updateCount, "K must be ≥ 1")
        check(d.batchSize >= 1, "distill.batchSize", d.batchSize, "batch size must be ≥ 1")
        check(!d.steps.isEmpty && d.steps.allSatisfy { $0 >= 1 }, "distill.steps", d.steps, "must be non-empty with every value ≥ 1")
        check(d.isP2PBlockSize >= 1, "distill.isP2PBlockSize", d.isP2PBlockSize, "must be ≥ 1")
        check(evaluation.samples >= 2, "evaluation.samples", evaluation.samples, "N must be ≥ 2")
        check(evaluation.batchSize >= 1, "evaluation.batchSize", evaluation.batchSize, "batch size must be ≥ 1")
        if let k = evaluation.every {
            check(k >= 1, "evaluation.every", k, "must be ≥ 1 (evaluate the distillation students every K steps), or absent for no learning curves")
        }
        if let n = evaluation.everySamples {
            check(n >= 2, "evaluation.everySamples", n, "N must be ≥ 2")
            check(evaluation.every != nil, "evaluation.everySamples", n, "is set but evaluation.every is not: set evaluation.every (the snapshot interval) too, or remove it")
        }
        check(Set(evaluation.metrics).count == evaluation.metrics.count, "evaluation.metrics", evaluation.metrics.map(\.rawValue), "lists a metric twice")
        for (i, s) in evaluation.studentSteps.enumerated() {
            check(s >= d.to && s <= d.from && s & (s - 1) == 0, "evaluation.studentSteps[\(i)]", s, "must be a power of two between distill.to = \(d.to) and distill.from = \(d.from)")
        }
        // The form of each baseline ("KIND:STEPS", a known kind) was checked when it was decoded; here, whether its model
        // and step count exist.
        for (i, b) in evaluation.baselines.enumerated() {
            let n = b.steps
            switch b.sampler {
            case .pd: check(n >= pd.downTo && n < 1024 && n & (n - 1) == 0, "evaluation.baselines[\(i)]", b, "a PD model exists only for powers of two from pd.downTo = \(pd.downTo) to 512")
            case .sampler(let kind):
                // The registry says which step counts the sampler runs on the base model (T = 1024).
                let problem = samplerStepsProblem(kind, n, 1024)
                check(problem == nil, "evaluation.baselines[\(i)]", b, problem ?? "")
            }
        }
        if usesEvaluator { e += evaluator.validationErrors(classifier: classifier.network) }
        return e
    }

}

/// The metrics measured on the independent evaluator's features.
public enum EvaluatorMetric: String, CaseIterable, Sendable {
    case fid = "fid_evaluator", kid = "kid_evaluator", precision = "precision_evaluator", recall = "recall_evaluator"
    /// The Inception Score formula on the evaluator's softmax: the IS-style column (Tables 1 and 2) on a network no loss sees.
    case score = "score_evaluator"
}

extension ExperimentConfig {
    /// Whether any requested metric needs the independent evaluator (and so the disjoint training halves).
    public var usesEvaluator: Bool { evaluation.metrics.contains { EvaluatorMetric(rawValue: $0.rawValue) != nil } }

    enum CodingKeys: String, CodingKey {
        case preset, dataset, dataRoot, imageSize, conditional, seed, chainSeed, classifier, unet, teacher, pd, distill, evaluation, replicate, evaluator
    }

    /// As synthesised, except that an absent `evaluator` takes the preset's default and an absent `replicate` is
    /// `shared` (configurations written before they existed decode unchanged).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        preset = try c.decode(String.self, forKey: .preset)
        dataset = try c.decode(String.self, forKey: .dataset)
        dataRoot = try c.decodeIfPresent(String.self, forKey: .dataRoot)
        imageSize = try c.decode(Int.self, forKey: .imageSize)
        conditional = try c.decode(Bool.self, forKey: .conditional)
        seed = try c.decode(UInt64.self, forKey: .seed)
        chainSeed = try c.decode(UInt64.self, forKey: .chainSeed)
        classifier = try c.decode(ClassifierSettings.self, forKey: .classifier)
        unet = try c.decode(UNetConfig.self, forKey: .unet)
        teacher = try c.decode(TeacherSettings.self, forKey: .teacher)
        pd = try c.decode(PDSettings.self, forKey: .pd)
        distill = try c.decode(DistillSettings.self, forKey: .distill)
        evaluation = try c.decode(EvaluationSettings.self, forKey: .evaluation)
        if let r = try c.decodeIfPresent(String.self, forKey: .replicate) {
            guard let mode = ReplicateMode(rawValue: r) else {
                throw DecodingError.dataCorruptedError(forKey: .replicate, in: c, debugDescription: "replicate = \"\(r)\": must be shared or chain")
            }
            replicate = mode
        } else { replicate = .shared }
        evaluator = try c.decodeIfPresent(EvaluatorSettings.self, forKey: .evaluator)
            ?? EvaluatorSettings.defaults(preset: preset, inChannels: unet.inChannels, classifier: classifier)
    }

    /// As synthesised, except that `replicate` is written only when `chain` and `evaluator` only when an
    /// evaluator metric uses it: the resolved
    /// configuration JSON (and so a sweep's spec hash) of every trial without one is what it was before the
    /// evaluator existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(preset, forKey: .preset)
        try c.encode(dataset, forKey: .dataset)
        try c.encodeIfPresent(dataRoot, forKey: .dataRoot)
        try c.encode(imageSize, forKey: .imageSize)
        try c.encode(conditional, forKey: .conditional)
        try c.encode(seed, forKey: .seed)
        try c.encode(chainSeed, forKey: .chainSeed)
        try c.encode(classifier, forKey: .classifier)
        try c.encode(unet, forKey: .unet)
        try c.encode(teacher, forKey: .teacher)
        try c.encode(pd, forKey: .pd)
        try c.encode(distill, forKey: .distill)
        try c.encode(evaluation, forKey: .evaluation)
        if replicate != .shared { try c.encode(replicate, forKey: .replicate) }
        if usesEvaluator { try c.encode(evaluator, forKey: .evaluator) }
    }
}

/// What a seed replicates (issue 20 §2, docs/sweeps.md "Replicates").
public enum ReplicateMode: String, Codable, Sendable, CaseIterable {
    /// Every seed shares one classifier, teacher and PD chain (seeded by `chainSeed`), as in the paper: an interval
    /// over seeds covers the distillation's and the evaluation's randomness only.
    case shared
    /// Each seed retrains the classifier, the teacher and the PD chain with its own seed (`chainSeed` follows
    /// `seed`): an interval over seeds covers the whole pipeline. The evaluator stays shared: it is the measuring
    /// instrument, and one instrument for every seed keeps comparisons paired.
    case chain

    /// The sources of variance an interval over seeds includes, for tables.
    public var varianceSources: String {
        switch self {
        case .shared: return "distillation and evaluation (classifier, teacher and PD chain shared by all seeds)"
        case .chain: return "classifier, teacher, PD chain, distillation and evaluation (each seed retrains the chain)"
        }
    }
}

extension ExperimentConfig {
    /// The seed of the classifier, teacher and PD stages: `chainSeed`, or `seed` when `replicate` is `chain`.
    public var stageChainSeed: UInt64 { replicate == .chain ? seed : chainSeed }
}

/// Whether text bound for a file path has no control characters (a newline in a path ends up in logs,
/// scripts and job headers).
public func safePathText(_ s: String) -> Bool { !s.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f } }
