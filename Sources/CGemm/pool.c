/* One output pixel of k×k max or average pooling over NHWC images (Sources/Tensor/Ops/Pool3x3.swift calls
 * these inside its loops over output pixels): the window's in-image elements, ny rows × nx pixels, start at
 * x, `rowStride` floats between window rows and `pixStride` between neighbouring pixels; C channels.
 *
 * The same bits as the Swift loops they replace (which remain the portable path and, verbatim, the
 * reference of PoolKernelTests), element by element and in the same window order (rows, then pixels):
 *   - max: m = −inf; for each element v: m = v if (v > m or v is NaN) — an ordered compare and an
 *          unordered self-compare select the lanes (masked move / blend): a NaN, once taken, is replaced
 *          only by a later NaN, and of equal values (±0 included) the first stays — as in the loop.
 *   - avg: s = +0; s = s + v for each element in order; y = s · inv, inv = 1/d from the caller.
 * Channels are independent, so vector lanes along them change no element's operations or their order.
 * Why: the Swift loops stayed scalar (their pointers may alias as far as the compiler knows): max pooling
 * was 12% of the Inception forward's CPU on the AVX-512 Xeon (docs/benchmarks.md, session 16).
 *
 * Compiled without -march: the functions carry target(...) attributes and run only after cpuid said the
 * CPU has the ISA (rdd_gemm_selected). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"

#include <immintrin.h>
#include <math.h>

#define TGT512 __attribute__((target("avx512f,avx2,fma")))
#define TGT2 __attribute__((target("avx2,fma")))

/* The loop's scalar step, for channel tails of the AVX2 path. */
static inline float maxStep(float m, float v) { return (v > m || isnan(v)) ? v : m; }

TGT512 static void max512(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride) {
    for (long c = 0; c < C; c += 16) {
        __mmask16 k = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1);
        __m512 m = _mm512_set1_ps(-__builtin_inff());
        for (int iy = 0; iy < ny; iy++) {
            const float *row = x + iy * rowStride + c;
            for (int ix = 0; ix < nx; ix++) {
                __m512 v = _mm512_maskz_loadu_ps(k, row + ix * pixStride);
                __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                m = _mm512_mask_mov_ps(m, take, v);
            }
        }
        _mm512_mask_storeu_ps(y + c, k, m);
    }
}

TGT512 static void avg512(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride, float inv) {
    for (long c = 0; c < C; c += 16) {
        __mmask16 k = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1);
        __m512 s = _mm512_setzero_ps();
        for (int iy = 0; iy < ny; iy++) {
            const float *row = x + iy * rowStride + c;
            for (int ix = 0; ix < nx; ix++) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(k, row + ix * pixStride));
        }
        _mm512_mask_storeu_ps(y + c, k, _mm512_mul_ps(s, _mm512_set1_ps(inv)));
    }
}

TGT2 static void max256(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride) {
    long c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 m = _mm256_set1_ps(-__builtin_inff());
        for (int iy = 0; iy < ny; iy++) {
            const float *row = x + iy * rowStride + c;
            for (int ix = 0; ix < nx; ix++) {
                __m256 v = _mm256_loadu_ps(row + ix * pixStride);
                __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
                m = _mm256_blendv_ps(m, v, take);
            }
        }
        _mm256_storeu_ps(y + c, m);
    }
    for (; c < C; c++) {
        float m = -__builtin_inff();
        for (int iy = 0; iy < ny; iy++) for (int ix = 0; ix < nx; ix++) m = maxStep(m, x[iy * rowStride + ix * pixStride + c]);
        y[c] = m;
    }
}

TGT2 static void avg256(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride, float inv) {
    long c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 s = _mm256_setzero_ps();
        for (int iy = 0; iy < ny; iy++) {
            const float *row = x + iy * rowStride + c;
            for (int ix = 0; ix < nx; ix++) s = _mm256_add_ps(s, _mm256_loadu_ps(row + ix * pixStride));
        }
        _mm256_storeu_ps(y + c, _mm256_mul_ps(s, _mm256_set1_ps(inv)));
    }
    for (; c < C; c++) {
        float s = 0;
        for (int iy = 0; iy < ny; iy++) for (int ix = 0; ix < nx; ix++) s = s + x[iy * rowStride + ix * pixStride + c];
        y[c] = s * inv;
    }
}

int rdd_pool_max_pixel(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_AVX512) { max512(y, x, C, ny, nx, rowStride, pixStride); return 1; }
    if (isa == RDD_GEMM_AVX2 || isa == RDD_GEMM_AVX512_EMULATED) { max256(y, x, C, ny, nx, rowStride, pixStride); return 1; }
    return 0;
}

int rdd_pool_avg_pixel(float *y, const float *x, long C, int ny, int nx, long rowStride, long pixStride, float inv) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_AVX512) { avg512(y, x, C, ny, nx, rowStride, pixStride, inv); return 1; }
    if (isa == RDD_GEMM_AVX2 || isa == RDD_GEMM_AVX512_EMULATED) { avg256(y, x, C, ny, nx, rowStride, pixStride, inv); return 1; }
    return 0;
}
