/**
 * The `native` TF.js backend: tfjs's CPU backend (same tensor storage, same kernels for anything
 * uncommon) with the kernels of the transformer forward replaced by this project's C++ addon
 * (`native/`: a cache-blocked, multi-threaded matrix product with run-time AVX-512 / AVX2 / portable
 * micro-kernels, softmax, elementwise maps, reductions, transposes, gathers).
 *
 * Importing this module sets `backendLoaders.native`, so `selectBackend()` can pick it; nothing is
 * registered until {@link registerNativeBackend} runs. When the addon was not built,
 * registration resolves false and {@link nativeUnavailableReason} explains why.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { backendLoaders } from '../backend/select.js';
import { loadNativeAddon, nativeAddonError, type NativeAddon } from './native-addon.js';
import { ATTENTION_KERNEL, attention } from './native-attention.js';
import { LAYER_KERNEL, layer } from './native-layer.js';
import { ELEMENTWISE_KERNELS } from './native-elementwise.js';
import { LAYOUT_KERNELS } from './native-layout.js';
import {
  MLP_KERNEL, PACKED_MATMUL_KERNEL, PACK_WEIGHTS_KERNEL, batchMatMul, fusedMatMul, mlp, packWeights, packedMatMul,
} from './native-matmul.js';
import { markInputsShared, markShared, recycle, setAligner, type KernelArgs, type NativeKernel } from './native-kernel-util.js';

export { MLP_KERNEL, NATIVE_FUSED_ACTIVATIONS, PACKED_MATMUL_KERNEL, PACK_WEIGHTS_KERNEL } from './native-matmul.js';
export { LAYER_NORM_KERNEL } from './native-elementwise.js';
export { ATTENTION_KERNEL } from './native-attention.js';
export { LAYER_KERNEL } from './native-layer.js';

/** Name under which the backend registers. */
export const NATIVE_BACKEND_NAME = 'native';

/** Every kernel this backend implements natively (all others are the CPU backend's). */
const NATIVE_KERNELS: Readonly<Record<string, NativeKernel>> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  [PACK_WEIGHTS_KERNEL]: packWeights,
  [PACKED_MATMUL_KERNEL]: packedMatMul,
  [MLP_KERNEL]: mlp,
  [ATTENTION_KERNEL]: attention,
  [LAYER_KERNEL]: layer,
  ...ELEMENTWISE_KERNELS,
  ...LAYOUT_KERNELS,
};

/**
 * The CPU backend under another name. A subclass (rather than the CPU backend instance itself) so
 * that tfjs keeps separate kernel tables and both backends can coexist in one process.
 */
export class NativeBackend extends MathBackendCPU {
  constructor() {
    super();
    // The CPU backend prints "install tfjs-node to speed things up" on first use; that advice is
    // wrong for this backend, which is the fast path.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** Reading storage hands it out (dataSync returns it as is): never recycle it afterwards. */
  override readSync(dataId: object): tf.backend_util.BackendValues {
    markShared(this.data.get(dataId)?.values);
    return super.readSync(dataId);
  }

  override read(dataId: object): Promise<tf.backend_util.BackendValues> {
    markShared(this.data.get(dataId)?.values);
    return super.read(dataId);
  }

  /** Frees like the CPU backend, then offers the storage to the output pool. */
  override disposeData(dataId: object, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const freed = super.disposeData(dataId, force);
    if (freed && values !== undefined && !this.data.has(dataId)) recycle(values);
    return freed;
  }
}

/** CPU kernels that only share the input's dataId (reference-counted), never a view of its storage. */
const REFCOUNT_ONLY = new Set(['Reshape']);

let registered: boolean | undefined;

/** Names of the kernels that run natively on this backend (for diagnostics and tests). */
export function nativeKernelNames(): string[] {
  return Object.keys(NATIVE_KERNELS);
}

function registerKernels(addon: NativeAddon): void {
  const wrap = (own: NativeKernel): tf.KernelFunc => (args) => own(addon, args as unknown as KernelArgs);
  const cpu = tf.getKernelsForBackend('cpu');
  for (const config of cpu) {
    const own = NATIVE_KERNELS[config.kernelName];
    const cpuFunc = config.kernelFunc;
    const fallback: tf.KernelFunc = REFCOUNT_ONLY.has(config.kernelName) ? cpuFunc : (args) => {
      markInputsShared(args.backend as MathBackendCPU, args.inputs);
      return cpuFunc(args);
    };
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND_NAME, kernelFunc: own ? wrap(own) : fallback });
  }
  // Kernels tfjs does not define (fused LayerNorm, packed weights, fused MLP, attention and layer).
  const cpuNames = new Set(cpu.map((k) => k.kernelName));
  for (const [kernelName, own] of Object.entries(NATIVE_KERNELS)) {
    if (!cpuNames.has(kernelName)) tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc: wrap(own) });
  }
}

/**
 * Registers the `native` backend (once). Resolves false, without registering anything, when the
 * addon is missing or fails to load; {@link nativeUnavailableReason} then says why.
 */
export async function registerNativeBackend(): Promise<boolean> {
  if (registered !== undefined) return registered;
  const addon = loadNativeAddon();
  if (addon === undefined) {
    registered = false;
    return false;
  }
  registerKernels(addon);
  setAligner((buf) => addon.align64(buf));
  tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(), 3);
  registered = true;
  return true;
}

/** Why the native backend is unavailable, or undefined when it is available (or not yet tried). */
export function nativeUnavailableReason(): string | undefined {
  return registered === false ? nativeAddonError() : undefined;
}

let fallbackNoticeTaken = false;

/**
 * The reason to tell a user whose models run on a slower backend because the addon is missing: the
 * first call that finds the addon unavailable gets it, later calls get undefined (said once per process,
 * whoever says it: loadModel or the CLI).
 */
export function takeNativeFallbackNotice(): string | undefined {
  const why = nativeUnavailableReason();
  if (!why || fallbackNoticeTaken) return undefined;
  fallbackNoticeTaken = true;
  return why;
}

let threadsNoticeTaken = false;

/**
 * What is wrong with BEIT_THREADS, once per process (undefined when it is unset or sensible): the addon
 * ignores a value that is not an integer in 1..256 and caps larger ones, and more threads than cores
 * only make them wait on each other.
 */
export function takeThreadsNotice(): string | undefined {
  const v = process.env.BEIT_THREADS;
  if (v === undefined || v === '' || threadsNoticeTaken) return undefined;
  threadsNoticeTaken = true;
  const threads = loadNativeAddon()?.info().threads;
  const cores = os.availableParallelism();
  const n = /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!(n >= 1 && n <= 256)) return `BEIT_THREADS=${JSON.stringify(v)} is not an integer in 1..256; the native backend uses ${threads ?? cores} threads`;
  if (n > cores) return `BEIT_THREADS=${n} is more than the ${cores} cores here; threads beyond the cores wait on each other`;
  return undefined;
}

/** The loaded addon (undefined if absent), for benchmarks and tests that call it directly. */
export function nativeAddon(): NativeAddon | undefined {
  return loadNativeAddon();
}

/** Sets the number of threads of the native pool (default: BEIT_THREADS, else available cores). */
export function setNativeThreads(n: number): void {
  const addon = loadNativeAddon();
  if (addon === undefined) throw new Error(`native backend unavailable: ${nativeAddonError() ?? 'not loaded'}`);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${n}`);
  addon.setThreads(n);
}

backendLoaders.native = registerNativeBackend;
