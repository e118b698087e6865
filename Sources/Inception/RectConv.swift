import Foundation
import CBLAS
import Tensor

/// Forward-only NHWC convolution for any kh×kw kernel, per-axis stride and padding, with the bias and
/// ReLU fused into the GEMM epilogue, reading a channel slice of a wider input and writing a channel
/// slice of a wider output. It serves all 94 convolutions of the FID Inception (1×1, 3×3, 5×5, the
/// stride-2 reductions, and the asymmetric 1×7, 7×1, 1×3, 3×1 ones that the tensor core's square-kernel
/// `conv2d` cannot express). No autodiff: feature extraction runs without gradients.
///
///   y[b, oy, ox, co] = act( Σ_{ky,kx,ci} x[b, oy·sh − ph + ky, ox·sw − pw + kx, ci] · Wk[(ky,kx,ci), co] + bias[co] )
///
/// with zero padding, Ho = (H + 2ph − kh)/sh + 1, Wo = (W + 2pw − kw)/sw + 1, act = ReLU or identity.
/// `Wk` is the weight as a K×Cout matrix, K = kh·kw·Cin in (ky, kx, ci) order (see `packWeightKxN`).
///
/// Lowering: rows are output pixels (M = B·Ho·Wo); each thread takes a contiguous block of rows and runs,
/// chunk by chunk, im2col (skipped for 1×1 stride-1 kernels: the NHWC rows are the GEMM rows already),
/// a single-threaded sgemm straight into the output slice (ldc = the output's pixel stride), and the
/// bias + ReLU epilogue while the chunk is still in cache. Chunk boundaries depend only on M and the
/// thread count, so results are deterministic for a fixed thread count.
public struct ConvGeometry: Equatable, Sendable, CustomStringConvertible {
    public var kh, kw, strideH, strideW, padH, padW: Int
    public init(kh: Int, kw: Int, stride: Int = 1, padH: Int = 0, padW: Int = 0) {
        self.kh = kh; self.kw = kw; self.strideH = stride; self.strideW = stride; self.padH = padH; self.padW = padW
    }
    public func outputSize(height h: Int, width w: Int) -> (Int, Int) {
        ((h + 2 * padH - kh) / strideH + 1, (w + 2 * padW - kw) / strideW + 1)
    }
    var isPointwise: Bool { kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 }
    public var description: String { "\(kh)x\(kw)/s\(strideH) pad(\(padH),\(padW))" }
}

/// Tuning of `convForwardNHWC` (for benchmarks).
public enum RectConvTuning {
    /// Floats of one per-thread im2col chunk (default 1 Mi floats = 4 MB).
    nonisolated(unsafe) public static var chunkFloats = 1 << 20
    /// Fewest GEMM rows per chunk: sgemm packs the whole K×Cout weight on every call, so short chunks of
    /// long-K layers (K = 4032 in the 8×8 blocks) would spend much of their time packing.
    nonisolated(unsafe) public static var minChunkRows = 512
}

/// Packs a PyTorch-layout weight (Cout, Cin, kh, kw), each output channel multiplied by `scale[co]`
/// (the folded BatchNorm 1/√(var+eps); nil = 1), into the K×Cout matrix `wk` with K index (ky, kx, ci).
public func packWeightKxN(_ wk: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, scale: UnsafePointer<Float>?,
                          cout: Int, cin: Int, kh: Int, kw: Int) {
    let kk = kh * kw
    for co in 0..<cout {
        let s = scale?[co] ?? 1
        for ci in 0..<cin {
            let src = w + (co * cin + ci) * kk
            for t in 0..<kk { wk[(t * cin + ci) * cout + co] = src[t] * s }
        }
    }
}

