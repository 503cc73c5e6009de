// Memory-bound kernels (see ops.h). Inner loops are plain C++ compiled in three clones
// (AVX-512, AVX2, baseline) chosen by the loader at run time through GCC's target_clones.
#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "mathfn.h"
#include "pool.h"

#define BEIT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

namespace beit {

namespace {

/// Runs fn(begin, end) over [0, n) in chunks on the pool when the work (n·cost) is large enough.
void parallel_rows(int64_t n, int64_t cost_per_row,
                   const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool& pool = ThreadPool::instance();
  const int T = pool.threads();
  const int64_t work = n * std::max<int64_t>(1, cost_per_row);
  if (T == 1 || work < 32768 || n < 2) {
    fn(0, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(n, static_cast<int64_t>(T) * 4);
  pool.run(static_cast<int>(chunks), [&](int t, int) {
    const int64_t b = n * t / chunks, e = n * (t + 1) / chunks;
    if (b < e) fn(b, e);
  });
}

// Scalar semantics of JavaScript's Math.max / Math.min / tfjs's cpu kernels, for the ops whose
// plain C++ forms differ on NaN or signed zeros: NaN if either operand is NaN, and +0 > -0.
inline float js_max(float u, float v) {
  if (u != u || v != v) return u + v;
  if (u == v) return std::signbit(u) ? v : u;  // equal zeros: -0 only when both are -0
  return u > v ? u : v;
}
inline float js_min(float u, float v) {
  if (u != u || v != v) return u + v;
  if (u == v) return std::signbit(u) ? u : v;  // equal zeros: -0 when either is -0
  return u < v ? u : v;
}
/// Math.max(0, x): NaN stays NaN, -0 becomes +0.
inline float relu(float x) { return x > 0.0f || x != x ? x : 0.0f; }
/// Math.min(Math.max(0, x), 6).
inline float relu6(float x) { return x != x ? x : (x > 6.0f ? 6.0f : (x > 0.0f ? x : 0.0f)); }

BEIT_CLONES double sum_contiguous(const float* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(x[i + l]);
  double s = 0.0;
  for (; i < n; ++i) s += x[i];
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

/// row = softmax(row·scale + bias) in place, in three passes (affine+max, exp+sum, normalize).
BEIT_CLONES void softmax_row_affine(float* x, const float* bias, float scale, int64_t n) {
  constexpr int L = 16;
  float m[L];
  for (int l = 0; l < L; ++l) m[l] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  if (bias != nullptr) {
    for (; j + L <= n; j += L)
      for (int l = 0; l < L; ++l) {
        const float v = x[j + l] * scale + bias[j + l];
        x[j + l] = v;
        m[l] = m[l] > v ? m[l] : v;
      }
    for (; j < n; ++j) {
      x[j] = x[j] * scale + bias[j];
      m[0] = m[0] > x[j] ? m[0] : x[j];
    }
  } else {
    for (; j + L <= n; j += L)
      for (int l = 0; l < L; ++l) {
        const float v = x[j + l] * scale;
        x[j + l] = v;
        m[l] = m[l] > v ? m[l] : v;
      }
    for (; j < n; ++j) {
      x[j] *= scale;
      m[0] = m[0] > x[j] ? m[0] : x[j];
    }
  }
  float mx = m[0];
  for (int l = 1; l < L; ++l) mx = mx > m[l] ? mx : m[l];
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  float acc[L] = {};
  for (j = 0; j + L <= n; j += L)
    for (int l = 0; l < L; ++l) {
      const float e = exp_fast(x[j + l] - mx);
      x[j + l] = e;
      acc[l] += e;
    }
  float sum = 0.0f;
  for (; j < n; ++j) {
    x[j] = exp_fast(x[j] - mx);
    sum += x[j];
  }
  for (int l = 0; l < L; ++l) sum += acc[l];
  const float inv = 1.0f / sum;
  for (j = 0; j < n; ++j) x[j] *= inv;
}

/// e^d for d = x - max(row) <= 0 (or NaN): exp_fast, with results below the normal range (d <
/// -87.3, where exp_fast stops at 1.2e-38) flushed to 0, so that masked (-inf) logits get exactly 0
/// and an all-masked row NaN, as on tfjs's cpu backend. Probabilities that would be subnormal come
/// out 0 (absolute error < 1.2e-38): the full-range exp_approx costs the row 15-20% more.
inline float softmax_exp(float d) { return d < -87.3f ? 0.0f : exp_fast(d); }

BEIT_CLONES void softmax_row(const float* x, float* y, int64_t n) {
  // Explicit 16-lane partial max/sum: without -ffast-math the compiler may not reassociate them.
  constexpr int L = 16;
  float mx = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  if (n >= L) {
    float m[L];
    for (int l = 0; l < L; ++l) m[l] = x[l];
    for (j = L; j + L <= n; j += L)
      for (int l = 0; l < L; ++l) m[l] = m[l] > x[j + l] ? m[l] : x[j + l];
    for (int l = 0; l < L; ++l) mx = mx > m[l] ? mx : m[l];
  }
  for (; j < n; ++j) mx = mx > x[j] ? mx : x[j];
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  // Float lanes summed in blocks of 1024 (64 terms per lane), the blocks in double: one float sum
  // over a whole long row drifted by ~n/16 ulp (2e-6 relative at n = 40000), and double lanes
  // inside the exp loop stop GCC from vectorizing it.
  double sum = 0.0;
  j = 0;
  while (j + L <= n) {
    float acc[L] = {};
    const int64_t end = std::min(n - n % L, j + 1024);
    for (; j < end; j += L)
      for (int l = 0; l < L; ++l) {
        const float e = softmax_exp(x[j + l] - mx);
        y[j + l] = e;
        acc[l] += e;
      }
    float part = 0.0f;
    for (int l = 0; l < L; ++l) part += acc[l];
    sum += static_cast<double>(part);
  }
  for (; j < n; ++j) {
    const float e = softmax_exp(x[j] - mx);
    y[j] = e;
    sum += static_cast<double>(e);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (j = 0; j < n; ++j) y[j] *= inv;
}

BEIT_CLONES void unary_span(UnaryOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case UnaryOp::kExp: for (int64_t i = 0; i < n; ++i) y[i] = exp_approx(x[i]); break;
    case UnaryOp::kErf: for (int64_t i = 0; i < n; ++i) y[i] = erf_approx(x[i]); break;
    case UnaryOp::kTanh: for (int64_t i = 0; i < n; ++i) y[i] = tanh_accurate(x[i]); break;
    case UnaryOp::kSigmoid: for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_approx(x[i]); break;
    case UnaryOp::kRelu: for (int64_t i = 0; i < n; ++i) y[i] = relu(x[i]); break;
    case UnaryOp::kGelu: for (int64_t i = 0; i < n; ++i) y[i] = gelu_erf(x[i]); break;
    case UnaryOp::kGeluTanh: for (int64_t i = 0; i < n; ++i) y[i] = gelu_tanh(x[i]); break;
    case UnaryOp::kRsqrt:
      // In double, rounded once: the float 1/sqrt rounds twice (1 ulp off tfjs's cpu kernel at times).
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(x[i])));
      break;
    case UnaryOp::kSqrt: for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]); break;
    case UnaryOp::kSquare: for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i]; break;
    case UnaryOp::kNeg: for (int64_t i = 0; i < n; ++i) y[i] = -x[i]; break;
    case UnaryOp::kAbs: for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]); break;
    case UnaryOp::kReciprocal: for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / x[i]; break;
    case UnaryOp::kCopy: std::memmove(y, x, sizeof(float) * static_cast<size_t>(n)); break;
    case UnaryOp::kRelu6: for (int64_t i = 0; i < n; ++i) y[i] = relu6(x[i]); break;
  }
}

