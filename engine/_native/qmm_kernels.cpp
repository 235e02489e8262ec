#include "qmm_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace glassbox {

// ------------------------------------------------------------------------------------------
// Portable kernels (any bit width MLX packs: 2, 3, 4, 5, 6, 8)

namespace {

inline uint32_t code_at(const uint8_t* row, int64_t k, int bits) {
  int64_t bit = k * bits;
  const uint8_t* p = row + (bit >> 3);
  int shift = static_cast<int>(bit & 7);
  uint32_t v = p[0];
  if (shift + bits > 8) {
    v |= static_cast<uint32_t>(p[1]) << 8;
  }
  return (v >> shift) & ((1u << bits) - 1);
}

void dequantize_row_scalar(const QMatrix& W, int n, float* out) {
  const uint8_t* row = W.w + n * W.row_bytes();
  const float* s = W.scales + static_cast<int64_t>(n) * W.groups();
  const float* b = W.biases + static_cast<int64_t>(n) * W.groups();
  for (int k = 0; k < W.K; ++k) {
    out[k] = s[k / W.group] * static_cast<float>(code_at(row, k, W.bits)) + b[k / W.group];
  }
}

}  // namespace

void qmm_rows_scalar(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0,
                     int n1, float* scratch) {
  const int G = W.groups();
  for (int n = n0; n < n1; ++n) {
    const uint8_t* row = W.w + n * W.row_bytes();
    const float* s = W.scales + static_cast<int64_t>(n) * G;
    const float* b = W.biases + static_cast<int64_t>(n) * G;
    if (M == 1) {
      float acc = 0.0f;
      for (int g = 0; g < G; ++g) {
        float dot = 0.0f;
        for (int k = g * W.group; k < (g + 1) * W.group; ++k) {
          dot += X[k] * static_cast<float>(code_at(row, k, W.bits));
        }
        acc += s[g] * dot + b[g] * xsum[g];
      }
      Y[n] = acc;
      continue;
    }
    dequantize_row_scalar(W, n, scratch);
    for (int m = 0; m < M; ++m) {
      const float* x = X + static_cast<int64_t>(m) * W.K;
      float acc = 0.0f;
      for (int k = 0; k < W.K; ++k) {
        acc += x[k] * scratch[k];
      }
      Y[static_cast<int64_t>(m) * W.N + n] = acc;
    }
  }
}

// ------------------------------------------------------------------------------------------
// AVX2 + FMA kernels (4- and 8-bit codes, groups of a multiple of 32)

#if defined(__x86_64__)

namespace {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// The 8 codes of one uint32 word, in order, as floats: lane j holds bits [4j, 4j + 4).
__attribute__((target("avx2,fma"))) inline __m256 nibbles(const uint8_t* p, __m256i shifts,
                                                          __m256i mask) {
  uint32_t word;
  std::memcpy(&word, p, 4);
  __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(word)), shifts);
  return _mm256_cvtepi32_ps(_mm256_and_si256(v, mask));
}

__attribute__((target("avx2,fma"))) inline __m256 bytes8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// sum over the group of x[k] * q[k] (codes only; scale and bias are applied by the caller)
template <int BITS>
__attribute__((target("avx2,fma"))) inline __m256 group_dot(const uint8_t* codes, const float* x,
                                                            int group, __m256i shifts, __m256i mask) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (int k = 0; k < group; k += 16) {
    if constexpr (BITS == 4) {
      a0 = _mm256_fmadd_ps(nibbles(codes + k / 2, shifts, mask), _mm256_loadu_ps(x + k), a0);
      a1 = _mm256_fmadd_ps(nibbles(codes + k / 2 + 4, shifts, mask), _mm256_loadu_ps(x + k + 8), a1);
    } else {
      a0 = _mm256_fmadd_ps(bytes8(codes + k), _mm256_loadu_ps(x + k), a0);
      a1 = _mm256_fmadd_ps(bytes8(codes + k + 8), _mm256_loadu_ps(x + k + 8), a1);
    }
  }
  return _mm256_add_ps(a0, a1);
}

// biases . xsum over the groups of one row
__attribute__((target("avx2,fma"))) inline float bias_dot(const float* b, const float* xsum, int G) {
  __m256 acc = _mm256_setzero_ps();
  int g = 0;
  for (; g + 8 <= G; g += 8) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(b + g), _mm256_loadu_ps(xsum + g), acc);
  }
  float out = hsum(acc);
  for (; g < G; ++g) {
    out += b[g] * xsum[g];
  }
  return out;
}

template <int BITS>
__attribute__((target("avx2,fma"))) void qmv_rows(const QMatrix& W, const float* x,
                                                  const float* xsum, float* y, int n0, int n1) {
  const int G = W.groups();
  const int64_t group_bytes = static_cast<int64_t>(W.group) * BITS / 8;
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i mask = _mm256_set1_epi32(0xF);
  for (int n = n0; n < n1; ++n) {
    const uint8_t* row = W.w + n * W.row_bytes();
    const float* s = W.scales + static_cast<int64_t>(n) * G;
    const float* b = W.biases + static_cast<int64_t>(n) * G;
    __m256 total = _mm256_setzero_ps();
    for (int g = 0; g < G; ++g) {
      __m256 dot = group_dot<BITS>(row + g * group_bytes, x + g * W.group, W.group, shifts, mask);
      total = _mm256_fmadd_ps(dot, _mm256_set1_ps(s[g]), total);
    }
    y[n] = hsum(total) + bias_dot(b, xsum, G);
  }
}

