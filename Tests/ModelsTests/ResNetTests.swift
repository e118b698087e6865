import XCTest
import Tensor
import NN
import Models
import RunModel

/// The independent evaluator's network (Models/ResNet.swift): parameter count, shapes, names, and the
/// gradient of the whole network against central finite differences.
final class ResNetTests: XCTestCase {
    /// ResNet-20 with option-A (parameter-free) shortcuts has 269,722 parameters (He et al. 2016 Table 6
    /// "0.27M"; the exact count by hand: stem 432 + BN 32, stage 1 3 × 4,672, stage 2 13,952 + 2 × 18,560,
    /// stage 3 55,552 + 2 × 73,984, fc 650). Ours uses option-B projections (conv1×1 + BN) where the width
    /// changes: 16·32 + 2·32 and 32·64 + 2·64 more = 2,752.
    func testResNet20ParameterCount() {
        let net = ResNet(ResNetConfig(widths: [16, 32, 64], blocks: [3, 3, 3], inChannels: 3), seed: 0)
        XCTAssertEqual(net.parameterCount, 269_722 + 2_752)
        XCTAssertEqual(ResNetConfig(widths: [16, 32, 64], blocks: [3, 3, 3]).label, "ResNet-20 (widths [16, 32, 64], blocks [3, 3, 3])")
    }

    func testShapesAndTorchvisionNames() {
        let c = ResNetConfig(widths: [16, 32], blocks: [1, 1], inChannels: 1)
        let net = ResNet(c, seed: 1)
        net.train(false)
        var rng = RNG(seed: 2)
        let out = Autograd.noGrad { net(Tensor.randn([3, 8, 8, 1], rng: &rng)) }
        XCTAssertEqual(out.featureMap.shape, [3, 4, 4, 32], "stage 2 halves 8×8 once")
        XCTAssertEqual(out.pooled.shape, [3, 32])
        XCTAssertEqual(out.logits.shape, [3, 10])
        XCTAssertGreaterThanOrEqual(out.featureMap.array.min()!, 0, "the map is a ReLU output")
        let names = Set(net.namedParameters().map(\.0))
        for n in ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.bn2.bias", "layer2.0.downsample.0.weight",
                  "layer2.0.downsample.1.weight", "fc.weight", "fc.bias"] { XCTAssertTrue(names.contains(n), n) }
        XCTAssertFalse(names.contains("layer1.0.downsample.0.weight"), "same width and stride: identity shortcut")
        XCTAssertEqual(ResNetConfig(widths: [16], blocks: [1, 1]).validationErrors().count, 1)
    }

    /// d⟨logits, r⟩/dθ by autodiff against central differences (Float32, ε = 1e-3, BatchNorm with batch
    /// statistics), for weights in the stem, a strided conv, the projection shortcut and the classifier.
    /// (ε = 1e-2 was too coarse for the stem: a step that size moves enough activations across ReLU kinks to
    /// change the difference quotient by ~30%.)
    func testGradientMatchesFiniteDifferences() {
        let net = ResNet(ResNetConfig(widths: [4, 8], blocks: [1, 1], inChannels: 1), seed: 3)
        net.train(true)
        var rng = RNG(seed: 4)
        let x = Tensor.randn([4, 8, 8, 1], rng: &rng)
        let r = Tensor.randn([4, 10], rng: &rng)
        func loss() -> Tensor { (net(x).logits * r).sum() }
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters())
        for p in params.values { p.grad = nil }
        loss().backward()
        for name in ["conv1.weight", "layer2.0.conv1.weight", "layer2.0.downsample.0.weight", "fc.weight"] {
            let p = params[name]!
            let g = p.grad!.array
            for i in [0, p.count / 2, p.count - 1] {
                let v = p.data[i]
                p.data[i] = v + 1e-3
                let up = Double(Autograd.noGrad { loss() }.item)
                p.data[i] = v - 1e-3
                let down = Double(Autograd.noGrad { loss() }.item)
                p.data[i] = v
                let fd = (up - down) / 2e-3
                XCTAssertEqual(Double(g[i]), fd, accuracy: 2e-2 * max(1, abs(fd)), "\(name)[\(i)]")
            }
        }
    }
}
