import XCTest
import CGemm
@testable import Tensor
import TestSupport

/// The forward's prepared weights (session 14, issue 23; numbers unchanged at rdd-0.6.0):
///   - `rdd_winograd_weight_packed` (the Winograd weight transform written straight into the GEMM's packed
///     layout, split over threads) against the path it replaced — the Swift `Winograd.transformWeight` followed
///     by `packBForOwnKernel` of each U_ξ — bit for bit, on every ISA this CPU runs, at 1 and 2 threads, on
///     edge shapes (1 channel, N < 16, K and N past one GEMM block: 256), forward and flipped; and against a
///     Float64 G·g·Gᵀ within one Float32 rounding;
///   - `PreparedWeights` (kept between calls while the weight is unchanged): a convolution's forward with a
///     kept entry, with a fresh one and with the cache off (the per-call preparation, i.e. the old path) give
///     the same bits, on the Winograd and the lowered (1×1, strided, direct 3×3, 5×5) paths and on the
///     Winograd input gradient; a weight changed in place is prepared again (a stale entry would give the old
///     output, which the test shows differs); the old Winograd path (`transformWeight` + plain products) gives
///     the same bits too; everything within the Float64 reference's bounds of Conv2dKernelTests/WinogradTests.
final class PreparedWeightsTests: XCTestCase {
    typealias K = Conv2dKernelTests

    private var saved = (algorithm: Conv2dTuning.algorithm, bytes: Conv2dTuning.preparedWeightBytes, threads: Threads.count)

    override func setUp() {
        super.setUp()
        saved = (Conv2dTuning.algorithm, Conv2dTuning.preparedWeightBytes, Threads.count)
        PreparedWeights.clear()
    }

    override func tearDown() {
        Conv2dTuning.algorithm = saved.algorithm
        Conv2dTuning.preparedWeightBytes = saved.bytes
        Threads.set(saved.threads)
        PreparedWeights.clear()
        super.tearDown()
    }

    /// The old path: Swift transform into 16 plain Cin × Cout matrices, then each packed.
    func transformThenPack(_ w: [Float], cin: Int, cout: Int, flipped: Bool) -> [Float] {
        var u = [Float](repeating: .nan, count: 16 * cin * cout)
        u.withUnsafeMutableBufferPointer { up in
            if flipped {  // w is (cin, cout, 3, 3): g(o, i, a, b) = w[i, o, 2 − a, 2 − b] (conv2dBackward's closure)
                Winograd.transformWeight(up.baseAddress!, cin: cin, cout: cout) { o, i, a, b in w[((i * cout + o) * 3 + 2 - a) * 3 + 2 - b] }
            } else {
                Winograd.transformWeight(up.baseAddress!, cin: cin, cout: cout) { o, i, a, b in w[((o * cin + i) * 3 + a) * 3 + b] }
            }
        }
        let per = packedBFloats(n: cout, k: cin)
        var packed = [Float](repeating: .nan, count: 16 * per)
        packed.withUnsafeMutableBufferPointer { pp in
            u.withUnsafeBufferPointer { up in
                for xi in 0..<16 {
                    packBForOwnKernel(transB: false, n: cout, k: cin, b: up.baseAddress! + xi * cin * cout, ldb: cout,
                                      into: pp.baseAddress! + xi * per)
                }
            }
        }
        return packed
    }

    func packedInOnePass(_ w: [Float], cin: Int, cout: Int, flipped: Bool) -> [Float] {
        var packed = [Float](repeating: .nan, count: Winograd.packedWeightFloats(cin: cin, cout: cout))
        packed.withUnsafeMutableBufferPointer { pp in
            w.withUnsafeBufferPointer { Winograd.packWeight(pp.baseAddress!, $0.baseAddress!, cin: cin, cout: cout, flipped: flipped) }
        }
        return packed
    }

    let transformShapes = [(1, 1), (3, 64), (64, 3), (17, 33), (256, 256), (300, 20), (20, 300), (257, 258)]

