/* Our single-precision GEMM: every product of training, sampling and evaluation (docs/architecture.md,
 * "Kernels and determinism").
 *
 *   C (M×N) = alpha · op(A) (M×K) · op(B) (K×N) + beta·C,   row-major, op = identity or transpose.
 *
 * Why our own: OpenBLAS (DYNAMIC_ARCH) picks its kernels per CPU, so its sums round differently on a
 * Zen 3, a Zen 4 with AVX-512 or a Skylake, and a committed result did not regenerate bit for bit on
 * another machine (issue 23). It was also slower on the U-Net's products: this kernel measured ~87-94
 * GFLOP/s per core against OpenBLAS 0.3.21's 78-84 on the conv shapes (docs/benchmarks.md), mainly
 * because it never copies A (the lowered activations) and reads it in place.
 *
 * Method (the BLIS/Goto scheme, with A read in place):
 *   - K is cut into near-equal blocks of at most KCMAX (a function of K only); N into blocks of at most
 *     NC columns. For each (N block, K block), op(B)'s block is packed into column panels of NR = 16
 *     floats per k (zero-padded past N); alpha ≠ 1 is folded into the packed copy.
 *   - A is NOT packed: a(r, k) is read where it is. A micro-kernel ("tile") runs h rows × 16·np columns:
 *     for each k it broadcasts a(r, k) and does c[r][j] = fma(a(r, k), b(k, j), c[r][j]).
 *   - Loop order: N block → K block (pack B) → MC rows → panel (group) → row tile → micro-kernel.
 *     The first K block stores the tile (beta 0) or adds it to C, later blocks add.
 *   - Edges: fewer rows than the tile height use the same kernel with h rows; a last panel of fewer
 *     than 16 columns goes through a stack tile of C (the packed columns past N are zero), or on AVX-512F
 *     straight into C with masked loads and stores (the same arithmetic: edgeAVX512); a last panel of few
 *     columns (≤ 8 on AVX-512F, ≤ 6 on AVX2) runs with the rows along the lanes instead (narrowAVX512,
 *     narrowAVX2: one FMA per real column instead of one per row — the same FMA chain per element).
 *
 * One accumulation order on every instruction set. Every C element is
 *     C = (…((P_1 [+ C_old]) + P_2) + …) + P_nb,   P_b = fma chain over k of K block b, starting at 0,
 * in exactly this order whatever the ISA, the tile shape, the row split or the thread: the ISAs differ
 * only in how many elements advance side by side (16 columns × 6 rows in ymm registers for AVX2, up to
 * 32 columns × 12 rows in zmm registers for AVX-512F, one at a time with fmaf() for the portable path).
 * IEEE fused multiply-add and addition are exactly rounded, so the three give identical bits
 * (tested: GemmKernelTests). beta ∉ {0, 1} first scales C by beta (then beta = 1).
 *
 * Compiled without -march flags: the vector functions carry target(...) attributes and are only called
 * after cpuid said the CPU (and the OS, for the zmm state) supports them (rdd_gemm_supported).
 */
#include "CGemm.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include "gemm_layout.h"   /* NR, KCMAX, NC and the packed-B layout */

#define MRMAX 12
#define TGT2 __attribute__((target("avx2,fma")))
#define TGT512 __attribute__((target("avx512f,avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* ---- instruction sets ---------------------------------------------------------------------------- */

int rdd_gemm_supported(int isa) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (isa) {
    case RDD_GEMM_PORTABLE: return 1;
    case RDD_GEMM_AVX2: return avx2;
    case RDD_GEMM_AVX512: return avx2 && __builtin_cpu_supports("avx512f");
    case RDD_GEMM_AVX512_EMULATED: return avx2;
    default: return 0;
    }
}

int rdd_gemm_available(void) { return rdd_gemm_supported(RDD_GEMM_AVX2); }

int rdd_gemm_best(void) {
    return rdd_gemm_supported(RDD_GEMM_AVX512) ? RDD_GEMM_AVX512 : rdd_gemm_supported(RDD_GEMM_AVX2) ? RDD_GEMM_AVX2 : RDD_GEMM_PORTABLE;
}

static int selectedISA = -1;   /* -1: not chosen yet (the best the CPU supports on first use) */

int rdd_gemm_select(int isa) {
    if (!rdd_gemm_supported(isa)) return 0;
    __atomic_store_n(&selectedISA, isa, __ATOMIC_SEQ_CST);
    return 1;
}

