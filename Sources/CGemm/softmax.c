/* Softmax over contiguous rows (the attention's rows softmax(q·kᵀ/√C) over keys, and any softmax or
 * log-softmax along the last axis): Sources/Tensor/Ops/Softmax.swift calls these for inner == 1.
 *
 * The same bits as the Swift loops they replace (softmaxRows and the softmax backward, which remain
 * the portable path and the reference of SoftmaxKernelTests), on every ISA and any row split:
 *   - max:     m = max_j x_j. Swift's fold m = (x_j >= m) ? x_j : m skips NaN and ends at a value equal
 *              to the maximum; a vector max (NaN lanes keep the accumulator) ends at the same value. Only
 *              the sign of a zero maximum can differ, and it cannot reach an output: x − (±0) differ at
 *              most in the sign of a zero, fastExp(±0) = 1 exactly, and log(z) + (±0) = log(z) unless
 *              log(z) = +0, where both give +0.
 *   - exp:     e_j = fastExp(x_j − m), elementwise, every step of FastMath.swift's fastExp as the same
 *              IEEE operation (no FMA: contraction is off in this file; min/max with Swift's operand
 *              order and NaN behaviour), so each lane gives the scalar result's bits.
 *   - sum:     z = ((0 + e_0) + e_1) + … in j order — a serial chain per row, which cannot be vectorised
 *              along the row without reassociating. Instead one vector lane carries one row: 16 (AVX-512)
 *              or 8 (AVX2) rows advance together, lane r adding e_r[j] (a gather) at step j, so every
 *              row's sum is still the in-order chain.
 *   - scale:   y_j = e_j · (1/z) (one Float division per row, then multiplies).
 *   - backward: dot = Σ_j dy_j·y_j in j order (product rounded, then added: no FMA), one row per lane
 *              as above; dx_j (=, +=) y_j·(dy_j − dot).
 * Why: the Swift loops ran fastExp scalar (the strided (outer, n, inner) indexing kept them from
 * vectorising) and their sums were one latency-bound chain: softmax was 9–10% of the U-Net forward on
 * the AVX-512 Xeon (docs/benchmarks.md, "An AVX-512 machine").
 *
 * Compiled without -march: the functions carry target(...) attributes and run only after cpuid said
 * the CPU has the ISA (rdd_gemm_selected). */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#include "CGemm.h"

#include "fastexp.h"

/* ---- AVX-512F: 16 lanes ------------------------------------------------------------------------------ */


/* Rows r0 .. r0+g−1 (g ≤ 16) of n floats: y = e (see the top), m[r], z[r]. */
TGT512 static void expRows512(const float *x, float *y, int g, long n, float *m, float *z) {
    for (int r = 0; r < g; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m512 ninf = _mm512_set1_ps(-__builtin_inff());
        __m512 a0 = ninf, a1 = ninf;
        long j = 0;
        for (; j + 32 <= n; j += 32) {   /* two accumulators: NaN lanes keep them (max_ps returns its second operand) */
            a0 = _mm512_max_ps(_mm512_loadu_ps(xr + j), a0);
            a1 = _mm512_max_ps(_mm512_loadu_ps(xr + j + 16), a1);
        }
        for (; j < n; j += 16) a0 = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, tail16(n - j), xr + j), a0);
        float mr = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        m[r] = mr;
        __m512 mv = _mm512_set1_ps(mr);
        for (j = 0; j < n; j += 16) {
            __mmask16 k = tail16(n - j);
            _mm512_mask_storeu_ps(yr + j, k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + j), mv)));
        }
    }
    /* z_r = in-order sum of row r, lane r carrying row r (rows past g masked off). */
    __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)n));
    __mmask16 live = tail16(g);
    __m512 zv = _mm512_setzero_ps();
    for (long j = 0; j < n; j++)
        zv = _mm512_add_ps(zv, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, y + j, 4));
    float zs[16];
    _mm512_storeu_ps(zs, zv);
    for (int r = 0; r < g; r++) z[r] = zs[r];
}

TGT512 static void scaleRows512(float *y, int g, long n, const float *z) {
    for (int r = 0; r < g; r++) {
        float *yr = y + r * n;
        __m512 iz = _mm512_set1_ps(1.0f / z[r]);
        for (long j = 0; j < n; j += 16) {
            __mmask16 k = tail16(n - j);
            _mm512_mask_storeu_ps(yr + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, yr + j), iz));
        }
    }
}

TGT512 static void backwardRows512(const float *y, const float *dy, float *dx, int g, long n, int accumulate) {
    __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)n));
    __mmask16 live = tail16(g);
    __m512 dv = _mm512_setzero_ps();
    for (long j = 0; j < n; j++) {
        __m512 a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, dy + j, 4);
        __m512 b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, y + j, 4);
        dv = _mm512_add_ps(dv, _mm512_mul_ps(a, b));
    }
    float dots[16];
    _mm512_storeu_ps(dots, dv);
    for (int r = 0; r < g; r++) {
        const float *yr = y + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n;
        __m512 dot = _mm512_set1_ps(dots[r]);
        for (long j = 0; j < n; j += 16) {
            __mmask16 k = tail16(n - j);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, yr + j), _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dyr + j), dot));
            if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, dxr + j), v);
            _mm512_mask_storeu_ps(dxr + j, k, v);
        }
    }
}

