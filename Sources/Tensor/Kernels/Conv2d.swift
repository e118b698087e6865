import Foundation
import CBLAS

// 2-D convolution kernels on NHWC ("channels-last") Float32 activations, llm.c style: free
// functions on raw pointers, outputs first, then inputs, then dimensions.
//
//   x  (B, H, W, Cin)        contiguous NHWC input
//   y  (B, Ho, Wo, Cout)     contiguous NHWC output, Ho = (H + 2p − k)/s + 1 (same for Wo)
//   weight (Cout, Cin, k, k) PyTorch layout;  bias (Cout)
//
// Square k×k kernels (any k), stride s ≥ 1, zero padding p ≥ 0, groups 1, dilation 1.
//
// Lowering: the convolution is a GEMM with M = B·Ho·Wo rows (output pixels) and K = k·k·Cin
// ordered (ky, kx, ci); in NHWC each kernel row of a window is one contiguous copy. Rows are
// processed in chunks whose lowering buffer is cache-sized (`Conv2dTuning.chunkFloats`) whatever
// the batch; buffers come from `ScratchPool` (no page faults after the first call).
//   - full im2col (strided convs, small images): one row of K per output pixel, one GEMM per chunk;
//   - row bands (stride 1, images ≥ `bandMinPixels`): a band of output rows of one image is
//     lowered once per kernel row (K = k·Cin; k× less copying) and the chunk is k GEMMs on
//     strided views of the same buffer, accumulating;
//   - direct (1×1, stride 1, no padding): no lowering, the NHWC rows are the GEMM operand.
// Products:
//   forward     y  = lowered(x) · Wmᵀ         Wm = weight as Cout × (ky, kx, ci)
//   weight grad dW += dYᵀ · lowered(x)         Cout × K partial sums, permuted back into (Cout, Cin, k, k)
//   input grad  stride 1: dX += lowered'(dY) · Wt, the transposed convolution of dY with the
//               spatially flipped, channel-swapped weight (padding k−1−p): a gather, no scatter;
//               stride > 1: dcols = dY · Wm per chunk of images, then a col2im gather (each dx pixel
//               sums its own entries).
//   bias grad   db += column sums of dY.
//
// Threading: the chunks of a lowering are handed out dynamically to `Threads.count` workers; each
// worker lowers a chunk and runs a single-threaded sgemm on it, so both cores stay busy with no
// barrier between copying and multiplying (OpenBLAS is set to 1 thread meanwhile and restored).
// Chunking never depends on the thread count, and no result depends on which worker ran a chunk
// (disjoint outputs; weight-gradient partials per fixed chunk group, summed in group order), so
// outputs are bit-identical run to run and across thread counts (every product is our GEMM, whose
// per-element order depends on neither the row split nor the ISA).

/// Output extent of a convolution along one axis: (n + 2·padding − kernel)/stride + 1.
@inlinable
public func conv2dOutputSize(_ n: Int, kernel: Int, stride: Int = 1, padding: Int = 0) -> Int {
    (n + 2 * padding - kernel) / stride + 1
}

/// How stride-1, padding-1 3×3 convolutions compute their forward pass and input gradient.
public enum ConvAlgorithm: String, CaseIterable, Sendable {
    /// Lowering + GEMM (row bands / im2col): the reference algorithm, selectable for comparison.
    case direct
    /// Winograd F(2×2, 3×3) (`Winograd`): 2.25× fewer multiply-adds in the products, larger round-off (bounded
    /// in WinogradTests). The default since rdd-0.5.0: idle Zen 1, batch 32, it made the U-Net training step
    /// 1.36× and the forward pass 1.41× PyTorch's (direct: 1.09× and 0.88×), and the tiny ablation trained with
    /// it stayed within the direct kernels' seed spread (docs/benchmarks.md, "Winograd as the default").
    case winograd

    /// The algorithm when `RDD_CONV` is unset.
    public static let standard: ConvAlgorithm = .winograd

    /// The environment variable that selects it: `RDD_CONV=direct|winograd` (unset: `standard`).
    public static let environmentVariable = "RDD_CONV"

    /// The algorithm named by `value` (nil or empty: `standard`); an unknown name is an error naming the
    /// variable and the value.
    public static func parse(_ value: String?) throws -> ConvAlgorithm {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return .standard }
        guard let a = ConvAlgorithm(rawValue: raw.lowercased()) else {
            throw KernelSelectionError(description: "\(environmentVariable)=\(raw): unknown convolution algorithm; expected direct or winograd")
        }
        return a
    }
}

