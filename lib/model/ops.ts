/**
 * Small tensor helpers shared by the model stages: LayerNorm (HF `nn.LayerNorm`, biased variance),
 * the activations of HF's ACT2FN, and a 2-D linear layer on pre-transposed `[in, out]` weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HiddenAct } from '../checkpoint/config.js';

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true);
    const inv = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
    return tf.add(tf.mul(tf.mul(centered, inv), weight), bias);
  });
}

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Applies a hidden activation exactly as HF's ACT2FN defines it. */
export function activation(x: tf.Tensor, act: HiddenAct): tf.Tensor {
  return tf.tidy(() => {
    switch (act) {
      case 'gelu': // exact: 0.5 x (1 + erf(x / sqrt 2))
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1));
      case 'gelu_new':
      case 'gelu_pytorch_tanh': { // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
      }
      case 'gelu_fast': { // 0.5 x (1 + tanh(x * 0.7978845608 * (1 + 0.044715 x^2)))
        const inner = tf.mul(tf.mul(x, 0.7978845608), tf.add(tf.mul(tf.square(x), 0.044715), 1));
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
      }
      case 'quick_gelu': // x * sigmoid(1.702 x)
        return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
      case 'relu':
        return tf.relu(x);
    }
  });
}

/** A linear layer with weight stored as `[in, out]` (transposed from PyTorch's `[out, in]` at load). */
export interface Linear {
  readonly w: tf.Tensor2D;
  readonly b?: tf.Tensor1D;
}

/** `x [M, in] @ w [in, out] + b`, with the bias fused into the product where the backend can. */
export function linear(x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: l.w, bias: l.b }) as tf.Tensor2D;
}
