#ifndef RDD_CLINEARALGEBRA_H
#define RDD_CLINEARALGEBRA_H
/* Float64 linear algebra for the metrics (FID, KID, precision/recall) with one fixed order of operations:
   the same bits on every x86-64 CPU and at any thread count (docs/architecture.md, "Kernels and
   determinism"; see products.c and eigen.c for the orders). Row-major throughout. */

/* C (rows [r0, r1) of M×N) = A (M×K, row stride lda) · B (K×N, row stride ldb) [+ C when accumulate].
   Every element is c = (…((c0 + a_0 b_0) + a_1 b_1) + …) + a_{K−1} b_{K−1}, c0 = 0 or C's old value:
   products and sums rounded separately (no fused multiply-add), k ascending. Callers split rows
   across threads; the split does not change any element. */
void rdd_dgemm_rows(long r0, long r1, long N, long K, const double *A, long lda, const double *B, long ldb,
                    double *C, long ldc, int accumulate);

/* The upper triangle (i ≤ j) of C (N×N) += Xᵀ X for X (K×N, row stride N), rows of C in [i0, i1):
   c_ij = (…((c_ij + x_0i x_0j) + x_1i x_1j) + …), rows of X in order. */
void rdd_dsyrk_upper_rows(long i0, long i1, long N, long K, const double *X, double *C);

/* sum[j] += Σ_r x[r][j] for the K rows of X (K×N), rows in order. */
void rdd_colsum_add(long K, long N, const double *X, double *sum);

/* B (N×M) = Aᵀ for A (M×N). */
void rdd_transpose(long M, long N, const double *A, double *B);

/* Eigen-decomposition of a symmetric N×N matrix (Householder tridiagonalisation, then the implicit
   QL method with Wilkinson shifts: EISPACK tred2/tql2 as in JAMA), in a fixed order.
   On entry `a` holds the matrix; only its upper triangle (row i, columns j ≥ i) is read; on return `values` holds the eigenvalues in ascending order and, when `vectors` is
   1, row i of `a` is the unit eigenvector of values[i]. `work` has room for N doubles.
   Returns 0, or −1 when an eigenvalue did not converge in 60 iterations (then the outputs are
   undefined). */
int rdd_dsyev(long N, double *a, double *values, double *work, int vectors);

#endif
