/**
 * `BatchMatMul` and `_FusedMatMul` on the addon's product (native/gemm.cc). Batch dimensions
 * broadcast with numpy rules (the output matrix b reads A matrix aIndex[b] and B matrix bIndex[b]),
 * bias is added and the activation applied in the product's epilogue.
 *
 * Besides tfjs's fused activations (linear, relu, relu6, elu, leakyrelu, sigmoid; prelu runs the
 * CPU kernel after the native product) `_FusedMatMul` on this backend also accepts `gelu` (exact,
 * erf form) and `gelu_tanh`, so a model can fuse its MLP activation: see {@link NATIVE_FUSED_ACTIVATIONS}.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ACT_CODES, BINARY_CODES, UNARY_CODES, type NativeAddon } from './native-addon.js';
import { allocF32, broadcastStrides, collapse, cpuKernel, f32, sizeOf, type KernelArgs } from './native-kernel-util.js';

/** Activations `_FusedMatMul` accepts on the `native` backend (a superset of tfjs's). */
export const NATIVE_FUSED_ACTIVATIONS: readonly string[] = [...Object.keys(ACT_CODES), 'prelu'];

interface Plan {
  outShape: number[];
  M: number; N: number; K: number; batch: number;
  numA: number; numB: number;
  aIndex: Int32Array | null; bIndex: Int32Array | null;
}

/** Shapes and batch broadcasting of one product, validated like tfjs's matMul op. */
function plan(aShape: readonly number[], bShape: readonly number[], tA: boolean, tB: boolean): Plan {
  const ra = aShape.length, rb = bShape.length;
  if (ra < 2 || rb < 2) throw new Error(`matMul needs rank >= 2 operands, got [${aShape}] and [${bShape}]`);
  const M = tA ? aShape[ra - 1]! : aShape[ra - 2]!;
  const K = tA ? aShape[ra - 2]! : aShape[ra - 1]!;
  const K2 = tB ? bShape[rb - 1]! : bShape[rb - 2]!;
  const N = tB ? bShape[rb - 2]! : bShape[rb - 1]!;
  if (K !== K2) {
    throw new Error(`Error in matMul: inner shapes (${K}) and (${K2}) of Tensors with shapes ${aShape} and ` +
      `${bShape} and transposeA=${tA} and transposeB=${tB} must match.`);
  }
  const batchA = aShape.slice(0, -2), batchB = bShape.slice(0, -2);
  const batchOut = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const batch = sizeOf(batchOut), numA = sizeOf(batchA), numB = sizeOf(batchB);
  const index = (own: number[], count: number): Int32Array | null => {
    if (count === batch && own.length === batchOut.length) return null; // identity mapping
    const strides = broadcastStrides(own, batchOut);
    const idx = new Int32Array(batch);
    const dims = batchOut.length;
    const pos = new Array<number>(dims).fill(0);
    for (let b = 0; b < batch; b++) {
      let off = 0;
      for (let d = 0; d < dims; d++) off += pos[d]! * strides[d]!;
      idx[b] = off;
      for (let d = dims - 1; d >= 0; d--) {
        if (++pos[d]! < batchOut[d]!) break;
        pos[d] = 0;
      }
    }
    return idx;
  };
  return {
    outShape: [...batchOut, M, N], M, N, K, batch, numA: Math.max(numA, 1), numB: Math.max(numB, 1),
    aIndex: index(batchA, numA), bIndex: index(batchB, numB),
  };
}

