// One pre-LayerNorm transformer layer (HF BeitLayer / ViTLayer, with the fusions the model makes at
// load: one QKV product, the score scale folded into the query, layer scale folded into the output
// projections) as one call:
//   x1  = x  + attention(LayerNorm1(x))·Wo + bo
//   out = x1 + act(LayerNorm2(x1)·W1 + b1)·W2 + b2
// Why one call: run as separate tfjs kernels, the layer's ten or so kernel invocations cost 30-50 µs of
// engine work each in JavaScript (about 4% of a batch-1 forward); here the steps run back to back on
// scratch buffers the addon keeps.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace beit {

struct LayerDesc {
  const float* x = nullptr;  // [B·T, D]
  float* out = nullptr;      // [B·T, D], not overlapping x
  int64_t B = 0, T = 0, D = 0, H = 0, F = 0;
  const float* ln1_gamma = nullptr;  // [D]
  const float* ln1_beta = nullptr;   // [D]
  float eps = 1e-12f;
  const float* w_qkv = nullptr;      // packed [D, 3D] (pack_b)
  const float* b_qkv = nullptr;      // [3D] or null
  const float* attn_bias = nullptr;  // [H, T, T] (bias_per_head) or [T, T], or null
  bool bias_per_head = true;
  const float* w_o = nullptr;        // packed [D, D]
  const float* b_o = nullptr;        // [D] or null
  const float* ln2_gamma = nullptr;
  const float* ln2_beta = nullptr;
  const float* w1 = nullptr;         // packed [D, F]
  const float* b1 = nullptr;         // [F] or null
  Act act = Act::kGelu;
  const float* w2 = nullptr;         // packed [F, D]
  const float* b2 = nullptr;         // [D] or null
};

/// Runs the layer (see above); false, with `out` untouched, when scratch memory cannot be had. The
/// caller checked the sizes.
bool layer_forward(const LayerDesc& d);

}  // namespace beit