int rdd_gemm_selected(void) {
    int isa = __atomic_load_n(&selectedISA, __ATOMIC_SEQ_CST);
    if (isa < 0) { isa = rdd_gemm_best(); __atomic_store_n(&selectedISA, isa, __ATOMIC_SEQ_CST); }
    return isa;
}

/* ---- micro-kernels --------------------------------------------------------------------------------
 * tile(transA, h, np, kc, A, ld, Bp, ps, C, ldc, acc, X, ldx): rows r < h, columns j < 16·np of C:
 *   c = Σ_k fma(a(r, k), Bp[panel][k][j]) in k order from 0; C = acc ? c + X : c, with X[r][j] = X[r·ldx + j]:
 *   C itself (X = C, ldx = ldc) or a bias row added to every row (ldx = 0; rdd_sgemm_packed_bias).
 * a(r, k) = A[r·ld + k] (!transA, rows in place) or A[r + k·ld] (transA: the h values of one k are
 * contiguous); panel p of the packed B starts at Bp + p·ps. */
typedef void (*TileFn)(int transA, int h, int np, long kc, const float *A, long ld, const float *Bp, long ps,
                       float *C, long ldc, int acc, const float *X, long ldx);

/* Portable: one element at a time, fmaf() (exactly rounded, so the same bits as the vector FMAs). */
static void tilePortable(int transA, int h, int np, long kc, const float *A, long ld, const float *Bp, long ps,
                         float *C, long ldc, int acc, const float *X, long ldx) {
    long rs = transA ? 1 : ld, cs = transA ? ld : 1;
    for (int r = 0; r < h; r++)
        for (int p = 0; p < np; p++)
            for (int j = 0; j < NR; j++) {
                const float *a = A + r * rs, *b = Bp + p * ps + j;
                float c = 0;
                for (long k = 0; k < kc; k++) c = fmaf(a[k * cs], b[k * NR], c);
                float *dst = C + r * ldc + p * NR + j;
                *dst = acc ? c + X[r * ldx + p * NR + j] : c;
            }
}

/* AVX2 + FMA: h ≤ 6 rows × 16 columns in 12 ymm accumulators, 2 loads + h broadcasts + 2h FMAs per k. */
TGT2 INLINE void tile2(const int h, long kc, const float *A, long rs, long cs, const float *Bp, float *C, long ldc, int acc,
                       const float *X, long ldx) {
    __m256 c[6][2];
    for (int r = 0; r < 6; r++) { c[r][0] = _mm256_setzero_ps(); c[r][1] = _mm256_setzero_ps(); }
    _Pragma("clang loop unroll_count(4)")
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8);
        for (int r = 0; r < h; r++) {
            __m256 a = _mm256_broadcast_ss(A + r * rs);
            c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
        }
        A += cs; Bp += NR;
    }
    for (int r = 0; r < h; r++) {
        float *p = C + r * ldc;
        if (acc) {
            const float *x = X + r * ldx;
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(x));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(x + 8));
        }
        _mm256_storeu_ps(p, c[r][0]);
        _mm256_storeu_ps(p + 8, c[r][1]);
    }
}

#define T2(H) case H: if (transA) tile2(H, kc, A, 1, ld, Bp, C, ldc, acc, X, ldx); else tile2(H, kc, A, ld, 1, Bp, C, ldc, acc, X, ldx); break;
TGT2 static void tileAVX2(int transA, int h, int np, long kc, const float *A, long ld, const float *Bp, long ps,
                          float *C, long ldc, int acc, const float *X, long ldx) {
    (void)np; (void)ps;   /* always one panel: the AVX2 driver never groups panels */
    switch (h) { T2(1) T2(2) T2(3) T2(4) T2(5) default: T2(6) }
}

/* AVX-512F: h ≤ 12 rows × 16·np columns (np ≤ 2) in up to 24 zmm accumulators (+ 2 B vectors and a
 * broadcast: 27 of the 32 registers, so nothing spills; 14 rows spilled). The same source is
 * compiled twice through a 16-float vector type V16: natively on __m512, and "emulated" on a pair of
 * __m256 (the same lane arithmetic), so that the AVX-512 tiling — 12-row tiles, panel pairs and their
 * edges — is tested for bit-identity on CPUs without AVX-512 too (GemmKernelTests). */
