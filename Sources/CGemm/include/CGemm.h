#ifndef RDD_CGEMM_H
#define RDD_CGEMM_H
/* A single-threaded AVX2/FMA sgemm for the shapes of our convolutions (see gemm.c). */

/* 1 when the CPU has AVX2 and FMA (the kernel may be called), else 0. */
int rdd_gemm_available(void);

/* Row-major C (M×N) = A (M×K, row stride lda) · op(B) + beta·C, beta 0 or 1 (any other value is
   treated as 1). op(B) is B (K×N, row stride ldb) or, with transB, Bᵀ where B is N×K (row stride ldb).
   Single-threaded; callers parallelise over rows of C. Must only be called when rdd_gemm_available(). */
void rdd_sgemm(int transB, long M, long N, long K, const float *A, long lda,
               const float *B, long ldb, float beta, float *C, long ldc);

/* op(B) packed once for many products with the same B (a convolution's weight, shared by all its
   row chunks): rdd_packed_b_floats(N, K) floats at a 32-byte aligned dst. rdd_sgemm_packed then
   gives exactly rdd_sgemm's result (same blocking; packing is a copy). */
long rdd_packed_b_floats(long N, long K);
void rdd_pack_b(int transB, long N, long K, const float *B, long ldb, float *dst);
void rdd_sgemm_packed(long M, long N, long K, const float *A, long lda, const float *packedB,
                      float beta, float *C, long ldc);

/* Row-major C (M×N) = Aᵀ·B + beta·C with A stored K×M (row stride lda) and B K×N (row stride ldb):
   the transposed form of a convolution's weight gradient, loweredᵀ·dY, whose reduction runs over
   pixel rows. Same blocking, kernel and determinism as rdd_sgemm; A is read in place (the 6 values
   of one k are contiguous). */
void rdd_sgemm_tn(long M, long N, long K, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc);

/* CPUs in this process's affinity mask (taskset, cpusets); 0 when unknown (cpus.c). */
int rdd_available_cpus(void);

#endif
