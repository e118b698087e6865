import CBLAS

/// Row-major single-precision GEMM on OpenBLAS: C = alpha · op(A) · op(B) + beta · C.
///
/// `A` is M×K after `op` (stored K×M when `transA`), `B` is K×N after `op`, `C` is M×N.
/// Leading dimensions default to the dense row-major ones.
@inlinable
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
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
