import XCTest
@testable import Tensor
import TestSupport

/// Winograd F(2×2, 3×3) (the default 3×3 stride-1 algorithm since rdd-0.5.0) against the Float64 reference of Conv2dKernelTests, on
/// edge shapes (odd image sizes: partial output tiles; 1×1 and 2×2 images; channel counts that are not
/// multiples of the GEMM tiles; more tiles than one chunk), forward and input gradient; and its
/// determinism across thread counts.
///
/// Error bound: ‖got − ref‖∞ ≤ 2e-6 · ‖ref‖∞ per tensor (inputs and weights uniform in [−1, 1]), i.e.
/// ~17 Float32 ulps of the largest output (one ulp is ≤ 2⁻²³ ≈ 1.2e-7 relative). F(2×2, 3×3)'s transforms only add, subtract
/// and halve (Bᵀ d B adds 4 inputs, G g Gᵀ is computed in Float64, Aᵀ M A adds 9 sums), so its round-off
/// is of the direct product's order: measured 3.0e-7 against the direct kernel's 4.0e-7 on 64 → 64
/// channels @16×16 (`testErrorAgainstDirect` prints both); the bound leaves ~5× room.
final class WinogradTests: KernelPathTestCase {
    typealias K = Conv2dKernelTests

    func withWinograd<R>(_ body: () throws -> R) rethrows -> R {
        let saved = Conv2dTuning.algorithm
        Conv2dTuning.algorithm = .winograd
        defer { Conv2dTuning.algorithm = saved }
        return try body()
    }

    func withDirect<R>(_ body: () throws -> R) rethrows -> R {
        let saved = Conv2dTuning.algorithm
        Conv2dTuning.algorithm = .direct
        defer { Conv2dTuning.algorithm = saved }
        return try body()
    }

    func normwise(_ got: [Float], _ ref: [Double]) -> Double {
        var e = 0.0, r = 0.0
        for i in 0..<ref.count { e = max(e, abs(Double(got[i]) - ref[i])); r = max(r, abs(ref[i])) }
        return e / max(r, 1e-300)
    }

    let shapes: [K.Geo] = [
        K.Geo(B: 2, H: 5, W: 7, Cin: 3, Cout: 17, k: 3, s: 1, p: 1),
        K.Geo(B: 1, H: 1, W: 1, Cin: 4, Cout: 5, k: 3, s: 1, p: 1),
        K.Geo(B: 3, H: 2, W: 3, Cin: 33, Cout: 7, k: 3, s: 1, p: 1),
        K.Geo(B: 2, H: 8, W: 8, Cin: 64, Cout: 64, k: 3, s: 1, p: 1),
        K.Geo(B: 1, H: 4, W: 4, Cin: 256, Cout: 40, k: 3, s: 1, p: 1),      // K = 9·256 = 2304 in the direct kernel
        K.Geo(B: 9, H: 16, W: 14, Cin: 8, Cout: 24, k: 3, s: 1, p: 1),      // > 1 chunk of tiles
    ]

