/* A single-threaded AVX2/FMA single-precision GEMM for the products of our convolutions.
 *
 *   C (M×N) = A (M×K) · op(B) (K×N) + beta·C,   row-major, A not transposed, beta ∈ {0, 1}.
 *
 * Why: OpenBLAS 0.3.21's Zen sgemm reaches ~78-84 GFLOP/s per core on the conv-shaped products of
 * the U-Net (M = 512-2048 pixel rows, N = Cout or Cin = 64-256, K = k·Cin = 192-1152), most of a
 * training step; this kernel measures ~87-94 on the same shapes (docs/benchmarks.md), mainly because
 * it never copies A: the lowered activations (the big operand) are read where they are.
 *
 * Method (the BLIS/Goto scheme, with one difference):
 *   - K is cut into near-equal blocks of at most KCMAX; N into blocks of at most NC columns. For each
 *     (N block, K block), op(B)'s block is packed once into column panels of NR = 16 floats per k
 *     (zero-padded past N), so the micro-kernel reads it with two aligned 8-float loads per k.
 *   - A is NOT packed: rows are read in place (row stride lda). The micro-kernel broadcasts a(r, k)
 *     for r < 6 rows and does 12 FMAs per k into a 6×16 tile of accumulators (12 ymm registers),
 *     i.e. C[r][j] += a(r,k)·b(k,j). The 6 rows of an A panel (6×KC floats) are reused from L1/L2
 *     across all NR-panels of the block, which is why copying them (a strided gather, 1/N of the
 *     FLOPs) does not pay for small N.
 *   - Loop order: N block → K block (pack B) → MC rows → NR panel → 6-row panel → micro-kernel.
 *     The first K block stores (beta 0) or adds (beta 1) the tile into C, later blocks add.
 *   - Edges: fewer than 6 rows use the same kernel with h < 6 rows (same arithmetic per row); fewer
 *     than 16 columns go through a 6×16 stack tile (the packed B columns past N are zero).
 *
 * Determinism: every C element is Σ over K blocks (fixed by K) of an in-order FMA chain over k in the
 * block, then added to C; none of it depends on M, on which rows share a call, or on the thread that
 * runs it. So splitting rows of C over threads gives bit-identical results for any thread count.
 *
 * Compiled without -march flags: the kernel functions carry target("avx2,fma"), and callers check
 * rdd_gemm_available() (cpuid) before calling.
 */
#include "CGemm.h"
#include <immintrin.h>
#include <stdlib.h>

#define MR 6
#define NR 16
#define KCMAX 256
#define MC 96
#define NC 256
#define TGT __attribute__((target("avx2,fma")))

int rdd_gemm_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* h×16 tile (h ≤ 6): acc[r] = Σ_k a(r, k)·Bp[k][0..16) with a(r, k) = A[r·rs + k·cs], then C rows =
   acc (+ C when accumulate). Inlined with constant strides: cs = 1 (A rows in place, `rdd_sgemm`) or
   rs = 1 (A stored transposed, `rdd_sgemm_tn`: the h values of one k are contiguous). */
TGT static inline __attribute__((always_inline))
void tile(const int h, long kc, const float *A, long rs, long cs, const float *Bp, float *C, long ldc, int accumulate) {
    __m256 c[MR][2];
    for (int r = 0; r < MR; r++) { c[r][0] = _mm256_setzero_ps(); c[r][1] = _mm256_setzero_ps(); }
    _Pragma("clang loop unroll_count(4)")
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
        for (int r = 0; r < h; r++) {
            __m256 a = _mm256_broadcast_ss(A + r * rs);
            c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
        }
        A += cs; Bp += NR;
    }
    for (int r = 0; r < h; r++) {
        float *p = C + r * ldc;
        if (accumulate) {
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(p));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(p + 8));
        }
        _mm256_storeu_ps(p, c[r][0]);
        _mm256_storeu_ps(p + 8, c[r][1]);
    }
}

/* The tile for h = 6 rows and, for the edge, any h < 6; `ld` is A's leading dimension: the row stride
   when !transA, the k stride when transA. */
TGT static void tile6(int transA, long kc, const float *A, long ld, const float *Bp, float *C, long ldc, int acc) {
    if (transA) tile(6, kc, A, 1, ld, Bp, C, ldc, acc); else tile(6, kc, A, ld, 1, Bp, C, ldc, acc);
}

#define TILE_CASE(H) case H: if (transA) tile(H, kc, A, 1, ld, Bp, C, ldc, acc); else tile(H, kc, A, ld, 1, Bp, C, ldc, acc); break;
TGT static void tileH(int transA, int h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc, int acc) {
    switch (h) { TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) default: tile6(transA, kc, A, ld, Bp, C, ldc, acc); }
}

/* In-register transpose of an 8×8 block: r[i][j] → r[j][i]. */
TGT static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Packs op(B)[k][j], k < kc, j < n, into panels of NR columns: panel p holds k-major rows of 16 floats
   (columns past n are 0). B points at op(B)[0][0] of the block. */
