import Foundation
import CBLAS

// 2-D convolution kernels on NHWC ("channels-last") Float32 activations, llm.c style: free
// functions on raw pointers, outputs first, then inputs, then dimensions.
//
//   x  (B, H, W, Cin)        contiguous NHWC input
//   y  (B, Ho, Wo, Cout)     contiguous NHWC output, Ho = (H + 2p − k)/s + 1 (same for Wo)
//   weight (Cout, Cin, k, k) PyTorch layout;  bias (Cout)
//
// Square k×k kernels, stride s ≥ 1, zero padding p ≥ 0, groups 1, dilation 1.
//
// Lowering: each output pixel's k×k×Cin window is gathered ("im2col") into one row of length
// K = k·k·Cin ordered (ky, kx, ci) — in NHWC each kernel row of the window is one contiguous copy —
// and the convolution is a GEMM with M = B·Ho·Wo rows. Rows are processed in chunks so the column
// buffer stays small (cache-sized) whatever the batch; buffers come from `ScratchPool`.
//   forward     y  = cols(x) · Wf            Wf = weight permuted to (ky, kx, ci) × co
//   weight grad dW += dYᵀ · cols(x)           (accumulated per thread, then permuted back)
//   input grad  stride 1: dX += cols'(dY) · Wt, the "transposed convolution" of dY with the
//               spatially flipped, channel-swapped weight (padding k−1−p), so no scatter is needed;
//               stride > 1: dcols = dY · Wm, then a col2im gather (each dx pixel sums its entries).
//   bias grad   db += column sums of dY.
// 1×1 stride-1 unpadded convolutions skip the lowering: they are plain GEMMs on the NHWC rows.
//
// Threading: by default each of `Threads.count` threads takes a fixed contiguous range of GEMM rows
// and runs im2col + a single-threaded sgemm on its own chunks (no barrier between im2col and GEMM,
// both cores busy all the time); OpenBLAS is switched to 1 thread for the duration and restored.
// Results are deterministic for a fixed thread count (fixed chunking, partial weight gradients are
// summed in thread order), not across thread counts.

/// Output extent of a convolution along one axis: (n + 2·padding − kernel)/stride + 1.
@inlinable
public func conv2dOutputSize(_ n: Int, kernel: Int, stride: Int = 1, padding: Int = 0) -> Int {
    (n + 2 * padding - kernel) / stride + 1
}

/// Performance knobs of the convolution kernels (for benchmarks; the defaults are the measured best).
public enum Conv2dTuning {
    /// Floats in one im2col chunk buffer (per thread in the per-thread mode). Default 1 Mi floats (4 MB).
    nonisolated(unsafe) public static var chunkFloats: Int = 1 << 20
    /// Per-thread lowering + single-threaded sgemm (true) or parallel im2col + one multi-threaded sgemm.
    nonisolated(unsafe) public static var perThread: Bool = true
    /// Forward/input-grad GEMM uses the weight as N×K with transB (true) or as K×N (false).
    nonisolated(unsafe) public static var weightTransB: Bool = false
    /// Weight-gradient GEMM produces K×Cout (colsᵀ·dY, true) or Cout×K (dYᵀ·cols, false).
    nonisolated(unsafe) public static var weightGradKxN: Bool = false
}

/// Optional per-phase timing of the convolution kernels (for `rdd-bench conv --profile`).
/// Times are summed over threads (thread-seconds), in nanoseconds; slot = worker index.
public enum Conv2dProfile {
    nonisolated(unsafe) public static var enabled = false
    // Raw slots (not Swift arrays) so that workers can add to their own slot concurrently.
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 128)
        p.initialize(repeating: 0, count: 128)
        return p
    }()
    public static func reset() { slots.update(repeating: 0, count: 128) }
    /// (lowering: im2col / col2im, GEMM) thread-nanoseconds since `reset()`.
    public static var totals: (lowering: UInt64, gemm: UInt64) {
        var l: UInt64 = 0, g: UInt64 = 0
        for i in 0..<64 { l &+= slots[i]; g &+= slots[64 + i] }
        return (l, g)
    }
    @inline(__always) static func now() -> UInt64 { enabled ? DispatchTime.now().uptimeNanoseconds : 0 }
    @inline(__always) static func addLower(_ slot: Int, _ t0: UInt64) {
        if enabled { slots[slot & 63] &+= DispatchTime.now().uptimeNanoseconds &- t0 }
    }
    @inline(__always) static func addGemm(_ slot: Int, _ t0: UInt64) {
        if enabled { slots[64 + (slot & 63)] &+= DispatchTime.now().uptimeNanoseconds &- t0 }
    }
}