template <typename F>
inline void binary_loop(F f, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                        int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i * sa], b[i * sb]);
  }
}

BEIT_CLONES void binary_span(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb,
                             float* y, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd: binary_loop([](float u, float v) { return u + v; }, a, sa, b, sb, y, n); break;
    case BinaryOp::kSub: binary_loop([](float u, float v) { return u - v; }, a, sa, b, sb, y, n); break;
    case BinaryOp::kMul: binary_loop([](float u, float v) { return u * v; }, a, sa, b, sb, y, n); break;
    case BinaryOp::kDiv: binary_loop([](float u, float v) { return u / v; }, a, sa, b, sb, y, n); break;
    case BinaryOp::kMax: binary_loop(js_max, a, sa, b, sb, y, n); break;
    case BinaryOp::kMin: binary_loop(js_min, a, sa, b, sb, y, n); break;
    case BinaryOp::kSquaredDifference:
      // In double, rounded once, like tfjs's cpu kernel: (u - v)² in float rounds twice.
      binary_loop([](float u, float v) {
        const double d = static_cast<double>(u) - static_cast<double>(v);
        return static_cast<float>(d * d);
      }, a, sa, b, sb, y, n);
      break;
  }
}

/// Max / Min of r rows of `inner` into out, with the semantics of tfjs's cpu kernels: a NaN wins
/// and sticks, and of equal values (±0) the first one stays.
BEIT_CLONES void extreme_rows(bool is_max, const float* x, float* out, int64_t r, int64_t inner) {
  std::memcpy(out, x, sizeof(float) * static_cast<size_t>(inner));
  for (int64_t k = 1; k < r; ++k) {
    const float* xr = x + k * inner;
    if (is_max) {
      for (int64_t j = 0; j < inner; ++j) out[j] = xr[j] != xr[j] || xr[j] > out[j] ? xr[j] : out[j];
    } else {
      for (int64_t j = 0; j < inner; ++j) out[j] = xr[j] != xr[j] || xr[j] < out[j] ? xr[j] : out[j];
    }
  }
}

