import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensor
import Data
import Checkpoint
import Metrics
import Inception
import RunModel

/// A set of real images that FID compares against (spec §5 "reference statistics"): which dataset and
/// split, and the images themselves (NHWC, [−1, 1], at the model's size).
public struct ReferenceSet {
    /// The dataset as configured: "digits", "fashion-mnist", "cifar10", "imagenet64".
    public var dataset: String
    /// "test", "validation" (`evaluationReference`) or "train" (the data floor).
    public var split: String
    public var images: ImageDataset

    public init(dataset: String, split: String, images: ImageDataset) {
        self.dataset = dataset; self.split = split; self.images = images
    }

    /// How labels name it: "fashion-mnist test split (10000 images)".
    public var label: String { "\(dataset) \(split) split (\(images.count) images)" }

    /// The images as one NHWC tensor.
    public var tensor: Tensor {
        Tensor(images.images, shape: [images.count, images.height, images.width, images.channels])
    }
}

/// Everything that changes reference statistics' numbers: the data (dataset, split, variant — e.g. the
/// padding —, image count and a digest of the pixel values), the feature network and its weights, the
/// preprocessing, and the code version. Equal keys give equal statistics; the cache file is named by the
/// key's SHA-1 and stores the key, which is compared on load.
public struct ReferenceKey: Codable, Equatable, Sendable {
    public var dataset: String
    public var split: String
    /// `ImageDataset.name` of the images, e.g. "fashion-mnist-test[pad 32]".
    public var variant: String
    public var count: Int
    public var height: Int, width: Int, channels: Int
    /// SHA-1 of the Float32 pixel values.
    public var imagesDigest: String
    public var featureKind: String
    public var featureNetwork: String
    public var weightsDigest: String
    public var preprocessing: String
    public var codeVersion: String

    public init(reference r: ReferenceSet, extractor e: FeatureExtractor) {
        let d = r.images
        dataset = r.dataset; split = r.split; variant = d.name; count = d.count
        height = d.height; width = d.width; channels = d.channels
        imagesDigest = valuesSHA1(d.images)
        featureKind = e.kind; featureNetwork = e.featureNetwork; weightsDigest = e.weightsDigest
        preprocessing = e.preprocessing(height: d.height, width: d.width, channels: d.channels)
        codeVersion = CodeVersion.string
    }

    public var json: String { canonicalJSON(self) }

    /// "fashion-mnist-test-inception-n10000-<12 hex>.h5"
    public var fileName: String {
        let safe = "\(dataset)-\(split)-\(featureKind)-n\(count)".map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        return String(safe) + "-" + SHA1.hex(Array(json.utf8)).prefix(12) + ".h5"
    }
}

/// Reference statistics (μ, Σ, N and labels) cached in HDF5 files (docs/metrics.md "Reference statistics
/// cache"), so a reference set is put through a feature network once per key and reused by every
/// evaluation stage and sweep that asks for the same key.
///
/// File (the project's checkpoint format, CRC-checked on load, written atomically: temp + fsync + rename):
/// arrays `mean` (D, float64), `covariance` (D×D, float64) and, when asked, `features` (N×D, float32, for
/// KID); attributes `key_json`, `dataset`, `split`, `count`, `feature_network`, `preprocessing`,
/// `weights_digest`, `code_version`, `seconds` (time to compute). A file whose stored key differs from the
/// requested one is refused with both keys named, never used.
public struct ReferenceStatisticsCache {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// `$RDD_FID_STATS_DIR`, else ~/.cache/rdd/fid-stats (next to the Inception weights).
    public static var defaultInceptionDirectory: String {
        if let p = ProcessInfo.processInfo.environment["RDD_FID_STATS_DIR"], !p.isEmpty { return p }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/rdd/fid-stats"
    }

    /// What `statistics(for:extractor:keepFeatures:)` returns.
    public struct Entry {
        public var statistics: FeatureStatistics
        /// The reference features (N × D), when stored.
        public var features: FeatureMatrix<Float>?
        /// Whether the entry came from the cache (false: computed now and stored).
        public var cached: Bool
        public var path: String
        /// Seconds spent computing it (now, or when it was stored).
        public var computeSeconds: Double
    }