/// Performance knobs of the convolution kernels (for benchmarks and tests; defaults are the measured best).
public enum Conv2dTuning {
    /// The 3×3 stride-1 algorithm, from `RDD_CONV` at start-up (a refused value stops the process with
    /// the message); Winograd changes the numbers (docs/benchmarks.md).
    nonisolated(unsafe) public static var algorithm: ConvAlgorithm = {
        do { return try ConvAlgorithm.parse(ProcessInfo.processInfo.environment[ConvAlgorithm.environmentVariable]) }
        catch { fatalError("\(error)") }
    }()
    /// Floats in one lowering buffer (one per worker). Default 256 Ki floats (1 MB).
    nonisolated(unsafe) public static var chunkFloats: Int = 1 << 18
    /// Per-worker lowering + single-threaded sgemm (true) or, for comparison, sequential chunks with a
    /// parallel lowering and one multi-threaded sgemm per chunk (false).
    nonisolated(unsafe) public static var perThread: Bool = true
    /// Bytes that `PreparedWeights` may keep (weights transformed/packed for the forward and the Winograd
    /// input gradient, with a copy of each weight to detect changes); 0 turns the cache off. 256 MB holds the
    /// anchor U-Net's ≈ 70 MB with room for a larger model.
    nonisolated(unsafe) public static var preparedWeightBytes: Int = 256 << 20
    /// Stride-1 k×k convolutions lower one band of output rows per chunk, once per kernel row, and
    /// run k GEMMs with K = k·Cin (true), instead of a full im2col with K = k·k·Cin (false).
    nonisolated(unsafe) public static var bandLowering: Bool = true
    /// Band lowering only when an image has at least this many output pixels (small images give
    /// small GEMMs and relatively large halos).
    nonisolated(unsafe) public static var bandMinPixels: Int = 256
    /// Chunks per lowering are at least this many when the GEMM has enough rows (load balance).
    nonisolated(unsafe) public static var minChunks: Int = 8
    /// Weight gradient: at most this many partial sums (fixed groups of chunks)...
    nonisolated(unsafe) public static var maxWeightGradGroups: Int = 16
    /// ... and at most this many floats for all of them.
    nonisolated(unsafe) public static var weightGradPartialFloats: Int = 4 << 20
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
    /// (lowering: im2col / col2im / bias prefill, GEMM) thread-nanoseconds and (other: weight
    /// permutations, bias sums, partial-sum reduction) wall nanoseconds since `reset()`.
    public static var totals: (lowering: UInt64, gemm: UInt64, other: UInt64) {
        var l: UInt64 = 0, g: UInt64 = 0
        for i in 0..<63 { l &+= slots[i]; g &+= slots[64 + i] }
        return (l, g, slots[63] &+ slots[127])
    }
    @inline(__always) static func addOther(_ t0: UInt64) {
        if enabled { slots[63] &+= DispatchTime.now().uptimeNanoseconds &- t0 }
    }
    @inline(__always) static func now() -> UInt64 { enabled ? DispatchTime.now().uptimeNanoseconds : 0 }
    @inline(__always) static func addLower(_ slot: Int, _ t0: UInt64) {
        if enabled { slots[slot % 63] &+= DispatchTime.now().uptimeNanoseconds &- t0 }
    }
    @inline(__always) static func addGemm(_ slot: Int, _ t0: UInt64) {
        if enabled { slots[64 + slot % 63] &+= DispatchTime.now().uptimeNanoseconds &- t0 }
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
    if B == 0 { return }
    let L = ConvLowering(B: B, H: H, W: W, C: Cin, k: k, s: s, p: p, Ho: Ho, Wo: Wo)
    let mode: RowInit = bias.map { .bias($0) } ?? .zero
    if k == 3 && s == 1 && p == 1 && Conv2dTuning.algorithm == .winograd {
        Winograd.withWeight(weight, cin: Cin, cout: Cout, flipped: false) { u in
            Winograd.forward(y, x, u, B: B, H: H, W: W, cin: Cin, cout: Cout, mode)
        }
        return
    }
    // The weight as the products' B: (Cout, Cin, 1, 1) is already Cout × K; k > 1 is permuted to (ky, kx, ci)
    // order. Packed for our kernel once and kept while its values are unchanged (`PreparedWeights`).
    let plan = ConvPlan(L, chunkFloats: Conv2dTuning.chunkFloats)
    let packedFloats = plan.packedWeightFloats(n: Cout)
    if packedFloats > 0 && (Conv2dTuning.perThread || Threads.count == 1) {
        PreparedWeights.with(weight, count: L.K * Cout, form: .lowered(n: Cout, k: k, parts: plan.parts, permuted: k > 1),
                             floats: packedFloats, prepare: { dst in
            if k == 1 { timedOther { plan.packWeight(weight, n: Cout, transB: true, into: dst) }; return }
            ScratchPool.withScratch(L.K * Cout) { wm in
                timedOther {
                    permuteWeightNxK(wm, weight, Cout: Cout, Cin: Cin, k: k)
                    plan.packWeight(wm, n: Cout, transB: true, into: dst)
                }
            }
        }) { packed in
            loweredGemm(y, x, L, weight, n: Cout, transB: true, mode, packed: packed)
        }
        return
    }
    if k == 1 {
        loweredGemm(y, x, L, weight, n: Cout, transB: true, mode)
        return
    }
    ScratchPool.withScratch(L.K * Cout) { wm in
        timedOther { permuteWeightNxK(wm, weight, Cout: Cout, Cin: Cin, k: k) }
        loweredGemm(y, x, L, wm, n: Cout, transB: true, mode)
    }
}

/// Backward convolution: accumulates (`+=`) the gradients of a loss with respect to the input,
/// weight and bias, given `dy` = ∂loss/∂y. Any of `dx`, `dweight`, `dbias` may be nil (not needed).
/// Zeroing the gradient buffers is the caller's job; with `overwriteDx`, dx is overwritten instead
/// (its old contents are ignored: the caller's gradient buffer was fresh, see `gradBufferForWrite`).
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
                           kernel k: Int, stride s: Int = 1, padding p: Int = 0, overwriteDx: Bool = false) {
    precondition(B >= 0 && H > 0 && W > 0 && Cin > 0 && Cout > 0 && k > 0 && s > 0 && p >= 0,
                 "conv2dBackward: bad geometry")
    let Ho = conv2dOutputSize(H, kernel: k, stride: s, padding: p)
    let Wo = conv2dOutputSize(W, kernel: k, stride: s, padding: p)
    precondition(Ho > 0 && Wo > 0, "conv2dBackward: kernel larger than padded input")
    if B == 0 { return }
    let L = ConvLowering(B: B, H: H, W: W, C: Cin, k: k, s: s, p: p, Ho: Ho, Wo: Wo)
    let K = L.K
    if let db = dbias { timedOther { addColumnSums(db, dy, m: L.rows, n: Cout) } }
    if let dw = dweight {
        loweredWeightGrad(x, L, dy, n: Cout) { partials, groups in
            timedOther { accumulateWeightFromPartials(dw, partials, groups: groups, Cout: Cout, Cin: Cin, k: k) }
        }
    }
    guard let dx = dx else { return }
    if k == 3 && s == 1 && p == 1 && Conv2dTuning.algorithm == .winograd {
        // The transposed convolution as a Winograd forward of dY: kernel g'(ci, co, a, b) = W[co, ci, 2 − a, 2 − b].
        Winograd.withWeight(weight, cin: Cout, cout: Cin, flipped: true) { u in
            Winograd.forward(dx, dy, u, B: B, H: H, W: W, cin: Cout, cout: Cin, overwriteDx ? .zero : .accumulate)
        }
        return
    }
    if s == 1 {
        // dX = conv(dY, flip(W) with Cin/Cout swapped, padding k−1−p): rows are dx pixels, K' = k·k·Cout.
        let Lt = ConvLowering(B: B, H: Ho, W: Wo, C: Cout, k: k, s: 1, p: k - 1 - p, Ho: H, Wo: W)
        if k == 1 {  // the flipped weight of a 1×1 conv, as Cout × Cin (K' × N), is the weight itself
            loweredGemm(dx, dy, Lt, weight, n: Cin, transB: false, overwriteDx ? .zero : .accumulate)
            return
        }
        ScratchPool.withScratch(K * Cout) { wt in
            timedOther { permuteWeightFlippedKxN(wt, weight, Cout: Cout, Cin: Cin, k: k) }
            loweredGemm(dx, dy, Lt, wt, n: Cin, transB: false, overwriteDx ? .zero : .accumulate)
        }
    } else {
        if overwriteDx {  // the col2im gather adds into dx
            let pdx = SendablePtr(dx)
            parallelRange(B * H * W * Cin, minChunk: 1 << 16) { a, e in (pdx.p + a).update(repeating: 0, count: e - a) }
        }
        stridedInputGrad(dx, dy, weight, L, cout: Cout)
    }
}

