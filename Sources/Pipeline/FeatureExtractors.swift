import Foundation
import Tensor
import Models
import Metrics
import Inception
import RunModel

/// A frozen network that maps images to feature vectors for FID, with everything that labels its
/// numbers (spec §5). Two implementations: the FID Inception-v3 (`InceptionExtractor`) and the
/// project's classifier (`ClassifierExtractor`); tests inject small ones.
///
/// Images are NHWC (N, H, W, C) in the model space [−1, 1], as samples and `ImageDataset`s are.
public protocol FeatureExtractor: AnyObject {
    /// "inception" or "classifier": names the metric (`fid_<kind>`) and the cache file.
    var kind: String { get }
    /// Compared verbatim by `FeatureStatistics.checkComparable` (statistics of different networks are refused).
    var featureNetwork: String { get }
    /// A digest of the weights (SHA-1 of the weight file): part of the reference-statistics cache key.
    var weightsDigest: String { get }
    /// The preprocessing applied to images of this geometry, compared verbatim like `featureNetwork`.
    func preprocessing(height: Int, width: Int, channels: Int) -> String
    /// One feature row per image (N × D, Float32).
    func features(_ images: Tensor) throws -> FeatureMatrix<Float>
}

/// The FID Inception-v3 (pool3, 2048-d) of docs/inception.md: bilinear resize to 299×299, grey repeated to
/// 3 channels, the TF scaling (x − 128)/128 from [0, 255] by default (the project's choice, issue 6 §2).
public final class InceptionExtractor: FeatureExtractor {
    public let inception: InceptionFID
    public let normalization: InceptionFID.Normalization
    public let batchSize: Int
    public var kind: String { "inception" }
    public var featureNetwork: String { inception.featureNetworkLabel }
    public var weightsDigest: String { inception.weightsDigest }

    public init(_ inception: InceptionFID, normalization: InceptionFID.Normalization = .tensorflow, batchSize: Int = 16) {
        self.inception = inception; self.normalization = normalization; self.batchSize = batchSize
    }

    /// Whether the converted weights are at the default path.
    public static var weightsInstalled: Bool { InceptionFID.weightsInstalled() }
    /// `$RDD_INCEPTION_WEIGHTS`, else ~/.cache/rdd/inception-fid.h5.
    public static var defaultWeightsPath: String { InceptionFID.defaultWeightsPath }

    /// Loads the weights from `path` (default: `$RDD_INCEPTION_WEIGHTS`, else ~/.cache/rdd/inception-fid.h5).
    /// A missing file throws a `PipelineError` naming the path and the `rdd-setup inception` install steps.
    public static func load(path: String? = nil) throws -> InceptionExtractor {
        let p = path ?? InceptionFID.defaultWeightsPath
        do { return InceptionExtractor(try InceptionFID.load(from: p)) }
        catch let e as InceptionError {
            if case .weightsMissing = e {
                throw PipelineError("evaluation: fid_inception was requested but \(e.description)\n"
                                    + "(or drop fid_inception from evaluation.metrics; the other metrics need no weights)")
            }
            throw e
        }
    }

    public func preprocessing(height: Int, width: Int, channels: Int) -> String {
        InceptionFID.preprocessingLabel(height: height, width: width, channels: channels, range: .minusOneOne, normalization: normalization)
    }

    public func features(_ images: Tensor) throws -> FeatureMatrix<Float> {
        let f = try inception.features(images, range: .minusOneOne, normalization: normalization, batchSize: batchSize)
        return try FeatureMatrix(rows: f.shape[0], columns: f.shape[1], values: f.array, name: "Inception pool3 features")
    }
}

/// The project's frozen DenseNet-BC: pooled f (spec §3.2) as features, softmax for the classifier score.
public final class ClassifierExtractor: FeatureExtractor {
    public let net: DenseNet
    public let config: DenseNetConfig
    public let weightsDigest: String
    /// Fixed, so the features (and a cached reference) do not depend on an evaluation's batch size.
    public let batchSize: Int
    public var kind: String { "classifier" }
    public var featureNetwork: String { "DenseNet-BC(k=\(config.growthRate), blocks \(config.blockConfig)) pooled f" }

    public init(net: DenseNet, config: DenseNetConfig, weightsDigest: String, batchSize: Int = 128) {
        self.net = net; self.config = config; self.weightsDigest = weightsDigest; self.batchSize = batchSize
    }

    /// Loads a classifier checkpoint (a classifier stage's final.h5); the digest is the file's SHA-1.
    public static func load(_ config: DenseNetConfig, from path: String) throws -> ClassifierExtractor {
        ClassifierExtractor(net: try loadClassifier(config, from: path), config: config, weightsDigest: try fileSHA1(path))
    }

    public func preprocessing(height: Int, width: Int, channels: Int) -> String { "[-1,1] model space" }

    public func features(_ images: Tensor) throws -> FeatureMatrix<Float> {
        try featuresAndProbabilities(images).features
    }

    /// Pooled features (N × C) and class probabilities (N × K).
    public func featuresAndProbabilities(_ images: Tensor) throws -> (features: FeatureMatrix<Float>, probabilities: FeatureMatrix<Float>) {
        let r = classifierFeatures(net, images: images, batch: batchSize)
        let n = images.shape[0]
        return (try FeatureMatrix(rows: n, columns: r.dim, values: r.pooled, name: "classifier features"),
                try FeatureMatrix(rows: n, columns: r.classes, values: r.probs, name: "class probabilities"))
    }
}

/// SHA-1 of a file's bytes (lowercase hex): the weights digest of a cache key.
public func fileSHA1(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw PipelineError("cannot read '\(path)' to digest it") }
    return SHA1.hex([UInt8](data))
}

/// SHA-1 of Float32 values' bytes (little-endian as stored): the content digest of a reference image set.
public func valuesSHA1(_ values: [Float]) -> String {
    values.withUnsafeBytes { SHA1.hex([UInt8]($0)) }
}
