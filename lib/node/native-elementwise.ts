/**
 * Native versions of the memory-bound kernels in the transformer forward: softmax, the unary maps
 * of GELU / LayerNorm (Erf, Tanh, Rsqrt, Square, ...), broadcasting binary ops (Add, Sub,
 * Multiply, RealDiv, ...) and reductions over contiguous axes (Mean, Sum, Max, Min). Anything
 * else (other dtypes, reductions over scattered axes) runs the CPU backend's kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BINARY_CODES, REDUCE_CODES, UNARY_CODES, type NativeAddon } from './native-addon.js';
import { allocF32, broadcastStrides, collapse, cpuKernel, f32, sizeOf, type KernelArgs, type NativeKernel } from './native-kernel-util.js';

/** `Softmax` over the last axis (the only axis tfjs's softmax op accepts). */
export function softmax(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { logits } = args.inputs as { logits: tf.TensorInfo };
  const { dim } = args.attrs as { dim: number };
  const x = f32(args.backend, logits);
  const rank = logits.shape.length;
  if (x === undefined || rank === 0 || (dim !== -1 && dim !== rank - 1)) return cpuKernel('Softmax', args) as tf.TensorInfo;
  const cols = logits.shape[rank - 1]!;
  const out = allocF32(x.length);
  addon.softmax(x, out, cols === 0 ? 0 : x.length / cols, cols);
  return args.backend.makeTensorInfo([...logits.shape], 'float32', out);
}

/** A kernel mapping `x` elementwise with the addon's unary op `code`. */
function unaryKernel(name: string, code: number): NativeKernel {
  return (addon, args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const xv = f32(args.backend, x);
    if (xv === undefined) return cpuKernel(name, args);
    const out = allocF32(xv.length);
    addon.unary(code, xv, out, xv.length);
    return args.backend.makeTensorInfo([...x.shape], 'float32', out);
  };
}

/** A broadcasting binary kernel running the addon's binary op `code`. */
function binaryKernel(name: string, code: number): NativeKernel {
  return (addon, args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const av = f32(args.backend, a), bv = f32(args.backend, b);
    if (av === undefined || bv === undefined) return cpuKernel(name, args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = allocF32(sizeOf(outShape));
    if (out.length > 0) {
      const c = collapse(outShape, [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
      addon.binary(code, av, bv, out, Int32Array.from(c.shape), Int32Array.from(c.strides[0]!), Int32Array.from(c.strides[1]!));
    }
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** A reduction kernel (`Sum`, `Mean`, `Max`, `Min`) over a contiguous block of axes. */
function reduceKernel(name: 'Sum' | 'Mean' | 'Max' | 'Min'): NativeKernel {
  return (addon, args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const attrs = args.attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    const xv = f32(args.backend, x);
    const rawAxis = name === 'Max' ? attrs.reductionIndices : attrs.axis;
    if (xv === undefined || rawAxis === undefined) return cpuKernel(name, args);
    const shape = x.shape;
    const axes = [...new Set(tf.util.parseAxisParam(rawAxis, shape))].sort((p, q) => p - q);
    const contiguous = axes.every((ax, i) => i === 0 || ax === axes[i - 1]! + 1);
    if (!contiguous) return cpuKernel(name, args);
    const first = axes.length > 0 ? axes[0]! : shape.length;
    const last = axes.length > 0 ? axes[axes.length - 1]! : shape.length - 1;
    const outer = sizeOf(shape.slice(0, first));
    const r = sizeOf(shape.slice(first, last + 1));
    const inner = sizeOf(shape.slice(last + 1));
    const outShape = attrs.keepDims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : shape.filter((_, i) => !axes.includes(i));
    const out = allocF32(outer * inner);
    addon.reduce(REDUCE_CODES[name], xv, out, outer, axes.length === 0 ? 1 : r, inner);
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/**
 * Name of the fused LayerNorm kernel this backend adds (tfjs has none): inputs `{x, gamma, beta}`
 * (gamma and beta `[D]`, optional), attribute `epsilon`; normalizes over the last axis with the
 * biased variance, statistics in double precision. A model can use it when
 * `tf.getKernel(LAYER_NORM_KERNEL, tf.getBackend())` exists and compose the ops otherwise.
 */
export const LAYER_NORM_KERNEL = 'BeitLayerNorm';

/** The fused LayerNorm: one pass for the statistics, one for the output. */
export function layerNorm(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { x, gamma, beta } = args.inputs as { x: tf.TensorInfo; gamma?: tf.TensorInfo; beta?: tf.TensorInfo };
  const { epsilon } = args.attrs as { epsilon: number };
  const xv = f32(args.backend, x);
  const cols = x.shape[x.shape.length - 1] ?? 1;
  const gv = gamma === undefined ? null : f32(args.backend, gamma);
  const bv = beta === undefined ? null : f32(args.backend, beta);
  if (xv === undefined || gv === undefined || bv === undefined) {
    throw new Error(`${LAYER_NORM_KERNEL}: x, gamma and beta must be float32`);
  }
  for (const [n, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t !== undefined && sizeOf(t.shape) !== cols) {
      throw new Error(`${LAYER_NORM_KERNEL}: ${n} has shape [${t.shape}], expected [${cols}]`);
    }
  }
  const out = allocF32(xv.length);
  addon.layerNorm(xv, gv, bv, out, cols === 0 ? 0 : xv.length / cols, cols, epsilon);
  return args.backend.makeTensorInfo([...x.shape], 'float32', out);
}

/** Kernel name -> native implementation, for the elementwise family. */
export const ELEMENTWISE_KERNELS: Readonly<Record<string, NativeKernel>> = {
  Softmax: softmax,
  [LAYER_NORM_KERNEL]: layerNorm,
  Exp: unaryKernel('Exp', UNARY_CODES.Exp),
  Erf: unaryKernel('Erf', UNARY_CODES.Erf),
  Tanh: unaryKernel('Tanh', UNARY_CODES.Tanh),
  Sigmoid: unaryKernel('Sigmoid', UNARY_CODES.Sigmoid),
  Relu: unaryKernel('Relu', UNARY_CODES.Relu),
  Relu6: unaryKernel('Relu6', UNARY_CODES.Relu6),
  Rsqrt: unaryKernel('Rsqrt', UNARY_CODES.Rsqrt),
  Sqrt: unaryKernel('Sqrt', UNARY_CODES.Sqrt),
  Square: unaryKernel('Square', UNARY_CODES.Square),
  Neg: unaryKernel('Neg', UNARY_CODES.Neg),
  Abs: unaryKernel('Abs', UNARY_CODES.Abs),
  Reciprocal: unaryKernel('Reciprocal', UNARY_CODES.Reciprocal),
  Add: binaryKernel('Add', BINARY_CODES.Add),
  Sub: binaryKernel('Sub', BINARY_CODES.Sub),
  Multiply: binaryKernel('Multiply', BINARY_CODES.Multiply),
  RealDiv: binaryKernel('RealDiv', BINARY_CODES.RealDiv),
  Maximum: binaryKernel('Maximum', BINARY_CODES.Maximum),
  Minimum: binaryKernel('Minimum', BINARY_CODES.Minimum),
  SquaredDifference: binaryKernel('SquaredDifference', BINARY_CODES.SquaredDifference),
  Sum: reduceKernel('Sum'),
  Mean: reduceKernel('Mean'),
  Max: reduceKernel('Max'),
  Min: reduceKernel('Min'),
};
