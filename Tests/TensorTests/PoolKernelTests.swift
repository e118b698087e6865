import XCTest
@testable import Tensor
import TestSupport

/// The vector pooling kernels (Sources/CGemm/pool.c, issue 23) give exactly the bits of the Swift loops they
/// replaced — kept below verbatim as the reference — on every ISA this CPU runs, at 1 and 2 threads: max and
/// average pooling (with and without `countIncludePad`) on the Inception network's window geometries and
/// others (3×3 stride 2, 3×3 stride 1 padding 1, 2×2 stride 2, 5×5 stride 3 padding 2), channel counts around
/// the 8- and 16-lane widths (tails, fewer channels than a vector), pixel strides wider than the channels
/// (a slice of a concatenation) on both sides, and special values (NaN, ±inf, ±0 ties, equal maxima).
final class PoolKernelTests: XCTestCase {
    // MARK: the reference: Pool3x3.swift's loops before the vector kernels (main c037598), unchanged

    static func referenceMax(_ y: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldIn: Int,
                             batch B: Int, height H: Int, width W: Int, channels C: Int, kernel k: Int, stride s: Int, padding p: Int) {
        let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
        for r in 0..<(B * Ho) {
            let b = r / Ho, oy = r % Ho
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            for ox in 0..<Wo {
                let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
                let o = y + (r * Wo + ox) * ldOut
                o.update(repeating: -.infinity, count: C)
                for iy in y0..<y1 { for ix in x0..<x1 {
                    let src = x + ((b * H + iy) * W + ix) * ldIn
                    for c in 0..<C { let v = src[c]; if v > o[c] || v.isNaN { o[c] = v } }
                } }
            }
        }
    }

    static func referenceAvg(_ y: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldIn: Int,
                             batch B: Int, height H: Int, width W: Int, channels C: Int, kernel k: Int, stride s: Int, padding p: Int,
                             countIncludePad: Bool) {
        let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
        for r in 0..<(B * Ho) {
            let b = r / Ho, oy = r % Ho
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            for ox in 0..<Wo {
                let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
                let o = y + (r * Wo + ox) * ldOut
                o.update(repeating: 0, count: C)
                for iy in y0..<y1 { for ix in x0..<x1 {
                    let src = x + ((b * H + iy) * W + ix) * ldIn
                    for c in 0..<C { o[c] += src[c] }
                } }
                let inv = 1 / Float(countIncludePad ? k * k : (y1 - y0) * (x1 - x0))
                for c in 0..<C { o[c] *= inv }
            }
        }
    }

    // MARK: cases