TGT static void packB(float *dst, const float *B, long ldb, int transB, long kc, long n) {
    for (long j0 = 0; j0 < n; j0 += NR) {
        long w = n - j0 < NR ? n - j0 : NR;
        float *d = dst + (j0 / NR) * kc * NR;
        if (!transB) {
            const float *s = B + j0;
            if (w == NR) {
                for (long k = 0; k < kc; k++, d += NR, s += ldb) {
                    _mm256_store_ps(d, _mm256_loadu_ps(s));
                    _mm256_store_ps(d + 8, _mm256_loadu_ps(s + 8));
                }
            } else {
                for (long k = 0; k < kc; k++, d += NR, s += ldb)
                    for (long j = 0; j < NR; j++) d[j] = j < w ? s[j] : 0;
            }
        } else {  /* op(B)[k][j] = B[j·ldb + k]: column j of the panel is a contiguous row of B */
            long k0 = 0;
            if (w == NR) {  /* 8×8 blocks transposed in registers (the forward convolutions' weights) */
                for (; k0 + 8 <= kc; k0 += 8) {
                    for (int half = 0; half < 2; half++) {
                        __m256 r[8];
                        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(B + (j0 + half * 8 + i) * ldb + k0);
                        transpose8(r);
                        for (int i = 0; i < 8; i++) _mm256_store_ps(d + (k0 + i) * NR + half * 8, r[i]);
                    }
                }
            }
            for (long j = 0; j < NR; j++) {
                const float *s = B + (j0 + j) * ldb;
                if (j < w) for (long k = k0; k < kc; k++) d[k * NR + j] = s[k];
                else for (long k = k0; k < kc; k++) d[k * NR + j] = 0;
            }
        }
    }
}

/* Per-thread packing buffer (KCMAX × NC floats, 64-byte aligned), allocated on first use and kept. */
static _Thread_local float *packed = 0;

/* K block size for a product with K > 0: near-equal blocks of at most KCMAX. */
static long kBlock(long K) {
    long nkb = (K + KCMAX - 1) / KCMAX;
    return (K + nkb - 1) / nkb;
}

static long padded(long n) { return (n + NR - 1) / NR * NR; }

/* Whole op(B) packed as the product's loops read it: N block jc (NC columns), then K block pc,
   each block's 16-column panels; block (jc, pc) starts at jc·K + padded(nc)·pc. */
long rdd_packed_b_floats(long N, long K) { return padded(N) * (K > 0 ? K : 0); }

void rdd_pack_b(int transB, long N, long K, const float *B, long ldb, float *dst) {
    if (N <= 0 || K <= 0) return;
    long KC = kBlock(K);
    for (long jc = 0; jc < N; jc += NC) {
        long nc = N - jc < NC ? N - jc : NC;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            packB(dst + jc * K + padded(nc) * pc, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, transB, kc, nc);
        }
    }
}

/* The blocked product behind the entry points: A in place, a(i, k) = A[i·lda + k] (!transA) or
   A[k·lda + i] (transA); op(B) packed per (N block, K block) into a per-thread buffer, or taken
   from `prepacked` (rdd_pack_b's layout). */
static void gemm(int transA, int transB, long M, long N, long K, const float *A, long lda,
                 const float *B, long ldb, const float *prepacked, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  /* C = beta·C */
        if (beta == 0) for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    if (!prepacked && !packed) {
        packed = aligned_alloc(64, sizeof(float) * KCMAX * NC);
        if (!packed) abort();
    }
    long KC = kBlock(K);
    float edge[MR * NR] __attribute__((aligned(64)));
    for (long jc = 0; jc < N; jc += NC) {
        long nc = N - jc < NC ? N - jc : NC;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            const float *packedBlock;
            if (prepacked) packedBlock = prepacked + jc * K + padded(nc) * pc;
            else {
                packB(packed, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, transB, kc, nc);
                packedBlock = packed;
            }
            int acc = pc > 0 || beta != 0;
            for (long ic = 0; ic < M; ic += MC) {
                long mc = M - ic < MC ? M - ic : MC;
                for (long j0 = 0; j0 < nc; j0 += NR) {
                    long w = nc - j0 < NR ? nc - j0 : NR;
                    const float *bp = packedBlock + (j0 / NR) * kc * NR;
                    for (long i0 = ic; i0 < ic + mc; i0 += MR) {
                        long h = ic + mc - i0 < MR ? ic + mc - i0 : MR;
                        const float *ap = transA ? A + pc * lda + i0 : A + i0 * lda + pc;
                        float *cp = C + i0 * ldc + jc + j0;
                        if (w == NR) {
                            if (h == MR) tile6(transA, kc, ap, lda, bp, cp, ldc, acc);
                            else tileH(transA, (int)h, kc, ap, lda, bp, cp, ldc, acc);
                        } else {
                            for (long r = 0; r < h; r++)
                                for (long j = 0; j < NR; j++) edge[r * NR + j] = (acc && j < w) ? cp[r * ldc + j] : 0;
                            tileH(transA, (int)h, kc, ap, lda, bp, edge, NR, 1);
                            for (long r = 0; r < h; r++)
                                for (long j = 0; j < w; j++) cp[r * ldc + j] = edge[r * NR + j];
                        }
                    }
                }
            }
        }
    }
}

void rdd_sgemm(int transB, long M, long N, long K, const float *A, long lda,
               const float *B, long ldb, float beta, float *C, long ldc) {
    gemm(0, transB, M, N, K, A, lda, B, ldb, 0, beta, C, ldc);
}

void rdd_sgemm_packed(long M, long N, long K, const float *A, long lda, const float *packedB,
                      float beta, float *C, long ldc) {
    gemm(0, 0, M, N, K, A, lda, 0, 0, packedB, beta, C, ldc);
}

void rdd_sgemm_tn(long M, long N, long K, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc) {
    gemm(1, 0, M, N, K, A, lda, B, ldb, 0, beta, C, ldc);
}
