import XCTest
import Foundation
import Tensor
import Models
import Data
import Checkpoint
import Metrics
import Inception
import Pipeline
import RunModel

/// A cheap stand-in feature network: ReLU(x·W) with W fixed by `seed` (D = 12). Counts the images it sees.
final class ProjectionExtractor: FeatureExtractor {
    let kind: String
    let weightsDigest: String
    let seed: UInt64
    var imagesSeen = 0
    var featureNetwork: String { "random projection D=12 (test, seed \(seed))" }
    init(kind: String = "inception", seed: UInt64 = 1) { self.kind = kind; self.seed = seed; weightsDigest = "test-\(seed)" }
    func preprocessing(height: Int, width: Int, channels: Int) -> String { "test \(height)x\(width)x\(channels)" }
    func features(_ images: Tensor) throws -> FeatureMatrix<Float> {
        let n = images.shape[0], d = images.count / n, k = 12
        var rng = RNG(seed: seed)
        let w = rng.normals(d * k)
        let x = images.array
        var out = [Float](repeating: 0, count: n * k)
        for i in 0..<n { for j in 0..<k {
            var s: Float = 0
            for t in 0..<d { s += x[i * d + t] * w[t * k + j] }
            out[i * k + j] = max(0, s / Float(d).squareRoot()) + 0.01 * Float(j)
        } }
        imagesSeen += n
        return try FeatureMatrix(rows: n, columns: k, values: out)
    }
}

final class FIDEvaluationTests: XCTestCase {
    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-fid-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func digitsTest(_ n: Int? = nil) throws -> ReferenceSet {
        let d = try ImageDataset.digits(.test)
        return ReferenceSet(dataset: "digits", split: "test", images: n.map { try! d.first($0) } ?? d)
    }

    /// An untrained tiny U-Net saved as a 1-step student, and the evaluation configuration sampling it.
    func untrainedModel(_ dir: String, samples: Int, metrics: [EvaluationMetric]) throws -> (String, EvalStageConfig) {
        let c = try ExperimentConfig.defaults(preset: "tiny")
        let path = dir + "/model.h5"
        try Checkpoint(arrays: UNet(c.unet, seed: 0).stateArrays(), attributes: ["T": .int(1), "time_scale": .int(1024)]).save(to: path)
        let cfg = EvalStageConfig(dataset: "digits", dataRoot: nil, imageSize: 8, conditional: false, unet: c.unet, sampler: .ddim, steps: 1,
                                  samples: samples, metrics: metrics, batchSize: samples, seed: 3, label: "untrained")
        return (path, cfg)
    }

    // MARK: the reference-statistics cache

