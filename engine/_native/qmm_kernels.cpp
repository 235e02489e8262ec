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
// AVX2 + FMA kernels (every width MLX packs: 2, 3, 4, 5, 6 and 8 bits; groups of a multiple of 16)
//
// Eight consecutive codes of a row always fill exactly BITS bytes starting on a byte boundary
// (8 * BITS bits), so the kernels take codes eight at a time: one 256-bit vector of eight lanes.

#if defined(__x86_64__)

namespace {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline uint64_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline uint64_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// For the widths that do not divide a byte evenly (2, 3, 5, 6), lane j's code starts at bit
// BITS * j of the eight-code run: byte (BITS * j) / 8, bit (BITS * j) % 8, and fits in that byte and
// the next (shift + BITS <= 15). A byte shuffle puts those two bytes in the lane, a per-lane shift
// and a mask finish it.
template <int BITS>
struct Unpack {
  alignas(32) int8_t shuffle[32];
  alignas(32) int32_t shift[8];
  constexpr Unpack() : shuffle(), shift() {
    for (int j = 0; j < 8; ++j) {
      const int lane = (j % 4) * 4 + (j / 4) * 16;  // shuffle_epi8 works within each 128-bit half
      shuffle[lane] = static_cast<int8_t>(BITS * j / 8);
      shuffle[lane + 1] = static_cast<int8_t>(BITS * j / 8 + 1);
      shuffle[lane + 2] = shuffle[lane + 3] = -128;  // zero
      shift[j] = BITS * j % 8;
    }
  }
};

// The eight codes at p (BITS bytes) as eight int32 lanes, in order. WIDE: p may be read 8 bytes
// wide (at least 8 - BITS more bytes of the matrix follow the run: any row but the last).
template <int BITS, bool WIDE = false>
__attribute__((target("avx2,fma"))) inline __m256i codes8(const uint8_t* p) {
  if constexpr (BITS == 8) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  } else if constexpr (BITS == 4) {
    uint32_t word;
    std::memcpy(&word, p, 4);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(word)), shifts);
    return _mm256_and_si256(v, _mm256_set1_epi32(0xF));
  } else {
    static constexpr Unpack<BITS> kUnpack{};
    // the run's BITS bytes, assembled in a register (never read past the run: the row may end
    // right after it; a narrower store read back wider stalls store-to-load forwarding)
    uint64_t bytes;
    if constexpr (WIDE) {
      std::memcpy(&bytes, p, 8);  // one load; the shuffle ignores the bytes past the run
    } else if constexpr (BITS == 2) {
      bytes = load_u16(p);
    } else if constexpr (BITS == 3) {
      bytes = load_u16(p) | static_cast<uint64_t>(p[2]) << 16;
    } else if constexpr (BITS == 5) {
      bytes = load_u32(p) | static_cast<uint64_t>(p[4]) << 32;
    } else {
      bytes = load_u32(p) | static_cast<uint64_t>(load_u16(p + 4)) << 32;
    }
    __m256i v = _mm256_set1_epi64x(static_cast<long long>(bytes));  // the bytes in both halves
    v = _mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kUnpack.shuffle)));
    v = _mm256_srlv_epi32(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kUnpack.shift)));
    return _mm256_and_si256(v, _mm256_set1_epi32((1 << BITS) - 1));
  }
}

template <int BITS, bool WIDE = false>
__attribute__((target("avx2,fma"))) inline __m256 codes8_ps(const uint8_t* p) {
  return _mm256_cvtepi32_ps(codes8<BITS, WIDE>(p));
}

