// Driver of the matrix product: run-time kernel choice, packing, cache blocking, threading.
//
// Structure (Goto/BLIS style, adapted to inference shapes where B is usually a weight matrix):
//   1. A is packed once per call into MR-row panels (k-major, zero-padded), in parallel.
//   2. The output is cut into tasks (batch × row blocks × column blocks) run on the pool.
//      Batch-1 linear layers split columns so both cores stream disjoint halves of the weights.
//   3. Inside a task: for each block of MC rows, for each KC slice of K, for each NR-column strip
//      of B, the micro-kernel sweeps the row panels. Full strips of a non-transposed B are read in
//      place (no copy of the weights); transposed or ragged strips are packed, zero-padded.
//   4. Bias and activation are applied to each tile right after its last K slice, while hot.
#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gemm_kernels.h"
#include "mathfn.h"
#include "pool.h"
#include "scratch.h"
#include "simd512.h"

namespace beit {

namespace {

// Tunables (benchmarks change them through gemm_tune; defaults were measured on the target machine).
int64_t g_kc = 768;           // K slice: A panel slices + the packed B block stay in L2
int64_t g_jb = 4;              // strips of B packed together (one contiguous run per row)
int64_t g_prefetch_rows = 8;   // how many rows ahead the B packing prefetches
int64_t g_mc_bytes = 768 * 1024;  // A rows × KC kept in L2 per task (M blocking)
int64_t g_kc_packed = 4096;    // K slice with pre-packed B
int64_t g_strided_a = 1;       // pre-packed B, row-major A, AVX-512: read A in place (no packing)
int64_t g_strided_max_k = 1024;  // ... when K is at most this (longer rows: packing wins)
int64_t g_tasks_per_thread = 4;  // row/column blocks per thread for single products
int64_t g_row_tasks = 1;       // pre-packed B, long rows, many panels: row-block tasks (see gemm)
int64_t g_order = 0;           // pre-packed B loop order: 0 = M block, strips, K; 1 = M block, K, strips
int64_t g_stream_bytes = 1 << 20;  // outputs at least this big (more than L2) use streaming stores

const KernelSet* g_kernels = nullptr;
bool g_avx512_helpers = false;  // AVX-512 packing / epilogue (with the AVX-512 micro-kernels only)

const KernelSet& best_kernels() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kernels_avx512();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernels_avx2();
  return kernels_scalar();
}

void set_kernels(const KernelSet* ks) {
  g_kernels = ks;
  g_avx512_helpers = std::strcmp(ks->name, "avx512") == 0;
}

const KernelSet& kernels() {
  if (g_kernels == nullptr) set_kernels(&best_kernels());
  return *g_kernels;
}

Scratch g_packed_a;
thread_local Scratch tl_packed_b;
thread_local Scratch tl_serial_a;

/// Packs rows [i0, i0+MR) of one A matrix (all of K) into dst[k*MR + r], zero-padding rows ≥ M.
/// lda is the row stride of A as stored (K, or M when trans, for dense matrices).
/// pack_a_panel for a row-major A and MR ≤ 16 on AVX-512: 16 k-steps of the panel's rows are
/// transposed in registers and stored as 16 runs of MR floats (the scalar loop scatters one float
/// at a time: 8% of a K = 3072 product at batch 8).
__attribute__((target("avx512f"))) void pack_a_rows_avx512(float* dst, const float* A, int64_t mv,
                                                           int64_t K, int64_t lda, int mr) {
  const __mmask16 sm = static_cast<__mmask16>((1u << mr) - 1u);
  int64_t k0 = 0;
  for (; k0 + 16 <= K; k0 += 16) transpose16(A + k0, lda, mv, 16, dst + k0 * mr, mr, sm);
  if (k0 < K) {
    // Last k-steps: the masked store of the final run must not spill past the panel's end.
    alignas(64) float tmp[16 * 16];
    transpose16(A + k0, lda, mv, K - k0, tmp, 16, 0xFFFF);
    for (int64_t k = k0; k < K; ++k) std::memcpy(dst + k * mr, tmp + (k - k0) * 16, sizeof(float) * mr);
  }
}

void pack_a_panel(float* dst, const float* A, int64_t M, int64_t K, int64_t lda, bool trans,
                  int64_t i0, int mr) {
  const int64_t mv = std::min<int64_t>(mr, M - i0);
  if (!trans && g_avx512_helpers && mr <= 16) {
    pack_a_rows_avx512(dst, A + i0 * lda, mv, K, lda, mr);
    return;
  }
  if (!trans) {
    // Blocks of 64 k-steps keep the destination block in L1 while rows are read sequentially.
    for (int64_t k0 = 0; k0 < K; k0 += 64) {
      const int64_t k1 = std::min<int64_t>(K, k0 + 64);
      for (int64_t r = 0; r < mv; ++r) {
        const float* src = A + (i0 + r) * lda;
        for (int64_t k = k0; k < k1; ++k) dst[k * mr + r] = src[k];
      }
      for (int64_t r = mv; r < mr; ++r)
        for (int64_t k = k0; k < k1; ++k) dst[k * mr + r] = 0.0f;
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = A + k * lda + i0;
      float* d = dst + k * mr;
      for (int64_t r = 0; r < mv; ++r) d[r] = src[r];
      for (int64_t r = mv; r < mr; ++r) d[r] = 0.0f;
    }
  }
}

/// Packs columns [j0, j0+NR) and rows [k0, k0+kc) of one B matrix into dst[k*NR + j].
/// ldb is the row stride of B as stored (N, or K when trans, for dense matrices).
void pack_b_strip(float* dst, const float* B, int64_t N, int64_t ldb, bool trans, int64_t j0,
                  int64_t k0, int64_t kc, int nr) {
  const int64_t nv = std::min<int64_t>(nr, N - j0);
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (k0 + k) * ldb + j0;
      float* d = dst + k * nr;
      for (int64_t j = 0; j < nv; ++j) d[j] = src[j];
      for (int64_t j = nv; j < nr; ++j) d[j] = 0.0f;
    }
  } else {
    // B is N×K: strip rows are contiguous along k. Blocks of 16 k-steps bound the write spread.
    for (int64_t kb = 0; kb < kc; kb += 16) {
      const int64_t ke = std::min<int64_t>(kc, kb + 16);
      for (int64_t j = 0; j < nv; ++j) {
        const float* src = B + (j0 + j) * ldb + k0;
        for (int64_t k = kb; k < ke; ++k) dst[k * nr + j] = src[k];
      }
      for (int64_t j = nv; j < nr; ++j)
        for (int64_t k = kb; k < ke; ++k) dst[k * nr + j] = 0.0f;
    }
  }
}

