/* fastExp (Sources/Tensor/Kernels/FastMath.swift) on vector lanes, and lane masks for loop tails, for the C kernels that replace Swift
 * loops calling it (softmax.c, groupnorm.c). Every step is the Swift function's IEEE operation, in its
 * order (no FMA: the including file switches contraction off; min/max with Swift's operand order and
 * NaN behaviour), so each lane gives the scalar function's bits (SoftmaxKernelTests, GroupNormKernelTests). */
#ifndef RDD_FASTEXP_H
#define RDD_FASTEXP_H
#include <immintrin.h>

#define TGT2 __attribute__((target("avx2,fma")))
#define TGT512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* fastExp's constants (FastMath.swift; the same Float bit patterns as Swift's literals). */
#define EXP_LO (-87.33654f)
#define EXP_HI 88.0f
#define LOG2E 1.44269504088896341f
#define SHIFT 12582912.0f          /* 1.5·2²³ */
#define LN2_HI 0.693359375f
#define LN2_LO 2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

/* fastExp on 16 lanes. Swift's max(x, lo) = (lo >= x) ? lo : x is max_ps(lo, x) (= (lo > x) ? lo : x,
   NaN → x; the two differ only when x == lo, same bits); min(v, hi) = (hi < v) ? hi : v is min_ps(hi, v). */
TGT512 INLINE __m512 exp16(__m512 x) {
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(EXP_HI), _mm512_max_ps(_mm512_set1_ps(EXP_LO), x));
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)), _mm512_set1_ps(SHIFT));
    __m512 n = _mm512_sub_ps(shifted, _mm512_set1_ps(SHIFT));
    __m512 r = _mm512_add_ps(_mm512_sub_ps(xc, _mm512_mul_ps(n, _mm512_set1_ps(LN2_HI))), _mm512_mul_ps(n, _mm512_set1_ps(LN2_LO)));
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P2));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(P5));
    __m512 er = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    __m512i k = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    __m512 y = _mm512_mul_ps(er, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23)));
    __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_LT_OQ);   /* x < lo (false for NaN) → 0 */
    return _mm512_mask_blend_ps(under, y, _mm512_setzero_ps());
}

TGT2 INLINE __m256 exp8(__m256 x) {
    __m256 xc = _mm256_min_ps(_mm256_set1_ps(EXP_HI), _mm256_max_ps(_mm256_set1_ps(EXP_LO), x));
    __m256 shifted = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)), _mm256_set1_ps(SHIFT));
    __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(SHIFT));
    __m256 r = _mm256_add_ps(_mm256_sub_ps(xc, _mm256_mul_ps(n, _mm256_set1_ps(LN2_HI))), _mm256_mul_ps(n, _mm256_set1_ps(LN2_LO)));
    __m256 p = _mm256_set1_ps(P0);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(P5));
    __m256 er = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    __m256i k = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    __m256 y = _mm256_mul_ps(er, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23)));
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    return _mm256_blendv_ps(y, _mm256_setzero_ps(), under);
}

/* Lane masks of the first min(left, width) lanes, for the tails of the C kernels' loops. */
INLINE __mmask16 tail16(long left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }
/* Lane mask of the first min(left, 8) lanes (all bits set = lane on, for maskload/maskstore/gather). */
TGT2 INLINE __m256i tail8(long left) {
    int l = left >= 8 ? 8 : (int)left;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(l), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