    public func path(for key: ReferenceKey) -> String { directory + "/" + key.fileName }

    /// The statistics of `reference` under `extractor`: read from the cache when the key is stored (and the
    /// features too when `keepFeatures`), else computed, stored and returned.
    /// Computing holds an exclusive lock on `<file>.lock`, so evaluations running at once (two workers starting
    /// a sweep's first evaluations) compute a missing entry once: the others wait, then read it.
    public func statistics(for reference: ReferenceSet, extractor: FeatureExtractor, keepFeatures: Bool = false) throws -> Entry {
        let key = ReferenceKey(reference: reference, extractor: extractor)
        if let e = try load(key, needFeatures: keepFeatures) { return e }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lockPath = path(for: key) + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError("reference statistics cache: cannot open \(lockPath): errno \(errno)") }
        defer { close(fd) }   // closing releases the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw PipelineError("reference statistics cache: cannot lock \(lockPath): errno \(errno)") }
        }
        if let e = try load(key, needFeatures: keepFeatures) { return e }   // stored while we waited
        let clock = ContinuousClock(), t0 = clock.now
        let f = try extractor.features(reference.tensor)
        let stats = try FeatureStatistics(features: f, featureNetwork: key.featureNetwork, dataset: reference.label, preprocessing: key.preprocessing)
        let seconds = (clock.now - t0) / .seconds(1)
        try store(key, stats, features: keepFeatures ? f : nil, seconds: seconds)
        return Entry(statistics: stats, features: keepFeatures ? f : nil, cached: false, path: path(for: key), computeSeconds: seconds)
    }

    /// The stored entry for `key`, or nil when there is none (or it lacks features that are needed).
    public func load(_ key: ReferenceKey, needFeatures: Bool = false) throws -> Entry? {
        let p = path(for: key)
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        let ck = try Checkpoint.load(from: p)
        let stored = try ck.string("key_json")
        guard stored == key.json else {
            throw PipelineError("reference statistics cache \(p) holds key \(stored), not the requested \(key.json); remove the file")
        }
        let mean = try ck.array("mean", dtype: .float64), cov = try ck.array("covariance", dtype: .float64)
        let n = Int(try ck.int("count"))
        let stats = try FeatureStatistics(mean: mean.float64Values!, covariance: cov.float64Values!, count: n,
                                          featureNetwork: try ck.string("feature_network"), dataset: try ck.string("dataset"),
                                          preprocessing: try ck.string("preprocessing"))
        var features: FeatureMatrix<Float>?
        if let fv = ck.arrays["features"] {
            features = try FeatureMatrix(rows: fv.shape[0], columns: fv.shape[1], values: fv.float32Values ?? [], name: "cached reference features")
        } else if needFeatures {
            return nil
        }
        return Entry(statistics: stats, features: features, cached: true, path: p, computeSeconds: (try? ck.double("seconds")) ?? 0)
    }

    /// Writes an entry atomically (parallel writers of the same key write the same content; the last rename wins).
    public func store(_ key: ReferenceKey, _ s: FeatureStatistics, features: FeatureMatrix<Float>?, seconds: Double) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ck = Checkpoint(arrays: ["mean": ArrayValue(shape: [s.dimension], s.mean),
                                    "covariance": ArrayValue(shape: [s.dimension, s.dimension], s.covariance)])
        if let f = features { ck.arrays["features"] = ArrayValue(shape: [f.rows, f.columns], f.values) }
        ck.attributes = ["key_json": .string(key.json), "dataset": .string(s.dataset), "split": .string(key.split),
                         "count": .int(Int64(s.count)), "feature_network": .string(s.featureNetwork),
                         "preprocessing": .string(s.preprocessing), "weights_digest": .string(key.weightsDigest),
                         "code_version": .string(key.codeVersion), "seconds": .double(seconds)]
        try ck.save(to: path(for: key))
    }
}