/// Runs `body`, adding its time to the profile's "other" slot (weight permutations, bias sums).
@inline(__always)
func timedOther(_ body: () -> Void) {
    let t0 = Conv2dProfile.now()
    body()
    Conv2dProfile.addOther(t0)
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

/// Hands out chunk indices 0, 1, 2, ... to whichever worker asks first (dynamic scheduling: a core
/// slowed down by another process simply takes fewer chunks). Results never depend on which worker
/// ran a chunk: chunks write disjoint outputs, or private partial sums reduced in chunk order.
final class ChunkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    func take() -> Int { lock.lock(); defer { lock.unlock() }; let c = next; next += 1; return c }
}

/// Runs `body(worker, chunk, buffer)` for chunk = 0..<n on up to `Threads.count` workers with
/// single-threaded OpenBLAS; each worker owns one scratch buffer of `bufferFloats`.
func forEachChunk(_ n: Int, bufferFloats: Int,
                  _ body: (_ worker: Int, _ chunk: Int, _ buf: UnsafeMutablePointer<Float>) -> Void) {
    if n <= 0 { return }
    let T = min(Threads.count, n)
    if T <= 1 {
        ScratchPool.withScratch(bufferFloats) { buf in for c in 0..<n { body(0, c, buf) } }
        return
    }
    let counter = ChunkCounter()
    withSingleThreadedBLAS {
        parallelRange(T, minChunk: 1) { t0, t1 in
            for t in t0..<t1 {
                ScratchPool.withScratch(bufferFloats) { buf in
                    while true {
                        let c = counter.take()
                        if c >= n { break }
                        body(t, c, buf)
                    }
                }
            }
        }
    }
}