/// Packs strips [s0, s0+ns) of rows [k0, k0+kc): strip i goes to dst + i·kc·NR (see pack_b_strip).
void pack_b_block(float* dst, const float* B, int64_t N, int64_t ldb, bool trans, int64_t s0,
                  int64_t ns, int64_t k0, int64_t kc, int nr) {
  const int64_t j0 = s0 * nr;
  const int64_t width = std::min<int64_t>(ns * nr, N - j0);  // valid columns of the block
  if (trans || width < ns * nr) {
    for (int64_t i = 0; i < ns; ++i)
      pack_b_strip(dst + i * kc * nr, B, N, ldb, trans, (s0 + i) * nr, k0, kc, nr);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = B + (k0 + k) * ldb + j0;
    if (k + g_prefetch_rows < kc) {
      // The next rows start a page or more away: ask for them early.
      const char* ahead = reinterpret_cast<const char*>(src + g_prefetch_rows * ldb);
      for (int64_t off = 0; off < width * 4; off += 64) __builtin_prefetch(ahead + off, 0, 0);
    }
    for (int64_t i = 0; i < ns; ++i) std::memcpy(dst + i * kc * nr + k * nr, src + i * nr, nr * 4);
  }
}

bool has_epilogue(const GemmDesc& d) {
  return d.bias != nullptr || d.act != Act::kNone || d.residual != nullptr;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void epilogue_row(float* row, int64_t n, const float* bias, int64_t bias_sn, Act act, double alpha,
                  const float* res) {
  if (bias != nullptr) {
    if (bias_sn == 1) {
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
    } else if (bias_sn == 0) {
      const float bv = bias[0];
      for (int64_t j = 0; j < n; ++j) row[j] += bv;
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j * bias_sn];
    }
  }
  switch (act) {
    case Act::kNone:
      break;
    // relu, relu6, leakyrelu and elu as tfjs's cpu kernels have them: NaN stays NaN, -0 in leaky
    // relu and elu stays -0, elu's e^x - 1 without cancellation near 0.
    case Act::kRelu:
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] > 0.0f || row[j] != row[j] ? row[j] : 0.0f;
      break;
    case Act::kRelu6:
      for (int64_t j = 0; j < n; ++j) {
        const float v = row[j];
        row[j] = v != v ? v : (v > 6.0f ? 6.0f : (v > 0.0f ? v : 0.0f));
      }
      break;
    case Act::kGelu:
      for (int64_t j = 0; j < n; ++j) row[j] = gelu_erf(row[j]);
      break;
    case Act::kGeluTanh:
      for (int64_t j = 0; j < n; ++j) row[j] = gelu_tanh(row[j]);
      break;
    case Act::kSigmoid:
      for (int64_t j = 0; j < n; ++j) row[j] = sigmoid_approx(row[j]);
      break;
    case Act::kLeakyRelu:
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] < 0.0f ? static_cast<float>(alpha * row[j]) : row[j];
      break;
    case Act::kElu:
      for (int64_t j = 0; j < n; ++j) row[j] = row[j] >= 0.0f ? row[j] : expm1_approx(row[j]);
      break;
  }
  if (res != nullptr)
    for (int64_t j = 0; j < n; ++j) row[j] += res[j];
}

}  // namespace

