#ifndef RDD_CZLIB_SHIM_H
#define RDD_CZLIB_SHIM_H
/* zlib (Debian: zlib1g-dev): gzip decoding of IDX/CSV data, zlib streams for PNG writing. */
#include <zlib.h>
#endif