/// How the GEMM rows of one lowering are cut into chunks, and how a chunk is lowered.
///
/// Full im2col: chunk = a range of GEMM rows (output pixels), lowered to rows of K = k·k·C.
/// Band (stride 1 only): chunk = a band of output rows of one image, lowered once per kernel row
/// (see `bandLowerRows`); the chunk's GEMM is then k GEMMs with K = k·C on strided views.
/// Direct (1×1, stride 1, no padding): chunk = a range of rows; the operand is the source itself.
/// Chunking never depends on the thread count.
struct ConvPlan {
    enum Kind { case full, band, direct }
    let L: ConvLowering
    let kind: Kind
    let rowsPerChunk: Int     // full, direct
    let bandRows: Int         // band: output rows per band
    let bandsPerImage: Int
    let count: Int

    init(_ L: ConvLowering, chunkFloats: Int) {
        self.L = L
        let kC = L.k * L.C
        if L.k == 1 && L.s == 1 && L.p == 0 {
            kind = .direct
        } else if Conv2dTuning.bandLowering && L.s == 1 && L.k > 1 && L.Ho * L.Wo >= Conv2dTuning.bandMinPixels {
            kind = .band
        } else {
            kind = .full
        }
        // At least `minChunks` chunks when possible, so that dynamic scheduling can balance the
        // threads (a fixed number: the chunking must not depend on the thread count).
        let minChunks = Conv2dTuning.minChunks
        if kind == .band {
            let maxRows = max(1, chunkFloats / (L.Wo * kC) - (L.k - 1))
            let perImage = min(L.Ho, max((L.Ho + maxRows - 1) / maxRows, (minChunks + L.B - 1) / L.B))
            bandRows = (L.Ho + perImage - 1) / perImage
            bandsPerImage = (L.Ho + bandRows - 1) / bandRows
            rowsPerChunk = 0
            count = L.B * bandsPerImage
        } else {
            let balanced = (L.rows + minChunks - 1) / minChunks
            rowsPerChunk = max(16, min(chunkFloats / L.K, balanced))
            bandRows = 0; bandsPerImage = 0
            count = (L.rows + rowsPerChunk - 1) / rowsPerChunk
        }
    }

    /// Floats of the lowering buffer for one chunk.
    var bufferFloats: Int {
        switch kind {
        case .band: return (bandRows + L.k - 1) * L.Wo * L.k * L.C
        case .full: return min(L.rows, rowsPerChunk) * L.K
        case .direct: return 0
        }
    }

