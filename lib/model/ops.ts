/**
 * Small tensor helpers shared by the model stages: LayerNorm (HF `nn.LayerNorm`, biased variance),
 * the activations of HF's ACT2FN, and linear layers. Where the active backend registers this
 * project's fused kernels (the Node `native` backend: `BeitLayerNorm`, `BeitPackWeights`,
 * `BeitPackedMatMul` with a GELU epilogue, `BeitMlp`), they are used; every other backend runs the same math
 * composed from standard tfjs ops. The kernels are looked up by name, so this module stays
 * backend-neutral (and browser-safe).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from '../checkpoint/config.js';

/** Names of the optional fused kernels (see lib/node/native-*.ts). */
export const FUSED_KERNELS = {
  layerNorm: 'BeitLayerNorm',
  packWeights: 'BeitPackWeights',
  packedMatMul: 'BeitPackedMatMul',
  mlp: 'BeitMlp',
  attention: 'BeitAttention',
  layer: 'BeitLayer',
} as const;

/** Whether the active backend implements kernel `name`. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  if (hasKernel(FUSED_KERNELS.layerNorm)) {
    return tf.engine().runKernel(FUSED_KERNELS.layerNorm, { x, gamma: weight, beta: bias }, { epsilon: eps }) as tf.Tensor;
  }
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

/** Applies an activation (`hidden_act`, `pooler_act`) exactly as HF's ACT2FN defines it. */
export function activation(x: tf.Tensor, act: Activation): tf.Tensor {
  return tf.tidy(() => {
    switch (act) {
      case 'gelu':
      case 'gelu_python': // exact: 0.5 x (1 + erf(x / sqrt 2))
        return gelu(x);
      case 'gelu_10': // exact GELU clipped to [-10, 10]
        return tf.clipByValue(gelu(x), -10, 10);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_python_tanh':
      case 'gelu_accurate': { // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
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
      case 'relu2': // relu(x)^2
        return tf.square(tf.relu(x));
      case 'relu6':
        return tf.relu6(x);
      case 'leaky_relu': // torch.nn.LeakyReLU's default slope
        return tf.leakyRelu(x, 0.01);
      case 'silu':
      case 'swish': // x * sigmoid(x)
        return tf.mul(x, tf.sigmoid(x));
      case 'mish': // x * tanh(softplus(x))
        return tf.mul(x, tf.tanh(tf.softplus(x)));
      case 'hardswish': // x * relu6(x + 3) / 6
        return tf.div(tf.mul(x, tf.relu6(tf.add(x, 3))), 6);
      case 'sigmoid':
        return tf.sigmoid(x);
      case 'tanh':
        return tf.tanh(x);
      case 'laplace': // 0.5 (1 + erf((x - mu) / (sigma sqrt 2))), mu = 0.707107, sigma = 0.282095 (MEGA)
        return tf.mul(tf.add(tf.erf(tf.div(tf.sub(x, 0.707107), 0.282095 * Math.SQRT2)), 1), 0.5);
      case 'sqrtsoftplus':
        return tf.sqrt(tf.softplus(x));
      case 'linear':
        return x;
    }
  });
}

/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1));
}

/**
 * Activations the packed product's epilogue computes natively. gelu_fast is gelu_new rewritten
 * (sqrt(2/pi) = 0.7978845608...), so it maps to the same tanh form.
 */
export const EPILOGUE: Partial<Record<Activation, string>> = {
  gelu: 'gelu', gelu_python: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_python_tanh: 'gelu_tanh',
  gelu_accurate: 'gelu_tanh', gelu_fast: 'gelu_tanh', relu: 'relu',
};

/**
 * A linear layer. `w` is `[in, out]` (transposed from PyTorch's `[out, in]` at load), or, when
 * `packed`, the backend's pre-packed panels of that matrix.
 */
export interface Linear {
  readonly w: tf.Tensor;
  readonly b?: tf.Tensor1D;
  /** Output features. */
  readonly n: number;
  readonly packed?: boolean;
}

/**
 * A linear layer from PyTorch-layout `[out, in]` weights: `rows`, one or several blocks stacked along out
 * (fused QKV), each row multiplied by `rowScale` (query scale, layer scale). Where weights are packed
 * (native), they are packed straight from that layout with the scale applied while packing, with no
 * transposed or scaled copy; elsewhere `transpose` gives the scaled `[in, out]` matrix. Both hold the
 * same values, so the products are the same.
 */
