/**
 * Configs the fixtures do not cover — non-square images, rectangular patches, per-layer and shared
 * relative bias together, every activation, ViT without qkv_bias, head-less ViT with its tanh pooler
 * and with a newer config's pooler_output_size / pooler_act —
 * with seeded random weights, against the independent float64 reference in helpers/reference.ts.
 * Same tolerance as the fixtures: 1e-4 * max(1, max|ref|).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../lib/backend/select.js';
import { buildModel } from '../lib/checkpoint/build.js';
import { parseConfig, patchGrid } from '../lib/checkpoint/config.js';
import type { HostTensor } from '../lib/io/safetensors.js';
import { disposeOutput } from '../lib/model/model.js';
import { embedPixels } from '../lib/pipeline/pipeline.js';
import { referenceForward, hfRelativeIndex, act } from './helpers/reference.js';
import { SUPPORTED_ACTIVATIONS } from '../lib/checkpoint/config.js';
import { activation } from '../lib/model/ops.js';
import { relativePositionIndex } from '../lib/model/relative-bias.js';
import { PARITY_BACKENDS } from './helpers/fixtures.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

interface Case { name: string; raw: Record<string, unknown>; prefix: string; head: boolean; vitPooler?: boolean; batch: number }

const CASES: Case[] = [
  { name: 'beit, 24x40 image, per-layer + shared bias, layer scale, mean pooling, gelu_new', prefix: 'beit.', head: true, batch: 2,
    raw: { model_type: 'beit', hidden_size: 24, num_hidden_layers: 2, num_attention_heads: 3, intermediate_size: 40, image_size: [24, 40], patch_size: 8,
      use_relative_position_bias: true, use_shared_relative_position_bias: true, layer_scale_init_value: 0.1, use_mean_pooling: true, hidden_act: 'gelu_new' } },
  { name: 'head-less ViTModel, 16x24 image, 8x4 patches, no qkv_bias, relu, tanh pooler, eps 1e-6', prefix: '', head: false, vitPooler: true, batch: 1,
    raw: { model_type: 'vit', hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, image_size: [16, 24], patch_size: [8, 4],
      qkv_bias: false, hidden_act: 'relu', layer_norm_eps: 1e-6 } },
  { name: 'head-less ViTModel, newer config: pooler_output_size 10, pooler_act gelu', prefix: '', head: false, vitPooler: true, batch: 2,
    raw: { model_type: 'vit', hidden_size: 12, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, image_size: 8, patch_size: 4,
      hidden_act: 'gelu', pooler_output_size: 10, pooler_act: 'gelu' } },
  { name: 'head-less ViTModel, silu MLP (no fused epilogue), mish pooler of width 6', prefix: 'vit.', head: false, vitPooler: true, batch: 2,
    raw: { model_type: 'vit', hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4,
      hidden_act: 'silu', pooler_output_size: 6, pooler_act: 'mish' } },
  { name: 'beit, gelu_accurate (the tanh GELU under another name), CLS pooling', prefix: 'beit.', head: true, batch: 2,
    raw: { model_type: 'beit', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, image_size: 8, patch_size: 4,
      use_relative_position_bias: true, use_mean_pooling: false, hidden_act: 'gelu_accurate' } },
  { name: 'data2vec-vision, absolute + relative positions, CLS pooling, quick_gelu, no layer scale', prefix: 'data2vec_vision.', head: true, batch: 3,
    raw: { model_type: 'data2vec-vision', hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 24, image_size: 16, patch_size: 4,
      use_absolute_position_embeddings: true, use_relative_position_bias: true, layer_scale_init_value: 0, use_mean_pooling: false, hidden_act: 'quick_gelu' } },
  { name: 'beit, 32x16 image, 16x8 patches, shared bias only, gelu_fast', prefix: 'beit.', head: true, batch: 2,
    raw: { model_type: 'beit', hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16, image_size: [32, 16], patch_size: [16, 8],
      use_shared_relative_position_bias: true, use_mean_pooling: true, hidden_act: 'gelu_fast' } },
  { name: 'beit, one 8x8 patch (2 tokens), one layer, one head, per-layer bias, mean pooling', prefix: 'beit.', head: true, batch: 3,
    raw: { model_type: 'beit', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 12, image_size: 8, patch_size: 8,
      use_relative_position_bias: true, use_mean_pooling: true, hidden_act: 'gelu' } },
  { name: 'head-less BeitModel, 20x28 image, 8x8 patches (trailing pixels dropped), mean pooling without a stored pooler', prefix: 'beit.', head: false, batch: 2,
    raw: { model_type: 'beit', hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, image_size: [20, 28], patch_size: 8,
      use_relative_position_bias: true, use_mean_pooling: true, hidden_act: 'gelu' } },
  { name: 'head-less Data2VecVisionModel, mean pooling without a stored pooler (no pooled output)', prefix: 'data2vec_vision.', head: false, batch: 1,
    raw: { model_type: 'data2vec-vision', hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, image_size: 8, patch_size: 4,
      use_relative_position_bias: true, use_mean_pooling: true, hidden_act: 'gelu' } },
  { name: 'ViT classifier, 12x20 image, 4x4 patches, gelu_pytorch_tanh', prefix: 'vit.', head: true, batch: 2,
    raw: { model_type: 'vit', hidden_size: 12, num_hidden_layers: 1, num_attention_heads: 3, intermediate_size: 20, image_size: [12, 20], patch_size: 4,
      hidden_act: 'gelu_pytorch_tanh' } },
];

/** Random weights under HF names for a config. */
function randomCheckpoint(k: Case, seed: number): Map<string, HostTensor> {
  const c = parseConfig(JSON.stringify(k.raw));
  const r = rng(seed);
  const m = new Map<string, HostTensor>();
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    m.set((name.startsWith('classifier') ? '' : k.prefix) + name, { dtype: 'float32', shape, data: Float32Array.from({ length: n }, () => offset + scale * (r() * 2 - 1)) });
  };
  const D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads;
  const [gh, gw] = patchGrid(c);
  const T = gh * gw + 1, rel = (2 * gh - 1) * (2 * gw - 1) + 3;
  const beit = c.model_type !== 'vit';
  put('embeddings.cls_token', [1, 1, D], 1);
  put('embeddings.patch_embeddings.projection.weight', [D, 3, ...c.patch_size], 0.3);
  put('embeddings.patch_embeddings.projection.bias', [D], 0.3);
  if (c.use_absolute_position_embeddings) put('embeddings.position_embeddings', [1, T, D], 0.5);
  if (c.use_shared_relative_position_bias) put('encoder.relative_position_bias.relative_position_bias_table', [rel, H], 1);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`, a = `${p}attention.attention.`;
    for (const n of ['query', 'key', 'value']) {
      put(`${a}${n}.weight`, [D, D], 0.6);
      if (beit ? n !== 'key' : c.qkv_bias) put(`${a}${n}.bias`, [D], 0.3);
    }
    if (c.use_relative_position_bias) put(`${a}relative_position_bias.relative_position_bias_table`, [rel, H], 1);
    put(`${p}attention.output.dense.weight`, [D, D], 0.4); put(`${p}attention.output.dense.bias`, [D], 0.2);
    put(`${p}intermediate.dense.weight`, [I, D], 0.5); put(`${p}intermediate.dense.bias`, [I], 0.3);
    put(`${p}output.dense.weight`, [D, I], 0.4); put(`${p}output.dense.bias`, [D], 0.2);
    for (const n of ['layernorm_before', 'layernorm_after']) { put(`${p}${n}.weight`, [D], 0.3, 1); put(`${p}${n}.bias`, [D], 0.2); }
    if (c.layer_scale_init_value > 0) { put(`${p}lambda_1`, [D], 0.4, 0.6); put(`${p}lambda_2`, [D], 0.4, 0.6); }
  }
  if (!c.use_mean_pooling) { put('layernorm.weight', [D], 0.3, 1); put('layernorm.bias', [D], 0.2); }
  if (beit && c.use_mean_pooling && k.head) { put('pooler.layernorm.weight', [D], 0.3, 1); put('pooler.layernorm.bias', [D], 0.2); }
  if (k.vitPooler) { put('pooler.dense.weight', [c.pooler_output_size, D], 0.5); put('pooler.dense.bias', [c.pooler_output_size], 0.2); }
  if (k.head) { put('classifier.weight', [7, D], 0.5); put('classifier.bias', [7], 0.2); }
  return m;
}

function maxErr(got: ArrayLike<number>, ref: number[]): { err: number; tol: number } {
  let err = 0, mx = 0;
  for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(got[i]! - ref[i]!)); mx = Math.max(mx, Math.abs(ref[i]!)); }
  return { err, tol: 1e-4 * Math.max(1, mx) };
}

describe('general configs against an independent float64 reference', () => {
  it('the relative position index equals HF\'s construction for square and non-square grids', () => {
    for (const [gh, gw] of [[1, 1], [2, 3], [3, 5], [4, 4], [14, 14], [7, 2]] as const) {
      expect(Array.from(relativePositionIndex(gh, gw))).to.deep.equal(hfRelativeIndex(gh, gw).flat());
    }
  });

  for (const backend of PARITY_BACKENDS) {
    describe(backend, () => {
      before(async () => { await selectBackend(backend); });
      it('every supported activation matches ACT2FN in float64 over [-12, 12]', () => {
        const xs = Float32Array.from({ length: 481 }, (_, i) => -12 + i * 0.05);
        for (const a of SUPPORTED_ACTIVATIONS) {
          const got = tf.tidy(() => activation(tf.tensor1d(xs), a).dataSync());
          let worst = 0, at = 0;
          xs.forEach((x, i) => {
            const ref = act(x, a);
            const err = Math.abs(got[i]! - ref) / Math.max(1, Math.abs(ref));
            if (err > worst) { worst = err; at = x; }
          });
          expect(worst, `${a}: relative error ${worst} at x = ${at}`).to.be.at.most(1e-5);
        }
      });
      CASES.forEach((k, ci) => {
        it(k.name, async () => {
          const tensors = randomCheckpoint(k, 100 + ci);
          const warnings: string[] = [];
          const model = buildModel(JSON.stringify(k.raw), 'config.json', tensors, k.name, { onWarning: (m) => warnings.push(m), onNotice: () => {} });
          expect(warnings).to.deep.equal([]);
          const c = model.config;
          const r = rng(7 + ci);
          const per = 3 * c.image_size[0] * c.image_size[1];
          const pixels = Float32Array.from({ length: k.batch * per }, () => r() * 4 - 2);
          const out = model.forward({ data: pixels, shape: [k.batch, 3, c.image_size[0], c.image_size[1]] }, { outputHiddenStates: true, outputAttentions: true });
          const T = model.numTokens, D = c.hidden_size;
          const check = (what: string, t: tf.Tensor | undefined, ref: number[] | undefined, b: number) => {
            expect(t === undefined, `${what} presence`).to.equal(ref === undefined);
            if (!t || !ref) return;
            const all = t.dataSync();
            const per = all.length / k.batch;
            const { err, tol } = maxErr(all.subarray(b * per, (b + 1) * per), ref);
            expect(err, `${what} (image ${b}): max abs error ${err} > ${tol}`).to.be.at.most(tol);
          };
          for (let b = 0; b < k.batch; b++) {
            const ref = referenceForward(c, tensors, k.prefix, pixels.subarray(b * per, (b + 1) * per));
            ref.hidden.forEach((h, i) => check(`hidden_states.${i}`, out.hiddenStates![i], h.flat(), b));
            ref.attentions.forEach((a, i) => check(`attentions.${i}`, out.attentions![i], a.flat(2), b));
            check('last_hidden_state', out.lastHiddenState, ref.last.flat(), b);
            check('pooler_output', out.pooledOutput, ref.pooled, b);
            check('logits', out.logits, ref.logits, b);
          }
          // The logits forward (last layer on the patch-token mean or the CLS token only).
          const pooled = model.forwardPooled({ data: pixels, shape: [k.batch, 3, c.image_size[0], c.image_size[1]] });
          for (let b = 0; b < k.batch; b++) {
            const ref = referenceForward(c, tensors, k.prefix, pixels.subarray(b * per, (b + 1) * per));
            check('forwardPooled pooler_output', pooled.pooledOutput, ref.pooled, b);
            check('forwardPooled logits', pooled.logits, ref.logits, b);
          }
          expect(model.hasPooledOutput).to.equal(out.pooledOutput !== undefined);
          if (out.pooledOutput) {
            expect(out.pooledOutput.shape).to.deep.equal([k.batch, model.embeddingSize]);
            // embed() returns the pooled output, whatever its width.
            const emb = (await embedPixels(model, [pixels.slice(0, per)]))[0]!.embedding;
            const ref = referenceForward(c, tensors, k.prefix, pixels.subarray(0, per)).pooled!;
            expect(emb.length).to.equal(ref.length);
            const { err, tol } = maxErr(emb, ref);
            expect(err, `embed(): max abs error ${err} > ${tol}`).to.be.at.most(tol);
          }
          disposeOutput(pooled);
          expect(out.lastHiddenState.shape).to.deep.equal([k.batch, T, D]);
          disposeOutput(out);
          model.dispose();
        });
      });
    });
  }
});
