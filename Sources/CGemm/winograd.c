/* The transforms of Winograd F(2×2, 3×3) for one tile over all channels (Sources/Tensor/Kernels/
 * Winograd.swift has the method). Only additions and subtractions, each exactly rounded per element,
 * so the vector and portable builds give the same bits; C with `restrict` lets the compiler vectorise
 * over channels (the Swift loops, with 16 possibly aliasing pointers, were not: 50% of a Winograd
 * forward's instructions under callgrind). */
#include "CGemm.h"
#include "gemm_layout.h"
#include <string.h>

/* No a·b + c contraction into FMAs: every element keeps the Swift reference's separately rounded operations. */
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#define TGT2 __attribute__((target("avx2,fma")))
#define TGT512 __attribute__((target("avx512f,avx2,fma")))

/* v[ξ·ld + c] = (Bᵀ d B)[ξ] for c < n, with d[i·4 + j] the pointer to the channels of patch pixel (i, j). */
static inline __attribute__((always_inline))
void inputBody(float *restrict v, long ld, const float *const *d, long n) {
    const float *restrict d00 = d[0], *restrict d01 = d[1], *restrict d02 = d[2], *restrict d03 = d[3];
    const float *restrict d10 = d[4], *restrict d11 = d[5], *restrict d12 = d[6], *restrict d13 = d[7];
    const float *restrict d20 = d[8], *restrict d21 = d[9], *restrict d22 = d[10], *restrict d23 = d[11];
    const float *restrict d30 = d[12], *restrict d31 = d[13], *restrict d32 = d[14], *restrict d33 = d[15];
    for (long c = 0; c < n; c++) {
        float a0 = d00[c] - d20[c], a1 = d01[c] - d21[c], a2 = d02[c] - d22[c], a3 = d03[c] - d23[c];
        float b0 = d10[c] + d20[c], b1 = d11[c] + d21[c], b2 = d12[c] + d22[c], b3 = d13[c] + d23[c];
        float e0 = d20[c] - d10[c], e1 = d21[c] - d11[c], e2 = d22[c] - d12[c], e3 = d23[c] - d13[c];
        float f0 = d10[c] - d30[c], f1 = d11[c] - d31[c], f2 = d12[c] - d32[c], f3 = d13[c] - d33[c];
        v[0 * ld + c] = a0 - a2; v[1 * ld + c] = a1 + a2; v[2 * ld + c] = a2 - a1; v[3 * ld + c] = a1 - a3;
        v[4 * ld + c] = b0 - b2; v[5 * ld + c] = b1 + b2; v[6 * ld + c] = b2 - b1; v[7 * ld + c] = b1 - b3;
        v[8 * ld + c] = e0 - e2; v[9 * ld + c] = e1 + e2; v[10 * ld + c] = e2 - e1; v[11 * ld + c] = e1 - e3;
        v[12 * ld + c] = f0 - f2; v[13 * ld + c] = f1 + f2; v[14 * ld + c] = f2 - f1; v[15 * ld + c] = f1 - f3;
    }
}

/* o[p][c] (=, +=, or = · + bias[c] per mode 0, 1, 2) of the 2×2 output pixels p = (Aᵀ M A)[p], M read
   as m[ξ·ld + c]; o[p] == 0 for a pixel outside the image. */
static inline __attribute__((always_inline))
void outputBody(const float *restrict m, long ld, float *const *o, int mode, const float *restrict bias, long n) {
    float *restrict o00 = o[0], *restrict o01 = o[1], *restrict o10 = o[2], *restrict o11 = o[3];
    for (long c = 0; c < n; c++) {
        float p0 = m[0 * ld + c] + m[1 * ld + c] + m[2 * ld + c], q0 = m[1 * ld + c] - m[2 * ld + c] - m[3 * ld + c];
        float p1 = m[4 * ld + c] + m[5 * ld + c] + m[6 * ld + c], q1 = m[5 * ld + c] - m[6 * ld + c] - m[7 * ld + c];
        float p2 = m[8 * ld + c] + m[9 * ld + c] + m[10 * ld + c], q2 = m[9 * ld + c] - m[10 * ld + c] - m[11 * ld + c];
        float p3 = m[12 * ld + c] + m[13 * ld + c] + m[14 * ld + c], q3 = m[13 * ld + c] - m[14 * ld + c] - m[15 * ld + c];
        float y00 = p0 + p1 + p2, y01 = q0 + q1 + q2, y10 = p1 - p2 - p3, y11 = q1 - q2 - q3;
        if (mode == 0) {
            o00[c] = y00; if (o01) o01[c] = y01; if (o10) o10[c] = y10; if (o11) o11[c] = y11;
        } else if (mode == 1) {
            o00[c] += y00; if (o01) o01[c] += y01; if (o10) o10[c] += y10; if (o11) o11[c] += y11;
        } else {
            o00[c] = y00 + bias[c]; if (o01) o01[c] = y01 + bias[c]; if (o10) o10[c] = y10 + bias[c]; if (o11) o11[c] = y11 + bias[c];
        }
    }
}

