// Attention for many queries at once (a prompt's chunk): flash attention's blocking on the CPU.
#pragma once

#include <cstdint>

namespace glassbox {

// Which keys each query sees. Query i sits at position q0 + i and key j at position k0 + j. With
// `causal`, a query sees the keys at its own position and before; with window > 0 as well, only
// the last `window` of them (positions > its own - window: a sliding-window layer). Without
// `causal` every key is seen and the rest is ignored.
struct AttentionBand {
  bool causal;
  int64_t q0;
  int64_t k0;
  int64_t window;
};

// A float32 (B, heads, rows, dim) tensor with unit stride along dim and these element strides.
struct HeadsView {
  const float* data;
  int64_t batch_stride;
  int64_t head_stride;
  int64_t row_stride;
};

// out (B, H, L, Dv), contiguous = softmax(q k^T * scale over the keys `band` lets each query see) v,
// with grouped-query heads (query head h reads KV head h / (H / Hkv)): q (B, H, L, D), k (B, Hkv,
// S, D), v (B, Hkv, S, Dv). A query that sees no key gets zeros.
//
// Flash attention's loop order (Dao et al. 2022, "FlashAttention"): the queries of one KV head's
// query heads go in blocks, the keys in tiles, and an online softmax (a running max and sum per
// query, the partial output rescaled when the max grows) means no (L, S) score matrix is ever
// written; tiles a block's band does not reach are skipped (half the work of a causal prompt).
// Blocks are spread over the thread pool, the longest first.
void prefill_attention(HeadsView q, HeadsView k, HeadsView v, float* out, int B, int H, int Hkv, int L,
                       int S, int D, int Dv, float scale, AttentionBand band);

}  // namespace glassbox
