#ifndef RDD_CBLAS_SHIM_H
#define RDD_CBLAS_SHIM_H
/* OpenBLAS's CBLAS interface (Debian: libopenblas-dev, on clang's multiarch include path). */
#include <cblas.h>

/* OpenBLAS thread control (declared in OpenBLAS's cblas.h on most builds; repeated here for safety). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* The build options and the kernel set ("core") OpenBLAS chose for this CPU at start-up (provenance records). */
char *openblas_get_config(void);
char *openblas_get_corename(void);

/* LAPACK symbols carried by OpenBLAS (Fortran calling convention; no LAPACKE headers on Debian 12). */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b, const int *ldb,
            int *info);
#endif
