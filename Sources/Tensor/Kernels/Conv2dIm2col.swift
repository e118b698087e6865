import Foundation

// Lowering helpers for the NHWC convolution kernels in Conv2d.swift: im2col (gather a window of
// input pixels into one GEMM row), the col2im gather used by strided input gradients, weight
// permutations and the bias column sums. All work on raw pointers; callers parallelise.

/// Geometry of one lowering: `src` is (B, H, W, C) NHWC; the "output" grid is (B, Ho, Wo); the
/// window of output pixel (b, oy, ox) is src[b, oy·s − p + ky, ox·s − p + kx, :] for ky, kx < k
/// (zero outside the image). `p` may be negative (used by the input-gradient lowering).
@usableFromInline
struct ConvLowering {
    @usableFromInline var B, H, W, C, k, s, p, Ho, Wo: Int
    /// Length of one im2col row: k·k·C, ordered (ky, kx, c).
    @usableFromInline var K: Int { k * k * C }
    @usableFromInline var rows: Int { B * Ho * Wo }

    @usableFromInline
    init(B: Int, H: Int, W: Int, C: Int, k: Int, s: Int, p: Int, Ho: Int, Wo: Int) {
        self.B = B; self.H = H; self.W = W; self.C = C; self.k = k; self.s = s; self.p = p
        self.Ho = Ho; self.Wo = Wo
    }
}

/// Writes im2col rows r0..<r1 (output pixels in (b, oy, ox) order) to `cols` with row stride `L.K`.
@usableFromInline
func im2colRows(_ cols: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>,
                _ L: ConvLowering, _ r0: Int, _ r1: Int) {
    if r0 >= r1 { return }
    let k = L.k, s = L.s, p = L.p, C = L.C, H = L.H, W = L.W, K = L.K
    let kC = k * C
    let hw = L.Ho * L.Wo
    var b = r0 / hw
    let rem = r0 - b * hw
    var oy = rem / L.Wo
    var ox = rem - oy * L.Wo
    var dst = cols
    let fbytes = MemoryLayout<Float>.stride
    for _ in r0..<r1 {
        let iy0 = oy * s - p
        let ix0 = ox * s - p
        let img = src + b * H * W * C
        if s == 1 {
            // The k window pixels of one kernel row are contiguous in NHWC: one copy per ky.
            let kx0 = max(0, -ix0), kx1 = min(k, W - ix0)
            for ky in 0..<k {
                let d = dst + ky * kC
                let iy = iy0 + ky
                if iy < 0 || iy >= H || kx1 <= kx0 {
                    memset(d, 0, kC * fbytes)
                    continue
                }
                if kx0 > 0 { memset(d, 0, kx0 * C * fbytes) }
                memcpy(d + kx0 * C, img + (iy * W + ix0 + kx0) * C, (kx1 - kx0) * C * fbytes)
                if kx1 < k { memset(d + kx1 * C, 0, (k - kx1) * C * fbytes) }
            }
        } else {
            for ky in 0..<k {
                let iy = iy0 + ky
                if iy < 0 || iy >= H {
                    memset(dst + ky * kC, 0, kC * fbytes)
                    continue
                }
                for kx in 0..<k {
                    let d = dst + ky * kC + kx * C
                    let ix = ix0 + kx
                    if ix < 0 || ix >= W { memset(d, 0, C * fbytes) } else {
                        memcpy(d, img + (iy * W + ix) * C, C * fbytes)
                    }
                }
            }
        }
        dst += K
        ox += 1
        if ox == L.Wo {
            ox = 0; oy += 1
            if oy == L.Ho { oy = 0; b += 1 }
        }
    }
}

