#include "prefill_attention.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "fast_math.h"
#include "qmm_kernels.h"
#include "threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace glassbox {

namespace {

constexpr int kKeys = 64;  // keys per tile
constexpr int kRows = 4;  // query rows per step of the two tile products
constexpr int kCols = 16;  // columns per step of the two tile products (two AVX2 registers)
constexpr int kBlockRows = 64;  // query rows of a task (all of its KV head's query heads), at most

// s (R, kKeys) = Q (R, D) kt (D, kKeys): one key tile's scores (kKeys wide, whatever the tile
// holds). kRows x kCols accumulators stay in registers while D goes by.
GB_CLONES void tile_scores_generic(const float* Q, int R, int D, const float* kt, float* s) {
  int r = 0;
  for (; r + kRows <= R; r += kRows) {
    for (int c = 0; c < kKeys; c += kCols) {
      float acc[kRows][kCols] = {};
      for (int d = 0; d < D; ++d) {
        const float* kr = kt + static_cast<int64_t>(d) * kKeys + c;
        for (int i = 0; i < kRows; ++i) {
          const float qv = Q[static_cast<int64_t>(r + i) * D + d];
          for (int j = 0; j < kCols; ++j) acc[i][j] += qv * kr[j];
        }
      }
      for (int i = 0; i < kRows; ++i) {
        for (int j = 0; j < kCols; ++j) s[static_cast<int64_t>(r + i) * kKeys + c + j] = acc[i][j];
      }
    }
  }
  for (; r < R; ++r) {
    float acc[kKeys] = {};
    for (int d = 0; d < D; ++d) {
      const float qv = Q[static_cast<int64_t>(r) * D + d];
      const float* kr = kt + static_cast<int64_t>(d) * kKeys;
      for (int j = 0; j < kKeys; ++j) acc[j] += qv * kr[j];
    }
    std::copy(acc, acc + kKeys, s + static_cast<int64_t>(r) * kKeys);
  }
}

// O (R, Dv) += P (R rows kKeys apart, the first n columns) V (n rows `v_stride` apart, Dv).
GB_CLONES void tile_values_generic(const float* P, int R, int n, const float* V, int64_t v_stride, int Dv, float* O) {
  const int full = Dv - Dv % kCols;
  int r = 0;
  for (; r + kRows <= R; r += kRows) {
    for (int c = 0; c < full; c += kCols) {
      float acc[kRows][kCols];
      for (int i = 0; i < kRows; ++i) {
        for (int j = 0; j < kCols; ++j) acc[i][j] = O[static_cast<int64_t>(r + i) * Dv + c + j];
      }
      for (int t = 0; t < n; ++t) {
        const float* vr = V + t * v_stride + c;
        for (int i = 0; i < kRows; ++i) {
          const float p = P[static_cast<int64_t>(r + i) * kKeys + t];
          for (int j = 0; j < kCols; ++j) acc[i][j] += p * vr[j];
        }
      }
      for (int i = 0; i < kRows; ++i) {
        for (int j = 0; j < kCols; ++j) O[static_cast<int64_t>(r + i) * Dv + c + j] = acc[i][j];
      }
    }
  }
  // What the blocked loop left: the columns past the last full kCols of its rows, every column
  // of the rows past its last full kRows.
  for (int row = 0; row < R; ++row) {
    const int c0 = row < r ? full : 0;
    if (c0 == Dv) continue;
    float* o = O + static_cast<int64_t>(row) * Dv;
    for (int t = 0; t < n; ++t) {
      const float p = P[static_cast<int64_t>(row) * kKeys + t];
      const float* vr = V + t * v_stride;
      for (int c = c0; c < Dv; ++c) o[c] += p * vr[c];
    }
  }
}

#if defined(__x86_64__)
// The register block both tile products share: acc (four rows of 16 columns, two registers each)
// += a (four rows `a_stride` apart, element t of each) times b (row t, 16 columns, rows `b_stride`
// apart), for t < n. Per t: two loads of b and four broadcasts of a feed eight FMAs. (GCC's own
// vectorisation of the generic loops used 128-bit registers and spilled.)
__attribute__((target("avx2,fma"))) inline void fma_4x16(const float* a, int64_t a_stride, const float* b,
                                                         int64_t b_stride, int n, __m256 acc[8]) {
  for (int t = 0; t < n; ++t, b += b_stride) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    for (int i = 0; i < kRows; ++i) {
      const __m256 x = _mm256_broadcast_ss(a + i * a_stride + t);
      acc[2 * i] = _mm256_fmadd_ps(x, b0, acc[2 * i]);
      acc[2 * i + 1] = _mm256_fmadd_ps(x, b1, acc[2 * i + 1]);
    }
  }
}

