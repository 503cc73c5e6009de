/**
 * Host weights -> backend tensors, with the load-time rewrites the forward relies on: PyTorch
 * `[out, in]` linear weights transposed to `[in, out]`; query/key/value concatenated into one product
 * (a missing key bias, as in BEiT, is zeros); 1/sqrt(head_dim) folded into the query; lambda_1 /
 * lambda_2 folded into the output projections; the relative position bias gathered once.
 * Folding is exact algebra and changes float32 rounding only (well inside the parity tolerance).
 */
import * as tf from '@tensorflow/tfjs-core';
import { patchGrid, type ModelConfig } from '../checkpoint/config.js';
import type { HostTensor } from '../io/safetensors.js';
import type { LayerWeights, ModelWeights } from '../checkpoint/weights.js';
import type { EmbeddingWeights } from './embeddings.js';
import type { DeviceLayer } from './layer.js';
import { makeLinear, makeLinearOutIn, type Linear } from './ops.js';
import { gatherRelativeBias, relativePositionIndex } from './relative-bias.js';

/** Every device tensor of a loaded model. */
export interface DeviceWeights {
  readonly embeddings: EmbeddingWeights;
  readonly layers: readonly DeviceLayer[];
  /** Relative position bias per layer `[1, heads, T, T]` (the shared one repeated, or per-layer ones). */
  readonly relativeBias: readonly (tf.Tensor4D | undefined)[];
  /** The same bias per layer and head, `[T, T]` each, for `per-head` attention. */
  readonly relativeBiasHeads?: readonly (readonly tf.Tensor2D[] | undefined)[];
  readonly layernorm?: { weight: tf.Tensor1D; bias: tf.Tensor1D };
  readonly pooler_layernorm?: { weight: tf.Tensor1D; bias: tf.Tensor1D };
  readonly pooler_dense?: Linear;
  readonly classifier?: Linear;
}

const f32 = (t: HostTensor): Float32Array => t.data as Float32Array;

/** Side of the square tiles {@link transposeScaled} copies: a tile's rows of both arrays stay in L1. */
const TILE = 32;

/**
 * `[out, in]` weight (optionally scaled per output row) -> `[in, out]` Float32Array. Copied in 32×32
 * tiles: a plain loop writes one column of the destination per source row, a cache miss per element,
 * and took ~400 ms of a base model's ~570 ms load.
 */
function transposeScaled(w: HostTensor, rowScale?: Float32Array | number): Float32Array {
  const [out, inp] = w.shape as [number, number];
  const src = f32(w), dst = new Float32Array(out * inp);
  for (let o0 = 0; o0 < out; o0 += TILE) {
    const o1 = Math.min(o0 + TILE, out);
    for (let i0 = 0; i0 < inp; i0 += TILE) {
      const i1 = Math.min(i0 + TILE, inp);
      for (let o = o0; o < o1; o++) {
        const s = rowScale === undefined ? 1 : typeof rowScale === 'number' ? rowScale : rowScale[o]!;
        for (let i = i0, si = o * inp + i0, di = i0 * out + o; i < i1; i++, si++, di += out) dst[di] = src[si]! * s;
      }
    }
  }
  return dst;
}

function scaled(v: Float32Array, s?: Float32Array | number): Float32Array {
  if (s === undefined) return v;
  return v.map((x, i) => x * (typeof s === 'number' ? s : s[i]!));
}

function dense(w: { weight: HostTensor; bias?: HostTensor }, rowScale?: Float32Array): Linear {
  const inp = w.weight.shape[1]!;
  return makeLinearOutIn([f32(w.weight)], inp, () => transposeScaled(w.weight, rowScale),
    w.bias ? tf.tensor1d(scaled(f32(w.bias), rowScale)) : undefined, rowScale && Float64Array.from(rowScale));
}

function norm(n: { weight: HostTensor; bias: HostTensor }) {
  return { weight: tf.tensor1d(f32(n.weight)), bias: tf.tensor1d(f32(n.bias)) };
}

/** Host q/k/v as `[D, D]` ([in, out]) arrays with biases, the query pre-scaled by 1/sqrt(head_dim). */
function hostQkv(l: LayerWeights, c: ModelConfig) {
  const D = c.hidden_size;
  const scale = 1 / Math.sqrt(D / c.num_attention_heads);
  const bias = (t: HostTensor | undefined, s?: number) => (t ? scaled(f32(t), s) : undefined);
  return [
    { w: transposeScaled(l.query.weight, scale), b: bias(l.query.bias, scale) },
    { w: transposeScaled(l.key.weight), b: bias(l.key.bias) },
    { w: transposeScaled(l.value.weight), b: bias(l.value.bias) },
  ];
}

function fusedQkv(l: LayerWeights, c: ModelConfig): Linear {
  const D = c.hidden_size;
  const scale = 1 / Math.sqrt(D / c.num_attention_heads);
  const biases = [l.query.bias && scaled(f32(l.query.bias), scale), l.key.bias && f32(l.key.bias), l.value.bias && f32(l.value.bias)];
  let b: tf.Tensor1D | undefined;
  if (biases.some((x) => x)) {
    const bias = new Float32Array(3 * D); // BEiT has no key bias: zeros
    biases.forEach((x, j) => { if (x) bias.set(x, j * D); });
    b = tf.tensor1d(bias);
  }
  // [3D, D] in the checkpoint's [out, in] layout: the query's rows (scaled while packed), the key's, the value's.
  const rowScale = new Float64Array(3 * D).fill(1, D);
  rowScale.fill(scale, 0, D);
  return makeLinearOutIn([f32(l.query.weight), f32(l.key.weight), f32(l.value.weight)], D, () => {
    const parts = hostQkv(l, c);
    const w = new Float32Array(D * 3 * D);
    for (let i = 0; i < D; i++) parts.forEach((p, j) => w.set(p.w.subarray(i * D, (i + 1) * D), i * 3 * D + j * D));
    return w;
  }, b, rowScale);
}

