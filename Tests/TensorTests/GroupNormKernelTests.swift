import XCTest
@testable import Tensor
import TestSupport

/// GroupNorm in C (Sources/CGemm/groupnorm.c, issue 23: the forward on AVX-512F and AVX2, the backward on
/// AVX-512F) gives exactly the bits of the Swift loops it replaced, with and without the fused SiLU, at 1 and
/// 2 threads: the forward against a copy of the loops (kept below verbatim) on every ISA this CPU runs, the
/// backward against the portable and AVX2 paths (which run the loops). Edge shapes: channel counts below, at and past the 16-float vector and the 64-channel
/// register block (tails), single pixels, and affine parameters that push SiLU's input past fastExp's
/// clamp (|v| > 87).
final class GroupNormKernelTests: KernelPathTestCase {
    /// groupNormCore's forward before the C kernel (main 458b112), unchanged: per-channel Float64 sums in
    /// pixel order, group statistics from the channels' sums, y = (x − μ)·(rstd·γ) + β, optional SiLU.
    static func reference(x: [Float], b: Int, c: Int, groups: Int, gamma: [Float], beta: [Float], eps: Float, silu: Bool) -> [Float] {
        let a = x.count / (b * c), cg = c / groups
        let n = Double(a * cg)
        var y = [Float](repeating: 0, count: x.count)
        var s1 = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
        var scale = [Float](repeating: 0, count: c), mu = [Float](repeating: 0, count: c)
        for bb in 0..<b {
            let xb = bb * a * c
            for k in 0..<c { s1[k] = 0; s2[k] = 0 }
            for p in 0..<a {
                let row = xb + p * c
                for k in 0..<c { let v = Double(x[row + k]); s1[k] += v; s2[k] += v * v }
            }
            for g in 0..<groups {
                var g1 = 0.0, g2 = 0.0
                for k in g * cg ..< (g + 1) * cg { g1 += s1[k]; g2 += s2[k] }
                let m = g1 / n
                let r = 1 / (max(g2 / n - m * m, 0) + Double(eps)).squareRoot()
                for k in g * cg ..< (g + 1) * cg { scale[k] = Float(r) * gamma[k]; mu[k] = Float(m) }
            }
            for p in 0..<a {
                let r = xb + p * c
                if silu {
                    for k in 0..<c { let v = (x[r + k] - mu[k]) * scale[k] + beta[k]; y[r + k] = v * fastSigmoid(v) }
                } else {
                    for k in 0..<c { y[r + k] = (x[r + k] - mu[k]) * scale[k] + beta[k] }
                }
            }
        }
        return y
    }

