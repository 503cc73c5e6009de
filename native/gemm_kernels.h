// Register-tiled micro-kernels of the matrix product, one set per instruction set.
//
// A micro-kernel computes an R×NR tile of C from a packed A panel (kc steps of MR floats, rows
// beyond R are ignored) and kc rows of B with row stride ldb (NR floats readable per row). It
// either overwrites the tile or adds to it, and writes only the first n ≤ NR columns.
#pragma once

#include <cstdint>

namespace beit {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c,
                             int64_t ldc, int64_t n, bool accumulate);

constexpr int kMaxMR = 16;

/// A family of micro-kernels for one instruction set: rows[r] handles tiles of r rows (1..mr).
struct KernelSet {
  const char* name;
  int mr;
  int nr;
  MicroKernel rows[kMaxMR + 1];
  /// Optional R×(NR/2) kernels for ragged last strips with ≤ NR/2 valid columns (null if absent).
  MicroKernel half_rows[kMaxMR + 1];
};

/// The kernel for an r-row, n-column tile: the half-width one when it exists and suffices.
inline MicroKernel pick_kernel(const KernelSet& ks, int64_t r, int64_t n) {
  if (n <= ks.nr / 2 && ks.half_rows[r] != nullptr) return ks.half_rows[r];
  return ks.rows[r];
}

const KernelSet& kernels_avx512();

/// AVX-512 R×32 kernels (R = 1..14) that read A in place, row-major with row stride lda, instead of
/// from a packed panel; otherwise as MicroKernel. Index r of the table handles r rows.
/// bias (null: none) holds the tile's 32 column biases and act (0 none, 1 relu, 3 exact GELU: the
/// Act codes of gemm.h) is applied before the store, then res (null: none; the tile's residual,
/// row stride ldr) is added: the epilogue fused into the kernel.
using StridedMicroKernel = void (*)(int64_t kc, const float* a, int64_t lda, const float* b,
                                    int64_t ldb, float* c, int64_t ldc, int64_t n, bool accumulate,
                                    const float* bias, int act, const float* res, int64_t ldr,
                                    bool stream);
extern const StridedMicroKernel kStridedAvx512[15];
const KernelSet& kernels_avx2();
const KernelSet& kernels_scalar();

}  // namespace beit
