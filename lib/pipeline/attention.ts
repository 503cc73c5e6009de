/**
 * Attention maps for visualisation: how much the CLS token attends to each patch in one layer,
 * averaged over heads (the map ViT demos show, after Dosovitskiy et al. 2020, fig. 6, and DINO's
 * CLS self-attention maps). Mean-pooled models (Data2Vec-Vision, BEiT with `use_mean_pooling`) do
 * not read the CLS token for their head, but their layers still compute it, so the map exists.
 * Runtime-neutral: used by the CLI (`beit attention`) and the browser demo.
 */
import * as tf from '@tensorflow/tfjs-core';
import { patchGrid } from '../checkpoint/config.js';
import { disposeOutput, InputError, settleBackends, type BeitModel, type ForwardOutput } from '../model/model.js';
import { checkFinite } from './pipeline.js';

/** One layer's CLS-to-patch attention of one image, mean over heads. */
export interface AttentionMap {
  /** 0-based layer index, like HF's `attentions[i]`. */
  readonly layer: number;
  /** Patch rows and columns (`image_size / patch_size`). */
  readonly gridHeight: number;
  readonly gridWidth: number;
  /** `gridHeight * gridWidth` probabilities, row-major; they sum to 1 minus the CLS-to-CLS share. */
  readonly values: Float32Array;
}

/**
 * CLS row of an attention tensor, mean over heads: `[B, heads, T, T]` -> `[B, T-1]` (patch tokens).
 * Runs in `tf.tidy`; the caller owns the result.
 */
export function clsToPatchAttention(attentions: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, H, T] = attentions.shape;
    const cls = tf.slice(attentions, [0, 0, 0, 1], [B, H, 1, T - 1]); // [B, H, 1, T-1]
    return tf.reshape(tf.mean(cls, 1), [B, T - 1]) as tf.Tensor2D; // [B, T-1]
  });
}

/** Resolves a layer argument: 0-based, negative counts from the end (-1 = last). */
export function resolveLayer(model: BeitModel, layer: number | undefined): number {
  const L = model.config.num_hidden_layers;
  const i = layer === undefined ? L - 1 : layer < 0 ? L + layer : layer;
  if (!Number.isInteger(i) || i < 0 || i >= L) {
    throw new InputError(`layer must be an integer in 0..${L - 1} (or -1..-${L} from the end), got ${layer}.`);
  }
  return i;
}

/** Every layer's map for image `index` of a forward run with `outputAttentions` (does not dispose `out`). */
export async function attentionMapsOf(model: BeitModel, out: ForwardOutput, index = 0): Promise<AttentionMap[]> {
  if (!out.attentions) throw new InputError('the forward output has no attentions; run forward with { outputAttentions: true }.');
  const [gh, gw] = patchGrid(model.config);
  const maps: AttentionMap[] = [];
  for (let layer = 0; layer < out.attentions.length; layer++) {
    const a = out.attentions[layer]!;
    const row = tf.tidy(() => tf.slice(clsToPatchAttention(a), [index, 0], [1, gh * gw]));
    const values = (await row.data()) as Float32Array;
    row.dispose();
    maps.push({ layer, gridHeight: gh, gridWidth: gw, values });
  }
  return maps;
}

/** Result of {@link attentionForPixels}: the logits (when the model has a head) and every layer's map. */
export interface AttentionResult {
  readonly logits?: Float32Array;
  readonly maps: AttentionMap[];
}

/** One forward of one preprocessed image (`[C, H, W]` pixels) -> logits and every layer's map. */
export async function attentionForPixels(model: BeitModel, pixelValues: Float32Array): Promise<AttentionResult> {
  const [h, w] = model.config.image_size;
  await settleBackends();
  const out = model.forward({ data: pixelValues, shape: [1, model.config.num_channels, h, w] }, { outputAttentions: true });
  try {
    const maps = await attentionMapsOf(model, out, 0);
    const logits = out.logits ? (await out.logits.data()) as Float32Array : undefined;
    // Non-finite weights make NaN maps and scores: an error, as in classify, not a flat overlay.
    if (logits) checkFinite(logits, 'logits', 0, 1);
    for (const m of maps) checkFinite(m.values, `attention (layer ${m.layer})`, 0, 1);
    return logits ? { logits, maps } : { maps };
  } finally {
    disposeOutput(out);
  }
}
