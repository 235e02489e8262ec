#include "decode_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "fast_math.h"
#include "threads.h"

namespace glassbox {

namespace {

// x[i] = exp(x[i] - shift) for i < n (fast_exp), returning their sum.
GB_CLONES float exp_shifted_sum(float* x, int n, float shift) {
  for (int i = 0; i < n; ++i) x[i] = fast_exp(x[i] - shift);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // the sum in a second pass: eight partial sums vectorise
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += x[i + j];
  }
  float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) sum += x[i];
  return sum;
}

}  // namespace

namespace {

// The `rep` query heads q (rep, D) that share one KV head, over its S keys and values (rows
// `stride` floats apart): o (rep, Dv) = softmax(q k^T * scale) v. One function per ISA, so the
// per-key dot products and value updates are inlined and vectorised (not a call per row).
GB_CLONES void attend_group(const float* q, int rep, const float* kb, int64_t k_stride, const float* vb,
                            int64_t v_stride, int S, int D, int Dv, float scale, float* scores, float* o) {
  for (int s = 0; s < S; ++s) {
    const float* kr = kb + s * k_stride;
    for (int r = 0; r < rep; ++r) {
      const float* qr = q + static_cast<int64_t>(r) * D;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int i = 0;
      for (; i + 8 <= D; i += 8) {
        for (int j = 0; j < 8; ++j) acc[j] += qr[i + j] * kr[i + j];
      }
      float dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (; i < D; ++i) dot += qr[i] * kr[i];
      scores[static_cast<int64_t>(r) * S + s] = dot * scale;
    }
  }
  for (int r = 0; r < rep; ++r) {
    float* sc = scores + static_cast<int64_t>(r) * S;
    float mx = sc[0];
    for (int s = 1; s < S; ++s) mx = sc[s] > mx ? sc[s] : mx;
    const float inv = 1.0f / exp_shifted_sum(sc, S, mx);
    for (int s = 0; s < S; ++s) sc[s] *= inv;
  }
  std::fill(o, o + static_cast<int64_t>(rep) * Dv, 0.0f);
  for (int s = 0; s < S; ++s) {
    const float* vr = vb + s * v_stride;
    for (int r = 0; r < rep; ++r) {
      const float p = scores[static_cast<int64_t>(r) * S + s];
      float* orow = o + static_cast<int64_t>(r) * Dv;
      for (int i = 0; i < Dv; ++i) orow[i] += p * vr[i];
    }
  }
}

}  // namespace

