/**
 * How much the engine adds on top of the backend's matrix products: times the full forward of the
 * base-size benchmark checkpoint and, in the same process and backend, every matrix product of that
 * forward (same shapes, same fused bias) timed alone. Target for wasm: forward <= 1.15x the sum.
 * Usage: node dist/tools/wasm-overhead.js [--backend wasm] [--runs 5]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { loadModel } from '../lib/node/load.js';
import { disposeOutput } from '../lib/model/model.js';
import { benchCheckpoint } from '../lib/node/bench-checkpoint.js';
import { median } from '../lib/node/bench-stats.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' }, runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const model = await loadModel(benchCheckpoint(), { backend: values.backend, onNotice: () => {} });
const c = model.config;
const D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads, T = model.numTokens, N = T - 1, hd = D / H;
async function time(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const once = async () => {
    const s = performance.now();
    const r = f();
    const list = Array.isArray(r) ? r : [r];
    await list[list.length - 1]!.data();
    const e = performance.now() - s;
    list.forEach((t) => t.dispose());
    return e;
  };
  await once();
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await once());
  return median(xs);
}

const pixels = tf.randomNormal([1, 3, ...c.image_size]) as tf.Tensor4D;
const forward = await time(() => { const o = model.forward(pixels); const l = o.logits!; disposeOutput({ ...o, logits: undefined }); return l; });

const rnd = (s: number[]) => tf.randomNormal(s);
const x768 = rnd([T, D]), w768x2304 = rnd([D, 3 * D]), b2304 = rnd([3 * D]), w768 = rnd([D, D]), b768 = rnd([D]);
const w768x3072 = rnd([D, I]), b3072 = rnd([I]), x3072 = rnd([T, I]), w3072x768 = rnd([I, D]);
const patches = rnd([N, 3 * 16 * 16]), wp = rnd([3 * 16 * 16, D]);
const q = rnd([1, H, T, hd]), k = rnd([1, H, T, hd]), p = rnd([1, H, T, T]);
const wh = rnd([D, hd]), bh = rnd([hd]), q2 = rnd([T, hd]), kT2 = rnd([hd, T]), p2 = rnd([T, T]);
// The products the engine runs: per-head 2-D products on wasm (see lib/model/layer.ts), batched elsewhere.
const perHead = model.backend === 'wasm';
const parts = {
  qkv: perHead
    ? await time(() => Array.from({ length: 3 * H }, () => tf.fused.matMul({ a: x768 as tf.Tensor2D, b: wh as tf.Tensor2D, bias: bh })))
    : await time(() => tf.fused.matMul({ a: x768 as tf.Tensor2D, b: w768x2304 as tf.Tensor2D, bias: b2304 })),
  scores: perHead
    ? await time(() => Array.from({ length: H }, () => tf.matMul(q2, kT2)))
    : await time(() => tf.matMul(q, k, false, true)),
  context: perHead
    ? await time(() => Array.from({ length: H }, () => tf.matMul(p2, q2)))
    : await time(() => tf.matMul(p, k)),
  attnOut: await time(() => tf.fused.matMul({ a: x768 as tf.Tensor2D, b: w768 as tf.Tensor2D, bias: b768 })),
  mlpIn: await time(() => tf.fused.matMul({ a: x768 as tf.Tensor2D, b: w768x3072 as tf.Tensor2D, bias: b3072 })),
  mlpOut: await time(() => tf.fused.matMul({ a: x3072 as tf.Tensor2D, b: w3072x768 as tf.Tensor2D, bias: b768 })),
};
const patch = await time(() => tf.matMul(patches, wp));
const perLayer = Object.values(parts).reduce((a, b) => a + b, 0);
const sum = patch + c.num_hidden_layers * perLayer;
console.log(JSON.stringify({ backend: model.backend, forwardMs: +forward.toFixed(1), matmulSumMs: +sum.toFixed(1),
  ratio: +(forward / sum).toFixed(3), perLayerMs: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, +v.toFixed(2)])) }, null, 1));
model.dispose();