// rows n .. n + R of W as floats (R <= 4), each K long, into out[r * K ...]
template <int BITS>
__attribute__((target("avx2,fma"))) void dequantize_rows_avx2(const QMatrix& W, int n, int R, float* out) {
  const int G = W.groups();
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i mask = _mm256_set1_epi32(0xF);
  for (int r = 0; r < R; ++r) {
    const uint8_t* row = W.w + (n + r) * W.row_bytes();
    const float* s = W.scales + static_cast<int64_t>(n + r) * G;
    const float* b = W.biases + static_cast<int64_t>(n + r) * G;
    float* o = out + static_cast<int64_t>(r) * W.K;
    for (int g = 0; g < G; ++g) {
      __m256 sv = _mm256_set1_ps(s[g]), bv = _mm256_set1_ps(b[g]);
      for (int k = g * W.group; k < (g + 1) * W.group; k += 8) {
        __m256 q = BITS == 4 ? nibbles(row + k / 2, shifts, mask) : bytes8(row + k);
        _mm256_storeu_ps(o + k, _mm256_fmadd_ps(q, sv, bv));
      }
    }
  }
}

template <int BITS>
__attribute__((target("avx2,fma"))) void qmm_rows(const QMatrix& W, const float* X, int M, float* Y,
                                                  int n0, int n1, float* scratch) {
  const int K = W.K;
  for (int n = n0; n < n1; n += 4) {
    const int R = std::min(4, n1 - n);
    dequantize_rows_avx2<BITS>(W, n, R, scratch);
    for (int m = 0; m < M; ++m) {
      const float* x = X + static_cast<int64_t>(m) * K;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      for (int k = 0; k < K; k += 8) {  // K is a multiple of the group, so of 32
        __m256 xv = _mm256_loadu_ps(x + k);
        for (int r = 0; r < R; ++r) {
          acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(scratch + r * K + k), xv, acc[r]);
        }
      }
      for (int r = 0; r < R; ++r) {
        Y[static_cast<int64_t>(m) * W.N + n + r] = hsum(acc[r]);
      }
    }
  }
}

}  // namespace

void qmm_rows_avx2(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0,
                   int n1, float* scratch) {
  if (W.bits == 4) {
    M == 1 ? qmv_rows<4>(W, X, xsum, Y, n0, n1) : qmm_rows<4>(W, X, M, Y, n0, n1, scratch);
  } else {
    M == 1 ? qmv_rows<8>(W, X, xsum, Y, n0, n1) : qmm_rows<8>(W, X, M, Y, n0, n1, scratch);
  }
}

bool cpu_has_avx2_fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}

#else

bool cpu_has_avx2_fma() {
  return false;
}

#endif

QmmRowsFn select_qmm_kernel(const QMatrix& W, const char** name) {
#if defined(__x86_64__)
  if (cpu_has_avx2_fma() && (W.bits == 4 || W.bits == 8) && W.group % 32 == 0) {
    if (name) *name = "avx2";
    return qmm_rows_avx2;
  }
#endif
  if (name) *name = "scalar";
  return qmm_rows_scalar;
}

void dequantize_rows(const QMatrix& W, int n0, int n1, float* out) {
#if defined(__x86_64__)
  if (cpu_has_avx2_fma() && (W.bits == 4 || W.bits == 8) && W.group % 32 == 0) {
    for (int n = n0; n < n1; n += 4) {
      float* o = out + static_cast<int64_t>(n - n0) * W.K;
      W.bits == 4 ? dequantize_rows_avx2<4>(W, n, std::min(4, n1 - n), o)
                  : dequantize_rows_avx2<8>(W, n, std::min(4, n1 - n), o);
    }
    return;
  }
#endif
  for (int n = n0; n < n1; ++n) {
    dequantize_row_scalar(W, n, out + static_cast<int64_t>(n - n0) * W.K);
  }
}

void dequantize(const QMatrix& W, float* out) {
  constexpr int kRowsPerTask = 64;
  ThreadPool::instance().parallel_for((W.N + kRowsPerTask - 1) / kRowsPerTask, [&](int t) {
    const int n0 = t * kRowsPerTask;
    dequantize_rows(W, n0, std::min(W.N, n0 + kRowsPerTask), out + static_cast<int64_t>(n0) * W.K);
  });
}

void quantized_matmul(const QMatrix& W, const float* X, int M, float* Y) {
  const int G = W.groups();
  std::vector<float> xsum(static_cast<size_t>(M) * G);
  for (int m = 0; m < M; ++m) {
    for (int g = 0; g < G; ++g) {
      const float* x = X + static_cast<int64_t>(m) * W.K + g * W.group;
      float s = 0.0f;
      for (int k = 0; k < W.group; ++k) {
        s += x[k];
      }
      xsum[static_cast<size_t>(m) * G + g] = s;
    }
  }
  QmmRowsFn kernel = select_qmm_kernel(W, nullptr);
  auto& pool = ThreadPool::instance();
  // Rows per task: a multiple of 4 (the M > 1 kernels take rows four at a time), and enough tasks
  // that the threads finish together even when one of them is interrupted.
  const int rows_per_task = std::max(4, (W.N / (pool.size() * 8) + 3) / 4 * 4);
  const int n_tasks = (W.N + rows_per_task - 1) / rows_per_task;
  pool.parallel_for(n_tasks, [&](int t) {
    thread_local std::vector<float> scratch;
    if (M > 1 && scratch.size() < static_cast<size_t>(4) * W.K) {
      scratch.resize(static_cast<size_t>(4) * W.K);
    }
    const int n0 = t * rows_per_task;
    const int n1 = std::min(W.N, n0 + rows_per_task);
    kernel(W, X, xsum.data() + 0, M, Y, n0, n1, scratch.data());
  });
}

}  // namespace glassbox