    func testPackedWeightTransformSameBits() throws {
        let isas = supportedKernelPaths()
        var rng = RNG(seed: 41)
        for (cin, cout) in transformShapes {
            let w = K.rand(9 * cin * cout, &rng)
            for flipped in [false, true] {
                let old = transformThenPack(w, cin: cin, cout: cout, flipped: flipped)
                for isa in isas { for t in [1, 2] {
                    let new = try withKernelPath(isa, threads: t) { packedInOnePass(w, cin: cin, cout: cout, flipped: flipped) }
                    XCTAssertEqual(bitPatterns(new), bitPatterns(old), "\(cin)->\(cout) flipped \(flipped), \(isa), \(t) threads")
                } }
            }
        }
        if isas.count == 1 { throw XCTSkip("CPU lacks AVX2+FMA: only the portable build of the transform ran (against the old path)") }
    }

    /// Each packed element against U = G·g·Gᵀ in Float64 by plain matrix products (a different order of
    /// Float64 operations), unpacked by rdd_pack_b's layout: within one Float32 rounding (half an ulp of
    /// the Float64 value, plus the Float64 round-off of either order, ~1e-16 for weights in [−1, 1]: bounded here by 2⁻²³·|U| + 1e-12).
    func testPackedWeightTransformAgainstFloat64() {
        var rng = RNG(seed: 43)
        let G: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
        for (cin, cout) in [(3, 64), (64, 3), (300, 20), (20, 300)] {
            let w = K.rand(9 * cin * cout, &rng)
            let packed = packedInOnePass(w, cin: cin, cout: cout, flipped: false)
            let per = packedBFloats(n: cout, k: cin)
            // Unpack: pack the matrix of positions 1 + (i·cout + o) the same way and read where each went (0: padding).
            var index = [Float](repeating: 0, count: cin * cout)
            for n in 0..<(cin * cout) { index[n] = Float(n + 1) }   // exact: cin·cout < 2²⁴
            var position = [Float](repeating: -1, count: per)
            position.withUnsafeMutableBufferPointer { dp in
                index.withUnsafeBufferPointer { packBForOwnKernel(transB: false, n: cout, k: cin, b: $0.baseAddress!, ldb: cout, into: dp.baseAddress!) }
            }
            var checked = 0
            for (pos, tag) in position.enumerated() where tag > 0 {
                let i = (Int(tag) - 1) / cout, o = (Int(tag) - 1) % cout
                var g = [[Double]](repeating: [0, 0, 0], count: 3)
                for a in 0..<3 { for b in 0..<3 { g[a][b] = Double(w[((o * cin + i) * 3 + a) * 3 + b]) } }
                for xa in 0..<4 {
                    for xb in 0..<4 {
                        var u = 0.0
                        for a in 0..<3 { for b in 0..<3 { u += G[xa][a] * g[a][b] * G[xb][b] } }
                        let got = Double(packed[(xa * 4 + xb) * per + pos])
                        XCTAssertLessThanOrEqual(abs(got - u), abs(u) * 0x1p-23 + 1e-12, "\(cin)->\(cout) U[\(xa)\(xb)] at i \(i) o \(o)")
                    }
                }
                checked += 1
            }
            for (pos, tag) in position.enumerated() where tag == 0 {
                for xi in 0..<16 { XCTAssertEqual(packed[xi * per + pos].bitPattern, 0, "padding past N is +0") }
            }
            XCTAssertEqual(checked, cin * cout, "every (i, o) found once in the packed layout")
        }
    }

    // MARK: - The cache on whole convolutions

