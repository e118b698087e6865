import Foundation
import CGemm

/// Winograd F(2×2, 3×3) for stride-1, padding-1 3×3 convolutions on NHWC (Lavin & Gray 2016,
/// "Fast Algorithms for Convolutional Neural Networks"): each 2×2 block of output pixels ("tile") is
///
///     Y = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A
///
/// with d the 4×4 input patch at (2ty − 1, 2tx − 1) (zero outside the image), g the 3×3 kernel and
///     Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///     Aᵀ = [1 1 1 0; 0 1 −1 −1].
/// The sum over input channels is 16 GEMMs (one per position ξ of the 4×4 transformed patch):
/// M_ξ (tiles × Cout) = V_ξ (tiles × Cin) · U_ξ (Cin × Cout). That is 16·Cin·Cout multiply-adds per
/// 4 output pixels instead of 9·4·Cin·Cout: 2.25× fewer in the products, plus the transforms
/// (O(Cin + Cout) per tile).
///
/// Accuracy: the transforms add and subtract (and halve, in G) values, so the round-off is larger than
/// the direct product's; measured against a Float64 reference in `WinogradTests` (bound stated there).
/// Determinism: each output pixel depends only on its own tile; tiles are processed in chunks fixed by
/// the shape (never by the thread count), the GEMMs are ours, so results are the same bits at any
/// thread count and on every ISA.
///
/// Selected by `Conv2dTuning.algorithm` (`RDD_CONV=direct|winograd`; docs/benchmarks.md).
enum Winograd {
    /// Transformed weights U_ξ = G g Gᵀ, as 16 matrices Cin × Cout (row-major), computed in Float64 and
    /// rounded once. `g(o, i, ky, kx)` is the kernel of output channel o and input channel i.
    static func transformWeight(_ u: UnsafeMutablePointer<Float>, cin: Int, cout: Int, _ g: (Int, Int, Int, Int) -> Float) {
        for o in 0..<cout {
            for i in 0..<cin {
                // t = G·g (4×3, by columns b), then U = t·Gᵀ (4×4, by rows a); Float64, rounded once.
                var t = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
                withUnsafeMutableBytes(of: &t) { raw in
                    let tp = raw.baseAddress!.assumingMemoryBound(to: Double.self)   // tp[a·3 + b]
                    for b in 0..<3 {
                        let k0 = Double(g(o, i, 0, b)), k1 = Double(g(o, i, 1, b)), k2 = Double(g(o, i, 2, b))
                        tp[b] = k0
                        tp[3 + b] = 0.5 * (k0 + k1 + k2)
                        tp[6 + b] = 0.5 * (k0 - k1 + k2)
                        tp[9 + b] = k2
                    }
                    for a in 0..<4 {
                        let t0 = tp[a * 3], t1 = tp[a * 3 + 1], t2 = tp[a * 3 + 2]
                        let base = u + (a * 4 * cin + i) * cout + o, step = cin * cout
                        base[0] = Float(t0)
                        base[step] = Float(0.5 * (t0 + t1 + t2))
                        base[2 * step] = Float(0.5 * (t0 - t1 + t2))
                        base[3 * step] = Float(t2)
                    }
                }
            }
        }
    }

    /// Tiles per chunk: the chunk's V (16·tiles·Cin) and M (16·tiles·Cout) fit `Conv2dTuning.chunkFloats`
    /// (≥ 16 tiles). A function of the shape only.
    static func tilesPerChunk(cin: Int, cout: Int) -> Int {
        max(16, Conv2dTuning.chunkFloats / (16 * (cin + cout)))
    }

    /// The 16 transformed weights as the products take them.
    enum Weights {
        /// Packed for our kernel (`packWeight`): matrix ξ at + ξ·packedBFloats(n: cout, k: cin).
        case packed(UnsafePointer<Float>)
        /// Plain Cin × Cout matrices (`transformWeight`), for OpenBLAS when a benchmark switched our kernel off.
        case plain(UnsafePointer<Float>)
    }

    /// Floats of `packWeight`'s output.
    static func packedWeightFloats(cin: Int, cout: Int) -> Int { 16 * packedBFloats(n: cout, k: cin) }

    /// `transformWeight` followed by `packBForOwnKernel` of each U_ξ, in one pass and split over threads by
    /// input channels (`rdd_winograd_weight_packed`: the same Float64 operations, so the same bits; tested in
    /// WinogradTests.testPackedWeightTransformSameBits). `w` is the (cout, cin, 3, 3) kernel, or with `flipped`
    /// the (cin, cout, 3, 3) kernel of the convolution whose input gradient this is.
    static func packWeight(_ dst: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, cin: Int, cout: Int, flipped: Bool) {
        let d = SendablePtr(dst), wp = SendablePtr(w)
        parallelRange(cin, minChunk: max(1, 4096 / max(1, cout))) { i0, i1 in
            rdd_winograd_weight_packed(d.p, wp.p, cin, cout, flipped ? 1 : 0, i0, i1)
        }
    }

