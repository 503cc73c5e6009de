/**
 * Patch embedding (HF `BeitEmbeddings` / `ViTEmbeddings`): a conv with stride = kernel = patch size,
 * computed here as patch extraction + one matrix product (the same arithmetic, and it runs on the
 * backends' fast matmul instead of a naive conv), then the CLS token and absolute positions.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../checkpoint/config.js';
import { linear, type Linear } from './ops.js';

/** Device weights of the embeddings. */
export interface EmbeddingWeights {
  /** `patch_embeddings.projection` reshaped to `[C*ph*pw, D]`. */
  readonly projection: Linear;
  readonly cls_token: tf.Tensor3D; // [1, 1, D]
  readonly position_embeddings?: tf.Tensor3D; // [1, T, D]
}

/** `pixel_values [B, C, H, W]` -> embeddings `[B, T, D]` (T = patches + 1). */
export function embed(pixels: tf.Tensor4D, w: EmbeddingWeights, c: ModelConfig): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, C, H, W] = pixels.shape;
    const [ph, pw] = c.patch_size;
    const gh = Math.floor(H / ph), gw = Math.floor(W / pw), N = gh * gw, D = c.hidden_size;
    // Pixels past the last whole patch do not reach the output (the conv's stride = kernel).
    const whole = gh * ph === H && gw * pw === W ? pixels : tf.slice(pixels, [0, 0, 0, 0], [B, C, gh * ph, gw * pw]);
    // [B*C*gh, ph, gw, pw] -> [B*C*gh, gw, ph, pw]: one patch row's pixels become contiguous
    const rows = tf.transpose(tf.reshape(whole, [B * C * gh, ph, gw, pw]), [0, 2, 1, 3]);
    // [B, C, N, ph*pw] -> [B, N, C, ph*pw] -> [B*N, C*ph*pw], the flattening order of the conv weight
    const patches = tf.reshape(tf.transpose(tf.reshape(rows, [B, C, N, ph * pw]), [0, 2, 1, 3]), [B * N, C * ph * pw]) as tf.Tensor2D;
    const tokens = tf.reshape(linear(patches, w.projection), [B, N, D]);
    const cls = tf.broadcastTo(w.cls_token, [B, 1, D]);
    const x = tf.concat([cls, tokens], 1) as tf.Tensor3D; // [B, T, D]
    return w.position_embeddings ? tf.add(x, w.position_embeddings) : x;
  });
}