function runProduct(addon: NativeAddon, args: KernelArgs, bias: tf.TensorInfo | undefined, act: number,
  alpha: number): tf.TensorInfo | undefined {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const av = f32(args.backend, a), bv = f32(args.backend, b);
  if (av === undefined || bv === undefined) return undefined;
  const p = plan(a.shape, b.shape, transposeA, transposeB);
  if (bias !== undefined && f32(args.backend, bias) === undefined) return undefined;
  // An empty batch (a 0 batch dimension) or M = 0 or N = 0: nothing to compute (the addon checks
  // array lengths against numA·M·K and would reject an operand with no matrices).
  if (sizeOf(p.outShape) === 0) {
    if (bias !== undefined) tf.backend_util.assertAndGetBroadcastShape(p.outShape, bias.shape);
    return args.backend.makeTensorInfo(p.outShape, 'float32', new Float32Array(0));
  }
  const out = allocF32(sizeOf(p.outShape));
  let biasVals: Float32Array | null = null;
  let sb = 0, sm = 0, sn = 0;
  let addAfter = false;
  if (bias !== undefined) {
    const bvals = f32(args.backend, bias);
    if (bvals === undefined) return undefined;
    // tfjs's fused op hands the kernel 3-D operands but the bias at its own rank, so the bias may
    // have more (size-1 or batch) dimensions than the product: lay it over the product's batch.
    const full = tf.backend_util.assertAndGetBroadcastShape(p.outShape, bias.shape);
    const r0 = full.length;
    if (sizeOf(full) !== sizeOf(p.outShape) || full[r0 - 2] !== p.M || full[r0 - 1] !== p.N) {
      throw new Error(`bias of shape [${bias.shape}] does not broadcast to the product's shape [${p.outShape}]`);
    }
    const s = broadcastStrides(bias.shape, full);
    const r = s.length;
    sm = s[r - 2]!;
    sn = s[r - 1]!;
    const batchStrides = collapse(full.slice(0, -2), [s.slice(0, -2)]);
    if (batchStrides.shape.length === 0 || batchStrides.strides[0]!.every((x) => x === 0)) {
      sb = 0;
    } else if (batchStrides.shape.length === 1) {
      sb = batchStrides.strides[0]![0]!;
    } else {
      addAfter = true; // bias varies over several batch dimensions in a pattern one stride cannot express
    }
    biasVals = bvals;
  }
  const fuseBias = biasVals !== null && !addAfter;
  addon.gemm(av, bv, out, p.M, p.N, p.K, transposeA, transposeB, p.batch, p.aIndex, p.bIndex, p.numA, p.numB,
    fuseBias ? biasVals : null, sb, sm, sn, addAfter ? ACT_CODES.linear : act, alpha);
  if (addAfter && biasVals !== null && bias !== undefined) {
    const full = tf.backend_util.assertAndGetBroadcastShape(p.outShape, bias.shape);
    const c = collapse(full, [broadcastStrides(full, full), broadcastStrides(bias.shape, full)]);
    addon.binary(BINARY_CODES.Add, out, biasVals, out, Int32Array.from(c.shape), Int32Array.from(c.strides[0]!),
      Int32Array.from(c.strides[1]!));
    return activateInPlace(addon, args, p.outShape, out, act, alpha);
  }
  return args.backend.makeTensorInfo(p.outShape, 'float32', out);
}

/** Activation as a separate pass (only for bias layouts the epilogue cannot index). */
function activateInPlace(addon: NativeAddon, args: KernelArgs, shape: number[], out: Float32Array, act: number,
  alpha: number): tf.TensorInfo {
  const unary: Record<number, number> = {
    [ACT_CODES.relu]: UNARY_CODES.Relu, [ACT_CODES.relu6]: UNARY_CODES.Relu6, [ACT_CODES.gelu]: UNARY_CODES.Gelu,
    [ACT_CODES.gelu_tanh]: UNARY_CODES.GeluTanh, [ACT_CODES.sigmoid]: UNARY_CODES.Sigmoid,
  };
  const info = args.backend.makeTensorInfo(shape, 'float32', out);
  if (act === ACT_CODES.linear) return info;
  const u = unary[act];
  if (u !== undefined) {
    addon.unary(u, out, out, out.length);
    return info;
  }
  const res = act === ACT_CODES.elu
    ? cpuKernel('Elu', { inputs: { x: info }, backend: args.backend })
    : cpuKernel('LeakyRelu', { inputs: { x: info }, backend: args.backend, attrs: { alpha } });
  args.backend.disposeIntermediateTensorInfo(info);
  return res as tf.TensorInfo;
}

/** Native `BatchMatMul` (falls back to the CPU kernel for non-float32 operands). */
export function batchMatMul(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  return runProduct(addon, args, undefined, ACT_CODES.linear, 0) ?? cpuKernel('BatchMatMul', args) as tf.TensorInfo;
}

