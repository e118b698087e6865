#ifndef RDD_CGEMM_H
#define RDD_CGEMM_H
/* Our single-precision GEMM (see gemm.c): one accumulation order per output element on every
   instruction set, so every ISA gives the same bits. */

/* Instruction sets of the micro-kernel. RDD_GEMM_AVX512_EMULATED runs the AVX-512 tiling (12-row
   tiles, pairs of 16-column panels) on pairs of AVX2 registers: for testing the AVX-512 path's
   bit-identity on CPUs without AVX-512F; never chosen automatically. */
enum { RDD_GEMM_PORTABLE = 0, RDD_GEMM_AVX2 = 1, RDD_GEMM_AVX512 = 2, RDD_GEMM_AVX512_EMULATED = 3 };

/* 1 when this CPU (and OS) can run `isa` (cpuid: AVX2+FMA; AVX-512F for RDD_GEMM_AVX512), else 0. */
int rdd_gemm_supported(int isa);
/* 1 when the CPU has AVX2 and FMA, else 0. */
int rdd_gemm_available(void);
/* The widest supported ISA (AVX512 > AVX2 > PORTABLE); what runs unless rdd_gemm_select chose another. */
int rdd_gemm_best(void);
/* Selects the ISA for every later call (process-wide); 0 (and no change) when the CPU lacks it. */
int rdd_gemm_select(int isa);
/* The ISA that runs the products. */
int rdd_gemm_selected(void);

/* Row-major C (M×N) = alpha·op(A)·op(B) + beta·C: op(A) is A (M×K, row stride lda) or, with transA,
   Aᵀ where A is K×M; op(B) is B (K×N, row stride ldb) or, with transB, Bᵀ where B is N×K.
   Any shape, alpha and beta. Single-threaded; callers parallelise over rows of C. */
void rdd_sgemm_ex(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc);

/* rdd_sgemm_ex with transA = 0, alpha = 1. */
void rdd_sgemm(int transB, long M, long N, long K, const float *A, long lda,
               const float *B, long ldb, float beta, float *C, long ldc);

/* op(B) packed once for many products with the same B (a convolution's weight, shared by all its
   row chunks): rdd_packed_b_floats(N, K) floats at a 32-byte aligned dst. rdd_sgemm_packed then
   gives exactly rdd_sgemm's result (same blocking; packing is a copy). */
long rdd_packed_b_floats(long N, long K);
void rdd_pack_b(int transB, long N, long K, const float *B, long ldb, float *dst);
void rdd_sgemm_packed(long M, long N, long K, const float *A, long lda, const float *packedB,
                      float beta, float *C, long ldc);
/* C = A·B + bias, the bias row (N floats) added to every row: the same bits as C prefilled with the bias rows
   and rdd_sgemm_packed with beta 1 (each element: (P_1 + bias) + P_2 + …), without the prefill's pass over C. */
void rdd_sgemm_packed_bias(long M, long N, long K, const float *A, long lda, const float *packedB,
                           const float *bias, float *C, long ldc);

/* rdd_sgemm_ex with transA = 1, transB = 0, alpha = 1: the transposed form of a convolution's weight
   gradient, loweredᵀ·dY, whose reduction runs over pixel rows (the h values of one k are contiguous). */
void rdd_sgemm_tn(long M, long N, long K, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc);

/* Winograd F(2×2, 3×3) transforms of one tile over n channels (winograd.c; Sources/Tensor/Kernels/
   Winograd.swift). Input: v[ξ·ld + c] = (Bᵀ d B)[ξ], d[i·4 + j] = channels of patch pixel (i, j).
   Output: the 2×2 pixels o[0..3] (o[p] = 0 when outside the image) = (Aᵀ M A)[p] with M[ξ] = m + ξ·ld,
   stored (mode 0), added (1) or stored plus bias[c] (2). */
void rdd_winograd_input(float *v, long ld, const float *const *d, long n);
void rdd_winograd_output(const float *m, long ld, float *const *o, int mode, const float *bias, long n);
/* The 16 transformed weights U_ξ = G g Gᵀ (Float64, rounded once: Winograd.transformWeight's operations) of
   input channels i0 ≤ i < i1, written into dst as rdd_pack_b would pack them: matrix ξ (K = cin rows × N = cout
   columns) at dst + ξ·rdd_packed_b_floats(cout, cin). w is the (cout, cin, 3, 3) kernel, or with `flipped` the
   (cin, cout, 3, 3) kernel of the convolution whose input gradient this is (g(o, i, a, b) = w[i, o, 2 − a, 2 − b]).
   Disjoint i ranges write disjoint floats (threads split them); every ISA writes the same bits. */
