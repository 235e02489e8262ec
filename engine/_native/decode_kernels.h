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

// A quantized KV cache buffer in MLX's affine layout (what mx.quantize gives for rows of D values):
// w (B, heads, capacity, D * bits / 32) uint32, scales and biases (B, heads, capacity, D / group)
// float32, all row-contiguous; a value is scale * q + bias for its group's scale and bias. A
// writer may leave some of the three null: quantized_kv_write_row then writes the others only.
struct QuantizedKV {
  uint32_t* w;
  float* scales;
  float* biases;
  int64_t capacity;
  int D;
  int group;
  int bits;  // 4 or 8
};

// One row of D values quantized as mx.quantize does (per group of `group`: min/max, the scale and
// bias chosen so that the edge farther from zero is exact, round-half-to-even), into w
// (D * bits / 32 words), scales and biases (D / group each).
void quantize_row(const float* x, int D, int group, int bits, uint32_t* w, float* scales, float* biases);

// kv_write_row for a quantized buffer: row `row` of every head of `buf` becomes x's (normalised
// and turned as kv_write_row does), quantized (quantize_row); only the parts of `buf` not null.
void quantized_kv_write_row(const float* x, const QuantizedKV& buf, int B, int heads, int64_t row,
                            const float* inv_freq, int dims, bool traditional, float scale, int64_t position,
                            const float* norm_w, float norm_eps);

// decode_attention over rows first_row .. first_row + S - 1 of quantized key and value buffers
// (each KV head's rows dequantized once, then attend as decode_attention): q (B, H, D) contiguous,
// out (B, H, Dv).
void quantized_decode_attention(const float* q, const QuantizedKV& k, const QuantizedKV& v, float* out, int B,
                                int H, int Hkv, int64_t first_row, int S, float scale);

// u[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU's gate), in place.
void silu_mul(const float* g, float* u, int64_t n);

// u[i] = gelu_tanh(g[i]) * u[i] (GeGLU's gate, Gemma's MLP), in place: GELU's tanh approximation
// 0.5 g (1 + tanh(v)), v = sqrt(2 / pi) (g + 0.044715 g^3), computed as g / (1 + exp(-2v)).
void gelu_mul(const float* g, float* u, int64_t n);

}  // namespace glassbox