    let winogradShapes: [K.Geo] = [
        K.Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 17, k: 3, s: 1, p: 1),
        K.Geo(B: 2, H: 6, W: 6, Cin: 3, Cout: 64, k: 3, s: 1, p: 1),         // the U-Net's input layer
        K.Geo(B: 2, H: 6, W: 5, Cin: 64, Cout: 3, k: 3, s: 1, p: 1),         // and its output layer
        K.Geo(B: 1, H: 1, W: 1, Cin: 4, Cout: 5, k: 3, s: 1, p: 1),
        K.Geo(B: 2, H: 4, W: 4, Cin: 260, Cout: 270, k: 3, s: 1, p: 1),     // two K and two N blocks
    ]
    let loweredShapes: [K.Geo] = [
        K.Geo(B: 2, H: 8, W: 8, Cin: 19, Cout: 13, k: 1, s: 1, p: 0),        // 1×1: the weight is B as it is
        K.Geo(B: 2, H: 9, W: 8, Cin: 20, Cout: 35, k: 3, s: 2, p: 1),        // strided: permuted weight
        K.Geo(B: 1, H: 20, W: 18, Cin: 5, Cout: 17, k: 3, s: 1, p: 0),       // band lowering: k packed parts
        K.Geo(B: 2, H: 9, W: 8, Cin: 2, Cout: 3, k: 5, s: 2, p: 1),
        K.Geo(B: 1, H: 6, W: 6, Cin: 300, Cout: 20, k: 1, s: 1, p: 0),       // K past one block
    ]

    /// forward(g) three ways — cache off (per-call preparation: the code before the cache), first call with the
    /// cache (prepared and kept), second call (kept entry used) — same bits; plus the Float64 bound.
    func checkCacheInvariant(_ g: K.Geo, seed: UInt64, bound: Double, _ what: String) {
        var rng = RNG(seed: seed)
        let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng), b = K.rand(g.Cout, &rng)
        Conv2dTuning.preparedWeightBytes = 0
        PreparedWeights.clear()
        let perCall = K.forward(g, x: x, w: w, b: b)
        XCTAssertEqual(PreparedWeights.bytes, 0, "nothing kept with the cache off")
        Conv2dTuning.preparedWeightBytes = 256 << 20
        let first = K.forward(g, x: x, w: w, b: b)
        let hits0 = PreparedWeights.statistics.hits
        let second = K.forward(g, x: x, w: w, b: b)
        XCTAssertGreaterThan(PreparedWeights.statistics.hits, hits0, "\(what) \(g): the second call used the kept weights")
        XCTAssertGreaterThan(PreparedWeights.bytes, 0)
        XCTAssertEqual(bitPatterns(first), bitPatterns(perCall), "\(what) \(g): prepared and kept vs per call")
        XCTAssertEqual(bitPatterns(second), bitPatterns(perCall), "\(what) \(g): kept entry vs per call")
        let ref = K.refForward(g, x: x, w: w, b: b)
        var e = 0.0, r = 0.0
        for i in 0..<ref.count { e = max(e, abs(Double(second[i]) - ref[i])); r = max(r, abs(ref[i])) }
        XCTAssertLessThanOrEqual(e / max(r, 1e-300), bound, "\(what) \(g) against Float64")
    }

    func testWinogradForwardWithKeptWeightsSameBits() {
        Conv2dTuning.algorithm = .winograd
        for (n, g) in winogradShapes.enumerated() { checkCacheInvariant(g, seed: 50 + UInt64(n), bound: 2e-6, "winograd") }
    }

    func testLoweredForwardWithKeptWeightsSameBits() {
        for algorithm in [ConvAlgorithm.direct, .winograd] {   // the strided and 1×1 layers are lowered under both
            Conv2dTuning.algorithm = algorithm
            for (n, g) in loweredShapes.enumerated() { checkCacheInvariant(g, seed: 60 + UInt64(n), bound: 1e-5, "lowered, \(algorithm)") }
        }
        // A stride-1 3×3 layer under RDD_CONV=direct (the band and full lowerings of a direct 3×3).
        Conv2dTuning.algorithm = .direct
        checkCacheInvariant(K.Geo(B: 2, H: 16, W: 17, Cin: 6, Cout: 18, k: 3, s: 1, p: 1), seed: 70, bound: 1e-5, "direct 3x3 band")
        checkCacheInvariant(K.Geo(B: 3, H: 5, W: 4, Cin: 6, Cout: 18, k: 3, s: 1, p: 1), seed: 71, bound: 1e-5, "direct 3x3 full")
    }

    /// The old Winograd forward (Swift transform, products on plain matrices) and the new one (one-pass packed
    /// transform, kept) give the same bits.
    func testWinogradForwardSameBitsAsOldPath() {
        Conv2dTuning.algorithm = .winograd
        var rng = RNG(seed: 80)
        for g in winogradShapes {
            let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng)
            let new = K.forward(g, x: x, w: w, b: nil)
            var u = [Float](repeating: .nan, count: 16 * g.Cin * g.Cout)
            var old = [Float](repeating: .nan, count: g.yCount)
            u.withUnsafeMutableBufferPointer { up in
                Winograd.transformWeight(up.baseAddress!, cin: g.Cin, cout: g.Cout) { o, i, a, b in w[((o * g.Cin + i) * 3 + a) * 3 + b] }
            }
            u.withUnsafeBufferPointer { up in x.withUnsafeBufferPointer { xp in old.withUnsafeMutableBufferPointer { yp in
                Winograd.forward(yp.baseAddress!, xp.baseAddress!, .plain(up.baseAddress!), B: g.B, H: g.H, W: g.W, cin: g.Cin, cout: g.Cout, .zero)
            } } }
            XCTAssertEqual(bitPatterns(new), bitPatterns(old), "\(g)")
        }
    }

    /// A weight changed in place (same address, as an optimiser step does) is prepared again: the output equals a
    /// fresh computation and differs from the output with the old weight (which a stale entry would return).
    func testChangedWeightIsPreparedAgain() {
        for (algorithm, g) in [(ConvAlgorithm.winograd, winogradShapes[0]), (.winograd, loweredShapes[1]), (.direct, loweredShapes[2])] {
            Conv2dTuning.algorithm = algorithm
            Conv2dTuning.preparedWeightBytes = 256 << 20
            PreparedWeights.clear()
            var rng = RNG(seed: 90)
            let x = K.rand(g.xCount, &rng)
            var w = K.rand(g.wCount, &rng)
            let before = K.forward(g, x: x, w: w, b: nil)
            _ = K.forward(g, x: x, w: w, b: nil)
            XCTAssertGreaterThan(PreparedWeights.statistics.hits, 0, "\(g): kept")
            w.withUnsafeMutableBufferPointer { $0[$0.count / 2] += 0.25 }   // in place: same address
            let after = K.forward(g, x: x, w: w, b: nil)
            Conv2dTuning.preparedWeightBytes = 0
            let fresh = K.forward(g, x: x, w: w, b: nil)
            XCTAssertEqual(bitPatterns(after), bitPatterns(fresh), "\(algorithm) \(g): changed weight prepared again")
            XCTAssertNotEqual(bitPatterns(after), bitPatterns(before), "\(algorithm) \(g): the change shows in the output (else this test could not fail)")
        }
    }

    /// The Winograd input gradient (flipped weights) with kept weights: same bits as per call.
    func testWinogradInputGradientWithKeptWeightsSameBits() {
        Conv2dTuning.algorithm = .winograd
        var rng = RNG(seed: 100)
        for g in winogradShapes {
            let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng), dy = K.rand(g.yCount, &rng)
            func dx(_ bytes: Int) -> [Float] {
                Conv2dTuning.preparedWeightBytes = bytes
                var dx: [Float]? = [Float](repeating: 0.5, count: g.xCount), dw: [Float]? = nil, db: [Float]? = nil
                K.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
                return dx!
            }
            let perCall = dx(0), first = dx(256 << 20), kept = dx(256 << 20)
            XCTAssertEqual(bitPatterns(first), bitPatterns(perCall), "\(g)")
            XCTAssertEqual(bitPatterns(kept), bitPatterns(perCall), "\(g)")
        }
        XCTAssertGreaterThan(PreparedWeights.statistics.hits, 0)
    }

    /// Over the budget nothing is kept (and nothing else is evicted); results are the same.
    func testBudgetIsRespected() {
        Conv2dTuning.algorithm = .winograd
        let g = winogradShapes[1]
        var rng = RNG(seed: 110)
        let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng)
        let need = (g.wCount + Winograd.packedWeightFloats(cin: g.Cin, cout: g.Cout)) * 4
        Conv2dTuning.preparedWeightBytes = need - 1
        let a = K.forward(g, x: x, w: w, b: nil), b = K.forward(g, x: x, w: w, b: nil)
        XCTAssertEqual(PreparedWeights.bytes, 0)
        XCTAssertEqual(PreparedWeights.statistics.hits, 0)
        Conv2dTuning.preparedWeightBytes = need
        let c = K.forward(g, x: x, w: w, b: nil), d = K.forward(g, x: x, w: w, b: nil)
        XCTAssertEqual(PreparedWeights.bytes, need, "one entry: the weight's copy and the 16 packed matrices")
        XCTAssertEqual(PreparedWeights.statistics.hits, 1)
        XCTAssertEqual(bitPatterns(a), bitPatterns(b)); XCTAssertEqual(bitPatterns(a), bitPatterns(c)); XCTAssertEqual(bitPatterns(a), bitPatterns(d))
    }
}