/// Forward convolution (see the type comment). `x` has pixel stride `ldIn` ≥ Cin, `y` pixel stride
/// `ldOut` ≥ Cout; `y` is overwritten in its Cout-wide slice only.
public func convForwardNHWC(_ y: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldIn: Int,
                            batch B: Int, height H: Int, width W: Int, inChannels Cin: Int, outChannels Cout: Int,
                            geometry g: ConvGeometry, weightKxN wk: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            relu: Bool) {
    let (Ho, Wo) = g.outputSize(height: H, width: W)
    precondition(B >= 0 && Cin > 0 && Cout > 0 && ldIn >= Cin && ldOut >= Cout && Ho > 0 && Wo > 0,
                 "convForwardNHWC: bad geometry B=\(B) H=\(H) W=\(W) Cin=\(Cin) Cout=\(Cout) \(g) ldIn=\(ldIn) ldOut=\(ldOut)")
    let M = B * Ho * Wo
    if M == 0 { return }
    let K = g.kh * g.kw * Cin
    let pointwise = g.isPointwise
    let T = max(1, min(Threads.count, M / 64))
    let per = (M + T - 1) / T
    // 1×1 layers need no im2col buffer: their chunks only bound the epilogue's working set.
    let rowsPerChunk = max(RectConvTuning.minChunkRows, RectConvTuning.chunkFloats / (pointwise ? Cout : K))
    let yP = SendablePtr(y), xP = SendablePtr(x), wP = SendablePtr(wk)
    let bP = bias.map { SendablePtr($0) }
    let work: (Int) -> Void = { t in
        let r0 = t * per, r1 = min(M, r0 + per)
        if r0 >= r1 { return }
        let run = { (cols: UnsafeMutablePointer<Float>?) in
            var r = r0
            while r < r1 {
                let re = min(r1, r + rowsPerChunk)
                let c = yP.p + r * ldOut
                if let cols {
                    im2colRect(cols, xP.p, ldIn: ldIn, B: B, H: H, W: W, C: Cin, g: g, Ho: Ho, Wo: Wo, r, re)
                    sgemm(m: re - r, n: Cout, k: K, a: cols, b: wP.p, beta: 0, c: c, ldc: ldOut)
                } else {
                    sgemm(m: re - r, n: Cout, k: K, a: xP.p + r * ldIn, lda: ldIn, b: wP.p, beta: 0, c: c, ldc: ldOut)
                }
                biasActivation(c, ld: ldOut, rows: re - r, n: Cout, bias: bP?.p, relu: relu)
                r = re
            }
        }
        if pointwise { run(nil) } else {
            ScratchPool.withScratch(min(rowsPerChunk, r1 - r0) * K) { run($0) }
        }
    }
    if T == 1 {
        work(0)
    } else {
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(Threads.count)) }
        DispatchQueue.concurrentPerform(iterations: T) { work($0) }
    }
}

/// im2col rows r0..<r1 of a general (kh, kw, stride, padding) lowering; row stride K = kh·kw·C.
@inline(__always)
func im2colRect(_ cols: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, ldIn: Int,
                B: Int, H: Int, W: Int, C: Int, g: ConvGeometry, Ho: Int, Wo: Int, _ r0: Int, _ r1: Int) {
    let kh = g.kh, kw = g.kw, sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW
    let rowLen = kw * C, K = kh * rowLen
    let fbytes = MemoryLayout<Float>.stride
    let contiguous = ldIn == C
    var dst = cols
    for r in r0..<r1 {
        let b = r / (Ho * Wo), rem = r % (Ho * Wo)
        let oy = rem / Wo, ox = rem % Wo
        let iy0 = oy * sh - ph, ix0 = ox * sw - pw
        let kx0 = max(0, -ix0), kx1 = min(kw, W - ix0)
        for ky in 0..<kh {
            let d = dst + ky * rowLen
            let iy = iy0 + ky
            if iy < 0 || iy >= H || kx1 <= kx0 { memset(d, 0, rowLen * fbytes); continue }
            if kx0 > 0 { memset(d, 0, kx0 * C * fbytes) }
            let src = x + ((b * H + iy) * W + ix0) * ldIn
            if contiguous {
                memcpy(d + kx0 * C, src + kx0 * C, (kx1 - kx0) * C * fbytes)
            } else if C < 16 {
                for kx in kx0..<kx1 { for c in 0..<C { d[kx * C + c] = src[kx * ldIn + c] } }
            } else {
                for kx in kx0..<kx1 { memcpy(d + kx * C, src + kx * ldIn, C * fbytes) }
            }
            if kx1 < kw { memset(d + kx1 * C, 0, (kw - kx1) * C * fbytes) }
        }
        dst += K
    }
}

/// y[r, c] = act(y[r, c] + bias[c]) for `rows` rows of stride `ld`. ReLU keeps NaN (NaN < 0 is false).
@inline(__always)
func biasActivation(_ y: UnsafeMutablePointer<Float>, ld: Int, rows: Int, n: Int, bias: UnsafePointer<Float>?, relu: Bool) {
    if bias == nil && !relu { return }
    let zero = SIMD8<Float>(repeating: 0)
    for r in 0..<rows {
        let row = y + r * ld
        var c = 0
        while c + 8 <= n {
            var v = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
            if let bias { v += UnsafeRawPointer(bias + c).loadUnaligned(as: SIMD8<Float>.self) }
            if relu { v.replace(with: zero, where: v .< zero) }
            UnsafeMutableRawPointer(row + c).storeBytes(of: v, as: SIMD8<Float>.self)
            c += 8
        }
        while c < n {
            var v = row[c]
            if let bias { v += bias[c] }
            if relu && v < 0 { v = 0 }
            row[c] = v
            c += 1
        }
    }
}
