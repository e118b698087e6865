/* Symmetric eigen-decomposition in one fixed order of operations (see CLinearAlgebra.h).
 *
 * Method: EISPACK's tred2 (Householder reduction to a tridiagonal matrix, accumulating the orthogonal
 * transformation) and tql2 (the implicit QL method with Wilkinson-type shifts on the tridiagonal matrix,
 * rotating the accumulated basis), as in JAMA's EigenvalueDecomposition (public domain), which follows
 * Bowdler, Martin, Reinsch and Wilkinson, Handbook for Auto. Comp. Vol. II (Linear Algebra), and the
 * EISPACK Fortran. Backward stable: the computed eigenvalues are exact for a matrix within
 * O(N · ε · ‖A‖) of A, like LAPACK's dsyevd, which this replaces for the FID (docs/metrics.md).
 *
 * Storage: JAMA works on V (N×N) and walks its columns in the O(N³) loops; here the array holds
 * U = Vᵀ, so those loops run along contiguous rows (U(a, b) is V[b][a]), and the eigenvectors come out
 * as rows, which is what the FID wants. Every O(N³) loop is either an element-wise update
 * (vectorised across the row by the compiler, which cannot change any element's value) or a dot
 * product summed in four interleaved partial sums combined as (s0 + s1) + (s2 + s3): a fixed order,
 * so the result is the same on every CPU and with any vector width. Only +, −, ×, ÷ and √ are used
 * (all correctly rounded in IEEE 754); the hypotenuse is computed here, not by libm's hypot.
 */
#include <math.h>
#include "CLinearAlgebra.h"

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#define U(a, b) u[(a) * n + (b)]

/* √(a² + b²) without overflow, from √ alone (JAMA's Maths.hypot). */
static double hyp(double a, double b) {
    double r;
    if (fabs(a) > fabs(b)) { r = b / a; return fabs(a) * sqrt(1 + r * r); }
    if (b != 0) { r = a / b; return fabs(b) * sqrt(1 + r * r); }
    return 0;
}

/* Σ x[k]·y[k], k < len: four partial sums over k ≡ 0, 1, 2, 3 (mod 4), then (s0 + s1) + (s2 + s3),
   then the tail in order. */
static double dot4(const double *x, const double *y, long len) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long k = 0;
    for (; k + 4 <= len; k += 4) {
        s0 = s0 + x[k] * y[k];
        s1 = s1 + x[k + 1] * y[k + 1];
        s2 = s2 + x[k + 2] * y[k + 2];
        s3 = s3 + x[k + 3] * y[k + 3];
    }
    double s = (s0 + s1) + (s2 + s3);
    for (; k < len; k++) s = s + x[k] * y[k];
    return s;
}

/* Householder tridiagonalisation (tred2). On return d holds the diagonal, e[1..n−1] the subdiagonal
   (e[0] = 0) and, with vectors, U the accumulated transformation (row j = column j of V). */
