/**
 * The model: owns its device weights and runs the forward of BEiT / Data2Vec-Vision / ViT
 * (one implementation; the families differ only in config flags). Every call runs inside
 * `tf.tidy`; only the returned tensors escape, and the caller disposes them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defaultScoreFunction, type ScoreFunction } from '../pipeline/predictions.js';
import { patchGrid, type ModelConfig } from '../checkpoint/config.js';
import type { ModelWeights } from '../checkpoint/weights.js';
import { embed } from './embeddings.js';
import { layerCls, layerForward, layerPatchMean, type AttentionImpl } from './layer.js';
import { finalNorm, hasPooler, headFrom, headInput, pool } from './heads.js';
import { disposeDeviceWeights, toDevice, type DeviceWeights } from './weights-device.js';
import { linear } from './ops.js';

/** Thrown for pixel input of the wrong shape or type. */
export class InputError extends Error {
  override name = 'InputError';
}

/** Options of {@link BeitModel.forward}. */
export interface ForwardOptions {
  /** Also return every hidden state: the embeddings output first, then each layer's output. */
  readonly outputHiddenStates?: boolean;
  /** Also return every layer's attention probabilities `[batch, heads, tokens, tokens]`. */
  readonly outputAttentions?: boolean;
}

/** Outputs of {@link BeitModel.forward}; names follow HF's `ModelOutput` fields. The caller disposes them. */
export interface ForwardOutput {
  /** `[batch, numLabels]`, when the checkpoint has a classifier. */
  logits?: tf.Tensor2D;
  /** `[batch, hidden]`, when the model has a pooler (see the README on pooling). */
  pooledOutput?: tf.Tensor2D;
  /** `[batch, tokens, hidden]` after the final LayerNorm (when the model has one). */
  lastHiddenState: tf.Tensor3D;
  /** `num_hidden_layers + 1` tensors `[batch, tokens, hidden]`, when requested. */
  hiddenStates?: tf.Tensor3D[];
  /** `num_hidden_layers` tensors `[batch, heads, tokens, tokens]`, when requested. */
  attentions?: tf.Tensor4D[];
}

/** Outputs of {@link BeitModel.forwardPooled}. The caller disposes them. */
export interface PooledForwardOutput {
  /** `[batch, numLabels]`, when the checkpoint has a classifier. */
  logits?: tf.Tensor2D;
  /** `[batch, hidden]`, when the model has a pooler (see {@link BeitModel.hasPooledOutput}). */
  pooledOutput?: tf.Tensor2D;
}

/** Pixel input: an NCHW float32 tensor, or a Float32Array with its NCHW shape. */
export type PixelInput = tf.Tensor4D | { data: Float32Array; shape: readonly [number, number, number, number] };

/** A loaded BEiT / Data2Vec-Vision / ViT model. Create with `loadModel`. */
export class BeitModel {
  /** The validated config. */
  readonly config: ModelConfig;
  /** Class index -> label (`LABEL_<i>` for classes the config does not name). */
  readonly id2label: Readonly<Record<number, string>>;
  /** Number of classes of the classifier, 0 for head-less checkpoints. */
  readonly numLabels: number;
  private weights: DeviceWeights | undefined;
  /**
   * The tfjs backend the model was created on: its weights live there and its fused kernels (native) are
   * registered only there. Each call makes it the active backend again, so models loaded on different
   * backends in one process each run on their own.
   */
  readonly backendName: string;
  /** Attention product layout for the backend the model was created on (see layer.ts). */
  private readonly attentionImpl: AttentionImpl;

  /** Creates the device tensors from mapped host weights; prefer `loadModel`. */
  constructor(config: ModelConfig, weights: ModelWeights) {
    this.config = config;
    this.backendName = tf.getBackend();
    this.attentionImpl = this.backendName === 'wasm' ? 'per-head' : 'batched';
    this.weights = toDevice(weights, config, this.attentionImpl === 'per-head');
    this.numLabels = weights.classifier ? weights.classifier.weight.shape[0]! : 0;
    const labels: Record<number, string> = {};
    for (let i = 0; i < this.numLabels; i++) labels[i] = config.id2label[i] ?? `LABEL_${i}`;
    this.id2label = Object.freeze(labels);
  }

  /**
   * How `classify` scores classes unless told otherwise: `sigmoid` for a `multi_label_classification`
   * checkpoint or a single-class head, else `softmax` (transformers' image-classification pipeline).
   */
  get scoreFunction(): ScoreFunction {
    return defaultScoreFunction(this.config.problem_type, this.numLabels);
  }