#define TILE16_BODY(NAME, UNROLL, TGT, V16, ZERO, LOAD, SET1, FMA, ADD, STORE)                                      \
TGT INLINE void NAME(const int h, const int np, long kc, const float *A, long rs, long cs, const float *Bp, \
                           long ps, float *C, long ldc, int acc, const float *X, long ldx) {                   \
    V16 c0[MRMAX], c1[MRMAX];                                                                                  \
    _Pragma("clang loop unroll(full)")                                                                        \
    for (int r = 0; r < h; r++) { c0[r] = ZERO(); c1[r] = ZERO(); }                                            \
    const float *Bq = Bp + ps;                                                                                 \
    UNROLL                                                                      \
    for (long k = 0; k < kc; k++) {                                                                            \
        V16 b0 = LOAD(Bp), b1 = np == 2 ? LOAD(Bq) : ZERO();                                                   \
        _Pragma("clang loop unroll(full)")                                                                    \
        for (int r = 0; r < h; r++) {                                                                          \
            V16 a = SET1(A[r * rs]);                                                                           \
            c0[r] = FMA(a, b0, c0[r]);                                                                         \
            if (np == 2) c1[r] = FMA(a, b1, c1[r]);                                                            \
        }                                                                                                      \
        A += cs; Bp += NR; Bq += NR;                                                                           \
    }                                                                                                          \
    _Pragma("clang loop unroll(full)")                                                                        \
    for (int r = 0; r < h; r++) {                                                                              \
        float *p = C + r * ldc;                                                                                \
        const float *x = X + r * ldx;                                                                          \
        if (acc) c0[r] = ADD(c0[r], LOAD(x));                                                                  \
        STORE(p, c0[r]);                                                                                       \
        if (np == 2) {                                                                                         \
            if (acc) c1[r] = ADD(c1[r], LOAD(x + NR));                                                         \
            STORE(p + NR, c1[r]);                                                                              \
        }                                                                                                      \
    }                                                                                                          \
}

/* Each tile in two loop shapes that differ only in unrolling (the same FMAs per accumulator in the same k order,
 * so the same bits): the panel pair with A's rows in place (!transA, 24 accumulators, up to 12 row pointers) runs
 * the k loop rolled — unrolled by 2, clang kept broadcasts and row pointers on the stack (zmm spills in the hot
 * loop: 110 GFLOP/s per CPU-second on one core of the Xeon against 170 rolled, a C driver on 64×128×128,
 * 1024×128×192 and 96×256×256 products, identical output hashes, session 14); the panel pair with A transposed
 * (the weight gradient's loweredᵀ·dY: its 12 values of one k are contiguous) is unrolled by 4 (136 → 147 and
 * 142 → 154 GFLOP/s per CPU-second on 576×64×1024 and 1152×128×512; by 2 was 9% faster than rolled, by 8 mixed);
 * np = 1 keeps the unroll by 2 (rolled measured equal). */
#define DEFINE_TILE16(NAME, TGT, V16, ZERO, LOAD, SET1, FMA, ADD, STORE)                                      \
TILE16_BODY(NAME##Body, _Pragma("clang loop unroll_count(2)"), TGT, V16, ZERO, LOAD, SET1, FMA, ADD, STORE)      \
TILE16_BODY(NAME##BodyRolled, _Pragma("clang loop unroll(disable)"), TGT, V16, ZERO, LOAD, SET1, FMA, ADD, STORE) \
TILE16_BODY(NAME##Body4, _Pragma("clang loop unroll_count(4)"), TGT, V16, ZERO, LOAD, SET1, FMA, ADD, STORE)     \
TGT static void NAME(int transA, int h, int np, long kc, const float *A, long ld, const float *Bp, long ps,     \
                     float *C, long ldc, int acc, const float *X, long ldx) {                                  \
    switch ((h - 1) * 4 + (np - 1) * 2 + (transA ? 1 : 0)) {                                                   \
    T16(NAME, 1) T16(NAME, 2) T16(NAME, 3) T16(NAME, 4) T16(NAME, 5) T16(NAME, 6) T16(NAME, 7)                 \
    T16(NAME, 8) T16(NAME, 9) T16(NAME, 10) T16(NAME, 11) T16(NAME, 12)            \
    default: break;                                                                                            \
    }                                                                                                          \
}

/* The four (np, transA) cases of height H, with constant arguments so each is a fully unrolled tile. */
#define T16(NAME, H)                                                                                           \
    case (H - 1) * 4 + 0: NAME##Body(H, 1, kc, A, ld, 1, Bp, ps, C, ldc, acc, X, ldx); break;                          \
    case (H - 1) * 4 + 1: NAME##Body(H, 1, kc, A, 1, ld, Bp, ps, C, ldc, acc, X, ldx); break;                          \
    case (H - 1) * 4 + 2: NAME##BodyRolled(H, 2, kc, A, ld, 1, Bp, ps, C, ldc, acc, X, ldx); break;                          \
    case (H - 1) * 4 + 3: NAME##Body4(H, 2, kc, A, 1, ld, Bp, ps, C, ldc, acc, X, ldx); break;

#define Z512() _mm512_setzero_ps()
DEFINE_TILE16(tileAVX512, TGT512, __m512, Z512, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps)

/* AVX-512F, the last panel of w < 16 columns straight into C with masked loads and stores (session 14: the
 * stack tile's zeroing and copies took 20% of a 64 → 3 channel layer's forward). The same FMA chain per element
 * as the full tile; the stack-tile path added the stack's values to every element — C's (or the bias's) when
 * acc, else +0 — so this adds X's values or +0 likewise (c + 0 turns a −0 into +0, as before). Masked-off lanes
 * are neither read nor written. */
typedef void (*EdgeFn)(int transA, int h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc,
                       int acc, const float *X, long ldx, long w);
TGT512 INLINE void edge512Body(const int h, long kc, const float *A, long rs, long cs, const float *Bp, float *C, long ldc,
                               int acc, const float *X, long ldx, __mmask16 m) {
    __m512 c[MRMAX];
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < h; r++) c[r] = _mm512_setzero_ps();
    _Pragma("clang loop unroll_count(2)")
    for (long k = 0; k < kc; k++) {
        __m512 b = _mm512_loadu_ps(Bp);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < h; r++) c[r] = _mm512_fmadd_ps(_mm512_set1_ps(A[r * rs]), b, c[r]);
        A += cs; Bp += NR;
    }
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < h; r++) {
        __m512 x = acc ? _mm512_maskz_loadu_ps(m, X + r * ldx) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(C + r * ldc, m, _mm512_add_ps(c[r], x));
    }
}
#define E512(H) \
    case (H - 1) * 2: edge512Body(H, kc, A, ld, 1, Bp, C, ldc, acc, X, ldx, m); break; \
    case (H - 1) * 2 + 1: edge512Body(H, kc, A, 1, ld, Bp, C, ldc, acc, X, ldx, m); break;