namespace {

/// epilogue_row on AVX-512 for the common cases (bias per column or scalar, none/relu/gelu);
/// false when it does not handle the case. Explicit vectors: the auto-vectorized loop peeled up
/// to 15 scalar GELUs per tile row for alignment (10% of the fc1 product).
__attribute__((target("avx512f"))) bool epilogue_row_avx512(float* row, int64_t n, const float* bias,
                                                            int64_t bias_sn, Act act, const float* res) {
  if (bias != nullptr && bias_sn != 0 && bias_sn != 1) return false;
  if (act != Act::kNone && act != Act::kRelu && act != Act::kGelu) return false;
  const __m512 bs = bias != nullptr && bias_sn == 0 ? _mm512_set1_ps(bias[0]) : _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const int64_t left = n - j;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, row + j);
    if (bias != nullptr) v = _mm512_add_ps(v, bias_sn == 1 ? _mm512_maskz_loadu_ps(m, bias + j) : bs);
    // max(v, 0) returns 0 for a NaN v; keep the NaN (Math.max(0, NaN) is NaN).
    if (act == Act::kRelu) v = _mm512_mask_max_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v, _mm512_setzero_ps());
    if (act == Act::kGelu) v = gelu16(v);
    if (res != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + j));
    _mm512_mask_storeu_ps(row + j, m, v);
  }
  return true;
}

}  // namespace

void apply_epilogue(const GemmDesc& d, float* c, int64_t ldc, int64_t m, int64_t n, int64_t b,
                    int64_t i0, int64_t j0) {
  const float* res0 = d.residual == nullptr ? nullptr : d.residual + (b * d.M + i0) * d.N + j0;
  if (g_avx512_helpers) {
    bool done = true;
    for (int64_t i = 0; i < m && done; ++i) {
      const float* bias = d.bias == nullptr
                              ? nullptr
                              : d.bias + b * d.bias_sb + (i0 + i) * d.bias_sm + j0 * d.bias_sn;
      done = epilogue_row_avx512(c + i * ldc, n, bias, d.bias_sn, d.act,
                                 res0 == nullptr ? nullptr : res0 + i * d.N);
    }
    if (done) return;  // (the check fails on the first row or never)
  }
  for (int64_t i = 0; i < m; ++i) {
    const float* bias = d.bias == nullptr
                            ? nullptr
                            : d.bias + b * d.bias_sb + (i0 + i) * d.bias_sm + j0 * d.bias_sn;
    epilogue_row(c + i * ldc, n, bias, d.bias_sn, d.act, d.alpha,
                 res0 == nullptr ? nullptr : res0 + i * d.N);
  }
}

