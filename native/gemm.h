// Single-precision matrix product C = op(A) · op(B) (+ bias, activation), plain and batched.
//
// Why a custom product: tfjs's JS `cpu` backend multiplies at ~0.4 GFLOP/s and its `wasm` backend
// runs single-threaded in Node. This product follows the Goto/BLIS structure (packed A panels,
// cache blocking over K and M, a register-tiled micro-kernel chosen at run time for the CPU) and
// spreads tiles over the persistent thread pool.
#pragma once

#include <cstdint>

namespace beit {

/// Activations applied in the product's epilogue. Values are part of the JS <-> C++ contract.
enum class Act : int {
  kNone = 0,
  kRelu = 1,
  kRelu6 = 2,
  kGelu = 3,       // exact: 0.5·x·(1 + erf(x/√2))
  kGeluTanh = 4,   // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  kSigmoid = 5,
  kLeakyRelu = 6,  // uses alpha
  kElu = 7,
};

/// One (batched) product. Matrix b of the output uses A matrix a_index[b] and B matrix b_index[b]
/// (null index arrays mean "matrix b"), which expresses tfjs's broadcasting of batch dimensions.
struct GemmDesc {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  const float* A = nullptr;  // each A matrix: M×K (or K×M when trans_a), row-major, dense
  const float* B = nullptr;  // each B matrix: K×N (or N×K when trans_b), row-major, dense,
                             // or pre-packed by pack_b() when b_packed (trans_b is then ignored)
  bool b_packed = false;
  float* C = nullptr;        // batch × M × N, row-major, dense
  int64_t batch = 1;
  const int32_t* a_index = nullptr;
  const int32_t* b_index = nullptr;
  int64_t num_a = 1, num_b = 1;  // number of distinct A / B matrices
  // Bias element for output (b, i, j) is bias[b·bias_sb + i·bias_sm + j·bias_sn] (strides may be 0).
  const float* bias = nullptr;
  int64_t bias_sb = 0, bias_sm = 0, bias_sn = 0;
  Act act = Act::kNone;
  double alpha = 0.2;  // leaky relu slope (double: alpha·x is rounded once, like tfjs's cpu kernel)
  // Residual (null: none): batch × M × N, laid out like C and not overlapping it; added after the
  // activation, so the output is act(op(A)·op(B) + bias) + residual.
  const float* residual = nullptr;
  // Column-blocked layouts (0: dense), for the MLP's intermediate (see mlp()): with c_block, C is
  // stored as N / c_block blocks of [M, c_block] (block j at C + j·M·c_block); with a_block, A is
  // stored as K / a_block blocks of [M, a_block]. Only where mlp_block() says they run (batch 1,
  // pre-packed B, the AVX-512 in-place-A kernels).
  int64_t a_block = 0, c_block = 0;
};

/// The MLP of a transformer layer: out = act(x·W1 + b1)·W2 + b2 + residual, W1 [D, F] and W2 [F, D]
/// pre-packed. The intermediate [M, F] is kept in a column-blocked scratch buffer so that the second
/// product reads it in place without L1 set conflicts (dense rows of F = 3072 floats are 12 KiB apart,
/// so 14 rows share one set; packing them instead cost 3% of that product).
struct MlpDesc {
  const float* x = nullptr;    // [M, D]
  const float* w1 = nullptr;   // packed [D, F]
  const float* b1 = nullptr;   // [F] or null
  Act act = Act::kNone;
  const float* w2 = nullptr;   // packed [F, D]
  const float* b2 = nullptr;   // [D] or null
  const float* residual = nullptr;  // [M, D] or null (not overlapping out)
  float* out = nullptr;        // [M, D]
  int64_t M = 0, D = 0, F = 0;
};

/// Column block of the MLP intermediate for these sizes, or 0 when it is kept dense instead (kernels
/// other than AVX-512, D too large for the in-place-A kernels, F without a suitable block).
int64_t mlp_block(int64_t D, int64_t F);

/// Runs the MLP (see MlpDesc); false (nothing written) only when the intermediate's memory cannot be had.
bool mlp(const MlpDesc& m);

/// Width of the column panels of a pre-packed B (a multiple of every micro-kernel's NR).
constexpr int64_t kPackedWidth = 32;

/// Floats needed by pack_b for a K×N matrix: ceil(N / 32) panels of K×32, zero-padded.
int64_t packed_b_size(int64_t K, int64_t N);

/// Packs B (K×N, or N×K when trans) into panels of 32 columns, each K×32 row-major, so products
/// with it stream B sequentially and skip per-call packing (weights packed once at load).
void pack_b(const float* B, int64_t K, int64_t N, bool trans, float* dst);

/// Packs B = [K, N] given as its N columns, rows[n] pointing at K floats each (a PyTorch [out, in]
/// weight, or several stacked along out), each column multiplied by scale[n] (in double, rounded
/// once) when scale is given. Same layout as pack_b.
void pack_b_rows(const float* const* rows, int64_t K, int64_t N, const double* scale, float* dst);

/// C = op(A)·op(B) on the calling thread only, for strided operands (row strides lda, ldb, ldc as
/// stored). Used inside pool tasks, e.g. per attention head.
void gemm_serial(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool trans_a,
                 const float* B, int64_t ldb, bool trans_b, float* C, int64_t ldc);

/// Runs the product on the thread pool with the best micro-kernel for this CPU.
void gemm(const GemmDesc& d);

/// Name of the micro-kernel in use ("avx512", "avx2", "scalar").
const char* gemm_kernel_name();

/// Forces a micro-kernel ("avx512", "avx2", "scalar" or "auto"); returns false if this CPU lacks it.
bool gemm_force_kernel(const char* name);

/// Sets a blocking parameter ("kc": K slice, "jb": strips packed together, "prefetch_rows");
/// false if the key or value is not accepted.
/// For benchmarks; the defaults are the measured best on the target machine.
bool gemm_tune(const char* key, int64_t value);

/// Applies bias, activation and residual to an m×n tile of C (row stride ldc) whose top-left element is
/// output (b, i0, j0). Exposed for the elementwise code and tests.
void apply_epilogue(const GemmDesc& d, float* c, int64_t ldc, int64_t m, int64_t n, int64_t b,
                    int64_t i0, int64_t j0);

}  // namespace beit
