import CGemm

/// k×k max and average pooling of NHWC images with stride and zero padding (PyTorch's `max_pool2d`,
/// `avg_pool2d` with floor mode, dilation 1), as the Inception network uses them: max 3×3 stride 2,
/// max 3×3 stride 1 padding 1, average 3×3 stride 1 padding 1 with `count_include_pad=False`.
///
///   Ho = (H + 2p − k)/s + 1 (floor), window of output (oy, ox): rows oy·s − p ..< oy·s − p + k (same for x).
///   max:  y = max over the in-image window elements (padding never wins; NaN propagates, as in PyTorch).
///   avg:  y = Σ in-image window elements / d, d = k·k with `countIncludePad` (floor mode: windows never
///         reach past the padded border), else d = the number of in-image elements.
///   backward: max routes dy to the first maximal element in scan order (PyTorch's choice for ties);
///             avg adds dy/d to every in-image element of the window.
///
/// The raw kernels take pixel strides (`ldIn`, `ldOut` ≥ C floats between neighbouring pixels) so a
/// caller can read a channel slice of a wider tensor or write into a slice of a concatenation.

/// Output extent of a k-window pooling along one axis (floor mode).
@inlinable public func pool2dOutputSize(_ n: Int, kernel k: Int, stride s: Int, padding p: Int) -> Int {
    (n + 2 * p - k) / s + 1
}

/// Forward k×k max pooling. `y` (B, Ho, Wo, ·) rows of stride `ldOut`; `x` (B, H, W, ·) rows of stride `ldIn`.
public func maxPool2dForward(_ y: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldIn: Int,
                             batch B: Int, height H: Int, width W: Int, channels C: Int,
                             kernel k: Int, stride s: Int, padding p: Int) {
    let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
    let py = SendablePtr(y), px = SendablePtr(x)
    _ = GemmDispatch.isa
    parallelRange(B * Ho, minChunk: max(1, 4096 / max(1, Wo * C))) { r0, r1 in
        for r in r0..<r1 {
            let b = r / Ho, oy = r % Ho
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            for ox in 0..<Wo {
                let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
                let o = py.p + (r * Wo + ox) * ldOut
                // The same element operations on vector lanes along the channels where the ISA allows
                // (Sources/CGemm/pool.c: the same bits); else this loop.
                if rdd_pool_max_pixel(o, px.p + ((b * H + y0) * W + x0) * ldIn, C, Int32(y1 - y0), Int32(x1 - x0),
                                      W * ldIn, ldIn) != 0 { continue }
                o.update(repeating: -.infinity, count: C)
                for iy in y0..<y1 { for ix in x0..<x1 {
                    let src = px.p + ((b * H + iy) * W + ix) * ldIn
                    for c in 0..<C { let v = src[c]; if v > o[c] || v.isNaN { o[c] = v } }
                } }
            }
        }
    }
}

/// Forward k×k average pooling (see the file comment for the divisor).
public func avgPool2dForward(_ y: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldIn: Int,
                             batch B: Int, height H: Int, width W: Int, channels C: Int,
                             kernel k: Int, stride s: Int, padding p: Int, countIncludePad: Bool) {
    let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
    let py = SendablePtr(y), px = SendablePtr(x)
    _ = GemmDispatch.isa
    parallelRange(B * Ho, minChunk: max(1, 4096 / max(1, Wo * C))) { r0, r1 in
        for r in r0..<r1 {
            let b = r / Ho, oy = r % Ho
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            for ox in 0..<Wo {
                let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
                let o = py.p + (r * Wo + ox) * ldOut
                let inv = 1 / Float(countIncludePad ? k * k : (y1 - y0) * (x1 - x0))
                if rdd_pool_avg_pixel(o, px.p + ((b * H + y0) * W + x0) * ldIn, C, Int32(y1 - y0), Int32(x1 - x0),
                                      W * ldIn, ldIn, inv) != 0 { continue }
                o.update(repeating: 0, count: C)
                for iy in y0..<y1 { for ix in x0..<x1 {
                    let src = px.p + ((b * H + iy) * W + ix) * ldIn
                    for c in 0..<C { o[c] += src[c] }
                } }
                for c in 0..<C { o[c] *= inv }
            }
        }
    }
}