bool gemm_tune(const char* key, int64_t value) {
  struct Tunable {
    const char* name;
    int64_t* value;
    int64_t min, max;
  };
  constexpr int64_t kAny = INT64_MAX;
  const Tunable tunables[] = {
      {"kc", &g_kc, 16, 8192},
      {"mc_bytes", &g_mc_bytes, 4096, kAny},
      {"kc_packed", &g_kc_packed, 16, 8192},
      {"strided_a", &g_strided_a, 0, 1},
      {"strided_max_k", &g_strided_max_k, 0, kAny},
      {"tasks_per_thread", &g_tasks_per_thread, 1, 64},
      {"row_tasks", &g_row_tasks, 0, 1},
      {"order", &g_order, 0, 1},
      {"stream_bytes", &g_stream_bytes, 0, kAny},
      {"jb", &g_jb, 1, 256},
      {"prefetch_rows", &g_prefetch_rows, 1, 256},
  };
  for (const Tunable& t : tunables) {
    if (std::strcmp(key, t.name) != 0) continue;
    if (value < t.min || value > t.max) return false;
    *t.value = value;
    return true;
  }
  return false;
}

void gemm_serial(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool trans_a,
                 const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, sizeof(float) * static_cast<size_t>(N));
    return;
  }
  const KernelSet& ks = kernels();
  const int mr = ks.mr, nr = ks.nr;
  const int64_t P = (M + mr - 1) / mr, S = (N + nr - 1) / nr;
  const int64_t kc_max = std::min(K, g_kc);
  float* pa = tl_serial_a.get(static_cast<size_t>(P * mr * kc_max));
  float* pb = tl_packed_b.get(static_cast<size_t>(g_kc * nr * g_jb));
  for (int64_t k0 = 0; k0 < K; k0 += g_kc) {
    const int64_t kc = std::min(g_kc, K - k0);
    // A slice [M × kc]: panels hold kc steps of MR values.
    const float* a0 = trans_a ? A + k0 * lda : A + k0;
    for (int64_t p = 0; p < P; ++p) pack_a_panel(pa + p * mr * kc, a0, M, kc, lda, trans_a, p * mr, mr);
    for (int64_t jb0 = 0; jb0 < S; jb0 += g_jb) {
      const int64_t jb1 = std::min(S, jb0 + g_jb);
      pack_b_block(pb, B, N, ldb, trans_b, jb0, jb1 - jb0, k0, kc, nr);
      for (int64_t s = jb0; s < jb1; ++s) {
        const int64_t j0 = s * nr;
        const int64_t nv = std::min<int64_t>(nr, N - j0);
        const float* bp = pb + (s - jb0) * kc * nr;
        for (int64_t p = 0; p < P; ++p) {
          const int64_t i0 = p * mr;
          pick_kernel(ks, std::min<int64_t>(mr, M - i0), nv)(kc, pa + p * mr * kc, bp, nr, C + i0 * ldc + j0,
                                                         ldc, nv, k0 > 0);
        }
      }
    }
  }
}

int64_t packed_b_size(int64_t K, int64_t N) {
  return ((N + kPackedWidth - 1) / kPackedWidth) * K * kPackedWidth;
}

void pack_b(const float* B, int64_t K, int64_t N, bool trans, float* dst) {
  const int64_t panels = (N + kPackedWidth - 1) / kPackedWidth;
  ThreadPool::instance().run(static_cast<int>(panels), [&](int p, int) {
    pack_b_strip(dst + p * K * kPackedWidth, B, N, trans ? K : N, trans, p * kPackedWidth, 0, K,
                 kPackedWidth);
  });
}

