import Tensor

/// Resizing and input scaling for the FID Inception, as the reference pipelines do it.
///
/// Bilinear resize = PyTorch `F.interpolate(x, size, mode="bilinear", align_corners=False)` without
/// antialiasing: output pixel i samples source coordinate s = (i + ½)·(in/out) − ½, clamped below at 0;
/// i0 = ⌊s⌋, i1 = min(i0 + 1, in − 1), λ = s − i0; y = (1−λy)·((1−λx)·v00 + λx·v01) + λy·((1−λx)·v10 + λx·v11).
/// Resizing to the same size is the identity.
public enum InceptionPreprocess {
    /// Per-output-index source taps (i0, i1, λ) of a 1-D align_corners=False bilinear resize.
    public static func taps(input n: Int, output m: Int) -> [(Int, Int, Float)] {
        let scale = Float(n) / Float(m)
        return (0..<m).map { i in
            var s = scale * (Float(i) + 0.5) - 0.5
            if s < 0 { s = 0 }
            let i0 = min(Int(s), n - 1)
            let i1 = min(i0 + 1, n - 1)
            return (i0, i1, s - Float(i0))
        }
    }

    /// Bilinearly resizes NHWC `x` (B, H, W, C) to (B, outH, outW, outC) and applies y = a·v + b to every
    /// value. With C = 1 and outC = 3 the grey channel is repeated; otherwise C must equal outC.
    public static func resize(_ x: Tensor, height outH: Int, width outW: Int, outChannels outC: Int? = nil,
                              scale a: Float = 1, shift b: Float = 0) -> Tensor {
        precondition(x.rank == 4, "resize: expects NHWC, got \(x.shape)")
        let (B, H, W, C) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oc = outC ?? C
        precondition(C == oc || (C == 1 && oc == 3), "resize: \(C) channels cannot become \(oc)")
        let ty = taps(input: H, output: outH), tx = taps(input: W, output: outW)
        let out = Tensor(uninitialized: [B, outH, outW, oc])
        let src = SendablePtr(x.data), dst = SendablePtr(out.data)
        ty.withUnsafeBufferPointer { tyb in tx.withUnsafeBufferPointer { txb in
            let py = SendablePtr(UnsafeMutablePointer(mutating: tyb.baseAddress!))
            let px = SendablePtr(UnsafeMutablePointer(mutating: txb.baseAddress!))
            parallelRange(B * outH, minChunk: 8) { r0, r1 in
                for r in r0..<r1 {
                    let bb = r / outH, oy = r % outH
                    let (y0, y1, ly) = py.p[oy]
                    let row0 = src.p + (bb * H + y0) * W * C, row1 = src.p + (bb * H + y1) * W * C
                    let h0 = 1 - ly
                    for ox in 0..<outW {
                        let (x0, x1, lx) = px.p[ox]
                        let w0 = 1 - lx
                        let o = dst.p + (r * outW + ox) * oc
                        for c in 0..<C {
                            let v = h0 * (w0 * row0[x0 * C + c] + lx * row0[x1 * C + c])
                                + ly * (w0 * row1[x0 * C + c] + lx * row1[x1 * C + c])
                            o[c] = a * v + b
                        }
                        if C == 1 && oc == 3 { o[1] = o[0]; o[2] = o[0] }
                    }
                }
            }
        } }
        return out
    }
}
