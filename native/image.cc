// Image pixel loops (see image.h). Resampling: rows are spread over the thread pool; the RGB horizontal
// pass and the vertical pass have SSE4.1 / AVX2 loops chosen at run time, with portable loops for other
// CPUs; all arithmetic is on uint32 (wrap-around is defined; see image.h).
#include "image.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BEIT_X86 1
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "pool.h"

namespace beit {

namespace {

constexpr uint32_t kHalf = 1u << 21;

inline uint8_t clip8(uint32_t acc) {
  const int32_t v = static_cast<int32_t>(acc) >> 22;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows per pool task, and the least work (taps) worth waking the pool for.
constexpr int64_t kMinParallelTaps = 1 << 18;

void run_rows(int64_t rows, int64_t taps_per_row, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool& pool = ThreadPool::instance();
  const int64_t total = rows * std::max<int64_t>(taps_per_row, 1);
  if (pool.threads() == 1 || total < kMinParallelTaps || rows < 2) return fn(0, rows);
  const int64_t tasks = std::min<int64_t>(rows, static_cast<int64_t>(pool.threads()) * 8);
  const int64_t per = (rows + tasks - 1) / tasks;
  const int n = static_cast<int>((rows + per - 1) / per);
  pool.run(n, [&](int t, int) { fn(t * per, std::min(rows, (t + 1) * per)); });
}

void horizontal_rows_scalar(const uint8_t* src, int64_t in_w, int64_t y0, int64_t y1, int pix, int channels,
                            const ResampleAxis& ax, int64_t out_w, uint8_t* out) {
  for (int64_t y = y0; y < y1; ++y) {
    const uint8_t* row = src + y * in_w * pix;
    uint8_t* o = out + y * out_w * channels;
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t n = ax.count[x];
      const int32_t* k = ax.coeffs + x * ax.stride;
      const uint8_t* s = row + static_cast<int64_t>(ax.start[x]) * pix;
      for (int c = 0; c < channels; ++c) {
        uint32_t acc = kHalf;
        for (int32_t i = 0; i < n; ++i) acc += static_cast<uint32_t>(s[i * pix + c]) * static_cast<uint32_t>(k[i]);
        *o++ = clip8(acc);
      }
    }
  }
}

#ifdef BEIT_X86
// RGB: one 4-lane accumulator (R, G, B, and a discarded fourth byte) per output pixel. A tap loads 4
// bytes, so the last tap of the buffer's last pixel is done by the scalar tail.
__attribute__((target("sse4.1"))) void horizontal_rgb_sse41(const uint8_t* src, int64_t in_w, int64_t h,
                                                           int64_t y0, int64_t y1, const ResampleAxis& ax,
                                                           int64_t out_w, uint8_t* out) {
  const uint8_t* end = src + in_w * h * 3;
  for (int64_t y = y0; y < y1; ++y) {
    const uint8_t* row = src + y * in_w * 3;
    uint8_t* o = out + y * out_w * 3;
    for (int64_t x = 0; x < out_w; ++x) {
      const int32_t n = ax.count[x];
      const int32_t* k = ax.coeffs + x * ax.stride;
      const uint8_t* s = row + static_cast<int64_t>(ax.start[x]) * 3;
      int32_t fast = n;
      if (n > 0 && s + (n - 1) * 3 + 4 > end) fast = n - 1;
      __m128i a0 = _mm_setr_epi32(kHalf, kHalf, kHalf, 0), a1 = _mm_setzero_si128();
      int32_t i = 0;
      for (; i + 1 < fast; i += 2) {
        int32_t v0, v1;
        std::memcpy(&v0, s + i * 3, 4);
        std::memcpy(&v1, s + i * 3 + 3, 4);
        a0 = _mm_add_epi32(a0, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v0)), _mm_set1_epi32(k[i])));
        a1 = _mm_add_epi32(a1, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v1)), _mm_set1_epi32(k[i + 1])));
      }
      if (i < fast) {
        int32_t v0;
        std::memcpy(&v0, s + i * 3, 4);
        a0 = _mm_add_epi32(a0, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v0)), _mm_set1_epi32(k[i])));
        ++i;
      }
      alignas(16) uint32_t lanes[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes), _mm_add_epi32(a0, a1));
      for (; i < n; ++i)
        for (int c = 0; c < 3; ++c) lanes[c] += static_cast<uint32_t>(s[i * 3 + c]) * static_cast<uint32_t>(k[i]);
      o[0] = clip8(lanes[0]);
      o[1] = clip8(lanes[1]);
      o[2] = clip8(lanes[2]);
      o += 3;
    }
  }
}

