// Growable 64-byte aligned float buffers for the kernels' intermediates (packed panels, attention
// scores, the MLP intermediate, a layer's activations): allocated on first use, grown when a larger
// size is asked for, never shrunk except by trim().
#pragma once

#include <cstddef>
#include <cstdlib>

namespace beit {

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }

  /// At least n floats (contents undefined), or null when the memory cannot be had.
  float* get(size_t n) {
    if (n > cap_ || p_ == nullptr) {
      std::free(p_);
      const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
      cap_ = p_ != nullptr ? n : 0;
    }
    return p_;
  }

  /// Frees the storage when it holds more than max_bytes and less than half of it is wanted now
  /// (after a one-off large batch, smaller ones do not keep its memory).
  void trim(size_t max_bytes, size_t wanted) {
    if (cap_ * sizeof(float) > max_bytes && wanted < cap_ / 2) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
    }
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace beit