// sum over the group of x[k] * q[k] (codes only; scale and bias are applied by the caller);
// `codes` points at the group's first code, `group` is a multiple of 16
template <int BITS, bool WIDE>
__attribute__((target("avx2,fma"))) inline __m256 group_dot(const uint8_t* codes, const float* x, int group) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (int k = 0; k < group; k += 16) {
    a0 = _mm256_fmadd_ps(codes8_ps<BITS, WIDE>(codes + k * BITS / 8), _mm256_loadu_ps(x + k), a0);
    a1 = _mm256_fmadd_ps(codes8_ps<BITS, WIDE>(codes + (k + 8) * BITS / 8), _mm256_loadu_ps(x + k + 8), a1);
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

// row n's product with x: sum over groups of scale * (codes . x) + biases . xsum
template <int BITS, bool WIDE>
__attribute__((target("avx2,fma"))) inline float row_dot(const QMatrix& W, int n, const float* x, const float* xsum) {
  const int G = W.groups();
  const int64_t group_bytes = static_cast<int64_t>(W.group) * BITS / 8;
  const uint8_t* row = W.w + n * W.row_bytes();
  const float* s = W.scales + static_cast<int64_t>(n) * G;
  __m256 total = _mm256_setzero_ps();
  for (int g = 0; g < G; ++g) {
    __m256 dot = group_dot<BITS, WIDE>(row + g * group_bytes, x + g * W.group, W.group);
    total = _mm256_fmadd_ps(dot, _mm256_set1_ps(s[g]), total);
  }
  return hsum(total) + bias_dot(W.biases + static_cast<int64_t>(n) * G, xsum, G);
}

template <int BITS>
__attribute__((target("avx2,fma"))) void qmv_rows(const QMatrix& W, const float* x,
                                                  const float* xsum, float* y, int n0, int n1) {
  constexpr bool kWide = BITS == 2 || BITS == 3 || BITS == 5 || BITS == 6;  // the widths read by bytes
  const int last = std::min(n1, W.N - 1);  // every row before the matrix's last is followed by a row
  int n = n0;
  for (; n < last; ++n) y[n] = row_dot<BITS, kWide>(W, n, x, xsum);
  for (; n < n1; ++n) y[n] = row_dot<BITS, false>(W, n, x, xsum);
}

// rows n .. n + R of W as floats (R <= 4), each K long, into out[r * K ...]
template <int BITS>
__attribute__((target("avx2,fma"))) void dequantize_rows_avx2(const QMatrix& W, int n, int R, float* out) {
  const int G = W.groups();
  for (int r = 0; r < R; ++r) {
    const uint8_t* row = W.w + (n + r) * W.row_bytes();
    const float* s = W.scales + static_cast<int64_t>(n + r) * G;
    const float* b = W.biases + static_cast<int64_t>(n + r) * G;
    float* o = out + static_cast<int64_t>(r) * W.K;
    for (int g = 0; g < G; ++g) {
      __m256 sv = _mm256_set1_ps(s[g]), bv = _mm256_set1_ps(b[g]);
      for (int k = g * W.group; k < (g + 1) * W.group; k += 8) {
        _mm256_storeu_ps(o + k, _mm256_fmadd_ps(codes8_ps<BITS>(row + k * BITS / 8), sv, bv));
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
      for (int k = 0; k < K; k += 8) {  // K is a multiple of the group, so of 16
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

template <int BITS>
void qmm_rows_bits(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0, int n1,
                   float* scratch) {
  M == 1 ? qmv_rows<BITS>(W, X, xsum, Y, n0, n1) : qmm_rows<BITS>(W, X, M, Y, n0, n1, scratch);
}

bool avx2_handles(const QMatrix& W) {
  return cpu_has_avx2_fma() && W.group % 16 == 0 &&
         (W.bits == 2 || W.bits == 3 || W.bits == 4 || W.bits == 5 || W.bits == 6 || W.bits == 8);
}

}  // namespace

void qmm_rows_avx2(const QMatrix& W, const float* X, const float* xsum, int M, float* Y, int n0,
                   int n1, float* scratch) {
  switch (W.bits) {
    case 2: return qmm_rows_bits<2>(W, X, xsum, M, Y, n0, n1, scratch);
    case 3: return qmm_rows_bits<3>(W, X, xsum, M, Y, n0, n1, scratch);
    case 4: return qmm_rows_bits<4>(W, X, xsum, M, Y, n0, n1, scratch);
    case 5: return qmm_rows_bits<5>(W, X, xsum, M, Y, n0, n1, scratch);
    case 6: return qmm_rows_bits<6>(W, X, xsum, M, Y, n0, n1, scratch);
    default: return qmm_rows_bits<8>(W, X, xsum, M, Y, n0, n1, scratch);
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
  if (avx2_handles(W)) {
    if (name) *name = "avx2";
    return qmm_rows_avx2;
  }
#endif
  if (name) *name = "scalar";
  return qmm_rows_scalar;
}

void dequantize_rows(const QMatrix& W, int n0, int n1, float* out) {
#if defined(__x86_64__)
  if (avx2_handles(W)) {
    for (int n = n0; n < n1; n += 4) {
      float* o = out + static_cast<int64_t>(n - n0) * W.K;
      const int R = std::min(4, n1 - n);
      switch (W.bits) {
        case 2: dequantize_rows_avx2<2>(W, n, R, o); break;
        case 3: dequantize_rows_avx2<3>(W, n, R, o); break;
        case 4: dequantize_rows_avx2<4>(W, n, R, o); break;
        case 5: dequantize_rows_avx2<5>(W, n, R, o); break;
        case 6: dequantize_rows_avx2<6>(W, n, R, o); break;
        default: dequantize_rows_avx2<8>(W, n, R, o); break;
      }
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
