#include "decode_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "threads.h"

namespace glassbox {

namespace {

// The inner loops, compiled twice on x86-64 Linux (AVX2 + FMA, and the baseline ISA) and chosen by
// the loader at run time (GCC's target_clones): `-O3` vectorises both.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define GB_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GB_CLONES
#endif

GB_CLONES float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight partial sums: a vector register's worth
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) {
      acc[j] += a[i + j] * b[i + j];
    }
  }
  float out = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) {
    out += a[i] * b[i];
  }
  return out;
}

GB_CLONES void axpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) {
    y[i] += a * x[i];
  }
}

}  // namespace

void decode_attention(const float* q, KVView k, KVView v, float* out, int B, int H, int Hkv, int S,
                      int D, int Dv, float scale) {
  const int rep = H / Hkv;
  // One task per query head; the `rep` heads sharing a KV head read it from the cache in turn.
  ThreadPool::instance().parallel_for(B * H, [&](int task) {
    const int b = task / H, h = task % H, kvh = h / rep;
    const float* kb = k.data + b * k.batch_stride + kvh * k.head_stride;
    const float* vb = v.data + b * v.batch_stride + kvh * v.head_stride;
    const float* qh = q + static_cast<int64_t>(task) * D;
    thread_local std::vector<float> scores;
    scores.resize(S);
    float mx = -std::numeric_limits<float>::infinity();
    for (int s = 0; s < S; ++s) {
      scores[s] = dot(qh, kb + s * k.pos_stride, D) * scale;
      mx = std::max(mx, scores[s]);
    }
    float sum = 0.0f;
    for (int s = 0; s < S; ++s) {
      scores[s] = std::exp(scores[s] - mx);
      sum += scores[s];
    }
    const float inv = 1.0f / sum;
    float* o = out + static_cast<int64_t>(task) * Dv;
    std::fill(o, o + Dv, 0.0f);
    for (int s = 0; s < S; ++s) {
      axpy(scores[s] * inv, vb + s * v.pos_stride, o, Dv);
    }
  });
}

GB_CLONES void rms_norm(const float* x, const float* w, float* out, int64_t rows, int D, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float* o = out + r * D;
    float ss = 0.0f;
    for (int d = 0; d < D; ++d) {
      ss += xr[d] * xr[d];
    }
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);
    for (int d = 0; d < D; ++d) {
      o[d] = w[d] * (xr[d] * inv);
    }
  }
}

GB_CLONES void rope(const float* x, float* out, const float* inv_freq, int64_t n_seq, int L, int D, int dims,
          bool traditional, float scale, int64_t offset) {
  const int half = dims / 2;
  std::vector<float> cos_t(static_cast<size_t>(L) * half), sin_t(static_cast<size_t>(L) * half);
  for (int l = 0; l < L; ++l) {
    const float pos = static_cast<float>(offset + l) * scale;
    for (int i = 0; i < half; ++i) {
      const float theta = pos * inv_freq[i];
      cos_t[static_cast<size_t>(l) * half + i] = std::cos(theta);
      sin_t[static_cast<size_t>(l) * half + i] = std::sin(theta);
    }
  }
  for (int64_t s = 0; s < n_seq; ++s) {
    for (int l = 0; l < L; ++l) {
      const float* xr = x + (s * L + l) * D;
      float* o = out + (s * L + l) * D;
      const float* c = cos_t.data() + static_cast<size_t>(l) * half;
      const float* sn = sin_t.data() + static_cast<size_t>(l) * half;
      for (int i = 0; i < half; ++i) {
        const int a = traditional ? 2 * i : i;
        const int b = traditional ? 2 * i + 1 : i + half;
        o[a] = xr[a] * c[i] - xr[b] * sn[i];
        o[b] = xr[a] * sn[i] + xr[b] * c[i];
      }
      std::copy(xr + dims, xr + D, o + dims);
    }
  }
}

}  // namespace glassbox
