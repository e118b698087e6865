// Float64 linear algebra for the metrics, on CLinearAlgebra: one fixed order of operations, so an FID, a KID
// or a precision/recall value has the same bits on every x86-64 CPU and at any thread count (issue 23;
// docs/architecture.md, "Kernels and determinism"). OpenBLAS's per-CPU kernels made the same features give
// FIDs that differed in the 13th digit between an AMD Zen 1 and an Intel Xeon with AVX-512.
import CLinearAlgebra
import Dispatch

/// Rows of an output split into contiguous pieces computed concurrently. Each element is computed whole by
/// one piece in the kernel's fixed order, so the split (and the number of threads) changes no bit.
private func forEachRowPiece(rows: Int, work: Int, _ body: (Range<Int>) -> Void) {
    // Below ~4 M multiply-adds a second thread costs more than it saves.
    let pieces = work < 4_000_000 ? 1 : min(rows, 8)
    if pieces <= 1 { body(0..<rows); return }
    DispatchQueue.concurrentPerform(iterations: pieces) { p in
        let lo = rows * p / pieces, hi = rows * (p + 1) / pieces
        if lo < hi { body(lo..<hi) }
    }
}

/// Row-major C (m×n) = op(A) · op(B), with op(A) m×k and op(B) k×n (`transA`: A is stored k×m; `transB`:
/// B is stored n×k). Each element is Σ_k a_ik b_kj summed left to right, k ascending, products rounded
/// separately (`rdd_dgemm_rows`); a transposed operand is first copied into its untransposed layout.
func dgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           a: UnsafePointer<Double>, b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
    if m == 0 || n == 0 { return }
    func untransposed(_ p: UnsafePointer<Double>, rows: Int, cols: Int, _ body: (UnsafePointer<Double>) -> Void) {
        // p is stored rows×cols; hand on its transpose (cols×rows).
        var t = [Double](repeating: 0, count: rows * cols)
        t.withUnsafeMutableBufferPointer { rdd_transpose(rows, cols, p, $0.baseAddress!) }
        t.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
    func run(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>) {
        forEachRowPiece(rows: m, work: m * n * k) { r in
            rdd_dgemm_rows(r.lowerBound, r.upperBound, n, k, a, k, b, n, c, n, 0)
        }
    }
    switch (transA, transB) {
    case (false, false): run(a, b)
    case (true, false): untransposed(a, rows: k, cols: m) { run($0, b) }
    case (false, true): untransposed(b, rows: n, cols: k) { run(a, $0) }
    case (true, true): untransposed(a, rows: k, cols: m) { at in untransposed(b, rows: n, cols: k) { run(at, $0) } }
    }
}

/// The upper triangle (i ≤ j, row-major) of C (n×n) += Aᵀ A for A (k×n) row-major; rows of A summed in
/// order for every element (`rdd_dsyrk_upper_rows`). The lower triangle is not touched.
func dsyrkUpperAtA(n: Int, k: Int, a: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
    if n == 0 || k == 0 { return }
    // Row i of the triangle holds n − i elements: split so every piece has about the same work.
    let pieces = n * n * k / 2 < 4_000_000 ? 1 : min(n, 8)
    if pieces == 1 { rdd_dsyrk_upper_rows(0, n, n, k, a, c); return }
    let total = Double(n) * Double(n + 1) / 2
    var bounds = [0]
    var row = 0, done = 0.0
    for p in 1..<pieces {
        while row < n, done < total * Double(p) / Double(pieces) { done += Double(n - row); row += 1 }
        bounds.append(row)
    }
    bounds.append(n)
    DispatchQueue.concurrentPerform(iterations: pieces) { p in
        if bounds[p] < bounds[p + 1] { rdd_dsyrk_upper_rows(bounds[p], bounds[p + 1], n, k, a, c) }
    }
}

/// The upper triangle of C (n×n) = A Aᵀ for A (n×k) row-major: A is transposed and handed to
/// ``dsyrkUpperAtA(n:k:a:c:)`` (c_ij = Σ_l a_il a_jl, l ascending).
func dsyrkUpperAAt(n: Int, k: Int, a: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>) {
    if n == 0 { return }
    for i in 0..<(n * n) { c[i] = 0 }
    var t = [Double](repeating: 0, count: n * k)
    t.withUnsafeMutableBufferPointer { rdd_transpose(n, k, a, $0.baseAddress!) }
    t.withUnsafeBufferPointer { dsyrkUpperAtA(n: n, k: k, a: $0.baseAddress!, c: c) }
}

/// sum[j] += Σ_r a[r][j] over the k rows of A (k×n), rows in order.
func columnSums(k: Int, n: Int, a: UnsafePointer<Double>, into sum: UnsafeMutablePointer<Double>) {
    rdd_colsum_add(k, n, a, sum)
}

/// Copies the upper triangle (row-major i < j) of an n×n matrix onto its lower triangle.
func mirrorUpper(_ c: UnsafeMutablePointer<Double>, n: Int) {
    for i in 0..<n { for j in (i + 1)..<n { c[j * n + i] = c[i * n + j] } }
}

/// The eigen-decomposition of a symmetric n×n matrix, read from its upper triangle (`rdd_dsyev`: Householder tridiagonalisation
/// and implicit QL, EISPACK tred2/tql2, in a fixed order).
///
/// Returns the eigenvalues in ascending order and, when `vectors` is true, the orthonormal eigenvectors as
/// the *rows* of a row-major n×n array (row j belongs to eigenvalue j), i.e. the array is Vᵀ for
/// A = V diag(λ) Vᵀ. Throws when an eigenvalue does not converge (60 QL iterations; not seen on covariances).
func symmetricEigen(_ matrix: [Double], n: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]?) {
    precondition(matrix.count == n * n)
    var a = matrix
    var w = [Double](repeating: 0, count: n)
    var work = [Double](repeating: 0, count: max(1, n))
    let status = rdd_dsyev(n, &a, &w, &work, vectors ? 1 : 0)
    guard status == 0 else { throw MetricsError.eigenvalueNotConverged(dimension: n) }
    return (w, vectors ? a : nil)
}
