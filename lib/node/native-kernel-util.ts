/**
 * Shared plumbing of the native kernels: access to the CPU backend's typed-array storage, fallback
 * to the CPU kernels for cases the addon does not cover (other dtypes, odd layouts), and the
 * stride arithmetic that lets one native strided loop serve broadcasting, transposes and slices.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './native-addon.js';

/** Arguments every kernel function receives, with the backend typed. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: MathBackendCPU;
  attrs?: tf.NamedAttrMap;
}

/** Signature of a native kernel: receives the addon, returns a tensor or tensors. */
export type NativeKernel = (addon: NativeAddon, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The float32 storage of a tensor, or undefined when it is not a plain float32 tensor. */
export function f32(backend: MathBackendCPU, t: tf.TensorInfo | undefined): Float32Array | undefined {
  if (t === undefined || t.dtype !== 'float32') return undefined;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : undefined;
}

/** The 4-byte storage (float32 or int32) of a tensor, for layout kernels that only move words. */
export function words(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array | Int32Array | undefined {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') return undefined;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array || v instanceof Int32Array ? v : undefined;
}

/** Runs the CPU backend's kernel `name` (the fallback for anything the addon does not handle). */
export function cpuKernel(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  markInputsShared(args.backend, args.inputs);
  const k = tf.getKernel(name, 'cpu');
  if (k === undefined) throw new Error(`no cpu kernel ${name} to fall back to`);
  return k.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
}

// ---------------------------------------------------------------------------------------------
// Output buffer recycling.
//
// A fresh Float32Array costs more than a memory-bound kernel itself (the pages are zeroed and
// faulted in on first write: ~150 µs for 600 KB against ~20 µs for an elementwise product), and the
// forward allocates the same few sizes over and over. Outputs of native kernels are therefore taken
// from a pool that disposed tensors return to. An array is recycled only if it provably has no
// other reader: it was allocated here, and since then it was only read by native kernels (which
// copy) or shared by Reshape (same dataId, reference-counted). Handing it to a CPU kernel (which may
// return a view of it, as Slice does) or to readSync/read (dataSync() returns the storage itself)
// disqualifies it for good.
// ---------------------------------------------------------------------------------------------

const MAX_POOLED_BYTES = 256 * 1024 * 1024;
const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
const recyclable = new WeakSet<Float32Array>();
const inPool = new WeakSet<Float32Array>();

/** A float32 output buffer of n elements, possibly recycled (contents undefined: write all of it). */
export function allocF32(n: number): Float32Array {
  const reused = pool.get(n)?.pop();
  if (reused !== undefined) {
    inPool.delete(reused);
    pooledBytes -= reused.byteLength;
    return reused;
  }
  // 64-byte aligned (when the addon says where the boundary is): products then write whole cache
  // lines with streaming stores.
  let fresh: Float32Array;
  if (align64 !== undefined && n >= 16) {
    const buf = new ArrayBuffer(n * 4 + 60);
    fresh = new Float32Array(buf, align64(buf), n);
  } else {
    fresh = new Float32Array(n);
  }
  recyclable.add(fresh);
  return fresh;
}

let align64: ((buf: ArrayBuffer) => number) | undefined;

/** Lets {@link allocF32} place new buffers on 64-byte boundaries (the addon knows addresses). */
export function setAligner(fn: (buf: ArrayBuffer) => number): void {
  align64 = fn;
}

/** Marks storage as visible outside the native kernels: it will never be recycled. */
export function markShared(values: unknown): void {
  if (values instanceof Float32Array) recyclable.delete(values);
}

/** Marks the storage of every input of a kernel call as shared (see {@link markShared}). */
export function markInputsShared(backend: MathBackendCPU, inputs: tf.NamedTensorInfoMap): void {
  for (const t of Object.values(inputs)) {
    if (t !== undefined && t !== null) markShared(backend.data.get(t.dataId)?.values);
  }
}

/** Returns the storage of a disposed tensor to the pool when nothing else can see it. */
export function recycle(values: unknown): void {
  if (!(values instanceof Float32Array) || !recyclable.has(values) || inPool.has(values)) return;
  if (values.length === 0 || pooledBytes + values.byteLength > MAX_POOLED_BYTES) return;
  inPool.add(values);
  let list = pool.get(values.length);
  if (list === undefined) pool.set(values.length, (list = []));
  list.push(values);
  pooledBytes += values.byteLength;
}

/** Drops every pooled buffer (tests, memory pressure). */
export function clearPool(): void {
  for (const list of pool.values()) for (const a of list) inPool.delete(a);
  pool.clear();
  pooledBytes = 0;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/**
 * Strides with which an input of `inShape` is read when broadcast to `outShape` (numpy rules:
 * dimensions aligned on the right, size-1 and missing dimensions get stride 0).
 */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const inStrides = stridesOf(inShape);
  const off = outShape.length - inShape.length;
  return outShape.map((_, d) => {
    const i = d - off;
    return i < 0 || inShape[i] === 1 ? 0 : inStrides[i]!;
  });
}

/**
 * Merges dimensions that every operand walks contiguously (stride[d] = stride[d+1]·shape[d+1])
 * and drops size-1 dimensions, so the native loops see the fewest, longest rows.
 */
export function collapse(shape: readonly number[], strideSets: readonly (readonly number[])[]):
  { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strideSets.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strideSets.every((s, o) => outStrides[o]![last] === s[d]! * n)) {
      outShape[last] = outShape[last]! * n;
      strideSets.forEach((s, o) => { outStrides[o]![last] = s[d]!; });
    } else {
      outShape.push(n);
      strideSets.forEach((s, o) => outStrides[o]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Product of a shape's dimensions. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
