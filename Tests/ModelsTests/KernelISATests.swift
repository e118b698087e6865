import XCTest
import Foundation
@testable import Tensor
import NN
import Models
import RunModel
import TestSupport

/// Issue 23: a U-Net training step gives the same bits on every GEMM instruction set and at 1 and 2
/// threads. The step: a small U-Net (8×8, ch 32, attention at 4×4, GroupNorm+SiLU, time embedding),
/// forward, MSE against a target, backward, two Adam updates; compared: the loss and every parameter.
final class KernelISATests: KernelPathTestCase {
    /// (losses, all parameters) after two training steps with `threads` threads on `isa`.
    func trainingStep(threads: Int, isa: KernelISA) throws -> [Float] {
        Threads.set(threads)
        try GemmDispatch.select(isa)
        let cfg = UNetConfig(imageSize: 8, inChannels: 1, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1)
        let net = UNet(cfg, seed: 5)
        let opt = Adam(net.namedTrainableParameters(), lr: 1e-3)
        var rng = RNG(seed: 6)
        var losses: [Float] = []
        for _ in 0..<2 {
            let x = Tensor.randn([3, 8, 8, 1], rng: &rng), target = Tensor.randn([3, 8, 8, 1], rng: &rng)
            opt.zeroGrad()
            let loss = mseLoss(net(x, timesteps: [1, 500, 1024], rng: &rng), target)
            loss.backward()
            opt.update()
            losses.append(loss.data[0])
        }
        return losses + net.parameters.flatMap(\.array)
    }

    func testSameBitsAtOneAndTwoThreads() throws {
        let isa = GemmDispatch.isa
        XCTAssertEqual(try trainingStep(threads: 1, isa: isa), try trainingStep(threads: 2, isa: isa), "1 vs 2 threads on \(isa)")
    }

    /// The portable path (fmaf, one element at a time), AVX2 and the AVX-512 tiling emulated on AVX2
    /// registers accumulate every element in the same order, so the step is the same bits.
    func testSameBitsOnPortableAVX2AndEmulatedAVX512() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable path runs here")
        let avx2 = try trainingStep(threads: 2, isa: .avx2)
        XCTAssertEqual(try trainingStep(threads: 2, isa: .portable), avx2, "portable vs AVX2")
        XCTAssertEqual(try trainingStep(threads: 2, isa: .avx512Emulated), avx2, "AVX-512 tiling (emulated) vs AVX2")
    }

    /// The real AVX-512F kernel against AVX2; needs a CPU with AVX-512F (never a silent pass).
    func testSameBitsOnAVX512AndAVX2() throws {
        guard KernelISA.avx512.isSupported else {
            throw XCTSkip("CPU lacks AVX-512F: the AVX-512 kernel cannot run here (its tiling is checked emulated in testSameBitsOnPortableAVX2AndEmulatedAVX512)")
        }
        XCTAssertEqual(try trainingStep(threads: 2, isa: .avx512), try trainingStep(threads: 2, isa: .avx2), "AVX-512 vs AVX2")
    }
}
