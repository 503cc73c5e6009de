/**
 * Pillow-exact resizing of 8-bit images (`Image.resize(size, resample, reducing_gap=None)`), written
 * from the specification in docs/pillow-resample.md (facts taken from Pillow 9.4
 * `src/libImaging/Resample.c`, https://github.com/python-pillow/Pillow/blob/9.4.0/src/libImaging/Resample.c).
 * Quirks kept on purpose, because each one changes output values:
 * - NEAREST picks source indices with a running double sum, not a multiplication;
 * - coefficients are double, normalised by division, then rounded to 22-bit fixed point
 *   (half away from zero); the accumulator starts at 2^21 and is shifted right by 22;
 * - support widens only when downsampling, and weights multiply by a precomputed reciprocal;
 * - HAMMING uses single-precision constants 0.54f/0.46f; BICUBIC uses a = −0.5;
 * - the horizontal pass runs first and its result is rounded and clipped to 8 bits;
 *   a pass whose size is unchanged is skipped.
 * The sums are integers, so where the Node addon is present ({@link setResampleAccelerator}) its vector
 * loops produce the same bytes several times faster (a 12-megapixel photo's horizontal pass is ~50
 * million taps: 150-190 ms here, against ~60 ms for Pillow's whole resize).
 */
import type { RgbImage } from './errors.js';

/** Pillow's resampling filter codes (also transformers' `PILImageResampling`). */
export const Resample = { NEAREST: 0, LANCZOS: 1, BILINEAR: 2, BICUBIC: 3, BOX: 4, HAMMING: 5 } as const;
/** One of the six Pillow filter codes. */
export type ResampleFilter = (typeof Resample)[keyof typeof Resample];

/** Names of the filter codes, index = code. */
export const RESAMPLE_NAMES: readonly string[] = ['NEAREST', 'LANCZOS', 'BILINEAR', 'BICUBIC', 'BOX', 'HAMMING'];

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS; // 4194304
const HALF = 1 << (PRECISION_BITS - 1); // rounding constant 2^21
const HAMMING_C1 = Math.fround(0.54);
const HAMMING_C2 = Math.fround(0.46);

/**
 * The two passes done outside JavaScript (the Node addon's `resampleH` / `resampleV`), on the same
 * coefficients with the same integer sums. Called only where {@link int32Safe} holds for the axis, so
 * their 32-bit arithmetic cannot differ from the double-precision loops.
 */
export interface ResampleAccelerator {
  /** Resamples the first `channels` (1 or `pix`) of each `pix`-byte pixel along rows. */
  horizontal(src: Uint8Array, inW: number, h: number, pix: number, channels: number, ax: AxisCoefficients,
    outW: number, out: Uint8Array): void;
  /** Resamples columns of `inH` rows of `rowLen` bytes to `outH` rows. */
  vertical(src: Uint8Array, rowLen: number, inH: number, ax: AxisCoefficients, outH: number, out: Uint8Array): void;
}

let accelerator: ResampleAccelerator | undefined;

/** Installs (or with undefined removes) the accelerator; returns the previous one. */
export function setResampleAccelerator(a: ResampleAccelerator | undefined): ResampleAccelerator | undefined {
  const previous = accelerator;
  accelerator = a;
  return previous;
}

function sinc(v: number): number {
  if (v === 0) return 1;
  const x = v * Math.PI;
  return Math.sin(x) / x;
}

/** Filter kernels with their base support (docs/pillow-resample.md §3). */
const KERNELS: Readonly<Record<Exclude<ResampleFilter, 0>, { support: number; k: (t: number) => number }>> = {
  4: { support: 0.5, k: (t) => (t > -0.5 && t <= 0.5 ? 1 : 0) },
  2: { support: 1, k: (t) => { const s = Math.abs(t); return s < 1 ? 1 - s : 0; } },
  5: {
    support: 1,
    k: (t) => {
      const s = Math.abs(t);
      if (s === 0) return 1;
      if (s >= 1) return 0;
      const u = s * Math.PI;
      return (Math.sin(u) / u) * (HAMMING_C1 + HAMMING_C2 * Math.cos(u));
    },
  },
  3: {
    support: 2,
    k: (t) => {
      const s = Math.abs(t);
      if (s < 1) return ((1.5 * s - 2.5) * s) * s + 1;
      if (s < 2) return (((s - 5) * s + 8) * s - 4) * -0.5;
      return 0;
    },
  },
  1: { support: 3, k: (t) => (t >= -3 && t < 3 ? sinc(t) * sinc(t / 3) : 0) },
};

/** Fixed-point coefficients for one axis: taps of output `o` are `start[o] … start[o]+count[o]−1`. */
export interface AxisCoefficients {
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** Row `o` holds the `count[o]` coefficients of output `o`, padded to `stride`. */
  readonly coeffs: Int32Array;
  readonly stride: number;
}

