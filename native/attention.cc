// Fused attention core (see attention.h).
#include "attention.h"

#include <cstdlib>

#include "gemm.h"
#include "ops.h"
#include "pool.h"

namespace beit {

namespace {

/// Per-thread T×T score buffer (used when the caller does not want the probabilities).
class Scores {
 public:
  ~Scores() { std::free(p_); }
  float* get(int64_t n) {
    if (n > cap_) {
      std::free(p_);
      p_ = static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64));
      cap_ = p_ ? n : 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

thread_local Scores tl_scores;

}  // namespace

void attention(const AttentionDesc& d) {
  const int64_t T = d.T, H = d.H, hd = d.hd, D = H * hd, ld = 3 * D;
  ThreadPool::instance().run(static_cast<int>(d.B * H), [&](int task, int) {
    const int64_t b = task / H, h = task % H;
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
