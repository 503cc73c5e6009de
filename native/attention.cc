// Fused attention core (see attention.h).
//
// Two implementations:
//  - AVX-512 (used when the product runs its AVX-512 kernels): per (image, head) task, Kᵀ is
//    transposed once into a zero-padded [hd, Tp] buffer (Tp = T rounded up to 16); the scores
//    S = Q·Kᵀ·scale + bias come from a micro-kernel that broadcasts Q straight from the QKV rows
//    (no packing) and applies scale and bias before storing; the softmax is two vector passes
//    (max, then exp and sum) and its 1/Σ is applied to the context rows by the P·V kernel, which
//    reads P rows in place and the V rows copied contiguous, writing the context directly. Profiling the generic path showed a third of its time in the
//    packing of Q, Kᵀ and P (gemm_serial's transposing copies) and a sixth in a scalar-ish softmax.
//  - Generic: gemm_serial products and softmax_row_biased (AVX2 and portable kernels).
#include "attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "gemm.h"
#include "ops.h"
#include "pool.h"
#include "scratch.h"
#include "simd512.h"

namespace beit {

namespace {

thread_local Scratch tl_scores;
thread_local Scratch tl_kt;

// ---------------------------------------------------------------------------------------------
// AVX-512 path
// ---------------------------------------------------------------------------------------------

/// Epilogue of the attention kernels: C = acc·scale + bias (scores), or C = acc·row_scale[r]
/// (context rows times the softmax's 1/sum).
struct TileEpilogue {
  float scale = 1.0f;
  const float* bias = nullptr;  // bias of the tile's first element, rows ldbias apart (or null)
  int64_t ldbias = 0;
  const float* row_scale = nullptr;  // per tile row (or null)
};

/// C[r][0..16V) (masked to n columns) = epilogue(Σ_k A[r·lda + k] · B[k·ldb + 0..16V)) for r < R.
/// A is read in place (broadcasts), B rows are loaded with the column mask (fault-suppressing,
/// so B may end right after its n valid columns).
template <int R, int V>
__attribute__((target("avx512f"))) void strided_kernel(int64_t kc, const float* __restrict a,
                                                       int64_t lda, const float* __restrict b,
                                                       int64_t ldb, float* __restrict c, int64_t ldc,
                                                       int64_t n, const TileEpilogue& ep) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  __mmask16 mask[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const int64_t left = n - 16 * v;
    mask[v] = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                         : (left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1u));
  }
  const bool full = n >= 16 * V;
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[V];
    if (full) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    } else {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) bv[v] = _mm512_maskz_loadu_ps(mask[v], b + 16 * v);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    b += ldb;
  }
  const __m512 vs = _mm512_set1_ps(ep.scale);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512 rs = ep.row_scale != nullptr ? _mm512_set1_ps(ep.row_scale[r]) : vs;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      __m512 x = _mm512_mul_ps(acc[r][v], rs);
      if (ep.bias != nullptr)
        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], ep.bias + r * ep.ldbias + 16 * v));
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask[v], x);
    }
  }
}

using StridedKernel = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                               int64_t, const TileEpilogue&);

// Scores: 12 rows × 32 columns (24 accumulators), and 12 × 16 for a last strip of ≤ 16 keys.
// P·V: 6 rows × 64 columns (24 accumulators).
constexpr int kScoreRows = 12;
constexpr int kPvRows = 6;
const StridedKernel kScoreKernels[kScoreRows + 1] = {
    nullptr,
    strided_kernel<1, 2>, strided_kernel<2, 2>, strided_kernel<3, 2>, strided_kernel<4, 2>,
    strided_kernel<5, 2>, strided_kernel<6, 2>, strided_kernel<7, 2>, strided_kernel<8, 2>,
    strided_kernel<9, 2>, strided_kernel<10, 2>, strided_kernel<11, 2>, strided_kernel<12, 2>};
const StridedKernel kScoreHalfKernels[kScoreRows + 1] = {
    nullptr,
    strided_kernel<1, 1>, strided_kernel<2, 1>, strided_kernel<3, 1>, strided_kernel<4, 1>,
    strided_kernel<5, 1>, strided_kernel<6, 1>, strided_kernel<7, 1>, strided_kernel<8, 1>,
    strided_kernel<9, 1>, strided_kernel<10, 1>, strided_kernel<11, 1>, strided_kernel<12, 1>};
const StridedKernel kPvKernels[kPvRows + 1] = {
    nullptr, strided_kernel<1, 4>, strided_kernel<2, 4>, strided_kernel<3, 4>,
    strided_kernel<4, 4>, strided_kernel<5, 4>, strided_kernel<6, 4>};

inline __attribute__((target("avx512f"))) __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

/// x[0..n) = exp(x − max x) in place (x already scaled and biased); returns 1 / Σ.
__attribute__((target("avx512f"))) float softmax_exp_row_avx512(float* x, int64_t n) {
  __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + j));
  }
  float mx = _mm512_reduce_max_ps(vmax);
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  const __m512 vm = _mm512_set1_ps(mx);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm));
    _mm512_mask_storeu_ps(x + j, m, e);
    vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
  }
  return 1.0f / _mm512_reduce_add_ps(vsum);
}

