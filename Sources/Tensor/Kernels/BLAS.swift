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