    /// GEMM rows (output pixels) of chunk c.
    func rows(_ c: Int) -> (Int, Int) {
        if kind == .band {
            let b = c / bandsPerImage, i = c - b * bandsPerImage
            let oy0 = i * bandRows, oy1 = min(L.Ho, oy0 + bandRows)
            return ((b * L.Ho + oy0) * L.Wo, (b * L.Ho + oy1) * L.Wo)
        }
        let r0 = c * rowsPerChunk
        return (r0, min(L.rows, r0 + rowsPerChunk))
    }

    /// Lowering rows of chunk c (units: full = GEMM rows, band = buffer rows), for splitting the copy.
    func lowerCount(_ c: Int) -> Int {
        let (r0, r1) = rows(c)
        switch kind {
        case .band: return (r1 - r0) + (L.k - 1) * L.Wo
        case .full: return r1 - r0
        case .direct: return 0
        }
    }

    /// Lowers part [a, e) (of `lowerCount(c)`) of chunk c from `src` into `buf`.
    func lower(_ c: Int, _ buf: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ a: Int, _ e: Int) {
        switch kind {
        case .band:
            let b = c / bandsPerImage, i = c - b * bandsPerImage
            bandLowerRows(buf, src, L, image: b, oy0: i * bandRows, a, e)
        case .full:
            let (r0, _) = rows(c)
            im2colRows(buf + a * L.K, src, L, r0 + a, r0 + e)
        case .direct:
            break
        }
    }

    /// The GEMM operand of chunk c for kernel row `part` (band) or the whole K (full, direct), with
    /// its column count and row stride.
    @inline(__always)
    func operand(_ c: Int, part: Int, _ buf: UnsafePointer<Float>, _ src: UnsafePointer<Float>)
        -> (a: UnsafePointer<Float>, cols: Int, lda: Int) {
        switch kind {
        case .band:
            let kC = L.k * L.C
            return (buf + part * L.Wo * kC, kC, kC)
        case .full:
            return (buf, L.K, L.K)
        case .direct:
            return (src + rows(c).0 * L.C, L.C, L.C)
        }
    }

    /// Number of GEMMs per chunk (k for bands, one per kernel row; 1 otherwise).
    var parts: Int { kind == .band ? L.k : 1 }

    /// out rows of chunk c (row stride n) = (beta) out + lowered · wᵀ, with w n×K (`transB`), or
    /// lowered · w with w K×n. With `packed` (from `packWeight`), each part's op(w) comes pre-packed; with
    /// `packed` and `bias`, out = bias rows + lowered · wᵀ (beta ignored): the first part's product adds the bias
    /// where it would have added the prefilled rows (the same bits, one pass over out fewer).
    func gemm(_ c: Int, _ buf: UnsafePointer<Float>, _ src: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
              n N: Int, transB: Bool, beta: Float, _ out: UnsafeMutablePointer<Float>,
              packed: UnsafePointer<Float>? = nil, bias: UnsafePointer<Float>? = nil) {
        let (r0, r1) = rows(c)
        for part in 0..<parts {
            let (a, kc, lda) = operand(c, part: part, buf, src)
            if let packed, let bias, part == 0 {
                sgemmPackedB(m: r1 - r0, n: N, k: kc, a: a, lda: lda, packedB: packed, bias: bias, c: out + r0 * N, ldc: N)
                continue
            }
            if let packed {
                sgemmPackedB(m: r1 - r0, n: N, k: kc, a: a, lda: lda, packedB: packed + part * packedBFloats(n: N, k: kc),
                             beta: part == 0 ? beta : 1, c: out + r0 * N, ldc: N)
                continue
            }
            sgemm(transB: transB, m: r1 - r0, n: N, k: kc, a: a, lda: lda,
                  b: transB ? w + part * kc : w + part * kc * N, ldb: transB ? L.K : N,
                  beta: part == 0 ? beta : 1, c: out + r0 * N)
        }
    }

    /// Floats for `packWeight`'s buffer, or 0 when the products do not run on our kernel (the chunks'
    /// `sgemm` calls then go to OpenBLAS, which packs per call).
    func packedWeightFloats(n N: Int) -> Int {
        guard GemmDispatch.useOwn(transA: false) else { return 0 }
        return parts * packedBFloats(n: N, k: L.K / parts)
    }

    /// Packs each part's op(w) once for all chunks (the chunks used to repack it in every call:
    /// ~2% of a U-Net step at 256-row chunks).
    func packWeight(_ w: UnsafePointer<Float>, n N: Int, transB: Bool, into dst: UnsafeMutablePointer<Float>) {
        let kc = L.K / parts
        for part in 0..<parts {
            packBForOwnKernel(transB: transB, n: N, k: kc, b: transB ? w + part * kc : w + part * kc * N,
                              ldb: transB ? L.K : N, into: dst + part * packedBFloats(n: N, k: kc))
        }
    }

