/**
 * float16 / bfloat16 checkpoints (made from d2v-tiny with `beit convert --dtype`, see
 * tools/make-half-fixtures) load widened to float32 and reproduce the float64 reference within a
 * tolerance that reflects the rounding of the weights, stated as a multiple of the format's unit
 * roundoff u (f16: 2^-11, bf16: 2^-8): max|out - ref| <= 4u * max(1, max|ref|).
 * Measured on this fixture (cpu): worst 1.1u for f16 (5.5e-4 relative), 1.6u for bf16 (6.1e-3);
 * a mapping or semantics mistake misses by orders of magnitude. Top-1 must agree.
 */
import { expect } from 'chai';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { readSafetensorsFile, readSafetensorsHeader } from '../lib/node/safetensors-file.js';
import { argmaxRows } from '../lib/checkpoint/parity.js';
import { disposeOutput } from '../lib/model/model.js';
import { caseDir, expectedOf, inputsOf, PARITY_BACKENDS } from './helpers/fixtures.js';

const FORMATS = [
  { dir: 'd2v-tiny-f16', dtype: 'F16', u: 2 ** -11 },
  { dir: 'd2v-tiny-bf16', dtype: 'BF16', u: 2 ** -8 },
] as const;

describe('half-precision checkpoints', () => {
  const f32 = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
  for (const f of FORMATS) {
    it(`${f.dtype}: every float weight is stored as ${f.dtype} and is the float32 value rounded (error <= u * |w|)`, () => {
      const file = path.join(caseDir(f.dir), 'model.safetensors');
      const header = readSafetensorsHeader(file);
      const half = readSafetensorsFile(file).tensors;
      for (const e of header.entries) {
        const ref = f32.get(e.name)!;
        if (ref.dtype !== 'float32') { expect(e.dtype).to.equal('I64'); continue; }
        expect(e.dtype, e.name).to.equal(f.dtype);
        const got = half.get(e.name)!;
        expect(got.dtype).to.equal('float32');
        (ref.data as Float32Array).forEach((v, i) => {
          const err = Math.abs(got.data[i]! - v);
          expect(err, `${e.name}[${i}]`).to.be.at.most(Math.max(Math.abs(v) * f.u, 2 ** -25));
        });
      }
    });

    for (const backend of PARITY_BACKENDS) {
      it(`${f.dtype} on ${backend}: every reference output within 4u * max(1, max|ref|), same top-1`, async () => {
        const model = await loadModel(caseDir(f.dir), { backend });
        const out = model.forward(inputsOf('d2v-tiny'), { outputHiddenStates: true, outputAttentions: true });
        const produced: Record<string, tf.Tensor | undefined> = { logits: out.logits };
        out.hiddenStates!.forEach((t, i) => { produced[`hidden_states.${i}`] = t; });
        out.attentions!.forEach((t, i) => { produced[`attentions.${i}`] = t; });
        for (const [name, ref] of expectedOf('d2v-tiny')) {
          const got = produced[name]!.dataSync();
          const r = ref.data as Float32Array;
          let err = 0, mx = 0;
          r.forEach((v, i) => { err = Math.max(err, Math.abs(got[i]! - v)); mx = Math.max(mx, Math.abs(v)); });
          const tol = 4 * f.u * Math.max(1, mx);
          expect(err, `${name}: ${err} > ${tol}`).to.be.at.most(tol);
          if (name === 'logits') expect(argmaxRows(got as Float32Array, ref.shape[1]!)).to.deep.equal(argmaxRows(r, ref.shape[1]!));
        }
        disposeOutput(out);
        model.dispose();
      });
    }
  }
});
