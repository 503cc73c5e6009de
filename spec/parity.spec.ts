/**
 * Numerical parity with the Hugging Face reference (float64 forward stored as float32): every stored
 * output of every fixture case, on every backend, within 1e-4 * max(1, max|ref|), plus top-1 agreement.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { compareOutputs } from '../lib/checkpoint/parity.js';
import { disposeOutput } from '../lib/model/model.js';
import type { HostTensor } from '../lib/io/safetensors.js';
import { MODEL_CASES, PARITY_BACKENDS, caseDir, expectedOf, inputsOf } from './helpers/fixtures.js';

for (const backend of PARITY_BACKENDS) {
  describe(`parity on ${backend}`, () => {
    for (const c of MODEL_CASES) {
      it(`${c}: every stored output within tolerance`, async () => {
        const model = await loadModel(caseDir(c), { backend, onWarning: (m) => { throw new Error(m); }, onNotice: () => {} });
        expect(tf.getBackend()).to.equal(backend);
        const expected = expectedOf(c);
        const out = model.forward(inputsOf(c), { outputHiddenStates: true, outputAttentions: true });
        const produced = new Map<string, { shape: readonly number[]; data: Float32Array }>();
        const put = (n: string, t?: tf.Tensor) => { if (t) produced.set(n, { shape: t.shape, data: t.dataSync() as Float32Array }); };
        put('logits', out.logits);
        put('pooler_output', out.pooledOutput);
        put('last_hidden_state', out.lastHiddenState);
        out.hiddenStates!.forEach((t, i) => put(`hidden_states.${i}`, t));
        out.attentions!.forEach((t, i) => put(`attentions.${i}`, t));
        disposeOutput(out);
        model.dispose();
        const rows = compareOutputs(produced, expected);
        expect(rows.length).to.equal(expected.size);
        for (const r of rows) {
          expect(r.ok, `${c} ${r.name}: max abs error ${r.maxAbsError} > tolerance ${r.tolerance} ${r.note ?? ''}`).to.equal(true);
        }
        // The engine produces every layer's hidden state and attention, whatever the fixture stored.
        expect(out.hiddenStates).to.have.length(model.config.num_hidden_layers + 1);
        expect(out.attentions).to.have.length(model.config.num_hidden_layers);
        expect(out.attentions![0]!.shape).to.deep.equal([inputsOf(c).shape[0], model.config.num_attention_heads, model.numTokens, model.numTokens]);
      });

      it(`${c}: the logits forward (forwardPooled) matches the stored logits and the full forward`, async () => {
        const model = await loadModel(caseDir(c), { backend, onNotice: () => {} });
        const expected = expectedOf(c);
        const full = model.forward(inputsOf(c));
        const out = model.forwardPooled(inputsOf(c));
        const host = (t: tf.Tensor) => ({ shape: t.shape, data: t.dataSync() as Float32Array });
        const asRef = (t: tf.Tensor): HostTensor => ({ dtype: 'float32', shape: t.shape, data: t.dataSync() as Float32Array });
        expect(out.logits === undefined, 'logits presence').to.equal(full.logits === undefined);
        expect(out.pooledOutput === undefined, 'pooled output presence').to.equal(full.pooledOutput === undefined);
        expect(model.hasPooledOutput).to.equal(full.pooledOutput !== undefined);
        const produced = new Map<string, { shape: readonly number[]; data: Float32Array }>();
        const reference = new Map<string, HostTensor>();
        if (out.logits) {
          produced.set('logits', host(out.logits));
          reference.set('logits', expected.get('logits') ?? asRef(full.logits!));
        }
        if (out.pooledOutput) {
          produced.set('pooler_output', host(out.pooledOutput));
          reference.set('pooler_output', asRef(full.pooledOutput!));
        }
        disposeOutput(out);
        disposeOutput(full);
        model.dispose();
        expect(produced.size, `${c}: nothing to compare`).to.be.greaterThan(0);
        for (const r of compareOutputs(produced, reference)) {
          expect(r.ok, `${c} ${r.name}: max abs error ${r.maxAbsError} > tolerance ${r.tolerance} ${r.note ?? ''}`).to.equal(true);
        }
      });
    }
  });
}

describe('compareOutputs', () => {
  const ref = (data: number[], shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });
  it('a NaN or infinity anywhere fails the tensor, even before a large finite error or with the right top-1', () => {
    const expected = new Map([['logits', ref([0.1, 0.9, 0.2, 0.3, 0.8, 0.1], [2, 3])], ['x', ref([1, 2, 3], [3])]]);
    const got = (l: number[], x: number[]) => new Map([['logits', { shape: [2, 3], data: Float32Array.from(l) }],
      ['x', { shape: [3], data: Float32Array.from(x) }]]);
    const rows = compareOutputs(got([0.1, 0.9, Number.NaN, 0.3, 0.8, 0.1], [1, Number.POSITIVE_INFINITY, 3]), expected);
    expect(rows.map((r) => r.ok)).to.deep.equal([false, false]);
    expect(rows[0]!.note).to.equal('non-finite value at flat index 2 (engine NaN, reference 0.20000000298023224)');
    expect(rows[1]!.note).to.match(/flat index 1 \(engine Infinity/);
    const fine = compareOutputs(got([0.1, 0.9, 0.2, 0.3, 0.8, 0.1], [1, 2, 3.00001]), expected);
    expect(fine.map((r) => r.ok)).to.deep.equal([true, true]);
  });
});
