// Micro-kernels for AVX-512, AVX2+FMA and portable C++ (see gemm_kernels.h for the contract).
//
// Each ISA-specific function carries a function-level target attribute, so the whole addon is
// compiled for baseline x86-64 and still runs on CPUs without AVX-512 or AVX2; gemm.cc picks the
// set at run time with __builtin_cpu_supports.
//
// Tile shapes: AVX-512 uses 14×32 (28 zmm accumulators + 2 B vectors, A broadcast from memory),
// AVX2 uses 6×16 (12 ymm accumulators), the portable path 4×16 (left to the auto-vectorizer).
#include "gemm_kernels.h"

#include <immintrin.h>

#include <cstring>

#include "simd512.h"

namespace beit {

namespace {

// ---------------------------------------------------------------------------------------------
// AVX-512: MR = 14, NR = 32
// ---------------------------------------------------------------------------------------------
constexpr int kMR512 = 14;
constexpr int kNR512 = 32;

template <int R>
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* a, const float* b,
                                                      int64_t ldb, float* c, int64_t ldc, int64_t n,
                                                      bool accumulate) {
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    a += kMR512;
    b += ldb;
  }
  const __mmask16 m0 = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << n) - 1u);
  const __mmask16 m1 = n >= 32 ? static_cast<__mmask16>(0xFFFF)
                               : (n <= 16 ? static_cast<__mmask16>(0)
                                          : static_cast<__mmask16>((1u << (n - 16)) - 1u));
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, cr));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    _mm512_mask_storeu_ps(cr, m0, c0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
  }
}

/// Half-width variant (R×16) for the last strip when at most 16 of its columns are valid.
template <int R>
__attribute__((target("avx512f"))) void kernel_avx512_half(int64_t kc, const float* a,
                                                           const float* b, int64_t ldb, float* c,
                                                           int64_t ldc, int64_t n, bool accumulate) {
  __m512 c0[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) c0[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), b0, c0[r]);
    a += kMR512;
    b += ldb;
  }
  const __mmask16 m0 = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << n) - 1u);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, cr));
    _mm512_mask_storeu_ps(cr, m0, c0[r]);
  }
}

/// kernel_avx512 with A read in place: row r of the tile at a + r·lda (see gemm_kernels.h).
template <int R>
__attribute__((target("avx512f"))) void kernel_avx512_strided(int64_t kc, const float* a,
                                                              int64_t lda, const float* b,
                                                              int64_t ldb, float* c, int64_t ldc,
                                                              int64_t n, bool accumulate,
                                                              const float* bias, int act,
                                                              const float* res, int64_t ldr,
                                                              bool stream) {
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    c0[r] = _mm512_setzero_ps();
    c1[r] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    b += ldb;
  }
  const __mmask16 m0 = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << n) - 1u);
  const __mmask16 m1 = n >= 32 ? static_cast<__mmask16>(0xFFFF)
                               : (n <= 16 ? static_cast<__mmask16>(0)
                                          : static_cast<__mmask16>((1u << (n - 16)) - 1u));
  const __m512 bias0 = bias != nullptr ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 bias1 = bias != nullptr ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, cr));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (bias != nullptr) {
      c0[r] = _mm512_add_ps(c0[r], bias0);
      c1[r] = _mm512_add_ps(c1[r], bias1);
    }
    if (act == 1) {
      // max(0, c) returns its second operand for a NaN c, so NaN stays NaN (tfjs's relu).
      c0[r] = _mm512_max_ps(_mm512_setzero_ps(), c0[r]);
      c1[r] = _mm512_max_ps(_mm512_setzero_ps(), c1[r]);
    } else if (act == 3) {
      c0[r] = gelu16(c0[r]);
      c1[r] = gelu16(c1[r]);
    }
    if (res != nullptr) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, res + r * ldr));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, res + r * ldr + 16));
    }
    if (stream) {
      _mm512_stream_ps(cr, c0[r]);
      _mm512_stream_ps(cr + 16, c1[r]);
      continue;
    }
    _mm512_mask_storeu_ps(cr, m0, c0[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
  }
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA: MR = 6, NR = 16
// ---------------------------------------------------------------------------------------------
constexpr int kMR256 = 6;
constexpr int kNR256 = 16;

template <int R>
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b,
                                                    int64_t ldb, float* c, int64_t ldc, int64_t n,
                                                    bool accumulate) {
  __m256 c0[R], c1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
    a += kMR256;
    b += ldb;
  }
  if (n == kNR256) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* cr = c + r * ldc;
      if (accumulate) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(cr));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(cr + 8));
      }
      _mm256_storeu_ps(cr, c0[r]);
      _mm256_storeu_ps(cr + 8, c1[r]);
    }
    return;
  }
  // Ragged last strip. Unrolled like every loop over the accumulators: a loop indexing c0[r] with a
  // run-time r makes GCC keep the arrays in memory and store all 12 accumulators on every k-step
  // of the loop above (the AVX2 products ran at a third of their speed).
  alignas(32) float tmp[kNR256];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    _mm256_store_ps(tmp, c0[r]);
    _mm256_store_ps(tmp + 8, c1[r]);
    for (int64_t j = 0; j < n; ++j) cr[j] = accumulate ? cr[j] + tmp[j] : tmp[j];
  }
}