/// Sum of r rows of `inner` into out, accumulated in double (acc: inner doubles of scratch), then
/// divided by `div` (1 for Sum, r for Mean).
BEIT_CLONES void sum_rows(const float* x, double* acc, float* out, int64_t r, int64_t inner, double div) {
  for (int64_t j = 0; j < inner; ++j) acc[j] = static_cast<double>(x[j]);
  for (int64_t k = 1; k < r; ++k) {
    const float* xr = x + k * inner;
    for (int64_t j = 0; j < inner; ++j) acc[j] += static_cast<double>(xr[j]);
  }
  for (int64_t j = 0; j < inner; ++j) out[j] = static_cast<float>(acc[j] / div);
}

BEIT_CLONES void layer_norm_row(const float* x, const float* gamma, const float* beta, float* y,
                                int64_t n, float eps) {
  const double mean = sum_contiguous(x, n) / static_cast<double>(n);
  const float m = static_cast<float>(mean);
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const double d = static_cast<double>(x[i + l]) - mean;
      acc[l] += d * d;
    }
  double var = 0.0;
  for (; i < n; ++i) var += (static_cast<double>(x[i]) - mean) * (static_cast<double>(x[i]) - mean);
  for (int l = 0; l < 8; ++l) var += acc[l];
  var /= static_cast<double>(n);
  const float inv = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
  if (gamma != nullptr && beta != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * inv * gamma[j] + beta[j];
  } else if (gamma != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * inv * gamma[j];
  } else if (beta != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * inv + beta[j];
  } else {
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) * inv;
  }
}

/// Offsets of row q (all dimensions but the last) for each strided operand.
inline void row_offsets(int64_t q, int rank, const int64_t* shape, const int64_t* const* strides,
                        int nops, int64_t* offs) {
  for (int o = 0; o < nops; ++o) offs[o] = 0;
  for (int d = rank - 2; d >= 0; --d) {
    const int64_t i = q % shape[d];
    q /= shape[d];
    for (int o = 0; o < nops; ++o) offs[o] += i * strides[o][d];
  }
}

}  // namespace

void softmax_row_biased(float* row, const float* bias, float scale, int64_t n) {
  softmax_row_affine(row, bias, scale, n);
}

void softmax_rows(const float* x, float* out, int64_t rows, int64_t cols) {
  parallel_rows(rows, cols * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) softmax_row(x + r * cols, out + r * cols, cols);
  });
}

