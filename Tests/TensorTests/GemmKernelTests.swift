import XCTest
import TestSupport
import Foundation
@testable import Tensor

/// Our sgemm (Sources/CGemm) against a Float64 reference on the edge cases of its blocking (rows not a
/// multiple of the tile height, columns not a multiple of 16, several K blocks — K > 1536 included —,
/// N blocks > 256 columns, strided operands, every transposition, alpha and beta), its row-split
/// determinism, and the bit-identity of its instruction sets (issue 23).
final class GemmKernelTests: KernelPathTestCase {
    /// C = alpha·op(A)·op(B) + beta·C on padded storage (lda, ldb, ldc > dense); padding must stay untouched.
    /// Bound: |error| ≤ 2e-6·√K·(1 + |C|) — Float32 round-off of a K-term sum of products of values in
    /// [−1, 1] grows like √K·2⁻²⁴ for random signs (2e-6 ≈ 33·2⁻²⁴ leaves room for the blocked order).
    func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float = 1, beta: Float,
               file: StaticString = #filePath, line: UInt = #line) {
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
        let a = rand([max(1, (transA ? k : m) * lda)], seed: UInt64(m * 7 + k), grad: false)
        let b = rand([max(1, (transB ? n : k) * ldb)], seed: UInt64(n * 11 + k), grad: false)
        let c = rand([max(1, m * ldc)], seed: UInt64(m + n), grad: false)
        let c0 = c.array
        sgemmOwnKernel(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda, b: b.data, ldb: ldb,
                       beta: beta, c: c.data, ldc: ldc)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                let got = Double(c.data[i * ldc + j])
                if j >= n { XCTAssertEqual(c.data[i * ldc + j], c0[i * ldc + j], "padding overwritten", file: file, line: line); continue }
                var s = 0.0
                for p in 0..<k {
                    s += Double(transA ? a.data[p * lda + i] : a.data[i * lda + p]) * Double(transB ? b.data[j * ldb + p] : b.data[p * ldb + j])
                }
                s = Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c0[i * ldc + j]))
                worst = max(worst, abs(got - s) / (1 + abs(s)))
            }
        }
        XCTAssertLessThan(worst, 2e-6 * Double(max(k, 1)).squareRoot(),
                          "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta) on \(GemmDispatch.isa)", file: file, line: line)
    }

    func testShapesAgainstFloat64() {
        for (m, n, k) in [(1, 1, 1), (5, 3, 7), (6, 16, 8), (7, 17, 33), (13, 40, 300), (12, 33, 513), (25, 64, 192), (3, 300, 20),
                          (0, 4, 4), (4, 4, 0), (9, 70, 1537), (15, 33, 2304), (29, 5, 4100)] {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                for beta: Float in [0, 1] { check(m: m, n: n, k: k, transA: transA, transB: transB, beta: beta) }
            }
        }
        check(m: 11, n: 21, k: 50, transA: false, transB: true, alpha: 1.5, beta: 0.25)
        check(m: 11, n: 21, k: 50, transA: true, transB: true, alpha: -2, beta: 0)
    }

    /// The same bits on every ISA this CPU can run: the portable path (fmaf per element), AVX2 (6×16
    /// tiles) and the AVX-512 tiling (12 rows × two 16-column panels) emulated on AVX2 registers.
    func testISAsGiveIdenticalBits() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable path runs here")
        try assertISAsAgree([.portable, .avx2, .avx512Emulated])
    }

    /// The real AVX-512F kernel gives AVX2's bits (never a silent pass: skipped with the reason here).
    func testAVX512MatchesAVX2() throws {
        guard KernelISA.avx512.isSupported else {
            throw XCTSkip("CPU lacks AVX-512F: the AVX-512 kernel cannot run here (its tiling is checked emulated in testISAsGiveIdenticalBits)")
        }
        try assertISAsAgree([.avx2, .avx512])
    }

    func assertISAsAgree(_ isas: [KernelISA]) throws {
        for (m, n, k) in [(1, 1, 1), (7, 17, 33), (31, 47, 300), (20, 300, 513), (16, 64, 2304), (45, 16, 10)] {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                for beta: Float in [0, 1] {
                    let a = rand([m * k], seed: UInt64(3 * m + k), grad: false), b = rand([k * n], seed: UInt64(5 * n + k), grad: false)
                    let c0 = rand([m * n], seed: 9, grad: false)
                    var results: [[Float]] = []
                    for isa in isas {
                        try GemmDispatch.select(isa)
                        let c = c0.detached()
                        sgemmOwnKernel(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: transA ? m : k,
                                       b: b.data, ldb: transB ? k : n, beta: beta, c: c.data, ldc: n)
                        results.append(c.array)
                    }
                    for (isa, r) in zip(isas, results).dropFirst() {
                        XCTAssertEqual(r, results[0], "\(isa) vs \(isas[0]): m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
                    }
                }
            }
        }
    }

    /// `RDD_KERNELS`: auto/unset choose the best ISA; unknown values and ISAs the CPU lacks are refused
    /// with a message naming the variable and the value.
    func testEnvironmentValues() throws {
        XCTAssertNil(try GemmDispatch.parse(nil))
        XCTAssertNil(try GemmDispatch.parse("auto"))
        XCTAssertEqual(try GemmDispatch.parse("portable"), .portable)
        XCTAssertThrowsError(try GemmDispatch.parse("sse9")) { e in
            XCTAssertEqual("\(e)", "RDD_KERNELS=sse9: unknown kernel set; expected avx2, avx512, portable or auto")
        }
        XCTAssertThrowsError(try GemmDispatch.parse("avx512-emulated"), "the emulation is for tests only")
        for isa in [KernelISA.avx2, .avx512] {
            if isa.isSupported { XCTAssertEqual(try GemmDispatch.parse(isa.rawValue), isa) }
            else {
                XCTAssertThrowsError(try GemmDispatch.parse(isa.rawValue)) { e in
                    XCTAssertTrue("\(e)".hasPrefix("RDD_KERNELS=\(isa.rawValue): this CPU lacks "), "\(e)")
                }
            }
        }
        XCTAssertTrue(KernelISA.best.isSupported)
    }

    /// Any split of the rows of C gives the same bits (the K blocking never depends on M), which is what
    /// keeps `sgemmParallel` and the conv chunks thread-count independent.
    func testRowSplitsAreBitIdentical() {
        let (m, n, k) = (50, 72, 400)
        let a = rand([m * k], seed: 61, grad: false), b = rand([k * n], seed: 62, grad: false)
        for transA in [false, true] {   // A is m×k (row stride k) or stored k×m (row stride m)
            let lda = transA ? m : k
            let whole = Tensor(zeros: [m * n]), parts = Tensor(zeros: [m * n])
            sgemmOwnKernel(transA: transA, transB: false, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: n, beta: 0, c: whole.data, ldc: n)
            var r0 = 0
            for r1 in [1, 8, 9, 23, 50] {
                sgemmOwnKernel(transA: transA, transB: false, m: r1 - r0, n: n, k: k, a: a.data + (transA ? r0 : r0 * k), lda: lda,
                               b: b.data, ldb: n, beta: 0, c: parts.data + r0 * n, ldc: n)
                r0 = r1
            }
            XCTAssertEqual(whole.array, parts.array, "transA \(transA)")
        }
    }

    /// Products on a pre-packed op(B) give the same bits as packing per call (several K and N blocks).
    func testPrepackedBIsBitIdentical() {
        for (m, n, k) in [(37, 300, 600), (13, 40, 17), (64, 64, 192)] {
            for transB in [false, true] {
                let a = rand([m * k], seed: 81, grad: false), b = rand([k * n], seed: 82, grad: false)
                let c1 = rand([m * n], seed: 83, grad: false), c2 = c1.detached()
                let ldb = transB ? k : n
                let packed = Tensor(zeros: [packedBFloats(n: n, k: k)])
                packBForOwnKernel(transB: transB, n: n, k: k, b: b.data, ldb: ldb, into: packed.data)
                for beta: Float in [1, 0] {
                    sgemmOwnKernel(transB: transB, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: ldb, beta: beta, c: c1.data, ldc: n)
                    sgemmPackedB(m: m, n: n, k: k, a: a.data, lda: k, packedB: packed.data, beta: beta, c: c2.data, ldc: n)
                    XCTAssertEqual(c1.array, c2.array, "m \(m) n \(n) k \(k) transB \(transB) beta \(beta)")
                }
            }
        }
    }

    /// The bias-initialised product (`sgemmPackedB(…, bias:)`, session 14: the lowered convolutions' forward adds
    /// the bias in the first K block instead of prefilling the rows) gives the same bits as the path it replaced —
    /// rows prefilled with the bias, then beta 1 — on every ISA this CPU runs, with N < 16, N not a multiple of 16,
    /// N past one 256-column block, K past one 256 block, rows not a multiple of either tile height; plus −0 and
    /// +0 biases (c + bias must keep the sign rules of the old c + C) and the Float64 bound of `check`; and the
    /// plain beta-0 product's bits across ISAs on the same edge shapes (AVX-512F's masked last panel, session 14).
    func testBiasInitialisedProductSameBitsAsPrefill() throws {
        let isas = supportedKernelPaths()
        for (m, n, k) in [(37, 3, 64), (13, 17, 5), (25, 300, 600), (12, 32, 1), (7, 64, 257)] {
            let a = rand([m * k], seed: 91, grad: false), b = rand([k * n], seed: 92, grad: false)
            var bias = rand([n], seed: 93, grad: false).array
            bias[0] = -0.0
            if n > 1 { bias[1] = 0 }
            let packed = Tensor(zeros: [packedBFloats(n: n, k: k)])
            packBForOwnKernel(transB: true, n: n, k: k, b: b.data, ldb: k, into: packed.data)
            var results: [[UInt32]] = []
            for isa in isas {
                try GemmDispatch.select(isa)
                let old = Tensor(zeros: [m * n]), new = Tensor(repeating: .nan, shape: [m * n])
                for i in 0..<m { for j in 0..<n { old.data[i * n + j] = bias[j] } }
                sgemmPackedB(m: m, n: n, k: k, a: a.data, lda: k, packedB: packed.data, beta: 1, c: old.data, ldc: n)
                bias.withUnsafeBufferPointer { bp in
                    sgemmPackedB(m: m, n: n, k: k, a: a.data, lda: k, packedB: packed.data, bias: bp.baseAddress!, c: new.data, ldc: n)
                }
                XCTAssertEqual(new.array.map(\.bitPattern), old.array.map(\.bitPattern), "m \(m) n \(n) k \(k) on \(isa)")
                results.append(new.array.map(\.bitPattern))
                // And beta 0 (the masked AVX-512 edge's non-accumulating case), compared across ISAs below.
                let plain = Tensor(repeating: .nan, shape: [m * n])
                sgemmPackedB(m: m, n: n, k: k, a: a.data, lda: k, packedB: packed.data, beta: 0, c: plain.data, ldc: n)
                results.append(plain.array.map(\.bitPattern))
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var s = Double(bias[j])
                        for p in 0..<k { s += Double(a.data[i * k + p]) * Double(b.data[j * k + p]) }
                        worst = max(worst, abs(Double(new.data[i * n + j]) - s) / (1 + abs(s)))
                    }
                }
                XCTAssertLessThan(worst, 2e-6 * Double(k).squareRoot(), "m \(m) n \(n) k \(k) on \(isa) against Float64")
            }
            for (i, r) in results.enumerated().dropFirst(2) { XCTAssertEqual(r, results[i % 2], "m \(m) n \(n) k \(k): ISAs agree (\(i % 2 == 0 ? "bias" : "beta 0"))") }
        }
        if isas.count == 1 { throw XCTSkip("CPU lacks AVX2+FMA: only the portable path ran (against the prefilled product)") }
    }

    /// The narrow panel (session 16: a last panel of few columns computed with the rows along the vector lanes —
    /// 16 rows per zmm for ≤ 8 columns on AVX-512F, 8 rows per ymm for ≤ 6 columns on AVX2; A's rows transposed in
    /// registers or, transposed A, read contiguous per k) gives the bits of the portable path (fmaf per element, the
    /// order's reference) and of the emulated AVX-512 tiling (which keeps the 16-lane tile): every width 1 … 8 and
    /// the tiles' 9 and 15 beside it, after full panels and past a 256-column N block (N = 19, 40, 260), rows 1, 15,
    /// 16, 17, 97 (> one 96-row block), K below the narrow path's 8 (7), at 8, 15, 16, 17 (a transposed block plus
    /// a 1-k tail), 257 (two K blocks), both op(A) and op(B), beta 0, 1 and 0.5, alpha −2, padded lda/ldc (padding
    /// untouched), at 1 and 2 threads (`sgemmParallel`, which splits only large products — 1100×3×400 here) and in
    /// three row blocks (5, 16, rest: the row groups fall elsewhere). AVX-512F runs where the CPU has it; skipped
    /// with the reason where it has neither AVX2 nor AVX-512F.
    func testNarrowPanelsSameBitsOnEveryISA() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: no narrow panel runs here (portable only)")
        let isas = supportedKernelPaths(emulated: true)
        var cases: [(Int, Int, Int)] = []
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 15] { for m in [1, 17, 97] { for k in [7, 16, 17] { cases.append((m, n, k)) } } }
        cases += [(15, 3, 8), (16, 3, 15), (16, 1, 257), (40, 5, 600), (33, 19, 64), (50, 40, 33), (20, 260, 40), (97, 3, 257),
                  (1100, 3, 400)]   // m·n·k > 2²⁰: sgemmParallel splits it over 2 threads
        var compared = 0
        for (m, n, k) in cases {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                for (alpha, beta): (Float, Float) in [(1, 0), (1, 1), (-2, 0.5)] {
                    let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2
                    let a = rand([(transA ? k : m) * lda], seed: UInt64(13 * m + k), grad: false)
                    let b = rand([(transB ? n : k) * ldb], seed: UInt64(17 * n + k), grad: false)
                    let c0 = rand([m * ldc], seed: UInt64(m + 3 * n), grad: false)
                    var reference: [UInt32]? = nil
                    for isa in isas {
                        try GemmDispatch.select(isa)
                        for threads in [1, 2] {   // 2: sgemmParallel's row split, and three row blocks by hand
                            Threads.set(threads)
                            let c = c0.detached()
                            sgemmParallel(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a.data, lda: lda,
                                          b: b.data, ldb: ldb, beta: beta, c: c.data, ldc: ldc)
                            if threads == 2 {   // small products stay whole in sgemmParallel: split rows at 5 and 21 too
                                let split = c0.detached()
                                var r0 = 0
                                for r1 in [min(5, m), min(21, m), m] where r1 > r0 {
                                    sgemmOwnKernel(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha,
                                                   a: a.data + (transA ? r0 : r0 * lda), lda: lda, b: b.data, ldb: ldb, beta: beta,
                                                   c: split.data + r0 * ldc, ldc: ldc)
                                    r0 = r1
                                }
                                XCTAssertEqual(split.array.map(\.bitPattern), c.array.map(\.bitPattern), "row blocks on \(isa): m \(m) n \(n) k \(k) transA \(transA)")
                            }
                            for i in 0..<m { for j in n..<ldc { XCTAssertEqual(c.data[i * ldc + j].bitPattern, c0.data[i * ldc + j].bitPattern, "padding") } }
                            let bits = c.array.map(\.bitPattern)
                            if let r = reference {
                                XCTAssertEqual(bits, r, "\(isa) at \(threads) threads vs portable: m \(m) n \(n) k \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta)")
                                compared += 1
                            } else { reference = bits }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(compared, cases.count * 4 * 3 * (2 * isas.count - 1), "every case compared on every ISA × 2 thread counts")
    }

    /// The dispatching `sgemm` agrees with OpenBLAS (the test reference) to Float32 round-off, on a
    /// conv-shaped product and on one with K > 1536 (which used to go to OpenBLAS).
    func testDispatchAgreesWithOpenBLAS() {
        for (m, n, k) in [(100, 64, 576), (40, 256, 2304)] {
            let a = rand([m * k], seed: 71, grad: false), b = rand([n * k], seed: 72, grad: false)
            let own = Tensor(zeros: [m * n]), blas = Tensor(zeros: [m * n])
            sgemm(transB: true, m: m, n: n, k: k, a: a.data, b: b.data, c: own.data)
            GemmDispatch.ownKernel = false
            sgemm(transB: true, m: m, n: n, k: k, a: a.data, b: b.data, c: blas.data)
            GemmDispatch.ownKernel = true
            assertClose(own.array, f64(blas), rtol: 1e-5, atol: 1e-4, "own kernel vs OpenBLAS, k \(k)")
        }
    }
}
