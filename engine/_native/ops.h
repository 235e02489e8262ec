// MLX operations (graph nodes) over the CPU kernels: each is one Primitive with eval_cpu.
#pragma once

#include <optional>

#include "mlx/ops.h"
#include "mlx/primitives.h"

namespace glassbox {

namespace mx = mlx::core;

// x (..., K) @ W^T for W in MLX's affine quantized layout: w (N, K * bits / 32) uint32,
// scales and biases (N, K / group) -> (..., N) float32.
mx::array quantized_matmul(const mx::array& x, const mx::array& w, const mx::array& scales,
                           const mx::array& biases, int group_size, int bits);

// x @ W_i^T for several quantized matrices sharing one input (a layer's Q, K and V projections),
// one graph operation: weights holds (w, scales, biases) per matrix, all at (group_size, bits).
std::vector<mx::array> quantized_matmuls(const mx::array& x, const std::vector<mx::array>& weights,
                                         int group_size, int bits);

// SwiGLU's hidden layer from two quantized matrices: silu(x @ G^T) * (x @ U^T) -> (..., N) float32,
// gate = (w, scales, biases) and up likewise, both at (group_size, bits).
// With gelu, GeGLU's instead: gelu_tanh(x @ G^T) * (x @ U^T) (Gemma's MLP).
mx::array quantized_swiglu(const mx::array& x, const std::vector<mx::array>& gate,
                           const std::vector<mx::array>& up, int group_size, int bits, bool gelu = false);

// Rows `ids` (any shape, integer) of a quantized (N, K) matrix, dequantized: (ids..., K) float32
// (an embedding lookup). An id outside 0 .. N - 1 gives a row of zeros.
mx::array quantized_take(const mx::array& w, const mx::array& scales, const mx::array& biases,
                         const mx::array& ids, int group_size, int bits);

// The dense (N, K) float32 matrix of a quantized one (what mx.dequantize computes).
mx::array dequantize(const mx::array& w, const mx::array& scales, const mx::array& biases,
                     int group_size, int bits);

// softmax(q k^T * scale) v for a single query per head: q (B, H, 1, D), k (B, Hkv, S, D),
// v (B, Hkv, S, Dv) -> (B, H, 1, Dv) float32. k and v may be views into a larger cache buffer.
mx::array decode_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale);

// softmax(q k^T * scale) v for many queries (a prompt's chunk) -> (B, H, L, Dv) float32: q (B, H, L,
// D), k (B, Hkv, S, D), v (B, Hkv, S, Dv). Query i at position q0 + i sees key j at position k0 + j
// when `causal` says so (its own position and before; with window > 0 only the last `window` of
// those); without `causal`, every key. See prefill_attention.h.
mx::array prefill_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale, bool causal,
                            int64_t q0, int64_t k0, int64_t window);

// The cache buffer `buf` (B, heads, capacity, D) with row `row` of every head replaced by x
// (B, 1, heads * D): a decode step's new key (RMS-normalised per head with norm_weight (D,) when
// given, then RoPE'd at `position` when inv_freq is given) or value. The result reuses buf's memory when nothing else holds it (MLX's donation), so a step
// writes one row, not the whole buffer.
mx::array kv_write(const mx::array& buf, const mx::array& x, int64_t row,
                   const std::optional<mx::array>& inv_freq, int dims, bool traditional, float scale,
                   int64_t position, const std::optional<mx::array>& norm_weight = std::nullopt,
                   float norm_eps = 0.0f);

// One decode step's attention straight from the projections and the cache buffers: q (B, 1, H * D)
// RMS-normalised per head with norm_weight (D,) when given, RoPE'd at `position`, attending to rows first_row .. first_row + n_rows - 1 of k_buf
// (B, Hkv, capacity, D) and v_buf (B, Hkv, capacity, Dv) -> (B, 1, H * Dv) float32, ready for the
// output projection.
mx::array rotary_decode_attention(const mx::array& q, const mx::array& k_buf, const mx::array& v_buf,
                                  const mx::array& inv_freq, int dims, bool traditional, float rope_scale,
                                  int64_t position, int64_t first_row, int64_t n_rows, float scale,
                                  const std::optional<mx::array>& norm_weight = std::nullopt,
                                  float norm_eps = 0.0f);

// kv_write for a quantized cache's buffer `buf` = (w, scales, biases) in MLX's affine layout
// (B, heads, capacity, D * bits / 32) uint32 and (B, heads, capacity, D / group_size) float32:
// row `row` of every head becomes x's (B, 1, heads * D) (normed and turned first when asked, as
// kv_write), quantized as mx.quantize quantizes it. Returns the three buffers, each written in
// place when it may be donated.
std::vector<mx::array> quantized_kv_write(const std::vector<mx::array>& buf, const mx::array& x, int64_t row,
                                          int group_size, int bits, const std::optional<mx::array>& inv_freq,
                                          int dims, bool traditional, float scale, int64_t position,
                                          const std::optional<mx::array>& norm_weight, float norm_eps);

// rotary_decode_attention over quantized key and value buffers (w, scales, biases each, as
// quantized_kv_write's) -> (B, 1, H * Dv) float32.
mx::array quantized_rotary_decode_attention(const mx::array& q, const std::vector<mx::array>& k_buf,
                                            const std::vector<mx::array>& v_buf, int group_size, int bits,
                                            const mx::array& inv_freq, int dims, bool traditional,
                                            float rope_scale, int64_t position, int64_t first_row, int64_t n_rows,
                                            float scale, const std::optional<mx::array>& norm_weight,
                                            float norm_eps);

// Cache buffers copied (not written in place) by kv_write since the module was loaded: a step
// that copies is correct but reads and writes the whole buffer.
int64_t kv_write_copies();

// silu(g) * u (gelu: gelu_tanh(g) * u) elementwise -> float32 of their shape, over the thread pool.
mx::array gated_activation(const mx::array& g, const mx::array& u, bool gelu);

// x (..., D) * rsqrt(mean(x^2) + eps) * weight (D,) -> float32
mx::array rms_norm(const mx::array& x, const mx::array& weight, float eps);

// Rotary embedding of x (..., L, D) at positions offset .. offset + L - 1 with the given inverse
// frequencies (dims / 2,) -> float32.
mx::array rope(const mx::array& x, const mx::array& inv_freq, int dims, bool traditional, float scale,
               int offset);

// Which quantized-matmul kernel serves a (bits, group) on this CPU: "avx2" or "scalar".
const char* kernel_name(int bits, int group_size);

// Whether the AVX2 + FMA kernels are usable on this CPU (checked once, at run time).
bool cpu_has_avx2_fma();

}  // namespace glassbox