/// Forward convolution: y = conv(x, weight) + bias. `y` is overwritten.
///
/// - Parameters:
///   - y: output (B, Ho, Wo, Cout), NHWC.
///   - x: input (B, H, W, Cin), NHWC.
///   - weight: (Cout, Cin, k, k).
///   - bias: (Cout), or nil for no bias.
public func conv2dForward(_ y: UnsafeMutablePointer<Float>,
                          _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          batch B: Int, height H: Int, width W: Int, inChannels Cin: Int, outChannels Cout: Int,
                          kernel k: Int, stride s: Int = 1, padding p: Int = 0) {
    precondition(B >= 0 && H > 0 && W > 0 && Cin > 0 && Cout > 0 && k > 0 && s > 0 && p >= 0,
                 "conv2dForward: bad geometry")
    let Ho = conv2dOutputSize(H, kernel: k, stride: s, padding: p)
    let Wo = conv2dOutputSize(W, kernel: k, stride: s, padding: p)
    precondition(Ho > 0 && Wo > 0, "conv2dForward: kernel larger than padded input")
    let M = B * Ho * Wo
    if M == 0 { return }
    let initMode: RowInit = bias.map { .bias($0) } ?? .zero
    if k == 1 && s == 1 && p == 0 {
        // Plain GEMM on the NHWC rows: Y (M×Cout) = X (M×Cin) · Wᵀ.
        prefillRows(y, rows: 0, M, n: Cout, initMode)
        sgemm(transB: true, m: M, n: Cout, k: Cin, a: x, b: weight, beta: initMode.beta, c: y)
        return
    }
    let L = ConvLowering(B: B, H: H, W: W, C: Cin, k: k, s: s, p: p, Ho: Ho, Wo: Wo)
    let K = L.K
    let transB = Conv2dTuning.weightTransB
    ScratchPool.withScratch(K * Cout) { wk in
        if transB { permuteWeightNxK(wk, weight, Cout: Cout, Cin: Cin, k: k) }
        else { permuteWeightKxN(wk, weight, Cout: Cout, Cin: Cin, k: k) }
        loweredGemm(y, x, L, wk, n: Cout, transB: transB, initMode)
    }
}