/* ---- AVX2: 8 lanes (the same operations; tails through lane masks) ------------------------------------ */


TGT2 static void expRows256(const float *x, float *y, int g, long n, float *m, float *z) {
    for (int r = 0; r < g; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        __m256 ninf = _mm256_set1_ps(-__builtin_inff());
        __m256 a0 = ninf, a1 = ninf;
        long j = 0;
        for (; j + 16 <= n; j += 16) {
            a0 = _mm256_max_ps(_mm256_loadu_ps(xr + j), a0);
            a1 = _mm256_max_ps(_mm256_loadu_ps(xr + j + 8), a1);
        }
        for (; j < n; j += 8) {
            __m256i k = tail8(n - j);
            __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(xr + j, k), _mm256_castsi256_ps(k));
            a0 = _mm256_max_ps(v, a0);
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_max_ps(a0, a1));
        float mr = lanes[0];
        for (int i = 1; i < 8; i++) mr = lanes[i] > mr ? lanes[i] : mr;
        m[r] = mr;
        __m256 mv = _mm256_set1_ps(mr);
        for (j = 0; j < n; j += 8) {
            __m256i k = tail8(n - j);
            _mm256_maskstore_ps(yr + j, k, exp8(_mm256_sub_ps(_mm256_maskload_ps(xr + j, k), mv)));
        }
    }
    __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)n));
    __m256 live = _mm256_castsi256_ps(tail8(g));
    __m256 zv = _mm256_setzero_ps();
    for (long j = 0; j < n; j++)
        zv = _mm256_add_ps(zv, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), y + j, idx, live, 4));
    float zs[8];
    _mm256_storeu_ps(zs, zv);
    for (int r = 0; r < g; r++) z[r] = zs[r];
}

TGT2 static void scaleRows256(float *y, int g, long n, const float *z) {
    for (int r = 0; r < g; r++) {
        float *yr = y + r * n;
        __m256 iz = _mm256_set1_ps(1.0f / z[r]);
        for (long j = 0; j < n; j += 8) {
            __m256i k = tail8(n - j);
            _mm256_maskstore_ps(yr + j, k, _mm256_mul_ps(_mm256_maskload_ps(yr + j, k), iz));
        }
    }
}

TGT2 static void backwardRows256(const float *y, const float *dy, float *dx, int g, long n, int accumulate) {
    __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)n));
    __m256 live = _mm256_castsi256_ps(tail8(g));
    __m256 dv = _mm256_setzero_ps();
    for (long j = 0; j < n; j++) {
        __m256 a = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), dy + j, idx, live, 4);
        __m256 b = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), y + j, idx, live, 4);
        dv = _mm256_add_ps(dv, _mm256_mul_ps(a, b));
    }
    float dots[8];
    _mm256_storeu_ps(dots, dv);
    for (int r = 0; r < g; r++) {
        const float *yr = y + r * n, *dyr = dy + r * n;
        float *dxr = dx + r * n;
        __m256 dot = _mm256_set1_ps(dots[r]);
        for (long j = 0; j < n; j += 8) {
            __m256i k = tail8(n - j);
            __m256 v = _mm256_mul_ps(_mm256_maskload_ps(yr + j, k), _mm256_sub_ps(_mm256_maskload_ps(dyr + j, k), dot));
            if (accumulate) v = _mm256_add_ps(_mm256_maskload_ps(dxr + j, k), v);
            _mm256_maskstore_ps(dxr + j, k, v);
        }
    }
}

/* ---- entry points ------------------------------------------------------------------------------------- */

/* Gather offsets r·n are 32-bit: rows of up to 2²⁶ floats (far beyond any attention row). */
#define MAX_ROW (1L << 26)

int rdd_softmax_rows(const float *x, float *y, long rows, long n, int normalise, float *m, float *z) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_PORTABLE || n <= 0 || n > MAX_ROW) return 0;
    int width = isa == RDD_GEMM_AVX512 ? 16 : 8;
    float mb[16], zb[16];
    for (long r0 = 0; r0 < rows; r0 += width) {
        int g = rows - r0 < width ? (int)(rows - r0) : width;
        const float *xg = x + r0 * n;
        float *yg = y + r0 * n;
        if (width == 16) expRows512(xg, yg, g, n, mb, zb); else expRows256(xg, yg, g, n, mb, zb);
        if (normalise) { if (width == 16) scaleRows512(yg, g, n, zb); else scaleRows256(yg, g, n, zb); }
        for (int r = 0; r < g; r++) {
            if (m) m[r0 + r] = mb[r];
            if (z) z[r0 + r] = zb[r];
        }
    }
    return 1;
}

int rdd_softmax_backward_rows(const float *y, const float *dy, float *dx, long rows, long n, int accumulate) {
    int isa = rdd_gemm_selected();
    if (isa == RDD_GEMM_PORTABLE || n <= 0 || n > MAX_ROW) return 0;
    int width = isa == RDD_GEMM_AVX512 ? 16 : 8;
    for (long r0 = 0; r0 < rows; r0 += width) {
        int g = rows - r0 < width ? (int)(rows - r0) : width;
        if (width == 16) backwardRows512(y + r0 * n, dy + r0 * n, dx + r0 * n, g, n, accumulate);
        else backwardRows256(y + r0 * n, dy + r0 * n, dx + r0 * n, g, n, accumulate);
    }
    return 1;
}