/// One (image, head) on AVX-512.
__attribute__((target("avx512f"))) void head_avx512(const AttentionDesc& d, int64_t b, int64_t h) {
  const int64_t T = d.T, H = d.H, hd = d.hd, D = H * hd, ld = 3 * D;
  const int64_t Tp = (T + 15) / 16 * 16;
  const float* q = d.qkv + b * T * ld + h * hd;
  const float* k = q + D;
  const float* v = q + 2 * D;
  const float* bias = d.bias == nullptr ? nullptr : d.bias + (d.bias_per_head ? h * T * T : 0);
  if (bias != nullptr) {  // the first row block's bias arrives during the copies below
    const char* first = reinterpret_cast<const char*>(bias);
    for (int64_t l = 0, n = (std::min<int64_t>(kScoreRows, T) * T * 4 + 63) / 64; l < n; ++l)
      _mm_prefetch(first + l * 64, _MM_HINT_T0);
  }
  // Kᵀ [hd, Tp], zero-padded keys, by 16×16 register transposes.
  float* kt = tl_kt.get(hd * Tp + T * hd + T);
  for (int64_t j0 = 0; j0 < Tp; j0 += 16)
    for (int64_t e0 = 0; e0 < hd; e0 += 16)
      transpose16(k + j0 * ld + e0, ld, std::min<int64_t>(16, T - j0), std::min<int64_t>(16, hd - e0),
                  kt + e0 * Tp + j0, Tp, 0xFFFF);
  // V rows copied contiguous [T, hd]: P·V then streams them instead of touching a page per row.
  float* vc = kt + hd * Tp;
  for (int64_t j = 0; j < T; ++j) std::memcpy(vc + j * hd, v + j * ld, sizeof(float) * hd);
  float* inv = vc + T * hd;  // 1 / softmax sums per row
  // S = Q·Kᵀ·scale + bias [T, Tp] (columns ≥ T are never written nor read).
  float* s = tl_scores.get(T * Tp);
  const int64_t col_tiles = (T + 31) / 32;
  for (int64_t i0 = 0; i0 < T; i0 += kScoreRows) {
    const int64_t rows = std::min<int64_t>(kScoreRows, T - i0);
    // The bias rows of the next row block (contiguous) are fetched while this block is computed: read
    // once per forward from memory, they otherwise stall every tile's epilogue (a third of the scores).
    const char* next_bias = bias == nullptr || i0 + rows >= T ? nullptr
        : reinterpret_cast<const char*>(bias + (i0 + rows) * T);
    const int64_t next_lines = next_bias == nullptr ? 0 : (std::min<int64_t>(kScoreRows, T - i0 - rows) * T * 4 + 63) / 64;
    for (int64_t j0 = 0, tile = 0; j0 < T; j0 += 32, ++tile) {
      const int64_t cols = std::min<int64_t>(32, T - j0);
      for (int64_t l = tile * next_lines / col_tiles, l1 = (tile + 1) * next_lines / col_tiles; l < l1; ++l)
        _mm_prefetch(next_bias + l * 64, _MM_HINT_T0);
      TileEpilogue ep;
      ep.scale = d.scale;
      ep.bias = bias == nullptr ? nullptr : bias + i0 * T + j0;
      ep.ldbias = T;
      (cols <= 16 ? kScoreHalfKernels : kScoreKernels)[rows](hd, q + i0 * ld, ld, kt + j0, Tp,
                                                              s + i0 * Tp + j0, Tp, cols, ep);
    }
  }
  for (int64_t i = 0; i < T; ++i) inv[i] = softmax_exp_row_avx512(s + i * Tp, T);
  if (d.probs != nullptr) {
    float* pr = d.probs + (b * H + h) * T * T;
    for (int64_t i = 0; i < T; ++i) {
      const __m512 vi = _mm512_set1_ps(inv[i]);
      for (int64_t j = 0; j < T; j += 16) {
        const __mmask16 m = tail_mask(T - j);
        _mm512_mask_storeu_ps(pr + i * T + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + i * Tp + j), vi));
      }
    }
  }
  // context = P·V with P = exp(S − max) / Σ: the 1/Σ is applied to the context rows, written
  // straight into [B, T, D] at column h·hd.
  float* ctx = d.context + b * T * D + h * hd;
  for (int64_t i0 = 0; i0 < T; i0 += kPvRows) {
    const int64_t rows = std::min<int64_t>(kPvRows, T - i0);
    TileEpilogue ep;
    ep.row_scale = inv + i0;
    for (int64_t e0 = 0; e0 < hd; e0 += 64)
      kPvKernels[rows](T, s + i0 * Tp, Tp, vc + e0, hd, ctx + i0 * D + e0, D,
                       std::min<int64_t>(64, hd - e0), ep);
  }
}

}  // namespace

void attention(const AttentionDesc& d) {
  const int64_t T = d.T, H = d.H, hd = d.hd, D = H * hd, ld = 3 * D;
  const bool fast = hd > 0 && std::strcmp(gemm_kernel_name(), "avx512") == 0;
  // Head-major task order: the images of one head run back to back, so that head's bias (T×T,
  // 155 KB at T = 197) is read from L2 rather than from memory (-10% attention time at batch 8).
  ThreadPool::instance().run(static_cast<int>(d.B * H), [&](int task, int) {
    const int64_t b = task % d.B, h = task / d.B;
    if (fast) {
      head_avx512(d, b, h);
      return;
    }
    const float* q = d.qkv + b * T * ld + h * hd;
    const float* k = q + D;
    const float* v = q + 2 * D;
    float* s = d.probs != nullptr ? d.probs + (b * H + h) * T * T : tl_scores.get(T * T);
    gemm_serial(T, T, hd, q, ld, false, k, ld, true, s, T);  // scores [T, T]
    const float* bias = d.bias == nullptr ? nullptr : d.bias + (d.bias_per_head ? h * T * T : 0);
    for (int64_t i = 0; i < T; ++i)
      softmax_row_biased(s + i * T, bias == nullptr ? nullptr : bias + i * T, d.scale, T);
    gemm_serial(T, hd, T, s, T, false, v, ld, false, d.context + b * T * D + h * hd, D);
  });
}

}  // namespace beit
