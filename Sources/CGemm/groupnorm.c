/* GroupNorm's passes over one sample's NHWC pixels (Sources/Tensor/Ops/Normalization.swift,
 * groupNormCore), on AVX-512F (and the forward on AVX2): forward — the channel statistics and the affine map with the optional
 * SiLU; backward — the per-channel sums Σ dŷ·x, Σ dŷ (with dŷ = dy·SiLU′(ŷ) when fused) and dx.
 *
 * The same bits as the Swift loops they replace (which stay the portable path and AVX2's backward, and
 * the reference of GroupNormKernelTests):
 *   - statistics: s1[k] = Σ_p x_pk, s2[k] = Σ_p x_pk² in Float64, each a sequential sum over the pixels p
 *     in order (the square rounded, then added: no FMA). Vector lanes run along the channels k, which
 *     are independent sums, so no sum is reordered; a block of 64 channels stays in 16 zmm accumulators
 *     (AVX2: 16 channels in 8 ymm) while the pixels stream past.
 *   - apply: y = (x − μ_k)·scale_k + β_k, then with SiLU y = v · (1 / (1 + fastExp(−v))) — the Swift
 *     expressions, each operation the same IEEE operation (fastexp.h; −v flips the sign bit, as Swift's
 *     negation does).
 *   - backward: sa[k] = Σ_p dŷ·x, sb[k] = Σ_p dŷ as the statistics (Float64, pixel order, lanes along
 *     channels); dŷ = dy·(σ·(1 + v·(1 − σ))) and dx = dŷ·k1 + (x − μ)·k2 + k3 as the Swift expressions.
 * Why: the Swift loops are compiled for x86-64's baseline (SSE2: 4 floats, 2 doubles per register) and
 * GroupNorm+SiLU was 12–14% of the U-Net forward on the AVX-512 Xeon, 11% on its AVX2 path (docs/benchmarks.md). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"
#include "fastexp.h"

/* The 16 floats of v as two vectors of 8 doubles (exact). */
TGT512 INLINE void widen(__m512 v, __m512d *lo, __m512d *hi) {
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    *hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* Stores the w ≤ 16·NQ channel sums of a block: A[2q], A[2q+1] hold channels 16q … 16q+15 of s1, B of s2. */
TGT512 INLINE void storeSums(const int NQ, long w, const __m512d *A, const __m512d *B, double *s1, double *s2) {
    for (int q = 0; q < NQ; q++) {
        long l = w - 16 * q;
        __mmask8 mlo = (__mmask8)(l >= 8 ? 0xFF : (1u << l) - 1), mhi = (__mmask8)(l >= 16 ? 0xFF : l <= 8 ? 0 : (1u << (l - 8)) - 1);
        _mm512_mask_storeu_pd(s1 + 16 * q, mlo, A[2 * q]);
        _mm512_mask_storeu_pd(s1 + 16 * q + 8, mhi, A[2 * q + 1]);
        _mm512_mask_storeu_pd(s2 + 16 * q, mlo, B[2 * q]);
        _mm512_mask_storeu_pd(s2 + 16 * q + 8, mhi, B[2 * q + 1]);
    }
}

/* Channels k0 .. k0+w−1 (w ≤ 16·NQ) of all a pixels: NQ chunks of 16 floats, each two zmm of 8 doubles
   per sum. NQ is a constant at every call, so the accumulators stay in registers. */
TGT512 INLINE void statsBlock(const int NQ, const float *x, long a, long c, long k0, long w, double *s1, double *s2) {
    __m512d A[8], B[8];
    __mmask16 m[4];
    for (int q = 0; q < NQ; q++) { m[q] = tail16(w - 16 * q); A[2 * q] = A[2 * q + 1] = B[2 * q] = B[2 * q + 1] = _mm512_setzero_pd(); }
    for (long p = 0; p < a; p++) {
        const float *row = x + p * c + k0;
        for (int q = 0; q < NQ; q++) {
            __m512 v = _mm512_maskz_loadu_ps(m[q], row + 16 * q);
            __m512d lo, hi;
            widen(v, &lo, &hi);
            A[2 * q] = _mm512_add_pd(A[2 * q], lo);
            A[2 * q + 1] = _mm512_add_pd(A[2 * q + 1], hi);
            B[2 * q] = _mm512_add_pd(B[2 * q], _mm512_mul_pd(lo, lo));
            B[2 * q + 1] = _mm512_add_pd(B[2 * q + 1], _mm512_mul_pd(hi, hi));
        }
    }
    storeSums(NQ, w, A, B, s1 + k0, s2 + k0);
}

TGT512 static void stats512(const float *x, long a, long c, double *s1, double *s2) {
    for (long k0 = 0; k0 < c; k0 += 64) {
        long w = c - k0 < 64 ? c - k0 : 64;
        switch ((w + 15) / 16) {
        case 1: statsBlock(1, x, a, c, k0, w, s1, s2); break;
        case 2: statsBlock(2, x, a, c, k0, w, s1, s2); break;
        case 3: statsBlock(3, x, a, c, k0, w, s1, s2); break;
        default: statsBlock(4, x, a, c, k0, w, s1, s2); break;
        }
    }
}

TGT512 static void apply512(const float *x, float *y, long a, long c, const float *mu, const float *scale, const float *beta, int silu) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (long p = 0; p < a; p++) {
        const float *xr = x + p * c;
        float *yr = y + p * c;
        for (long k = 0; k < c; k += 16) {
            __mmask16 m = tail16(c - k);
            __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + k), _mm512_maskz_loadu_ps(m, mu + k)),
                                                   _mm512_maskz_loadu_ps(m, scale + k)),
                                     _mm512_maskz_loadu_ps(m, beta + k));
            if (silu) {
                __m512 e = exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), sign)));
                v = _mm512_mul_ps(v, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
            }
            _mm512_mask_storeu_ps(yr + k, m, v);
        }
    }
}

