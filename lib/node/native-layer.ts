/**
 * `BeitLayer`, a kernel this backend adds: a whole pre-LayerNorm transformer layer in one native call
 * (native/layer.h) — LayerNorm, the fused QKV product, attention with its relative position bias, the
 * output projection with its residual, LayerNorm, the MLP with its residual. The same kernels run as
 * separate tfjs kernels otherwise; as one call the layer skips their JavaScript engine work (ten or so
 * kernel invocations per layer, 30-50 µs each: about 4% of a batch-1 forward) and their intermediate
 * tensors.
 *
 * Inputs: `x` `[B, T, D]`; `ln1Gamma`, `ln1Beta`, `ln2Gamma`, `ln2Beta` `[D]`; packed weights
 * (`BeitPackWeights`) `wQkv` for `[D, 3D]`, `wO` for `[D, D]`, `w1` for `[D, F]`, `w2` for `[F, D]`;
 * optional biases `bQkv` `[3D]`, `bO` `[D]`, `b1` `[F]`, `b2` `[D]`; optional attention `bias`
 * `[heads, T, T]` (any leading 1s) or `[T, T]`.
 * Attributes: `heads`, `epsilon`, `n1` (F), `activation` (a fused epilogue: gelu, gelu_tanh, relu, ...).
 * Output: `[B, T, D]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ACT_CODES, type NativeAddon } from './native-addon.js';
import { allocF32, f32, sizeOf, type KernelArgs } from './native-kernel-util.js';
import { PACKED_WIDTH } from './native-matmul.js';

/** Name of the fused layer kernel. */
export const LAYER_KERNEL = 'BeitLayer';

type LayerInputs = Record<'x' | 'ln1Gamma' | 'ln1Beta' | 'wQkv' | 'wO' | 'ln2Gamma' | 'ln2Beta' | 'w1' | 'w2', tf.TensorInfo>
  & Partial<Record<'bQkv' | 'bO' | 'b1' | 'b2' | 'bias', tf.TensorInfo>>;

/** The kernel function of {@link LAYER_KERNEL}. */
export function layer(addon: NativeAddon, args: KernelArgs): tf.TensorInfo {
  const inp = args.inputs as unknown as LayerInputs;
  const { heads: H, epsilon, n1: F, activation } = args.attrs as { heads: number; epsilon: number; n1: number; activation?: string };
  const fail = (what: string): never => { throw new Error(`${LAYER_KERNEL}: ${what}`); };
  const x = inp.x;
  if (x.shape.length !== 3) fail(`x must be [B, T, D], got [${x.shape}]`);
  const [B, T, D] = x.shape as [number, number, number];
  if (!Number.isInteger(H) || H < 1 || D % H !== 0) fail(`heads=${H} does not divide D=${D}`);
  if (!Number.isInteger(F) || F < 1) fail(`n1 must be a positive integer, got ${F}`);
  const code = (ACT_CODES as Record<string, number>)[activation ?? 'linear'];
  if (code === undefined) fail(`activation "${activation}" not supported; supported: ${Object.keys(ACT_CODES).join(', ')}`);
  const vec = (name: keyof LayerInputs, n: number, optional: boolean): Float32Array | null => {
    const t = inp[name];
    if (t === undefined) return optional ? null : fail(`${name} is missing`);
    const v = f32(args.backend, t);
    if (v === undefined || sizeOf(t.shape) !== n) fail(`${name} must be float32 with ${n} elements, got ${t.dtype} [${t.shape}]`);
    return v!;
  };
  const packed = (name: 'wQkv' | 'wO' | 'w1' | 'w2', K: number, N: number): Float32Array => {
    const t = inp[name];
    const v = f32(args.backend, t);
    const want = [Math.ceil(N / PACKED_WIDTH), K, PACKED_WIDTH];
    if (v === undefined || t.shape.length !== 3 || t.shape.some((d, i) => d !== want[i])) {
      fail(`${name} must be a packed weight [${want}] (BeitPackWeights of [${K}, ${N}]), got ${t.dtype} [${t.shape}]`);
    }
    return v!;
  };
  const xv = f32(args.backend, x) ?? fail(`x must be float32, got ${x.dtype}`);
  let bias: Float32Array | null = null, perHead = true;
  if (inp.bias !== undefined) {
    const n = sizeOf(inp.bias.shape), lastTwo = inp.bias.shape.slice(-2);
    bias = f32(args.backend, inp.bias) ?? null;
    if (bias === null || lastTwo[0] !== T || lastTwo[1] !== T || (n !== T * T && n !== H * T * T)) {
      fail(`bias must be float32 [heads, T, T] or [T, T] with T=${T}, heads=${H}; got ${inp.bias.dtype} [${inp.bias.shape}]`);
    }
    perHead = n === H * T * T && H > 1;
  }
  const out = allocF32(B * T * D);
  addon.layer(xv, out, B, T, D, H, F, epsilon,
    vec('ln1Gamma', D, false)!, vec('ln1Beta', D, false)!, packed('wQkv', D, 3 * D), vec('bQkv', 3 * D, true), bias, perHead,
    packed('wO', D, D), vec('bO', D, true), vec('ln2Gamma', D, false)!, vec('ln2Beta', D, false)!,
    packed('w1', D, F), vec('b1', F, true), code!, packed('w2', F, D), vec('b2', D, true));
  return args.backend.makeTensorInfo([B, T, D], 'float32', out);
}
