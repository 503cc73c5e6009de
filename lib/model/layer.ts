/**
 * One pre-LayerNorm transformer block (HF `BeitLayer` / `ViTLayer`):
 *   x = x + lambda_1 * attn(layernorm_before(x)) ; x = x + lambda_2 * mlp(layernorm_after(x)).
 * At load time query/key/value are fused into one `[D, 3D]` product, the 1/sqrt(head_dim) score
 * scale is folded into the query weights, and lambda_1/lambda_2 into the output projections,
 * so the forward does only what the math needs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../checkpoint/config.js';
import { EPILOGUE, FUSED_KERNELS, hasKernel, layerNorm, linear, linearAct, linearResidual, mlp, type Linear } from './ops.js';
import { clsToken, patchMean } from './heads.js';

/** Device weights of one layer (after fusion/folding). */
export interface DeviceLayer {
  readonly layernorm_before: { weight: tf.Tensor1D; bias: tf.Tensor1D };
  /** query|key|value, `[D, 3D]`, query pre-scaled by 1/sqrt(head_dim) (`batched` attention). */
  readonly qkv?: Linear;
  /** The same weights split per head, `[D, head_dim]` each (`per-head` attention). */
  readonly heads?: readonly { readonly q: Linear; readonly k: Linear; readonly v: Linear }[];
  /** `attention.output.dense`, lambda_1 folded in. */
  readonly attention_output: Linear;
  readonly layernorm_after: { weight: tf.Tensor1D; bias: tf.Tensor1D };
  readonly intermediate: Linear;
  /** `output.dense`, lambda_2 folded in. */
  readonly output: Linear;
}

/**
 * How attention runs: `batched` (one QKV product, `[B, H]` batched matmuls) or `per-head` (per image
 * and head: its own q/k/v products from per-head weights, 2-D score and context products, no slicing
 * of activations). The second exists for tfjs-backend-wasm, which routes only 2-D products to XNNPACK
 * (batched: 104 ms vs 12 ms per layer at 197 tokens) and copies its whole input on every slice/split
 * (splitting [96, 197, 197] into heads took 270 ms).
 */
export type AttentionImpl = 'batched' | 'per-head';

/**
 * Forward of one layer. `bias` is the relative position bias `[1, heads, T, T]` or undefined
 * (`headBias` the same per head for per-head attention). `probs` is returned when `wantProbs`.
 */
export function layerForward(x: tf.Tensor3D, w: DeviceLayer, bias: tf.Tensor4D | undefined, c: ModelConfig,
  headBias?: readonly tf.Tensor2D[], wantProbs = true): { hidden: tf.Tensor3D; probs?: tf.Tensor4D } {
  const [B, T, D] = x.shape;
  const act = EPILOGUE[c.hidden_act];
  if (!wantProbs && act && w.qkv?.packed && w.attention_output.packed && w.intermediate.packed && w.output.packed &&
      hasKernel(FUSED_KERNELS.layer)) {
    // The whole layer in one native call (lib/node/native-layer.ts): same kernels, no per-kernel engine work.
    const opt = (name: string, t: tf.Tensor | undefined) => (t ? { [name]: t } : {});
    return {
      hidden: tf.engine().runKernel(FUSED_KERNELS.layer, {
        x, ln1Gamma: w.layernorm_before.weight, ln1Beta: w.layernorm_before.bias, wQkv: w.qkv.w, wO: w.attention_output.w,
        ln2Gamma: w.layernorm_after.weight, ln2Beta: w.layernorm_after.bias, w1: w.intermediate.w, w2: w.output.w,
        ...opt('bQkv', w.qkv.b), ...opt('bO', w.attention_output.b), ...opt('b1', w.intermediate.b), ...opt('b2', w.output.b),
        ...opt('bias', bias),
      }, { heads: c.num_attention_heads, epsilon: c.layer_norm_eps, n1: w.intermediate.n, activation: act }) as tf.Tensor3D,
    };
  }
  const { x1, probs } = attentionBlock(x, w, bias, c, headBias, wantProbs);
  return { hidden: tf.reshape(mlpBlock(x1, w, c), [B, T, D]) as tf.Tensor3D, probs };
}

