import XCTest
import TestSupport
import Foundation
import Tensor
import NN

final class NNTests: XCTestCase {
    func testConv2dOpGradients() {
        // Small odd shapes through the differentiable op (the kernels have their own Float64 tests).
        for (k, s, p) in [(3, 1, 1), (3, 2, 1), (1, 1, 0)] {
            let x = rand([2, 5, 4, 3], seed: 40), w = rand([2, 3, k, k], seed: 41), b = rand([2], seed: 42)
            checkGradients([x, w, b], eps: 1e-2, "conv2d k\(k) s\(s) p\(p)") { conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p) }
        }
    }

    func testAdamMatchesReferenceFormula() {
        for (wd, decoupled) in [(0.0, false), (0.1, false), (0.1, true)] as [(Float, Bool)] {
            let p = Tensor([0.5, -1.0, 2.0], shape: [3], requiresGrad: true)
            let opt = Adam([("p", p)], lr: 0.01, weightDecay: wd, decoupled: decoupled)
            var ref = [0.5, -1.0, 2.0], m = [0.0, 0, 0], v = [0.0, 0, 0]
            let grads: [[Double]] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]]
            for (t, g) in grads.enumerated() {
                p.grad = Tensor(g.map(Float.init), shape: [3])
                opt.update()
                for i in 0..<3 {
                    var gi = g[i]
                    if decoupled { ref[i] *= 1 - 0.01 * Double(wd) } else { gi += Double(wd) * ref[i] }
                    m[i] = 0.9 * m[i] + 0.1 * gi
                    v[i] = 0.999 * v[i] + 0.001 * gi * gi
                    let mh = m[i] / (1 - pow(0.9, Double(t + 1))), vh = v[i] / (1 - pow(0.999, Double(t + 1)))
                    ref[i] -= 0.01 * mh / (vh.squareRoot() + 1e-8)
                }
            }
            assertClose(p.array, ref, rtol: 1e-5, atol: 1e-6, "Adam wd=\(wd) decoupled=\(decoupled)")
            XCTAssertEqual(opt.step, 3)
        }
    }

    func testClipGradNorm() {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        a.grad = Tensor([3, 0], shape: [2]); b.grad = Tensor([4], shape: [1])
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 1), 5, accuracy: 1e-6)
        XCTAssertEqual(Double(a.grad!.data[0]), 3 / (5 + 1e-6), accuracy: 1e-6)
        XCTAssertEqual(Double(b.grad!.data[0]), 4 / (5 + 1e-6), accuracy: 1e-6)
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5, "below the limit: unchanged")
        XCTAssertEqual(Double(b.grad!.data[0]), 4 / (5 + 1e-6), accuracy: 1e-6)
    }

    func testLRSchedules() {
        XCTAssertEqual(LRSchedule.linearWarmup(steps: 5000).lr(base: 2e-4, step: 0), 0, "first update uses lr 0 (spec §2.3)")
        XCTAssertEqual(LRSchedule.linearWarmup(steps: 5000).lr(base: 2e-4, step: 2500), 1e-4, accuracy: 1e-12)
        XCTAssertEqual(LRSchedule.linearWarmup(steps: 5000).lr(base: 2e-4, step: 9000), 2e-4)
        XCTAssertEqual(LRSchedule.cosine(total: 100).lr(base: 5e-5, step: 0), 5e-5)
        XCTAssertEqual(LRSchedule.cosine(total: 100).lr(base: 5e-5, step: 50), 2.5e-5, accuracy: 1e-12)
        XCTAssertEqual(LRSchedule.cosine(total: 100).lr(base: 5e-5, step: 100), 0, accuracy: 1e-12)
    }

    func testEMA() {
        let p = Tensor([1, 2], shape: [2], requiresGrad: true)
        let ema = EMA([("p", p)], decay: 0.9)
        p.data[0] = 11; p.data[1] = 2
        ema.update()
        XCTAssertEqual(ema.shadow[0].1.array[0], 2, accuracy: 1e-6)   // 0.9·1 + 0.1·11
        XCTAssertEqual(ema.shadow[0].1.array[1], 2, accuracy: 1e-6)
    }

    func testModuleNamesFollowPyTorch() {
        var rng = RNG(seed: 0)
        let m = Module()
        let list = m.child("blocks", ModuleList<Conv2d>())
        list.append(Conv2d(3, 4, kernel: 3, padding: 1, init: .torchDefault, rng: &rng))
        m.child("norm", BatchNorm(4))
        XCTAssertEqual(m.namedParameters().map(\.0), ["blocks.0.weight", "blocks.0.bias", "norm.weight", "norm.bias"])
        XCTAssertEqual(m.namedBuffers().map(\.0), ["norm.running_mean", "norm.running_var", "norm.num_batches_tracked"])
        XCTAssertEqual(m.parameterCount, 4 * 3 * 9 + 4 + 8)
        m.train(false)
        XCTAssertFalse(list[0].isTraining)
    }

    func testXavierBounds() {
        var rng = RNG(seed: 1)
        let w = Init.xavierUniform([64, 32, 3, 3], gain: 1e-5, rng: &rng)
        let a = Float(1e-5 * (6.0 / Double(32 * 9 + 64 * 9)).squareRoot())
        XCTAssertTrue(w.array.allSatisfy { abs($0) <= a })
        XCTAssertGreaterThan(w.array.map(abs).max()!, a * 0.9)
    }
}
