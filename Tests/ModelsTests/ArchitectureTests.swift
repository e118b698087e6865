import XCTest
import Tensor
import NN
import Models
import RunModel

/// Spec §8 A1–A2 and S3: parameter counts, feature-map shapes, the time table.
final class ArchitectureTests: XCTestCase {
    func testPaperParameterCounts() {
        XCTAssertEqual(UNet(.cifar10, seed: 0).parameterCount, 35_877_507, "CIFAR-10 U-Net (spec §2.2)")
        XCTAssertEqual(DenseNet(.densenet201, seed: 0).parameterCount, 18_104_458, "DenseNet-201-BC, CIFAR stem (spec §3.1)")
    }

    func testImageNetUNetParameterCount() {
        XCTAssertEqual(UNet(.imagenet64, seed: 0).parameterCount, 116_582_403, "ImageNet-64 conditional U-Net (spec §2.5)")
    }

    func testTimeTableRows() {
        let t = sinusoidalTimeTable(rows: 1025, dim: 128)
        // The values of spec check S3 (rdd-spec §2.2): row k holds sin, cos of k·10000^(−i/64), i = 0…63,
        // interleaved; the Float64 closed form agrees to 5e-8 (sin 1 = 0.84147098, …, cos(1000·10000^(−63/64)) =
        // 0.99333980), the rest is the official float32 arithmetic.
        let row1 = Array(t.array[128..<132])
        for (a, b) in zip(row1, [0.8414709568, 0.5403023362, 0.7617203593, 0.6479058862] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-7) }
        XCTAssertEqual(t.array[1000 * 128 + 126], 0.1152216718, accuracy: 1e-6)
        XCTAssertEqual(t.array[1000 * 128 + 127], 0.9933397770, accuracy: 1e-6)
    }

    func testDenseNetFeatureShapesSmall() {
        let net = DenseNet(.bc40k12, seed: 1)
        net.train(false)
        var rng = RNG(seed: 2)
        let x = Tensor.randn([2, 8, 8, 3], rng: &rng)
        let out = Autograd.noGrad { net(x) }
        let c = DenseNetConfig.bc40k12.featureChannels
        XCTAssertEqual(out.featureMap.shape, [2, 2, 2, c])
        XCTAssertEqual(out.pooled.shape, [2, c])
        XCTAssertEqual(out.logits.shape, [2, 10])
        XCTAssertGreaterThanOrEqual(out.featureMap.array.min()!, 0, "F = ReLU(BN(·)) is non-negative (A2)")
        for i in 0..<c {   // pooled = spatial mean of F
            let m = (0..<4).map { out.featureMap.data[$0 * c + i] }.reduce(0, +) / 4
            XCTAssertEqual(out.pooled.data[i], m, accuracy: 1e-5)
        }
    }

    func testUNetSmallForwardShapeAndConditioning() {
        let cfg = UNetConfig(imageSize: 8, inChannels: 1, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, numClasses: 10)
        let net = UNet(cfg, seed: 3)
        var rng = RNG(seed: 4)
        let x = Tensor.randn([2, 8, 8, 1], rng: &rng)
        let y0 = Autograd.noGrad { net(x, timesteps: [0, 1024], labels: [1, 2], rng: &rng) }
        XCTAssertEqual(y0.shape, [2, 8, 8, 1])
        let y1 = Autograd.noGrad { net(x, timesteps: [0, 1024], labels: [3, 2], rng: &rng) }
        XCTAssertNotEqual(y0.array, y1.array, "the class label changes the output")
    }
}
