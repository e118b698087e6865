/// Resampling of NHWC images: nearest 2× upsampling, 2×2 average pooling, global average pooling.
extension Tensor {
    func nhwc(_ op: String) -> (b: Int, h: Int, w: Int, c: Int) {
        if rank != 4 { shapeFailure(ShapeError(op, "expects an NHWC tensor (rank 4), got \(fmt(shape))")) }
        return (shape[0], shape[1], shape[2], shape[3])
    }

    /// Nearest-neighbour 2× upsampling: out[b, y, x, c] = in[b, y/2, x/2, c] (DDPM's Upsample).
    public func upsampleNearest2x() -> Tensor {
        let (b, h, w, c) = nhwc("upsampleNearest2x")
        let out = Tensor(uninitialized: [b, 2 * h, 2 * w, c])
        let src = SendablePtr(data), dst = SendablePtr(out.data)
        parallelRange(b * h, minChunk: 8) { s, e in
            for bh in s..<e {
                let row = src.p + bh * w * c
                for dy in 0..<2 {
                    let orow = dst.p + (bh * 2 + dy) * 2 * w * c
                    for x in 0..<w {
                        (orow + (2 * x) * c).update(from: row + x * c, count: c)
                        (orow + (2 * x + 1) * c).update(from: row + x * c, count: c)
                    }
                }
            }
        }
        return out.recording([self]) { _, g in
            let dx = SendablePtr(self.gradBuffer()), gp = SendablePtr(g.data)
            parallelRange(b * h, minChunk: 8) { s, e in
                for bh in s..<e { for x in 0..<w {
                    let d = dx.p + (bh * w + x) * c
                    for dy in 0..<2 { for dxo in 0..<2 {
                        let gsrc = gp.p + ((bh * 2 + dy) * 2 * w + 2 * x + dxo) * c
                        for k in 0..<c { d[k] += gsrc[k] }
                    } }
                } }
            }
        }
    }

    /// 2×2 average pooling with stride 2 (DenseNet transitions). H and W must be even.
    public func avgPool2x2() -> Tensor {
        let (b, h, w, c) = nhwc("avgPool2x2")
        if h % 2 != 0 || w % 2 != 0 { shapeFailure(ShapeError("avgPool2x2", "height and width must be even, got \(fmt(shape))")) }
        let ho = h / 2, wo = w / 2
        let out = Tensor(uninitialized: [b, ho, wo, c])
        let src = SendablePtr(data), dst = SendablePtr(out.data)
        parallelRange(b * ho, minChunk: 8) { s, e in
            for by in s..<e {
                let bb = by / ho, y = by % ho
                for x in 0..<wo {
                    let o = dst.p + (by * wo + x) * c
                    let p00 = src.p + ((bb * h + 2 * y) * w + 2 * x) * c
                    let p01 = p00 + c, p10 = p00 + w * c, p11 = p10 + c
                    for k in 0..<c { o[k] = 0.25 * (p00[k] + p01[k] + p10[k] + p11[k]) }
                }
            }
        }
        return out.recording([self]) { _, g in
            let dx = SendablePtr(self.gradBuffer()), gp = SendablePtr(g.data)
            parallelRange(b * ho, minChunk: 8) { s, e in
                for by in s..<e {
                    let bb = by / ho, y = by % ho
                    for x in 0..<wo {
                        let gsrc = gp.p + (by * wo + x) * c
                        let p00 = dx.p + ((bb * h + 2 * y) * w + 2 * x) * c
                        for q in [p00, p00 + c, p00 + w * c, p00 + w * c + c] { for k in 0..<c { q[k] += 0.25 * gsrc[k] } }
                    }
                }
            }
        }
    }

    /// Mean over the spatial axes: (B, H, W, C) → (B, C). The pooled feature f of spec §3.2.
    public func globalAvgPool() -> Tensor {
        let (b, h, w, c) = nhwc("globalAvgPool")
        let a = h * w
        let out = Tensor(uninitialized: [b, c])
        for bb in 0..<b {
            var acc = [Double](repeating: 0, count: c)
            for p in 0..<a { let row = data + (bb * a + p) * c; for k in 0..<c { acc[k] += Double(row[k]) } }
            for k in 0..<c { out.data[bb * c + k] = Float(acc[k] / Double(a)) }
        }
        return out.recording([self]) { _, g in
            let dx = self.gradBuffer(), inv = 1 / Float(a)
            for bb in 0..<b { for p in 0..<a {
                let row = dx + (bb * a + p) * c, gr = g.data + bb * c
                for k in 0..<c { row[k] += gr[k] * inv }
            } }
        }
    }
}