    /// Two evaluations asking for the same missing entry at once (two workers starting a sweep): one computes, the
    /// other waits on the entry's lock and reads the stored file.
    func testConcurrentRequestsComputeTheReferenceOnce() throws {
        let cache = ReferenceStatisticsCache(directory: tempDir("concurrent"))
        let ref = try digitsTest()
        let extractors = [ProjectionExtractor(), ProjectionExtractor()]
        nonisolated(unsafe) var entries: [ReferenceStatisticsCache.Entry?] = [nil, nil]
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let e = try? cache.statistics(for: ref, extractor: extractors[i])
            lock.lock(); entries[i] = e; lock.unlock()
        }
        XCTAssertEqual(extractors.map(\.imagesSeen).sorted(), [0, 252], "the reference went through a network once")
        let a = try XCTUnwrap(entries[0]), b = try XCTUnwrap(entries[1])
        XCTAssertEqual([a.cached, b.cached].sorted { !$0 && $1 }, [false, true])
        XCTAssertEqual(a.statistics, b.statistics)
    }

    func testReferenceCacheComputesOnceAndReuses() throws {
        let cache = ReferenceStatisticsCache(directory: tempDir("cache"))
        let ref = try digitsTest()
        let e = ProjectionExtractor()
        let a = try cache.statistics(for: ref, extractor: e)
        XCTAssertFalse(a.cached)
        XCTAssertEqual(e.imagesSeen, 252)
        let b = try cache.statistics(for: ref, extractor: e)
        XCTAssertTrue(b.cached)
        XCTAssertEqual(e.imagesSeen, 252, "the second request reads the file, the network is not run again")
        XCTAssertEqual(a.statistics, b.statistics, "bit-identical μ, Σ, N and labels")
        XCTAssertEqual(b.statistics.count, 252)
        XCTAssertEqual(b.statistics.dataset, "digits test split (252 images)")
        // The file is the project's checkpoint format with the labels as attributes, and nothing else is left behind
        // but its (empty) lock file.
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory).filter { !$0.hasSuffix(".h5.lock") }
        XCTAssertEqual(files.count, 1, "\(files)")
        XCTAssertTrue(files[0].hasPrefix("digits-test-inception-n252-") && files[0].hasSuffix(".h5"), files[0])
        let ck = try Checkpoint.load(from: a.path)
        XCTAssertEqual(try ck.string("split"), "test")
        XCTAssertEqual(try ck.string("weights_digest"), "test-1")
        XCTAssertEqual(try ck.string("preprocessing"), "test 8x8x1")
        XCTAssertEqual(try ck.int("count"), 252)
        XCTAssertEqual(try ck.array("covariance").shape, [12, 12])
        XCTAssertNil(ck.arrays["features"], "features are stored only when asked for")
        // Asking for the features too recomputes once and stores them.
        let c = try cache.statistics(for: ref, extractor: e, keepFeatures: true)
        XCTAssertFalse(c.cached)
        XCTAssertEqual(c.features?.rows, 252)
        XCTAssertTrue(try cache.statistics(for: ref, extractor: e, keepFeatures: true).cached)
    }

    func testKeyChangesWithEverythingThatChangesTheNumbers() throws {
        let ref = try digitsTest()
        let base = ReferenceKey(reference: ref, extractor: ProjectionExtractor())
        var names = Set([base.fileName])
        // Other weights, another network kind, fewer images, other pixels, other split label.
        names.insert(ReferenceKey(reference: ref, extractor: ProjectionExtractor(seed: 2)).fileName)
        names.insert(ReferenceKey(reference: ref, extractor: ProjectionExtractor(kind: "classifier")).fileName)
        names.insert(ReferenceKey(reference: try digitsTest(100), extractor: ProjectionExtractor()).fileName)
        let padded = ReferenceSet(dataset: "digits", split: "test", images: try ref.images.padded(to: 10))
        names.insert(ReferenceKey(reference: padded, extractor: ProjectionExtractor()).fileName)
        var flipped = ref.images.images
        flipped[0] = -flipped[0] - 0.5
        let other = ReferenceSet(dataset: "digits", split: "test", images: try ImageDataset(name: ref.images.name, source: "test", height: 8, width: 8, channels: 1,
                                                                                             classCount: 10, images: flipped, labels: ref.images.labels))
        names.insert(ReferenceKey(reference: other, extractor: ProjectionExtractor()).fileName)
        names.insert(ReferenceKey(reference: ReferenceSet(dataset: "digits", split: "train", images: ref.images), extractor: ProjectionExtractor()).fileName)
        XCTAssertEqual(names.count, 7, "every change gives another cache file: \(names.sorted())")
        XCTAssertTrue(base.json.contains("\"codeVersion\":\"\(CodeVersion.string)\""), base.json)
    }

    func testCacheRefusesAFileWithAnotherKey() throws {
        let cache = ReferenceStatisticsCache(directory: tempDir("refuse"))
        let ref = try digitsTest(), small = try digitsTest(60)
        let a = try cache.statistics(for: ref, extractor: ProjectionExtractor())
        // Put a's file where another key's entry would be: it must be refused, not used.
        let other = ReferenceKey(reference: small, extractor: ProjectionExtractor())
        try FileManager.default.copyItem(atPath: a.path, toPath: cache.path(for: other))
        XCTAssertThrowsError(try cache.statistics(for: small, extractor: ProjectionExtractor())) { e in
            XCTAssertTrue("\(e)".contains("not the requested") && "\(e)".contains("\"count\":252") && "\(e)".contains("\"count\":60"), "\(e)")
        }
    }

    // MARK: fid_inception in the evaluation stage

    func testEvaluationMeasuresInceptionFIDAgainstCachedReference() throws {
        let dir = tempDir("eval")
        let (model, cfg) = try untrainedModel(dir, samples: 16, metrics: [.fidInception])
        let e = ProjectionExtractor()
        let env = EvaluationEnvironment(inceptionCache: ReferenceStatisticsCache(directory: dir + "/stats"), loadInception: { e })
        let ref = try digitsTest()
        // The live display learns when sampling is complete and which metric phase runs after it.
        var events: [String] = []
        var ctxA = StageContext(directory: dir + "/a") { step, total, _ in if step == total { events.append("sampled \(step)") } }
        ctxA.phase = { events.append($0) }
        let r1 = try runEvaluation(cfg, modelPath: model, classifierPath: nil, classifierConfig: nil, reference: ref.images,
                                   environment: env, context: ctxA)
        XCTAssertEqual(events, ["sampled 16", "Inception features of 16 samples", "Inception reference statistics"])
        XCTAssertEqual(r1.metrics.map(\.name), ["fid_inception"])
        let m = r1.metrics[0]
        XCTAssertEqual(m.label, "FID (Inception pool3, N=16, vs digits test split (252 images)), ddim 1 steps (NFE 1)")
        XCTAssertEqual(m.featureNetwork, e.featureNetwork)
        XCTAssertEqual(m.reference, "digits test split (252 images)")
        XCTAssertEqual(m.samples, 16)
        XCTAssertEqual(m.nfe, 1)
        XCTAssertEqual(r1.timings?["inception_reference_cached"], 0)
        for k in ["sampling", "inception_features", "inception_reference", "inception_fid", "total"] { XCTAssertNotNil(r1.timings?[k], k) }
        // The same number from the stored samples and the reference images, computed here directly.
        let s = try Checkpoint.load(from: dir + "/a/samples.h5").array("samples")
        XCTAssertEqual(s.shape, [16, 8, 8, 1])
        let f = ProjectionExtractor()
        let gen = try FeatureStatistics(features: try f.features(Tensor(s.float32Values!, shape: s.shape)), featureNetwork: f.featureNetwork, dataset: "g", preprocessing: "p")
        let real = try FeatureStatistics(features: try f.features(ref.tensor), featureNetwork: f.featureNetwork, dataset: "r", preprocessing: "p")
        XCTAssertEqual(m.value, try frechetDistance(gen, real).value, accuracy: 1e-9 * max(1, m.value))
        // A second evaluation reads the reference from the cache and gives the same value.
        let seen = e.imagesSeen
        let r2 = try runEvaluation(cfg, modelPath: model, classifierPath: nil, classifierConfig: nil, reference: ref.images,
                                   environment: env, context: StageContext(directory: dir + "/b"))
        XCTAssertEqual(r2.timings?["inception_reference_cached"], 1)
        XCTAssertEqual(e.imagesSeen - seen, 16, "only the samples went through the network")
        XCTAssertEqual(r2.metrics, r1.metrics)
    }

    func testMissingInceptionWeightsFailBeforeSamplingAndSayHowToInstall() throws {
        let dir = tempDir("missing")
        let (model, cfg) = try untrainedModel(dir, samples: 8, metrics: [.fidInception])
        let env = EvaluationEnvironment(inceptionCache: ReferenceStatisticsCache(directory: dir + "/stats"),
                                        loadInception: { try InceptionExtractor.load(path: dir + "/no-such-inception.h5") })
        XCTAssertThrowsError(try runEvaluation(cfg, modelPath: model, classifierPath: nil, classifierConfig: nil, reference: try digitsTest().images,
                                               environment: env, context: StageContext(directory: dir + "/e"))) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(dir + "/no-such-inception.h5"), text)
            XCTAssertTrue(text.contains("rdd-setup inception"), text)
            XCTAssertTrue(text.contains("fid_inception"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/e/samples.h5"), "failed before sampling")
    }

    /// A reference at another resolution is preprocessed differently: the FID is refused, not computed.
    func testReferenceOfAnotherGeometryIsRefused() throws {
        let dir = tempDir("geometry")
        let (model, cfg) = try untrainedModel(dir, samples: 8, metrics: [.fidInception])
        let env = EvaluationEnvironment(inceptionCache: ReferenceStatisticsCache(directory: dir + "/stats"), loadInception: { ProjectionExtractor() })
        XCTAssertThrowsError(try runEvaluation(cfg, modelPath: model, classifierPath: nil, classifierConfig: nil,
                                               reference: try ImageDataset.digits(.test).padded(to: 10), environment: env,
                                               context: StageContext(directory: dir + "/e"))) { e in
            XCTAssertTrue("\(e)".contains("preprocessing") && "\(e)".contains("test 8x8x1") && "\(e)".contains("test 10x10x1"), "\(e)")
        }
    }

    func testOldResultFilesWithoutTimingsStillDecode() throws {
        let old = #"{"metrics": [], "secondsPerImage": 0.5, "modelLabel": "rdd"}"#
        let r = try JSONDecoder().decode(EvaluationResult.self, from: Data(old.utf8))
        XCTAssertNil(r.timings)
        XCTAssertEqual(r.secondsPerImage, 0.5)
    }

    // MARK: the real Inception architecture (random weights in CI, the installed weights when present)

    /// InceptionV3 with He-initialised random weights (CI has no converted weights).
    static func randomInception() -> InceptionFID {
        let net = InceptionV3()
        var rng = RNG(seed: 5)
        for (_, layer) in net.convLayers {
            let fan = Float(layer.weight.count / layer.cout)
            let w = rng.normals(layer.weight.count)
            for i in 0..<w.count { layer.weight.data[i] = w[i] * (2 / fan).squareRoot() }
            for c in 0..<layer.cout { layer.beta.data[c] = 0.01 * Float(c % 7) }
        }
        net.prepare()
        return InceptionFID(network: net, weightsPath: "random", weightsDigest: "random-seed-5")
    }

    func testInceptionExtractorGreyToRGBAndEvaluationWithRandomWeights() throws {
        let inc = InceptionExtractor(Self.randomInception(), batchSize: 2)
        let grey = Array(try ImageDataset.digits(.test).images.prefix(2 * 64))
        let g = Tensor(grey, shape: [2, 8, 8, 1])
        let rgb = Tensor(grey.flatMap { [$0, $0, $0] }, shape: [2, 8, 8, 3])
        let fg = try inc.features(g), fr = try inc.features(rgb)
        XCTAssertEqual(fg.columns, 2048)
        XCTAssertEqual(fg.values, fr.values, "a grey image is its channel repeated 3 times")
        XCTAssertEqual(fg.values, try inc.inception.features(g, range: .minusOneOne, normalization: .tensorflow).array, "[-1,1] model space, TF scaling")
        XCTAssertGreaterThan(fg.values.filter { $0 > 0 }.count, 100, "random weights give non-trivial features")
        XCTAssertTrue(inc.preprocessing(height: 8, width: 8, channels: 1).contains("bilinear 299x299"))
        XCTAssertTrue(inc.preprocessing(height: 8, width: 8, channels: 1).contains("grey repeated to 3 channels"))
        XCTAssertNotEqual(inc.preprocessing(height: 8, width: 8, channels: 1), inc.preprocessing(height: 32, width: 32, channels: 1))
        // The evaluation stage end to end with this network (4 samples vs 6 reference images).
        let dir = tempDir("random-inception")
        let (model, cfg) = try untrainedModel(dir, samples: 4, metrics: [.fidInception])
        let env = EvaluationEnvironment(inceptionCache: ReferenceStatisticsCache(directory: dir + "/stats"), loadInception: { inc })
        let r = try runEvaluation(cfg, modelPath: model, classifierPath: nil, classifierConfig: nil, reference: try digitsTest(6).images,
                                  environment: env, context: StageContext(directory: dir + "/e"))
        XCTAssertEqual(r.metrics.count, 1)
        XCTAssertTrue(r.metrics[0].value.isFinite && r.metrics[0].value > 0, "\(r.metrics[0].value)")
        XCTAssertTrue(r.metrics[0].featureNetwork.contains("Inception-v3 pool3") && r.metrics[0].featureNetwork.contains("random-seed"))
    }

    func testInstalledInceptionFloorIsBelowNoise() throws {
        guard InceptionExtractor.weightsInstalled else {
            throw XCTSkip("FID Inception weights not installed at \(InceptionFID.defaultWeightsPath); the real-weights floor check did not run.\n"
                          + InceptionError.installInstructions)
        }
        let inc = try InceptionExtractor.load()
        let cache = ReferenceStatisticsCache(directory: tempDir("inception-floor"))
        let ref = try digitsTest(32)
        let floor = try dataFloor(train: try ImageDataset.digits(.train), reference: ref, samples: 16, repeats: 2, seed: 0, extractor: inc, cache: cache)
        var rng = RNG(seed: 9)
        let noise = try FeatureStatistics(features: try inc.features(Tensor.uniform([16, 8, 8, 1], -1, 1, rng: &rng)), featureNetwork: inc.featureNetwork,
                                          dataset: "noise", preprocessing: inc.preprocessing(height: 8, width: 8, channels: 1))
        let noiseFID = try frechetDistance(noise, try cache.statistics(for: ref, extractor: inc).statistics).value
        print("FIDEvaluationTests: Inception floor digits N=16 vs 32 test images: \(floor.values); uniform noise: \(noiseFID)")
        XCTAssertEqual(floor.values.count, 2)
        XCTAssertLessThan(floor.values.max()!, 0.5 * noiseFID)
    }
}
