import Foundation
import Tensor
import NN
import Models
import Data
import Checkpoint
import Metrics
import RunModel

extension TrainingPart {
    /// The part of a training split (the even- or odd-indexed images).
    public func select(_ data: ImageDataset) throws -> ImageDataset {
        try data.subset(indices(count: data.count), name: "\(data.name)[\(rawValue) indices]")
    }
}

/// Builds the evaluator's network (initialised from `seed &+ 21`, as the classifier's).
func makeEvaluatorNetwork(_ s: EvaluatorSettings, seed: UInt64) throws -> any FeatureClassifier {
    switch s.architecture {
    case .resnet: return ResNet(s.resnet, seed: seed)
    case .densenet:
        guard let d = s.densenet else { throw PipelineError("evaluator.architecture = densenet but evaluator.densenet is not set") }
        return DenseNet(d, seed: seed)
    }
}

/// Trains the evaluator on its half of the training split with the classifier's recipe, keeping the last
/// epoch's weights (the test split is the FID reference and selects nothing). `final.h5` records the
/// architecture and network (`evaluator_settings_json`), so an evaluation loads it from the artifact alone.
public func trainEvaluator(_ cfg: EvaluatorStageConfig, train: ImageDataset, test: ImageDataset, context ctx: StageContext) throws {
    let s = cfg.settings
    let data = try cfg.trainingPart.select(train)
    let net = try makeEvaluatorNetwork(s, seed: s.seed &+ 21)
    try trainSupervised(net, seed: s.seed,
                        recipe: SupervisedRecipe(epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay,
                                                 milestones: s.milestones, cropPadding: s.cropPadding, keep: .lastEpoch),
                        train: data, test: test, configJSON: canonicalJSON(cfg),
                        extraAttributes: ["evaluator_settings_json": .string(canonicalJSON(s)), "training_images": .int(Int64(data.count)),
                                          "training_part": .string(cfg.trainingPart.rawValue)],
                        context: ctx)
}

/// The evaluator as a `FeatureExtractor` (kind "evaluator": metrics `fid_evaluator`, `kid_evaluator`, …).
public final class EvaluatorExtractor: FeatureExtractor {
    public let net: any FeatureClassifier
    public let settings: EvaluatorSettings
    public let weightsDigest: String
    public let batchSize: Int
    public var kind: String { "evaluator" }
    public var featureNetwork: String { "independent evaluator \(settings.networkLabel) pooled features" }

    init(net: any FeatureClassifier, settings: EvaluatorSettings, weightsDigest: String, batchSize: Int = 128) {
        self.net = net; self.settings = settings; self.weightsDigest = weightsDigest; self.batchSize = batchSize
    }

    /// Loads an evaluator stage's `final.h5` (frozen, evaluation mode); the network comes from the file.
    public static func load(from path: String) throws -> EvaluatorExtractor {
        let ck = try Checkpoint.load(from: path)
        let json = try ck.string("evaluator_settings_json")
        let s: EvaluatorSettings
        do { s = try JSONDecoder().decode(EvaluatorSettings.self, from: Data(json.utf8)) }
        catch { throw PipelineError("\(path): attribute 'evaluator_settings_json' does not decode: \(error)") }
        let net = try makeEvaluatorNetwork(s, seed: 0)
        try net.loadState(from: ck)
        net.train(false)
        net.setRequiresGrad(false)
        return EvaluatorExtractor(net: net, settings: s, weightsDigest: try fileSHA1(path))
    }

    public func preprocessing(height: Int, width: Int, channels: Int) -> String { "[-1,1] model space" }

    public func features(_ images: Tensor) throws -> FeatureMatrix<Float> {
        try pass(images, probabilities: false).features
    }

    /// The pooled features and the softmax of the logits p(y|x) of the same forward pass (the features are the
    /// same bits as `features`): what `score_evaluator` needs.
    public func featuresAndProbabilities(_ images: Tensor) throws -> (features: FeatureMatrix<Float>, probabilities: FeatureMatrix<Float>) {
        let r = try pass(images, probabilities: true)
        return (r.features, try FeatureMatrix(rows: images.shape[0], columns: r.classes, values: r.probabilities, name: "evaluator class probabilities"))
    }

    /// One forward pass in batches: the pooled features, and (when `probabilities`) the softmax rows and their width.
    private func pass(_ images: Tensor, probabilities: Bool) throws -> (features: FeatureMatrix<Float>, probabilities: [Float], classes: Int) {
        let n = images.shape[0], per = images.count / max(n, 1)
        var pooled: [Float] = [], probs: [Float] = []
        var dim = 0, classes = 0, s = 0
        while s < n {
            let b = min(batchSize, n - s)
            let x = Tensor(Array(UnsafeBufferPointer(start: images.data + s * per, count: b * per)), shape: [b] + Array(images.shape.dropFirst()))
            let out = Autograd.noGrad { net(x) }
            dim = out.pooled.shape[1]
            pooled += out.pooled.array
            if probabilities {
                classes = out.logits.shape[1]
                probs += Autograd.noGrad { out.logits.softmax(axis: -1) }.array
            }
            s += b
        }
        return (try FeatureMatrix(rows: n, columns: dim, values: pooled, name: "evaluator features"), probs, classes)
    }
}

