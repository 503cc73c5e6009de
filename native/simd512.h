// AVX-512 building blocks shared by the product's driver and the attention kernel: a 16×16
// register transpose and vector versions of mathfn.h's exp / erf / GELU (same formulas).
// Every function carries the avx512f target attribute; callers check the CPU first.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace beit {

/// dst[c·ldd + r] = src[r·lds + c] for r < 16, c < cols (src rows ≥ rows read as zeros);
/// dst rows are written with store_mask (16 floats, or fewer when dst rows overlap).
__attribute__((target("avx512f"))) inline void transpose16(const float* src, int64_t lds, int64_t rows,
                                                           int64_t cols, float* dst, int64_t ldd,
                                                           __mmask16 store_mask) {
  const __mmask16 cm = cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1u);
  __m512 r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(cm, src + i * lds) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i]), _mm512_castps_pd(t[4 * i + 2])));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[4 * i + 1]), _mm512_castps_pd(t[4 * i + 3])));
  }
  // r[4i + q] now holds, in each 128-bit lane L, column 4L + q of rows 4i..4i+3.
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);        // lanes 0,2 of rows 0-3 | 4-7
    t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);    // lanes 1,3
    t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    // Column c = 4L + q: L = 0 and 2 come from t[q] / t[8 + q], L = 1 and 3 from t[4 + q] / t[12 + q].
    const __m512 c0 = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);       // L = 0
    const __m512 c2 = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xDD);       // L = 2
    const __m512 c1 = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0x88);  // L = 1
    const __m512 c3 = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0xDD);  // L = 3
    if (q < cols) _mm512_mask_storeu_ps(dst + q * ldd, store_mask, c0);
    if (4 + q < cols) _mm512_mask_storeu_ps(dst + (4 + q) * ldd, store_mask, c1);
    if (8 + q < cols) _mm512_mask_storeu_ps(dst + (8 + q) * ldd, store_mask, c2);
    if (12 + q < cols) _mm512_mask_storeu_ps(dst + (12 + q) * ldd, store_mask, c3);
  }
}

/// exp(x) for 16 lanes: the polynomial of exp_approx (mathfn.h) in vector form.
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/// erf(x) for 16 lanes: the rational form of erf_approx (mathfn.h), same coefficients.
__attribute__((target("avx512f"))) inline __m512 erf16(__m512 x) {
  const __m512 z = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
  const __m512 z2 = _mm512_mul_ps(z, z);
  __m512 p = _mm512_set1_ps(1.921285659e-08f);
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(-1.989747279e-06f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.554708254e-04f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(4.290992869e-03f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(5.242757609e-02f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(2.139012977e-01f));
  p = _mm512_fmadd_ps(p, z2, _mm512_set1_ps(1.128378680e+00f));
  __m512 q = _mm512_set1_ps(1.097480982e-03f);
  q = _mm512_fmadd_ps(q, z2, _mm512_set1_ps(1.554718886e-02f));
  q = _mm512_fmadd_ps(q, z2, _mm512_set1_ps(1.207815019e-01f));
  q = _mm512_fmadd_ps(q, z2, _mm512_set1_ps(5.228927735e-01f));
  q = _mm512_fmadd_ps(q, z2, _mm512_set1_ps(1.000000000e+00f));
  return _mm512_div_ps(_mm512_mul_ps(z, p), q);
}

/// 0.5·x·(1 + erf(x/√2)) for 16 lanes.
__attribute__((target("avx512f"))) inline __m512 gelu16(__m512 x) {
  const __m512 e = erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

}  // namespace beit