/** q/k/v split per head: `[D, head_dim]` weights (columns of the head) and `[head_dim]` biases. */
function perHeadQkv(l: LayerWeights, c: ModelConfig): NonNullable<DeviceLayer['heads']> {
  const D = c.hidden_size, H = c.num_attention_heads, hd = D / H;
  const parts = hostQkv(l, c);
  return Array.from({ length: H }, (_, h) => {
    const [q, k, v] = parts.map((p): Linear => {
      const w = new Float32Array(D * hd);
      for (let i = 0; i < D; i++) w.set(p.w.subarray(i * D + h * hd, i * D + (h + 1) * hd), i * hd);
      return makeLinear(tf.tensor2d(w, [D, hd]), p.b ? tf.tensor1d(p.b.slice(h * hd, (h + 1) * hd)) : undefined);
    }) as [Linear, Linear, Linear];
    return { q, k, v };
  });
}

/** Creates the device tensors; the caller owns them (see {@link disposeDeviceWeights}). */
export function toDevice(w: ModelWeights, c: ModelConfig, perHead = false): DeviceWeights {
  const D = c.hidden_size, H = c.num_attention_heads;
  const [gh, gw] = patchGrid(c);
  const T = gh * gw + 1;
  const index = relativePositionIndex(gh, gw);
  const bias = (table?: HostTensor) => table
    ? tf.tensor4d(gatherRelativeBias(f32(table), H, index, T), [1, H, T, T]) : undefined;
  const shared = perHead ? undefined : bias(w.shared_relative_position_bias_table);
  // per-head: [T, T] per head, own + shared summed on the host (no device slicing)
  const headBias = (own?: HostTensor, sh?: HostTensor): tf.Tensor2D[] | undefined => {
    if (!own && !sh) return undefined;
    const a = own ? gatherRelativeBias(f32(own), H, index, T) : undefined;
    const b = sh ? gatherRelativeBias(f32(sh), H, index, T) : undefined;
    return Array.from({ length: H }, (_, h) => {
      const out = new Float32Array(T * T);
      for (let p = 0; p < T * T; p++) out[p] = (a ? a[h * T * T + p]! : 0) + (b ? b[h * T * T + p]! : 0);
      return tf.tensor2d(out, [T, T]);
    });
  };
  const [out, ...k] = w.patch_projection.weight.shape as number[];
  const kdim = k.reduce((a, b) => a * b, 1);
  return {
    embeddings: {
      projection: makeLinearOutIn([f32(w.patch_projection.weight)], kdim,
        () => transposeScaled({ ...w.patch_projection.weight, shape: [out!, kdim] }), tf.tensor1d(f32(w.patch_projection.bias))),
      cls_token: tf.tensor3d(f32(w.cls_token), [1, 1, D]),
      position_embeddings: w.position_embeddings ? tf.tensor3d(f32(w.position_embeddings), [1, T, D]) : undefined,
    },
    layers: w.layers.map((l) => ({
      layernorm_before: norm(l.layernorm_before),
      ...(perHead ? { heads: perHeadQkv(l, c) } : { qkv: fusedQkv(l, c) }),
      attention_output: dense(l.output_dense, l.lambda_1 ? f32(l.lambda_1) : undefined),
      layernorm_after: norm(l.layernorm_after),
      intermediate: dense(l.intermediate_dense),
      output: dense(l.output_dense_2, l.lambda_2 ? f32(l.lambda_2) : undefined),
    })),
    // Per-layer and shared bias are added together when a config enables both (HF adds both).
    relativeBias: perHead ? w.layers.map(() => undefined) : w.layers.map((l) => {
      const own = bias(l.relative_position_bias_table);
      if (own && shared) {
        const sum = tf.add(own, shared) as tf.Tensor4D;
        own.dispose();
        return sum;
      }
      return own ?? shared;
    }),
    relativeBiasHeads: perHead ? w.layers.map((l) => headBias(l.relative_position_bias_table, w.shared_relative_position_bias_table)) : undefined,
    layernorm: w.layernorm ? norm(w.layernorm) : undefined,
    pooler_layernorm: w.pooler_layernorm ? norm(w.pooler_layernorm) : undefined,
    pooler_dense: w.pooler_dense ? dense(w.pooler_dense) : undefined,
    classifier: w.classifier ? dense(w.classifier) : undefined,
  };
}

/** Disposes every tensor of a {@link DeviceWeights} (the shared bias once). */
export function disposeDeviceWeights(d: DeviceWeights): void {
  const seen = new Set<tf.Tensor>();
  const visit = (v: unknown): void => {
    if (v instanceof tf.Tensor) {
      if (!seen.has(v)) { seen.add(v); v.dispose(); }
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  visit(d);
}