/// Appended to the labels of classifier-feature metrics measured from now on (committed exports keep theirs).
public let sameNetworkCaveat = "same network as the distillation losses: biased toward feature-matching methods"

/// The evaluator metrics of one evaluation: features of the samples and of the reference set (cached in
/// `<evaluator stage>/reference-stats`, like the classifier's), then
/// - `fid_evaluator`: the Fréchet distance, labelled "FID (independent evaluator <arch>, N=…, vs <reference>)";
/// - `kid_evaluator` and `kid_evaluator_std`: KID over 20 subsets of min(1000, N, reference) and the population
///   std of the per-subset values (the spread a single evaluation's KID carries);
/// - `precision_evaluator`, `recall_evaluator`: Kynkäänniemi et al. 2019 with k = 3;
/// - `score_evaluator` and `score_evaluator_std`: the Inception Score formula (spec §5 "IS", Metrics/InceptionScore.swift)
///   on the evaluator's softmax over min(10, N) splits, mean and population std — the IS-style column of Tables 1
///   and 2 on a network no loss sees (`classifier_score` applies it to the distillation classifier's softmax).
/// `describe` appends the sampler part of the label; `result` builds a `MetricResult`.
func evaluatorResults(_ metrics: [EvaluatorMetric], samples: Tensor, reference refSet: ReferenceSet, evaluatorPath: String, seed: UInt64,
                      describe: (String) -> String,
                      result: (String, Double, String, String, String) -> MetricResult) throws -> [MetricResult] {
    let ev = try EvaluatorExtractor.load(from: evaluatorPath)
    let net = ev.featureNetwork, arch = ev.settings.networkLabel
    let n = samples.shape[0]
    // One forward pass; the softmax only when the score is asked for (the features are the same bits either way).
    let (gen, probabilities) = metrics.contains(.score) ? try ev.featuresAndProbabilities(samples) : (try ev.features(samples), nil)
    let cache = ReferenceStatisticsCache(directory: (evaluatorPath as NSString).deletingLastPathComponent + "/reference-stats")
    let refEntry = try cache.statistics(for: refSet, extractor: ev, keepFeatures: true)
    let prep = ev.preprocessing(height: samples.shape[1], width: samples.shape[2], channels: samples.shape[3])
    let ref = refSet.label
    var out: [MetricResult] = []
    func realFeatures() throws -> FeatureMatrix<Float> {
        guard let f = refEntry.features else { throw PipelineError("evaluation: reference features missing from \(refEntry.path)") }
        return f
    }
    for m in metrics {
        switch m {
        case .fid:
            let s1 = try FeatureStatistics(features: gen, featureNetwork: net, dataset: "generated", preprocessing: prep)
            let fd = try frechetDistance(s1, refEntry.statistics)
            out.append(result(m.rawValue, fd.value, describe("FID (independent evaluator \(arch), N=\(n), vs \(ref))"), net, ref))
        case .kid:
            let real = try realFeatures()
            let size = min(1000, n, real.rows)
            let kd = try kernelInceptionDistance(gen, real, subsets: 20, subsetSize: size, seed: seed)
            out.append(result(m.rawValue, kd.mean, describe("KID (independent evaluator \(arch), 20 subsets of \(size), N=\(n), vs \(ref))"), net, ref))
            out.append(result(m.rawValue + "_std", kd.standardDeviation, "population std over the 20 KID subsets of kid_evaluator", net, ref))
        case .precision, .recall:
            let pr = try precisionRecall(real: try realFeatures(), generated: gen, k: 3)
            let value = m == .precision ? pr.precision : pr.recall
            let what = m == .precision ? "precision" : "recall"
            out.append(result(m.rawValue, value, describe("\(what) (Kynkäänniemi et al. 2019, k = 3, independent evaluator \(arch), N=\(n), vs \(ref))"), net, ref))
        case .score:
            guard let probabilities else { throw PipelineError("score_evaluator: the evaluator's class probabilities were not computed") }
            let sc = try inceptionScore(probabilities: probabilities, splits: min(10, n), network: .classifier(name: "independent evaluator \(arch)"))
            out.append(result(m.rawValue, sc.mean, describe("IS-style score (the Inception Score formula on the independent evaluator \(arch)'s softmax, \(min(10, n)) splits, N=\(n); no reference set)"), "independent evaluator \(arch) softmax", "none"))
            out.append(result(m.rawValue + "_std", sc.standardDeviation, "population std over splits of score_evaluator", "independent evaluator \(arch) softmax", "none"))
        }
    }
    return out
}
