import Foundation

// The networks' configurations: plain values that the run model, the stages and the reports share.
// The networks themselves (Models) are built from them.

/// Configuration of the DDPM / pytorch-ddpm U-Net (spec §2.2).
public struct UNetConfig: Codable, Equatable, Sendable {
    public var imageSize: Int
    public var inChannels: Int
    public var ch: Int
    public var chMult: [Int]
    /// Level indices (0 = full resolution) whose ResBlocks carry self-attention.
    public var attn: [Int]
    public var numResBlocks: Int
    public var dropout: Float
    /// Rows of the sinusoidal time table: 1025 for the 1025-level grid (spec §1.2).
    public var timeRows: Int
    /// Number of classes for class conditioning (one-hot → Linear added to temb), nil = unconditional.
    public var numClasses: Int?
    /// GroupNorm groups (32 in the paper).
    public var groups: Int

    public init(imageSize: Int, inChannels: Int = 3, ch: Int, chMult: [Int], attn: [Int], numResBlocks: Int,
                dropout: Float = 0, timeRows: Int = 1025, numClasses: Int? = nil, groups: Int = 32) {
        self.imageSize = imageSize; self.inChannels = inChannels; self.ch = ch; self.chMult = chMult
        self.attn = attn; self.numResBlocks = numResBlocks; self.dropout = dropout; self.timeRows = timeRows
        self.numClasses = numClasses; self.groups = groups
    }

    /// The paper's CIFAR-10 U-Net: 35,877,507 parameters (spec §2.2, A1).
    public static let cifar10 = UNetConfig(imageSize: 32, ch: 128, chMult: [1, 2, 2, 2], attn: [1], numResBlocks: 2, dropout: 0.1)
    /// The ImageNet-64 conditional configuration of the spec: 116,582,403 parameters (§2.5, A1).
    public static let imagenet64 = UNetConfig(imageSize: 64, ch: 128, chMult: [1, 2, 3, 4], attn: [2, 3], numResBlocks: 3, numClasses: 1000)

    /// Problems with the configuration, each naming the field and value (empty when valid).
    public func validationErrors() -> [String] {
        var e: [String] = []
        if ch <= 0 || ch % groups != 0 { e.append("ch = \(ch) must be a positive multiple of the GroupNorm groups (\(groups))") }
        if chMult.isEmpty || chMult.contains(where: { $0 <= 0 }) { e.append("chMult = \(chMult) must be non-empty and positive") }
        if imageSize % (1 << max(chMult.count - 1, 0)) != 0 { e.append("imageSize = \(imageSize) must be divisible by 2^(levels−1) = \(1 << max(chMult.count - 1, 0))") }
        if attn.contains(where: { $0 < 0 || $0 >= chMult.count }) { e.append("attn = \(attn) must be level indices in 0..<\(chMult.count)") }
        if numResBlocks < 1 { e.append("numResBlocks = \(numResBlocks) must be ≥ 1") }
        if !(dropout >= 0 && dropout < 1) { e.append("dropout = \(dropout) must be in [0, 1)") }
        return e
    }
}

/// Configuration of the DenseNet-BC classifier (spec §3.1).
public struct DenseNetConfig: Codable, Equatable, Sendable {
    public var growthRate: Int
    public var blockConfig: [Int]
    public var initFeatures: Int
    /// Bottleneck width = bnSize · growthRate (4k in DenseNet-BC).
    public var bnSize: Int
    /// Channel compression of transitions (0.5 in DenseNet-BC).
    public var compression: Double
    public var numClasses: Int
    public var inChannels: Int

    public init(growthRate: Int, blockConfig: [Int], initFeatures: Int, bnSize: Int = 4, compression: Double = 0.5,
                numClasses: Int = 10, inChannels: Int = 3) {
        self.growthRate = growthRate; self.blockConfig = blockConfig; self.initFeatures = initFeatures
        self.bnSize = bnSize; self.compression = compression; self.numClasses = numClasses; self.inChannels = inChannels
    }

    /// DenseNet-201-BC with the CIFAR stem: 18,104,458 parameters, F of shape (B, 1920, 4, 4) at 32×32.
    public static let densenet201 = DenseNetConfig(growthRate: 32, blockConfig: [6, 12, 48, 32], initFeatures: 64)
    /// DenseNet-BC depth 40, growth 12 (3 blocks of 6 bottleneck layers): a CPU-scale classifier.
    public static let bc40k12 = DenseNetConfig(growthRate: 12, blockConfig: [6, 6, 6], initFeatures: 24)

    /// Channels of the final feature map F.
    public var featureChannels: Int {
        var c = initFeatures
        for (i, n) in blockConfig.enumerated() {
            c += n * growthRate
            if i != blockConfig.count - 1 { c = Int(Double(c) * compression) }
        }
        return c
    }

    public func validationErrors() -> [String] {
        var e: [String] = []
        if growthRate <= 0 { e.append("growthRate = \(growthRate) must be > 0") }
        if blockConfig.isEmpty || blockConfig.contains(where: { $0 <= 0 }) { e.append("blockConfig = \(blockConfig) must be non-empty and positive") }
        if initFeatures <= 0 { e.append("initFeatures = \(initFeatures) must be > 0") }
        if !(compression > 0 && compression <= 1) { e.append("compression = \(compression) must be in (0, 1]") }
        if numClasses < 2 { e.append("numClasses = \(numClasses) must be ≥ 2") }
        return e
    }
}

/// Configuration of a CIFAR-style ResNet with basic blocks (He et al. 2016, "Deep Residual Learning",
/// §4.2): a 3×3 stem, then one stage per entry of `widths`, each of `blocks[i]` basic blocks, the first
/// block of every stage after the first halving the resolution with stride 2.
public struct ResNetConfig: Codable, Equatable, Sendable {
    /// Channels of each stage (ResNet-20 for CIFAR: [16, 32, 64]).
    public var widths: [Int]
    /// Basic blocks per stage (ResNet-20: [3, 3, 3]).
    public var blocks: [Int]
    public var numClasses: Int
    public var inChannels: Int

    public init(widths: [Int], blocks: [Int], numClasses: Int = 10, inChannels: Int = 3) {
        self.widths = widths; self.blocks = blocks; self.numClasses = numClasses; self.inChannels = inChannels
    }

    /// "ResNet-8 (widths [16, 32], blocks [1, 1])": depth = 2 · Σ blocks + 2 (stem and classifier), as He et al. count.
    public var label: String { "ResNet-\(2 * blocks.reduce(0, +) + 2) (widths \(widths), blocks \(blocks))" }

    /// Channels of the pooled feature vector.
    public var featureChannels: Int { widths.last ?? 0 }

    public func validationErrors() -> [String] {
        var e: [String] = []
        if widths.isEmpty || widths.contains(where: { $0 <= 0 }) { e.append("widths = \(widths) must be non-empty and positive") }
        if blocks.count != widths.count || blocks.contains(where: { $0 <= 0 }) {
            e.append("blocks = \(blocks) must have one positive count per width (\(widths.count))")
        }
        if numClasses < 2 { e.append("numClasses = \(numClasses) must be ≥ 2") }
        if inChannels < 1 { e.append("inChannels = \(inChannels) must be ≥ 1") }
        return e
    }
}

