import XCTest
import TestSupport
import Foundation
@testable import Tensor

/// Our AVX2/FMA sgemm (Sources/CGemm) against a Float64 reference, on the edge cases of its blocking
/// (rows not a multiple of 6, columns not a multiple of 16, several K blocks, N blocks > 256 columns,
/// strided operands, beta 0 and 1), and its row-split determinism.
final class GemmKernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(GemmDispatch.ownKernelAvailable, "CPU without AVX2/FMA: the kernel is never used")
    }

    /// C = op(A)·op(B) + beta·C on padded storage (lda, ldb, ldc > dense); padding must stay untouched.
    func check(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool, beta: Float, file: StaticString = #filePath, line: UInt = #line) {
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
        let a = rand([(transA ? k : m) * lda], seed: UInt64(m * 7 + k), grad: false)
        let b = rand([(transB ? n : k) * ldb], seed: UInt64(n * 11 + k), grad: false)
        let c = rand([m * ldc], seed: UInt64(m + n), grad: false)
        let c0 = c.array
        sgemmOwnKernel(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb, beta: beta, c: c.data, ldc: ldc)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<ldc {
                let got = Double(c.data[i * ldc + j])
                if j >= n { XCTAssertEqual(c.data[i * ldc + j], c0[i * ldc + j], "padding overwritten", file: file, line: line); continue }
                var s = beta == 0 ? 0.0 : Double(c0[i * ldc + j])
                for p in 0..<k {
                    s += Double(transA ? a.data[p * lda + i] : a.data[i * lda + p]) * Double(transB ? b.data[j * ldb + p] : b.data[p * ldb + j])
                }
                worst = max(worst, abs(got - s) / (1 + abs(s)))
            }
        }
        XCTAssertLessThan(worst, 2e-6 * Double(max(k, 1)).squareRoot(), "m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)", file: file, line: line)
    }

    func testShapesAgainstFloat64() {
        for (m, n, k) in [(1, 1, 1), (5, 3, 7), (6, 16, 8), (7, 17, 33), (13, 40, 300), (12, 33, 513), (25, 64, 192), (3, 300, 20), (0, 4, 4), (4, 4, 0)] {
            for (transA, transB) in [(false, false), (false, true), (true, false)] {
                for beta: Float in [0, 1] { check(m: m, n: n, k: k, transA: transA, transB: transB, beta: beta) }
            }
        }
    }

    /// Any split of the rows of C gives the same bits (the kernel choice and the K blocking never depend
    /// on M), which is what keeps `sgemmParallel` and the conv chunks thread-count independent.
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

    /// The dispatching `sgemm` agrees with OpenBLAS on a conv-shaped product (to Float32 round-off).
    func testDispatchAgreesWithOpenBLAS() {
        let (m, n, k) = (100, 64, 576)
        let a = rand([m * k], seed: 71, grad: false), b = rand([n * k], seed: 72, grad: false)
        let own = Tensor(zeros: [m * n]), blas = Tensor(zeros: [m * n])
        XCTAssertTrue(GemmDispatch.useOwn(transA: false, transB: true, n: n, k: k, alpha: 1, beta: 0))
        sgemm(transB: true, m: m, n: n, k: k, a: a.data, b: b.data, c: own.data)
        GemmDispatch.ownKernel = false
        defer { GemmDispatch.ownKernel = true }
        sgemm(transB: true, m: m, n: n, k: k, a: a.data, b: b.data, c: blas.data)
        assertClose(own.array, f64(blas), rtol: 1e-5, atol: 1e-4, "own kernel vs OpenBLAS")
    }
}
