import XCTest
import TestSupport
import Tensor

/// Tests of the raw NHWC convolution kernels `conv2dForward` / `conv2dBackward` against an
/// independent Float64 reference written from the definition of convolution (naive loops, no im2col),
/// against central finite differences of the Float32 forward, and for accumulation and determinism.
///
/// Tolerances: the reference comparison is normwise, ‖got − ref‖∞ ≤ 1e-4 · ‖ref‖∞ per tensor.
/// Finite differences use loss = Σ g ⊙ y (g fixed random), eps = 1e-2, loss summed in Double. The
/// loss is linear in x, w and b, so the central difference has no truncation error; what remains is
/// Float32 rounding of y (~|y|·6e-8 per element, over ≤ a few hundred terms) divided by 2·eps, so we
/// accept |fd − analytic| ≤ 2e-3 + 1e-3·|analytic|.
///
/// These tests run the direct kernels (lowering + GEMM) on every shape: the default 3×3 stride-1 algorithm is
/// Winograd since rdd-0.5.0, and WinogradTests checks it against the same Float64 reference.
final class Conv2dKernelTests: XCTestCase {
    private var savedAlgorithm = Conv2dTuning.algorithm
    override func setUp() {
        super.setUp()
        savedAlgorithm = Conv2dTuning.algorithm
        Conv2dTuning.algorithm = .direct
    }
    override func tearDown() {
        Conv2dTuning.algorithm = savedAlgorithm
        super.tearDown()
    }


    struct Geo: CustomStringConvertible {
        var B, H, W, Cin, Cout, k, s, p: Int
        var Ho: Int { (H + 2 * p - k) / s + 1 }
        var Wo: Int { (W + 2 * p - k) / s + 1 }
        var xCount: Int { B * H * W * Cin }
        var yCount: Int { B * Ho * Wo * Cout }
        var wCount: Int { Cout * Cin * k * k }
        var description: String { "B\(B) \(H)x\(W) \(Cin)->\(Cout) k\(k) s\(s) p\(p)" }
    }

    // MARK: reference (Float64, direct definition)

    static func refForward(_ g: Geo, x: [Float], w: [Float], b: [Float]?) -> [Double] {
        var y = [Double](repeating: 0, count: g.yCount)
        for n in 0..<g.B { for oy in 0..<g.Ho { for ox in 0..<g.Wo { for co in 0..<g.Cout {
            var acc = b.map { Double($0[co]) } ?? 0
            for ci in 0..<g.Cin { for ky in 0..<g.k { for kx in 0..<g.k {
                let iy = oy * g.s - g.p + ky, ix = ox * g.s - g.p + kx
                if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W { continue }
                acc += Double(x[((n * g.H + iy) * g.W + ix) * g.Cin + ci])
                    * Double(w[((co * g.Cin + ci) * g.k + ky) * g.k + kx])
            } } }
            y[((n * g.Ho + oy) * g.Wo + ox) * g.Cout + co] = acc
        } } } }
        return y
    }

