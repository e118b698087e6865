import XCTest
@testable import Tensor
import CGemm
import TestSupport

/// Session 15 of issue 23 (docs/benchmarks.md): the distillation step's non-GEMM costs, made cheaper without changing
/// a bit. Each test compares with a verbatim copy of the code it replaced (main 7bd1720), on every ISA this CPU runs,
/// at 1 and 2 threads:
/// - `DetMath.exp(_:into:count:)` (Sources/CGemm/detexp.c: fdlibm's exp on 8 or 4 Float64 lanes) against the scalar
///   `DetMath.exp` on its branch boundaries (NaN, ±∞, the overflow and underflow thresholds, |x| around 2⁻²⁸ and
///   0.5·ln2, subnormal results, ±0) and on random arguments of several ranges, at lengths with vector tails;
/// - `klDivergence` (vector exponentials, p = e^{log p} kept for the backward): value and both gradients;
/// - `batchNorm`: the forward's per-channel affine map vectorised in C (adam.c, `rdd_channel_affine`); in evaluation mode
///   (the frozen classifier) the backward skips the unused γ/β sums and splits dx over threads; in training mode and
///   with γ, β trainable it must still give the old gradients.
final class DistillStepKernelTests: XCTestCase {
    /// `body`'s result on every kernel path (the emulated AVX-512 tiling included) at 1 and 2 threads, each
    /// asserted equal to the first (the portable loops at one thread).
    func withEach<R: Equatable>(_ label: String, _ body: () -> R) throws {
        var first: (String, R)?
        for isa in supportedKernelPaths(emulated: true) { for threads in [1, 2] {
            let r = try withKernelPath(isa, threads: threads, body)
            if let (name, f) = first { XCTAssertEqual(r, f, "\(label): \(isa) at \(threads) threads vs \(name)") }
            else { first = ("\(isa) at \(threads) threads", r) }
        } }
    }

    // MARK: the vector exponential

    static func edgeArguments() -> [Double] {
        let hi = 709.782712893383973096, lo = -745.13321910194110842, halfLn2 = 0.5 * 0.6931471805599453
        var v: [Double] = [.nan, -.nan, .infinity, -.infinity, 0, -0.0, 1, -1, 0x1p-28, -0x1p-28, 0x1p-29, 0x1p-27,
                           hi, hi.nextUp, hi.nextDown, lo, lo.nextUp, lo.nextDown, halfLn2, halfLn2.nextUp, halfLn2.nextDown,
                           -halfLn2, -halfLn2.nextUp, -halfLn2.nextDown, 700, -700, -708.4, -709, -720, -740, -745, 1e-300,
                           .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 0.5, -0.5, 2, -2,
                           Double(Float.greatestFiniteMagnitude), 88.7, -103.9]
        for k in -1080...1030 { v.append(Double(k) * 0.6931471805599453); v.append(Double(k) * 0.6931471805599453 + 0.5) }
        return v
    }

