import Tensor
import NN
import RunModel

/// The classifier's outputs: logits, the spatial map F = ReLU(final BN(block output)) (NHWC) and
/// its spatial mean f (spec §3.2).
public struct ClassifierOutput {
    public let logits: Tensor
    public let featureMap: Tensor
    public let pooled: Tensor
}

/// DenseNet-BC with the CIFAR stem (conv3×3 stride 1, BN, ReLU, no max-pool), torchvision layer names
/// under `features.` plus `final_norm` and `fc` as in the official classifier (spec §3.1).
public final class DenseNet: Module {
    public let config: DenseNetConfig
    let conv0: Conv2d, norm0: BatchNorm
    /// Each dense layer: BN → ReLU → conv1×1 (bnSize·k) → BN → ReLU → conv3×3 (k), concatenated.
    let blocks: [[(norm1: BatchNorm, conv1: Conv2d, norm2: BatchNorm, conv2: Conv2d)]]
    /// Each transition: BN → ReLU → conv1×1 (compression) → avg-pool 2×2.
    let transitions: [(norm: BatchNorm, conv: Conv2d)]
    let finalNorm: BatchNorm
    let fc: Linear

    public init(_ c: DenseNetConfig, seed: UInt64) {
        let problems = c.validationErrors()
        precondition(problems.isEmpty, "DenseNet: invalid configuration: " + problems.joined(separator: "; "))
        var rng = RNG(seed: seed)
        config = c
        conv0 = Conv2d(c.inChannels, c.initFeatures, kernel: 3, padding: 1, bias: false, init: .kaimingNormal, rng: &rng)
        norm0 = BatchNorm(c.initFeatures)
        var nf = c.initFeatures
        var blocks: [[(BatchNorm, Conv2d, BatchNorm, Conv2d)]] = []
        var transitions: [(BatchNorm, Conv2d)] = []
        for (bi, n) in c.blockConfig.enumerated() {
            var layers: [(BatchNorm, Conv2d, BatchNorm, Conv2d)] = []
            for l in 0..<n {
                let cin = nf + l * c.growthRate
                layers.append((BatchNorm(cin),
                               Conv2d(cin, c.bnSize * c.growthRate, kernel: 1, bias: false, init: .kaimingNormal, rng: &rng),
                               BatchNorm(c.bnSize * c.growthRate),
                               Conv2d(c.bnSize * c.growthRate, c.growthRate, kernel: 3, padding: 1, bias: false, init: .kaimingNormal, rng: &rng)))
            }
            blocks.append(layers)
            nf += n * c.growthRate
            if bi != c.blockConfig.count - 1 {
                let out = Int(Double(nf) * c.compression)
                transitions.append((BatchNorm(nf), Conv2d(nf, out, kernel: 1, bias: false, init: .kaimingNormal, rng: &rng)))
                nf = out
            }
        }
        self.blocks = blocks.map { $0.map { (norm1: $0.0, conv1: $0.1, norm2: $0.2, conv2: $0.3) } }
        self.transitions = transitions.map { (norm: $0.0, conv: $0.1) }
        finalNorm = BatchNorm(nf)
        fc = Linear(nf, c.numClasses, rng: &rng)
        fc.bias!.fill(0)   // torchvision's DenseNet zeroes the classifier bias
        super.init()
        child("features.conv0", conv0)
        child("features.norm0", norm0)
        for (bi, layers) in self.blocks.enumerated() {
            for (li, l) in layers.enumerated() {
                let p = "features.denseblock\(bi + 1).denselayer\(li + 1)."
                child(p + "norm1", l.norm1); child(p + "conv1", l.conv1); child(p + "norm2", l.norm2); child(p + "conv2", l.conv2)
            }
            if bi < self.transitions.count {
                child("features.transition\(bi + 1).norm", self.transitions[bi].norm)
                child("features.transition\(bi + 1).conv", self.transitions[bi].conv)
            }
        }
        child("final_norm", finalNorm)
        child("fc", fc)
    }

    /// Logits, F and f for images x (B, H, W, C) NHWC. BatchNorm uses running statistics unless the
    /// module is in training mode (the frozen feature extractor is in evaluation mode, spec §3.4).
    public func callAsFunction(_ x: Tensor) -> ClassifierOutput {
        var h = norm0(conv0(x)).relu()
        for (bi, layers) in blocks.enumerated() {
            var features = [h]
            for l in layers {
                let cat = features.count == 1 ? features[0] : Tensor.concat(features, axis: -1)
                let y = l.conv2(l.norm2(l.conv1(l.norm1(cat).relu())).relu())
                features.append(y)
            }
            h = Tensor.concat(features, axis: -1)
            if bi < transitions.count {
                h = transitions[bi].conv(transitions[bi].norm(h).relu()).avgPool2x2()
            }
        }
        let fmap = finalNorm(h).relu()
        let pooled = fmap.globalAvgPool()
        return ClassifierOutput(logits: fc(pooled), featureMap: fmap, pooled: pooled)
    }
}

/// The M_P2P projection head (spec §4.4): conv1×1 (no bias) → BatchNorm (always batch statistics)
/// → ReLU → conv1×1 (no bias); PyTorch default init, on the student's map only.
public final class ProjectionHead: Module {
    let conv1: Conv2d, bn: BatchNorm, conv2: Conv2d
    public init(channels c: Int, seed: UInt64) {
        var rng = RNG(seed: seed)
        conv1 = Conv2d(c, c, kernel: 1, bias: false, init: .torchDefault, rng: &rng)
        bn = BatchNorm(c)
        conv2 = Conv2d(c, c, kernel: 1, bias: false, init: .torchDefault, rng: &rng)
        super.init()
        child("0", conv1); child("1", bn); child("3", conv2)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { conv2(bn(conv1(x), useBatchStatistics: true).relu()) }
}
