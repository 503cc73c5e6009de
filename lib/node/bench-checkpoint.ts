/**
 * A random-weight checkpoint with the exact `facebook/data2vec-vision-base-ft1k` architecture (hidden
 * 768, 12 layers, 12 heads, MLP 3072, patch 16, 224x224, per-layer relative position bias, layer scale,
 * mean pooling, 1000 classes), made once (seeded) in the cache so benchmarks need no download.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { writeSafetensorsFile } from './safetensors-file.js';
import type { StWriteTensor } from '../io/safetensors.js';
import { relativePositionIndex } from '../model/relative-bias.js';

/** The config of facebook/data2vec-vision-base-ft1k (labels replaced by `LABEL_<i>`). */
export const BASE_CONFIG = {
  architectures: ['Data2VecVisionForImageClassification'], model_type: 'data2vec-vision',
  hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu',
  layer_norm_eps: 1e-12, image_size: 224, patch_size: 16, num_channels: 3, use_absolute_position_embeddings: false,
  use_relative_position_bias: true, use_shared_relative_position_bias: false, layer_scale_init_value: 0.1,
  use_mean_pooling: true, id2label: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [String(i), `LABEL_${i}`])),
};

/** Floating-point operations of one image's forward (multiply-adds count 2) for a BEiT-style config. */
export function forwardFlops(c: { hidden_size: number; num_hidden_layers: number; num_attention_heads: number;
  intermediate_size: number; image_size: readonly number[]; patch_size: readonly number[]; num_channels: number }, labels = 0): number {
  const D = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const N = Math.floor(c.image_size[0]! / c.patch_size[0]!) * Math.floor(c.image_size[1]! / c.patch_size[1]!), T = N + 1;
  const patch = 2 * N * c.num_channels * c.patch_size[0]! * c.patch_size[1]! * D;
  const layer = 2 * T * D * 3 * D + 2 * 2 * T * T * D + 2 * T * D * D + 2 * 2 * T * D * I;
  return patch + L * layer + 2 * D * labels;
}

/**
 * Floating-point operations of one image's logits forward (`forwardPooled`), which runs the last layer
 * on what the head reads (`BeitModel.lastLayerPruning`): without its second MLP product per token
 * (`patch-mean`: once on the mean instead), or for the CLS token only after the QKV product (`cls`).
 */
export function logitsForwardFlops(c: Parameters<typeof forwardFlops>[0], labels: number,
  pruning: 'patch-mean' | 'cls' | 'none'): number {
  const full = forwardFlops(c, labels);
  const D = c.hidden_size, I = c.intermediate_size;
  const T = Math.floor(c.image_size[0]! / c.patch_size[0]!) * Math.floor(c.image_size[1]! / c.patch_size[1]!) + 1;
  if (pruning === 'patch-mean') return full - 2 * (T - 1) * D * I;
  if (pruning === 'cls') return full - (2 * 2 * (T - 1) * T * D + 2 * (T - 1) * D * D + 2 * 2 * (T - 1) * D * I);
  return full;
}

/** Returns the folder of the benchmark checkpoint, creating it on first use. */
export function benchCheckpoint(cacheRoot?: string, log: (m: string) => void = () => {}): string {
  const root = cacheRoot || process.env.BEIT_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tfjs-beit');
  const dir = path.join(root, 'bench', 'data2vec-vision-base-random-seed1');
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  log(`creating a random-weight base checkpoint (seed 1) in ${dir} ...`);
  fs.mkdirSync(dir, { recursive: true });
  let s = 1;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 - 0.5; };
  const t: Record<string, StWriteTensor> = {};
  const f = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = offset + scale * rand();
    t[name] = { dtype: 'F32', shape, data };
  };
  const c = BASE_CONFIG, D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads, g = 14, T = g * g + 1;
  const p = 'data2vec_vision.';
  f(`${p}embeddings.cls_token`, [1, 1, D], 0.04);
  f(`${p}embeddings.patch_embeddings.projection.weight`, [D, 3, 16, 16], 0.04);
  f(`${p}embeddings.patch_embeddings.projection.bias`, [D], 0.04);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const q = `${p}encoder.layer.${l}.`, a = `${q}attention.attention.`;
    f(`${q}lambda_1`, [D], 0.1, 0.1); f(`${q}lambda_2`, [D], 0.1, 0.1);
    f(`${a}query.weight`, [D, D], 0.07); f(`${a}query.bias`, [D], 0.04);
    f(`${a}key.weight`, [D, D], 0.07);
    f(`${a}value.weight`, [D, D], 0.07); f(`${a}value.bias`, [D], 0.04);
    f(`${a}relative_position_bias.relative_position_bias_table`, [(2 * g - 1) ** 2 + 3, H], 0.5);
    const idx = relativePositionIndex(g, g);
    t[`${a}relative_position_bias.relative_position_index`] = { dtype: 'I64', shape: [T, T], data: BigInt64Array.from(idx, (v) => BigInt(v)) };
    f(`${q}attention.output.dense.weight`, [D, D], 0.07); f(`${q}attention.output.dense.bias`, [D], 0.04);
    f(`${q}intermediate.dense.weight`, [I, D], 0.07); f(`${q}intermediate.dense.bias`, [I], 0.04);
    f(`${q}output.dense.weight`, [D, I], 0.035); f(`${q}output.dense.bias`, [D], 0.04);
    f(`${q}layernorm_before.weight`, [D], 0.2, 1); f(`${q}layernorm_before.bias`, [D], 0.04);
    f(`${q}layernorm_after.weight`, [D], 0.2, 1); f(`${q}layernorm_after.bias`, [D], 0.04);
  }
  f(`${p}pooler.layernorm.weight`, [D], 0.2, 1); f(`${p}pooler.layernorm.bias`, [D], 0.04);
  f('classifier.weight', [1000, D], 0.07); f('classifier.bias', [1000], 0.04);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(BASE_CONFIG, null, 2));
  fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({
    do_center_crop: false, do_normalize: true, do_resize: true, feature_extractor_type: 'BeitFeatureExtractor',
    image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], resample: 3, size: 224,
  }, null, 2));
  writeSafetensorsFile(path.join(dir, 'model.safetensors'), t, { format: 'pt' });
  return dir;
}