  /** Whether the checkpoint has a classification head. */
  get hasHead(): boolean {
    return this.numLabels > 0;
  }

  /** Number of tokens (patches + CLS). */
  get numTokens(): number {
    const [gh, gw] = patchGrid(this.config);
    return gh * gw + 1;
  }

  /**
   * Runs the model on `pixelValues` (NCHW float32, batch >= 1, the config's channels and image size).
   * Returns new tensors owned by the caller (dispose them, e.g. with {@link disposeOutput}).
   */
  forward(pixelValues: PixelInput, options: ForwardOptions = {}): ForwardOutput {
    const w = this.live();
    return tf.tidy(() => {
      const pixels = this.toPixels(pixelValues);
      const hiddenStates: tf.Tensor3D[] = [];
      const attentions: tf.Tensor4D[] = [];
      let x = embed(pixels, w.embeddings, this.config);
      if (options.outputHiddenStates) hiddenStates.push(x);
      x = this.encode(w, x, w.layers.length, options, hiddenStates, attentions);
      const lastHiddenState = finalNorm(x, w, this.config);
      const out: ForwardOutput = { lastHiddenState, ...headOutputs(w, pool(lastHiddenState, w, this.config)) };
      if (options.outputHiddenStates) out.hiddenStates = hiddenStates;
      if (options.outputAttentions) out.attentions = attentions;
      return out as unknown as tf.TensorContainerObject;
    }) as unknown as ForwardOutput;
  }

  /** Whether {@link forward} and {@link forwardPooled} return `pooledOutput` (see the README on pooling). */
  get hasPooledOutput(): boolean {
    return hasPooler(this.live(), this.config);
  }

  /**
   * Width of `pooledOutput` and of the embeddings `embed` returns (the pooled output, or the patch-token
   * mean without one): `pooler_output_size` for a ViT with a dense pooler, else `hidden_size`.
   */
  get embeddingSize(): number {
    const w = this.live();
    return this.config.model_type === 'vit' && w.pooler_dense ? this.config.pooler_output_size : this.config.hidden_size;
  }

  /**
   * What {@link forwardPooled} computes of the last layer: `patch-mean` (its patch tokens' mean: the
   * MLP's second product runs once per image), `cls` (the CLS token only, after the QKV product) or
   * `none` (everything: models whose head reads neither).
   */
  get lastLayerPruning(): 'patch-mean' | 'cls' | 'none' {
    const w = this.live();
    const kind = headInput(w, this.config);
    if (kind === undefined || w.layers.length === 0 || (kind === 'patch-mean' && w.layernorm)) return 'none';
    return kind;
  }

  /**
   * Logits and pooled output only, as {@link forward} returns them (what `classify` and `embed`
   * need), for less work: those read the last layer's output only through the mean of its patch
   * tokens (mean pooling) or its CLS token, so the last layer computes just that (layer.ts:
   * `layerPatchMean`, `layerCls`). Same math as {@link forward}; float32 rounding differs (sums
   * in another order), well inside the parity tolerance.
   */
  forwardPooled(pixelValues: PixelInput): PooledForwardOutput {
    const w = this.live();
    const kind = this.lastLayerPruning;
    if (kind === 'none') {
      const out = this.forward(pixelValues);
      const { logits, pooledOutput } = out;
      disposeOutput({ ...out, logits: undefined, pooledOutput: undefined });
      return { ...(logits ? { logits } : {}), ...(pooledOutput ? { pooledOutput } : {}) };
    }
    return tf.tidy(() => {
      const L = w.layers.length;
      const x = this.encode(w, embed(this.toPixels(pixelValues), w.embeddings, this.config), L - 1, {});
      const last = w.layers[L - 1]!, bias = w.relativeBias[L - 1], headBias = w.relativeBiasHeads?.[L - 1];
      const v = kind === 'patch-mean'
        ? layerPatchMean(x, last, bias, this.config, headBias)
        : finalNorm(layerCls(x, last, bias, this.config, headBias), w, this.config);
      return headOutputs(w, headFrom(kind, v, w, this.config)) as unknown as tf.TensorContainerObject;
    }) as unknown as PooledForwardOutput;
  }

  /** Logits only (`[batch, numLabels]`); throws for head-less checkpoints. */
  predict(pixelValues: PixelInput): tf.Tensor2D {
    if (!this.hasHead) throw new InputError('this checkpoint has no classification head (a *Model checkpoint): use forward() or embed().');
    const { logits, pooledOutput } = this.forwardPooled(pixelValues);
    pooledOutput?.dispose();
    return logits!;
  }