/// Backward convolution: accumulates (`+=`) the gradients of a loss with respect to the input,
/// weight and bias, given `dy` = ∂loss/∂y. Any of `dx`, `dweight`, `dbias` may be nil (not needed).
/// Zeroing the gradient buffers is the caller's job.
///
/// - Parameters:
///   - dx: (B, H, W, Cin), NHWC, or nil.
///   - dweight: (Cout, Cin, k, k), or nil.
///   - dbias: (Cout), or nil.
///   - dy: (B, Ho, Wo, Cout), NHWC.
///   - x: the forward input (B, H, W, Cin).
///   - weight: (Cout, Cin, k, k).
public func conv2dBackward(_ dx: UnsafeMutablePointer<Float>?, _ dweight: UnsafeMutablePointer<Float>?,
                           _ dbias: UnsafeMutablePointer<Float>?,
                           _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                           batch B: Int, height H: Int, width W: Int, inChannels Cin: Int, outChannels Cout: Int,
                           kernel k: Int, stride s: Int = 1, padding p: Int = 0) {
    precondition(B >= 0 && H > 0 && W > 0 && Cin > 0 && Cout > 0 && k > 0 && s > 0 && p >= 0,
                 "conv2dBackward: bad geometry")
    let Ho = conv2dOutputSize(H, kernel: k, stride: s, padding: p)
    let Wo = conv2dOutputSize(W, kernel: k, stride: s, padding: p)
    precondition(Ho > 0 && Wo > 0, "conv2dBackward: kernel larger than padded input")
    let M = B * Ho * Wo
    if M == 0 { return }
    if let db = dbias { addColumnSums(db, dy, m: M, n: Cout) }

    if k == 1 && s == 1 && p == 0 {
        // dW (Cout×Cin) += dYᵀ · X;  dX (M×Cin) += dY · W. The weight layout is already Cout×Cin.
        if let dw = dweight { sgemm(transA: true, m: Cout, n: Cin, k: M, a: dy, b: x, beta: 1, c: dw) }
        if let dx = dx { sgemm(m: M, n: Cin, k: Cout, a: dy, b: weight, beta: 1, c: dx) }
        return
    }
    let L = ConvLowering(B: B, H: H, W: W, C: Cin, k: k, s: s, p: p, Ho: Ho, Wo: Wo)
    let K = L.K
    if let dw = dweight {
        let kxn = Conv2dTuning.weightGradKxN
        ScratchPool.withScratch(K * Cout) { g in
            loweredWeightGrad(g, x, L, dy, n: Cout, kxn: kxn)
            if kxn { accumulateWeightFromKxN(dw, g, Cout: Cout, Cin: Cin, k: k) }
            else { accumulateWeightFromNxK(dw, g, Cout: Cout, Cin: Cin, k: k) }
        }
    }
    guard let dx = dx else { return }
    if s == 1 {
        // dX = conv(dY, flip(W) with Cin/Cout swapped, padding k−1−p): rows are dx pixels, K' = k·k·Cout.
        let Lt = ConvLowering(B: B, H: Ho, W: Wo, C: Cout, k: k, s: 1, p: k - 1 - p, Ho: H, Wo: W)
        let transB = Conv2dTuning.weightTransB
        ScratchPool.withScratch(K * Cout) { wt in
            if transB { permuteWeightFlippedNxK(wt, weight, Cout: Cout, Cin: Cin, k: k) }
            else { permuteWeightFlippedKxN(wt, weight, Cout: Cout, Cin: Cin, k: k) }
            loweredGemm(dx, dy, Lt, wt, n: Cin, transB: transB, .accumulate)
        }
    } else {
        stridedInputGrad(dx, dy, weight, L, cout: Cout)
    }
}

// MARK: - Drivers

@usableFromInline
enum RowInit {
    case accumulate, zero
    case bias(UnsafePointer<Float>)
    var beta: Float { if case .zero = self { return 0 } else { return 1 } }
}

/// Prepares output rows r0..<r1 (row stride n) for a GEMM with `mode.beta`: writes the bias into
/// each row for `.bias`; nothing otherwise (beta 0 overwrites, beta 1 accumulates).
@inline(__always)
func prefillRows(_ out: UnsafeMutablePointer<Float>, rows r0: Int, _ r1: Int, n: Int, _ mode: RowInit) {
    guard case .bias(let b) = mode else { return }
    for r in r0..<r1 { (out + r * n).update(from: b, count: n) }
}

/// Sets OpenBLAS to one thread while `body` runs (callers run sgemm concurrently on their own chunks).
@inline(__always)
func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
    let t = Threads.count
    if t > 1 { openblas_set_num_threads(1) }
    defer { if t > 1 { openblas_set_num_threads(Int32(t)) } }
    return body()
}

