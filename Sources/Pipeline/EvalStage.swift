import Foundation
import Tensor
import NN
import Models
import Diffusion
import Data
import Checkpoint
import Metrics
import RunModel

/// What an evaluation stage writes to `result.json` (and the first 64 samples to `samples.h5`).
public struct EvaluationResult: Codable, Equatable, Sendable {
    public var metrics: [MetricResult]
    /// Sampling wall time over N (no metric work).
    public var secondsPerImage: Double
    public var modelLabel: String
    /// Wall seconds per phase: "sampling", "classifier_metrics", "inception_features", "inception_reference"
    /// (computing, or reading the cached entry), "inception_fid", "total"; "inception_reference_cached" is 1
    /// when the reference came from the cache. Absent in results written before it existed.
    public var timings: [String: Double]?

    public init(metrics: [MetricResult], secondsPerImage: Double, modelLabel: String, timings: [String: Double]? = nil) {
        self.metrics = metrics; self.secondsPerImage = secondsPerImage; self.modelLabel = modelLabel; self.timings = timings
    }
}

/// What an evaluation takes from outside its configuration: where reference statistics are cached and how
/// the FID Inception is obtained. `.standard` loads the installed weights; tests inject a small extractor.
public struct EvaluationEnvironment {
    /// Inception reference statistics (default `$RDD_FID_STATS_DIR` or ~/.cache/rdd/fid-stats).
    public var inceptionCache: ReferenceStatisticsCache
    /// Called once, before sampling, when `fid_inception` is requested (so a missing weight file fails fast).
    public var loadInception: () throws -> FeatureExtractor
    /// Classifier reference statistics; nil = `<classifier stage directory>/reference-stats`, so they are shared
    /// by every evaluation and sweep that uses that classifier and removed with it.
    public var classifierCache: ReferenceStatisticsCache?

    public init(inceptionCache: ReferenceStatisticsCache, loadInception: @escaping () throws -> FeatureExtractor,
                classifierCache: ReferenceStatisticsCache? = nil) {
        self.inceptionCache = inceptionCache; self.loadInception = loadInception; self.classifierCache = classifierCache
    }