/** Computes Pillow's 22-bit coefficients for resizing one axis from `inSize` to `outSize`. */
export function axisCoefficients(inSize: number, outSize: number, filter: Exclude<ResampleFilter, 0>): AxisCoefficients {
  const { support: base, k } = KERNELS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = base * filterscale;
  const inv = 1 / filterscale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const coeffs = new Int32Array(outSize * stride);
  const w = new Float64Array(stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xend = Math.trunc(center + support + 0.5);
    if (xend > inSize) xend = inSize;
    const n = xend - xmin;
    let ww = 0;
    for (let i = 0; i < n; i++) {
      w[i] = k(((i + xmin - center) + 0.5) * inv);
      ww += w[i];
    }
    for (let i = 0; i < n; i++) {
      const v = ww !== 0 ? w[i] / ww : w[i];
      coeffs[o * stride + i] = v < 0 ? Math.trunc(v * ONE - 0.5) : Math.trunc(v * ONE + 0.5);
    }
    start[o] = xmin;
    count[o] = n;
  }
  return { start, count, coeffs, stride };
}

/** Source indices of Pillow's NEAREST along one axis (running double sum, truncated). */
export function nearestIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const step = inSize / outSize;
  let pos = step * 0.5;
  for (let o = 0; o < outSize; o++) {
    idx[o] = Math.trunc(pos);
    pos += step;
  }
  return idx;
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function horizontal(src: Uint8Array, inW: number, h: number, C: number, ax: AxisCoefficients, outW: number, int32 = true): Uint8Array {
  const out = new Uint8Array(outW * h * C);
  const { start, count, coeffs, stride } = ax;
  let o = 0;
  if (int32 && C <= 4 && accelerator && int32Safe(ax)) {
    accelerator.horizontal(src, inW, h, C, C, ax, outW, out);
    return out;
  }
  if (C === 3 && int32 && int32Safe(ax)) return horizontalRgb32(src, inW, h, ax, outW, out);
  if (C === 3) { // RGB: one pass over the taps for all three channels
    for (let y = 0; y < h; y++) {
      const row = y * inW * 3;
      for (let x = 0; x < outW; x++) {
        const n = count[x];
        const kb = x * stride;
        let s = row + start[x] * 3;
        let r = HALF, g = HALF, b = HALF;
        for (let i = 0; i < n; i++, s += 3) {
          const k = coeffs[kb + i];
          r += src[s] * k;
          g += src[s + 1] * k;
          b += src[s + 2] * k;
        }
        out[o++] = clip8(r);
        out[o++] = clip8(g);
        out[o++] = clip8(b);
      }
    }
    return out;
  }
  for (let y = 0; y < h; y++) {
    const row = y * inW * C;
    for (let x = 0; x < outW; x++) {
      const n = count[x];
      const kb = x * stride;
      const sb = row + start[x] * C;
      for (let c = 0; c < C; c++) {
        let acc = HALF;
        for (let i = 0; i < n; i++) acc += src[sb + i * C + c] * coeffs[kb + i];
        out[o++] = clip8(acc);
      }
    }
  }
  return out;
}

/**
 * Whether every partial sum of every output of `ax` fits in an int32 for 8-bit inputs: |sum| is at most
 * 2^21 + 255 * sum(|coefficient|). It always does for the normalised filters except in degenerate cases
 * (a window whose weights nearly cancel); then the double-precision loops run instead, so the sums are
 * exact either way and the result never depends on the path.
 */
function int32Safe(ax: AxisCoefficients): boolean {
  const { count, coeffs, stride } = ax;
  for (let o = 0; o < count.length; o++) {
    let t = 0;
    for (let i = 0, kb = o * stride; i < count[o]!; i++) t += Math.abs(coeffs[kb + i]!);
    if (HALF + 255 * t > 0x7fffffff) return false;
  }
  return true;
}

/**
 * {@link horizontal}'s RGB loop in int32 arithmetic (Math.imul, `| 0`): the same exact integer sums as the
 * double loop when {@link int32Safe} holds, and V8 keeps them in registers without overflow checks.
 */