/// Backward of max pooling: dx (contiguous B, H, W, C) += routed dy (contiguous B, Ho, Wo, C).
/// Serial over images' output rows in order, so overlapping windows accumulate deterministically.
public func maxPool2dBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>,
                              batch B: Int, height H: Int, width W: Int, channels C: Int,
                              kernel k: Int, stride s: Int, padding p: Int) {
    let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
    let pdx = SendablePtr(dx), pdy = SendablePtr(dy), px = SendablePtr(x)
    // Images are independent: parallel over the batch only.
    parallelRange(B, minChunk: 1) { b0, b1 in
        var best = [Int](repeating: 0, count: C)
        for b in b0..<b1 { for oy in 0..<Ho { for ox in 0..<Wo {
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
            for c in 0..<C {
                var m = -Float.infinity, at = -1
                for iy in y0..<y1 { for ix in x0..<x1 {
                    let q = (b * H + iy) * W + ix
                    let v = px.p[q * C + c]
                    if at < 0 || v > m || (v.isNaN && !m.isNaN) { m = v; at = q }
                } }
                best[c] = at
            }
            let g = pdy.p + ((b * Ho + oy) * Wo + ox) * C
            for c in 0..<C { pdx.p[best[c] * C + c] += g[c] }
        } } }
    }
}

/// Backward of average pooling: dx (contiguous) += dy/d spread over each window's in-image elements.
public func avgPool2dBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>,
                              batch B: Int, height H: Int, width W: Int, channels C: Int,
                              kernel k: Int, stride s: Int, padding p: Int, countIncludePad: Bool) {
    let Ho = pool2dOutputSize(H, kernel: k, stride: s, padding: p), Wo = pool2dOutputSize(W, kernel: k, stride: s, padding: p)
    let pdx = SendablePtr(dx), pdy = SendablePtr(dy)
    parallelRange(B, minChunk: 1) { b0, b1 in
        for b in b0..<b1 { for oy in 0..<Ho { for ox in 0..<Wo {
            let y0 = max(0, oy * s - p), y1 = min(H, oy * s - p + k)
            let x0 = max(0, ox * s - p), x1 = min(W, ox * s - p + k)
            let inv = 1 / Float(countIncludePad ? k * k : (y1 - y0) * (x1 - x0))
            let g = pdy.p + ((b * Ho + oy) * Wo + ox) * C
            for iy in y0..<y1 { for ix in x0..<x1 {
                let d = pdx.p + ((b * H + iy) * W + ix) * C
                for c in 0..<C { d[c] += g[c] * inv }
            } }
        } } }
    }
}

extension Tensor {
    private func poolGeometry(_ op: String, _ k: Int, _ s: Int, _ p: Int) -> (Int, Int, Int, Int, Int, Int) {
        let (b, h, w, c) = nhwc(op)
        guard k > 0, s > 0, p >= 0, 2 * p <= k else {
            shapeFailure(ShapeError(op, "kernel \(k), stride \(s), padding \(p): need k > 0, s > 0, 0 ≤ p ≤ k/2"))
        }
        let ho = pool2dOutputSize(h, kernel: k, stride: s, padding: p), wo = pool2dOutputSize(w, kernel: k, stride: s, padding: p)
        if ho <= 0 || wo <= 0 { shapeFailure(ShapeError(op, "kernel \(k) with padding \(p) does not fit input \(fmt(shape))")) }
        return (b, h, w, c, ho, wo)
    }

    /// k×k max pooling with stride and padding (PyTorch `max_pool2d`, floor mode). NHWC.
    public func maxPool2d(kernel k: Int, stride s: Int, padding p: Int = 0) -> Tensor {
        let (b, h, w, c, ho, wo) = poolGeometry("maxPool2d", k, s, p)
        let out = Tensor(uninitialized: [b, ho, wo, c])
        maxPool2dForward(out.data, ldOut: c, data, ldIn: c, batch: b, height: h, width: w, channels: c, kernel: k, stride: s, padding: p)
        return out.recording([self]) { _, g in
            maxPool2dBackward(self.gradBuffer(), g.data, self.data, batch: b, height: h, width: w, channels: c,
                              kernel: k, stride: s, padding: p)
        }
    }

    /// k×k average pooling with stride and padding (PyTorch `avg_pool2d`, floor mode). NHWC.
    public func avgPool2d(kernel k: Int, stride s: Int, padding p: Int = 0, countIncludePad: Bool = true) -> Tensor {
        let (b, h, w, c, ho, wo) = poolGeometry("avgPool2d", k, s, p)
        let out = Tensor(uninitialized: [b, ho, wo, c])
        avgPool2dForward(out.data, ldOut: c, data, ldIn: c, batch: b, height: h, width: w, channels: c,
                         kernel: k, stride: s, padding: p, countIncludePad: countIncludePad)
        return out.recording([self]) { _, g in
            avgPool2dBackward(self.gradBuffer(), g.data, batch: b, height: h, width: w, channels: c,
                              kernel: k, stride: s, padding: p, countIncludePad: countIncludePad)
        }
    }
}
