import CBLAS
import CGemm

/// Which single-threaded GEMM runs a product (for benchmarks and tests; defaults are the measured best).
public enum GemmDispatch {
    /// Use our AVX2/FMA kernel (`CGemm`) for the shapes where it measured faster than OpenBLAS.
    nonisolated(unsafe) public static var ownKernel: Bool = true
    /// ... including Aᵀ·B (the convolutions' weight gradients).
    nonisolated(unsafe) public static var ownKernelTransposedA: Bool = true
    /// Whether this CPU can run it (AVX2 + FMA, checked once).
    public static let ownKernelAvailable: Bool = rdd_gemm_available() != 0

    /// Own kernel for C = A·op(B) + beta·C (A not transposed) and C = Aᵀ·B + beta·C, with alpha 1,
    /// beta 0 or 1, N ≤ 256 and K ≤ 1536: the forward, input-gradient and (transposed) weight-gradient
    /// products of the U-Net's convolutions, attention and linear layers. Measured single-core against
    /// OpenBLAS 0.3.21 (docs/benchmarks.md): 87-94 vs 77-84 GFLOP/s at N = 64-128, K = 192-1152; equal
    /// at N = 256, K = 1152; slower for larger K (N = 256, K = 2304 or 4096), which stays on OpenBLAS.
    /// The choice never depends on M, so splitting rows of C over threads never changes the kernel.
    @inline(__always)
    static func useOwn(transA: Bool, transB: Bool, n: Int, k: Int, alpha: Float, beta: Float) -> Bool {
        ownKernel && ownKernelAvailable && !(transA && transB) && (!transA || ownKernelTransposedA) && alpha == 1 && (beta == 0 || beta == 1) && n <= 256 && k <= 1536
    }
}

/// Row-major single-precision GEMM: C = alpha · op(A) · op(B) + beta · C, single products on our
/// AVX2 kernel where `GemmDispatch.useOwn` says so, otherwise OpenBLAS.
///
/// `A` is M×K after `op` (stored K×M when `transA`), `B` is K×N after `op`, `C` is M×N.
/// Leading dimensions default to the dense row-major ones.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    if GemmDispatch.useOwn(transA: transA, transB: transB, n: n, k: k, alpha: alpha, beta: beta) {
        if transA { rdd_sgemm_tn(m, n, k, a, lda, b, ldb, beta, c, ldc) }
        else { rdd_sgemm(transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, c, ldc) }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Sets OpenBLAS to one thread while `body` runs (callers run sgemm concurrently on their own chunks).
///
/// Every hot product of training runs this way, parallelised above BLAS: after a multi-threaded call
/// OpenBLAS's worker thread spin-waits (`sched_yield`) for ~0.1 s and competes with our own workers
/// (measured: ~9% of a `small` U-Net step before this change, docs/benchmarks.md).
@inlinable
public func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
    let t = Threads.count
    if t > 1 { openblas_set_num_threads(1) }
    defer { if t > 1 { openblas_set_num_threads(Int32(t)) } }
    return body()
}

/// `sgemm` split by rows of C over `Threads.count` workers, each a single-threaded OpenBLAS call.
///
/// Row blocks of C are independent products (row i of C uses row i of op(A) only), so the result is
/// the same as one call's for any split: OpenBLAS's order over K does not depend on M.
public func sgemmParallel(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                          b: UnsafePointer<Float>, ldb: Int? = nil,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
    // Below ~1 MFLOP per thread the split costs more than it gains.
    let parts = min(Threads.count, max(1, (m * n * k) / (1 << 19)), max(1, m / 16))
    let pa = SendablePtr(a), pb = SendablePtr(b), pc = SendablePtr(c)
    withSingleThreadedBLAS {
        parallelRange(m, minChunk: (m + parts - 1) / parts) { r0, r1 in
            // Rows r0..<r1 of op(A): row offset r0·lda when stored M×K, column offset r0 when stored K×M.
            let aBlock = transA ? pa.p + r0 : pa.p + r0 * lda
            sgemm(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha, a: aBlock, lda: lda,
                  b: pb.p, ldb: ldb, beta: beta, c: pc.p + r0 * ldc, ldc: ldc)
        }
    }
}

/// op(B) packed once (`packBForOwnKernel`) for several products A·op(B) on our kernel with the same B
/// and the same N, K — a convolution's weight, shared by all its row chunks — so no chunk repacks it.
/// Floats needed for a packed K×N op(B) (a 64-byte aligned buffer of this size).
public func packedBFloats(n: Int, k: Int) -> Int { rdd_packed_b_floats(n, k) }

/// Packs op(B) (K×N; B is N×K with `transB`) for `sgemmPackedB`. Only when
/// `GemmDispatch.useOwn(transA: false, transB:, n:, k:, alpha: 1, beta:)` holds for the products.
public func packBForOwnKernel(transB: Bool, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, into dst: UnsafeMutablePointer<Float>) {
    rdd_pack_b(transB ? 1 : 0, n, k, b, ldb, dst)
}

/// C = A·op(B) + beta·C with op(B) from `packBForOwnKernel` (same n, k): the same bits as `sgemm`
/// on our kernel.
public func sgemmPackedB(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packedB: UnsafePointer<Float>,
                         beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    rdd_sgemm_packed(m, n, k, a, lda, packedB, beta, c, ldc)
}

/// Our kernel directly (for tests and benchmarks): C = op(A)·op(B) + beta·C with op(A) = Aᵀ only when
/// B is not transposed, beta 0 or 1. Requires `GemmDispatch.ownKernelAvailable`.
public func sgemmOwnKernel(transA: Bool = false, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    precondition(GemmDispatch.ownKernelAvailable, "sgemmOwnKernel: this CPU lacks AVX2/FMA")
    precondition(beta == 0 || beta == 1, "sgemmOwnKernel: beta must be 0 or 1, got \(beta)")
    precondition(!(transA && transB), "sgemmOwnKernel: Aᵀ·Bᵀ is not supported")
    if transA { rdd_sgemm_tn(m, n, k, a, lda, b, ldb, beta, c, ldc) }
    else { rdd_sgemm(transB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, c, ldc) }
}
