/* The C ABI of mixc kernels: tensor descriptors in, tensor descriptors out.
 * Plain C so that any framework (PyTorch, JAX, C) can call a kernel without
 * the compiler. Strides are in elements. */
#ifndef MIXC_TENSOR_H
#define MIXC_TENSOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* MIXC_I64: index tensors only (cu_seqlens, route). */
typedef enum { MIXC_F32 = 0, MIXC_BF16 = 1, MIXC_F16 = 2, MIXC_I64 = 3 } mixc_dtype;

#define MIXC_MAX_DIMS 6

typedef struct {
  void *data;                      /* NULL: an optional input left out (initial states) */
  int32_t dtype;                   /* a mixc_dtype; any other value is refused */
  int32_t ndim;
  int64_t shape[MIXC_MAX_DIMS];
  int64_t strides[MIXC_MAX_DIMS];  /* in elements; any non-negative layout */
} mixc_tensor;

/* A descriptor of a contiguous row-major tensor. */
static inline mixc_tensor mixc_contiguous(void *data, int32_t dtype, int32_t ndim, const int64_t *shape) {
  mixc_tensor t;
  int64_t stride = 1;
  t.data = data;
  t.dtype = dtype;
  t.ndim = ndim;
  for (int32_t d = MIXC_MAX_DIMS - 1; d >= 0; --d) {
    t.shape[d] = d < ndim ? shape[d] : 1;
    t.strides[d] = d < ndim ? stride : 0;
    if (d < ndim) stride *= shape[d];
  }
  return t;
}

/* A kernel entry point: returns 0 on success, otherwise writes a message that
 * names the bad argument into `error` and returns 1. */
typedef int (*mixc_kernel_fn)(const mixc_tensor *inputs, int num_inputs, mixc_tensor *outputs, int num_outputs,
                              int num_threads, char *error, int error_len);

#ifdef __cplusplus
}
#endif

#endif
