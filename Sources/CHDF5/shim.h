#ifndef RDD_CHDF5_SHIM_H
#define RDD_CHDF5_SHIM_H
#include <hdf5/serial/hdf5.h>
#include <hdf5/serial/hdf5_hl.h>
/* HDF5's "constants" are macros that call H5open() or read globals; Swift cannot import them. */
static inline hid_t swh5_native_float(void)  { return H5T_NATIVE_FLOAT; }
static inline hid_t swh5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t swh5_native_int32(void)  { return H5T_NATIVE_INT32; }
static inline hid_t swh5_native_int64(void)  { return H5T_NATIVE_INT64; }
static inline hid_t swh5_native_uint8(void)  { return H5T_NATIVE_UINT8; }
static inline hid_t swh5_c_s1(void)          { return H5T_C_S1; }
static inline hid_t swh5_p_default(void)     { return H5P_DEFAULT; }
static inline hid_t swh5_s_all(void)         { return H5S_ALL; }
static inline hid_t swh5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t swh5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline unsigned swh5_f_acc_trunc(void)  { return H5F_ACC_TRUNC; }
static inline unsigned swh5_f_acc_excl(void)   { return H5F_ACC_EXCL; }
static inline unsigned swh5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned swh5_f_acc_rdwr(void)   { return H5F_ACC_RDWR; }
static inline size_t swh5_variable(void)      { return H5T_VARIABLE; }
/* Little-endian file types (checkpoints are stored LE on every host), the default error stack,
   and the link-creation property-list class (for automatic intermediate groups). */
static inline hid_t swh5_ieee_f32le(void)   { return H5T_IEEE_F32LE; }
static inline hid_t swh5_ieee_f64le(void)   { return H5T_IEEE_F64LE; }
static inline hid_t swh5_std_i64le(void)    { return H5T_STD_I64LE; }
static inline hid_t swh5_e_default(void)    { return H5E_DEFAULT; }
static inline hid_t swh5_p_link_create(void) { return H5P_LINK_CREATE; }
#endif