  /** Frees every tensor the model owns. The model cannot be used afterwards. */
  dispose(): void {
    if (this.weights) disposeDeviceWeights(this.weights);
    this.weights = undefined;
  }

  /**
   * Runs layers [0, end) on `x` (which it disposes unless kept as a hidden state), collecting hidden
   * states and attention probabilities when `options` asks. One tidy per layer: a layer's
   * intermediates are freed before the next layer runs, so peak memory is one layer's activations.
   */
  private encode(w: DeviceWeights, x: tf.Tensor3D, end: number, options: ForwardOptions,
    hiddenStates: tf.Tensor3D[] = [], attentions: tf.Tensor4D[] = []): tf.Tensor3D {
    for (let i = 0; i < end; i++) {
      const { hidden, probs } = tf.tidy(() => {
        const r = layerForward(x, w.layers[i]!, w.relativeBias[i], this.config, w.relativeBiasHeads?.[i], options.outputAttentions ?? false);
        return options.outputAttentions ? r : { hidden: r.hidden };
      }) as { hidden: tf.Tensor3D; probs?: tf.Tensor4D };
      if (!options.outputHiddenStates) x.dispose();
      x = hidden;
      if (options.outputHiddenStates) hiddenStates.push(x);
      if (probs) attentions.push(probs);
    }
    return x;
  }

  private live(): DeviceWeights {
    if (!this.weights) throw new InputError('the model was disposed.');
    if (backendStarting()) {
      throw new InputError('a TensorFlow.js backend is still starting (another loadModel is in progress): every tfjs op fails until it is '
        + 'ready; await that load, or `await settleBackends()` first (classify, embed and the attention helpers wait by themselves).');
    }
    if (tf.getBackend() !== this.backendName) {
      // Switching to an initialised backend takes effect synchronously (only its first set-up awaits).
      tf.setBackend(this.backendName).catch(() => undefined);
      if (tf.getBackend() !== this.backendName) {
        throw new InputError(`the model's backend "${this.backendName}" is no longer available (tf.removeBackend?).`);
      }
    }
    return this.weights;
  }

  private toPixels(p: PixelInput): tf.Tensor4D {
    const c = this.config;
    const shape = p instanceof tf.Tensor ? p.shape : [...p.shape];
    const want = `[batch, ${c.num_channels}, ${c.image_size[0]}, ${c.image_size[1]}]`;
    if (shape.length !== 4 || shape[0]! < 1 || shape[1] !== c.num_channels || shape[2] !== c.image_size[0] || shape[3] !== c.image_size[1]) {
      throw new InputError(`pixel_values must be NCHW ${want} for this model, got [${shape}].`);
    }
    if (p instanceof tf.Tensor) {
      if (p.isDisposed) throw new InputError('pixel_values is a disposed tensor.');
      if (p.dtype !== 'float32') throw new InputError(`pixel_values must be float32, got ${p.dtype}.`);
      return p;
    }
    if (!(p.data instanceof Float32Array)) throw new InputError('pixel_values data must be a Float32Array.');
    const n = shape.reduce((a, b) => a * b, 1);
    if (p.data.length !== n) throw new InputError(`pixel_values has ${p.data.length} values, shape [${shape}] needs ${n}.`);
    return tf.tensor4d(p.data, shape as [number, number, number, number]);
  }
}

/** Whether a tfjs backend is still starting (its asynchronous set-up pending): every op throws meanwhile. */
export function backendStarting(): boolean {
  return (tf.engine() as unknown as { pendingBackendInit?: unknown }).pendingBackendInit != null;
}

/** Waits until no tfjs backend is starting (another model's load on another backend). */
export async function settleBackends(): Promise<void> {
  while (backendStarting()) await tf.ready().catch(() => undefined);
}

/** The outputs of the head: the pooled output, and the logits when the checkpoint has a classifier. */
function headOutputs(w: DeviceWeights, h: { pooled?: tf.Tensor2D; head?: tf.Tensor2D }): PooledForwardOutput {
  return {
    ...(h.pooled ? { pooledOutput: h.pooled } : {}),
    ...(w.classifier && h.head ? { logits: linear(h.head, w.classifier) } : {}),
  };
}

/** Disposes every tensor of a forward output. */
export function disposeOutput(out: Partial<ForwardOutput>): void {
  const all: (tf.Tensor | undefined)[] = [out.logits, out.pooledOutput, out.lastHiddenState, ...(out.hiddenStates ?? []), ...(out.attentions ?? [])];
  for (const t of new Set(all)) t?.dispose();
}
