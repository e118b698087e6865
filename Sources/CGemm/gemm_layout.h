/* The packed-B layout of gemm.c, shared with the kernels that write B straight into it (winograd.c's
 * weight transform). Internal to CGemm: the Swift side only sees rdd_packed_b_floats and rdd_pack_b. */
#ifndef RDD_GEMM_LAYOUT_H
#define RDD_GEMM_LAYOUT_H

#define NR 16       /* columns per packed panel */
#define KCMAX 256   /* longest K block */
#define NC 256      /* columns per N block */

/* K block size for a product with K > 0: near-equal blocks of at most KCMAX. Depends on K only. */
static inline long rddKBlock(long K) {
    long nkb = (K + KCMAX - 1) / KCMAX;
    return (K + nkb - 1) / nkb;
}

/* Columns rounded up to whole panels. */
static inline long rddPadded(long n) { return (n + NR - 1) / NR * NR; }

/* Where op(B)[k][j] lives in rdd_pack_b's layout of a K×N op(B): N block jc = j − j mod NC, K block
 * pc = k − k mod KC; block (jc, pc) starts at jc·K + padded(nc)·pc and holds panels of kc × NR floats. */
static inline long rddPackedOffset(long N, long K, long KC, long k, long j) {
    long jc = j / NC * NC, nc = N - jc < NC ? N - jc : NC;
    long pc = k / KC * KC, kc = K - pc < KC ? K - pc : KC;
    long jj = j - jc;
    return jc * K + rddPadded(nc) * pc + (jj / NR) * kc * NR + (k - pc) * NR + jj % NR;
}

#endif