void pack_b_rows(const float* const* rows, int64_t K, int64_t N, const double* scale, float* dst) {
  const int64_t panels = (N + kPackedWidth - 1) / kPackedWidth;
  ThreadPool::instance().run(static_cast<int>(panels), [&](int p, int) {
    float* panel = dst + p * K * kPackedWidth;
    const int64_t j0 = p * kPackedWidth, nv = std::min<int64_t>(kPackedWidth, N - j0);
    // As pack_b_strip's transposed case: blocks of 16 k-steps bound the write spread.
    for (int64_t kb = 0; kb < K; kb += 16) {
      const int64_t ke = std::min<int64_t>(K, kb + 16);
      for (int64_t j = 0; j < nv; ++j) {
        const float* src = rows[j0 + j];
        if (scale) {
          // The product in double, rounded once: what JavaScript's Float32Array store of x * s gives.
          const double s = scale[j0 + j];
          for (int64_t k = kb; k < ke; ++k) panel[k * kPackedWidth + j] = static_cast<float>(static_cast<double>(src[k]) * s);
        } else {
          for (int64_t k = kb; k < ke; ++k) panel[k * kPackedWidth + j] = src[k];
        }
      }
      for (int64_t j = nv; j < kPackedWidth; ++j)
        for (int64_t k = kb; k < ke; ++k) panel[k * kPackedWidth + j] = 0.0f;
    }
  });
}

const char* gemm_kernel_name() { return kernels().name; }

bool gemm_force_kernel(const char* name) {
  __builtin_cpu_init();
  if (std::strcmp(name, "auto") == 0) {
    set_kernels(&best_kernels());
    return true;
  }
  if (std::strcmp(name, "avx512") == 0) {
    if (!__builtin_cpu_supports("avx512f")) return false;
    set_kernels(&kernels_avx512());
    return true;
  }
  if (std::strcmp(name, "avx2") == 0) {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
    set_kernels(&kernels_avx2());
    return true;
  }
  if (std::strcmp(name, "scalar") == 0) {
    set_kernels(&kernels_scalar());
    return true;
  }
  return false;
}

