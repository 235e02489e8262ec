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

// The dense (N, K) float32 matrix of a quantized one (what mx.dequantize computes).
mx::array dequantize(const mx::array& w, const mx::array& scales, const mx::array& biases,
                     int group_size, int bits);

// softmax(q k^T * scale) v for a single query per head: q (B, H, 1, D), k (B, Hkv, S, D),
// v (B, Hkv, S, Dv) -> (B, H, 1, Dv) float32. k and v may be views into a larger cache buffer.
mx::array decode_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale);

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
