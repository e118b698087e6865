import XCTest
@testable import Distill
@testable import Tensor
import TestSupport

/// Session 15 of issue 23 (docs/benchmarks.md): the blocked IS_P2P kernel takes each relation row's log-softmaxes and
/// exponentials on vector lanes (logSoftmaxRows64, DetMath.exp(_:into:count:)). It must give the bits of the per-segment
/// scalar loops it replaced — kept below verbatim (main 7bd1720) — for the loss and the gradient, at every block size,
/// on every ISA this CPU runs, at 1 and 2 threads.
final class ISP2PKernelTests: KernelPathTestCase {
    static func referenceLogSoftmax64(_ x: UnsafePointer<Float>, count n: Int, scale: Double, into y: inout [Double]) {
        var m = -Double.infinity
        for k in 0..<n { m = max(m, Double(x[k]) * scale) }
        var z = 0.0
        for k in 0..<n { z += DetMath.exp(Double(x[k]) * scale - m) }
        let lz = DetMath.log(z) + m
        for k in 0..<n { y[k] = Double(x[k]) * scale - lz }
    }

    static func referenceBlockedRelationKL(teacher t: UnsafePointer<Float>, student s: UnsafePointer<Float>, samples b: Int, pixels a: Int,
                                           channels c: Int, tau: Double, blockSize: Int, gradient: Bool) -> (Double, [Float]?) {
        let n = b * a
        let bs = min(blockSize, b)
        let rowsMax = bs * a
        var rt = [Float](repeating: 0, count: rowsMax * n)
        var rs = [Float](repeating: 0, count: rowsMax * n)
        var grad: [Float]? = gradient ? [Float](repeating: 0, count: n * c) : nil
        var logP = [Double](repeating: 0, count: a), logQ = [Double](repeating: 0, count: a)
        let invTau = 1 / tau
        let scale = 1 / (Double(b) * Double(b) * Double(a))
        var total = 0.0
        var i0 = 0
        while i0 < b {
            let nb = min(bs, b - i0), rows = nb * a
            rt.withUnsafeMutableBufferPointer { rtp in rs.withUnsafeMutableBufferPointer { rsp in
                sgemmParallel(transA: false, transB: true, m: rows, n: n, k: c, a: t + i0 * a * c, b: t, c: rtp.baseAddress!)
                sgemmParallel(transA: false, transB: true, m: rows, n: n, k: c, a: s + i0 * a * c, b: s, c: rsp.baseAddress!)
                for r in 0..<rows {
                    for j in 0..<b {
                        let off = r * n + j * a
                        referenceLogSoftmax64(rtp.baseAddress! + off, count: a, scale: invTau, into: &logP)
                        referenceLogSoftmax64(rsp.baseAddress! + off, count: a, scale: invTau, into: &logQ)
                        var kl = 0.0
                        for k in 0..<a {
                            let p = DetMath.exp(logP[k])
                            kl += p * (logP[k] - logQ[k])
                            rsp[off + k] = Float((DetMath.exp(logQ[k]) - p) * invTau * scale)
                        }
                        total += kl
                    }
                }
                if gradient {
                    grad!.withUnsafeMutableBufferPointer { gp in
                        let g = gp.baseAddress!
                        sgemmParallel(transA: false, transB: false, m: rows, n: c, k: n, a: rsp.baseAddress!, b: s,
                                      beta: 1, c: g + i0 * a * c)
                        sgemmParallel(transA: true, transB: false, m: n, n: c, k: rows, a: rsp.baseAddress!, lda: n,
                                      b: s + i0 * a * c, beta: 1, c: g)
                    }
                }
            } }
            i0 += nb
        }
        return (total * scale, grad)
    }

    func testBlockedRelationKLSameBitsAsBefore() throws {
        let isas = supportedKernelPaths(emulated: true)
        var rng = RNG(seed: 7)
        // (B, A, C): single pixels, segments shorter than a vector and with tails, the small preset's 4×4 and 8×8 maps.
        for (b, a, c) in [(1, 1, 3), (2, 3, 5), (3, 5, 7), (4, 16, 24), (5, 9, 12), (8, 64, 16)] {
            let t = (0..<(b * a * c)).map { _ in Float(rng.uniform() * 2 - 1) }
            let s = (0..<(b * a * c)).map { _ in Float(rng.uniform() * 2 - 1) }
            for (tau, blockSize, gradient) in [(0.1, 1, true), (0.5, 2, true), (1.0, b, false), (0.02, 3, true)] {
                let ref = Self.referenceBlockedRelationKL(teacher: t, student: s, samples: b, pixels: a, channels: c, tau: tau,
                                                          blockSize: blockSize, gradient: gradient)
                for isa in isas { for threads in [1, 2] {
                    try GemmDispatch.select(isa)
                    Threads.set(threads)
                    let got = blockedRelationKL(teacher: t, student: s, samples: b, pixels: a, channels: c, tau: tau,
                                                blockSize: blockSize, gradient: gradient)
                    let label = "B \(b) A \(a) C \(c) τ \(tau) block \(blockSize) on \(isa) at \(threads) threads"
                    XCTAssertEqual(got.0.bitPattern, ref.0.bitPattern, label)
                    XCTAssertEqual(got.1?.map(\.bitPattern), ref.1?.map(\.bitPattern), label)
                    XCTAssertEqual(got.1 == nil, !gradient, label)
                } }
            }
        }
    }
}