    func testForwardSameBitsAsReference() throws {
        let isas = supportedKernelPaths()
        var rng = RNG(seed: 41)
        var compared = 0
        for (c, groups) in [(4, 2), (8, 4), (12, 3), (16, 4), (20, 5), (32, 8), (48, 4), (64, 32), (80, 16), (100, 4), (130, 2), (256, 32)] {
            for (b, h, w) in [(1, 1, 1), (3, 3, 5), (2, 8, 8)] {
                let x = rng.uniforms(b * h * w * c, -2, 3)
                var gamma = rng.uniforms(c, -3, 3), beta = rng.uniforms(c, -1, 1)
                beta[0] = 100; gamma[0] = 0.5                  // SiLU input beyond fastExp's upper clamp …
                beta[c - 1] = -100; gamma[c - 1] = 0.5         // … and below its lower one
                for silu in [false, true] {
                    let want = Self.reference(x: x, b: b, c: c, groups: groups, gamma: gamma, beta: beta, eps: 1e-5, silu: silu)
                    for isa in isas { for threads in [1, 2] {
                        try GemmDispatch.select(isa)
                        Threads.set(threads)
                        let xt = Tensor(x, shape: [b, h, w, c]), gt = Tensor(gamma, shape: [c]), bt = Tensor(beta, shape: [c])
                        let got = (silu ? groupNormSiLU(xt, groups: groups, weight: gt, bias: bt)
                                        : groupNorm(xt, groups: groups, weight: gt, bias: bt)).array
                        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern),
                                       "\(isa) threads \(threads): \(b)x\(h)x\(w)x\(c), \(groups) groups, silu \(silu)")
                        compared += 1
                    } }
                }
            }
        }
        XCTAssertEqual(compared, 12 * 3 * 2 * isas.count * 2)
    }

    /// The backward (dx, dγ, dβ) on AVX-512F equals the Swift loops' (the portable and AVX2 paths, the code
    /// before the C kernel) bit for bit, at 1 and 2 threads, with and without SiLU, in its three
    /// forms: dŷ stored over dy (the usual case), dŷ recomputed (the output's gradient retained), and dx
    /// accumulated into an existing gradient (x used twice, in both orders). dy = w exactly (L = Σ w ⊙ y).
    func testBackwardSameBitsOnEveryISA() throws {
        let isas = supportedKernelPaths()
        try XCTSkipUnless(isas.count > 1, "CPU lacks AVX2+FMA: only one path runs here")
        var rng = RNG(seed: 43)
        for (c, groups) in [(4, 2), (12, 3), (20, 5), (64, 32), (100, 4), (130, 2), (256, 32)] {
            for (b, h, w) in [(1, 1, 1), (3, 3, 5), (2, 8, 8)] {
                let x = rng.uniforms(b * h * w * c, -2, 3), wy = rng.uniforms(b * h * w * c, -1, 1), wx = rng.uniforms(b * h * w * c, -1, 1)
                var gamma = rng.uniforms(c, -3, 3), beta = rng.uniforms(c, -1, 1)
                beta[0] = 100; gamma[0] = 0.5; beta[c - 1] = -100; gamma[c - 1] = 0.5
                for silu in [false, true] { for form in ["stored", "retained", "accumulated", "accumulated first"] {
                    var results: [[UInt32]] = []
                    for isa in isas { for threads in [1, 2] {
                        try GemmDispatch.select(isa)
                        Threads.set(threads)
                        let xt = Tensor(x, shape: [b, h, w, c], requiresGrad: true)
                        let gt = Tensor(gamma, shape: [c], requiresGrad: true), bt = Tensor(beta, shape: [c], requiresGrad: true)
                        let y = silu ? groupNormSiLU(xt, groups: groups, weight: gt, bias: bt) : groupNorm(xt, groups: groups, weight: gt, bias: bt)
                        if form == "retained" { y.retainGrad() }
                        var loss = (y * Tensor(wy, shape: y.shape)).sum()
                        // x used twice: one of the two backward passes into x finds its gradient already
                        // written and accumulates (which one depends on the graph order: both orders).
                        if form == "accumulated" { loss = (xt * Tensor(wx, shape: xt.shape)).sum() + loss }
                        if form == "accumulated first" { loss = loss + (xt * Tensor(wx, shape: xt.shape)).sum() }
                        loss.backward()
                        results.append((xt.grad!.array + gt.grad!.array + bt.grad!.array).map(\.bitPattern))
                    } }
                    for k in 1..<results.count {
                        XCTAssertEqual(results[k], results[0], "\(isas[k / 2]) threads \(k % 2 + 1) vs \(isas[0]) 1 thread: \(b)x\(h)x\(w)x\(c), \(groups) groups, silu \(silu), \(form)")
                    }
                } }
            }
        }
    }

    /// The C kernels run where they should — the forward on AVX2 and AVX-512F, the backward on AVX-512F —
    /// and nowhere else (a silent fallback to the Swift loops would make the comparisons above vacuous;
    /// skipped with the reason on a CPU without AVX2).
    func testKernelsRunOnVectorISAs() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the Swift loops run here")
        for isa in supportedKernelPaths() {
            try GemmDispatch.select(isa)
            let runs = groupNormKernelsRun()
            XCTAssertEqual(runs.forward, isa != .portable, "forward on \(isa)")
            XCTAssertEqual(runs.backward, isa == .avx512, "backward on \(isa)")
        }
    }
}