    /// Runs `body` with the transformed weights of `w` (layouts as in `packWeight`): packed for our kernel and
    /// kept between calls while `w`'s values are unchanged (`PreparedWeights`), or plain for OpenBLAS.
    static func withWeight<R>(_ w: UnsafePointer<Float>, cin: Int, cout: Int, flipped: Bool, _ body: (Weights) -> R) -> R {
        if GemmDispatch.useOwn(transA: false) {
            return PreparedWeights.with(w, count: 9 * cin * cout, form: .winograd(cin: cin, cout: cout, flipped: flipped),
                                        floats: packedWeightFloats(cin: cin, cout: cout),
                                        prepare: { dst in timedOther { packWeight(dst, w, cin: cin, cout: cout, flipped: flipped) } }) {
                body(.packed($0))
            }
        }
        return ScratchPool.withScratch(16 * cin * cout) { u in
            timedOther {
                if flipped {
                    transformWeight(u, cin: cin, cout: cout) { o, i, a, b in w[((i * cout + o) * 3 + 2 - a) * 3 + 2 - b] }
                } else {
                    transformWeight(u, cin: cin, cout: cout) { o, i, a, b in w[((o * cin + i) * 3 + a) * 3 + b] }
                }
            }
            return body(.plain(UnsafePointer(u)))
        }
    }

    /// out (B, H, W, Cout) (=, + bias, or += per `mode`) = conv3×3(x (B, H, W, Cin)), stride 1, padding 1,
    /// with the transformed weights `weights` (`withWeight`).
    static func forward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ weights: Weights,
                        B: Int, H: Int, W: Int, cin: Int, cout: Int, _ mode: RowInit) {
        let tH = (H + 1) / 2, tW = (W + 1) / 2
        let tiles = B * tH * tW
        let tc = tilesPerChunk(cin: cin, cout: cout)
        let chunks = (tiles + tc - 1) / tc
        let packedPer = packedBFloats(n: cout, k: cin)
        let (packed, plain): (UnsafePointer<Float>?, UnsafePointer<Float>?) = {
            switch weights {
            case .packed(let p): return (p, nil)
            case .plain(let u): return (nil, u)
            }
        }()
        ScratchPool.withScratch(cin) { zero in
            zero.update(repeating: 0, count: cin)
            let pOut = SendablePtr(out), pX = SendablePtr(x), pZero = SendablePtr(zero)
            let pPacked = packed.map { SendablePtr($0) }, pU = plain.map { SendablePtr($0) }
            parallelRange(chunks, minChunk: 1) { c0, c1 in
                ScratchPool.withScratch(16 * tc * (cin + cout)) { buf in
                    let v = buf, m = buf + 16 * tc * cin
                    for chunk in c0..<c1 {
                        let t0 = chunk * tc, n = min(tc, tiles - t0)
                        inputTransform(v, pX.p, zero: pZero.p, tiles: t0, n, ld: tc * cin, H: H, W: W, tH: tH, tW: tW, cin: cin)
                        for xi in 0..<16 {
                            if let pp = pPacked {
                                sgemmPackedB(m: n, n: cout, k: cin, a: v + xi * tc * cin, lda: cin, packedB: pp.p + xi * packedPer,
                                             beta: 0, c: m + xi * tc * cout, ldc: cout)
                            } else {
                                sgemm(m: n, n: cout, k: cin, a: v + xi * tc * cin, b: pU!.p + xi * cin * cout, c: m + xi * tc * cout)
                            }
                        }
                        outputTransform(pOut.p, m, tiles: t0, n, ld: tc * cout, H: H, W: W, tH: tH, tW: tW, cout: cout, mode)
                    }
                }
            }
        }
    }

    /// V[ξ][t][c] = (Bᵀ d_t B)[ξ] for tiles t0 ..< t0 + n (t relative to t0; ξ-major with stride `ld`),
    /// one `rdd_winograd_input` per tile (C, vectorised over channels).
    static func inputTransform(_ v: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, zero: UnsafePointer<Float>,
                               tiles t0: Int, _ n: Int, ld: Int, H: Int, W: Int, tH: Int, tW: Int, cin: Int) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: 16) { d in
            for t in 0..<n {
                let g = t0 + t
                let b = g / (tH * tW), r = g % (tH * tW)
                let y0 = 2 * (r / tW) - 1, x0 = 2 * (r % tW) - 1
                for i in 0..<4 {
                    for j in 0..<4 {
                        let yy = y0 + i, xx = x0 + j
                        d[i * 4 + j] = yy >= 0 && yy < H && xx >= 0 && xx < W ? x + ((b * H + yy) * W + xx) * cin : zero
                    }
                }
                rdd_winograd_input(v + t * cin, ld, d.baseAddress!, cin)
            }
        }
    }

    /// Output pixels of tiles t0 ..< t0 + n = Aᵀ M_t A (M ξ-major with stride `ld`), stored per `mode`;
    /// one `rdd_winograd_output` per tile.
    static func outputTransform(_ out: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, tiles t0: Int, _ n: Int, ld: Int,
                                H: Int, W: Int, tH: Int, tW: Int, cout: Int, _ mode: RowInit) {
        let (code, bias): (Int32, UnsafePointer<Float>?) = {
            switch mode {
            case .zero: return (0, nil)
            case .accumulate: return (1, nil)
            case .bias(let b): return (2, b)
            }
        }()
        withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>?.self, capacity: 4) { o in
            for t in 0..<n {
                let g = t0 + t
                let b = g / (tH * tW), r = g % (tH * tW)
                let y0 = 2 * (r / tW), x0 = 2 * (r % tW)
                let right = x0 + 1 < W, below = y0 + 1 < H
                let o00 = out + ((b * H + y0) * W + x0) * cout
                o[0] = o00
                o[1] = right ? o00 + cout : nil
                o[2] = below ? o00 + W * cout : nil
                o[3] = right && below ? o00 + (W + 1) * cout : nil
                rdd_winograd_output(m + t * cout, ld, o.baseAddress!, code, bias, cout)
            }
        }
    }
}
