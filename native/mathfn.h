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
  // erf(x) = x·P(x²)/Q(x²) on [-4, 4] (clamped: erf(4) = 1 - 1.5e-8), P of degree 6 and Q of degree
  // 4 in x², fitted by tools/fit-erf.py: |error| < 5.5e-8 in exact arithmetic, < 4e-7 evaluated in
  // float32. Half the operations of the exp-based Abramowitz-Stegun 7.1.26 formula it replaces
  // (the GELU epilogue of fc1 went from 4.3% to 3% of the product) and a smaller relative error
  // near 0.
  const float z = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  const float z2 = z * z;
  float p = 1.921285659e-08f;
  p = p * z2 + -1.989747279e-06f;
  p = p * z2 + 1.554708254e-04f;
  p = p * z2 + 4.290992869e-03f;
  p = p * z2 + 5.242757609e-02f;
  p = p * z2 + 2.139012977e-01f;
  p = p * z2 + 1.128378680e+00f;
  float q = 1.097480982e-03f;
  q = q * z2 + 1.554718886e-02f;
  q = q * z2 + 1.207815019e-01f;
  q = q * z2 + 5.228927735e-01f;
  q = q * z2 + 1.000000000e+00f;
  return z * p / q;
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
