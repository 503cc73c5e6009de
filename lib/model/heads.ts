/**
 * Final normalisation, pooling and classifier (HF `BeitModel.layernorm`, `BeitPooler`,
 * `ViTPooler`, `*ForImageClassification.classifier`).
 *  - BEiT family, `use_mean_pooling`: no final LayerNorm; pooled = pooler.layernorm(mean of patch tokens).
 *  - BEiT family, CLS pooling: final `layernorm`, pooled = token 0.
 *  - ViT: final `layernorm`; the classifier reads token 0; a head-less ViTModel with `pooler.dense`
 *    pools with pooler_act(dense(token 0)) (tanh unless the config says otherwise).
 * Pooled output and logits depend on the last layer's output only through the mean of its patch
 * tokens or through its CLS token ({@link headInput}); the logits forward uses that to run the last
 * layer on just what it needs (see model.ts, `forwardPooled`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../checkpoint/config.js';
import type { DeviceWeights } from './weights-device.js';
import { activation, layerNorm, linear } from './ops.js';

/** Encoder output `[B, T, D]` (or some of its tokens, `[..., D]`) -> `last_hidden_state` of the same shape. */
export function finalNorm<T extends tf.Tensor>(x: T, w: DeviceWeights, c: ModelConfig): T {
  return w.layernorm ? layerNorm(x, w.layernorm.weight, w.layernorm.bias, c.layer_norm_eps) as T : x;
}

/**
 * What of `last_hidden_state` the pooled output and the classifier read: the mean of the patch
 * tokens (BEiT family with mean pooling), the CLS token, or nothing (a mean-pooling checkpoint
 * without pooler: neither pooled output nor logits).
 */
export function headInput(w: DeviceWeights, c: ModelConfig): 'patch-mean' | 'cls' | undefined {
  if (c.model_type === 'vit' || !c.use_mean_pooling) return 'cls';
  return w.pooler_layernorm ? 'patch-mean' : undefined;
}

/** Whether the model has a pooled output: mean pooling with its LayerNorm, BEiT CLS pooling, or ViT's dense pooler. */
export function hasPooler(w: DeviceWeights, c: ModelConfig): boolean {
  const kind = headInput(w, c);
  return kind === 'patch-mean' || (kind === 'cls' && (c.model_type !== 'vit' || w.pooler_dense !== undefined));
}

/** Mean over the patch tokens (all but token 0) of `[B, T, D]` -> `[B, D]`. */
export function patchMean(x: tf.Tensor3D): tf.Tensor2D {
  const [B, T, D] = x.shape;
  return tf.mean(tf.slice(x, [0, 1, 0], [B, T - 1, D]), 1) as tf.Tensor2D;
}

/** Token 0 of `[B, T, D]` -> `[B, D]`. */
export function clsToken(x: tf.Tensor3D): tf.Tensor2D {
  const [B, , D] = x.shape;
  return tf.reshape(tf.slice(x, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
}

/**
 * Pooled output and classifier input from what the head reads ({@link headInput}): the patch-token
 * mean of the encoder output, or its CLS token after the final LayerNorm.
 */
export function headFrom(kind: 'patch-mean' | 'cls', v: tf.Tensor2D, w: DeviceWeights, c: ModelConfig):
  { pooled?: tf.Tensor2D; head?: tf.Tensor2D } {
  if (kind === 'patch-mean') {
    const pooled = layerNorm(v, w.pooler_layernorm!.weight, w.pooler_layernorm!.bias, c.layer_norm_eps) as tf.Tensor2D;
    return { pooled, head: pooled };
  }
  if (c.model_type === 'vit') {
    const pooled = w.pooler_dense ? tf.tidy(() => activation(linear(v, w.pooler_dense!), c.pooler_act) as tf.Tensor2D) : undefined;
    return { pooled, head: v };
  }
  return { pooled: v, head: v };
}

/** `last_hidden_state` -> pooled output and classifier input (either may be undefined). */
export function pool(last: tf.Tensor3D, w: DeviceWeights, c: ModelConfig): { pooled?: tf.Tensor2D; head?: tf.Tensor2D } {
  const kind = headInput(w, c);
  if (kind === undefined) return {};
  return headFrom(kind, kind === 'cls' ? clsToken(last) : patchMean(last), w, c);
}