/* SiLU's derivative at v = (x − μ)·scale + β, times g: Unary.swift's g · siluDerivative(v) with
   siluDerivative(v) = σ·(1 + v·(1 − σ)), σ = 1/(1 + fastExp(−v)), operation for operation. */
TGT512 INLINE __m512 siluGrad16(__m512 g, __m512 x, __m512 mu, __m512 scale, __m512 beta) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x, mu), scale), beta);
    __m512 sg = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u))))));
    return _mm512_mul_ps(g, _mm512_mul_ps(sg, _mm512_add_ps(one, _mm512_mul_ps(v, _mm512_sub_ps(one, sg)))));
}

/* Backward, first pass over channels k0 .. k0+w−1: dŷ = dy (mode 0) or dy·SiLU′(ŷ) (1: stored over dy,
   2: not stored), then sa[k] = Σ_p dŷ·x, sb[k] = Σ_p dŷ (Float64, pixel order; the product rounded,
   then added). Blocked over channels like statsBlock. */
TGT512 INLINE void sumsBlock(const int NQ, const float *x, float *dy, long a, long c, long k0, long w, const float *mu,
                             const float *scale, const float *beta, int mode, double *sa, double *sb) {
    __m512d A[8], B[8];
    __mmask16 m[4];
    __m512 mv[4], sv[4], bv[4];
    for (int q = 0; q < NQ; q++) {
        m[q] = tail16(w - 16 * q);
        A[2 * q] = A[2 * q + 1] = B[2 * q] = B[2 * q + 1] = _mm512_setzero_pd();
        if (mode != 0) {
            mv[q] = _mm512_maskz_loadu_ps(m[q], mu + k0 + 16 * q);
            sv[q] = _mm512_maskz_loadu_ps(m[q], scale + k0 + 16 * q);
            bv[q] = _mm512_maskz_loadu_ps(m[q], beta + k0 + 16 * q);
        }
    }
    for (long p = 0; p < a; p++) {
        const float *xr = x + p * c + k0;
        float *gr = dy + p * c + k0;
        for (int q = 0; q < NQ; q++) {
            __m512 xv = _mm512_maskz_loadu_ps(m[q], xr + 16 * q), g = _mm512_maskz_loadu_ps(m[q], gr + 16 * q);
            if (mode != 0) {
                g = siluGrad16(g, xv, mv[q], sv[q], bv[q]);
                if (mode == 1) _mm512_mask_storeu_ps(gr + 16 * q, m[q], g);
            }
            __m512d glo, ghi, xlo, xhi;
            widen(g, &glo, &ghi);
            widen(xv, &xlo, &xhi);
            A[2 * q] = _mm512_add_pd(A[2 * q], _mm512_mul_pd(glo, xlo));
            A[2 * q + 1] = _mm512_add_pd(A[2 * q + 1], _mm512_mul_pd(ghi, xhi));
            B[2 * q] = _mm512_add_pd(B[2 * q], glo);
            B[2 * q + 1] = _mm512_add_pd(B[2 * q + 1], ghi);
        }
    }
    storeSums(NQ, w, A, B, sa + k0, sb + k0);
}