/** `x1 + mlp(layernorm_after(x1))` for token rows `[N, D]` (the residual fused into the MLP). */
function mlpBlock(x1: tf.Tensor2D, w: DeviceLayer, c: ModelConfig): tf.Tensor2D {
  return mlp(layerNormAfter(x1, w, c), w.intermediate, c.hidden_act, w.output, x1);
}

function layerNormAfter(x1: tf.Tensor2D, w: DeviceLayer, c: ModelConfig): tf.Tensor2D {
  return layerNorm(x1, w.layernorm_after.weight, w.layernorm_after.bias, c.layer_norm_eps) as tf.Tensor2D;
}

/** `x + attention(layernorm_before(x))` as `[B*T, D]` (the residual fused into the output projection). */
function attentionBlock(x: tf.Tensor3D, w: DeviceLayer, bias: tf.Tensor4D | undefined, c: ModelConfig,
  headBias: readonly tf.Tensor2D[] | undefined, wantProbs: boolean): { x1: tf.Tensor2D; probs?: tf.Tensor4D } {
  const [B, T, D] = x.shape;
  const h = layerNorm(tf.reshape(x, [B * T, D]), w.layernorm_before.weight, w.layernorm_before.bias, c.layer_norm_eps) as tf.Tensor2D;
  const { context, probs } = w.heads
    ? selfAttentionPerHead(h, w.heads, headBias, B, T)
    : selfAttention(h, w.qkv!, bias, B, T, c.num_attention_heads, wantProbs);
  // Residual connections: x + attention output, then x1 + MLP output (fused into the products'
  // epilogue on the native backend).
  return { x1: linearResidual(context, w.attention_output, tf.reshape(x, [B * T, D]) as tf.Tensor2D), probs };
}

/**
 * The mean over the patch tokens (all but token 0) of the layer's output, `[B, D]`, without the
 * layer's output for each token: the MLP's second product is linear, so it runs once per image on
 * the mean of its inputs, mean(x1 + act(..) W2 + b2) = mean(x1) + mean(act(..)) W2 + b2 (exact
 * algebra; only float32 rounding differs). Saves that product for the whole batch's tokens (1/48 of
 * a 12-layer model's products).
 */
export function layerPatchMean(x: tf.Tensor3D, w: DeviceLayer, bias: tf.Tensor4D | undefined, c: ModelConfig,
  headBias?: readonly tf.Tensor2D[]): tf.Tensor2D {
  const [B, T, D] = x.shape;
  const { x1 } = attentionBlock(x, w, bias, c, headBias, false);
  const act = linearAct(layerNormAfter(x1, w, c), w.intermediate, c.hidden_act); // [B*T, I]
  const I = act.shape[1];
  return linearResidual(patchMean(tf.reshape(act, [B, T, I]) as tf.Tensor3D), w.output, patchMean(tf.reshape(x1, [B, T, D]) as tf.Tensor3D));
}

/**
 * The layer's output for the CLS token only, `[B, D]`: keys and values come from every token, the
 * query, attention row, output projection and MLP only from token 0 (rows are independent after
 * the attention). Saves three quarters of the layer's work.
 */
export function layerCls(x: tf.Tensor3D, w: DeviceLayer, bias: tf.Tensor4D | undefined, c: ModelConfig,
  headBias?: readonly tf.Tensor2D[]): tf.Tensor2D {
  const [B, T, D] = x.shape;
  const H = c.num_attention_heads, hd = D / H;
  const h = layerNorm(tf.reshape(x, [B * T, D]), w.layernorm_before.weight, w.layernorm_before.bias, c.layer_norm_eps) as tf.Tensor2D;
  let q0: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D; // [B, H, 1, hd], [B, H, T, hd] x 2
  if (w.heads) {
    const h0 = clsToken(tf.reshape(h, [B, T, D]) as tf.Tensor3D); // [B, D]
    const perHead = (f: (l: { q: Linear; k: Linear; v: Linear }) => tf.Tensor2D, rows: number) =>
      tf.transpose(tf.reshape(tf.stack(w.heads!.map(f)), [H, B, rows, hd]), [1, 0, 2, 3]) as tf.Tensor4D;
    q0 = perHead((l) => linear(h0, l.q), 1);
    k = perHead((l) => linear(h, l.k), T);
    v = perHead((l) => linear(h, l.v), T);
  } else {
    const qkv = tf.reshape(linear(h, w.qkv!), [B, T, 3, H, hd]);
    const part = (i: number) => tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i, 0, 0], [B, T, 1, H, hd]), [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    q0 = tf.reshape(tf.slice(qkv, [0, 0, 0, 0, 0], [B, 1, 1, H, hd]), [B, H, 1, hd]);
    k = part(1);
    v = part(2);
  }
  let scores = tf.matMul(q0, k, false, true) as tf.Tensor4D; // [B, H, 1, T], scaled via the query
  if (bias) scores = tf.add(scores, tf.slice(bias, [0, 0, 0, 0], [1, H, 1, T]));
  else if (headBias) scores = tf.add(scores, tf.reshape(tf.stack(headBias.map((b) => tf.slice(b, [0, 0], [1, T]))), [1, H, 1, T]));
  const context = tf.reshape(tf.matMul(tf.softmax(scores), v), [B, D]) as tf.Tensor2D; // heads in order
  return mlpBlock(linearResidual(context, w.attention_output, clsToken(x)), w, c);
}