TGT512 static void edgeAVX512(int transA, int h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc,
                              int acc, const float *X, long ldx, long w) {
    __mmask16 m = (__mmask16)((1u << w) - 1);
    switch ((h - 1) * 2 + (transA ? 1 : 0)) {
    E512(1) E512(2) E512(3) E512(4) E512(5) E512(6) E512(7) E512(8) E512(9) E512(10) E512(11) E512(12)
    default: break;
    }
}

/* AVX-512F, a last panel of w ≤ 8 columns with the rows along the lanes ("narrow"): 16 rows of C per vector, one
 * accumulator per column, c[j] = fma(a(rows, k), b(k, j), c[j]) for k in order — the same FMA chain per element as
 * the tiles (fma(a, b, c) = fma(b, a, c): one rounding of the exact a·b + c) and the same final addition of X's value
 * or +0. Why: a tile spends one 16-lane FMA per row and k however few columns are real, so a 3-column panel (the
 * 64 → 3 output layer) used 3 of 16 lanes, a 1-column one (the small preset's 32 → 1 output layer, its 1-channel
 * input gradient) 1 of 16 (session 16). Here each FMA does 16 rows of one real column: w FMAs per k for 16 rows
 * instead of 16. With A transposed (the weight gradient's loweredᵀ·dY) the 16 rows of one k are contiguous (one
 * load); with A's rows in place, 16 rows × 16 k are loaded and transposed in registers (64 shuffles per 16 k, on
 * the shuffle port: still at most half the tile's cycles). Past w = 8 the shuffles and the w FMAs cost what the
 * tile's 16 do, so wider panels keep the tile (edgeAVX512). */
TGT512 INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) { t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]); t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* r[4q + s] now holds, in each 128-bit lane L, column 4L + s of rows 4q … 4q + 3. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);        /* lanes 0, 2 of rows 0-3 | 0, 2 of rows 4-7 */
        t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xDD);    /* lanes 1, 3 */
        t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);        /* column i */
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);    /* column 8 + i */
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);   /* column 4 + i */
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);  /* column 12 + i */
    }
}