void unary(UnaryOp op, const float* x, float* out, int64_t n) {
  const int64_t block = 4096;
  const int64_t blocks = (n + block - 1) / block;
  const int64_t cost = op == UnaryOp::kCopy ? block / 8 : block * 4;
  parallel_rows(blocks, cost, [&](int64_t b, int64_t e) {
    const int64_t s = b * block, t = std::min(n, e * block);
    unary_span(op, x + s, out + s, t - s);
  });
}

void binary(BinaryOp op, const float* a, const float* b, float* out, int rank,
            const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides) {
  if (rank == 0) {
    binary_span(op, a, 1, b, 1, out, 1);
    return;
  }
  const int64_t inner = shape[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  const int64_t* strides[2] = {a_strides, b_strides};
  const int64_t sa = a_strides[rank - 1], sb = b_strides[rank - 1];
  parallel_rows(rows, inner, [&](int64_t r0, int64_t r1) {
    int64_t offs[2];
    for (int64_t q = r0; q < r1; ++q) {
      row_offsets(q, rank, shape, strides, 2, offs);
      binary_span(op, a + offs[0], sa, b + offs[1], sb, out + q * inner, inner);
    }
  });
}

void reduce(ReduceOp op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  if (r == 0) {
    // As tfjs's cpu kernels: the sum (and the mean, a sum of x / 0) of nothing is 0, its max and
    // min are NaN (they start from the first element, which is missing).
    const float fill = op == ReduceOp::kMax || op == ReduceOp::kMin ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    std::fill(out, out + outer * inner, fill);
    return;
  }
  const bool sum = op == ReduceOp::kSum || op == ReduceOp::kMean;
  const double div = op == ReduceOp::kMean ? static_cast<double>(r) : 1.0;
  if (inner == 1 && sum) {
    parallel_rows(outer, r, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) out[o] = static_cast<float>(sum_contiguous(x + o * r, r) / div);
    });
    return;
  }
  parallel_rows(outer, r * inner, [&](int64_t b, int64_t e) {
    if (sum) {
      std::vector<double> acc(static_cast<size_t>(inner));
      for (int64_t o = b; o < e; ++o) sum_rows(x + o * r * inner, acc.data(), out + o * inner, r, inner, div);
    } else {
      for (int64_t o = b; o < e; ++o) extreme_rows(op == ReduceOp::kMax, x + o * r * inner, out + o * inner, r, inner);
    }
  });
}

void strided_copy(const uint32_t* src, int64_t offset, int rank, const int64_t* shape,
                  const int64_t* strides, uint32_t* dst) {
  if (rank == 0) {
    dst[0] = src[offset];
    return;
  }
  const int64_t inner = shape[rank - 1];
  const int64_t si = strides[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  const int64_t* st[1] = {strides};
  parallel_rows(rows, inner / 4 + 1, [&](int64_t r0, int64_t r1) {
    int64_t off;
    for (int64_t q = r0; q < r1; ++q) {
      row_offsets(q, rank, shape, st, 1, &off);
      const uint32_t* s = src + offset + off;
      uint32_t* d = dst + q * inner;
      if (si == 1) {
        std::memcpy(d, s, sizeof(uint32_t) * static_cast<size_t>(inner));
      } else {
        for (int64_t j = 0; j < inner; ++j) d[j] = s[j * si];
      }
    }
  });
}

int64_t gather(const uint32_t* x, const int32_t* idx, uint32_t* out, int64_t outer, int64_t axis,
               int64_t n, int64_t inner) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= axis) return i;
  parallel_rows(outer * n, inner / 4 + 1, [&](int64_t r0, int64_t r1) {
    for (int64_t q = r0; q < r1; ++q) {
      const int64_t o = q / n, i = q % n;
      std::memcpy(out + q * inner, x + (o * axis + idx[i]) * inner,
                  sizeof(uint32_t) * static_cast<size_t>(inner));
    }
  });
  return -1;
}

void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows,
                int64_t cols, float eps) {
  parallel_rows(rows, cols * 3, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) layer_norm_row(x + r * cols, gamma, beta, out + r * cols, cols, eps);
  });
}

}  // namespace beit
