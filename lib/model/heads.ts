/**
 * Final normalisation, pooling and classifier (HF `BeitModel.layernorm`, `BeitPooler`,
 * `ViTPooler`, `*ForImageClassification.classifier`).
 *  - BEiT family, `use_mean_pooling`: no final LayerNorm; pooled = pooler.layernorm(mean of patch tokens).
 *  - BEiT family, CLS pooling: final `layernorm`, pooled = token 0.
 *  - ViT: final `layernorm`; the classifier reads token 0; a head-less ViTModel with `pooler.dense`
 *    pools with tanh(dense(token 0)).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../checkpoint/config.js';
import type { DeviceWeights } from './weights-device.js';
import { layerNorm, linear } from './ops.js';

/** Encoder output `[B, T, D]` -> `last_hidden_state` `[B, T, D]`. */
export function finalNorm(x: tf.Tensor3D, w: DeviceWeights, c: ModelConfig): tf.Tensor3D {
  return w.layernorm ? layerNorm(x, w.layernorm.weight, w.layernorm.bias, c.layer_norm_eps) as tf.Tensor3D : x;
}

/** `last_hidden_state` -> the pooled output `[B, D]`, or undefined when the checkpoint has no pooler. */
export function pool(last: tf.Tensor3D, w: DeviceWeights, c: ModelConfig): tf.Tensor2D | undefined {
  const [B, T, D] = last.shape;
  const cls = () => tf.reshape(tf.slice(last, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
  if (c.model_type === 'vit') {
    return w.pooler_dense ? tf.tanh(linear(cls(), w.pooler_dense)) : undefined;
  }
  if (!c.use_mean_pooling) return cls();
  if (!w.pooler_layernorm) return undefined;
  const mean = tf.mean(tf.slice(last, [0, 1, 0], [B, T - 1, D]), 1) as tf.Tensor2D;
  return layerNorm(mean, w.pooler_layernorm.weight, w.pooler_layernorm.bias, c.layer_norm_eps) as tf.Tensor2D;
}

/** The classifier's input: the pooled output (BEiT family) or the CLS token (ViT). */
export function classifierInput(last: tf.Tensor3D, pooled: tf.Tensor2D | undefined, c: ModelConfig): tf.Tensor2D | undefined {
  if (c.model_type !== 'vit') return pooled;
  const [B, , D] = last.shape;
  return tf.reshape(tf.slice(last, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
}