/** Native `_FusedMatMul`: product, bias and activation in one pass over the output. */
export function fusedMatMul(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { bias, preluActivationWeights } = args.inputs as { bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const attrs = args.attrs as { activation?: string; leakyreluAlpha?: number };
  const activation = attrs.activation ?? 'linear';
  if (activation === 'prelu') {
    const lin = runProduct(addon, args, bias, ACT_CODES.linear, 0);
    if (lin === undefined) return cpuKernel('_FusedMatMul', args) as tf.TensorInfo;
    const res = cpuKernel('Prelu', { inputs: { x: lin, alpha: preluActivationWeights! }, backend: args.backend }) as tf.TensorInfo;
    args.backend.disposeIntermediateTensorInfo(lin);
    return res;
  }
  const code = (ACT_CODES as Record<string, number>)[activation];
  if (code === undefined) {
    throw new Error(`activation "${activation}" is not supported by the native backend; ` +
      `supported: ${NATIVE_FUSED_ACTIVATIONS.join(', ')}`);
  }
  return runProduct(addon, args, bias, code, attrs.leakyreluAlpha ?? 0.2) ??
    cpuKernel('_FusedMatMul', args) as tf.TensorInfo;
}

// ---------------------------------------------------------------------------------------------
// Pre-packed weights. A product packs B into 32-column panels on every call; for constant weights
// that costs ~10% of the product at batch 1 (the weights stream from DRAM once per forward either
// way). A model running on `native` can pack each weight once at load, dispose the original (same
// memory, plus padding of N to a multiple of 32), and multiply with the packed tensor.
// ---------------------------------------------------------------------------------------------

/** Kernel packing a weight: inputs `{b}` `[K, N]` (`[N, K]` with attr `transposeB`) -> `[ceil(N/32), K, 32]`. */
export const PACK_WEIGHTS_KERNEL = 'BeitPackWeights';
/**
 * Kernel multiplying by a packed weight: inputs `{a [..., M, K], b (packed), bias?, residual?}`,
 * attrs `{n: N, activation?}` (activations as for `_FusedMatMul` here, without prelu) ->
 * `[..., M, N]` = act(a·b + bias) + residual, where `residual` (float32) has the output's shape.
 */
export const PACKED_MATMUL_KERNEL = 'BeitPackedMatMul';
/** Width of the packed panels (native/gemm.h kPackedWidth). */
export const PACKED_WIDTH = 32;

/**
 * `BeitPackWeights`. With `transposeB` (PyTorch `[out, in]` weights), more row blocks `b1`, `b2` of the
 * same width may follow `b` (a fused QKV from q, k, v without concatenating them first), and attr `scale`
 * (Float64Array, one value per row) multiplies each row as it is packed (query scale, layer scale),
 * rounded once as JavaScript's `Float32Array` store of `x * s` rounds.
 */
export function packWeights(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { b, b1, b2 } = args.inputs as { b: tf.TensorInfo; b1?: tf.TensorInfo; b2?: tf.TensorInfo };
  const { transposeB, scale } = (args.attrs ?? {}) as { transposeB?: boolean; scale?: Float64Array };
  const bv = f32(args.backend, b);
  if (bv === undefined || b.shape.length !== 2) {
    throw new Error(`${PACK_WEIGHTS_KERNEL}: expected a float32 matrix, got ${b.dtype} [${b.shape}]`);
  }
  const more = [b1, b2].filter((t): t is tf.TensorInfo => t !== undefined);
  if (more.length || scale) {
    if (!transposeB) throw new Error(`${PACK_WEIGHTS_KERNEL}: extra row blocks and scale need transposeB`);
    const parts = [bv];
    for (const t of more) {
      const v = f32(args.backend, t);
      if (v === undefined || t.shape.length !== 2 || t.shape[1] !== b.shape[1]) {
        throw new Error(`${PACK_WEIGHTS_KERNEL}: row blocks must be float32 [rows, ${b.shape[1]}], got ${t.dtype} [${t.shape}]`);
      }
      parts.push(v);
    }
    const K = b.shape[1]!, N = b.shape[0]! + more.reduce((n, t) => n + t.shape[0]!, 0);
    if (scale && scale.length !== N) throw new Error(`${PACK_WEIGHTS_KERNEL}: scale has ${scale.length} values for ${N} rows`);
    const out = new Float32Array(addon.packedBSize(K, N));
    addon.packRows(parts, K, out, scale ?? null);
    return args.backend.makeTensorInfo([Math.ceil(N / PACKED_WIDTH), K, PACKED_WIDTH], 'float32', out);
  }
  const [K, N] = transposeB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  const panels = Math.ceil(N / PACKED_WIDTH);
  const out = new Float32Array(addon.packedBSize(K, N));
  addon.packB(bv, K, N, transposeB === true, out);
  return args.backend.makeTensorInfo([panels, K, PACKED_WIDTH], 'float32', out);
}

/** Whether `w` is a packed weight (`BeitPackWeights`) of a `[K, n]` matrix. */
function isPackedFor(w: tf.TensorInfo, K: number, n: number): boolean {
  return w.shape.length === 3 && w.shape[0] === Math.ceil(n / PACKED_WIDTH) && w.shape[1] === K && w.shape[2] === PACKED_WIDTH;
}

/** The float32 values of an optional bias of n elements (null when absent); throws naming `kernel`. */
function biasValues(args: KernelArgs, t: tf.TensorInfo | undefined, n: number, kernel: string, name = 'bias'): Float32Array | null {
  if (t === undefined) return null;
  const v = f32(args.backend, t);
  if (v === undefined || sizeOf(t.shape) !== n) {
    throw new Error(`${kernel}: ${name} must be float32 with ${n} elements, got ${t.dtype} [${t.shape}]`);
  }
  return v;
}

/** The float32 values of an optional residual of the output's shape (null when absent); throws naming `kernel`. */
function residualValues(args: KernelArgs, t: tf.TensorInfo | undefined, outShape: readonly number[], kernel: string): Float32Array | null {
  if (t === undefined) return null;
  const v = t.dtype === 'float32' ? f32(args.backend, t) : undefined;
  if (v === undefined || t.shape.length !== outShape.length || t.shape.some((d, i) => d !== outShape[i])) {
    throw new Error(`${kernel}: residual must be float32 of the output's shape [${outShape}], got ${t.dtype} [${t.shape}]`);
  }
  return v;
}

/** `BeitPackedMatMul`: rows of `a` times the packed weight, bias, activation and residual fused. */
export function packedMatMul(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { a, b, bias, residual } = args.inputs as
    { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; residual?: tf.TensorInfo };
  const { n: N, activation, leakyreluAlpha } = args.attrs as { n: number; activation?: string; leakyreluAlpha?: number };
  const av = f32(args.backend, a), bv = f32(args.backend, b);
  const K = a.shape[a.shape.length - 1]!;
  if (av === undefined || bv === undefined || !isPackedFor(b, K, N)) {
    throw new Error(`${PACKED_MATMUL_KERNEL}: a [${a.shape}] (${a.dtype}) does not match packed weight [${b.shape}] for n=${N}`);
  }
  const code = (ACT_CODES as Record<string, number>)[activation ?? 'linear'];
  if (code === undefined) {
    throw new Error(`${PACKED_MATMUL_KERNEL}: activation "${activation}" not supported; supported: ${Object.keys(ACT_CODES).join(', ')}`);
  }
  const biasVals = biasValues(args, bias, N, PACKED_MATMUL_KERNEL);
  const outShape = [...a.shape.slice(0, -1), N];
  const M = sizeOf(a.shape.slice(0, -1));
  const resVals = residualValues(args, residual, outShape, PACKED_MATMUL_KERNEL);
  const out = allocF32(M * N);
  addon.gemm(av, bv, out, M, N, K, false, false, 1, null, null, 1, 1, biasVals, 0, 0, 1, code,
    leakyreluAlpha ?? 0.2, true, resVals);
  return args.backend.makeTensorInfo(outShape, 'float32', out);
}

// ---------------------------------------------------------------------------------------------
// The MLP of a layer as one kernel: act(x·W1 + b1)·W2 + b2 + residual. Its
// intermediate never becomes a tensor: it lives in the addon's scratch buffer, column-blocked where
// the AVX-512 in-place kernels run so that the second product reads it in place (native/gemm.h MlpDesc).
// ---------------------------------------------------------------------------------------------

/**
 * Kernel: inputs `{a [..., M, D], w1 (packed [D, F]), bias1?, w2 (packed [F, D]), bias2?, residual?}`,
 * attrs `{n1: F, n2: D, activation?}` -> `[..., M, D]`.
 */
export const MLP_KERNEL = 'BeitMlp';

/** `BeitMlp`. */
export function mlp(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const { a, w1, bias1, w2, bias2, residual } = args.inputs as {
    a: tf.TensorInfo; w1: tf.TensorInfo; bias1?: tf.TensorInfo; w2: tf.TensorInfo; bias2?: tf.TensorInfo; residual?: tf.TensorInfo;
  };
  const { n1: F, n2: N, activation } = args.attrs as { n1: number; n2: number; activation?: string };
  const D = a.shape[a.shape.length - 1]!;
  const code = (ACT_CODES as Record<string, number>)[activation ?? 'linear'];
  const av = f32(args.backend, a), w1v = f32(args.backend, w1), w2v = f32(args.backend, w2);
  if (code === undefined || N !== D || av === undefined || w1v === undefined || w2v === undefined ||
      !isPackedFor(w1, D, F) || !isPackedFor(w2, F, N)) {
    throw new Error(`${MLP_KERNEL}: a [${a.shape}] (${a.dtype}), w1 [${w1.shape}], w2 [${w2.shape}], n1=${F}, n2=${N}, ` +
      `activation ${activation ?? 'linear'}: expected float32 a [..., D], packed w1 for [D, n1], packed w2 for [n1, D] ` +
      `with n2 = D, an activation of ${Object.keys(ACT_CODES).join(', ')}`);
  }
  const b1v = biasValues(args, bias1, F, MLP_KERNEL, 'bias1'), b2v = biasValues(args, bias2, N, MLP_KERNEL, 'bias2');
  const M = sizeOf(a.shape.slice(0, -1));
  const resVals = residualValues(args, residual, a.shape, MLP_KERNEL);
  const out = allocF32(M * N);
  if (!addon.mlp(av, w1v, b1v, code, w2v, b2v, resVals, out, M, D, F)) {
    throw new Error(`${MLP_KERNEL}: out of memory for the ${M}x${F} intermediate`);
  }
  return args.backend.makeTensorInfo(a.shape.slice(), 'float32', out);
}