/// Row-band lowering for stride-1 convolutions: for image `b` and the band of output rows
/// oy0..<oy1, fills rows q0..<q1 of Q, where Q row j·Wo + ox (j < oy1 − oy0 + k − 1) is
/// src[b, oy0 − p + j, ox − p + kx, :] for kx < k (zero outside the image), length k·C.
/// The im2col row of output pixel (oy, ox) for kernel row ky is then Q row (oy − oy0 + ky)·Wo + ox,
/// so for each ky the band's GEMM operand is a plain strided matrix (row stride k·C): k GEMMs
/// with K = k·C replace one with K = k·k·C, and the lowering copies k× less.
@usableFromInline
func bandLowerRows(_ q: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ L: ConvLowering,
                   image b: Int, oy0: Int, _ q0: Int, _ q1: Int) {
    if q0 >= q1 { return }
    let k = L.k, p = L.p, C = L.C, H = L.H, W = L.W, Wo = L.Wo
    let kC = k * C
    let fbytes = MemoryLayout<Float>.stride
    let img = src + b * H * W * C
    var j = q0 / Wo
    var ox = q0 - j * Wo
    var dst = q + q0 * kC
    for _ in q0..<q1 {
        let iy = oy0 - p + j
        let ix0 = ox - p
        let kx0 = max(0, -ix0), kx1 = min(k, W - ix0)
        if iy < 0 || iy >= H || kx1 <= kx0 {
            memset(dst, 0, kC * fbytes)
        } else {
            if kx0 > 0 { memset(dst, 0, kx0 * C * fbytes) }
            memcpy(dst + kx0 * C, img + (iy * W + ix0 + kx0) * C, (kx1 - kx0) * C * fbytes)
            if kx1 < k { memset(dst + kx1 * C, 0, (k - kx1) * C * fbytes) }
        }
        dst += kC
        ox += 1
        if ox == Wo { ox = 0; j += 1 }
    }
}

/// col2im as a gather: for input pixels of images b0..<b1, adds every im2col entry that reads them.
/// `dcols` holds the rows of output pixels of images b0..<b1 (row 0 = image b0, pixel (0,0)), with
/// row stride `L.K`. Pixels are processed in the range [q0, q1) of the images' B·H·W flat index
/// (relative to image b0), so callers can split the work across threads without write conflicts.
@usableFromInline
func col2imGather(_ dx: UnsafeMutablePointer<Float>, _ dcols: UnsafePointer<Float>,
                  _ L: ConvLowering, imageBase b0: Int, _ q0: Int, _ q1: Int) {
    let k = L.k, s = L.s, p = L.p, C = L.C, H = L.H, W = L.W, K = L.K, Ho = L.Ho, Wo = L.Wo
    for q in q0..<q1 {
        let bl = q / (H * W)
        let rem = q - bl * H * W
        let iy = rem / W
        let ix = rem - iy * W
        let d = dx + ((b0 + bl) * H * W + rem) * C
        for ky in 0..<k {
            let ty = iy + p - ky
            if ty < 0 { break }
            if ty % s != 0 { continue }
            let oy = ty / s
            if oy >= Ho { continue }
            for kx in 0..<k {
                let tx = ix + p - kx
                if tx < 0 { break }
                if tx % s != 0 { continue }
                let ox = tx / s
                if ox >= Wo { continue }
                let srow = dcols + ((bl * Ho + oy) * Wo + ox) * K + (ky * k + kx) * C
                addInPlace(d, srow, C)
            }
        }
    }
}

/// d[i] += s[i] for i < n.
@inline(__always) @usableFromInline
func addInPlace(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        let a = UnsafeRawPointer(d + i).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(s + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(d + i).storeBytes(of: a + b, as: SIMD8<Float>.self)
        i += 8
    }
    while i < n { d[i] += s[i]; i += 1 }
}

/// Column sums of the M×N row-major matrix `a`, added to `out` (length N). Rows are cut into fixed
/// chunks of 1024 (independent of the thread count); each chunk sums blocks of 64 rows in Float and
/// adds the block sums in Double; the chunk totals are combined in chunk order. Deterministic, and
/// identical for any thread count.
@usableFromInline
func addColumnSums(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, m M: Int, n N: Int) {
    if M == 0 || N == 0 { return }
    let rowsPerChunk = 1024
    let nChunks = (M + rowsPerChunk - 1) / rowsPerChunk
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: nChunks * N)
    defer { partial.deallocate() }
    partial.initialize(repeating: 0, count: nChunks * N)
    let pp = SendablePtr(partial), ap = SendablePtr(a)
    parallelRange(nChunks, minChunk: 1) { c0, c1 in
        let blk = UnsafeMutablePointer<Float>.allocate(capacity: N)
        defer { blk.deallocate() }
        for c in c0..<c1 {
            let r0 = c * rowsPerChunk, r1 = min(M, r0 + rowsPerChunk)
            let acc = pp.p + c * N
            var r = r0
            while r < r1 {
                let re = min(r1, r + 64)
                blk.initialize(repeating: 0, count: N)
                for i in r..<re { addInPlace(blk, ap.p + i * N, N) }
                for j in 0..<N { acc[j] += Double(blk[j]) }
                r = re
            }
        }
    }
    for j in 0..<N {
        var s = 0.0
        for c in 0..<nChunks { s += partial[c * N + j] }
        out[j] += Float(s)
    }
}
