// Float64 BLAS/LAPACK helpers for the metrics (OpenBLAS through the CBLAS system-library target).
import CBLAS

/// Row-major DGEMM: C (m×n) = alpha · op(A) · op(B) + beta · C, with op(A) m×k and op(B) k×n.
func dgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Double = 1,
           a: UnsafePointer<Double>, b: UnsafePointer<Double>, beta: Double = 0, c: UnsafeMutablePointer<Double>) {
    if m == 0 || n == 0 { return }
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
                beta, c, Int32(n))
}

/// Row-major DSYRK on the upper triangle: C (n×n) += alpha · Aᵀ A for A (k×n) row-major.
/// Only C's upper triangle (i ≤ j, row-major) is referenced and updated.
func dsyrkUpperAtA(n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, beta: Double = 1,
                   c: UnsafeMutablePointer<Double>) {
    if n == 0 || k == 0 { return }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(n), beta, c, Int32(n))
}

/// Row-major DSYRK on the upper triangle: C (n×n) = alpha · A Aᵀ for A (n×k) row-major.
func dsyrkUpperAAt(n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
    if n == 0 { return }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(k), alpha, a, Int32(k), 0, c, Int32(n))
}

/// Copies the upper triangle (row-major i < j) of an n×n matrix onto its lower triangle.
func mirrorUpper(_ c: UnsafeMutablePointer<Double>, n: Int) {
    for i in 0..<n { for j in (i + 1)..<n { c[j * n + i] = c[i * n + j] } }
}

/// The eigen-decomposition of a symmetric n×n matrix by LAPACK `dsyevd` (divide and conquer).
///
/// `matrix` is read as symmetric (its upper triangle in row-major terms). Returns the eigenvalues in
/// ascending order and, when `vectors` is true, the orthonormal eigenvectors as the *rows* of a row-major
/// n×n array (row j belongs to eigenvalue j), i.e. the array is Vᵀ for A = V diag(λ) Vᵀ.
func symmetricEigen(_ matrix: [Double], n: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]?) {
    precondition(matrix.count == n * n)
    var a = matrix
    var w = [Double](repeating: 0, count: n)
    // Row-major upper = column-major lower; the matrix is symmetric so "L" reads the same data.
    var jobz = Int8(UInt8(ascii: vectors ? "V" : "N"))
    var uplo = Int8(UInt8(ascii: "L"))
    var n32 = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
    var lwork: Int32 = -1, liwork: Int32 = -1
    var workQuery = 0.0
    var iworkQuery: Int32 = 0
    dsyevd_(&jobz, &uplo, &n32, &a, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info)
    guard info == 0 else { throw MetricsError.lapackFailure(routine: "dsyevd (workspace query)", info: Int(info)) }
    lwork = Int32(workQuery.rounded(.up))
    liwork = max(1, iworkQuery)
    var work = [Double](repeating: 0, count: Int(max(1, lwork)))
    var iwork = [Int32](repeating: 0, count: Int(liwork))
    dsyevd_(&jobz, &uplo, &n32, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
    guard info == 0 else { throw MetricsError.lapackFailure(routine: "dsyevd", info: Int(info)) }
    return (w, vectors ? a : nil)
}