    /// g (K × n) = (beta) g + loweredᵀ · dY[rows of c]; dy has row stride n. The transposed weight
    /// gradient (dWᵀ, K rows (ky, kx, ci) × Cout): as Aᵀ·B with A = lowered read in place and N = Cout,
    /// the shape our kernel runs at ~89 GFLOP/s vs OpenBLAS's 79–83 for dYᵀ·lowered (docs/benchmarks.md).
    func weightGemm(_ c: Int, _ buf: UnsafePointer<Float>, _ src: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                    n N: Int, beta: Float, _ g: UnsafeMutablePointer<Float>) {
        let (r0, r1) = rows(c)
        for part in 0..<parts {
            let (a, kc, lda) = operand(c, part: part, buf, src)
            sgemm(transA: true, m: kc, n: N, k: r1 - r0, a: a, lda: lda, b: dy + r0 * N, ldb: N,
                  beta: beta, c: g + part * kc * N, ldc: N)
        }
    }
}

/// out (L.rows × n, row stride n) ⟵ init, then += lowered(src, L) · wᵀ with w n×K (`transB`), or
/// lowered(src, L) · w with w K×n.
///
/// `packed`: op(w) already packed as `ConvPlan.packWeight` packs it (per-thread mode only; else it is packed
/// here, per call).
func loweredGemm(_ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ L: ConvLowering,
                 _ w: UnsafePointer<Float>, n N: Int, transB: Bool, _ mode: RowInit, packed given: UnsafePointer<Float>? = nil) {
    let T = Threads.count
    let beta = mode.beta
    let outP = SendablePtr(out), srcP = SendablePtr(src), wP = SendablePtr(w)
    if Conv2dTuning.perThread || T == 1 {
        let plan = ConvPlan(L, chunkFloats: Conv2dTuning.chunkFloats)
        func run(_ packedP: SendablePtr<Float>?) {
            forEachChunk(plan.count, bufferFloats: plan.bufferFloats) { t, c, buf in
                var c0 = Conv2dProfile.now()
                plan.lower(c, buf, srcP.p, 0, plan.lowerCount(c))
                // With packed weights the products add the bias themselves (no prefill pass over the rows).
                var bias: UnsafePointer<Float>? = nil
                if case .bias(let b) = mode, packedP != nil { bias = b } else {
                    let (r0, r1) = plan.rows(c)
                    prefillRows(outP.p, rows: r0, r1, n: N, mode)
                }
                Conv2dProfile.addLower(t, c0)
                c0 = Conv2dProfile.now()
                plan.gemm(c, buf, srcP.p, wP.p, n: N, transB: transB, beta: beta, outP.p, packed: packedP.map { UnsafePointer($0.p) },
                          bias: bias)
                Conv2dProfile.addGemm(t, c0)
            }
        }
        if let given { run(SendablePtr(given)); return }
        let packedFloats = plan.packedWeightFloats(n: N)
        if packedFloats == 0 { run(nil); return }
        ScratchPool.withScratch(packedFloats) { packed in
            timedOther { plan.packWeight(w, n: N, transB: transB, into: packed) }
            run(SendablePtr(packed))
        }
    } else {
        let plan = ConvPlan(L, chunkFloats: Conv2dTuning.chunkFloats * T)
        ScratchPool.withScratch(plan.bufferFloats) { buf in
            let bufP = SendablePtr(buf)
            for c in 0..<plan.count {
                var c0 = Conv2dProfile.now()
                parallelRange(plan.lowerCount(c), minChunk: 16) { a, e in plan.lower(c, bufP.p, srcP.p, a, e) }
                let (r0, r1) = plan.rows(c)
                parallelRange(r1 - r0, minChunk: 64) { a, e in prefillRows(outP.p, rows: r0 + a, r0 + e, n: N, mode) }
                Conv2dProfile.addLower(0, c0)
                c0 = Conv2dProfile.now()
                plan.gemm(c, buf, src, w, n: N, transB: transB, beta: beta, out)
                Conv2dProfile.addGemm(0, c0)
            }
        }
    }
}