void gemm(const GemmDesc& d) {
  const int64_t M = d.M, N = d.N, K = d.K;
  if (M <= 0 || N <= 0 || d.batch <= 0) return;
  ThreadPool& pool = ThreadPool::instance();
  if (K <= 0) {  // empty sum: zeros, then the epilogue
    std::memset(d.C, 0, sizeof(float) * static_cast<size_t>(d.batch * M * N));
    if (has_epilogue(d))
      for (int64_t b = 0; b < d.batch; ++b) apply_epilogue(d, d.C + b * M * N, N, M, N, b, 0, 0);
    return;
  }
  const KernelSet& ks = kernels();
  const int mr = ks.mr, nr = ks.nr;
  const int64_t P = (M + mr - 1) / mr;  // row panels per matrix
  const int64_t S = (N + nr - 1) / nr;  // column strips per matrix
  const int64_t panel_len = P * mr * K;
  const int T = pool.threads();
  const double flops = 2.0 * static_cast<double>(M) * N * K * d.batch;
  const bool serial = T == 1 || flops < 4.0e5;

  // Tasks: whole matrices when there are enough of them (batched attention products), otherwise
  // row/column blocks of one matrix so every thread gets work.
  int64_t msplit = 1, nsplit = 1;
  if (!serial && d.batch < 2 * T) {
    const int64_t want = (g_tasks_per_thread * T + d.batch - 1) / d.batch;
    nsplit = std::min<int64_t>(S, want);
    msplit = std::min<int64_t>(P, (want + nsplit - 1) / nsplit);
  }
  // A whole-matrix task packs its own A into a per-thread buffer that stays in L2; packing every A
  // up front would stream them all through memory (96 × 155 KB at batch 8) before any product.
  const bool pack_in_task = msplit == 1 && nsplit == 1 && d.batch > 1;
  // Weight products on AVX-512 read A in place with the strided kernels: packing A cost 3% of the
  // batch-8 forward (a pass over A through memory before any product).
  const bool blocked = d.a_block > 0 || d.c_block > 0;
  const bool strided_a = g_strided_a != 0 && d.b_packed && !d.trans_a && g_avx512_helpers &&
                         mr == 14 && nr == kPackedWidth && !pack_in_task &&
                         (d.a_block > 0 ? d.a_block : K) <= g_strided_max_k;
  if (blocked && (!strided_a || d.batch != 1 || (d.a_block > 0 && K % d.a_block != 0) ||
                  (d.c_block > 0 && (N % d.c_block != 0 || d.c_block % nr != 0)))) {
    std::fprintf(stderr, "beit gemm: blocked layout on an unsupported path (internal error)\n");
    std::abort();
  }

  // Long rows with pre-packed B and many row panels (fc2 at batch 8: M = 1576, K = 3072): tasks
  // take row blocks and pack their A block one K slice at a time into a per-thread buffer that stays
  // in L2, then sweep every strip of B over it. Splitting columns instead makes every task stream
  // all of the packed A (19 MB at batch 8) from L3 / DRAM, after a packing pass through memory.
  if (!serial && g_row_tasks && d.b_packed && d.batch == 1 && !strided_a && K > g_kc) {
    const int64_t want = static_cast<int64_t>(g_tasks_per_thread) * T;
    if (P >= 4 * want) {
      const bool epi_rows = has_epilogue(d);
      const float* A0 = d.A;
      const int64_t lda = d.trans_a ? M : K;
      pool.run(static_cast<int>(want), [&](int t, int) {
        const int64_t p0 = t * P / want, p1 = (t + 1) * P / want;
        const int64_t kc_max = std::min(K, g_kc);
        float* buf = tl_serial_a.get(static_cast<size_t>((p1 - p0) * mr * kc_max));
        for (int64_t k0 = 0; k0 < K; k0 += g_kc) {
          const int64_t kc = std::min(g_kc, K - k0);
          const bool last = k0 + kc >= K;
          const float* a0 = d.trans_a ? A0 + k0 * lda : A0 + k0;
          for (int64_t p = p0; p < p1; ++p)
            pack_a_panel(buf + (p - p0) * mr * kc, a0, M, kc, lda, d.trans_a, p * mr, mr);
          for (int64_t s = 0; s < S; ++s) {
            const int64_t j0 = s * nr;
            const int64_t nv = std::min<int64_t>(nr, N - j0);
            const float* bp = d.B + (j0 / kPackedWidth) * K * kPackedWidth + k0 * kPackedWidth +
                              j0 % kPackedWidth;
            for (int64_t p = p0; p < p1; ++p) {
              const int64_t i0 = p * mr;
              const int64_t mv = std::min<int64_t>(mr, M - i0);
              float* ct = d.C + i0 * N + j0;
              pick_kernel(ks, mv, nv)(kc, buf + (p - p0) * mr * kc, bp, kPackedWidth, ct, N, nv, k0 > 0);
              if (last && epi_rows) apply_epilogue(d, ct, N, mv, nv, 0, i0, j0);
            }
          }
        }
      });
      return;
    }
  }

  // 1. Pack every distinct A matrix (unless each task packs its own).
  const int64_t a_len = M * K;
  float* packed = pack_in_task || strided_a ? nullptr : g_packed_a.get(static_cast<size_t>(d.num_a * panel_len));
  if (!pack_in_task && !strided_a) {
    const int64_t pack_tasks = d.num_a * P;
    auto pack = [&](int t, int) {
      const int64_t mat = t / P, p = t % P;
      pack_a_panel(packed + mat * panel_len + p * mr * K, d.A + mat * a_len, M, K,
                   d.trans_a ? M : K, d.trans_a, p * mr, mr);
    };
    if (serial) {
      for (int64_t t = 0; t < pack_tasks; ++t) pack(static_cast<int>(t), 0);
    } else {
      pool.run(static_cast<int>(pack_tasks), pack);
    }
  }

  // 2. Run the tasks.
  const int64_t mc_panels =
      std::max<int64_t>(1, g_mc_bytes / (mr * std::min<int64_t>(K, g_kc) * 4));
  const bool epi = has_epilogue(d);
  // The strided kernels apply a per-column bias and none / ReLU / GELU themselves (no second pass
  // over the tile: the GELU epilogue was 5% of the fc1 product).
  const bool fused_epi = (d.bias == nullptr || (d.bias_sn == 1 && d.bias_sm == 0 && d.bias_sb == 0)) &&
                         (d.act == Act::kNone || d.act == Act::kRelu || d.act == Act::kGelu);
  const int64_t b_len = d.b_packed ? packed_b_size(K, N) : K * N;
  // Large outputs of the strided kernels bypass the caches (streaming stores): a C that does not fit
  // in L2 otherwise costs a line fill per written line and evicts the A block (3% of the product).
  // Needs 64-byte aligned rows; the output is read once by the next operation. (The pool fences
  // each task, which orders these weakly ordered stores before its completion count.)
  const int64_t ldc = d.c_block > 0 ? d.c_block : N;
  const bool stream_c = strided_a && fused_epi && g_stream_bytes > 0 &&
                        d.batch * M * N * 4 >= g_stream_bytes && ldc % 16 == 0 &&
                        (reinterpret_cast<uintptr_t>(d.C) & 63) == 0;

  auto task = [&](int t, int) {
    const int64_t b = t / (msplit * nsplit);
    const int64_t rem = t % (msplit * nsplit);
    const int64_t mi = rem / nsplit, ni = rem % nsplit;
    const int64_t p0 = mi * P / msplit, p1 = (mi + 1) * P / msplit;
    const int64_t s0 = ni * S / nsplit, s1 = (ni + 1) * S / nsplit;
    const int64_t ai = d.a_index ? d.a_index[b] : b;
    const int64_t bi = d.b_index ? d.b_index[b] : b;
    const float* Am;
    if (pack_in_task) {
      float* own = tl_serial_a.get(static_cast<size_t>(panel_len));
      for (int64_t p = 0; p < P; ++p)
        pack_a_panel(own + p * mr * K, d.A + ai * a_len, M, K, d.trans_a ? M : K, d.trans_a, p * mr, mr);
      Am = own;
    } else {
      Am = strided_a ? nullptr : packed + ai * panel_len;
    }
    const float* Araw = d.A + ai * a_len;
    const float* Bm = d.B + bi * b_len;
    float* Cm = d.C + b * M * N;
    // Column blocks of up to g_jb strips are packed at once: each row of B is then read as one
    // contiguous run (which the hardware prefetcher follows) instead of one 128-byte piece per strip.
    float* bbuf = tl_packed_b.get(static_cast<size_t>(g_kc * nr * g_jb));
    // Pre-packed B needs no packing buffer in L2, so K is not sliced (C is written once): measured
    // +3-5% at K = 3072. Packed-per-call B keeps g_kc so the packed block stays in L2.
    const int64_t kc_step = d.a_block > 0 ? d.a_block : d.b_packed ? std::min<int64_t>(K, g_kc_packed) : g_kc;
    auto strip = [&](int64_t s, int64_t jb0, int64_t k0, int64_t kc, int64_t pc0, int64_t pc1) {
      const bool last = k0 + kc >= K;
      const int64_t j0 = s * nr;
      const int64_t nv = std::min<int64_t>(nr, N - j0);
      // Pre-packed B: panel j0 / kPackedWidth, row k0, column offset within the panel.
      const float* bp = d.b_packed
          ? Bm + (j0 / kPackedWidth) * K * kPackedWidth + k0 * kPackedWidth + j0 % kPackedWidth
          : bbuf + (s - jb0) * kc * nr;
      const int64_t ldb = d.b_packed ? kPackedWidth : nr;
      // Blocked A: slice k0 is block k0 / a_block (kc_step = a_block); blocked C: the strip's block.
      const float* a_slice = d.a_block > 0 ? Araw + (k0 / d.a_block) * M * d.a_block : Araw + k0;
      const int64_t lda = d.a_block > 0 ? d.a_block : K;
      float* c_strip = d.c_block > 0 ? Cm + (j0 / d.c_block) * M * d.c_block + j0 % d.c_block : Cm + j0;
      for (int64_t p = pc0; p < pc1; ++p) {
        const int64_t i0 = p * mr;
        const int64_t mv = std::min<int64_t>(mr, M - i0);
        float* ct = c_strip + i0 * ldc;
        if (strided_a)
          kStridedAvx512[mv](kc, a_slice + i0 * lda, lda, bp, ldb, ct, ldc, nv, k0 > 0,
                             last && fused_epi && d.bias != nullptr ? d.bias + j0 : nullptr,
                             last && fused_epi ? static_cast<int>(d.act) : 0,
                             last && fused_epi && d.residual != nullptr ? d.residual + (b * M + i0) * N + j0 : nullptr,
                             N, stream_c && last && k0 == 0 && nv == nr);
        else
          pick_kernel(ks, mv, nv)(kc, Am + p * mr * K + k0 * mr, bp, ldb, ct, ldc, nv, k0 > 0);
        if (last && epi && !(strided_a && fused_epi)) apply_epilogue(d, ct, ldc, mv, nv, b, i0, j0);
      }
    };
    if (d.b_packed && g_order == 1) {
      // M block, K slice, all strips: the A block slice (mc × kc) stays in L2 for every strip.
      const int64_t kcw = std::min(K, kc_step);
      const int64_t mcp = std::max<int64_t>(1, g_mc_bytes / (mr * kcw * 4));
      for (int64_t pc0 = p0; pc0 < p1; pc0 += mcp) {
        const int64_t pc1 = std::min(p1, pc0 + mcp);
        for (int64_t k0 = 0; k0 < K; k0 += kc_step) {
          const int64_t kc = std::min(kc_step, K - k0);
          for (int64_t s = s0; s < s1; ++s) strip(s, s0, k0, kc, pc0, pc1);
        }
      }
      return;
    }
    for (int64_t pc0 = p0; pc0 < p1; pc0 += mc_panels) {
      const int64_t pc1 = std::min(p1, pc0 + mc_panels);
      for (int64_t jb0 = s0; jb0 < s1; jb0 += g_jb) {
        const int64_t jb1 = std::min(s1, jb0 + g_jb);
        for (int64_t k0 = 0; k0 < K; k0 += kc_step) {
          const int64_t kc = std::min(kc_step, K - k0);
          if (!d.b_packed)
            pack_b_block(bbuf, Bm, N, d.trans_b ? K : N, d.trans_b, jb0, jb1 - jb0, k0, kc, nr);
          for (int64_t s = jb0; s < jb1; ++s) strip(s, jb0, k0, kc, pc0, pc1);
        }
      }
    }
  };
  const int64_t ntasks = d.batch * msplit * nsplit;
  if (serial) {
    for (int64_t t = 0; t < ntasks; ++t) task(static_cast<int>(t), 0);
  } else {
    pool.run(static_cast<int>(ntasks), task);
  }
}