    func testForwardAndInputGradientAgainstFloat64() {
        var rng = RNG(seed: 23)
        for g in shapes {
            let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng), b = K.rand(g.Cout, &rng), dy = K.rand(g.yCount, &rng)
            let y = withWinograd { K.forward(g, x: x, w: w, b: b) }
            XCTAssertLessThanOrEqual(normwise(y, K.refForward(g, x: x, w: w, b: b)), 2e-6, "forward \(g)")
            var dx: [Float]? = [Float](repeating: 0.5, count: g.xCount), dw: [Float]? = nil, db: [Float]? = nil
            withWinograd { K.backward(g, dx: &dx, dw: &dw, db: &db, dy: dy, x: x, w: w) }
            let ref = K.refBackward(g, dy: dy, x: x, w: w).dx.map { $0 + 0.5 }      // accumulates into dx
            XCTAssertLessThanOrEqual(normwise(dx!, ref), 2e-6, "dx \(g)")
        }
    }

    /// Both algorithms' errors on the U-Net's common layer (64 → 64 channels, 16×16, batch 2), printed
    /// for docs/benchmarks.md; Winograd's must stay within the bound above.
    func testErrorAgainstDirect() {
        var rng = RNG(seed: 29)
        let g = K.Geo(B: 2, H: 16, W: 16, Cin: 64, Cout: 64, k: 3, s: 1, p: 1)
        let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng)
        let ref = K.refForward(g, x: x, w: w, b: nil)
        let direct = normwise(withDirect { K.forward(g, x: x, w: w, b: nil) }, ref)
        let wino = normwise(withWinograd { K.forward(g, x: x, w: w, b: nil) }, ref)
        print("WinogradTests: normwise forward error, 64->64 @16x16: direct \(direct), winograd \(wino)")
        XCTAssertLessThanOrEqual(wino, 2e-6)
        XCTAssertGreaterThan(wino, 0, "Float32 arithmetic cannot be exact here")
    }

    func testSameBitsAtOneAndTwoThreads() {
        var rng = RNG(seed: 31)
        let g = K.Geo(B: 4, H: 9, W: 12, Cin: 20, Cout: 36, k: 3, s: 1, p: 1)
        let x = K.rand(g.xCount, &rng), w = K.rand(g.wCount, &rng), b = K.rand(g.Cout, &rng)
        let savedChunk = Conv2dTuning.chunkFloats
        Conv2dTuning.chunkFloats = 16 * 16 * (20 + 36)   // 16 tiles per chunk: many chunks
        defer { Conv2dTuning.chunkFloats = savedChunk }   // the thread count: restored by KernelPathTestCase
        Threads.set(1)
        let one = withWinograd { K.forward(g, x: x, w: w, b: b) }
        Threads.set(2)
        let two = withWinograd { K.forward(g, x: x, w: w, b: b) }
        XCTAssertEqual(one, two)
    }

    /// The input and output transforms give the same bits on every ISA this CPU runs (the portable SSE2
    /// loop, AVX2 and AVX-512F, the same C compiled for three vector widths: issue 23 keeps every output
    /// element's order of operations): channel counts below, at and past the vector widths (tails), odd image
    /// sizes (tiles with missing pixels at the right and bottom edges), the three output modes.
    func testTransformsSameBitsOnEveryISA() throws {
        let isas = supportedKernelPaths()
        try XCTSkipUnless(isas.count > 1, "CPU lacks AVX2+FMA: only the portable transforms run here")
        var rng = RNG(seed: 37)
        for (B, H, W) in [(2, 5, 7), (1, 1, 1), (1, 4, 6)] {
            let tH = (H + 1) / 2, tW = (W + 1) / 2, T = B * tH * tW
            for n in [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100] {
                let x = K.rand(B * H * W * n, &rng), zero = [Float](repeating: 0, count: n)
                let m = K.rand(16 * T * n, &rng), out0 = K.rand(B * H * W * n, &rng), bias = K.rand(n, &rng)
                var inputs: [[Float]] = [], outputs: [[[Float]]] = []
                for isa in isas {
                    try GemmDispatch.select(isa)
                    var v = [Float](repeating: 9, count: 16 * T * n)
                    v.withUnsafeMutableBufferPointer { vp in
                        Winograd.inputTransform(vp.baseAddress!, x, zero: zero, tiles: 0, T, ld: T * n, H: H, W: W, tH: tH, tW: tW, cin: n)
                    }
                    inputs.append(v)
                    var perMode: [[Float]] = []
                    bias.withUnsafeBufferPointer { bp in
                        for mode in [RowInit.zero, .accumulate, .bias(bp.baseAddress!)] {
                            var out = out0
                            out.withUnsafeMutableBufferPointer { op in
                                Winograd.outputTransform(op.baseAddress!, m, tiles: 0, T, ld: T * n, H: H, W: W, tH: tH, tW: tW, cout: n, mode)
                            }
                            perMode.append(out)
                        }
                    }
                    outputs.append(perMode)
                }
                for k in 1..<isas.count {
                    XCTAssertEqual(inputs[k].map(\.bitPattern), inputs[0].map(\.bitPattern), "input transform \(isas[k]) vs \(isas[0]): \(B)x\(H)x\(W), \(n) channels")
                    for mode in 0..<3 {
                        XCTAssertEqual(outputs[k][mode].map(\.bitPattern), outputs[0][mode].map(\.bitPattern),
                                       "output transform mode \(mode) \(isas[k]) vs \(isas[0]): \(B)x\(H)x\(W), \(n) channels")
                    }
                }
                XCTAssertNotEqual(outputs[0][0], out0, "the output transform wrote")
            }
        }
    }

    func testEnvironmentValue() throws {
        XCTAssertEqual(try ConvAlgorithm.parse(nil), .winograd, "the default since rdd-0.5.0")
        XCTAssertEqual(try ConvAlgorithm.parse(""), ConvAlgorithm.standard)
        XCTAssertEqual(try ConvAlgorithm.parse("winograd"), .winograd)
        XCTAssertEqual(try ConvAlgorithm.parse("direct"), .direct)
        XCTAssertThrowsError(try ConvAlgorithm.parse("fft")) { e in
            XCTAssertEqual("\(e)", "RDD_CONV=fft: unknown convolution algorithm; expected direct or winograd")
        }
    }
}
