import Foundation
import Tensor
import NN
import Models
import Diffusion
import Data
import Checkpoint
import Metrics

/// One measured value with everything needed to label it honestly (issue 6 §4).
public struct MetricResult: Codable, Equatable, Sendable {
    /// "fid_classifier", "classifier_score", "classifier_score_std", "kid_classifier", ...
    public var name: String
    public var value: Double
    /// e.g. "FID (classifier features: DenseNet-BC pooled f, N=256, vs digits test set)".
    public var label: String
    public var featureNetwork: String
    public var samples: Int
    public var reference: String
    public var sampler: String
    public var steps: Int
    /// Network evaluations per image.
    public var nfe: Int
}

/// What an evaluation stage writes to `result.json` (and the first 64 samples to `samples.h5`).
public struct EvaluationResult: Codable, Equatable, Sendable {
    public var metrics: [MetricResult]
    public var secondsPerImage: Double
    public var modelLabel: String
}

/// Features of images through the frozen classifier: pooled f (N × C) and softmax probabilities (N × K).
public func classifierFeatures(_ net: DenseNet, images: Tensor, batch: Int) -> (pooled: [Float], probs: [Float], dim: Int, classes: Int) {
    let n = images.shape[0], per = images.count / max(n, 1)
    var pooled: [Float] = [], probs: [Float] = []
    var dim = 0, k = 0
    var s = 0
    while s < n {
        let b = min(batch, n - s)
        let x = Tensor(Array(UnsafeBufferPointer(start: images.data + s * per, count: b * per)), shape: [b] + Array(images.shape.dropFirst()))
        let out = Autograd.noGrad { net(x) }
        dim = out.pooled.shape[1]; k = out.logits.shape[1]
        pooled += out.pooled.array
        probs += Autograd.noGrad { out.logits.softmax(axis: -1) }.array
        s += b
    }
    return (pooled, probs, dim, k)
}