/// out (L.rows × n, row stride n) ⟵ init, then += im2col(src, L) · w, where w is K×n (or n×K with
/// `transB`).
func loweredGemm(_ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ L: ConvLowering,
                 _ w: UnsafePointer<Float>, n N: Int, transB: Bool, _ mode: RowInit) {
    let M = L.rows, K = L.K
    let T = Threads.count
    let beta = mode.beta
    let outP = SendablePtr(out), srcP = SendablePtr(src), wP = SendablePtr(w)
    if Conv2dTuning.perThread && T > 1 {
        let rowsPerChunk = max(8, Conv2dTuning.chunkFloats / K)
        // Each thread takes a contiguous block of rows (at least one chunk's worth unless M is small).
        let per = (M + T - 1) / T
        let nT = (M + per - 1) / per
        withSingleThreadedBLAS {
            parallelRange(nT, minChunk: 1) { t0, t1 in
                for t in t0..<t1 {
                    let a = t * per, e = min(M, a + per)
                    let rc = min(rowsPerChunk, e - a)
                    ScratchPool.withScratch(rc * K) { cols in
                        var r = a
                        while r < e {
                            let re = min(e, r + rowsPerChunk)
                            var c0 = Conv2dProfile.now()
                            im2colRows(cols, srcP.p, L, r, re)
                            prefillRows(outP.p, rows: r, re, n: N, mode)
                            Conv2dProfile.addLower(t, c0)
                            c0 = Conv2dProfile.now()
                            sgemm(transB: transB, m: re - r, n: N, k: K, a: cols, b: wP.p,
                                  beta: beta, c: outP.p + r * N)
                            Conv2dProfile.addGemm(t, c0)
                            r = re
                        }
                    }
                }
            }
        }
    } else {
        let rowsPerChunk = max(8, Conv2dTuning.chunkFloats * T / K)
        ScratchPool.withScratch(min(M, rowsPerChunk) * K) { cols in
            let colsP = SendablePtr(cols)
            var r = 0
            while r < M {
                let re = min(M, r + rowsPerChunk)
                let base = r
                var c0 = Conv2dProfile.now()
                parallelRange(re - r, minChunk: 16) { a, e in
                    im2colRows(colsP.p + a * K, srcP.p, L, base + a, base + e)
                    prefillRows(outP.p, rows: base + a, base + e, n: N, mode)
                }
                Conv2dProfile.addLower(0, c0)
                c0 = Conv2dProfile.now()
                sgemm(transB: transB, m: re - r, n: N, k: K, a: cols, b: w, beta: beta, c: out + r * N)
                Conv2dProfile.addGemm(0, c0)
                r = re
            }
        }
    }
}

/// g ⟵ dYᵀ · im2col(src, L) as n×K (or its transpose K×n when `kxn`); dy is L.rows × n.
func loweredWeightGrad(_ g: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ L: ConvLowering,
                       _ dy: UnsafePointer<Float>, n N: Int, kxn: Bool) {
    let M = L.rows, K = L.K
    let T = Threads.count
    let srcP = SendablePtr(src), dyP = SendablePtr(dy)
    @inline(__always) func gemm(_ cols: UnsafePointer<Float>, _ r: Int, _ re: Int, _ beta: Float,
                                _ out: UnsafeMutablePointer<Float>) {
        if kxn {
            sgemm(transA: true, m: K, n: N, k: re - r, a: cols, b: dyP.p + r * N, beta: beta, c: out)
        } else {
            sgemm(transA: true, m: N, n: K, k: re - r, a: dyP.p + r * N, b: cols, beta: beta, c: out)
        }
    }
    if Conv2dTuning.perThread && T > 1 {
        let rowsPerChunk = max(8, Conv2dTuning.chunkFloats / K)
        let per = (M + T - 1) / T
        let nT = (M + per - 1) / per
        // Thread 0 writes into g directly; the others into partial buffers, summed in order.
        ScratchPool.withScratch(max(1, nT - 1) * N * K) { partials in
            let gP = SendablePtr(g), partP = SendablePtr(partials)
            withSingleThreadedBLAS {
                parallelRange(nT, minChunk: 1) { t0, t1 in
                    for t in t0..<t1 {
                        let a = t * per, e = min(M, a + per)
                        let out = t == 0 ? gP.p : partP.p + (t - 1) * N * K
                        let rc = min(rowsPerChunk, e - a)
                        ScratchPool.withScratch(rc * K) { cols in
                            var r = a
                            var beta: Float = 0
                            while r < e {
                                let re = min(e, r + rowsPerChunk)
                                var c0 = Conv2dProfile.now()
                                im2colRows(cols, srcP.p, L, r, re)
                                Conv2dProfile.addLower(t, c0)
                                c0 = Conv2dProfile.now()
                                gemm(cols, r, re, beta, out)
                                Conv2dProfile.addGemm(t, c0)
                                beta = 1
                                r = re
                            }
                        }
                    }
                }
            }
            for t in 1..<max(1, nT) { addInPlace(g, partials + (t - 1) * N * K, N * K) }
        }
    } else {
        let rowsPerChunk = max(8, Conv2dTuning.chunkFloats * T / K)
        ScratchPool.withScratch(min(M, rowsPerChunk) * K) { cols in
            let colsP = SendablePtr(cols)
            var r = 0
            var beta: Float = 0
            while r < M {
                let re = min(M, r + rowsPerChunk)
                let base = r
                var c0 = Conv2dProfile.now()
                parallelRange(re - r, minChunk: 16) { a, e in
                    im2colRows(colsP.p + a * K, srcP.p, L, base + a, base + e)
                }
                Conv2dProfile.addLower(0, c0)
                c0 = Conv2dProfile.now()
                gemm(cols, r, re, beta, g)
                Conv2dProfile.addGemm(0, c0)
                beta = 1
                r = re
            }
        }
    }
}

