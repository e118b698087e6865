import Tensor
import NN
import RunModel

/// A network that classifies images and exposes its pooled features: the distillation classifier
/// (`DenseNet`) and the independent evaluator (`ResNet`, or a DenseNet of another configuration) are
/// trained and read by the same code (Pipeline/ClassifierStage.swift, FeatureExtractors.swift).
public protocol FeatureClassifier: Module {
    func callAsFunction(_ x: Tensor) -> ClassifierOutput
}

extension DenseNet: FeatureClassifier {}

/// The CIFAR ResNet: conv3×3 → BN → ReLU, basic blocks, global average pool, linear classifier.
/// Parameter names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, …, `layer2.0.downsample.0/1`, `fc`)
/// so a checkpoint loads into a torchvision-style module. Kaiming-normal convolutions, no conv biases.
///
/// A basic block computes y = ReLU(BN(conv3×3(ReLU(BN(conv3×3_s(x))))) + shortcut(x)), where the
/// shortcut is the identity, or conv1×1 with stride s → BN when the stride or the width changes
/// (option B of He et al.). Every op is one the DenseNet and U-Net already use (conv2d with stride,
/// batchNorm, relu, add, globalAvgPool, linear), each checked against PyTorch in TensorTests.
public final class ResNet: Module, FeatureClassifier {
    public let config: ResNetConfig
    let conv1: Conv2d, bn1: BatchNorm
    let layers: [[(conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, downsample: (conv: Conv2d, bn: BatchNorm)?)]]
    let fc: Linear

    public init(_ c: ResNetConfig, seed: UInt64) {
        let problems = c.validationErrors()
        precondition(problems.isEmpty, "ResNet: invalid configuration: " + problems.joined(separator: "; "))
        var rng = RNG(seed: seed)
        config = c
        conv1 = Conv2d(c.inChannels, c.widths[0], kernel: 3, padding: 1, bias: false, init: .kaimingNormal, rng: &rng)
        bn1 = BatchNorm(c.widths[0])
        var cin = c.widths[0]
        var layers: [[(Conv2d, BatchNorm, Conv2d, BatchNorm, (conv: Conv2d, bn: BatchNorm)?)]] = []
        for (si, (w, n)) in zip(c.widths, c.blocks).enumerated() {
            var stage: [(Conv2d, BatchNorm, Conv2d, BatchNorm, (conv: Conv2d, bn: BatchNorm)?)] = []
            for b in 0..<n {
                let stride = si > 0 && b == 0 ? 2 : 1
                let a = Conv2d(cin, w, kernel: 3, stride: stride, padding: 1, bias: false, init: .kaimingNormal, rng: &rng)
                let bb = Conv2d(w, w, kernel: 3, padding: 1, bias: false, init: .kaimingNormal, rng: &rng)
                let down = stride != 1 || cin != w
                    ? (conv: Conv2d(cin, w, kernel: 1, stride: stride, bias: false, init: .kaimingNormal, rng: &rng), bn: BatchNorm(w)) : nil
                stage.append((a, BatchNorm(w), bb, BatchNorm(w), down))
                cin = w
            }
            layers.append(stage)
        }
        self.layers = layers.map { $0.map { (conv1: $0.0, bn1: $0.1, conv2: $0.2, bn2: $0.3, downsample: $0.4) } }
        fc = Linear(cin, c.numClasses, rng: &rng)
        super.init()
        child("conv1", conv1)
        child("bn1", bn1)
        for (si, stage) in self.layers.enumerated() {
            for (bi, b) in stage.enumerated() {
                let p = "layer\(si + 1).\(bi)."
                child(p + "conv1", b.conv1); child(p + "bn1", b.bn1); child(p + "conv2", b.conv2); child(p + "bn2", b.bn2)
                if let d = b.downsample { child(p + "downsample.0", d.conv); child(p + "downsample.1", d.bn) }
            }
        }
        child("fc", fc)
    }

    /// Logits, the last stage's map (NHWC, after the block's ReLU) and its spatial mean f.
    public func callAsFunction(_ x: Tensor) -> ClassifierOutput {
        var h = bn1(conv1(x)).relu()
        for stage in layers {
            for b in stage {
                let main = b.bn2(b.conv2(b.bn1(b.conv1(h)).relu()))
                let shortcut = b.downsample.map { $0.bn($0.conv(h)) } ?? h
                h = (main + shortcut).relu()
            }
        }
        let pooled = h.globalAvgPool()
        return ClassifierOutput(logits: fc(pooled), featureMap: h, pooled: pooled)
    }
}
