import XCTest
@testable import Tensor
import TestSupport

/// The vector softmax over contiguous rows (Sources/CGemm/softmax.c, issue 23) gives exactly the bits of
/// the Swift loops it replaced — kept below verbatim as the reference — on every ISA this CPU runs, at 1
/// and 2 threads: softmax, log-softmax and the softmax backward (stored and accumulated), on edge shapes
/// (rows of 1 … 257 floats: vector tails, rows shorter than a vector; row counts that are not multiples
/// of the 8 or 16 rows summed side by side) and on special values (NaN, ±inf, rows of −inf, ±0, inputs
/// beyond fastExp's clamp at −87.3 and 88). A reference copy rather than the portable path, so that the
/// check does not depend on the portable path staying untouched.
final class SoftmaxKernelTests: XCTestCase {
    // MARK: the reference: Softmax.swift's loops before the vector kernel (main 458b112), unchanged

    static func referenceRows(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, n: Int, inner: Int, log: Bool) {
        for a in 0..<outer { for c in 0..<inner {
            var m = -Float.infinity
            for j in 0..<n { m = max(m, x[(a * n + j) * inner + c]) }
            var z: Float = 0
            for j in 0..<n { let i = (a * n + j) * inner + c; let ev = fastExp(x[i] - m); y[i] = ev; z += ev }
            if log {
                let lz = Float(DetMath.log(Double(z))) + m
                for j in 0..<n { let i = (a * n + j) * inner + c; y[i] = x[i] - lz }
            } else {
                let iz = 1 / z
                for j in 0..<n { y[(a * n + j) * inner + c] *= iz }
            }
        } }
    }

    static func referenceBackward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                  outer: Int, n: Int, inner: Int, fresh: Bool) {
        for a in 0..<outer { for c in 0..<inner {
            var dot: Float = 0
            for j in 0..<n { let i = (a * n + j) * inner + c; dot += dy[i] * y[i] }
            if fresh { for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] = y[i] * (dy[i] - dot) } }
            else { for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] += y[i] * (dy[i] - dot) } }
        } }
    }

    // MARK: inputs

    /// Logits with attention-like spread (uniform in [−8, 8]), and in some rows the special values.
    static func logits(rows: Int, n: Int, seed: UInt64, special: Bool) -> [Float] {
        var rng = RNG(seed: seed)
        var x = (0..<(rows * n)).map { _ in Float(rng.uniform() * 16 - 8) }
        guard special else { return x }
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 100, -100, 88.5, -87.5, 1e-30]
        for r in 0..<rows {
            switch r % 6 {
            case 1: x[r * n + (r * 7) % n] = specials[r % specials.count]             // one special value
            case 2: for j in 0..<n { x[r * n + j] = -.infinity }                      // a fully masked row
            case 3: for j in 0..<n { x[r * n + j] = j % 2 == 0 ? 0 : -0.0 }           // zero maximum of either sign
            case 4: for j in 0..<n { x[r * n + j] *= 30 }                             // beyond the clamp
            default: break
            }
        }
        return x
    }

    static let rowLengths = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 255, 256, 257]
    static let rowCounts = [1, 3, 7, 8, 9, 15, 16, 17, 33, 70]

    // MARK: tests

    func testForwardSameBitsAsReference() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable path (the reference loops) runs here")
        var checked = 0
        for n in Self.rowLengths {
            for rows in Self.rowCounts {
                for special in [false, true] {
                    let x = Self.logits(rows: rows, n: n, seed: UInt64(n * 131 + rows), special: special)
                    for log in [false, true] {
                        var want = [Float](repeating: 0, count: x.count)
                        x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { yp in
                            Self.referenceRows(x: xp.baseAddress!, y: yp.baseAddress!, outer: rows, n: n, inner: 1, log: log)
                        } }
                        for isa in supportedKernelPaths() { for threads in [1, 2] {
                            var got = [Float](repeating: 7, count: x.count)
                            try withKernelPath(isa, threads: threads) {
                                x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { yp in
                                    softmaxRows(x: xp.baseAddress!, y: yp.baseAddress!, outer: rows, n: n, inner: 1, log: log)
                                } }
                            }
                            XCTAssertEqual(bitPatterns(got), bitPatterns(want), "\(log ? "logSoftmax" : "softmax") \(isa) threads \(threads): rows \(rows) n \(n) special \(special)")
                            checked += 1
                        } }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, Self.rowLengths.count * Self.rowCounts.count * 8, "the vector path (AVX2 at least) must have been compared")
    }

    func testBackwardSameBitsAsReference() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable path (the reference loops) runs here")
        for n in Self.rowLengths {
            for rows in Self.rowCounts {
                let x = Self.logits(rows: rows, n: n, seed: UInt64(n * 17 + rows), special: false)
                var y = [Float](repeating: 0, count: x.count)
                x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                    Self.referenceRows(x: xp.baseAddress!, y: yp.baseAddress!, outer: rows, n: n, inner: 1, log: false)
                } }
                var rng = RNG(seed: UInt64(n + 1000 * rows))
                let dy = (0..<x.count).map { _ in Float(rng.uniform() * 2 - 1) }
                let dx0 = (0..<x.count).map { _ in Float(rng.uniform() - 0.5) }
                for accumulate in [false, true] {
                    var want = dx0
                    want.withUnsafeMutableBufferPointer { d in
                        Self.referenceBackward(y: y, dy: dy, dx: d.baseAddress!, outer: rows, n: n, inner: 1, fresh: !accumulate)
                    }
                    for isa in supportedKernelPaths() { for threads in [1, 2] {
                        var got = dx0
                        try withKernelPath(isa, threads: threads) {
                            got.withUnsafeMutableBufferPointer { d in
                                softmaxBackwardRows(y: y, dy: dy, dx: d.baseAddress!, outer: rows, n: n, inner: 1, accumulate: accumulate)
                            }
                        }
                        XCTAssertEqual(bitPatterns(got), bitPatterns(want), "backward \(isa) threads \(threads) accumulate \(accumulate): rows \(rows) n \(n)")
                    } }
                }
            }
        }
    }

    /// A strided axis (inner > 1) keeps the Swift loops; the op's results equal the reference too.
    func testStridedAxisUnchanged() {
        let (outer, n, inner) = (3, 11, 5)
        let x = Self.logits(rows: outer * inner, n: n, seed: 5, special: false)
        var want = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { yp in
            Self.referenceRows(x: xp.baseAddress!, y: yp.baseAddress!, outer: outer, n: n, inner: inner, log: false)
        } }
        let got = Tensor(x, shape: [outer, n, inner]).softmax(axis: 1).array
        XCTAssertEqual(bitPatterns(got), bitPatterns(want))
    }

    /// The vector kernel actually runs on the vector ISAs (a silent fallback to the Swift loops would make
    /// the comparisons above vacuous) and not on the portable one.
    func testVectorKernelRuns() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: the vector kernel cannot run here")
        for isa in supportedKernelPaths() {
            try withKernelPath(isa) {
                for n in Self.rowLengths { XCTAssertEqual(vectorSoftmaxHandles(n: n), isa != .portable, "\(isa) n \(n)") }
            }
        }
    }
}