/* Specialised on the mode and on which pixels exist, so that every loop is branch-free and vectorises. */
#define OUTPUT_VARIANTS(ATTR, NAME)                                                                          \
ATTR static void NAME(const float *m, long ld, float *const *o, int mode, const float *bias, long n) {          \
    int all = o[1] && o[2] && o[3];                                                                          \
    if (all) {                                                                                               \
        if (mode == 0) outputBody(m, ld, o, 0, bias, n);                                                     \
        else if (mode == 1) outputBody(m, ld, o, 1, bias, n);                                                \
        else outputBody(m, ld, o, 2, bias, n);                                                               \
    } else outputBody(m, ld, o, mode, bias, n);                                                              \
}

/* The same bodies compiled three times: the compiler vectorises the channel loop over 16-float zmm
   (AVX-512F), 8-float ymm (AVX2) or 4-float xmm (portable: SSE2, x86-64's baseline) registers. Each
   output element is the same sequence of exactly rounded additions whatever the width (tested bit for
   bit across the three in WinogradTests.testTransformsSameBitsOnEveryISA). */
TGT512 static void inputAVX512(float *v, long ld, const float *const *d, long n) { inputBody(v, ld, d, n); }
TGT2 static void inputAVX2(float *v, long ld, const float *const *d, long n) { inputBody(v, ld, d, n); }
static void inputPortable(float *v, long ld, const float *const *d, long n) { inputBody(v, ld, d, n); }
OUTPUT_VARIANTS(TGT512, outputAVX512)
OUTPUT_VARIANTS(TGT2, outputAVX2)
OUTPUT_VARIANTS(, outputPortable)

void rdd_winograd_input(float *v, long ld, const float *const *d, long n) {
    switch (rdd_gemm_selected()) {
    case RDD_GEMM_PORTABLE: inputPortable(v, ld, d, n); break;
    case RDD_GEMM_AVX512: inputAVX512(v, ld, d, n); break;
    default: inputAVX2(v, ld, d, n);
    }
}

void rdd_winograd_output(const float *m, long ld, float *const *o, int mode, const float *bias, long n) {
    switch (rdd_gemm_selected()) {
    case RDD_GEMM_PORTABLE: outputPortable(m, ld, o, mode, bias, n); break;
    case RDD_GEMM_AVX512: outputAVX512(m, ld, o, mode, bias, n); break;
    default: outputAVX2(m, ld, o, mode, bias, n);
    }
}

/* ---- the weight transform, written straight into the GEMM's packed-B layout -----------------------
 * U_ξ = G g Gᵀ for the kernels g of output channel o (< cout, GEMM column) and input channel i (GEMM row,
 * i0 ≤ i < i1), with exactly Winograd.transformWeight's operations: Float64 t = G·g by columns b,
 *     t0b = k0,  t1b = ½·((k0 + k1) + k2),  t2b = ½·((k0 − k1) + k2),  t3b = k2,
 * then by rows a, U[a][0] = t_a0, U[a][1] = ½·((t_a0 + t_a1) + t_a2), U[a][2] = ½·((t_a0 − t_a1) + t_a2),
 * U[a][3] = t_a2, each rounded once to Float. Every element is its own short sequence of IEEE operations
 * (lanes run over output channels, never along one sum), so the three builds give the same bits.
 * Matrix ξ = 4a + b is op(B) of the ξ-th product (K = cin × N = cout) in rdd_pack_b's layout, at
 * dst + ξ·rdd_packed_b_floats(cout, cin): transform and packing are one pass (they were a Swift loop over
 * closures plus 16 packing passes, single-threaded: up to 44% of a 256-channel 4×4 layer's fwd+bwd).
 * g(o, i, a, b) = w[o·so + i·si + a·sa + b·sb]. */