    func testVectorExpSameBitsAsScalar() throws {
        var rng = RNG(seed: 23)
        var args = Self.edgeArguments()
        for (lo, hi) in [(-1.0, 1.0), (-40.0, 0.0), (-750.0, 750.0), (-1e-6, 1e-6)] {
            args += (0..<4000).map { _ in lo + (hi - lo) * rng.uniform() }
        }
        let reference = args.map { DetMath.exp($0).bitPattern }
        for n in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, args.count] {
            try withEach("exp of \(n) arguments") { () -> [UInt64] in
                var y = [Double](repeating: -1, count: n)
                args.withUnsafeBufferPointer { a in y.withUnsafeMutableBufferPointer { DetMath.exp(a.baseAddress!, into: $0.baseAddress!, count: n) } }
                XCTAssertEqual(y.map(\.bitPattern), Array(reference.prefix(n)), "exp of \(n) arguments on \(GemmDispatch.isa)")
                return y.map(\.bitPattern)
            }
        }
        // In place (x == y), as logSoftmaxRows64 calls it.
        try withEach("exp in place") { () -> [UInt64] in
            var y = args
            y.withUnsafeMutableBufferPointer { DetMath.exp($0.baseAddress!, into: $0.baseAddress!, count: $0.count) }
            XCTAssertEqual(y.map(\.bitPattern), reference)
            return y.map(\.bitPattern)
        }
    }

    /// The C lanes must actually run where the ISA has them, or the comparison above would be of the loop with itself.
    func testVectorExpRunsOnVectorISAs() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable loop runs here")
        var x: [Double] = [1], y: [Double] = [0]
        for isa in supportedKernelPaths(emulated: true) {
            try withKernelPath(isa) { XCTAssertEqual(rdd_det_exp(&x, &y, 1) != 0, isa != .portable, "\(isa)") }
        }
    }

    // MARK: klDivergence (Sources/Tensor/Ops/Losses.swift before session 15, verbatim)

    static func referenceLogSoftmaxRows64(_ x: UnsafePointer<Float>, scale: Double, rows: Int, n: Int, into y: inout [Double]) {
        for r in 0..<rows {
            let row = x + r * n
            var m = -Double.infinity
            for j in 0..<n { m = max(m, Double(row[j]) * scale) }
            var z = 0.0
            for j in 0..<n { z += DetMath.exp(Double(row[j]) * scale - m) }
            let lz = DetMath.log(z) + m
            for j in 0..<n { y[r * n + j] = Double(row[j]) * scale - lz }
        }
    }

    /// The old value, ∂/∂student and ∂/∂teacher for an upstream gradient g.
    static func referenceKL(t: [Float], s: [Float], n: Int, tauTeacher: Float, tauStudent: Float, g: Float) -> (Float, [Float], [Float]) {
        let rows = t.count / n
        var logP = [Double](repeating: 0, count: t.count), logQ = [Double](repeating: 0, count: t.count)
        referenceLogSoftmaxRows64(t, scale: 1 / Double(tauTeacher), rows: rows, n: n, into: &logP)
        referenceLogSoftmaxRows64(s, scale: 1 / Double(tauStudent), rows: rows, n: n, into: &logQ)
        var rowKL = [Double](repeating: 0, count: rows)
        var total = 0.0
        for r in 0..<rows {
            var acc = 0.0
            for j in 0..<n { let i = r * n + j; acc += DetMath.exp(logP[i]) * (logP[i] - logQ[i]) }
            rowKL[r] = acc
            total += acc
        }
        let value = Float(total / Double(max(rows, 1)))
        let gv = g / Float(rows)
        var ds = [Float](repeating: 0, count: s.count), dt = [Float](repeating: 0, count: t.count)
        for i in 0..<s.count { ds[i] += gv * Float(DetMath.exp(logQ[i]) - DetMath.exp(logP[i])) / tauStudent }
        for r in 0..<rows { for j in 0..<n {
            let i = r * n + j
            dt[i] += gv * Float(DetMath.exp(logP[i]) * (logP[i] - logQ[i] - rowKL[r])) / tauTeacher
        } }
        return (value, ds, dt)
    }

    func testKLDivergenceSameBitsAsBefore() throws {
        var rng = RNG(seed: 15)
        // (rows, n): CFD's (B, 10) logits, II_P2P's A×A relations, M_P2P's pixels × queue; spreads from near-equal
        // logits to ones past exp's underflow after scaling by 1/τ.
        for (rows, n) in [(1, 1), (3, 10), (32, 10), (17, 7), (64, 16), (40, 257), (9, 1000)] {
            for (spread, tauT, tauS) in [(Float(1), Float(1), Float(1)), (10, 0.1, 0.1), (200, 0.04, 1), (0.001, 2, 2)] {
                let t = (0..<(rows * n)).map { _ in Float(rng.uniform() * 2 - 1) * spread }
                let s = (0..<(rows * n)).map { _ in Float(rng.uniform() * 2 - 1) * spread }
                let ref = Self.referenceKL(t: t, s: s, n: n, tauTeacher: tauT, tauStudent: tauS, g: 0.75)
                let want = [ref.0.bitPattern] + ref.1.map(\.bitPattern) + ref.2.map(\.bitPattern)
                try withEach("KL \(rows)×\(n) spread \(spread)") { () -> [UInt32] in
                    let tt = Tensor(t, shape: [rows, n], requiresGrad: true), st = Tensor(s, shape: [rows, n], requiresGrad: true)
                    let kl = klDivergence(teacherLogits: tt, studentLogits: st, tauTeacher: tauT, tauStudent: tauS)
                    kl.backward(Tensor(scalar: 0.75))
                    let got = [kl.item.bitPattern] + st.grad!.array.map(\.bitPattern) + tt.grad!.array.map(\.bitPattern)
                    XCTAssertEqual(got, want, "KL \(rows)×\(n) spread \(spread) τ \(tauT)/\(tauS) on \(GemmDispatch.isa)")
                    return got
                }
            }
        }
    }

    // MARK: batchNorm's backward (Sources/Tensor/Ops/Normalization.swift before session 15, verbatim)

    static func referenceBatchNormBackward(x: [Float], dy: [Float], gamma: [Float], mean: [Float], rstd: [Float], c: Int,
                                           training: Bool) -> (dx: [Float], dgamma: [Float], dbeta: [Float]) {
        let rows = x.count / c
        var dgamma = [Double](repeating: 0, count: c), dbeta = [Double](repeating: 0, count: c)
        for r in 0..<rows { for k in 0..<c {
            let i = r * c + k
            dgamma[k] += Double(dy[i] * (x[i] - mean[k]) * rstd[k]); dbeta[k] += Double(dy[i])
        } }
        var dx = [Float](repeating: 0, count: x.count)
        if training {
            let n = Float(rows)
            for r in 0..<rows { for k in 0..<c {
                let i = r * c + k
                let xh = (x[i] - mean[k]) * rstd[k]
                dx[i] += rstd[k] * gamma[k] * (dy[i] - Float(dbeta[k]) / n - xh * Float(dgamma[k]) / n)
            } }
        } else {
            for r in 0..<rows { for k in 0..<c { dx[r * c + k] += dy[r * c + k] * gamma[k] * rstd[k] } }
        }
        return (dx, dgamma.map { Float($0) }, dbeta.map { Float($0) })
    }

    func testBatchNormBackwardSameBitsAsBefore() throws {
        var rng = RNG(seed: 8)
        for (rows, c) in [(1, 1), (7, 3), (2048, 24), (512, 132), (3000, 5)] {
            for training in [false, true] { for trainableAffine in [false, true] {
                if training && rows == 1 { continue }   // training mode needs two values per channel
                let x = (0..<(rows * c)).map { _ in Float(rng.uniform() * 6 - 2) }
                let dy = (0..<(rows * c)).map { _ in Float(rng.uniform() * 2 - 1) }
                let gamma = (0..<c).map { _ in Float(rng.uniform() * 2 + 0.1) }, beta = (0..<c).map { _ in Float(rng.uniform() - 0.5) }
                let rm = (0..<c).map { _ in Float(rng.uniform() - 0.5) }, rv = (0..<c).map { _ in Float(rng.uniform() * 3 + 0.01) }
                // mean and rstd exactly as batchNorm computes them.
                var mean = [Float](repeating: 0, count: c), rstd = [Float](repeating: 0, count: c)
                if training {
                    var s1 = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
                    for r in 0..<rows { for k in 0..<c { let v = Double(x[r * c + k]); s1[k] += v; s2[k] += v * v } }
                    for k in 0..<c {
                        let m = s1[k] / Double(rows), v = max(s2[k] / Double(rows) - m * m, 0)
                        mean[k] = Float(m); rstd[k] = Float(1 / (v + Double(Float(1e-5))).squareRoot())
                    }
                } else {
                    for k in 0..<c { mean[k] = rm[k]; rstd[k] = 1 / (rv[k] + 1e-5).squareRoot() }
                }
                let ref = Self.referenceBatchNormBackward(x: x, dy: dy, gamma: gamma, mean: mean, rstd: rstd, c: c, training: training)
                // The forward as before: y = x·scale + shift, scale = rstd·γ, shift = β − mean·scale.
                let scale = (0..<c).map { rstd[$0] * gamma[$0] }
                let shift = (0..<c).map { beta[$0] - mean[$0] * scale[$0] }
                let yRef = (0..<(rows * c)).map { i in x[i] * scale[i % c] + shift[i % c] }
                let want = yRef.map(\.bitPattern) + ref.dx.map(\.bitPattern) + (trainableAffine ? (ref.dgamma + ref.dbeta).map(\.bitPattern) : [])
                try withEach("batchNorm \(rows)×\(c) training \(training)") { () -> [UInt32] in
                    let xt = Tensor(x, shape: [rows, c], requiresGrad: true)
                    let gt = Tensor(gamma, shape: [c], requiresGrad: trainableAffine), bt = Tensor(beta, shape: [c], requiresGrad: trainableAffine)
                    let y = batchNorm(xt, weight: gt, bias: bt, runningMean: Tensor(rm, shape: [c]), runningVar: Tensor(rv, shape: [c]),
                                      training: training)
                    y.backward(Tensor(dy, shape: [rows, c]))
                    let got = y.array.map(\.bitPattern) + xt.grad!.array.map(\.bitPattern)
                        + (trainableAffine ? (gt.grad!.array + bt.grad!.array).map(\.bitPattern) : [])
                    XCTAssertEqual(got, want, "batchNorm \(rows)×\(c) training \(training) affine \(trainableAffine) on \(GemmDispatch.isa)")
                    return got
                }
            } }
        }
    }
}
