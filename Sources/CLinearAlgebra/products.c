/* Float64 products for the metrics in one fixed order of operations (see CLinearAlgebra.h).
 *
 * Why not OpenBLAS: its DYNAMIC_ARCH build picks kernels per CPU (Zen, Haswell, SkylakeX, Prescott, …)
 * that use or skip fused multiply-add and block K differently, so a covariance or an FID computed from
 * identical features differed in the 13th digit between an AMD Zen 1 and an Intel Xeon with AVX-512
 * (issue 23). Here every element is a plain left-to-right sum of separately rounded products: any loop
 * tiling, vector width or row split leaves each element's sequence of operations unchanged, so the
 * compiler's vectorisation (across j, never across k) and the caller's threads cannot change a bit.
 */
#include "CLinearAlgebra.h"

/* No fused multiply-add: a·b + c rounds the product and the sum separately on every CPU. */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

enum { JB = 512, KB = 128 };

/* c[j] += a0·b0[j], then + a1·b1[j], + a2·b2[j], + a3·b3[j], for j in [j0, j1): four terms of each element's
   left-to-right sum with c[j] held in a register — the same additions in the same order as one term at a
   time, a quarter of the loads and stores of c. */
static inline void add4(double *c, double a0, const double *b0, double a1, const double *b1,
                        double a2, const double *b2, double a3, const double *b3, long j0, long j1) {
    for (long j = j0; j < j1; j++) {
        double cj = c[j];
        cj = cj + a0 * b0[j];
        cj = cj + a1 * b1[j];
        cj = cj + a2 * b2[j];
        cj = cj + a3 * b3[j];
        c[j] = cj;
    }
}

void rdd_dgemm_rows(long r0, long r1, long N, long K, const double *A, long lda, const double *B, long ldb,
                    double *C, long ldc, int accumulate) {
    if (!accumulate) {
        for (long i = r0; i < r1; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = 0;
    }
    /* Tiles of JB columns × KB depth keep B's block in cache; k stays ascending for every element. */
    for (long j0 = 0; j0 < N; j0 += JB) {
        long j1 = j0 + JB < N ? j0 + JB : N;
        for (long k0 = 0; k0 < K; k0 += KB) {
            long k1 = k0 + KB < K ? k0 + KB : K;
            for (long i = r0; i < r1; i++) {
                double *c = C + i * ldc;
                const double *a = A + i * lda;
                long k = k0;
                for (; k + 4 <= k1; k += 4) {
                    const double *b0 = B + k * ldb;
                    add4(c, a[k], b0, a[k + 1], b0 + ldb, a[k + 2], b0 + 2 * ldb, a[k + 3], b0 + 3 * ldb, j0, j1);
                }
                for (; k < k1; k++) {
                    const double aik = a[k];
                    const double *b = B + k * ldb;
                    for (long j = j0; j < j1; j++) c[j] = c[j] + aik * b[j];
                }
            }
        }
    }
}

void rdd_dsyrk_upper_rows(long i0, long i1, long N, long K, const double *X, double *C) {
    enum { IB = 32 };
    for (long ib = i0; ib < i1; ib += IB) {
        long ie = ib + IB < i1 ? ib + IB : i1;
        for (long j0 = ib; j0 < N; j0 += JB) {
            long j1 = j0 + JB < N ? j0 + JB : N;
            long r = 0;
            for (; r + 4 <= K; r += 4) {   /* four rows at a time (add4) */
                const double *x0 = X + r * N, *x1 = x0 + N, *x2 = x1 + N, *x3 = x2 + N;
                for (long i = ib; i < ie; i++)
                    add4(C + i * N, x0[i], x0, x1[i], x1, x2[i], x2, x3[i], x3, j0 > i ? j0 : i, j1);
            }
            for (; r < K; r++) {
                const double *x = X + r * N;
                for (long i = ib; i < ie; i++) {
                    const double xi = x[i];
                    double *c = C + i * N;
                    long js = j0 > i ? j0 : i;
                    for (long j = js; j < j1; j++) c[j] = c[j] + xi * x[j];
                }
            }
        }
    }
}

void rdd_colsum_add(long K, long N, const double *X, double *sum) {
    for (long r = 0; r < K; r++) {
        const double *x = X + r * N;
        for (long j = 0; j < N; j++) sum[j] = sum[j] + x[j];
    }
}

void rdd_transpose(long M, long N, const double *A, double *B) {
    enum { T = 32 };
    for (long i0 = 0; i0 < M; i0 += T)
        for (long j0 = 0; j0 < N; j0 += T)
            for (long i = i0; i < M && i < i0 + T; i++)
                for (long j = j0; j < N && j < j0 + T; j++) B[j * M + i] = A[i * N + j];
}