/// Input gradient of a strided convolution: per chunk of whole images, dcols = dY · Wm (Wm is
/// Cout × K), then each dx pixel gathers its entries (no write conflicts, parallel over pixels).
func stridedInputGrad(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                      _ L: ConvLowering, cout N: Int) {
    let K = L.K
    let rowsPerImage = L.Ho * L.Wo
    let imgsPerChunk = max(1, Conv2dTuning.chunkFloats * Threads.count / (rowsPerImage * K))
    ScratchPool.withScratch(K * N) { wm in
        permuteWeightNxK(wm, weight, Cout: N, Cin: L.C, k: L.k)
        ScratchPool.withScratch(min(L.B, imgsPerChunk) * rowsPerImage * K) { dcols in
            let dxP = SendablePtr(dx), dcP = SendablePtr(dcols)
            var b = 0
            while b < L.B {
                let be = min(L.B, b + imgsPerChunk)
                var c0 = Conv2dProfile.now()
                sgemm(m: (be - b) * rowsPerImage, n: K, k: N, a: dy + b * rowsPerImage * N, b: wm, c: dcols)
                Conv2dProfile.addGemm(0, c0)
                c0 = Conv2dProfile.now()
                let base = b
                parallelRange((be - b) * L.H * L.W, minChunk: 64) { q0, q1 in
                    col2imGather(dxP.p, dcP.p, L, imageBase: base, q0, q1)
                }
                Conv2dProfile.addLower(0, c0)
                b = be
            }
        }
    }
}

// MARK: - Weight permutations (weight is (Cout, Cin, k, k); K index is (ky, kx, ci))

/// wk[(ky,kx,ci), co] = w[co, ci, ky, kx]  (K × Cout)
func permuteWeightKxN(_ wk: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let src = w + (co * Cin + ci) * kk
            for t in 0..<kk { wk[(t * Cin + ci) * Cout + co] = src[t] }
        }
    }
}

/// wm[co, (ky,kx,ci)] = w[co, ci, ky, kx]  (Cout × K)
func permuteWeightNxK(_ wm: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k, K = kk * Cin
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let src = w + (co * Cin + ci) * kk
            for t in 0..<kk { wm[co * K + t * Cin + ci] = src[t] }
        }
    }
}

/// wt[(ky',kx',co), ci] = w[co, ci, k−1−ky', k−1−kx']  (k·k·Cout × Cin): the transposed-convolution weight.
func permuteWeightFlippedKxN(_ wt: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let src = w + (co * Cin + ci) * kk
            for t in 0..<kk { wt[((kk - 1 - t) * Cout + co) * Cin + ci] = src[t] }
        }
    }
}

/// The transpose of `permuteWeightFlippedKxN`: Cin × (ky',kx',co).
func permuteWeightFlippedNxK(_ wt: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k, K = kk * Cout
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let src = w + (co * Cin + ci) * kk
            for t in 0..<kk { wt[ci * K + (kk - 1 - t) * Cout + co] = src[t] }
        }
    }
}

/// dw[co, ci, ky, kx] += g[co, (ky,kx,ci)]
func accumulateWeightFromNxK(_ dw: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k, K = kk * Cin
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let d = dw + (co * Cin + ci) * kk
            for t in 0..<kk { d[t] += g[co * K + t * Cin + ci] }
        }
    }
}

/// dw[co, ci, ky, kx] += g[(ky,kx,ci), co]
func accumulateWeightFromKxN(_ dw: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k
    for co in 0..<Cout {
        for ci in 0..<Cin {
            let d = dw + (co * Cin + ci) * kk
            for t in 0..<kk { d[t] += g[(t * Cin + ci) * Cout + co] }
        }
    }
}
