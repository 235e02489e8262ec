// The small per-token operations of a decode step, each one pass over its data.
#pragma once

#include <cstdint>

namespace glassbox {

// softmax(q k^T * scale) v for one query position per head, grouped-query heads.
// q: (B, H, D) contiguous; k: (B, Hkv, S, D) and v: (B, Hkv, S, Dv) with the given element
// strides (batch, head, position) and unit stride along D; out: (B, H, Dv) contiguous.
struct KVView {
  const float* data;
  int64_t batch_stride;
  int64_t head_stride;
  int64_t pos_stride;
};
void decode_attention(const float* q, KVView k, KVView v, float* out, int B, int H, int Hkv, int S,
                      int D, int Dv, float scale);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for rows of length D.
void rms_norm(const float* x, const float* w, float* out, int64_t rows, int D, float eps);

// Rotary embedding of rows (..., L, D) at positions offset .. offset + L: the first `dims`
// features rotated by angle pos * scale * inv_freq[i], rotate-half pairs (i, i + dims/2) or
// traditional pairs (2i, 2i + 1); the rest copied.
void rope(const float* x, float* out, const float* inv_freq, int64_t n_seq, int L, int D, int dims,
          bool traditional, float scale, int64_t offset);

// One new row of each of B * heads cache heads, written into a cache buffer: x (B, heads * D)
// contiguous, buf (B, heads, capacity, D) contiguous; row `row` of every head becomes x's,
// RMS-normalised per head with norm_w (D,) and norm_eps first when norm_w is given (Gemma 3's and
// Qwen 3's key norm, as `rms_norm` does), then RoPE'd at position `position` when inv_freq is
// given (as `rope` does).
void kv_write_row(const float* x, float* buf, int B, int heads, int64_t capacity, int D, int64_t row,
                  const float* inv_freq, int dims, bool traditional, float scale, int64_t position,
                  const float* norm_w = nullptr, float norm_eps = 0.0f);

// u[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU's gate), in place.
void silu_mul(const float* g, float* u, int64_t n);

}  // namespace glassbox