function horizontalRgb32(src: Uint8Array, inW: number, h: number, ax: AxisCoefficients, outW: number, out: Uint8Array): Uint8Array {
  const { start, count, coeffs, stride } = ax;
  let o = 0;
  for (let y = 0; y < h; y++) {
    const row = y * inW * 3;
    for (let x = 0; x < outW; x++) {
      const n = count[x]! | 0;
      const kb = x * stride;
      let s = row + start[x]! * 3;
      let r = HALF, g = HALF, b = HALF;
      for (let i = 0; i < n; i++, s += 3) {
        const k = coeffs[kb + i]! | 0;
        r = (r + Math.imul(src[s]!, k)) | 0;
        g = (g + Math.imul(src[s + 1]!, k)) | 0;
        b = (b + Math.imul(src[s + 2]!, k)) | 0;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, C: number, ax: AxisCoefficients, outH: number, int32 = true): Uint8Array {
  const rowLen = w * C;
  const out = new Uint8Array(rowLen * outH);
  if (int32 && accelerator && int32Safe(ax)) {
    accelerator.vertical(src, rowLen, src.length / rowLen, ax, outH, out);
    return out;
  }
  const { start, count, coeffs, stride } = ax;
  // Row-at-a-time accumulation keeps memory access sequential; sums are exact integers in doubles.
  const acc = new Float64Array(rowLen);
  for (let y = 0; y < outH; y++) {
    const n = count[y];
    const kb = y * stride;
    acc.fill(HALF);
    for (let i = 0; i < n; i++) {
      const k = coeffs[kb + i];
      const sb = (start[y] + i) * rowLen;
      for (let j = 0; j < rowLen; j++) acc[j] += src[sb + j] * k;
    }
    const ob = y * rowLen;
    for (let j = 0; j < rowLen; j++) out[ob + j] = clip8(acc[j]);
  }
  return out;
}

function nearest(img: RgbImage, C: number, outW: number, outH: number): Uint8Array {
  const xs = nearestIndices(img.width, outW);
  const ys = nearestIndices(img.height, outH);
  const out = new Uint8Array(outW * outH * C);
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const row = ys[y] * img.width;
    for (let x = 0; x < outW; x++) {
      const s = (row + xs[x]) * C;
      for (let c = 0; c < C; c++) out[o++] = img.data[s + c];
    }
  }
  return out;
}

/** Whether every pixel of an RGB buffer has R = G = B (stops at the first that does not). */
function isGrayRgb(d: Uint8Array): boolean {
  for (let i = 0, n = d.length; i < n; i += 3) {
    const v = d[i]!;
    if (d[i + 1] !== v || d[i + 2] !== v) return false;
  }
  return true;
}

/**
 * The horizontal pass over the first channel of an RGB image (every third byte), one byte a pixel out:
 * the same sums as {@link horizontal}'s R channel.
 */
function horizontalGray(src: Uint8Array, inW: number, h: number, ax: AxisCoefficients, outW: number): Uint8Array {
  const out = new Uint8Array(outW * h);
  const { start, count, coeffs, stride } = ax;
  const safe = int32Safe(ax);
  if (safe && accelerator) {
    accelerator.horizontal(src, inW, h, 3, 1, ax, outW, out);
    return out;
  }
  let o = 0;
  for (let y = 0; y < h; y++) {
    const row = y * inW * 3;
    for (let x = 0; x < outW; x++) {
      const n = count[x]!;
      const kb = x * stride;
      let s = row + start[x]! * 3;
      let acc = HALF;
      if (safe) for (let i = 0; i < n; i++, s += 3) acc = (acc + Math.imul(src[s]!, coeffs[kb + i]!)) | 0;
      else for (let i = 0; i < n; i++, s += 3) acc += src[s]! * coeffs[kb + i]!;
      out[o++] = clip8(acc);
    }
  }
  return out;
}

/**
 * Resizes an 8-bit image (any channel count; RGB for {@link RgbImage}) exactly as Pillow 9.x
 * `Image.resize((width, height), filter)` does. Returns a copy when the size is unchanged.
 * A gray RGB image (R = G = B everywhere: every bilevel or gray scan after `convert("RGB")`) is resized
 * on one channel and copied to the three: each channel is resized on its own with the same
 * coefficients, so the bytes are those of the general path ({@link resizeGeneral}) for a third of the work.
 */
export function resize(img: RgbImage, width: number, height: number, filter: ResampleFilter): RgbImage {
  checkResizeArgs(width, height, filter);
  const C = img.data.length / (img.width * img.height);
  if (C !== 3 || filter === 0 || (width === img.width && height === img.height) || !isGrayRgb(img.data)) {
    return resizeGeneral(img, width, height, filter);
  }
  let data = img.data, step = 3; // bytes a pixel in `data`: the source's first channel, then one channel
  if (width !== img.width) {
    data = horizontalGray(data, img.width, img.height, axisCoefficients(img.width, width, filter), width);
    step = 1;
  }
  if (height !== img.height) {
    if (step === 3) data = data.filter((_, i) => i % 3 === 0);
    data = vertical(data, width, 1, axisCoefficients(img.height, height, filter), height);
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < rgb.length; i++, o += 3) { const v = data[i]!; rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v; }
  return { width, height, data: rgb };
}

function checkResizeArgs(width: number, height: number, filter: ResampleFilter): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`resize: target size must be positive integers, got ${width}x${height}.`);
  }
  if (!(filter in KERNELS) && filter !== 0) {
    throw new RangeError(`resize: resample must be one of 0..5 (${RESAMPLE_NAMES.join(', ')}), got ${String(filter)}.`);
  }
}

/**
 * {@link resize} without the gray shortcut: every channel resampled (the reference the tests compare it with).
 * `int32: false` also turns off the int32 horizontal loop and the accelerator, leaving the double-precision
 * loops (the tests' reference for both).
 */
export function resizeGeneral(img: RgbImage, width: number, height: number, filter: ResampleFilter, int32 = true): RgbImage {
  checkResizeArgs(width, height, filter);
  const C = img.data.length / (img.width * img.height);
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  if (filter === 0) return { width, height, data: nearest(img, C, width, height) };
  let data = img.data;
  if (width !== img.width) {
    data = horizontal(data, img.width, img.height, C, axisCoefficients(img.width, width, filter), width, int32);
  }
  if (height !== img.height) {
    data = vertical(data, width, C, axisCoefficients(img.height, height, filter), height, int32);
  }
  return { width, height, data };
}