// Four rows of 16 columns, `stride` apart: loaded into acc, or stored from it.
__attribute__((target("avx2,fma"))) inline void load_4x16(const float* p, int64_t stride, __m256 acc[8]) {
  for (int i = 0; i < kRows; ++i) {
    acc[2 * i] = _mm256_loadu_ps(p + i * stride), acc[2 * i + 1] = _mm256_loadu_ps(p + i * stride + 8);
  }
}
__attribute__((target("avx2,fma"))) inline void store_4x16(float* p, int64_t stride, const __m256 acc[8]) {
  for (int i = 0; i < kRows; ++i) {
    _mm256_storeu_ps(p + i * stride, acc[2 * i]), _mm256_storeu_ps(p + i * stride + 8, acc[2 * i + 1]);
  }
}

// tile_scores with AVX2: s's 4 x 16 blocks, D steps each.
__attribute__((target("avx2,fma"))) void tile_scores_avx2(const float* Q, int R, int D, const float* kt, float* s) {
  static_assert(kRows == 4 && kCols == 16 && kKeys % kCols == 0);
  int r = 0;
  for (; r + kRows <= R; r += kRows) {
    for (int c = 0; c < kKeys; c += kCols) {
      __m256 acc[8];
      for (auto& a : acc) a = _mm256_setzero_ps();
      fma_4x16(Q + static_cast<int64_t>(r) * D, D, kt + c, kKeys, D, acc);
      store_4x16(s + static_cast<int64_t>(r) * kKeys + c, kKeys, acc);
    }
  }
  if (r < R) tile_scores_generic(Q + static_cast<int64_t>(r) * D, R - r, D, kt, s + static_cast<int64_t>(r) * kKeys);
}

// tile_values with AVX2: O's 4 x 16 blocks, n steps each; the generic loop does the columns past
// the last full 16 and the rows past the last full 4.
__attribute__((target("avx2,fma"))) void tile_values_avx2(const float* P, int R, int n, const float* V,
                                                          int64_t v_stride, int Dv, float* O) {
  const int full = Dv - Dv % kCols;
  int r = 0;
  for (; r + kRows <= R; r += kRows) {
    float* o = O + static_cast<int64_t>(r) * Dv;
    for (int c = 0; c < full; c += kCols) {
      __m256 acc[8];
      load_4x16(o + c, Dv, acc);
      fma_4x16(P + static_cast<int64_t>(r) * kKeys, kKeys, V + c, v_stride, n, acc);
      store_4x16(o + c, Dv, acc);
    }
  }
  // the rest through the generic loop: columns [full, Dv) of the blocked rows, then the last rows
  if (full < Dv) {
    for (int row = 0; row < r; ++row) {
      float* o = O + static_cast<int64_t>(row) * Dv;
      for (int t = 0; t < n; ++t) {
        const float pt = P[static_cast<int64_t>(row) * kKeys + t];
        const float* vr = V + t * v_stride;
        for (int c = full; c < Dv; ++c) o[c] += pt * vr[c];
      }
    }
  }
  if (r < R) {
    tile_values_generic(P + static_cast<int64_t>(r) * kKeys, R - r, n, V, v_stride, Dv, O + static_cast<int64_t>(r) * Dv);
  }
}
#endif

