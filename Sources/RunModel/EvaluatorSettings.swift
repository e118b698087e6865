import Foundation

/// The independent evaluator (issue 20 §1): a feature network that no loss ever sees, of another
/// architecture than the distillation classifier, with its own seed, trained on the other half of the
/// training split. The classifier-feature FID scores a feature-matching student (RCFD, RDD, PD +
/// perceptual) with the very network it was trained to imitate; `fid_evaluator` does not.
///
/// It exists in a trial's plan only when `evaluation.metrics` asks for an evaluator metric; then (and only
/// then) the distillation classifier trains on the even-indexed images of the training split and the
/// evaluator on the odd-indexed ones (`TrainingPart`). Trials without evaluator metrics keep today's
/// classifier (whole split) and so their stage identities and numbers.
public struct EvaluatorSettings: Codable, Equatable, Sendable {
    public var architecture: EvaluatorArchitecture
    /// The network when `architecture` is `resnet`.
    public var resnet: ResNetConfig
    /// The network when `architecture` is `densenet` (must differ from `classifier.network`).
    public var densenet: DenseNetConfig?
    /// Its own seed (initialisation, augmentation, batch order), independent of `chainSeed` and `seed`.
    public var seed: UInt64
    public var epochs: Int
    public var batchSize: Int
    public var lr: Float
    public var momentum: Float
    public var weightDecay: Float
    /// Fractions of `epochs` at which lr is divided by 10.
    public var milestones: [Double]
    public var cropPadding: Int

    /// The preset's evaluator: a CIFAR ResNet sized like the preset's classifier, seed 1 (the chain's default is 0).
    public static func defaults(preset: String, inChannels: Int, classifier: ClassifierSettings) -> EvaluatorSettings {
        let net: ResNetConfig
        switch preset {
        case "tiny": net = ResNetConfig(widths: [16, 32], blocks: [1, 1], inChannels: inChannels)
        case "small": net = ResNetConfig(widths: [16, 32, 64], blocks: [1, 1, 1], inChannels: inChannels)
        default: net = ResNetConfig(widths: [16, 32, 64], blocks: [3, 3, 3], inChannels: inChannels)   // ResNet-20
        }
        return EvaluatorSettings(architecture: .resnet, resnet: net, densenet: nil, seed: 1, epochs: classifier.epochs,
                                 batchSize: classifier.batchSize, lr: classifier.lr, momentum: classifier.momentum,
                                 weightDecay: classifier.weightDecay, milestones: classifier.milestones, cropPadding: classifier.cropPadding)
    }

    /// "ResNet-8 (widths [16, 32], blocks [1, 1])" or "DenseNet-BC(k=…, blocks …)": what labels name.
    public var networkLabel: String {
        switch architecture {
        case .resnet: return resnet.label
        case .densenet: return densenet.map { "DenseNet-BC(k=\($0.growthRate), blocks \($0.blockConfig))" } ?? "DenseNet-BC (unset)"
        }
    }

    /// Problems, each naming its JSON path; `classifier` is the distillation feature network it must differ from.
    public func validationErrors(classifier: DenseNetConfig) -> [String] {
        var e: [String] = []
        switch architecture {
        case .resnet:
            e += resnet.validationErrors().map { "evaluator.resnet: " + $0 }
        case .densenet:
            guard let d = densenet else { e.append("evaluator.densenet = null: must be set when evaluator.architecture = densenet"); break }
            e += d.validationErrors().map { "evaluator.densenet: " + $0 }
            if d == classifier {
                e.append("evaluator.densenet = \(canonicalJSON(d)): the evaluator must differ from the distillation feature network (classifier.network); use another architecture or configuration")
            }
        }
        if epochs < 1 { e.append("evaluator.epochs = \(epochs): must be ≥ 1") }
        if batchSize < 1 { e.append("evaluator.batchSize = \(batchSize): must be ≥ 1") }
        if !(lr > 0) { e.append("evaluator.lr = \(lr): must be > 0") }
        if cropPadding < 0 { e.append("evaluator.cropPadding = \(cropPadding): must be ≥ 0") }
        return e
    }

    public init(architecture: EvaluatorArchitecture, resnet: ResNetConfig, densenet: DenseNetConfig?, seed: UInt64,
                epochs: Int, batchSize: Int, lr: Float, momentum: Float, weightDecay: Float, milestones: [Double],
                cropPadding: Int) {
        self.architecture = architecture; self.resnet = resnet; self.densenet = densenet; self.seed = seed
        self.epochs = epochs; self.batchSize = batchSize; self.lr = lr; self.momentum = momentum
        self.weightDecay = weightDecay; self.milestones = milestones; self.cropPadding = cropPadding
    }
}

public enum EvaluatorArchitecture: String, Codable, Sendable, CaseIterable {
    case resnet, densenet
}

/// A deterministic half of a training split: the images at even indices (0, 2, 4, …) or at odd indices.
/// Index parity needs no seed and no list, is reproducible from its name alone, and keeps every class on
/// both sides whatever the split's order (an ordered split alternates classes no slower than it changes them).
public enum TrainingPart: String, Codable, Sendable {
    /// The distillation classifier's half.
    case even
    /// The evaluator's half.
    case odd

    public func indices(count: Int) -> [Int] { Array(stride(from: self == .even ? 0 : 1, to: count, by: 2)) }
}

/// The evaluator stage's configuration as hashed and handed to the worker.
public struct EvaluatorStageConfig: Codable, Equatable, Sendable {
    public var dataset: String, dataRoot: String?, imageSize: Int, settings: EvaluatorSettings, trainingPart: TrainingPart
    public var data: DataSettings { DataSettings(dataset: dataset, dataRoot: dataRoot, imageSize: imageSize) }

    public init(dataset: String, dataRoot: String?, imageSize: Int, settings: EvaluatorSettings, trainingPart: TrainingPart) {
        self.dataset = dataset; self.dataRoot = dataRoot; self.imageSize = imageSize; self.settings = settings; self.trainingPart = trainingPart
    }
}