// Vertical: 8 bytes of a row at a time into int32 lanes; results packed with saturation, which is
// exactly clip8 of the shifted sums.
__attribute__((target("avx2"))) void vertical_rows_avx2(const uint8_t* src, int64_t row_len, const ResampleAxis& ax,
                                                       int64_t y0, int64_t y1, uint8_t* out, uint32_t* acc) {
  const int64_t vec_end = row_len & ~int64_t{7};
  for (int64_t y = y0; y < y1; ++y) {
    const int32_t n = ax.count[y];
    const int32_t* k = ax.coeffs + y * ax.stride;
    const uint8_t* base = src + static_cast<int64_t>(ax.start[y]) * row_len;
    const __m256i half = _mm256_set1_epi32(kHalf);
    for (int64_t j = 0; j < vec_end; j += 8) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + j), half);
    for (int64_t j = vec_end; j < row_len; ++j) acc[j] = kHalf;
    for (int32_t i = 0; i < n; ++i) {
      const uint8_t* p = base + i * row_len;
      const __m256i kv = _mm256_set1_epi32(k[i]);
      for (int64_t j = 0; j < vec_end; j += 8) {
        const __m256i px = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + j)));
        __m256i* a = reinterpret_cast<__m256i*>(acc + j);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(px, kv)));
      }
      for (int64_t j = vec_end; j < row_len; ++j) acc[j] += static_cast<uint32_t>(p[j]) * static_cast<uint32_t>(k[i]);
    }
    uint8_t* o = out + y * row_len;
    for (int64_t j = 0; j < vec_end; j += 8) {
      const __m256i v = _mm256_srai_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + j)), 22);
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(o + j), _mm_packus_epi16(w, w));
    }
    for (int64_t j = vec_end; j < row_len; ++j) o[j] = clip8(acc[j]);
  }
}
#endif

void vertical_rows_scalar(const uint8_t* src, int64_t row_len, const ResampleAxis& ax, int64_t y0, int64_t y1,
                          uint8_t* out, uint32_t* acc) {
  for (int64_t y = y0; y < y1; ++y) {
    const int32_t n = ax.count[y];
    const int32_t* k = ax.coeffs + y * ax.stride;
    const uint8_t* base = src + static_cast<int64_t>(ax.start[y]) * row_len;
    std::fill(acc, acc + row_len, kHalf);
    for (int32_t i = 0; i < n; ++i) {
      const uint8_t* p = base + i * row_len;
      const uint32_t kk = static_cast<uint32_t>(k[i]);
      for (int64_t j = 0; j < row_len; ++j) acc[j] += static_cast<uint32_t>(p[j]) * kk;
    }
    uint8_t* o = out + y * row_len;
    for (int64_t j = 0; j < row_len; ++j) o[j] = clip8(acc[j]);
  }
}

bool has_sse41() {
#ifdef BEIT_X86
  return __builtin_cpu_supports("sse4.1");
#else
  return false;
#endif
}

bool has_avx2() {
#ifdef BEIT_X86
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

int64_t mean_taps(const ResampleAxis& ax, int64_t n) {
  int64_t t = 0;
  for (int64_t i = 0; i < n; ++i) t += ax.count[i];
  return n ? t / n : 0;
}

}  // namespace

