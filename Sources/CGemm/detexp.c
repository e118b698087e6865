/* DetMath.exp (Sources/Tensor/Kernels/DetMath.swift: fdlibm's e_exp.c in Float64) on vector lanes, for arrays of
 * independent arguments (the Float64 log-softmax and KL of Sources/Tensor/Ops/Losses.swift: the M_P2P and CFD
 * terms of a distillation step evaluate several exponentials per logit; scalar, they were ≈ 8% of an RDD step
 * at the small preset, docs/benchmarks.md "Session 15").
 *
 * The same bits as the Swift function for every argument, on every ISA: each lane performs the Swift function's
 * IEEE operations in its order — contraction is off in this file, so no FMA — and its branches become lane
 * selections of values computed for every lane:
 *   - x NaN → x; x > 709.78… → +∞; x < −745.13… → 0; |x| < 2⁻²⁸ → 1 + x;
 *   - k = trunc(1.4426950408889634·x ± 0.5) when |x| > 0.5·ln2 (roundscale toward zero, exact; Swift's Int(_:)
 *     truncates toward zero), with hi = x − k·ln2Hi, lo = k·ln2Lo; else k = 0, hi = x, lo = 0;
 *   - r = hi − lo, t = r², c = r − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5)))), y = 1 − ((lo − (r·c)/(2 − c)) − hi);
 *   - k = 0 → y, else (y·2^k1)·2^k2 with k1 = k/2 truncated toward zero (trunc(k·0.5): k·0.5 is exact) and
 *     k2 = k − k1, the powers built from their exponent bits (|k1|, |k2| ≤ 538: normal numbers), as `scale`.
 * Lanes only ever hold different arguments: nothing is summed across lanes. The portable path (and any ISA this
 * file has no code for) is the Swift loop; rdd_det_exp returns 0 there. Tested bit for bit against DetMath.exp on
 * the edge values above and on random arguments (DetExpTests).
 *
 * Compiled without -march: the functions carry target(...) attributes and run only after cpuid said the CPU has
 * the ISA (rdd_gemm_selected). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"
#include <immintrin.h>

#define TGT2E __attribute__((target("avx2,fma")))
#define TGT512E __attribute__((target("avx512f,avx2,fma")))

static const double LN2HI = 6.93147180369123816490e-01, LN2LO = 1.90821492927058770002e-10;
static const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03, P3 = 6.61375632143793436117e-05,
                    P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08;
static const double HALF_LN2 = 0.5 * 0.6931471805599453;   /* as the Swift source's product (exact: a halving) */

TGT512E static inline __m512d exp8d(__m512d x) {
    const __m512d one = _mm512_set1_pd(1.0);
    __m512d ax = _mm512_abs_pd(x);
    __mmask8 big = _mm512_cmp_pd_mask(ax, _mm512_set1_pd(HALF_LN2), _CMP_GT_OQ);
    __mmask8 neg = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LT_OQ);
    __m512d half = _mm512_mask_blend_pd(neg, _mm512_set1_pd(0.5), _mm512_set1_pd(-0.5));
    __m512d kd = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(1.44269504088896338700), x), half),
                                      _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    kd = _mm512_maskz_mov_pd(big, kd);                                   /* k = 0 where |x| ≤ 0.5·ln2 */
    __m512d hi = _mm512_mask_blend_pd(big, x, _mm512_sub_pd(x, _mm512_mul_pd(kd, _mm512_set1_pd(LN2HI))));
    __m512d lo = _mm512_maskz_mov_pd(big, _mm512_mul_pd(kd, _mm512_set1_pd(LN2LO)));
    __m512d r = _mm512_sub_pd(hi, lo);
    __m512d t = _mm512_mul_pd(r, r);
    __m512d p = _mm512_add_pd(_mm512_set1_pd(P4), _mm512_mul_pd(t, _mm512_set1_pd(P5)));
    p = _mm512_add_pd(_mm512_set1_pd(P3), _mm512_mul_pd(t, p));
    p = _mm512_add_pd(_mm512_set1_pd(P2), _mm512_mul_pd(t, p));
    p = _mm512_add_pd(_mm512_set1_pd(P1), _mm512_mul_pd(t, p));
    __m512d c = _mm512_sub_pd(r, _mm512_mul_pd(t, p));
    __m512d q = _mm512_div_pd(_mm512_mul_pd(r, c), _mm512_sub_pd(_mm512_set1_pd(2.0), c));
    __m512d y = _mm512_sub_pd(one, _mm512_sub_pd(_mm512_sub_pd(lo, q), hi));
    /* scale(y, k) = (y·2^k1)·2^k2 */
    __m512d k1 = _mm512_roundscale_pd(_mm512_mul_pd(kd, _mm512_set1_pd(0.5)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512d k2 = _mm512_sub_pd(kd, k1);
    __m512i b1 = _mm512_slli_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_cvttpd_epi32(k1)), _mm512_set1_epi64(1023)), 52);
    __m512i b2 = _mm512_slli_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_cvttpd_epi32(k2)), _mm512_set1_epi64(1023)), 52);
    __m512d scaled = _mm512_mul_pd(_mm512_mul_pd(y, _mm512_castsi512_pd(b1)), _mm512_castsi512_pd(b2));
    __mmask8 k0 = _mm512_cmp_pd_mask(kd, _mm512_setzero_pd(), _CMP_EQ_OQ);
    __m512d res = _mm512_mask_blend_pd(k0, scaled, y);
    /* the early returns, in reverse order of the Swift checks so that the first one that applies wins */
    res = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(ax, _mm512_set1_pd(0x1p-28), _CMP_LT_OQ), res, _mm512_add_pd(one, x));
    res = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, _mm512_set1_pd(-745.13321910194110842), _CMP_LT_OQ), res, _mm512_setzero_pd());
    res = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, _mm512_set1_pd(709.782712893383973096), _CMP_GT_OQ), res,
                               _mm512_set1_pd(__builtin_inf()));
    res = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q), res, x);
    return res;
}