static inline __attribute__((always_inline))
void weightBody(float *dst, const float *w, long cin, long cout, long so, long si, long sa, long sb, long i0, long i1) {
    const long per = rddPadded(cout) * cin, KC = rddKBlock(cin);
    for (long i = i0; i < i1; i++) {
        long pc = i / KC * KC, kc = cin - pc < KC ? cin - pc : KC;
        for (long jc = 0; jc < cout; jc += NC) {
            long nc = cout - jc < NC ? cout - jc : NC;
            float *blk = dst + jc * cin + rddPadded(nc) * pc + (i - pc) * NR;
            for (long p = 0; p < nc; p += NR) {
                float u[16][NR];
                long width = nc - p < NR ? nc - p : NR;
                for (long j = 0; j < width; j++) {
                    const float *g = w + (jc + p + j) * so + i * si;
                    double t[4][3];
                    for (int b = 0; b < 3; b++) {
                        double k0 = g[b * sb], k1 = g[sa + b * sb], k2 = g[2 * sa + b * sb];
                        t[0][b] = k0;
                        t[1][b] = 0.5 * (k0 + k1 + k2);
                        t[2][b] = 0.5 * (k0 - k1 + k2);
                        t[3][b] = k2;
                    }
                    for (int a = 0; a < 4; a++) {
                        double t0 = t[a][0], t1 = t[a][1], t2 = t[a][2];
                        u[4 * a][j] = (float)t0;
                        u[4 * a + 1][j] = (float)(0.5 * (t0 + t1 + t2));
                        u[4 * a + 2][j] = (float)(0.5 * (t0 - t1 + t2));
                        u[4 * a + 3][j] = (float)t2;
                    }
                }
                for (long j = width; j < NR; j++) for (int x = 0; x < 16; x++) u[x][j] = 0;   /* columns past N */
                float *d = blk + (p / NR) * kc * NR;
                for (int x = 0; x < 16; x++) memcpy(d + x * per, u[x], sizeof u[x]);
            }
        }
    }
}

TGT512 static void weightAVX512(float *d, const float *w, long cin, long cout, long so, long si, long sa, long sb, long i0, long i1) {
    weightBody(d, w, cin, cout, so, si, sa, sb, i0, i1);
}
TGT2 static void weightAVX2(float *d, const float *w, long cin, long cout, long so, long si, long sa, long sb, long i0, long i1) {
    weightBody(d, w, cin, cout, so, si, sa, sb, i0, i1);
}
static void weightPortable(float *d, const float *w, long cin, long cout, long so, long si, long sa, long sb, long i0, long i1) {
    weightBody(d, w, cin, cout, so, si, sa, sb, i0, i1);
}

void rdd_winograd_weight_packed(float *dst, const float *w, long cin, long cout, int flipped, long i0, long i1) {
    /* forward: w is (cout, cin, 3, 3), g(o, i, a, b) = w[o, i, a, b];
       flipped (the input gradient's transposed convolution): w is (cin, cout, 3, 3), g(o, i, a, b) = w[i, o, 2 − a, 2 − b]. */
    long so = flipped ? 9 : cin * 9, si = flipped ? cout * 9 : 9, sa = flipped ? -3 : 3, sb = flipped ? -1 : 1;
    const float *base = flipped ? w + 8 : w;
    if (cin <= 0 || cout <= 0 || i0 >= i1) return;
    switch (rdd_gemm_selected()) {
    case RDD_GEMM_PORTABLE: weightPortable(dst, base, cin, cout, so, si, sa, sb, i0, i1); break;
    case RDD_GEMM_AVX512: weightAVX512(dst, base, cin, cout, so, si, sa, sb, i0, i1); break;
    default: weightAVX2(dst, base, cin, cout, so, si, sa, sb, i0, i1);
    }
}