using TileScores = void (*)(const float*, int, int, const float*, float*);
using TileValues = void (*)(const float*, int, int, const float*, int64_t, int, float*);

struct TileKernels {
  TileScores scores;
  TileValues values;
};

const TileKernels& tile_kernels() {
#if defined(__x86_64__)
  static const TileKernels kernels = cpu_has_avx2_fma() ? TileKernels{tile_scores_avx2, tile_values_avx2}
                                                        : TileKernels{tile_scores_generic, tile_values_generic};
#else
  static const TileKernels kernels{tile_scores_generic, tile_values_generic};
#endif
  return kernels;
}

// One query's online-softmax step over a tile: its scores s (n of them) become the tile's
// unnormalised weights exp(s - max so far), zero outside the keys [a, b) it sees; the running max
// m and sum l move on. Returns the factor the query's output so far must be multiplied by.
GB_CLONES float online_softmax(float* s, int n, int a, int b, float& m, float& l) {
  if (a >= b) {
    std::fill(s, s + n, 0.0f);
    return 1.0f;
  }
  float tile_max = s[a];
  for (int j = a + 1; j < b; ++j) tile_max = s[j] > tile_max ? s[j] : tile_max;
  const float m_new = tile_max > m ? tile_max : m;
  const float rescale = m == -std::numeric_limits<float>::infinity() ? 0.0f : fast_exp(m - m_new);
  std::fill(s, s + a, 0.0f);
  float sum = 0.0f;
  for (int j = a; j < b; ++j) {
    s[j] = fast_exp(s[j] - m_new);
    sum += s[j];
  }
  std::fill(s + b, s + n, 0.0f);
  l = l * rescale + sum;
  m = m_new;
  return rescale;
}

struct Scratch {
  std::vector<float> q, kt, s, o, m, l;
  std::vector<int> lo, hi;
};

// The keys [lo, hi) a query at `position` sees among S.
void key_range(const AttentionBand& band, int64_t position, int S, int& lo, int& hi) {
  if (!band.causal) {
    lo = 0, hi = S;
    return;
  }
  const int64_t last = position - band.k0;  // the index of the key at the query's own position
  const int64_t first = band.window > 0 ? last - band.window + 1 : 0;
  lo = static_cast<int>(std::clamp<int64_t>(first, 0, S));
  hi = static_cast<int>(std::clamp<int64_t>(last + 1, 0, S));
}