TGT512 INLINE void narrow512Body(const int W, const int transA, long h, long kc, const float *A, long ld, const float *Bp,
                                 float *C, long ldc, int acc, const float *X, long ldx) {
    __m512 c[8];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < W; j++) c[j] = _mm512_setzero_ps();
    __mmask16 hm = (__mmask16)(h >= 16 ? 0xFFFF : (1u << h) - 1);
    if (transA) {
        for (long k = 0; k < kc; k++) {
            __m512 a = _mm512_maskz_loadu_ps(hm, A + k * ld);
            _Pragma("clang loop unroll(full)")
            for (int j = 0; j < W; j++) c[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(Bp[k * NR + j]), c[j]);
        }
    } else {
        for (long k0 = 0; k0 < kc; k0 += 16) {
            long kk = kc - k0 < 16 ? kc - k0 : 16;
            __mmask16 km = (__mmask16)(kk >= 16 ? 0xFFFF : (1u << kk) - 1);
            __m512 r[16];
            _Pragma("clang loop unroll(full)")
            for (int m = 0; m < 16; m++) r[m] = m < h ? _mm512_maskz_loadu_ps(km, A + m * ld + k0) : _mm512_setzero_ps();
            transpose16(r);
            const float *b = Bp + k0 * NR;
            _Pragma("clang loop unroll(full)")
            for (int k = 0; k < 16; k++) {
                if (k >= kk) break;
                _Pragma("clang loop unroll(full)")
                for (int j = 0; j < W; j++) c[j] = _mm512_fmadd_ps(r[k], _mm512_set1_ps(b[k * NR + j]), c[j]);
            }
        }
    }
    /* Back to rows: transposed, r[m] holds row m's W values in lanes 0 … W − 1; C = c + X's value (or + 0). */
    __m512 r[16];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < 16; j++) r[j] = j < W ? c[j] : _mm512_setzero_ps();
    transpose16(r);
    __mmask16 wm = (__mmask16)((1u << W) - 1);
    _Pragma("clang loop unroll(full)")
    for (int m = 0; m < 16; m++) {
        if (m >= h) break;
        __m512 x = acc ? _mm512_maskz_loadu_ps(wm, X + m * ldx) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(C + m * ldc, wm, _mm512_add_ps(r[m], x));
    }
}
#define N512(W) \
    case W: if (transA) narrow512Body(W, 1, h, kc, A, ld, Bp, C, ldc, acc, X, ldx); \
            else narrow512Body(W, 0, h, kc, A, ld, Bp, C, ldc, acc, X, ldx); break;
/* Rows r < h ≤ 16 of the last panel's w ≤ 8 columns (NARROW_ROWS rows per call). */
#define NARROW_ROWS 16
#define NARROW_MAXW 8
#define NARROW_MINK 8   /* rows in place: below 8 k the two transposes cost more than the tile (50×20×3: +30%) */
typedef void (*NarrowFn)(int transA, long h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc,
                         int acc, const float *X, long ldx, long w);
TGT512 static void narrowAVX512(int transA, long h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc,
                                int acc, const float *X, long ldx, long w) {
    switch (w) { N512(1) N512(2) N512(3) N512(4) N512(5) N512(6) N512(7) N512(8) default: break; }
}

typedef struct { __m256 lo, hi; } Pair256;
TGT2 INLINE Pair256 pZero(void) { Pair256 v = { _mm256_setzero_ps(), _mm256_setzero_ps() }; return v; }
TGT2 INLINE Pair256 pLoad(const float *p) { Pair256 v = { _mm256_loadu_ps(p), _mm256_loadu_ps(p + 8) }; return v; }
TGT2 INLINE Pair256 pSet1(float x) { Pair256 v = { _mm256_set1_ps(x), _mm256_set1_ps(x) }; return v; }
TGT2 INLINE Pair256 pFma(Pair256 a, Pair256 b, Pair256 c) {
    Pair256 v = { _mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi) }; return v;
}
TGT2 INLINE Pair256 pAdd(Pair256 a, Pair256 b) { Pair256 v = { _mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi) }; return v; }
TGT2 INLINE void pStore(float *p, Pair256 v) { _mm256_storeu_ps(p, v.lo); _mm256_storeu_ps(p + 8, v.hi); }
DEFINE_TILE16(tileAVX512Emulated, TGT2, Pair256, pZero, pLoad, pSet1, pFma, pAdd, pStore)

/* ---- packing B -------------------------------------------------------------------------------------- */