/// Samples N images from a stored model with the configured sampler (seeded noise; random labels when
/// conditional), then measures the configured metrics against the dataset's test split (spec §5).
public func runEvaluation(_ cfg: EvalStageConfig, modelPath: String, classifierPath: String?, classifierConfig: DenseNetConfig?,
                          reference: ImageDataset, context ctx: StageContext) throws -> EvaluationResult {
    try ctx.prepare()
    var ucfg = cfg.unet
    ucfg.dropout = 0
    let (net, grid) = try loadUNet(ucfg, from: modelPath)
    net.train(false)
    var unused = RNG(seed: 0)
    let model: Denoiser = { z, k, y in net(z, timesteps: k, labels: y, rng: &unused) }
    var rng = RNG(seed: cfg.seed &+ 41)
    let shape = [cfg.unet.imageSize, cfg.unet.imageSize, cfg.unet.inChannels]
    let clock = ContinuousClock()
    let t0 = clock.now
    var images: [Float] = []
    var nfe = 0
    var done = 0
    while done < cfg.samples {
        let b = min(cfg.batchSize, cfg.samples - done)
        let xT = Tensor.randn([b] + shape, rng: &rng)
        let labels: [Int]? = cfg.conditional ? (0..<b).map { _ in rng.int(below: cfg.unet.numClasses ?? 1) } : nil
        switch cfg.sampler {
        case "ddim":
            guard grid.steps % cfg.steps == 0 else {
                throw PipelineError("evaluation: model with T = \(grid.steps) cannot be sampled with DDIM at \(cfg.steps) steps (stride must divide T)")
            }
            let indices = try grid.samplingIndices(stride: grid.steps / cfg.steps)
            nfe = indices.count - 1
            images += ddimSample(model: model, indices: indices, xT: xT, labels: labels).array
        case "dpm_solver":
            // The official DPM-Solver examples for CIFAR-10 / cosine ImageNet-64: multistep order 3, steps uniform in
            // logSNR from the λ = −5.1 cut-off (index 1019 here); data prediction (DPM-Solver++), docs/samplers.md.
            let r = dpmSolverSample(model: model, steps: cfg.steps, order: 3, xT: xT, labels: labels, skipType: .logSNR,
                                    startIndex: dpmSolverLambdaClipStartIndex())
            nfe = r.numberOfModelEvaluations
            images += r.sample.array
        case "pndm":
            // F-PNDM as in the authors' code: `steps` steps (the Runge–Kutta warm-up makes 19 network calls for 10).
            let r = pndmSample(model: model, steps: cfg.steps, xT: xT, labels: labels)
            nfe = r.numberOfModelEvaluations
            images += r.sample.array
        default:
            throw PipelineError("evaluation: unknown sampler '\(cfg.sampler)'; available: ddim, dpm_solver, pndm")
        }
        done += b
    }
    let secondsPerImage = ((clock.now - t0) / .seconds(1)) / Double(cfg.samples)
    let samples = Tensor(images, shape: [cfg.samples] + shape)
    var ck = Checkpoint(arrays: ["samples": ArrayValue(shape: [min(64, cfg.samples)] + shape, Array(images.prefix(min(64, cfg.samples) * shape.reduce(1, *))))])
    ck.attributes = ["sampler": .string(cfg.sampler), "steps": .int(Int64(cfg.steps)), "seed": .int(Int64(bitPattern: cfg.seed))]
    try ck.save(to: ctx.directory + "/samples.h5")

    var results: [MetricResult] = []
    let ref = "\(reference.name) (\(reference.count) images)"
    func label(_ what: String) -> String { "\(what), N=\(cfg.samples), \(cfg.sampler) \(cfg.steps) steps (NFE \(nfe)), vs \(ref)" }
    let wantsClassifier = cfg.metrics.contains { $0.hasSuffix("_classifier") || $0 == "classifier_score" }
    if wantsClassifier {
        guard let path = classifierPath, let ccfg = classifierConfig else { throw PipelineError("evaluation: classifier metrics need a classifier") }
        let clf = try loadClassifier(ccfg, from: path)
        let featName = "DenseNet-BC(k=\(ccfg.growthRate), blocks \(ccfg.blockConfig)) pooled f"
        let gen = classifierFeatures(clf, images: samples, batch: cfg.batchSize)
        let refImages = Tensor(reference.images, shape: [reference.count, reference.height, reference.width, reference.channels])
        let real = classifierFeatures(clf, images: refImages, batch: cfg.batchSize)
        let genM = try FeatureMatrix(rows: cfg.samples, columns: gen.dim, values: gen.pooled, name: "generated features")
        let realM = try FeatureMatrix(rows: reference.count, columns: real.dim, values: real.pooled, name: "reference features")
        for m in cfg.metrics {
            switch m {
            case "fid_classifier":
                let s1 = try FeatureStatistics(features: genM, featureNetwork: featName, dataset: "generated", preprocessing: "[-1,1] model space")
                let s2 = try FeatureStatistics(features: realM, featureNetwork: featName, dataset: reference.name, preprocessing: "[-1,1] model space")
                let fd = try frechetDistance(s1, s2)
                results.append(MetricResult(name: m, value: fd.value, label: label("FID (classifier features: \(featName))"), featureNetwork: featName,
                                            samples: cfg.samples, reference: ref, sampler: cfg.sampler, steps: cfg.steps, nfe: nfe))
            case "classifier_score":
                let pm = try FeatureMatrix(rows: cfg.samples, columns: gen.classes, values: gen.probs, name: "class probabilities")
                let sc = try inceptionScore(probabilities: pm, splits: min(10, cfg.samples), network: .classifier(name: "DenseNet-BC"))
                results.append(MetricResult(name: m, value: sc.mean, label: label("classifier score (IS formula on our DenseNet-BC, 10 splits)"), featureNetwork: "DenseNet-BC softmax",
                                            samples: cfg.samples, reference: "none", sampler: cfg.sampler, steps: cfg.steps, nfe: nfe))
                results.append(MetricResult(name: m + "_std", value: sc.standardDeviation, label: "population std over splits of the classifier score", featureNetwork: "DenseNet-BC softmax",
                                            samples: cfg.samples, reference: "none", sampler: cfg.sampler, steps: cfg.steps, nfe: nfe))
            case "kid_classifier":
                let size = min(1000, cfg.samples, reference.count)
                let kd = try kernelInceptionDistance(genM, realM, subsets: 20, subsetSize: size, seed: cfg.seed)
                results.append(MetricResult(name: m, value: kd.mean, label: label("KID (classifier features: \(featName), 20 subsets of \(size))"), featureNetwork: featName,
                                            samples: cfg.samples, reference: ref, sampler: cfg.sampler, steps: cfg.steps, nfe: nfe))
            default: break
            }
        }
    }
    if cfg.metrics.contains("fid_inception") {
        throw PipelineError("evaluation: fid_inception needs the Inception weights, which this build cannot load yet")
    }
    let result = EvaluationResult(metrics: results, secondsPerImage: secondsPerImage, modelLabel: cfg.label)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .prettyPrinted]
    try atomicWrite(try enc.encode(result), to: ctx.directory + "/result.json")
    let journal = try Journal(path: ctx.journalPath)
    journal.log(step: 0, results.map { ($0.name, $0.value) } + [("seconds_per_image", secondsPerImage)])
    journal.sync()
    return result
}
