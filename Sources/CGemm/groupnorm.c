/* GroupNorm's forward passes over one sample's NHWC pixels (Sources/Tensor/Ops/Normalization.swift,
 * groupNormCore), on AVX-512F: the channel statistics and the affine map with the optional SiLU.
 *
 * The same bits as the Swift loops they replace (which stay the AVX2 and portable path, and the
 * reference of GroupNormKernelTests):
 *   - statistics: s1[k] = Σ_p x_pk, s2[k] = Σ_p x_pk² in Float64, each a sequential sum over the pixels p
 *     in order (the square rounded, then added: no FMA). Vector lanes run along the channels k, which
 *     are independent sums, so no sum is reordered; a block of 64 channels stays in 16 zmm accumulators
 *     while the pixels stream past.
 *   - apply: y = (x − μ_k)·scale_k + β_k, then with SiLU y = v · (1 / (1 + fastExp(−v))) — the Swift
 *     expressions, each operation the same IEEE operation (fastexp.h; −v flips the sign bit, as Swift's
 *     negation does).
 * Why: the Swift loops are compiled for x86-64's baseline (SSE2: 4 floats, 2 doubles per register) and
 * GroupNorm+SiLU was 12–14% of the U-Net forward on the AVX-512 Xeon (docs/benchmarks.md). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"
#include "fastexp.h"

INLINE __mmask16 lanes16(long left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

/* Channels k0 .. k0+w−1 (w ≤ 16·NQ) of all a pixels: NQ chunks of 16 floats, each two zmm of 8 doubles
   per sum. NQ is a constant at every call, so the accumulators stay in registers. */
TGT512 INLINE void statsBlock(const int NQ, const float *x, long a, long c, long k0, long w, double *s1, double *s2) {
    __m512d A[8], B[8];
    __mmask16 m[4];
    for (int q = 0; q < NQ; q++) { m[q] = lanes16(w - 16 * q); A[2 * q] = A[2 * q + 1] = B[2 * q] = B[2 * q + 1] = _mm512_setzero_pd(); }
    for (long p = 0; p < a; p++) {
        const float *row = x + p * c + k0;
        for (int q = 0; q < NQ; q++) {
            __m512 v = _mm512_maskz_loadu_ps(m[q], row + 16 * q);
            __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
            __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
            A[2 * q] = _mm512_add_pd(A[2 * q], lo);
            A[2 * q + 1] = _mm512_add_pd(A[2 * q + 1], hi);
            B[2 * q] = _mm512_add_pd(B[2 * q], _mm512_mul_pd(lo, lo));
            B[2 * q + 1] = _mm512_add_pd(B[2 * q + 1], _mm512_mul_pd(hi, hi));
        }
    }
    for (int q = 0; q < NQ; q++) {
        long l = w - 16 * q;
        __mmask8 mlo = (__mmask8)(l >= 8 ? 0xFF : (1u << l) - 1), mhi = (__mmask8)(l >= 16 ? 0xFF : l <= 8 ? 0 : (1u << (l - 8)) - 1);
        _mm512_mask_storeu_pd(s1 + k0 + 16 * q, mlo, A[2 * q]);
        _mm512_mask_storeu_pd(s1 + k0 + 16 * q + 8, mhi, A[2 * q + 1]);
        _mm512_mask_storeu_pd(s2 + k0 + 16 * q, mlo, B[2 * q]);
        _mm512_mask_storeu_pd(s2 + k0 + 16 * q + 8, mhi, B[2 * q + 1]);
    }
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
            __mmask16 m = lanes16(c - k);
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

int rdd_groupnorm_stats(const float *x, long a, long c, double *s1, double *s2) {
    if (rdd_gemm_selected() != RDD_GEMM_AVX512 || c <= 0) return 0;
    stats512(x, a, c, s1, s2);
    return 1;
}

int rdd_groupnorm_apply(const float *x, float *y, long a, long c, const float *mu, const float *scale, const float *beta, int silu) {
    if (rdd_gemm_selected() != RDD_GEMM_AVX512 || c <= 0) return 0;
    apply512(x, y, a, c, mu, scale, beta, silu);
    return 1;
}