static void tred2(long n, double *u, double *d, double *e, int vectors) {
    for (long j = 0; j < n; j++) d[j] = U(j, n - 1);
    for (long i = n - 1; i > 0; i--) {
        double scale = 0, h = 0;
        for (long k = 0; k < i; k++) scale = scale + fabs(d[k]);
        if (scale == 0) {
            e[i] = d[i - 1];
            for (long j = 0; j < i; j++) { d[j] = U(j, i - 1); U(j, i) = 0; U(i, j) = 0; }
        } else {
            for (long k = 0; k < i; k++) { d[k] = d[k] / scale; h = h + d[k] * d[k]; }
            double f = d[i - 1];
            double g = sqrt(h);
            if (f > 0) g = -g;
            e[i] = scale * g;
            h = h - f * g;
            d[i - 1] = f - g;
            for (long j = 0; j < i; j++) e[j] = 0;
            /* e = A d (A the leading i×i block, its lower part stored in rows of U). */
            for (long j = 0; j < i; j++) {
                f = d[j];
                U(i, j) = f;
                const double *row = &U(j, 0);
                g = e[j] + row[j] * f;
                g = g + dot4(row + j + 1, d + j + 1, i - j - 1);
                for (long k = j + 1; k < i; k++) e[k] = e[k] + row[k] * f;
                e[j] = g;
            }
            f = 0;
            for (long j = 0; j < i; j++) { e[j] = e[j] / h; f = f + e[j] * d[j]; }
            double hh = f / (h + h);
            for (long j = 0; j < i; j++) e[j] = e[j] - hh * d[j];
            for (long j = 0; j < i; j++) {
                f = d[j];
                g = e[j];
                double *row = &U(j, 0);
                for (long k = j; k < i; k++) row[k] = row[k] - (f * e[k] + g * d[k]);
                d[j] = U(j, i - 1);
                U(j, i) = 0;
            }
        }
        d[i] = h;
    }
    if (!vectors) {
        /* The reduced matrix's diagonal is where the accumulation below would read it. */
        for (long j = 0; j < n; j++) d[j] = U(j, j);
        if (n > 0) e[0] = 0;
        return;
    }
    for (long i = 0; i < n - 1; i++) {
        U(i, n - 1) = U(i, i);
        U(i, i) = 1;
        double h = d[i + 1];
        if (h != 0) {
            const double *v = &U(i + 1, 0);
            for (long k = 0; k <= i; k++) d[k] = v[k] / h;
            for (long j = 0; j <= i; j++) {
                double *row = &U(j, 0);
                double g = dot4(v, row, i + 1);
                for (long k = 0; k <= i; k++) row[k] = row[k] - g * d[k];
            }
        }
        for (long k = 0; k <= i; k++) U(i + 1, k) = 0;
    }
    for (long j = 0; j < n; j++) { d[j] = U(j, n - 1); U(j, n - 1) = 0; }
    if (n > 0) { U(n - 1, n - 1) = 1; e[0] = 0; }
}

/* Implicit QL on the tridiagonal (d, e) (tql2); with vectors, each rotation is applied to rows i and
   i + 1 of U. Returns −1 when an eigenvalue needs more than 60 iterations. */
static int tql2(long n, double *u, double *d, double *e, int vectors) {
    for (long i = 1; i < n; i++) e[i - 1] = e[i];
    if (n > 0) e[n - 1] = 0;
    double f = 0, tst1 = 0;
    const double eps = 0x1p-52;
    for (long l = 0; l < n; l++) {
        double t = fabs(d[l]) + fabs(e[l]);
        if (t > tst1) tst1 = t;
        long m = l;
        while (m < n - 1 && !(fabs(e[m]) <= eps * tst1)) m++;
        if (m > l) {
            int iter = 0;
            do {
                if (++iter > 60) return -1;
                double g = d[l];
                double p = (d[l + 1] - g) / (2 * e[l]);
                double r = hyp(p, 1);
                if (p < 0) r = -r;
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                double dl1 = d[l + 1];
                double h = g - d[l];
                for (long i = l + 2; i < n; i++) d[i] = d[i] - h;
                f = f + h;
                p = d[m];
                double c = 1, c2 = 1, c3 = 1, el1 = e[l + 1], s = 0, s2 = 0;
                for (long i = m - 1; i >= l; i--) {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = hyp(p, e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    if (vectors) {
                        double *a = &U(i, 0), *b = &U(i + 1, 0);
                        for (long k = 0; k < n; k++) {
                            double hk = b[k];
                            b[k] = s * a[k] + c * hk;
                            a[k] = c * a[k] - s * hk;
                        }
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
            } while (fabs(e[l]) > eps * tst1);
        }
        d[l] = d[l] + f;
        e[l] = 0;
    }
    /* Ascending order (selection sort, as JAMA: ties keep the earlier index). */
    for (long i = 0; i + 1 < n; i++) {
        long k = i;
        double p = d[i];
        for (long j = i + 1; j < n; j++) if (d[j] < p) { k = j; p = d[j]; }
        if (k != i) {
            d[k] = d[i];
            d[i] = p;
            if (vectors) {
                double *a = &U(i, 0), *b = &U(k, 0);
                for (long j = 0; j < n; j++) { double x = a[j]; a[j] = b[j]; b[j] = x; }
            }
        }
    }
    return 0;
}

int rdd_dsyev(long n, double *u, double *values, double *work, int vectors) {
    tred2(n, u, values, work, vectors);
    return tql2(n, u, values, work, vectors);
}