/* In-register transpose of an 8×8 block: r[i][j] → r[j][i]. */
TGT2 INLINE void transpose8(__m256 r[8]) {
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

/* AVX2 + FMA, the same narrow panel with 8 rows per ymm vector (8×8 register transposes; session 16): the 6×16
 * tile spends two 8-lane FMAs per row and k on a panel of 3 real columns, this w per 8 rows and 24 shuffles per
 * 8 k. w ≤ 6 keeps the 8 transposed rows, the accumulators and a broadcast within the 16 ymm registers. */
#define NARROW2_MAXW 6
TGT2 INLINE void narrow2Body(const int W, const int transA, long h, long kc, const float *A, long ld, const float *Bp,
                             float *C, long ldc, int acc, const float *X, long ldx) {
    static const int ramp[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
    __m256 c[8];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < W; j++) c[j] = _mm256_setzero_ps();
    __m256i hm = _mm256_loadu_si256((const __m256i *)(ramp + 8 - (h >= 8 ? 8 : h)));   /* lanes < h */
    if (transA) {
        for (long k = 0; k < kc; k++) {
            __m256 a = _mm256_maskload_ps(A + k * ld, hm);
            _Pragma("clang loop unroll(full)")
            for (int j = 0; j < W; j++) c[j] = _mm256_fmadd_ps(a, _mm256_broadcast_ss(Bp + k * NR + j), c[j]);
        }
    } else {
        for (long k0 = 0; k0 < kc; k0 += 8) {
            long kk = kc - k0 < 8 ? kc - k0 : 8;
            __m256i km = _mm256_loadu_si256((const __m256i *)(ramp + 8 - kk));   /* lanes < kk */
            __m256 r[8];
            _Pragma("clang loop unroll(full)")
            for (int m = 0; m < 8; m++) r[m] = m < h ? _mm256_maskload_ps(A + m * ld + k0, km) : _mm256_setzero_ps();
            transpose8(r);
            const float *b = Bp + k0 * NR;
            _Pragma("clang loop unroll(full)")
            for (int k = 0; k < 8; k++) {
                if (k >= kk) break;
                _Pragma("clang loop unroll(full)")
                for (int j = 0; j < W; j++) c[j] = _mm256_fmadd_ps(r[k], _mm256_broadcast_ss(b + k * NR + j), c[j]);
            }
        }
    }
    __m256 r[8];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < 8; j++) r[j] = j < W ? c[j] : _mm256_setzero_ps();
    transpose8(r);
    __m256i wm = _mm256_loadu_si256((const __m256i *)(ramp + 8 - W));
    _Pragma("clang loop unroll(full)")
    for (int m = 0; m < 8; m++) {
        if (m >= h) break;
        __m256 x = acc ? _mm256_maskload_ps(X + m * ldx, wm) : _mm256_setzero_ps();
        _mm256_maskstore_ps(C + m * ldc, wm, _mm256_add_ps(r[m], x));
    }
}
#define N2(W) \
    case W: if (transA) narrow2Body(W, 1, h, kc, A, ld, Bp, C, ldc, acc, X, ldx); \
            else narrow2Body(W, 0, h, kc, A, ld, Bp, C, ldc, acc, X, ldx); break;
TGT2 static void narrowAVX2(int transA, long h, long kc, const float *A, long ld, const float *Bp, float *C, long ldc,
                            int acc, const float *X, long ldx, long w) {
    switch (w) { N2(1) N2(2) N2(3) N2(4) N2(5) N2(6) default: break; }
}

/* Packs op(B)[k][j], k < kc, j < n, into panels of NR columns: panel p holds k-major rows of 16 floats
   (columns past n are 0). B points at op(B)[0][0] of the block. A copy: every ISA packs the same bits;
   `vector` uses AVX2 loads and 8×8 register transposes (only when the CPU has AVX2). */
INLINE void packBBody(float *dst, const float *B, long ldb, int transB, long kc, long n) {
    for (long j0 = 0; j0 < n; j0 += NR) {
        long w = n - j0 < NR ? n - j0 : NR;
        float *d = dst + (j0 / NR) * kc * NR;
        if (!transB) {
            const float *s = B + j0;
            for (long k = 0; k < kc; k++, d += NR, s += ldb)
                for (long j = 0; j < NR; j++) d[j] = j < w ? s[j] : 0;
        } else {
            for (long j = 0; j < NR; j++) {
                const float *s = B + (j0 + j) * ldb;
                if (j < w) for (long k = 0; k < kc; k++) d[k * NR + j] = s[k];
                else for (long k = 0; k < kc; k++) d[k * NR + j] = 0;
            }
        }
    }
}

static void packBPortable(float *dst, const float *B, long ldb, int transB, long kc, long n) { packBBody(dst, B, ldb, transB, kc, n); }