int64_t png_unfilter(uint8_t* data, int64_t rows, int64_t row_bytes, int bpp) {
  std::vector<uint8_t> zeros(static_cast<size_t>(row_bytes), 0);
  const uint8_t* prev = zeros.data();
  const int64_t m = std::min<int64_t>(bpp, row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* p = data + r * (row_bytes + 1);
    const uint8_t type = p[0];
    uint8_t* row = p + 1;
    switch (type) {
      case 0: break;
      case 1:
        for (int64_t i = bpp; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + row[i - bpp]);
        break;
      case 2:
        for (int64_t i = 0; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + prev[i]);
        break;
      case 3:
        for (int64_t i = 0; i < m; ++i) row[i] = static_cast<uint8_t>(row[i] + (prev[i] >> 1));
        for (int64_t i = m; i < row_bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + ((row[i - bpp] + prev[i]) >> 1));
        break;
      case 4:
        for (int64_t i = 0; i < m; ++i) row[i] = static_cast<uint8_t>(row[i] + prev[i]);  // a = c = 0: Paeth picks b
        for (int64_t i = m; i < row_bytes; ++i) {
          const int a = row[i - bpp], b = prev[i], c = prev[i - bpp];
          const int pa = b > c ? b - c : c - b, pb = a > c ? a - c : c - a;
          int pc = a + b - c - c;
          pc = pc < 0 ? -pc : pc;
          row[i] = static_cast<uint8_t>(row[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c));
        }
        break;
      default:
        return r;
    }
    prev = row;
  }
  return -1;
}

void orient_image(const uint8_t* src, int64_t w, int64_t h, int c, int orientation, uint8_t* dst) {
  const bool swap = orientation >= 5;
  const int64_t ow = swap ? h : w, oh = swap ? w : h;
  int64_t first0 = 0, first_dy = 0, step = 0;
  switch (orientation) {
    case 2: first0 = w - 1; first_dy = w; step = -1; break;
    case 3: first0 = (h - 1) * w + w - 1; first_dy = -w; step = -1; break;
    case 4: first0 = (h - 1) * w; first_dy = -w; step = 1; break;
    case 5: first0 = 0; first_dy = 1; step = w; break;
    case 6: first0 = (h - 1) * w; first_dy = 1; step = -w; break;
    case 7: first0 = (h - 1) * w + w - 1; first_dy = -1; step = -w; break;
    default: first0 = w - 1; first_dy = -1; step = w; break;  // 8
  }
  // Rotations go in 64×64 tiles so that the rows written and the columns read stay in cache.
  const int64_t tile = swap ? 64 : ow;
  run_rows((oh + tile - 1) / tile, tile * ow, [&](int64_t t0, int64_t t1) {
    for (int64_t ty = t0 * tile; ty < std::min(oh, t1 * tile); ty += tile) {
      const int64_t y_end = std::min(oh, ty + tile);
      for (int64_t tx = 0; tx < ow; tx += tile) {
        const int64_t x_end = std::min(ow, tx + tile);
        for (int64_t y = ty; y < y_end; ++y) {
          const uint8_t* s = src + (first0 + y * first_dy + tx * step) * c;
          uint8_t* o = dst + (y * ow + tx) * c;
          if (c == 3) {
            for (int64_t x = tx; x < x_end; ++x, o += 3, s += step * 3) { o[0] = s[0]; o[1] = s[1]; o[2] = s[2]; }
          } else {
            for (int64_t x = tx; x < x_end; ++x, o += c, s += step * c) std::memcpy(o, s, static_cast<size_t>(c));
          }
        }
      }
    }
  });
}

void resample_horizontal(const uint8_t* src, int64_t in_w, int64_t h, int pix, int channels,
                         const ResampleAxis& ax, int64_t out_w, uint8_t* out) {
  const bool sse = pix == 3 && channels == 3 && has_sse41();
  run_rows(h, out_w * mean_taps(ax, out_w) * channels, [&](int64_t y0, int64_t y1) {
#ifdef BEIT_X86
    if (sse) return horizontal_rgb_sse41(src, in_w, h, y0, y1, ax, out_w, out);
#endif
    (void)sse;
    horizontal_rows_scalar(src, in_w, y0, y1, pix, channels, ax, out_w, out);
  });
}

void resample_vertical(const uint8_t* src, int64_t row_len, const ResampleAxis& ax, int64_t out_h, uint8_t* out) {
  const bool avx2 = has_avx2();
  run_rows(out_h, row_len * mean_taps(ax, out_h), [&](int64_t y0, int64_t y1) {
    std::vector<uint32_t> acc(static_cast<size_t>(row_len));
#ifdef BEIT_X86
    if (avx2) return vertical_rows_avx2(src, row_len, ax, y0, y1, out, acc.data());
#endif
    (void)avx2;
    vertical_rows_scalar(src, row_len, ax, y0, y1, out, acc.data());
  });
}

}  // namespace beit
