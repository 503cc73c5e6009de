// Fused multi-head self-attention core: softmax(Q·Kᵀ·scale + bias)·V for every (image, head),
// reading Q, K and V straight from the QKV projection's output and writing the context in the
// layout the output projection consumes.
//
// Why: composed from tfjs ops, attention costs a 5-D transpose, a split, two batched products with
// per-call packing, a bias add and a softmax pass, plus an output transpose; the products are small
// (K = 64 or N = 64), so packing and memory traffic dominate. Here each (image, head) is one pool
// task whose T×T score matrix stays in L2.
#pragma once

#include <cstdint>

namespace beit {

struct AttentionDesc {
  const float* qkv = nullptr;  // [B, T, 3, H, hd]: q, k, v of token t at qkv + (b·T + t)·3D + {0,D,2D}
  int64_t B = 0, T = 0, H = 0, hd = 0;
  const float* bias = nullptr;  // [H, T, T] (bias_per_head) or [T, T] shared by all heads, or null
  bool bias_per_head = true;
  float scale = 1.0f;           // applied to Q·Kᵀ before the bias
  float* context = nullptr;     // [B, T, H, hd] = [B, T, D]
  float* probs = nullptr;       // [B, H, T, T], or null when the caller does not need them
};

void attention(const AttentionDesc& d);

}  // namespace beit
