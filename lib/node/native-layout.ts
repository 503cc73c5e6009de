/**
 * Native data-movement kernels: `Transpose`, strided `Slice` and `GatherV2`. They move 4-byte words
 * with one strided loop (native/ops.cc `strided_copy`), so float32 and int32 tensors share them.
 * Contiguous slices keep the CPU kernel, which returns a view without copying. `Concat` of float32
 * tensors copies whole runs with TypedArray.set (the CPU kernel's element loop took 6 ms for the
 * class-token concat of 8 images).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native-addon.js';
import { allocF32, collapse, cpuKernel, sizeOf, stridesOf, words, type KernelArgs, type NativeKernel } from './native-kernel-util.js';

function emptyLike(v: Float32Array | Int32Array, n: number): Float32Array | Int32Array {
  return v instanceof Float32Array ? allocF32(n) : new Int32Array(n);
}

/** `Transpose` with any permutation. */
export function transpose(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as { perm: number[] };
  const xv = words(args.backend, x);
  if (xv === undefined) return cpuKernel('Transpose', args) as tf.TensorInfo;
  const inStrides = stridesOf(x.shape);
  const outShape = perm.map((p) => x.shape[p]!);
  const out = emptyLike(xv, xv.length);
  if (out.length > 0) {
    const c = collapse(outShape, [perm.map((p) => inStrides[p]!)]);
    addon.stridedCopy(xv, 0, Int32Array.from(c.shape), Int32Array.from(c.strides[0]!), out);
  }
  return args.backend.makeTensorInfo(outShape, x.dtype, out);
}

/** `Slice`: views for contiguous slices (CPU kernel), one native strided copy otherwise. */
export function slice(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const xv = words(args.backend, x);
  if (xv === undefined) return cpuKernel('Slice', args) as tf.TensorInfo;
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  tf.slice_util.assertParamsValid(x as tf.Tensor, b, s);
  if (tf.slice_util.isSliceContinous(x.shape, b, s)) return cpuKernel('Slice', args) as tf.TensorInfo;
  const strides = stridesOf(x.shape);
  const offset = b.reduce((acc, bi, d) => acc + bi * strides[d]!, 0);
  const out = emptyLike(xv, sizeOf(s));
  if (out.length > 0) {
    const c = collapse(s, [strides]);
    addon.stridedCopy(xv, offset, Int32Array.from(c.shape), Int32Array.from(c.strides[0]!), out);
  }
  return args.backend.makeTensorInfo(s, x.dtype, out);
}

/** `GatherV2` along one axis (batchDims = 0), with index validation like the CPU kernel's. */
export function gatherV2(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const xv = words(args.backend, x);
  const iv = indices.dtype === 'int32' ? args.backend.data.get(indices.dataId)?.values : undefined;
  if (xv === undefined || !(iv instanceof Int32Array) || (batchDims ?? 0) !== 0) {
    return cpuKernel('GatherV2', args) as tf.TensorInfo;
  }
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const out = emptyLike(xv, sizeOf(outShape));
  const dim = x.shape[ax]!;
  // The indices are validated even when the output is empty (x has a 0 dimension), as on cpu.
  const bad = out.length > 0 ? addon.gather(xv, iv, out, outer, dim, iv.length, inner) : iv.findIndex((i) => i < 0 || i >= dim);
  if (bad >= 0) throw new Error(`GatherV2: the index value ${iv[bad]} is not in [0, ${dim - 1}]`);
  return args.backend.makeTensorInfo(outShape, x.dtype, out);
}

/** Kernel name -> native implementation, for the data-movement family. */
/** `Concat` of float32 tensors: per outer index, each input's run is one TypedArray.set. */
export function concat(_addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const { axis } = args.attrs as { axis: number | number[] };
  const fallback = () => cpuKernel('Concat', args) as tf.TensorInfo;
  if (inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32')) return fallback();
  const ax = tf.util.parseAxisParam(axis, inputs[0]!.shape)[0]!;
  tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), ax);
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), ax);
  const outer = sizeOf(outShape.slice(0, ax));
  const widths = inputs.map((t) => sizeOf(t.shape.slice(ax)));
  const total = widths.reduce((a, w) => a + w, 0);
  // Many short runs: one set() per run costs more than the CPU kernel's loop.
  if (total === 0 || outer === 0 || total / inputs.length < 64) return fallback();
  const values = inputs.map((t) => args.backend.data.get(t.dataId)?.values);
  if (!values.every((v): v is Float32Array => v instanceof Float32Array)) return fallback();
  const out = allocF32(outer * total);
  for (let o = 0; o < outer; o++) {
    let off = o * total;
    for (let i = 0; i < values.length; i++) {
      const w = widths[i]!;
      if (w > 0) out.set(values[i]!.subarray(o * w, (o + 1) * w), off);
      off += w;
    }
  }
  return args.backend.makeTensorInfo(outShape, 'float32', out);
}

export const LAYOUT_KERNELS: Readonly<Record<string, NativeKernel>> = {
  Concat: concat,
  Transpose: transpose,
  Slice: slice,
  GatherV2: gatherV2,
};