/// Computes lowered(src, L)ᵀ · dY (K × n; dy is L.rows × n) as `groups` partial sums and passes them
/// to `finish(partials, groups)`, where partial g (at partials + g·K·n) covers a fixed contiguous
/// range of chunks. G is independent of the thread count and the caller sums the partials in
/// group order, so the result does not depend on which worker ran which group.
func loweredWeightGrad(_ src: UnsafePointer<Float>, _ L: ConvLowering, _ dy: UnsafePointer<Float>, n N: Int,
                       _ finish: (_ partials: UnsafePointer<Float>, _ groups: Int) -> Void) {
    let K = L.K, NK = N * K
    let T = Threads.count
    let srcP = SendablePtr(src), dyP = SendablePtr(dy)
    if Conv2dTuning.perThread || T == 1 {
        let plan = ConvPlan(L, chunkFloats: Conv2dTuning.chunkFloats)
        let G = max(min(plan.count, 2),
                    min(plan.count, Conv2dTuning.maxWeightGradGroups, Conv2dTuning.weightGradPartialFloats / NK))
        let per = (plan.count + G - 1) / G
        let groups = (plan.count + per - 1) / per
        ScratchPool.withScratch(groups * NK) { partials in
            let partP = SendablePtr(partials)
            forEachChunk(groups, bufferFloats: plan.bufferFloats) { t, gi, buf in
                let out = partP.p + gi * NK
                for c in (gi * per)..<min(plan.count, (gi + 1) * per) {
                    var c0 = Conv2dProfile.now()
                    plan.lower(c, buf, srcP.p, 0, plan.lowerCount(c))
                    Conv2dProfile.addLower(t, c0)
                    c0 = Conv2dProfile.now()
                    plan.weightGemm(c, buf, srcP.p, dyP.p, n: N, beta: c == gi * per ? 0 : 1, out)
                    Conv2dProfile.addGemm(t, c0)
                }
            }
            finish(partials, groups)
        }
    } else {
        let plan = ConvPlan(L, chunkFloats: Conv2dTuning.chunkFloats * T)
        ScratchPool.withScratch(NK) { g in
            ScratchPool.withScratch(plan.bufferFloats) { buf in
                let bufP = SendablePtr(buf)
                for c in 0..<plan.count {
                    var c0 = Conv2dProfile.now()
                    parallelRange(plan.lowerCount(c), minChunk: 16) { a, e in plan.lower(c, bufP.p, srcP.p, a, e) }
                    Conv2dProfile.addLower(0, c0)
                    c0 = Conv2dProfile.now()
                    plan.weightGemm(c, buf, src, dy, n: N, beta: c == 0 ? 0 : 1, g)
                    Conv2dProfile.addGemm(0, c0)
                }
            }
            finish(g, 1)
        }
    }
}

/// Input gradient of a strided convolution: per chunk of whole images, dcols = dY · Wm (Wm is
/// Cout × K), then each dx pixel of those images gathers its entries (col2im without scatter).
/// Chunks write disjoint images of dx, so any worker may run any chunk.
func stridedInputGrad(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                      _ L: ConvLowering, cout N: Int) {
    let K = L.K
    let rowsPerImage = L.Ho * L.Wo
    let T = Threads.count
    let perThread = Conv2dTuning.perThread || T == 1
    var imgs = max(1, Conv2dTuning.chunkFloats * (perThread ? 1 : T) / (rowsPerImage * K))
    if perThread { imgs = min(imgs, max(1, (L.B + Conv2dTuning.minChunks - 1) / Conv2dTuning.minChunks)) }
    let imgsPerChunk = imgs
    let count = (L.B + imgsPerChunk - 1) / imgsPerChunk
    ScratchPool.withScratch(K * N) { wm in
        timedOther { permuteWeightNxK(wm, weight, Cout: N, Cin: L.C, k: L.k) }
        let dxP = SendablePtr(dx), dyP = SendablePtr(dy), wmP = SendablePtr(wm)
        let bufFloats = min(L.B, imgsPerChunk) * rowsPerImage * K
        if perThread {
            forEachChunk(count, bufferFloats: bufFloats) { t, c, dcols in
                let b = c * imgsPerChunk, be = min(L.B, b + imgsPerChunk)
                var c0 = Conv2dProfile.now()
                sgemm(m: (be - b) * rowsPerImage, n: K, k: N, a: dyP.p + b * rowsPerImage * N, b: wmP.p, c: dcols)
                Conv2dProfile.addGemm(t, c0)
                c0 = Conv2dProfile.now()
                col2imGather(dxP.p, dcols, L, imageBase: b, 0, (be - b) * L.H * L.W)
                Conv2dProfile.addLower(t, c0)
            }
            return
        }
        ScratchPool.withScratch(bufFloats) { dcols in
            let dcP = SendablePtr(dcols)
            for c in 0..<count {
                let b = c * imgsPerChunk, be = min(L.B, b + imgsPerChunk)
                var c0 = Conv2dProfile.now()
                sgemm(m: (be - b) * rowsPerImage, n: K, k: N, a: dy + b * rowsPerImage * N, b: wm, c: dcols)
                Conv2dProfile.addGemm(0, c0)
                c0 = Conv2dProfile.now()
                parallelRange((be - b) * L.H * L.W, minChunk: 64) { q0, q1 in
                    col2imGather(dxP.p, dcP.p, L, imageBase: b, q0, q1)
                }
                Conv2dProfile.addLower(0, c0)
            }
        }
    }
}