export function makeLinearOutIn(rows: readonly Float32Array[], inp: number, transpose: () => Float32Array, b?: tf.Tensor1D,
  rowScale?: Float64Array): Linear {
  const out = rows.reduce((n, r) => n + r.length / inp, 0);
  if (!hasKernel(FUSED_KERNELS.packWeights)) return makeLinear(tf.tensor2d(transpose(), [inp, out]), b);
  const parts = rows.map((r) => tf.tensor2d(r, [r.length / inp, inp]));
  try {
    const inputs: Record<string, tf.Tensor> = { b: parts[0]! };
    parts.slice(1).forEach((t, i) => { inputs[`b${i + 1}`] = t; });
    const packed = tf.engine().runKernel(FUSED_KERNELS.packWeights, inputs, { transposeB: true, ...(rowScale ? { scale: rowScale } : {}) }) as tf.Tensor;
    return { w: packed, b, n: out, packed: true };
  } finally {
    parts.forEach((t) => t.dispose());
  }
}

/** Makes a Linear from `[in, out]` weights, packing them once when the backend can. Takes ownership of `w`. */
export function makeLinear(w: tf.Tensor2D, b?: tf.Tensor1D): Linear {
  if (!hasKernel(FUSED_KERNELS.packWeights)) return { w, b, n: w.shape[1] };
  const packed = tf.engine().runKernel(FUSED_KERNELS.packWeights, { b: w }, {}) as tf.Tensor;
  const n = w.shape[1];
  w.dispose();
  return { w: packed, b, n, packed: true };
}

/** `x [M, in] @ w + b`, with the bias fused into the product. */
export function linear(x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  if (l.packed) {
    return tf.engine().runKernel(FUSED_KERNELS.packedMatMul, { a: x, b: l.w, ...(l.b ? { bias: l.b } : {}) }, { n: l.n }) as tf.Tensor2D;
  }
  return tf.fused.matMul({ a: x, b: l.w as tf.Tensor2D, bias: l.b }) as tf.Tensor2D;
}

/**
 * `residual + (x [M, in] @ w + b)`: on the native backend (packed weights) the residual is added in
 * the product's epilogue, saving a separate Add pass; `residual` must have the output's shape `[M, out]`.
 */
export function linearResidual(x: tf.Tensor2D, l: Linear, residual: tf.Tensor2D): tf.Tensor2D {
  if (l.packed) {
    return tf.engine().runKernel(FUSED_KERNELS.packedMatMul,
      { a: x, b: l.w, residual, ...(l.b ? { bias: l.b } : {}) }, { n: l.n }) as tf.Tensor2D;
  }
  return tf.tidy(() => tf.add(residual, linear(x, l)) as tf.Tensor2D);
}

/** `act(x @ w + b)`: the activation runs in the product's epilogue when the backend supports it. */
export function linearAct(x: tf.Tensor2D, l: Linear, act: Activation): tf.Tensor2D {
  const fused = EPILOGUE[act];
  if (l.packed && fused) {
    return tf.engine().runKernel(FUSED_KERNELS.packedMatMul, { a: x, b: l.w, ...(l.b ? { bias: l.b } : {}) },
      { n: l.n, activation: fused }) as tf.Tensor2D;
  }
  return tf.tidy(() => activation(linear(x, l), act) as tf.Tensor2D);
}

/**
 * The MLP of a layer with its residual: `residual + act(x @ fc1 + b1) @ fc2 + b2`. One kernel where
 * the backend has it (its intermediate never becomes a tensor), otherwise the two products above.
 */
export function mlp(x: tf.Tensor2D, fc1: Linear, act: Activation, fc2: Linear, residual: tf.Tensor2D): tf.Tensor2D {
  const fused = EPILOGUE[act];
  if (fc1.packed && fc2.packed && fused && hasKernel(FUSED_KERNELS.mlp)) {
    return tf.engine().runKernel(FUSED_KERNELS.mlp, {
      a: x, w1: fc1.w, w2: fc2.w, residual, ...(fc1.b ? { bias1: fc1.b } : {}), ...(fc2.b ? { bias2: fc2.b } : {}),
    }, { n1: fc1.n, n2: fc2.n, activation: fused }) as tf.Tensor2D;
  }
  return tf.tidy(() => linearResidual(linearAct(x, fc1, act), fc2, residual));
}
