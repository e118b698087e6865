import XCTest
import TestSupport
import Foundation
@testable import Tensor

/// The speed paths of the training step, each against a Float64 reference: the vectorised exponential,
/// products split over threads above BLAS, the channel-vectorised GroupNorm, and the allocator setting.
final class FastPathTests: XCTestCase {
    func testFastExpWithinThreeUlpOfFloat64() {
        var worst = 0.0, at: Float = 0
        var x: Float = -87
        while x < 88 {
            let rel = abs(Double(fastExp(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))
            if rel > worst { worst = rel; at = x }
            x += 0.000731
        }
        XCTAssertLessThan(worst, 3 * 5.97e-8, "fastExp worst relative error \(worst) at x = \(at)")
        XCTAssertTrue(fastExp(1000).isFinite && fastExp(-1000) >= 0 && fastExp(-1000) < 1e-37, "clamped ends")
        XCTAssertEqual(fastExp(0), 1)
        XCTAssertEqual(fastSigmoid(-200), 0, accuracy: 1e-30)
        XCTAssertEqual(fastSigmoid(200), 1)
    }

    /// m·n·k ≥ 2²⁰ so `sgemmParallel` splits the rows of C over two threads; loss Σ R ⊙ C gives
    /// dA = R·op(B)ᵀ and dB = op(A)ᵀ·R (before the stored-orientation transposes).
    func testRowSplitProductsMatchFloat64() {
        let saved = Threads.count
        Threads.set(2); defer { Threads.set(saved) }
        let (m, k, n) = (130, 128, 72)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = rand(ta ? [k, m] : [m, k], seed: 31), b = rand(tb ? [n, k] : [k, n], seed: 32)
            let r = rand([m, n], seed: 33, grad: false)
            let am = ta ? Ref.transpose(f64(a), r: k, c: m) : f64(a)
            let bm = tb ? Ref.transpose(f64(b), r: n, c: k) : f64(b)
            let c = matmul(a, b, transA: ta, transB: tb)
            checkForward(c, Ref.matmul(am, bm, m: m, k: k, n: n), rtol: 1e-4, atol: 1e-4, "matmul \(ta) \(tb)")
            (c * r).sum().backward()
            let dAop = Ref.matmul(f64(r), Ref.transpose(bm, r: k, c: n), m: m, k: n, n: k)      // m×k
            let dBop = Ref.matmul(Ref.transpose(am, r: m, c: k), f64(r), m: k, k: m, n: n)      // k×n
            assertClose(a.grad!.array, ta ? Ref.transpose(dAop, r: m, c: k) : dAop, rtol: 1e-4, atol: 1e-4, "dA \(ta) \(tb)")
            assertClose(b.grad!.array, tb ? Ref.transpose(dBop, r: k, c: n) : dBop, rtol: 1e-4, atol: 1e-4, "dB \(ta) \(tb)")
        }
    }

    /// Batches of ≥ 2 entries run one product per thread; results equal the 1-thread run bit for bit.
    func testParallelBatchedMatmulEqualsSerial() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        func run(_ threads: Int) -> ([Float], [Float], [Float]) {
            Threads.set(threads)
            let a = rand([5, 40, 24], seed: 41), b = rand([5, 24, 36], seed: 42)
            let y = matmul(a, b, transB: false)
            (y * rand(y.shape, seed: 43, grad: false)).sum().backward()
            return (y.array, a.grad!.array, b.grad!.array)
        }
        let one = run(1), two = run(2)
        XCTAssertEqual(one.0, two.0); XCTAssertEqual(one.1, two.1); XCTAssertEqual(one.2, two.2)
    }

    /// Statistics far from zero (μ ≈ 50, σ ≈ 0.05): the per-channel rewrite subtracts μ before scaling,
    /// so the normalised output keeps Float32 accuracy. U-Net-like layout: 32 channels, 8 groups.
    func testGroupNormWithLargeOffsetAndManyChannels() {
        let (b, hw, c, g) = (3, 25, 32, 8)
        let x = rand([b, 5, 5, c], seed: 51, 49.95, 50.05), gamma = rand([c], seed: 52, 0.5, 1.5), beta = rand([c], seed: 53)
        let v = f64(x), cg = c / g
        var ref = [Double](repeating: 0, count: x.count)
        for bb in 0..<b { for gg in 0..<g {
            var idx: [Int] = []
            for p in 0..<hw { for k in 0..<cg { idx.append((bb * hw + p) * c + gg * cg + k) } }
            let nrm = Ref.normalize(idx.map { v[$0] }, eps: 1e-5)
            for (j, i) in idx.enumerated() { ref[i] = nrm[j] * Double(gamma.data[i % c]) + Double(beta.data[i % c]) }
        } }
        // Inputs carry ~3e-6 absolute rounding at 50, i.e. ~1e-4 of σ: that is the accuracy to expect.
        checkForward(groupNorm(x, groups: g, weight: gamma, bias: beta), ref, rtol: 1e-3, atol: 1e-3, "groupNorm offset")
        let small = rand([2, 3, 3, 8], seed: 54, -2, 2), gs = rand([8], seed: 55, 0.5, 1.5), bs = rand([8], seed: 56)
        checkGradients([small, gs, bs], eps: 1e-2, "groupNorm 8 channels / 4 groups") { groupNorm($0[0], groups: 4, weight: $0[1], bias: $0[2]) }
    }

    func testAllocatorThresholdsAccepted() {
        XCTAssertTrue(Storage.allocatorConfigured, "glibc refused the mallopt settings (see Storage.swift)")
    }
}
