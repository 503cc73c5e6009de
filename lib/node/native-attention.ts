/**
 * `BeitAttention`, a kernel this backend adds: the multi-head self-attention core
 * softmax(Q·Kᵀ·scale + bias)·V on the QKV projection's output, in one native pass per (image, head)
 * (native/attention.cc). It replaces the 5-D transpose, split, two batched products, bias add,
 * softmax and output transpose of the composed version.
 *
 * Inputs: `qkv` `[B, T, 3·D]` (per token: q | k | v, each `[heads, headDim]`, the layout of a fused
 * query/key/value projection) and optional `bias` `[heads, T, T]` (any leading 1s) or `[T, T]`.
 * Attributes: `heads`, `scale` (default 1), `returnProbs` (default false).
 * Outputs: `[context [B, T, D]]`, plus `probs [B, heads, T, T]` when `returnProbs`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from './native-addon.js';
import { allocF32, f32, sizeOf, type KernelArgs } from './native-kernel-util.js';

/** Name of the fused attention kernel. */
export const ATTENTION_KERNEL = 'BeitAttention';

/** The kernel function of {@link ATTENTION_KERNEL}. */
export function attention(addon: NativeAddon, args: KernelArgs): tf.TensorInfo[] {
  const { qkv, bias } = args.inputs as { qkv: tf.TensorInfo; bias?: tf.TensorInfo };
  const { heads, scale, returnProbs } = args.attrs as { heads: number; scale?: number; returnProbs?: boolean };
  const qv = f32(args.backend, qkv);
  if (qv === undefined || qkv.shape.length !== 3) {
    throw new Error(`${ATTENTION_KERNEL}: qkv must be float32 [B, T, 3*D], got ${qkv.dtype} [${qkv.shape}]`);
  }
  const [B, T, D3] = qkv.shape as [number, number, number];
  if (!Number.isInteger(heads) || heads < 1 || D3 % (3 * heads) !== 0) {
    throw new Error(`${ATTENTION_KERNEL}: heads=${heads} does not divide the qkv width ${D3} / 3`);
  }
  const D = D3 / 3, hd = D / heads;
  let bv: Float32Array | null = null;
  let perHead = true;
  if (bias !== undefined) {
    bv = f32(args.backend, bias) ?? null;
    const n = sizeOf(bias.shape);
    const lastTwo = bias.shape.slice(-2);
    if (bv === null || lastTwo[0] !== T || lastTwo[1] !== T || (n !== T * T && n !== heads * T * T)) {
      throw new Error(`${ATTENTION_KERNEL}: bias must be float32 [heads, T, T] or [T, T] with T=${T}, heads=${heads}; ` +
        `got ${bias.dtype} [${bias.shape}]`);
    }
    perHead = n === heads * T * T && heads > 1;
  }
  const context = allocF32(B * T * D);
  const probs = returnProbs === true ? allocF32(B * heads * T * T) : null;
  addon.attention(qv, B, T, heads, hd, bv, perHead, scale ?? 1, context, probs);
  const out = [args.backend.makeTensorInfo([B, T, D], 'float32', context)];
  if (probs !== null) out.push(args.backend.makeTensorInfo([B, heads, T, T], 'float32', probs));
  return out;
}