void decode_attention(const float* q, KVView k, KVView v, float* out, int B, int H, int Hkv, int S,
                      int D, int Dv, float scale) {
  const int rep = H / Hkv;
  // One task per KV head: its `rep` query heads go through the cache together, so each key and
  // value row is read once per step, not once per query head.
  ThreadPool::instance().parallel_for(B * Hkv, [&](int task) {
    const int b = task / Hkv, kvh = task % Hkv;
    const float* kb = k.data + b * k.batch_stride + kvh * k.head_stride;
    const float* vb = v.data + b * v.batch_stride + kvh * v.head_stride;
    const int64_t first_head = static_cast<int64_t>(b) * H + static_cast<int64_t>(kvh) * rep;
    thread_local std::vector<float> scores;  // (rep, S)
    scores.resize(static_cast<size_t>(rep) * S);
    attend_group(q + first_head * D, rep, kb, k.pos_stride, vb, v.pos_stride, S, D, Dv, scale, scores.data(),
                 out + first_head * Dv);
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

void kv_write_row(const float* x, float* buf, int B, int heads, int64_t capacity, int D, int64_t row,
                  const float* inv_freq, int dims, bool traditional, float scale, int64_t position,
                  const float* norm_w, float norm_eps) {
  const int64_t n = static_cast<int64_t>(B) * heads;
  thread_local std::vector<float> normed, rotated;
  if (norm_w != nullptr) {
    normed.resize(static_cast<size_t>(n) * D);
    rms_norm(x, norm_w, normed.data(), n, D, norm_eps);
    x = normed.data();
  }
  if (inv_freq != nullptr) {  // every head at the same position: one table of angles
    rotated.resize(static_cast<size_t>(n) * D);
    rope(x, rotated.data(), inv_freq, n, 1, D, dims, traditional, scale, position);
    x = rotated.data();
  }
  for (int64_t bh = 0; bh < n; ++bh) {
    std::copy(x + bh * D, x + (bh + 1) * D, buf + (bh * capacity + row) * D);
  }
}

void quantize_row(const float* x, int D, int group, int bits, uint32_t* w, float* scales, float* biases) {
  const float n_bins = static_cast<float>((1 << bits) - 1);
  const int per_word = 32 / bits;
  for (int g = 0; g < D / group; ++g) {
    const float* xg = x + static_cast<int64_t>(g) * group;
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (int j = 0; j < group; ++j) {
      lo = std::min(lo, xg[j]);
      hi = std::max(hi, xg[j]);
    }
    const bool low_edge = std::abs(lo) > std::abs(hi);  // the edge farther from zero is kept exact
    float step = std::max((hi - lo) / n_bins, 1e-7f);
    step = low_edge ? step : -step;
    const float edge = low_edge ? lo : hi;
    const float q0 = std::rint(edge / step);
    float bias = 0.0f;
    if (q0 != 0.0f) {
      step = edge / q0;
      bias = edge;
    }
    for (int j = 0; j < group; j += per_word) {
      uint32_t word = 0;
      for (int e = 0; e < per_word; ++e) {
        float qv = std::rint((xg[j + e] - bias) / step);
        qv = std::min(std::max(qv, 0.0f), n_bins);
        word |= static_cast<uint32_t>(qv) << (e * bits);
      }
      w[(static_cast<int64_t>(g) * group + j) / per_word] = word;
    }
    scales[g] = step;
    biases[g] = bias;
  }
}

void quantized_kv_write_row(const float* x, const QuantizedKV& buf, int B, int heads, int64_t row,
                            const float* inv_freq, int dims, bool traditional, float scale, int64_t position,
                            const float* norm_w, float norm_eps) {
  const int64_t n = static_cast<int64_t>(B) * heads;
  const int D = buf.D;
  thread_local std::vector<float> normed, rotated;
  if (norm_w != nullptr) {
    normed.resize(static_cast<size_t>(n) * D);
    rms_norm(x, norm_w, normed.data(), n, D, norm_eps);
    x = normed.data();
  }
  if (inv_freq != nullptr) {
    rotated.resize(static_cast<size_t>(n) * D);
    rope(x, rotated.data(), inv_freq, n, 1, D, dims, traditional, scale, position);
    x = rotated.data();
  }
  const int64_t words = static_cast<int64_t>(D) * buf.bits / 32, groups = D / buf.group;
  thread_local std::vector<uint32_t> w;
  thread_local std::vector<float> scales, biases;
  w.resize(words);
  scales.resize(groups);
  biases.resize(groups);
  for (int64_t bh = 0; bh < n; ++bh) {
    const int64_t r = bh * buf.capacity + row;
    quantize_row(x + bh * D, D, buf.group, buf.bits, w.data(), scales.data(), biases.data());
    if (buf.w != nullptr) std::copy(w.begin(), w.end(), buf.w + r * words);
    if (buf.scales != nullptr) std::copy(scales.begin(), scales.end(), buf.scales + r * groups);
    if (buf.biases != nullptr) std::copy(biases.begin(), biases.end(), buf.biases + r * groups);
  }
}

namespace {

// Rows first .. first + S - 1 of head `bh` of a quantized buffer as S x D floats.
GB_CLONES void dequantize_head(const QuantizedKV& a, int64_t bh, int64_t first, int S, float* out) {
  const int D = a.D, per_word = 32 / a.bits;
  const uint32_t mask = (1u << a.bits) - 1;
  const int64_t words = static_cast<int64_t>(D) / per_word, groups = D / a.group;
  for (int s = 0; s < S; ++s) {
    const int64_t r = bh * a.capacity + first + s;
    const uint32_t* w = a.w + r * words;
    const float* sc = a.scales + r * groups;
    const float* bi = a.biases + r * groups;
    float* o = out + static_cast<int64_t>(s) * D;
    for (int i = 0; i < D; ++i) {
      const uint32_t q = (w[i / per_word] >> ((i % per_word) * a.bits)) & mask;
      o[i] = sc[i / a.group] * static_cast<float>(q) + bi[i / a.group];
    }
  }
}

}  // namespace

void quantized_decode_attention(const float* q, const QuantizedKV& k, const QuantizedKV& v, float* out, int B,
                                int H, int Hkv, int64_t first_row, int S, float scale) {
  const int rep = H / Hkv, D = k.D, Dv = v.D;
  ThreadPool::instance().parallel_for(B * Hkv, [&](int task) {  // one KV head a task, as decode_attention
    const int64_t first_head = static_cast<int64_t>(task / Hkv) * H + static_cast<int64_t>(task % Hkv) * rep;
    thread_local std::vector<float> keys, values, scores;
    keys.resize(static_cast<size_t>(S) * D);
    values.resize(static_cast<size_t>(S) * Dv);
    scores.resize(static_cast<size_t>(rep) * S);
    dequantize_head(k, task, first_row, S, keys.data());
    dequantize_head(v, task, first_row, S, values.data());
    attend_group(q + first_head * D, rep, keys.data(), D, values.data(), Dv, S, D, Dv, scale, scores.data(),
                 out + first_head * Dv);
  });
}

GB_CLONES void silu_mul(const float* g, float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) u[i] = g[i] / (1.0f + fast_exp(-g[i])) * u[i];
}

GB_CLONES void gelu_mul(const float* g, float* u, int64_t n) {
  constexpr float k2 = 2.0f * 0.7978845608028654f;  // 2 sqrt(2 / pi)
  for (int64_t i = 0; i < n; ++i) {  // far below zero: g / (1 + 2^126 p), 0 to float32's resolution
    const float x = g[i];
    u[i] = x / (1.0f + fast_exp(-k2 * (x + 0.044715f * x * x * x))) * u[i];
  }
}

}  // namespace glassbox
