/* Adam's element update without weight decay (Sources/NN/Optim.swift, `Adam.update`), vectorised:
 *   m ← b1·m + (1 − b1)·g,  v ← b2·v + ((1 − b2)·g)·g,  p ← p − (stepSize·m) / (√v / bc2Sqrt + eps)
 * — each element the Swift loop's IEEE operations in its order (contraction is off in this file: no FMA; √ and ÷ are
 * correctly rounded in every vector width), elements independent of each other, so any vector width gives the Swift
 * loop's bits. The Swift loop stays the portable path and the weight-decay variants; tested bit for bit in
 * DistillStepKernelTests. Compiled without -march: the instantiations carry target(...) attributes and run only
 * after cpuid said the CPU has the ISA (rdd_gemm_selected). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"

#include <immintrin.h>

/* One element, scalar (the tails): √ by sqrtss, correctly rounded as the vector √ and Swift's squareRoot(). */
__attribute__((target("avx2,fma")))
static inline void adam1(float *p, const float *g, float *m, float *v, float b1, float omb1, float b2, float omb2,
                         float stepSize, float bc2Sqrt, float eps) {
    float gj = *g;
    float mj = b1 * *m + omb1 * gj;
    float vj = b2 * *v + omb2 * gj * gj;
    *m = mj; *v = vj;
    float sq = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(vj)));
    *p -= stepSize * mj / (sq / bc2Sqrt + eps);
}

__attribute__((target("avx512f,avx2,fma")))
static void adam512(float *p, const float *g, float *m, float *v, long n,
                    float b1, float b2, float stepSize, float bc2Sqrt, float eps) {
    const float omb1 = 1 - b1, omb2 = 1 - b2;
    const __m512 B1 = _mm512_set1_ps(b1), OB1 = _mm512_set1_ps(omb1), B2 = _mm512_set1_ps(b2), OB2 = _mm512_set1_ps(omb2);
    const __m512 S = _mm512_set1_ps(stepSize), C = _mm512_set1_ps(bc2Sqrt), E = _mm512_set1_ps(eps);
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 gj = _mm512_loadu_ps(g + j);
        __m512 mj = _mm512_add_ps(_mm512_mul_ps(B1, _mm512_loadu_ps(m + j)), _mm512_mul_ps(OB1, gj));
        __m512 vj = _mm512_add_ps(_mm512_mul_ps(B2, _mm512_loadu_ps(v + j)), _mm512_mul_ps(_mm512_mul_ps(OB2, gj), gj));
        _mm512_storeu_ps(m + j, mj); _mm512_storeu_ps(v + j, vj);
        __m512 step = _mm512_div_ps(_mm512_mul_ps(S, mj), _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vj), C), E));
        _mm512_storeu_ps(p + j, _mm512_sub_ps(_mm512_loadu_ps(p + j), step));
    }
    for (; j < n; j++) adam1(p + j, g + j, m + j, v + j, b1, omb1, b2, omb2, stepSize, bc2Sqrt, eps);
}

__attribute__((target("avx2,fma")))
static void adam256(float *p, const float *g, float *m, float *v, long n,
                    float b1, float b2, float stepSize, float bc2Sqrt, float eps) {
    const float omb1 = 1 - b1, omb2 = 1 - b2;
    const __m256 B1 = _mm256_set1_ps(b1), OB1 = _mm256_set1_ps(omb1), B2 = _mm256_set1_ps(b2), OB2 = _mm256_set1_ps(omb2);
    const __m256 S = _mm256_set1_ps(stepSize), C = _mm256_set1_ps(bc2Sqrt), E = _mm256_set1_ps(eps);
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 gj = _mm256_loadu_ps(g + j);
        __m256 mj = _mm256_add_ps(_mm256_mul_ps(B1, _mm256_loadu_ps(m + j)), _mm256_mul_ps(OB1, gj));
        __m256 vj = _mm256_add_ps(_mm256_mul_ps(B2, _mm256_loadu_ps(v + j)), _mm256_mul_ps(_mm256_mul_ps(OB2, gj), gj));
        _mm256_storeu_ps(m + j, mj); _mm256_storeu_ps(v + j, vj);
        __m256 step = _mm256_div_ps(_mm256_mul_ps(S, mj), _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vj), C), E));
        _mm256_storeu_ps(p + j, _mm256_sub_ps(_mm256_loadu_ps(p + j), step));
    }
    for (; j < n; j++) adam1(p + j, g + j, m + j, v + j, b1, omb1, b2, omb2, stepSize, bc2Sqrt, eps);
}

int rdd_adam_update(float *p, const float *g, float *m, float *v, long n,
                    float b1, float b2, float stepSize, float bc2Sqrt, float eps) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_AVX512) { adam512(p, g, m, v, n, b1, b2, stepSize, bc2Sqrt, eps); return 1; }
    if (isa == RDD_GEMM_AVX2 || isa == RDD_GEMM_AVX512_EMULATED) { adam256(p, g, m, v, n, b1, b2, stepSize, bc2Sqrt, eps); return 1; }
    return 0;
}

/* y[r·c + k] = x[r·c + k]·scale[k] + shift[k] (BatchNorm's forward, Sources/Tensor/Ops/Normalization.swift): a product
 * rounded, then a sum (contraction is off in this file), element by element — any vector width gives the Swift loop's
 * bits. The Swift loop stayed scalar (its pointers may alias as far as the compiler knows). */
#define AFFINE_BODY for (long r = 0; r < rows; r++) { const float *xr = x + r * c; float *yr = y + r * c; \
                        for (long k = 0; k < c; k++) yr[k] = xr[k] * scale[k] + shift[k]; }
__attribute__((target("avx512f,avx2,fma")))
static void affine512(const float *restrict x, float *restrict y, long rows, long c, const float *restrict scale,
                      const float *restrict shift) { AFFINE_BODY }
__attribute__((target("avx2,fma")))
static void affine256(const float *restrict x, float *restrict y, long rows, long c, const float *restrict scale,
                      const float *restrict shift) { AFFINE_BODY }

int rdd_channel_affine(const float *x, float *y, long rows, long c, const float *scale, const float *shift) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_AVX512) { affine512(x, y, rows, c, scale, shift); return 1; }
    if (isa == RDD_GEMM_AVX2 || isa == RDD_GEMM_AVX512_EMULATED) { affine256(x, y, rows, c, scale, shift); return 1; }
    return 0;
}
