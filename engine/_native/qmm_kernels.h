// Quantized matrix products on MLX's affine layout, computed in float32.
//
// Layout (mx.quantize): W is (N, K) stored row by row as uint32 words holding `bits`-bit codes,
// least significant bits first (a little-endian bit stream per row); every `group` consecutive
// codes of a row share a float32 scale and bias: w[n, k] = scales[n, g] * q[n, k] + biases[n, g].
#pragma once

#include <cstdint>

namespace glassbox {

struct QMatrix {
  const uint8_t* w;  // N rows of row_bytes bytes
  const float* scales;  // (N, K / group)
  const float* biases;  // (N, K / group)
  int N;
  int K;
  int group;
  int bits;
  int64_t row_bytes() const {
    return static_cast<int64_t>(K) * bits / 8;
  }
  int groups() const {
    return K / group;
  }
};

// Y[m, n] = sum_k X[m, k] W[n, k] for rows n in [n0, n1); X is (M, K), Y is (M, N).
// xsum holds, per m, the sums of X[m] over each group (M x K/group).
// `scratch` holds at least 4 * K floats (the M > 1 kernels dequantize 4 rows into it).
using QmmRowsFn = void (*)(const QMatrix& W, const float* X, const float* xsum, int M, float* Y,
                           int n0, int n1, float* scratch);

void qmm_rows_scalar(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0,
                     int n1, float* scratch);
#if defined(__x86_64__)
void qmm_rows_avx2(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0,
                   int n1, float* scratch);
#endif

// The fastest kernel this CPU runs for W's bits/group, and its name ("avx2" or "scalar").
QmmRowsFn select_qmm_kernel(const QMatrix& W, const char** name);

// Whether the AVX2 + FMA kernels are usable on this CPU (checked once, at run time).
bool cpu_has_avx2_fma();

// W[n0:n1] as floats into out[(n - n0) * K ...], the fastest way this CPU allows.
void dequantize_rows(const QMatrix& W, int n0, int n1, float* out);

// W as a dense (N, K) float32 matrix, spread over the thread pool.
void dequantize(const QMatrix& W, float* out);

// Y = X W^T for the whole matrix, spread over the thread pool.
void quantized_matmul(const QMatrix& W, const float* X, int M, float* Y);

}  // namespace glassbox