// ---------------------------------------------------------------------------------------------
// Portable: MR = 4, NR = 16 (plain loops; the compiler vectorizes them for the baseline ISA)
// ---------------------------------------------------------------------------------------------
constexpr int kMRScalar = 4;
constexpr int kNRScalar = 16;

template <int R>
void kernel_scalar(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                   int64_t n, bool accumulate) {
  float acc[R][kNRScalar];
  std::memset(acc, 0, sizeof(acc));
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < R; ++r) {
      const float av = a[r];
      for (int j = 0; j < kNRScalar; ++j) acc[r][j] += av * b[j];
    }
    a += kMRScalar;
    b += ldb;
  }
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    for (int64_t j = 0; j < n; ++j) cr[j] = accumulate ? cr[j] + acc[r][j] : acc[r][j];
  }
}

}  // namespace

const KernelSet& kernels_avx512() {
  static const KernelSet set = {
      "avx512", kMR512, kNR512,
      {nullptr, kernel_avx512<1>, kernel_avx512<2>, kernel_avx512<3>, kernel_avx512<4>,
       kernel_avx512<5>, kernel_avx512<6>, kernel_avx512<7>, kernel_avx512<8>, kernel_avx512<9>,
       kernel_avx512<10>, kernel_avx512<11>, kernel_avx512<12>, kernel_avx512<13>,
       kernel_avx512<14>, nullptr, nullptr},
      {nullptr, kernel_avx512_half<1>, kernel_avx512_half<2>, kernel_avx512_half<3>,
       kernel_avx512_half<4>, kernel_avx512_half<5>, kernel_avx512_half<6>, kernel_avx512_half<7>,
       kernel_avx512_half<8>, kernel_avx512_half<9>, kernel_avx512_half<10>,
       kernel_avx512_half<11>, kernel_avx512_half<12>, kernel_avx512_half<13>,
       kernel_avx512_half<14>, nullptr, nullptr}};
  return set;
}

const StridedMicroKernel kStridedAvx512[15] = {
    nullptr, kernel_avx512_strided<1>, kernel_avx512_strided<2>, kernel_avx512_strided<3>,
    kernel_avx512_strided<4>, kernel_avx512_strided<5>, kernel_avx512_strided<6>,
    kernel_avx512_strided<7>, kernel_avx512_strided<8>, kernel_avx512_strided<9>,
    kernel_avx512_strided<10>, kernel_avx512_strided<11>, kernel_avx512_strided<12>,
    kernel_avx512_strided<13>, kernel_avx512_strided<14>};

const KernelSet& kernels_avx2() {
  static const KernelSet set = {
      "avx2", kMR256, kNR256,
      {nullptr, kernel_avx2<1>, kernel_avx2<2>, kernel_avx2<3>, kernel_avx2<4>, kernel_avx2<5>,
       kernel_avx2<6>, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
       nullptr, nullptr},
      {}};
  return set;
}

const KernelSet& kernels_scalar() {
  static const KernelSet set = {
      "scalar", kMRScalar, kNRScalar,
      {nullptr, kernel_scalar<1>, kernel_scalar<2>, kernel_scalar<3>, kernel_scalar<4>, nullptr,
       nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
       nullptr},
      {}};
  return set;
}

}  // namespace beit