    public static var standard: EvaluationEnvironment {
        EvaluationEnvironment(inceptionCache: ReferenceStatisticsCache(directory: ReferenceStatisticsCache.defaultInceptionDirectory),
                              loadInception: { try InceptionExtractor.load() })
    }
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
/// conditional). Returns the samples (NHWC, [−1, 1]), the network evaluations per image and the wall time.
///
/// Resumable (`context` given): sampling can outlast a sitting (DDIM at 1024 steps for N = 2000 takes hours on
/// two cores), so after a batch, once `EvalSamplingCheckpoint.interval` seconds have passed since the last
/// save, the samples so far, the noise RNG's state and the sampling seconds are written atomically to
/// `sampling.h5` in the stage directory. A restarted stage continues from there; the RNG state is the only
/// state carried between batches, so the samples are bit-identical to an uninterrupted run (tested). The
/// file is removed when sampling completes. `context.stopAfterSteps` / `stopRequested` count batches.
public func sampleEvaluationImages(_ cfg: EvalStageConfig, modelPath: String, context ctx: StageContext? = nil) throws -> (samples: Tensor, nfe: Int, seconds: Double) {
    var ucfg = cfg.unet
    ucfg.dropout = 0
    // The sampler from the registry (docs/samplers.md); its step count checked against the model's grid before any work.
    let sampler = cfg.sampler.sampler
    let (net, grid) = try loadUNet(ucfg, from: modelPath)
    if let problem = sampler.stepsProblem(steps: cfg.steps, modelSteps: grid.steps) {
        throw PipelineError("evaluation: \(modelPath) (T = \(grid.steps)) cannot be sampled with \(cfg.sampler.displayName) at \(cfg.steps) steps: \(problem)")
    }
    net.train(false)
    var unused = RNG(seed: 0)
    let model: Denoiser = { z, k, y in net(z, timesteps: k, labels: y, rng: &unused) }
    let shape = [cfg.unet.imageSize, cfg.unet.imageSize, cfg.unet.inChannels]
    var state = EvalSamplingCheckpoint(rng: RNG(seed: cfg.seed &+ 41))
    let partial = ctx.map { $0.directory + "/" + EvalSamplingCheckpoint.fileName }
    let fingerprint = EvalSamplingCheckpoint.fingerprint(cfg, modelPath: modelPath)
    if let partial, FileManager.default.fileExists(atPath: partial) {
        state = try EvalSamplingCheckpoint.load(partial, fingerprint: fingerprint, imageShape: shape)
    }
    let clock = ContinuousClock()
    let t0 = clock.now
    var lastSave = t0
    var batchesThisCall = 0
    func seconds() -> Double { state.seconds + (clock.now - t0) / .seconds(1) }
    while state.done < cfg.samples {
        let b = min(cfg.batchSize, cfg.samples - state.done)
        let xT = Tensor.randn([b] + shape, rng: &state.rng)
        let labels: [Int]? = cfg.conditional ? (0..<b).map { _ in state.rng.int(below: cfg.unet.numClasses ?? 1) } : nil
        let r = try sampler.sample(model: model, steps: cfg.steps, grid: grid, xT: xT, labels: labels)
        state.nfe = r.numberOfModelEvaluations
        state.images += r.sample.array
        state.done += b
        batchesThisCall += 1
        guard let ctx, let partial, state.done < cfg.samples else { continue }
        ctx.progress?(state.done, cfg.samples, [])
        let stop = (ctx.stopAfterSteps.map { batchesThisCall >= $0 } ?? false) || (ctx.stopRequested?() ?? false)
        if stop || (clock.now - lastSave) / .seconds(1) >= EvalSamplingCheckpoint.interval {
            var saved = state
            saved.seconds = seconds()
            try saved.save(partial, fingerprint: fingerprint, imageShape: shape)
            lastSave = clock.now
        }
        if let d = ctx.dieAfterSteps, batchesThisCall >= d { exit(137) }
        if stop { throw StageInterrupted(step: state.done) }
    }
    if let partial { try? FileManager.default.removeItem(atPath: partial) }
    return (Tensor(state.images, shape: [cfg.samples] + shape), state.nfe, seconds())
}

/// The state of an evaluation's sampling between batches (see `sampleEvaluationImages`).
struct EvalSamplingCheckpoint {
    static let fileName = "sampling.h5"
    /// Seconds between saves: sampling that finishes sooner never writes the file.
    nonisolated(unsafe) static var interval: Double = 120
    var rng: RNG
    var images: [Float] = []
    var done = 0
    var nfe = 0
    var seconds = 0.0

    /// What must match for saved samples to be continued: everything that decides the images.
    static func fingerprint(_ cfg: EvalStageConfig, modelPath: String) -> String {
        let size = (try? FileManager.default.attributesOfItem(atPath: modelPath)[.size] as? Int) ?? -1
        return "\(cfg.sampler) \(cfg.steps) steps, N=\(cfg.samples), batch \(cfg.batchSize), seed \(cfg.seed), conditional \(cfg.conditional), "
            + "\(cfg.unet.imageSize)×\(cfg.unet.imageSize)×\(cfg.unet.inChannels), model \((modelPath as NSString).lastPathComponent) (\(size) bytes)"
    }

    func save(_ path: String, fingerprint: String, imageShape: [Int]) throws {
        var ck = Checkpoint(arrays: ["samples": ArrayValue(shape: [done] + imageShape, images), "rng": ArrayValue(uint64Words: rng.stateWords)])
        ck.attributes = ["fingerprint": .string(fingerprint), "done": .int(Int64(done)), "nfe": .int(Int64(nfe)), "seconds": .double(seconds)]
        try ck.save(to: path)
    }

