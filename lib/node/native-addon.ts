/**
 * Loading of the `beit_native` N-API addon (sources in `native/`, compiled by node-gyp at
 * `npm install` through `tools/build-native.mjs`). The addon is optional: when it was not built
 * (no compiler, failed build) {@link loadNativeAddon} returns undefined and
 * {@link nativeAddonError} says why, so the engine can run on `wasm` instead.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Activation codes of the product's epilogue (native/gemm.h `Act`). */
export const ACT_CODES = {
  linear: 0, relu: 1, relu6: 2, gelu: 3, gelu_tanh: 4, sigmoid: 5, leakyrelu: 6, elu: 7,
} as const;
export type NativeActivation = keyof typeof ACT_CODES;

/** Elementwise map codes (native/ops.h `UnaryOp`). */
export const UNARY_CODES = {
  Exp: 0, Erf: 1, Tanh: 2, Sigmoid: 3, Relu: 4, Gelu: 5, GeluTanh: 6, Rsqrt: 7, Sqrt: 8, Square: 9,
  Neg: 10, Abs: 11, Reciprocal: 12, Copy: 13, Relu6: 14,
} as const;

/** Binary op codes (native/ops.h `BinaryOp`). */
export const BINARY_CODES = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6,
} as const;

/** Reduction codes (native/ops.h `ReduceOp`). */
export const REDUCE_CODES = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** Any 4-byte typed array the layout kernels accept. */
export type Word32Array = Float32Array | Int32Array;

/** The addon's functions (see native/addon.cc for the argument contract). */
/** Default of the addon's `stream_bytes` tunable (native/gemm.cc g_stream_bytes), for tests that change it. */
export const STREAM_BYTES_DEFAULT = 1 << 20;

export interface NativeAddon {
  gemm(a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number,
    transA: boolean, transB: boolean, batch: number, aIndex: Int32Array | null, bIndex: Int32Array | null,
    numA: number, numB: number, bias: Float32Array | null, biasSb: number, biasSm: number, biasSn: number,
    act: number, alpha: number, bPacked?: boolean, residual?: Float32Array | null): void;
  packB(b: Float32Array, K: number, N: number, transB: boolean, out: Float32Array): void;
  packedBSize(K: number, N: number): number;
  /** Packs the rows of `parts` ([n_i, K] each, stacked) as the columns of B = [K, Σ n_i], each scaled by `scale[row]`. */
  packRows(parts: Float32Array[], K: number, out: Float32Array, scale: Float64Array | null): void;
  /** out = act(x·W1 + b1)·W2 + b2 + residual (packed W1 [D, F], W2 [F, D]); false only when out of memory. */
  mlp(x: Float32Array, w1: Float32Array, b1: Float32Array | null, act: number, w2: Float32Array,
    b2: Float32Array | null, residual: Float32Array | null, out: Float32Array, M: number, D: number, F: number): boolean;
  /** Column block of the MLP's intermediate, 0 when `mlp` keeps it dense (no in-place AVX-512 path for these sizes). */
  mlpBlock(D: number, F: number): number;
  /**
   * One transformer layer (native/layer.h): x1 = x + attention(LN1(x))·Wo + bo, out = x1 + MLP(LN2(x1)),
   * weights packed by packB, `bias` [H, T, T] (biasPerHead) or [T, T].
   */
  layer(x: Float32Array, out: Float32Array, B: number, T: number, D: number, H: number, F: number, eps: number,
    ln1Gamma: Float32Array, ln1Beta: Float32Array, wQkv: Float32Array, bQkv: Float32Array | null, bias: Float32Array | null,
    biasPerHead: boolean, wO: Float32Array, bO: Float32Array | null, ln2Gamma: Float32Array, ln2Beta: Float32Array,
    w1: Float32Array, b1: Float32Array | null, act: number, w2: Float32Array, b2: Float32Array | null): void;
  /** Bytes to skip from the start of `buf` to reach a 64-byte aligned address. */
  align64(buf: ArrayBuffer): number;
  attention(qkv: Float32Array, B: number, T: number, H: number, hd: number, bias: Float32Array | null,
    biasPerHead: boolean, scale: number, context: Float32Array, probs: Float32Array | null): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  unary(op: number, x: Float32Array, out: Float32Array, n: number): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: Int32Array,
    aStrides: Int32Array, bStrides: Int32Array): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, r: number, inner: number): void;
  stridedCopy(src: Word32Array, offset: number, shape: Int32Array, strides: Int32Array, dst: Word32Array): void;
  gather(x: Word32Array, indices: Int32Array, out: Word32Array, outer: number, axis: number, n: number,
    inner: number): number;
  layerNorm(x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, out: Float32Array,
    rows: number, cols: number, eps: number): void;
  /** Pillow's horizontal resampling pass (native/image.h), coefficients as resample.ts's axisCoefficients. */
  resampleH(src: Uint8Array, inW: number, h: number, pix: number, channels: number, start: Int32Array,
    count: Int32Array, coeffs: Int32Array, stride: number, outW: number, out: Uint8Array): void;
  /** Pillow's vertical resampling pass over rows of `rowLen` bytes. */
  resampleV(src: Uint8Array, rowLen: number, inH: number, start: Int32Array, count: Int32Array,
    coeffs: Int32Array, stride: number, outH: number, out: Uint8Array): void;
  /** EXIF orientation 2-8 of a w×h image of `c` bytes a pixel into `out` (lib/image/exif.ts applyOrientation). */
  orient(src: Uint8Array, w: number, h: number, c: number, orientation: number, out: Uint8Array): void;
  /** PNG row unfiltering of `rows` scanlines from byte `start`, in place; the first bad row's index or -1 (no lock). */
  pngUnfilter(data: Uint8Array, start: number, rows: number, rowBytes: number, bpp: number): number;
  setThreads(n: number): void;
  tune(key: 'kc' | 'jb' | 'prefetch_rows' | 'stream_bytes', value: number): boolean;
  setKernel(name: 'avx512' | 'avx2' | 'scalar' | 'auto'): boolean;
  info(): { kernel: string; threads: number; defaultThreads: number; cpu: Record<string, boolean> };
}

let cached: NativeAddon | undefined;
let loadError: string | undefined;
let tried = false;

/** Where node-gyp puts the addon, relative to this module (dist/lib/node or lib/node). */
function candidatePaths(): string[] {
  const here = import.meta.url;
  return [
    fileURLToPath(new URL('../../../build/Release/beit_native.node', here)),
    fileURLToPath(new URL('../../build/Release/beit_native.node', here)),
  ];
}

/** Loads the addon once; undefined when it is absent or fails to load. */
export function loadNativeAddon(): NativeAddon | undefined {
  if (tried) return cached;
  tried = true;
  const path = candidatePaths().find((p) => existsSync(p));
  if (path === undefined) {
    loadError = 'the native addon was not built at install (no build/Release/beit_native.node); build it with '
      + '`npm rebuild tfjs-beit` (needs a C++ toolchain; if npm held back install scripts, first `npm install-scripts approve tfjs-beit`)';
    return undefined;
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    loadError = `the native addon failed to load: ${(e as Error).message.split('\n')[0]}`;
  }
  return cached;
}

/** Why {@link loadNativeAddon} returned undefined (undefined while it has not failed). */
export function nativeAddonError(): string | undefined {
  return loadError;
}