namespace {
Scratch g_mlp_hidden;  // the MLP intermediate (the forward runs one layer at a time)
}  // namespace

int64_t mlp_block(int64_t D, int64_t F) {
  const KernelSet& ks = kernels();
  if (!g_avx512_helpers || g_strided_a == 0 || ks.mr != 14 || ks.nr != kPackedWidth || D <= 0 ||
      D > g_strided_max_k || F <= 0)
    return 0;
  // The largest block of whole 32-column strips dividing F that the in-place-A kernels take, with
  // rows that do not all map to the same L1 sets (a multiple of 4 KiB would).
  for (int64_t cb = std::min<int64_t>(F, g_strided_max_k) / kPackedWidth * kPackedWidth; cb >= kPackedWidth;
       cb -= kPackedWidth)
    if (F % cb == 0 && (cb * 4) % 4096 != 0) return cb;
  return 0;
}

bool mlp(const MlpDesc& m) {
  if (m.M <= 0) return true;
  // Column-blocked intermediate where the AVX-512 in-place kernels run, else a dense one (cb = 0).
  const int64_t cb = mlp_block(m.D, m.F);
  g_mlp_hidden.trim(64u << 20, static_cast<size_t>(m.M * m.F));
  float* hidden = g_mlp_hidden.get(static_cast<size_t>(m.M * m.F));
  if (hidden == nullptr) return false;
  GemmDesc d1;
  d1.M = m.M;
  d1.N = m.F;
  d1.K = m.D;
  d1.A = m.x;
  d1.B = m.w1;
  d1.b_packed = true;
  d1.C = hidden;
  d1.c_block = cb;
  d1.bias = m.b1;
  d1.bias_sn = 1;
  d1.act = m.act;
  gemm(d1);
  GemmDesc d2;
  d2.M = m.M;
  d2.N = m.D;
  d2.K = m.F;
  d2.A = hidden;
  d2.a_block = cb;
  d2.B = m.w2;
  d2.b_packed = true;
  d2.C = m.out;
  d2.bias = m.b2;
  d2.bias_sn = 1;
  d2.residual = m.residual;
  gemm(d2);
  return true;
}

}  // namespace beit