// Queries [i0, i1) of KV head g's query heads (batch b) over the keys their band reaches.
void attend_block(const HeadsView& q, const HeadsView& k, const HeadsView& v, float* out, int b, int g, int i0,
                  int i1, int H, int rep, int L, int S, int D, int Dv, float scale, const AttentionBand& band) {
  thread_local Scratch w;
  const TileKernels& kernels = tile_kernels();
  const int n_queries = i1 - i0, R = rep * n_queries;  // rows: query head r's query i at r * n_queries + i - i0
  w.q.resize(static_cast<size_t>(R) * D);
  w.kt.resize(static_cast<size_t>(D) * kKeys);
  w.s.resize(static_cast<size_t>(R) * kKeys);
  w.o.assign(static_cast<size_t>(R) * Dv, 0.0f);
  w.m.assign(R, -std::numeric_limits<float>::infinity());
  w.l.assign(R, 0.0f);
  w.lo.resize(R);
  w.hi.resize(R);
  int first_key = S, end_key = 0;
  for (int r = 0; r < rep; ++r) {
    const float* qh = q.data + b * q.batch_stride + static_cast<int64_t>(g * rep + r) * q.head_stride;
    for (int i = i0; i < i1; ++i) {
      const int row = r * n_queries + i - i0;
      const float* src = qh + i * q.row_stride;
      float* dst = w.q.data() + static_cast<int64_t>(row) * D;
      for (int d = 0; d < D; ++d) dst[d] = src[d] * scale;
      key_range(band, band.q0 + i, S, w.lo[row], w.hi[row]);
      if (w.lo[row] < w.hi[row]) {
        first_key = std::min(first_key, w.lo[row]);
        end_key = std::max(end_key, w.hi[row]);
      }
    }
  }
  const float* kb = k.data + b * k.batch_stride + g * k.head_stride;
  const float* vb = v.data + b * v.batch_stride + g * v.head_stride;
  // Tiles on a grid of key indices (not from the block's first key): a query's tiles, and so its
  // rounding, do not depend on which other queries share its block or chunk.
  for (int t0 = first_key - first_key % kKeys; t0 < end_key; t0 += kKeys) {
    const int n = std::min(kKeys, end_key - t0);
    for (int d = 0; d < D; ++d) {  // the tile's keys transposed (D, kKeys), zeros past n
      float* dst = w.kt.data() + static_cast<int64_t>(d) * kKeys;
      for (int j = 0; j < n; ++j) dst[j] = kb[(t0 + j) * k.row_stride + d];
      std::fill(dst + n, dst + kKeys, 0.0f);
    }
    kernels.scores(w.q.data(), R, D, w.kt.data(), w.s.data());
    for (int row = 0; row < R; ++row) {
      const int a = std::clamp(w.lo[row] - t0, 0, n), e = std::clamp(w.hi[row] - t0, 0, n);
      const float rescale = online_softmax(w.s.data() + static_cast<int64_t>(row) * kKeys, n, a, e, w.m[row], w.l[row]);
      if (rescale != 1.0f) {
        float* o = w.o.data() + static_cast<int64_t>(row) * Dv;
        for (int c = 0; c < Dv; ++c) o[c] *= rescale;
      }
    }
    kernels.values(w.s.data(), R, n, vb + t0 * v.row_stride, v.row_stride, Dv, w.o.data());
  }
  for (int r = 0; r < rep; ++r) {
    float* oh = out + (static_cast<int64_t>(b) * H + g * rep + r) * L * Dv;
    for (int i = i0; i < i1; ++i) {
      const int row = r * n_queries + i - i0;
      const float inv = w.l[row] > 0.0f ? 1.0f / w.l[row] : 0.0f;
      const float* o = w.o.data() + static_cast<int64_t>(row) * Dv;
      float* dst = oh + static_cast<int64_t>(i) * Dv;
      for (int c = 0; c < Dv; ++c) dst[c] = o[c] * inv;
    }
  }
}

}  // namespace

void prefill_attention(HeadsView q, HeadsView k, HeadsView v, float* out, int B, int H, int Hkv, int L, int S,
                       int D, int Dv, float scale, AttentionBand band) {
  const int rep = H / Hkv;
  auto& pool = ThreadPool::instance();
  // Queries per block: at most kBlockRows rows with the group's heads stacked, fewer when that
  // leaves under four tasks per thread.
  const int64_t per_thread = (static_cast<int64_t>(B) * Hkv * L + 4 * pool.size() - 1) / (4 * pool.size());
  const int block = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(std::max(1, kBlockRows / rep), per_thread)));
  const int n_blocks = (L + block - 1) / block;
  const int heads = B * Hkv;
  pool.parallel_for(heads * n_blocks, [&](int task) {
    // the last blocks first: under a causal band they see the most keys
    const int blk = n_blocks - 1 - task / heads, bg = task % heads;
    const int i0 = blk * block, i1 = std::min(L, i0 + block);
    attend_block(q, k, v, out, bg / Hkv, bg % Hkv, i0, i1, H, rep, L, S, D, Dv, scale, band);
  });
}

}  // namespace glassbox