    static func load(_ path: String, fingerprint: String, imageShape: [Int]) throws -> EvalSamplingCheckpoint {
        let ck = try Checkpoint.load(from: path)
        let saved = try ck.string("fingerprint")
        guard saved == fingerprint else {
            throw PipelineError("\(path): field 'fingerprint' is '\(saved)', but this evaluation is '\(fingerprint)': the partial samples belong to another configuration; remove the file to sample from the start")
        }
        var s = EvalSamplingCheckpoint(rng: RNG(stateWords: try ck.array("rng", dtype: .int64, shape: [5]).uint64Words!))
        s.done = Int(try ck.int("done"))
        s.nfe = Int(try ck.int("nfe"))
        s.seconds = try ck.double("seconds")
        s.images = try ck.array("samples", dtype: .float32, shape: [s.done] + imageShape).float32Values!
        return s
    }
}

/// The evaluation stage (spec §5, issue 6 §4): samples N images (`sampleEvaluationImages`), then measures the
/// configured metrics against `reference` (`evaluationReference`: the test split, or the validation set of
/// a pilot, named by `referenceSplit`):
/// - `fid_classifier`, `classifier_score` (± population std over 10 splits), `kid_classifier` on the classifier's
///   pooled features and softmax;
/// - `fid_inception`: pool3 features of the FID Inception-v3 (grey → 3 channels, bilinear 299×299, TF scaling;
///   docs/inception.md) against the reference set's statistics, labelled
///   "FID (Inception pool3, N=…, vs <dataset> <split> split (<n> images))".
/// Reference statistics come from `ReferenceStatisticsCache` (computed once per key). Every metric carries its
/// feature network, N, reference, sampler, steps and NFE; `result.json` also has the phase timings.
public func runEvaluation(_ cfg: EvalStageConfig, modelPath: String, classifierPath: String?, classifierConfig: DenseNetConfig?,
                          evaluatorPath: String? = nil, reference: ImageDataset, referenceSplit: String = "test", environment env: EvaluationEnvironment = .standard,
                          context ctx: StageContext) throws -> EvaluationResult {
    try ctx.prepare()
    let clock = ContinuousClock(), start = clock.now
    func since(_ t: ContinuousClock.Instant) -> Double { (clock.now - t) / .seconds(1) }
    // Load the Inception first: a missing weight file must fail before minutes of sampling.
    let inception: FeatureExtractor? = cfg.metrics.contains(.fidInception) ? try env.loadInception() : nil
    let evaluatorMetrics = cfg.metrics.compactMap { EvaluatorMetric(rawValue: $0.rawValue) }
    if !evaluatorMetrics.isEmpty && evaluatorPath == nil {
        throw PipelineError("evaluation: \(evaluatorMetrics.map(\.rawValue).joined(separator: ", ")) need the evaluator stage's final.h5 (input 'evaluator')")
    }

    let (samples, nfe, samplingSeconds) = try sampleEvaluationImages(cfg, modelPath: modelPath, context: ctx)
    ctx.progress?(cfg.samples, cfg.samples, [])
    var timings: [String: Double] = ["sampling": samplingSeconds]
    let secondsPerImage = samplingSeconds / Double(cfg.samples)
    let per = samples.count / cfg.samples, keep = min(64, cfg.samples)
    var ck = Checkpoint(arrays: ["samples": ArrayValue(shape: [keep] + Array(samples.shape.dropFirst()), Array(samples.array.prefix(keep * per)))])
    ck.attributes = ["sampler": .string(cfg.sampler.rawValue), "steps": .int(Int64(cfg.steps)), "seed": .int(Int64(bitPattern: cfg.seed))]
    try ck.save(to: ctx.directory + "/samples.h5")

    var results: [MetricResult] = []
    let refSet = ReferenceSet(dataset: cfg.dataset, split: referenceSplit, images: reference)
    let ref = "\(reference.name) (\(reference.count) images)"
    func label(_ what: String) -> String { "\(what), N=\(cfg.samples), \(cfg.sampler) \(cfg.steps) steps (NFE \(nfe)), vs \(ref)" }
    func result(_ name: String, _ value: Double, _ label: String, _ network: String, _ reference: String) -> MetricResult {
        MetricResult(name: name, value: value, label: label, featureNetwork: network, samples: cfg.samples, reference: reference,
                     sampler: cfg.sampler.rawValue, steps: cfg.steps, nfe: nfe)
    }
    let wantsClassifier = cfg.metrics.contains(where: \.usesClassifier)
    if wantsClassifier {
        let t0 = clock.now
        ctx.phase?("classifier metrics")
        guard let path = classifierPath, let ccfg = classifierConfig else { throw PipelineError("evaluation: classifier metrics need a classifier") }
        let clf = try ClassifierExtractor.load(ccfg, from: path)
        let featName = clf.featureNetwork
        let gen = try clf.featuresAndProbabilities(samples)
        let cache = env.classifierCache ?? ReferenceStatisticsCache(directory: (path as NSString).deletingLastPathComponent + "/reference-stats")
        let refEntry = try cache.statistics(for: refSet, extractor: clf, keepFeatures: true)
        let prep = clf.preprocessing(height: reference.height, width: reference.width, channels: reference.channels)
        for m in cfg.metrics {
            switch m {
            case .fidClassifier:
                let s1 = try FeatureStatistics(features: gen.features, featureNetwork: featName, dataset: "generated", preprocessing: prep)
                let fd = try frechetDistance(s1, refEntry.statistics)
                results.append(result(m.rawValue, fd.value, label("FID (classifier features: \(featName); \(sameNetworkCaveat))"), featName, ref))
            case .classifierScore:
                let sc = try inceptionScore(probabilities: gen.probabilities, splits: min(10, cfg.samples), network: .classifier(name: "DenseNet-BC"))
                results.append(result(m.rawValue, sc.mean, label("classifier score (IS formula on our DenseNet-BC, 10 splits)"), "DenseNet-BC softmax", "none"))
                results.append(result(m.rawValue + "_std", sc.standardDeviation, "population std over splits of the classifier score", "DenseNet-BC softmax", "none"))
            case .kidClassifier:
                guard let realM = refEntry.features else { throw PipelineError("evaluation: reference features missing from \(refEntry.path)") }
                let size = min(1000, cfg.samples, reference.count)
                let kd = try kernelInceptionDistance(gen.features, realM, subsets: 20, subsetSize: size, seed: cfg.seed)
                results.append(result(m.rawValue, kd.mean, label("KID (classifier features: \(featName), 20 subsets of \(size); \(sameNetworkCaveat))"), featName, ref))
            default: break
            }
        }
        timings["classifier_metrics"] = since(t0)
    }
    if let evaluatorPath, !evaluatorMetrics.isEmpty {
        let t0 = clock.now
        ctx.phase?("evaluator metrics")
        results += try evaluatorResults(evaluatorMetrics, samples: samples, reference: refSet, evaluatorPath: evaluatorPath,
                                        seed: cfg.seed, describe: { "\($0), \(cfg.sampler) \(cfg.steps) steps (NFE \(nfe))" }, result: result)
        timings["evaluator_metrics"] = since(t0)
    }
    if let inception {
        var t0 = clock.now
        ctx.phase?("Inception features of \(cfg.samples) samples")
        let f = try inception.features(samples)
        timings["inception_features"] = since(t0)
        t0 = clock.now
        ctx.phase?("Inception reference statistics")
        let refEntry = try env.inceptionCache.statistics(for: refSet, extractor: inception)
        timings["inception_reference"] = refEntry.cached ? since(t0) : refEntry.computeSeconds
        timings["inception_reference_cached"] = refEntry.cached ? 1 : 0
        t0 = clock.now
        let prep = inception.preprocessing(height: samples.shape[1], width: samples.shape[2], channels: samples.shape[3])
        let s1 = try FeatureStatistics(features: f, featureNetwork: inception.featureNetwork, dataset: "generated", preprocessing: prep)
        let fd = try frechetDistance(s1, refEntry.statistics)
        timings["inception_fid"] = since(t0)
        results.append(result("fid_inception", fd.value,
                              "FID (Inception pool3, N=\(cfg.samples), vs \(refSet.label)), \(cfg.sampler) \(cfg.steps) steps (NFE \(nfe))",
                              inception.featureNetwork, refSet.label))
    }
    timings["total"] = since(start)
    let out = EvaluationResult(metrics: results, secondsPerImage: secondsPerImage, modelLabel: cfg.label, timings: timings)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .prettyPrinted]
    try atomicWrite(try enc.encode(out), to: ctx.directory + "/result.json")
    let journal = try Journal(path: ctx.journalPath)
    journal.log(step: 0, results.map { ($0.name, $0.value) } + [(SeriesName.secondsPerImage, secondsPerImage)])
    journal.sync()
    return out
}