TGT512E static void exp512(const double *x, double *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm512_storeu_pd(y + i, exp8d(_mm512_loadu_pd(x + i)));
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1);
        _mm512_mask_storeu_pd(y + i, m, exp8d(_mm512_maskz_loadu_pd(m, x + i)));
    }
}

TGT2E static inline __m256d blend4(__m256d a, __m256d b, __m256d mask) { return _mm256_blendv_pd(a, b, mask); }

TGT2E static inline __m256d exp4d(__m256d x) {
    const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    __m256d ax = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
    __m256d big = _mm256_cmp_pd(ax, _mm256_set1_pd(HALF_LN2), _CMP_GT_OQ);
    __m256d neg = _mm256_cmp_pd(x, zero, _CMP_LT_OQ);
    __m256d half = blend4(_mm256_set1_pd(0.5), _mm256_set1_pd(-0.5), neg);
    __m256d kd = _mm256_round_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(1.44269504088896338700), x), half),
                                 _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    kd = _mm256_and_pd(big, kd);
    __m256d hi = blend4(x, _mm256_sub_pd(x, _mm256_mul_pd(kd, _mm256_set1_pd(LN2HI))), big);
    __m256d lo = _mm256_and_pd(big, _mm256_mul_pd(kd, _mm256_set1_pd(LN2LO)));
    __m256d r = _mm256_sub_pd(hi, lo);
    __m256d t = _mm256_mul_pd(r, r);
    __m256d p = _mm256_add_pd(_mm256_set1_pd(P4), _mm256_mul_pd(t, _mm256_set1_pd(P5)));
    p = _mm256_add_pd(_mm256_set1_pd(P3), _mm256_mul_pd(t, p));
    p = _mm256_add_pd(_mm256_set1_pd(P2), _mm256_mul_pd(t, p));
    p = _mm256_add_pd(_mm256_set1_pd(P1), _mm256_mul_pd(t, p));
    __m256d c = _mm256_sub_pd(r, _mm256_mul_pd(t, p));
    __m256d q = _mm256_div_pd(_mm256_mul_pd(r, c), _mm256_sub_pd(_mm256_set1_pd(2.0), c));
    __m256d y = _mm256_sub_pd(one, _mm256_sub_pd(_mm256_sub_pd(lo, q), hi));
    __m256d k1 = _mm256_round_pd(_mm256_mul_pd(kd, _mm256_set1_pd(0.5)), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256d k2 = _mm256_sub_pd(kd, k1);
    __m256i b1 = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(k1)), _mm256_set1_epi64x(1023)), 52);
    __m256i b2 = _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(k2)), _mm256_set1_epi64x(1023)), 52);
    __m256d scaled = _mm256_mul_pd(_mm256_mul_pd(y, _mm256_castsi256_pd(b1)), _mm256_castsi256_pd(b2));
    __m256d res = blend4(scaled, y, _mm256_cmp_pd(kd, zero, _CMP_EQ_OQ));
    res = blend4(res, _mm256_add_pd(one, x), _mm256_cmp_pd(ax, _mm256_set1_pd(0x1p-28), _CMP_LT_OQ));
    res = blend4(res, zero, _mm256_cmp_pd(x, _mm256_set1_pd(-745.13321910194110842), _CMP_LT_OQ));
    res = blend4(res, _mm256_set1_pd(__builtin_inf()), _mm256_cmp_pd(x, _mm256_set1_pd(709.782712893383973096), _CMP_GT_OQ));
    res = blend4(res, x, _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
    return res;
}

TGT2E static void exp256(const double *x, double *y, long n) {
    long i = 0;
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, exp4d(_mm256_loadu_pd(x + i)));
    if (i < n) {
        double bx[4] = {0, 0, 0, 0}, by[4];
        for (long j = i; j < n; j++) bx[j - i] = x[j];
        _mm256_storeu_pd(by, exp4d(_mm256_loadu_pd(bx)));
        for (long j = i; j < n; j++) y[j] = by[j - i];
    }
}

int rdd_det_exp(const double *x, double *y, long n) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_AVX512) { exp512(x, y, n); return 1; }
    if (isa == RDD_GEMM_AVX2 || isa == RDD_GEMM_AVX512_EMULATED) { exp256(x, y, n); return 1; }
    return 0;
}
