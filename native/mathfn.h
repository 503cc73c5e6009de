// Scalar float math written so that GCC vectorizes loops calling it (no libm calls, no branches).
//
// Why: libm's expf/erff are not vectorized by GCC without -ffast-math, and softmax, GELU and the
// product's epilogue spend their time in exp and erf. Accuracy: exp within ~2 ulp wherever e^x is
// a normal float (Cephes-style polynomial after range reduction by ln 2), correctly scaled into the
// subnormals, 0 below -104 and +inf above 88.72; erf within 6e-7 relative (rational fit, below).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace beit {

/// The core of exp_fast and exp_approx: fx = x·log2(e) rounded to the nearest integer (the 1.5·2^23
/// trick: branch-free and vectorizable on every ISA, where floorf is a library call without SSE4.1;
/// exact for |x·log2 e| < 2^22), and the Cephes polynomial for e^(x - fx·ln 2), which it returns.
inline float exp_reduced(float x, float& fx) {
  const float t = x * 1.44269504088896341f;
  fx = (t + 12582912.0f) - 12582912.0f;
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p;
}

/// The integer exponent of exp_reduced's `fx`; 0 for a NaN (whose p is NaN anyway: converting a NaN
/// to an int is undefined behaviour).
inline int32_t exponent_of(float fx) { return static_cast<int32_t>(fx == fx ? fx : 0.0f); }

/// 2^e as a float for e in [-126, 127] (128 gives +inf; the biased exponent is positive, shifted as unsigned).
inline float pow2i(int32_t e) {
  const uint32_t bits = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// exp for the fused attention's softmax and the GELU-tanh epilogue, where arguments are finite
/// and results below 1.2e-38 do not matter: clamped to [-87.3, 88.7] (so e^-inf gives 1.2e-38, not
/// 0), one scaling multiply. ~15% cheaper than exp_approx, which the tfjs kernels use.
inline float exp_fast(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  float fx;
  const float p = exp_reduced(x, fx);
  return p * pow2i(exponent_of(fx));
}

inline float exp_approx(float x) {
  // Clamped to [-104, 89]: below, e^x rounds to 0 (even as a subnormal); above, it overflows to
  // +inf. NaN passes through (both comparisons are false).
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  float fx;
  const float p = exp_reduced(x, fx);
  // 2^n as 2^h·2^(n-h), h = n/2: both factors are normal floats for n in [-150, 128], so
  // subnormal results (x < -87.3) round once in the last product and n = 128 (x in [88.38,
  // 88.72], still finite) or beyond overflows to +inf the way the true value does.
  const int32_t n = exponent_of(fx);
  const int32_t h = n / 2;
  return p * pow2i(h) * pow2i(n - h);
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
  // tanh(x) = 1 - 2 / (exp(2x) + 1); fine in absolute error, which is what the GELU epilogue needs
  // (its relative error near 0 is large: see tanh_accurate for the Tanh kernel).
  return 1.0f - 2.0f / (exp_fast(2.0f * x) + 1.0f);
}

inline float tanh_accurate(float x) {
  // |x| < 0.625: x + x³·P(x²) (the Cephes tanhf polynomial, relative error ~1e-7), which keeps tiny
  // arguments exact (tanh(1e-8) = 1e-8, tanh(-0) = -0); beyond, 1 - 2/(e^2|x| + 1) with the sign of
  // x (no cancellation: the result is above 0.55). Both are computed and one selected, so loops
  // calling it vectorize. NaN stays NaN.
  const float ax = std::fabs(x);
  const float z = x * x;
  const float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                        1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
  const float big = 1.0f - 2.0f / (exp_approx(2.0f * ax) + 1.0f);
  // (x == 0: the polynomial turns -0 into +0; Math.tanh(-0) is -0.)
  return ax < 0.625f ? (x == 0.0f ? x : small) : (x < 0.0f ? -big : big);
}

inline float sigmoid_approx(float x) {
  // With e = e^-|x|: 1/(1 + e) for x >= 0, e/(1 + e) for x < 0, so that the tiny values of very
  // negative x (down to the subnormals of x > -103.9) do not underflow through 1/(1 + e^-x) = 1/inf.
  const float e = exp_approx(-std::fabs(x));
  return (x < 0.0f ? e : 1.0f) / (1.0f + e);
}

inline float expm1_approx(float x) {
  // e^x - 1 without the cancellation of exp_approx(x) - 1 near 0: Taylor series to x^9 for
  // |x| < 0.7 (truncation < 2e-8 relative), exp_approx(x) - 1 beyond.
  float p = 2.7557319e-6f;
  p = p * x + 2.4801587e-5f;
  p = p * x + 1.9841270e-4f;
  p = p * x + 1.3888889e-3f;
  p = p * x + 8.3333333e-3f;
  p = p * x + 4.1666667e-2f;
  p = p * x + 1.6666667e-1f;
  p = p * x + 0.5f;
  const float small = (p * x) * x + x;
  return std::fabs(x) < 0.7f ? small : exp_approx(x) - 1.0f;
}

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752f)); }

inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tanh_approx(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

}  // namespace beit