TGT512 static void sums512(const float *x, float *dy, long a, long c, const float *mu, const float *scale, const float *beta,
                           int mode, double *sa, double *sb) {
    for (long k0 = 0; k0 < c; k0 += 64) {
        long w = c - k0 < 64 ? c - k0 : 64;
        switch ((w + 15) / 16) {
        case 1: sumsBlock(1, x, dy, a, c, k0, w, mu, scale, beta, mode, sa, sb); break;
        case 2: sumsBlock(2, x, dy, a, c, k0, w, mu, scale, beta, mode, sa, sb); break;
        case 3: sumsBlock(3, x, dy, a, c, k0, w, mu, scale, beta, mode, sa, sb); break;
        default: sumsBlock(4, x, dy, a, c, k0, w, mu, scale, beta, mode, sa, sb); break;
        }
    }
}

/* Backward, second pass: dx (= or +=) dŷ·k1 + (x − μ)·k2 + k3, dŷ recomputed as dy·SiLU′(ŷ) when
   `recompute` (ŷ from smu, scale, beta), else dy. */
TGT512 static void dx512(const float *x, const float *dy, float *dx, long a, long c, const float *k1, const float *k2, const float *k3,
                         const float *mu, const float *smu, const float *scale, const float *beta, int recompute, int accumulate) {
    for (long p = 0; p < a; p++) {
        const float *xr = x + p * c, *gr = dy + p * c;
        float *dr = dx + p * c;
        for (long k = 0; k < c; k += 16) {
            __mmask16 m = tail16(c - k);
            __m512 xv = _mm512_maskz_loadu_ps(m, xr + k), g = _mm512_maskz_loadu_ps(m, gr + k);
            if (recompute) g = siluGrad16(g, xv, _mm512_maskz_loadu_ps(m, smu + k), _mm512_maskz_loadu_ps(m, scale + k), _mm512_maskz_loadu_ps(m, beta + k));
            __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, k1 + k)),
                                                   _mm512_mul_ps(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(m, mu + k)), _mm512_maskz_loadu_ps(m, k2 + k))),
                                     _mm512_maskz_loadu_ps(m, k3 + k));
            if (accumulate) t = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dr + k), t);
            _mm512_mask_storeu_ps(dr + k, m, t);
        }
    }
}

/* ---- AVX2: the forward passes on 8 floats / 4 doubles per ymm register, 16-channel blocks (8 accumulators).
   Not the backward: its first pass, with SiLU′'s exponential and three rows of parameters beside the
   accumulators, spills the 16 ymm registers and measured slower than the Swift loops (docs/benchmarks.md),
   which therefore stay AVX2's backward. */

/* Lanes of 4 doubles: the first min(l, 4) on (l ≤ 0: none). */
TGT2 INLINE __m256i tail4d(long l) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(l), _mm256_setr_epi64x(0, 1, 2, 3)); }

