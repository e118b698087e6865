import XCTest
@testable import NN
@testable import Tensor
import TestSupport

/// Session 15 of issue 23 (docs/benchmarks.md): Adam's element update without weight decay runs vectorised in C
/// (Sources/CGemm/adam.c). It must give the bits of the Swift loop it replaced — kept below verbatim (main 7bd1720) —
/// for parameters, first and second moments over several steps, on every ISA this CPU runs, at 1 and 2 threads, for
/// sizes with vector tails and above the threaded chunk (2¹⁵); weight decay (coupled and decoupled) stays the loop.
final class AdamKernelTests: KernelPathTestCase {
    /// The old `Adam.update` for one parameter (step counted from 1).
    static func referenceStep(p: inout [Float], g: [Float], m: inout [Float], v: inout [Float], step: Int, lr: Float,
                              b1: Float, b2: Float, e: Float, wd: Float, dec: Bool) {
        let bc1 = 1 - DetMath.pow(Double(b1), step)
        let bc2 = 1 - DetMath.pow(Double(b2), step)
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let lrv = lr
        for j in 0..<p.count {
            var gj = g[j]
            if wd != 0 {
                if dec { p[j] *= 1 - lrv * wd } else { gj += wd * p[j] }
            }
            let mj = b1 * m[j] + (1 - b1) * gj
            let vj = b2 * v[j] + (1 - b2) * gj * gj
            m[j] = mj; v[j] = vj
            p[j] -= stepSize * mj / (vj.squareRoot() / bc2Sqrt + e)
        }
    }

    func testUpdateSameBitsAsBefore() throws {
        let isas = supportedKernelPaths(emulated: true)
        var rng = RNG(seed: 3)
        let sizes = [1, 7, 15, 16, 17, 33, 40_000, 100_003]
        let p0 = sizes.map { n in (0..<n).map { _ in Float(rng.uniform() * 2 - 1) } }
        // Gradients of several scales per step, and exact zeros (v = 0 at the first step: √0 / c + ε).
        var grads: [[[Float]]] = []
        for s in 0..<3 {
            let scale = Float(s * 100 + 1) * 1e-3
            var perSize: [[Float]] = []
            for n in sizes {
                var g = [Float](repeating: 0, count: n)
                for i in 0..<n where i % 11 != 0 { g[i] = Float(rng.uniform() * 2 - 1) * scale }
                perSize.append(g)
            }
            grads.append(perSize)
        }
        for (wd, dec) in [(Float(0), false), (0.01, false), (0.01, true)] {
            var want: [[UInt32]] = []
            for (k, n) in sizes.enumerated() {
                var p = p0[k], m = [Float](repeating: 0, count: n), v = m
                for s in 0..<3 {
                    Self.referenceStep(p: &p, g: grads[s][k], m: &m, v: &v, step: s + 1, lr: 3e-4, b1: 0.9, b2: 0.999, e: 1e-8, wd: wd, dec: dec)
                }
                want.append((p + m + v).map(\.bitPattern))
            }
            for isa in isas { for threads in [1, 2] {
                try GemmDispatch.select(isa)
                Threads.set(threads)
                let params = sizes.enumerated().map { (k, n) in ("p\(k)", Tensor(p0[k], shape: [n], requiresGrad: true)) }
                let adam = Adam(params, lr: 3e-4, weightDecay: wd, decoupled: dec)
                for s in 0..<3 {
                    for (k, (_, t)) in params.enumerated() { t.grad = Tensor(grads[s][k], shape: [sizes[k]]) }
                    adam.update()
                }
                for (k, (_, t)) in params.enumerated() {
                    XCTAssertEqual((t.array + adam.m[k].array + adam.v[k].array).map(\.bitPattern), want[k],
                                   "size \(sizes[k]) wd \(wd) decoupled \(dec) on \(isa) at \(threads) threads")
                }
            } }
        }
    }
}
