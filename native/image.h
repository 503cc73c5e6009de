// Pixel loops of image decoding and preprocessing, each the exact integer twin of a JavaScript loop in
// lib/image (which stays the reference and runs where the addon is absent): Pillow's 8-bit resampling
// passes, the EXIF orientation, PNG row unfiltering.
//
// Resampling (lib/image/resample.ts has the specification): out = clip8((2^21 + Σ src·coeff) >> 22)
// with 22-bit fixed-point coefficients. Why native: the horizontal pass of a 12-megapixel photo down to 224 columns is ~50 million taps per
// channel triple, 150-190 ms in JavaScript against ~60 ms for Pillow's whole resize, which made
// preprocessing of camera photos take longer than the forward pass. The sums are integers: any order
// and any vector width give the same bytes, provided no sum leaves int32 (the caller checks that;
// the arithmetic here is modulo 2^32, so even intermediate wrap-around cannot change a result that fits).
#pragma once

#include <cstdint>

namespace beit {

/// One axis's coefficients, as axisCoefficients() in resample.ts builds them: output o reads inputs
/// start[o] … start[o]+count[o]−1 with weights coeffs[o·stride …].
struct ResampleAxis {
  const int32_t* start;
  const int32_t* count;
  const int32_t* coeffs;
  int64_t stride;
};

/// Horizontal pass over h rows of in_w pixels of `pix` bytes, of which the first `channels` (1 or
/// `pix`) are resampled; out holds out_w·channels bytes a row.
void resample_horizontal(const uint8_t* src, int64_t in_w, int64_t h, int pix, int channels,
                         const ResampleAxis& ax, int64_t out_w, uint8_t* out);

/// Vertical pass: out row o = Σ_i coeffs[o][i] · src row (start[o]+i), rows of row_len bytes.
void resample_vertical(const uint8_t* src, int64_t row_len, const ResampleAxis& ax, int64_t out_h,
                       uint8_t* out);

/// Reverses the PNG row filters of `rows` consecutive scanlines (each a filter-type byte then row_bytes
/// bytes) in place; the row before the first is zeros. Returns the index of the first row whose filter
/// type is unknown (rows before it are done), or -1.
int64_t png_unfilter(uint8_t* data, int64_t rows, int64_t row_bytes, int bpp);

/// Applies EXIF orientation 2-8 to an image of w×h pixels of `c` bytes (Pillow's transpose methods):
/// output pixel (x, y) of the ow×oh result is source pixel first0 + y·first_dy + x·step (see exif.ts).
void orient_image(const uint8_t* src, int64_t w, int64_t h, int c, int orientation, uint8_t* dst);

}  // namespace beit