TGT2 INLINE void widen8(__m256 v, __m256d *lo, __m256d *hi) {
    *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

TGT2 INLINE void storeSums8(const int NQ, long w, const __m256d *A, const __m256d *B, double *s1, double *s2) {
    for (int q = 0; q < NQ; q++) {
        __m256i mlo = tail4d(w - 8 * q), mhi = tail4d(w - 8 * q - 4);
        _mm256_maskstore_pd(s1 + 8 * q, mlo, A[2 * q]);
        _mm256_maskstore_pd(s1 + 8 * q + 4, mhi, A[2 * q + 1]);
        _mm256_maskstore_pd(s2 + 8 * q, mlo, B[2 * q]);
        _mm256_maskstore_pd(s2 + 8 * q + 4, mhi, B[2 * q + 1]);
    }
}

TGT2 INLINE void statsBlock8(const int NQ, const float *x, long a, long c, long k0, long w, double *s1, double *s2) {
    __m256d A[4], B[4];
    __m256i m[2];
    for (int q = 0; q < NQ; q++) { m[q] = tail8(w - 8 * q); A[2 * q] = A[2 * q + 1] = B[2 * q] = B[2 * q + 1] = _mm256_setzero_pd(); }
    for (long p = 0; p < a; p++) {
        const float *row = x + p * c + k0;
        for (int q = 0; q < NQ; q++) {
            __m256d lo, hi;
            widen8(_mm256_maskload_ps(row + 8 * q, m[q]), &lo, &hi);
            A[2 * q] = _mm256_add_pd(A[2 * q], lo);
            A[2 * q + 1] = _mm256_add_pd(A[2 * q + 1], hi);
            B[2 * q] = _mm256_add_pd(B[2 * q], _mm256_mul_pd(lo, lo));
            B[2 * q + 1] = _mm256_add_pd(B[2 * q + 1], _mm256_mul_pd(hi, hi));
        }
    }
    storeSums8(NQ, w, A, B, s1 + k0, s2 + k0);
}

TGT2 static void stats256(const float *x, long a, long c, double *s1, double *s2) {
    for (long k0 = 0; k0 < c; k0 += 16) {
        long w = c - k0 < 16 ? c - k0 : 16;
        if (w > 8) statsBlock8(2, x, a, c, k0, w, s1, s2); else statsBlock8(1, x, a, c, k0, w, s1, s2);
    }
}

TGT2 INLINE __m256 neg8(__m256 v) { return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f)); }

TGT2 static void apply256(const float *x, float *y, long a, long c, const float *mu, const float *scale, const float *beta, int silu) {
    for (long p = 0; p < a; p++) {
        const float *xr = x + p * c;
        float *yr = y + p * c;
        for (long k = 0; k < c; k += 8) {
            __m256i m = tail8(c - k);
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + k, m), _mm256_maskload_ps(mu + k, m)),
                                                   _mm256_maskload_ps(scale + k, m)),
                                     _mm256_maskload_ps(beta + k, m));
            if (silu) v = _mm256_mul_ps(v, _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(neg8(v)))));
            _mm256_maskstore_ps(yr + k, m, v);
        }
    }
}

/* ---- entry points: the forward on AVX-512F or AVX2 (the emulated AVX-512 tiling of the GEMM tests counts as
   AVX2), the backward on AVX-512F only; otherwise 0, and the caller runs its Swift loops. */

int rdd_groupnorm_stats(const float *x, long a, long c, double *s1, double *s2) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_PORTABLE || c <= 0) return 0;
    if (isa == RDD_GEMM_AVX512) stats512(x, a, c, s1, s2); else stats256(x, a, c, s1, s2);
    return 1;
}

int rdd_groupnorm_apply(const float *x, float *y, long a, long c, const float *mu, const float *scale, const float *beta, int silu) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_PORTABLE || c <= 0) return 0;
    if (isa == RDD_GEMM_AVX512) apply512(x, y, a, c, mu, scale, beta, silu); else apply256(x, y, a, c, mu, scale, beta, silu);
    return 1;
}

int rdd_groupnorm_backward_sums(const float *x, float *dy, long a, long c, const float *mu, const float *scale, const float *beta,
                                int mode, double *sa, double *sb) {
    if (rdd_gemm_selected() != RDD_GEMM_AVX512 || c <= 0) return 0;
    sums512(x, dy, a, c, mu, scale, beta, mode, sa, sb);
    return 1;
}

int rdd_groupnorm_backward_dx(const float *x, const float *dy, float *dx, long a, long c, const float *k1, const float *k2,
                              const float *k3, const float *mu, const float *smu, const float *scale, const float *beta,
                              int recompute, int accumulate) {
    if (rdd_gemm_selected() != RDD_GEMM_AVX512 || c <= 0) return 0;
    dx512(x, dy, dx, a, c, k1, k2, k3, mu, smu, scale, beta, recompute, accumulate);
    return 1;
}