/** Multi-head attention on normalised tokens `h [B*T, D]`; returns context `[B*T, D]` and probabilities. */
function selfAttention(h: tf.Tensor2D, qkvW: Linear, bias: tf.Tensor4D | undefined, B: number, T: number, heads: number,
  wantProbs: boolean): { context: tf.Tensor2D; probs?: tf.Tensor4D } {
  const D = h.shape[1];
  const hd = D / heads;
  if (hasKernel(FUSED_KERNELS.attention)) {
    // One native pass per (image, head) over the [B, T, 3D] projection (lib/node/native-attention.ts).
    const qkv3 = tf.reshape(linear(h, qkvW), [B, T, 3 * D]);
    const [ctx, probs] = tf.engine().runKernel(FUSED_KERNELS.attention, { qkv: qkv3, ...(bias ? { bias } : {}) },
      { heads, returnProbs: wantProbs }) as tf.Tensor[];
    return { context: tf.reshape(ctx!, [B * T, D]) as tf.Tensor2D, probs: probs as tf.Tensor4D | undefined };
  }
  const qkv = tf.transpose(tf.reshape(linear(h, qkvW), [B, T, 3, heads, hd]), [2, 0, 3, 1, 4]); // [3, B, H, T, hd]
  const [q, k, v] = tf.split(qkv, 3, 0).map((t) => tf.reshape(t, [B, heads, T, hd]) as tf.Tensor4D) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  let scores = tf.matMul(q, k, false, true) as tf.Tensor4D; // [B, H, T, T], already scaled via the query
  if (bias) scores = tf.add(scores, bias);
  const probs = tf.softmax(scores) as tf.Tensor4D;
  const ctx = tf.matMul(probs, v); // [B, H, T, hd]
  const context = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [B * T, D]) as tf.Tensor2D; // [B*T, D]
  return { context, probs };
}

/** Same math as {@link selfAttention}, per image and head with 2-D products only. */
function selfAttentionPerHead(h: tf.Tensor2D, heads: NonNullable<DeviceLayer['heads']>, bias: readonly tf.Tensor2D[] | undefined,
  B: number, T: number): { context: tf.Tensor2D; probs: tf.Tensor4D } {
  const contexts: tf.Tensor2D[] = [];
  const probs: tf.Tensor2D[] = [];
  for (let b = 0; b < B; b++) {
    const hb: tf.Tensor2D = B === 1 ? h : tf.slice(h, [b * T, 0], [T, h.shape[1]]); // [T, D]
    const ctx = heads.map((w, i) => {
      const q = linear(hb, w.q), kT = tf.transpose(linear(hb, w.k)) as tf.Tensor2D, v = linear(hb, w.v); // [T, hd], [hd, T], [T, hd]
      let scores = tf.matMul(q, kT); // [T, T], scaled via the query
      if (bias) scores = tf.add(scores, bias[i]!);
      const p = tf.softmax(scores) as tf.Tensor2D;
      probs.push(p);
      return tf.matMul(p, v); // [T, hd]
    });
    contexts.push(tf.concat(ctx, 1) as tf.Tensor2D); // [T, D], heads in order
  }
  const H = heads.length;
  return {
    context: (B === 1 ? contexts[0]! : tf.concat(contexts, 0)) as tf.Tensor2D, // [B*T, D]
    probs: tf.reshape(tf.stack(probs), [B, H, T, T]) as tf.Tensor4D,
  };
}