TGT2 static void packBAVX2(float *dst, const float *B, long ldb, int transB, long kc, long n) {
    for (long j0 = 0; j0 < n; j0 += NR) {
        long w = n - j0 < NR ? n - j0 : NR;
        float *d = dst + (j0 / NR) * kc * NR;
        if (w < NR) { packBBody(d, B + (transB ? j0 * ldb : j0), ldb, transB, kc, w); continue; }
        if (!transB) {
            const float *s = B + j0;
            for (long k = 0; k < kc; k++, d += NR, s += ldb) {
                _mm256_storeu_ps(d, _mm256_loadu_ps(s));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(s + 8));
            }
        } else {  /* op(B)[k][j] = B[j·ldb + k]: 8×8 blocks transposed in registers (the forward weights) */
            long k0 = 0;
            for (; k0 + 8 <= kc; k0 += 8) {
                for (int half = 0; half < 2; half++) {
                    __m256 r[8];
                    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(B + (j0 + half * 8 + i) * ldb + k0);
                    transpose8(r);
                    for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + (k0 + i) * NR + half * 8, r[i]);
                }
            }
            for (long j = 0; j < NR; j++) {
                const float *s = B + (j0 + j) * ldb;
                for (long k = k0; k < kc; k++) d[k * NR + j] = s[k];
            }
        }
    }
}

typedef void (*PackFn)(float *dst, const float *B, long ldb, int transB, long kc, long n);

/* What the driver needs of an ISA: its tile, its packing, the tile height, how many 16-column
   panels one tile covers and the rows per L2 block (MC, a multiple of the tile height). None of it changes the arithmetic of an element (see the top comment). */
typedef struct { TileFn tile; PackFn pack; int mr; int maxPanels; long mc; EdgeFn edge; NarrowFn narrow; int narrowRows; int narrowMaxW; } Kernel;

static Kernel kernelFor(int isa) {
    switch (isa) {
    case RDD_GEMM_AVX2: { Kernel k = { tileAVX2, packBAVX2, 6, 1, 96, 0, narrowAVX2, 8, NARROW2_MAXW }; return k; }
    case RDD_GEMM_AVX512: { Kernel k = { tileAVX512, packBAVX2, 12, 2, 96, edgeAVX512, narrowAVX512, NARROW_ROWS, NARROW_MAXW }; return k; }
    case RDD_GEMM_AVX512_EMULATED: { Kernel k = { tileAVX512Emulated, packBAVX2, 12, 2, 96, 0, 0, 0, 0 }; return k; }
    default: { Kernel k = { tilePortable, packBPortable, 6, 1, 96, 0, 0, 0, 0 }; return k; }
    }
}

/* ---- driver ----------------------------------------------------------------------------------------- */

/* Per-thread packing buffer (KCMAX × NC floats, 64-byte aligned), allocated on first use and kept. */
static _Thread_local float *packed = 0;

static long kBlock(long K) { return rddKBlock(K); }
static long padded(long n) { return rddPadded(n); }

/* Whole op(B) packed as the product's loops read it: N block jc (NC columns), then K block pc,
   each block's 16-column panels; block (jc, pc) starts at jc·K + padded(nc)·pc. */
long rdd_packed_b_floats(long N, long K) { return padded(N) * (K > 0 ? K : 0); }

void rdd_pack_b(int transB, long N, long K, const float *B, long ldb, float *dst) {
    if (N <= 0 || K <= 0) return;
    PackFn pack = kernelFor(rdd_gemm_selected()).pack;
    long KC = kBlock(K);
    for (long jc = 0; jc < N; jc += NC) {
        long nc = N - jc < NC ? N - jc : NC;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            pack(dst + jc * K + padded(nc) * pc, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, transB, kc, nc);
        }
    }
}

/* The blocked product behind every entry point: a(i, k) = A[i·lda + k] (!transA) or A[k·lda + i]
   (transA), read in place; op(B) packed per (N block, K block) into a per-thread buffer, or taken from
   `prepacked` (rdd_pack_b's layout, alpha 1). With `bias` (beta 0 only), the first K block adds bias[j]
   where it would add C (c + bias[j]: the bits of C prefilled with the bias rows and beta 1, without that pass
   over C). */