// MARK: - Weight permutations (weight is (Cout, Cin, k, k); K index is (ky, kx, ci))
// Each output channel co touches only its own k·k·Cin block (a local transpose), so the loops are
// cache-friendly and split over threads by co.

@inline(__always)
func forEachOutputChannel(_ Cout: Int, _ perChannel: Int, _ body: (Int) -> Void) {
    parallelRange(Cout, minChunk: max(1, 32768 / max(1, perChannel))) { a, e in for co in a..<e { body(co) } }
}

/// wm[co, (ky,kx,ci)] = w[co, ci, ky, kx]  (Cout × K)
func permuteWeightNxK(_ wm: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k, K = kk * Cin
    let wmP = SendablePtr(wm), wP = SendablePtr(w)
    forEachOutputChannel(Cout, K) { co in
        let dst = wmP.p + co * K
        for ci in 0..<Cin {
            let src = wP.p + (co * Cin + ci) * kk
            for t in 0..<kk { dst[t * Cin + ci] = src[t] }
        }
    }
}

/// wt[(ky',kx',co), ci] = w[co, ci, k−1−ky', k−1−kx']  (k·k·Cout × Cin): the transposed-convolution weight.
func permuteWeightFlippedKxN(_ wt: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, Cout: Int, Cin: Int, k: Int) {
    let kk = k * k
    let wtP = SendablePtr(wt), wP = SendablePtr(w)
    forEachOutputChannel(Cout, kk * Cin) { co in
        for ci in 0..<Cin {
            let src = wP.p + (co * Cin + ci) * kk
            for t in 0..<kk { wtP.p[((kk - 1 - t) * Cout + co) * Cin + ci] = src[t] }
        }
    }
}

/// dw[co, ci, ky, kx] += Σ_g partials[g][(ky,kx,ci), co], the partials (each K × Cout) summed in
/// group order in Float, then added; one pass, split over threads by blocks of input channels: for
/// kernel tap t, the partial rows (t, c0..<c1) are one contiguous run of (c1 − c0)·Cout floats, summed
/// over groups in long vector loops, then scattered into dw[·, c0..<c1, ·, ·].
func accumulateWeightFromPartials(_ dw: UnsafeMutablePointer<Float>, _ partials: UnsafePointer<Float>, groups: Int,
                                  Cout: Int, Cin: Int, k: Int) {
    let kk = k * k, K = kk * Cin, NK = Cout * K
    let dwP = SendablePtr(dw), pP = SendablePtr(partials)
    let block = max(1, min(Cin, 4096 / max(1, Cout)))   // input channels per block: ≤ 16 KB per tap
    let blocks = (Cin + block - 1) / block
    parallelRange(blocks, minChunk: max(1, 32768 / max(1, block * kk * Cout * groups))) { b0, b1 in
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: kk * block * Cout)   // sums[t][ci − c0][co]
        defer { sums.deallocate() }
        for bi in b0..<b1 {
            let c0 = bi * block, c1 = min(Cin, c0 + block), len = (c1 - c0) * Cout
            for t in 0..<kk {
                let s = sums + t * len, r = (t * Cin + c0) * Cout
                s.update(from: pP.p + r, count: len)
                for g in 1..<max(1, groups) { addInPlace(s, pP.p + g * NK + r, len) }
            }
            for co in 0..<Cout {
                for ci in c0..<c1 {
                    let d = dwP.p + (co * Cin + ci) * kk, o = (ci - c0) * Cout + co
                    for t in 0..<kk { d[t] += sums[t * len + o] }
                }
            }
        }
    }
}