void rdd_winograd_weight_packed(float *dst, const float *w, long cin, long cout, int flipped, long i0, long i1);

/* Softmax over `rows` contiguous rows of n floats (softmax.c): e_j = fastExp(x_j − m) with m the row's
   maximum, z = Σ_j e_j in j order; y = e/z when `normalise`, else y = e. m[r], z[r] are stored when
   non-null. The same bits as Softmax.swift's loops on every ISA. Returns 0 (and does nothing) when the
   selected ISA is the portable one or n is outside 1 ... 2²⁶: the caller runs its own loops. */
int rdd_softmax_rows(const float *x, float *y, long rows, long n, int normalise, float *m, float *z);
/* Softmax backward over contiguous rows: dot = Σ_j dy_j·y_j in j order, dx_j (= or +=, `accumulate`)
   y_j·(dy_j − dot). Returns 0 as rdd_softmax_rows. */
int rdd_softmax_backward_rows(const float *y, const float *dy, float *dx, long rows, long n, int accumulate);

/* GroupNorm's forward over one sample's a pixels × c channels (NHWC; groupnorm.c), on AVX-512F and AVX2:
   s1[k] = Σ_p x_pk, s2[k] = Σ_p x_pk² (Float64, pixel order; stored, not added), and
   y = (x − mu_k)·scale_k + beta_k, times 1/(1 + fastExp(−y)) when `silu`. The same bits as
   Normalization.swift's loops. Return 0 (and do nothing) when the selected ISA is the portable one. */
int rdd_groupnorm_stats(const float *x, long a, long c, double *s1, double *s2);
int rdd_groupnorm_apply(const float *x, float *y, long a, long c, const float *mu, const float *scale, const float *beta, int silu);
/* GroupNorm's backward over one sample (AVX-512F only; 0 otherwise): dŷ = dy (mode 0) or dy·SiLU′(ŷ) with
   ŷ = (x − mu)·scale + beta (mode 1: stored over dy; 2: not stored); sa[k] = Σ_p dŷ·x, sb[k] = Σ_p dŷ
   (Float64, pixel order; stored). Then dx (= or +=, `accumulate`) dŷ·k1 + (x − mu)·k2 + k3, with dŷ
   recomputed from dy (`recompute`, ŷ from smu, scale, beta) or dy itself. */
int rdd_groupnorm_backward_sums(const float *x, float *dy, long a, long c, const float *mu, const float *scale, const float *beta,
                                int mode, double *sa, double *sb);
int rdd_groupnorm_backward_dx(const float *x, const float *dy, float *dx, long a, long c, const float *k1, const float *k2,
                              const float *k3, const float *mu, const float *smu, const float *scale, const float *beta,
                              int recompute, int accumulate);

/* CPUs in this process's affinity mask (taskset, cpusets); 0 when unknown (cpus.c). */
int rdd_available_cpus(void);

/* y[i] = DetMath.exp(x[i]) (fdlibm's exp in Float64, Sources/Tensor/Kernels/DetMath.swift) for i < n, on 8 (AVX-512F)
   or 4 (AVX2) lanes with the Swift function's operations and bits (detexp.c); x == y allowed. Returns 0 (and
   writes nothing) on the portable path: the caller runs the Swift loop. */
int rdd_det_exp(const double *x, double *y, long n);

/* Adam's element update without weight decay over n elements (adam.c; Sources/NN/Optim.swift's loop, the same bits on
   every vector width). Returns 0 on the portable path (the caller runs the Swift loop). p, g, m, v must not overlap. */
int rdd_adam_update(float *p, const float *g, float *m, float *v, long n,
                    float b1, float b2, float stepSize, float bc2Sqrt, float eps);

/* y[r·c + k] = x[r·c + k]·scale[k] + shift[k] for r < rows, k < c (adam.c; BatchNorm's forward, the Swift loop's
   bits). Returns 0 on the portable path. x and y must not overlap. */
int rdd_channel_affine(const float *x, float *y, long rows, long c, const float *scale, const float *shift);

/* One output pixel of NHWC max / average pooling (pool.c; Sources/Tensor/Ops/Pool3x3.swift's loops, the same bits on
   every vector width): y[c] over the ny × nx window elements x[iy·rowStride + ix·pixStride + c], c < C — max: the
   first of the largest (a NaN taken and kept, as the loop), from −inf; avg: the in-order sum from +0, times inv.
   Return 0 on the portable path (the caller runs the Swift loop). y must not overlap x. */
int rdd_pool_max_pixel(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride);
int rdd_pool_avg_pixel(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride, float inv);

#endif