static void gemm(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                 const float *B, long ldb, const float *prepacked, float beta, float *C, long ldc, const float *bias) {
    if (M <= 0 || N <= 0) return;
    if (bias && (beta != 0 || K <= 0 || alpha == 0)) {   /* the general path: C = bias rows, then accumulate */
        for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = bias[j];
        bias = 0; beta = 1;
    }
    if (beta != 0 && beta != 1) {   /* C = beta·C, then accumulate */
        for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] *= beta;
        beta = 1;
    }
    if (K <= 0 || alpha == 0) {     /* C = beta·C */
        if (beta == 0) for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) C[i * ldc + j] = 0;
        return;
    }
    if (!prepacked && !packed) {
        packed = aligned_alloc(64, sizeof(float) * KCMAX * NC);
        if (!packed) abort();
    }
    const Kernel kern = kernelFor(rdd_gemm_selected());
    long KC = kBlock(K);
    float edge[MRMAX * NR] __attribute__((aligned(64)));
    for (long jc = 0; jc < N; jc += NC) {
        long nc = N - jc < NC ? N - jc : NC;
        for (long pc = 0; pc < K; pc += KC) {
            long kc = K - pc < KC ? K - pc : KC;
            const float *packedBlock;
            if (prepacked) packedBlock = prepacked + jc * K + padded(nc) * pc;
            else {
                kern.pack(packed, transB ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, transB, kc, nc);
                if (alpha != 1) for (long i = 0; i < padded(nc) * kc; i++) packed[i] *= alpha;
                packedBlock = packed;
            }
            int acc = pc > 0 || beta != 0 || bias;
            int fromBias = pc == 0 && bias;   /* the first block adds the bias row (ldx 0) instead of C */
            long ps = kc * NR;   /* floats per packed panel */
            for (long ic = 0; ic < M; ic += kern.mc) {
                long mc = M - ic < kern.mc ? M - ic : kern.mc;
                for (long j0 = 0; j0 < nc;) {
                    long w = nc - j0;
                    int np = w >= 2 * NR && kern.maxPanels >= 2 ? 2 : 1;
                    const float *bp = packedBlock + (j0 / NR) * ps;
                    if (w <= kern.narrowMaxW && (transA || kc >= NARROW_MINK)) {   /* a narrow last panel: rows along the lanes */
                        for (long i0 = ic; i0 < ic + mc; i0 += kern.narrowRows) {
                            long h = ic + mc - i0 < kern.narrowRows ? ic + mc - i0 : kern.narrowRows;
                            const float *ap = transA ? A + pc * lda + i0 : A + i0 * lda + pc;
                            float *cp = C + i0 * ldc + jc + j0;
                            kern.narrow(transA, h, kc, ap, lda, bp, cp, ldc, acc, fromBias ? bias + jc + j0 : cp, fromBias ? 0 : ldc, w);
                        }
                        j0 += w;
                        continue;
                    }
                    for (long i0 = ic; i0 < ic + mc; i0 += kern.mr) {
                        int h = (int)(ic + mc - i0 < kern.mr ? ic + mc - i0 : kern.mr);
                        const float *ap = transA ? A + pc * lda + i0 : A + i0 * lda + pc;
                        float *cp = C + i0 * ldc + jc + j0;
                        const float *xp = fromBias ? bias + jc + j0 : cp;
                        long ldx = fromBias ? 0 : ldc;
                        if (w >= NR) kern.tile(transA, h, np, kc, ap, lda, bp, ps, cp, ldc, acc, xp, ldx);
                        else if (kern.edge) kern.edge(transA, h, kc, ap, lda, bp, cp, ldc, acc, xp, ldx, w);
                        else {   /* last panel, w < 16 columns: through a stack tile */
                            for (long r = 0; r < h; r++)
                                for (long j = 0; j < NR; j++) edge[r * NR + j] = (acc && j < w) ? xp[r * ldx + j] : 0;
                            kern.tile(transA, h, 1, kc, ap, lda, bp, ps, edge, NR, 1, edge, NR);
                            for (long r = 0; r < h; r++)
                                for (long j = 0; j < w; j++) cp[r * ldc + j] = edge[r * NR + j];
                        }
                    }
                    j0 += w >= NR ? np * NR : w;
                }
            }
        }
    }
}

void rdd_sgemm_ex(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc) {
    gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, 0, beta, C, ldc, 0);
}

void rdd_sgemm(int transB, long M, long N, long K, const float *A, long lda,
               const float *B, long ldb, float beta, float *C, long ldc) {
    gemm(0, transB, M, N, K, 1, A, lda, B, ldb, 0, beta, C, ldc, 0);
}

void rdd_sgemm_packed(long M, long N, long K, const float *A, long lda, const float *packedB,
                      float beta, float *C, long ldc) {
    gemm(0, 0, M, N, K, 1, A, lda, 0, 0, packedB, beta, C, ldc, 0);
}

void rdd_sgemm_packed_bias(long M, long N, long K, const float *A, long lda, const float *packedB,
                           const float *bias, float *C, long ldc) {
    gemm(0, 0, M, N, K, 1, A, lda, 0, 0, packedB, 0, C, ldc, bias);
}

void rdd_sgemm_tn(long M, long N, long K, const float *A, long lda,
                  const float *B, long ldb, float beta, float *C, long ldc) {
    gemm(1, 0, M, N, K, 1, A, lda, B, ldb, 0, beta, C, ldc, 0);
}
