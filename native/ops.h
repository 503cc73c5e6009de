// Memory-bound kernels of the transformer forward: softmax, elementwise maps with broadcasting,
// reductions, strided copies (transpose, slice), gathers and a fused layer normalization.
//
// Why native: in tfjs's `cpu` backend these run as generic JS loops with per-element index
// arithmetic; at batch 1 they would cost more than all the (native) matrix products together.
// All functions parallelize over rows on the shared pool when the tensor is large enough.
#pragma once

#include <cstdint>

namespace beit {

/// Elementwise maps. Values are part of the JS <-> C++ contract.
enum class UnaryOp : int {
  kExp = 0, kErf = 1, kTanh = 2, kSigmoid = 3, kRelu = 4, kGelu = 5, kGeluTanh = 6,
  kRsqrt = 7, kSqrt = 8, kSquare = 9, kNeg = 10, kAbs = 11, kReciprocal = 12, kCopy = 13,
  kRelu6 = 14,
};

enum class BinaryOp : int {
  kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMax = 4, kMin = 5, kSquaredDifference = 6,
};

enum class ReduceOp : int { kSum = 0, kMean = 1, kMax = 2, kMin = 3 };

void softmax_rows(const float* x, float* out, int64_t rows, int64_t cols);

/// row = softmax(row·scale + bias) for one row of n, in place (bias may be null).
void softmax_row_biased(float* row, const float* bias, float scale, int64_t n);

void unary(UnaryOp op, const float* x, float* out, int64_t n);

/// out (dense, shape[0..rank)) = a op b, where a and b are read with the given element strides
/// (0 on broadcast dimensions). rank ≤ 8.
void binary(BinaryOp op, const float* a, const float* b, float* out, int rank,
            const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides);

/// x viewed as [outer, r, inner] reduced over r into out [outer, inner].
void reduce(ReduceOp op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner);

/// dst (dense, shape[0..rank)) = src[offset + Σ idx_d · strides_d]. Transposes and slices. rank ≤ 8.
/// Works on 4-byte elements, so float32 and int32 tensors share it.
void strided_copy(const uint32_t* src, int64_t offset, int rank, const int64_t* shape,
                  const int64_t* strides, uint32_t* dst);

/// x [outer, axis, inner] gathered along axis with idx[n] into out [outer, n, inner]. Returns −1,
/// or the position of the first index outside [0, axis) (nothing is written then).
int64_t gather(const uint32_t* x, const int32_t* idx, uint32_t* out, int64_t outer, int64_t axis,
               int64_t n, int64_t inner);

/// Row-wise layer normalization over the last axis: (x − mean) / √(var + eps) · gamma + beta.
/// gamma and beta may be null (1 and 0). Statistics are accumulated in double precision.
void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows,
                int64_t cols, float eps);

}  // namespace beit
