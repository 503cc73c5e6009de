// Scalar float math written so that GCC vectorizes loops calling it (no libm calls, no branches).
//
// Why: libm's expf/erff are not vectorized by GCC without -ffast-math, and softmax, GELU and the
// product's epilogue spend their time in exp and erf. Accuracy: exp within ~2 ulp on
// [-87, 88] (Cephes-style polynomial after range reduction by ln 2); erf within 1.5e-7 absolute
// (Abramowitz & Stegun 7.1.26, the same formula tfjs's cpu backend uses for its Erf kernel).
#pragma once

#include <cstdint>
#include <cstring>

namespace beit {

inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick: branch-free and vectorizable
  // on every ISA (floorf is a library call without SSE4.1). Exact for |t| < 2^22.
  const float t = x * 1.44269504088896341f;
  const float fx = (t + 12582912.0f) - 12582912.0f;
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float erf_approx(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_approx(-ax * ax);
  return x < 0.0f ? -y : y;
}

inline float tanh_approx(float x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1); fine in absolute error, which is what the tolerance uses.
  return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f);
}

inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752f)); }

inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tanh_approx(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

}  // namespace beit