    static func refBackward(_ g: Geo, dy: [Float], x: [Float], w: [Float]) -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: g.xCount)
        var dw = [Double](repeating: 0, count: g.wCount)
        var db = [Double](repeating: 0, count: g.Cout)
        for n in 0..<g.B { for oy in 0..<g.Ho { for ox in 0..<g.Wo { for co in 0..<g.Cout {
            let d = Double(dy[((n * g.Ho + oy) * g.Wo + ox) * g.Cout + co])
            db[co] += d
            for ci in 0..<g.Cin { for ky in 0..<g.k { for kx in 0..<g.k {
                let iy = oy * g.s - g.p + ky, ix = ox * g.s - g.p + kx
                if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W { continue }
                let xi = ((n * g.H + iy) * g.W + ix) * g.Cin + ci
                let wi = ((co * g.Cin + ci) * g.k + ky) * g.k + kx
                dx[xi] += d * Double(w[wi])
                dw[wi] += d * Double(x[xi])
            } } }
        } } } }
        return (dx, dw, db)
    }

    // MARK: helpers

    static func rand(_ n: Int, _ rng: inout RNG) -> [Float] { rng.uniforms(n, -1, 1) }

    static func forward(_ g: Geo, x: [Float], w: [Float], b: [Float]?) -> [Float] {
        var y = [Float](repeating: .nan, count: g.yCount)
        y.withUnsafeMutableBufferPointer { yp in
            let yb = yp.baseAddress!
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in
                func run(_ bp: UnsafePointer<Float>?) {
                    conv2dForward(yb, xp.baseAddress!, wp.baseAddress!, bp,
                                  batch: g.B, height: g.H, width: g.W, inChannels: g.Cin, outChannels: g.Cout,
                                  kernel: g.k, stride: g.s, padding: g.p)
                }
                if let b = b { b.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
            } }
        }
        return y
    }

    /// Runs conv2dBackward accumulating into the given buffers (nil = gradient not requested).
    static func backward(_ g: Geo, dx: inout [Float]?, dw: inout [Float]?, db: inout [Float]?,
                         dy: [Float], x: [Float], w: [Float]) {
        func opt(_ a: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> Void) {
            if a == nil { body(nil); return }
            a!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
        opt(&dx) { dxp in opt(&dw) { dwp in opt(&db) { dbp in
            dy.withUnsafeBufferPointer { dyp in x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in
                conv2dBackward(dxp, dwp, dbp, dyp.baseAddress!, xp.baseAddress!, wp.baseAddress!,
                               batch: g.B, height: g.H, width: g.W, inChannels: g.Cin, outChannels: g.Cout,
                               kernel: g.k, stride: g.s, padding: g.p)
            } } }
        } } }
    }

    static func assertClose(_ got: [Float], _ ref: [Double], rtol: Double = 1e-4, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        // Normwise: every element within rtol·max|ref| (TestSupport's rule with that as the absolute tolerance).
        let maxRef = ref.reduce(0) { max($0, abs($1)) }
        TestSupport.assertClose(got, ref, rtol: 0, atol: rtol * max(maxRef, 1e-12), what, file: file, line: line)
    }

    /// Forward and all three gradients against the Float64 reference, with both lowerings of
    /// stride-1 convolutions (row bands, forced even for small images, and full im2col).
    func checkAgainstReference(_ g: Geo, bias: Bool = true, seed: UInt64 = 1,
                               file: StaticString = #filePath, line: UInt = #line) {
        for band in [true, false] {
            withSettings(band: band) { checkOnce(g, bias: bias, seed: seed, file: file, line: line) }
        }
    }

    func checkOnce(_ g: Geo, bias: Bool, seed: UInt64, file: StaticString, line: UInt) {
        var rng = RNG(seed: seed)
        let x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng)
        let b: [Float]? = bias ? Self.rand(g.Cout, &rng) : nil
        let dy = Self.rand(g.yCount, &rng)
        let y = Self.forward(g, x: x, w: w, b: b)
        Self.assertClose(y, Self.refForward(g, x: x, w: w, b: b), "forward \(g)", file: file, line: line)
        var dx: [Float]? = [Float](repeating: 0, count: g.xCount)
        var dw: [Float]? = [Float](repeating: 0, count: g.wCount)
        var db: [Float]? = bias ? [Float](repeating: 0, count: g.Cout) : nil
        Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
        let r = Self.refBackward(g, dy: dy, x: x, w: w)
        Self.assertClose(dx!, r.dx, "dx \(g)", file: file, line: line)
        Self.assertClose(dw!, r.dw, "dw \(g)", file: file, line: line)
        if bias { Self.assertClose(db!, r.db, "db \(g)", file: file, line: line) }
    }

    /// Runs `body` under the given thread count and tuning, restoring the previous settings.
    /// `band`: force the row-band lowering for stride-1 convolutions (true) or full im2col (false).
    func withSettings(threads: Int? = nil, chunkFloats: Int? = nil, perThread: Bool? = nil, band: Bool? = nil,
                      _ body: () -> Void) {
        let (t0, c0, p0) = (Threads.count, Conv2dTuning.chunkFloats, Conv2dTuning.perThread)
        let (b0, m0) = (Conv2dTuning.bandLowering, Conv2dTuning.bandMinPixels)
        defer {
            Threads.set(t0); Conv2dTuning.chunkFloats = c0; Conv2dTuning.perThread = p0
            Conv2dTuning.bandLowering = b0; Conv2dTuning.bandMinPixels = m0
        }
        if let b = band { Conv2dTuning.bandLowering = b; Conv2dTuning.bandMinPixels = 1 }
        if let t = threads { Threads.set(t) }
        if let c = chunkFloats { Conv2dTuning.chunkFloats = c }
        if let p = perThread { Conv2dTuning.perThread = p }
        body()
    }

    // MARK: reference tests

    func testOutputSize() {
        XCTAssertEqual(conv2dOutputSize(5, kernel: 3, stride: 1, padding: 1), 5)
        XCTAssertEqual(conv2dOutputSize(7, kernel: 3, stride: 2, padding: 1), 4)
        XCTAssertEqual(conv2dOutputSize(7, kernel: 3, stride: 2, padding: 0), 3)
        XCTAssertEqual(conv2dOutputSize(32, kernel: 3, stride: 2, padding: 1), 16)
    }

    func testK3Stride1Pad1() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 1, p: 1)) }
    func testK3Stride1Pad0() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 1, p: 0)) }
    func testK3Stride2Pad1() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 2, p: 1)) }
    func testK3Stride2Pad0() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 2, p: 0)) }
    func testK3Stride2EvenInput() { checkAgainstReference(Geo(B: 2, H: 8, W: 6, Cin: 5, Cout: 3, k: 3, s: 2, p: 1)) }
    func testK3Stride3() { checkAgainstReference(Geo(B: 1, H: 7, W: 8, Cin: 2, Cout: 3, k: 3, s: 3, p: 1)) }
    func testK3NoBias() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 1, p: 1), bias: false) }
    func testK1Plain() { checkAgainstReference(Geo(B: 2, H: 4, W: 3, Cin: 5, Cout: 6, k: 1, s: 1, p: 0)) }
    func testK1Stride2() { checkAgainstReference(Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 1, s: 2, p: 0)) }
    func testK1Padded() { checkAgainstReference(Geo(B: 2, H: 3, W: 4, Cin: 3, Cout: 2, k: 1, s: 1, p: 1)) }
    func testK5Pad2() { checkAgainstReference(Geo(B: 1, H: 9, W: 8, Cin: 2, Cout: 3, k: 5, s: 1, p: 2)) }
    func testK5Stride2() { checkAgainstReference(Geo(B: 2, H: 9, W: 8, Cin: 2, Cout: 3, k: 5, s: 2, p: 1)) }
    func testK2Stride2() { checkAgainstReference(Geo(B: 2, H: 6, W: 5, Cin: 3, Cout: 2, k: 2, s: 2, p: 0)) }
    func testK3PadLargerThanKernel() { checkAgainstReference(Geo(B: 1, H: 4, W: 3, Cin: 2, Cout: 3, k: 3, s: 1, p: 3)) }
    func testKernelCoversWholeInput() { checkAgainstReference(Geo(B: 2, H: 3, W: 3, Cin: 4, Cout: 5, k: 3, s: 1, p: 0)) }

    /// Many chunks (tiny chunk buffers: several row bands per image, or im2col chunks that straddle
    /// images), in both threading modes, with 1 and 2 threads, and with both lowerings.
    func testChunkingAndThreadingModes() {
        let geos = [Geo(B: 3, H: 8, W: 9, Cin: 4, Cout: 5, k: 3, s: 1, p: 1),
                    Geo(B: 3, H: 9, W: 8, Cin: 4, Cout: 5, k: 3, s: 2, p: 1),
                    Geo(B: 2, H: 6, W: 6, Cin: 8, Cout: 16, k: 1, s: 1, p: 0)]
        // 396 floats: 11 im2col rows (K = 36; images have 72 and 20 rows) or 1-row bands;
        // 1000 floats: 27 im2col rows or 4-row bands (2 per image).
        for threads in [1, 2] {
            for perThread in [true, false] {
                for chunk in [396, 1000] {
                    withSettings(threads: threads, chunkFloats: chunk, perThread: perThread) {
                        for (i, g) in geos.enumerated() { checkAgainstReference(g, seed: UInt64(10 + i)) }
                    }
                }
            }
        }
    }

    /// A realistic layer shape (64 channels) with default settings: several threads' worth of rows.
    func testWiderChannels() {
        checkAgainstReference(Geo(B: 2, H: 6, W: 6, Cin: 32, Cout: 16, k: 3, s: 1, p: 1), seed: 5)
    }

    // MARK: finite differences

    func testFiniteDifferences() {
        for g in [Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 1, p: 1),
                  Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 2, p: 0),
                  Geo(B: 1, H: 4, W: 3, Cin: 3, Cout: 2, k: 1, s: 1, p: 0)] {
            var rng = RNG(seed: 42)
            var x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng), b = Self.rand(g.Cout, &rng)
            let gy = Self.rand(g.yCount, &rng)
            func loss(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
                let y = Self.forward(g, x: x, w: w, b: b)
                var s = 0.0
                for i in 0..<y.count { s += Double(gy[i]) * Double(y[i]) }
                return s
            }
            var dx: [Float]? = [Float](repeating: 0, count: g.xCount)
            var dw: [Float]? = [Float](repeating: 0, count: g.wCount)
            var db: [Float]? = [Float](repeating: 0, count: g.Cout)
            Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: gy, x: x, w: w)
            let eps: Float = 1e-2
            func check(_ analytic: Float, _ fd: Double, _ what: String) {
                XCTAssertLessThanOrEqual(abs(fd - Double(analytic)), 2e-3 + 1e-3 * abs(Double(analytic)),
                                         "\(what) \(g): fd \(fd) analytic \(analytic)")
            }
            for i in 0..<g.xCount {
                let v = x[i]
                x[i] = v + eps; let lp = loss(x, w, b)
                x[i] = v - eps; let lm = loss(x, w, b)
                x[i] = v
                check(dx![i], (lp - lm) / Double(2 * eps), "dx[\(i)]")
            }
            for i in 0..<g.wCount {
                let v = w[i]
                w[i] = v + eps; let lp = loss(x, w, b)
                w[i] = v - eps; let lm = loss(x, w, b)
                w[i] = v
                check(dw![i], (lp - lm) / Double(2 * eps), "dw[\(i)]")
            }
            for i in 0..<g.Cout {
                let v = b[i]
                b[i] = v + eps; let lp = loss(x, w, b)
                b[i] = v - eps; let lm = loss(x, w, b)
                b[i] = v
                check(db![i], (lp - lm) / Double(2 * eps), "db[\(i)]")
            }
        }
    }

    // MARK: semantics

    /// Backward accumulates: starting from arbitrary buffers, two calls add twice the gradient.
    func testBackwardAccumulates() {
        for g in [Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 1, p: 1),
                  Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 2, p: 1),
                  Geo(B: 2, H: 4, W: 3, Cin: 5, Cout: 6, k: 1, s: 1, p: 0)] {
            var rng = RNG(seed: 7)
            let x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng), dy = Self.rand(g.yCount, &rng)
            let dx0 = Self.rand(g.xCount, &rng), dw0 = Self.rand(g.wCount, &rng), db0 = Self.rand(g.Cout, &rng)
            var dx: [Float]? = dx0, dw: [Float]? = dw0, db: [Float]? = db0
            Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
            Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
            let r = Self.refBackward(g, dy: dy, x: x, w: w)
            Self.assertClose(dx!, zip(dx0, r.dx).map { Double($0) + 2 * $1 }, "2×dx \(g)")
            Self.assertClose(dw!, zip(dw0, r.dw).map { Double($0) + 2 * $1 }, "2×dw \(g)")
            Self.assertClose(db!, zip(db0, r.db).map { Double($0) + 2 * $1 }, "2×db \(g)")
        }
    }

    /// nil gradients are skipped and do not change the others.
    func testOptionalGradients() {
        let g = Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 4, k: 3, s: 2, p: 1)
        var rng = RNG(seed: 9)
        let x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng), dy = Self.rand(g.yCount, &rng)
        let r = Self.refBackward(g, dy: dy, x: x, w: w)
        var dx: [Float]? = nil, dw: [Float]? = [Float](repeating: 0, count: g.wCount), db: [Float]? = nil
        Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
        Self.assertClose(dw!, r.dw, "dw only")
        dx = [Float](repeating: 0, count: g.xCount); dw = nil
        Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
        Self.assertClose(dx!, r.dx, "dx only")
    }

    /// Outputs and gradients of 1 and 2 threads are bit-identical in the default per-thread mode
    /// (chunking is independent of the thread count and every sgemm call is single-threaded).
    func testSameResultsForAnyThreadCount() {
        for g in [Geo(B: 4, H: 16, W: 16, Cin: 8, Cout: 8, k: 3, s: 1, p: 1),
                  Geo(B: 4, H: 8, W: 8, Cin: 16, Cout: 8, k: 3, s: 1, p: 1),
                  Geo(B: 4, H: 8, W: 8, Cin: 16, Cout: 8, k: 3, s: 2, p: 1),
                  Geo(B: 4, H: 8, W: 8, Cin: 16, Cout: 8, k: 1, s: 1, p: 0)] {
            var rng = RNG(seed: 4)
            let x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng), b = Self.rand(g.Cout, &rng)
            let dy = Self.rand(g.yCount, &rng)
            var results = [[[Float]]]()
            for threads in [1, 2] {
                withSettings(threads: threads, chunkFloats: 1000, perThread: true) {
                    let y = Self.forward(g, x: x, w: w, b: b)
                    var dx: [Float]? = [Float](repeating: 0, count: g.xCount)
                    var dw: [Float]? = [Float](repeating: 0, count: g.wCount)
                    var db: [Float]? = [Float](repeating: 0, count: g.Cout)
                    Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
                    results.append([y, dx!, dw!, db!])
                }
            }
            for i in 0..<4 {
                XCTAssertEqual(results[0][i].map { $0.bitPattern }, results[1][i].map { $0.bitPattern },
                               "1 vs 2 threads differ in output \(i), \(g)")
            }
        }
    }

    /// Same inputs and thread count give bit-identical outputs and gradients.
    func testDeterministic() {
        for (threads, band) in [(1, false), (2, false), (2, true)] {
            withSettings(threads: threads, chunkFloats: 1000, band: band) {
                for g in [Geo(B: 4, H: 8, W: 8, Cin: 16, Cout: 8, k: 3, s: 1, p: 1),
                          Geo(B: 4, H: 8, W: 8, Cin: 16, Cout: 8, k: 3, s: 2, p: 1)] {
                    var rng = RNG(seed: 3)
                    let x = Self.rand(g.xCount, &rng), w = Self.rand(g.wCount, &rng), b = Self.rand(g.Cout, &rng)
                    let dy = Self.rand(g.yCount, &rng)
                    func run() -> [[Float]] {
                        let y = Self.forward(g, x: x, w: w, b: b)
                        var dx: [Float]? = [Float](repeating: 0, count: g.xCount)
                        var dw: [Float]? = [Float](repeating: 0, count: g.wCount)
                        var db: [Float]? = [Float](repeating: 0, count: g.Cout)
                        Self.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w)
                        return [y, dx!, dw!, db!]
                    }
                    let a = run(), c = run()
                    for i in 0..<a.count {
                        XCTAssertEqual(a[i].map { $0.bitPattern }, c[i].map { $0.bitPattern },
                                       "run-to-run difference in output \(i), \(g), threads \(threads), band \(band)")
                    }
                }
            }
        }
    }
}