    struct Geometry { let k: Int, s: Int, p: Int }
    enum Kind: CaseIterable { case max, avg, avgCountIncludePad }
    static let geometries = [Geometry(k: 3, s: 2, p: 0), Geometry(k: 3, s: 1, p: 1), Geometry(k: 2, s: 2, p: 0), Geometry(k: 5, s: 3, p: 2)]
    static let channelCounts = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65]

    /// Uniform values in [−4, 4], a few of them coarsely rounded so that equal maxima occur, and (when
    /// `special`) NaN, ±inf and ±0 scattered so that some windows hold several of them.
    static func input(count: Int, seed: UInt64, special: Bool) -> [Float] {
        var rng = RNG(seed: seed)
        var x = (0..<count).map { i -> Float in
            let v = Float(rng.uniform() * 8 - 4)
            return i % 5 == 0 ? v.rounded() : v
        }
        guard special else { return x }
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, -.nan]
        for i in stride(from: 0, to: count, by: 7) { x[i] = specials[(i / 7) % specials.count] }
        for i in stride(from: 3, to: count, by: 11) { x[i] = (i / 11) % 2 == 0 ? 0 : -0.0 }
        return x
    }

    // MARK: tests

    func testSameBitsAsReference() throws {
        try XCTSkipUnless(KernelISA.avx2.isSupported, "CPU lacks AVX2+FMA: only the portable path (the reference loops) runs here")
        let (B, H, W) = (2, 9, 8)
        var compared = 0
        for g in Self.geometries {
            let Ho = pool2dOutputSize(H, kernel: g.k, stride: g.s, padding: g.p), Wo = pool2dOutputSize(W, kernel: g.k, stride: g.s, padding: g.p)
            for C in Self.channelCounts {
                for (extraIn, extraOut) in [(0, 0), (5, 3)] {
                    let ldIn = C + extraIn, ldOut = C + extraOut
                    for special in [false, true] {
                        let x = Self.input(count: B * H * W * ldIn, seed: UInt64(C * 97 + g.k * 7 + g.s), special: special)
                        // The sentinel shows any write outside the C channels of an output pixel.
                        let sentinel = [Float](repeating: 42, count: B * Ho * Wo * ldOut)
                        for kind in Kind.allCases {
                            var want = sentinel
                            x.withUnsafeBufferPointer { xp in want.withUnsafeMutableBufferPointer { yp in
                                if kind == .max {
                                    Self.referenceMax(yp.baseAddress!, ldOut: ldOut, xp.baseAddress!, ldIn: ldIn, batch: B, height: H, width: W,
                                                      channels: C, kernel: g.k, stride: g.s, padding: g.p)
                                } else {
                                    Self.referenceAvg(yp.baseAddress!, ldOut: ldOut, xp.baseAddress!, ldIn: ldIn, batch: B, height: H, width: W,
                                                      channels: C, kernel: g.k, stride: g.s, padding: g.p, countIncludePad: kind == .avgCountIncludePad)
                                }
                            } }
                            for isa in supportedKernelPaths() { for threads in [1, 2] {
                                var got = sentinel
                                try withKernelPath(isa, threads: threads) {
                                    x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { yp in
                                        if kind == .max {
                                            maxPool2dForward(yp.baseAddress!, ldOut: ldOut, xp.baseAddress!, ldIn: ldIn, batch: B, height: H, width: W,
                                                             channels: C, kernel: g.k, stride: g.s, padding: g.p)
                                        } else {
                                            avgPool2dForward(yp.baseAddress!, ldOut: ldOut, xp.baseAddress!, ldIn: ldIn, batch: B, height: H, width: W,
                                                             channels: C, kernel: g.k, stride: g.s, padding: g.p, countIncludePad: kind == .avgCountIncludePad)
                                        }
                                    } }
                                }
                                // A sum's NaN is compared as "a NaN": which operand's payload and sign x86 returns follows
                                // the operand order LLVM picks for a commutative fadd — not the source — so it is not part
                                // of any path's contract (max pooling selects elements and keeps every NaN's bits).
                                let canonical: ([Float]) -> [UInt32] = { kind == .max ? bitPatterns($0) : $0.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
                                XCTAssertEqual(canonical(got), canonical(want),
                                               "\(kind) \(isa) threads \(threads): k \(g.k) s \(g.s) p \(g.p) C \(C) ldIn \(ldIn) ldOut \(ldOut) special \(special)")
                                compared += 1
                            } }
                        }
                    }
                }
            }
        }
        // Portable and AVX2 at least, two thread counts, every case above.
        XCTAssertGreaterThanOrEqual(compared, Self.geometries.count * Self.channelCounts.count * 2 * 2 * 3 * 2 * 2)
    }

    /// The special values really reach the outputs (otherwise the NaN and ±0 rules above would be untested):
    /// some max-pooled outputs are NaN, some +inf, and some are a zero of each sign.
    func testSpecialValuesReachTheOutputs() {
        let (B, H, W, C) = (2, 9, 8, 17)
        let x = Self.input(count: B * H * W * C, seed: 3, special: true)
        let Ho = pool2dOutputSize(H, kernel: 3, stride: 2, padding: 0), Wo = pool2dOutputSize(W, kernel: 3, stride: 2, padding: 0)
        var y = [Float](repeating: 0, count: B * Ho * Wo * C)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            maxPool2dForward(yp.baseAddress!, ldOut: C, xp.baseAddress!, ldIn: C, batch: B, height: H, width: W,
                             channels: C, kernel: 3, stride: 2, padding: 0)
        } }
        XCTAssertTrue(y.contains { $0.isNaN }, "some window holds a NaN")
        XCTAssertTrue(y.contains(.infinity), "some window's maximum is +inf")
        let negative = Self.input(count: B * H * W * C, seed: 3, special: true).map { $0 > 0 ? -$0 : $0 }
        var z = [Float](repeating: 0, count: y.count)
        negative.withUnsafeBufferPointer { xp in z.withUnsafeMutableBufferPointer { yp in
            maxPool2dForward(yp.baseAddress!, ldOut: C, xp.baseAddress!, ldIn: C, batch: B, height: H, width: W,
                             channels: C, kernel: 3, stride: 2, padding: 0)
        } }
        XCTAssertTrue(z.contains { $0 == 0 && $0.sign == .minus }, "some window's first maximum is −0")
        XCTAssertTrue(z.contains { $0 == 0 && $0.sign == .plus }, "some window's first maximum is +0")
    }
}
