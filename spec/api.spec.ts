/**
 * The Node API as a user meets it: models on different backends in one process each run on their own,
 * the attention API and every error class are exported from the package entry, and misuse gives errors
 * that say what is wrong.
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import path from 'node:path';
import * as api from '../lib/index.js';
import { caseDir, inputsOf, PARITY_BACKENDS } from './helpers/fixtures.js';

describe('API', () => {
  it('models loaded on different backends in one process each run on their own (also when loaded concurrently)', async () => {
    const input = inputsOf('d2v-tiny');
    const models = await Promise.all(PARITY_BACKENDS.map((backend) => api.loadModel(caseDir('d2v-tiny'), { backend })));
    try {
      const logits: Float32Array[] = [];
      for (let round = 0; round < 2; round++) {
        for (const m of models) {
          const out = m.forwardPooled(input);
          expect(tf.getBackend(), m.backend).to.equal(m.backend); // computed on its own backend
          expect(m.backendName).to.equal(m.backend);
          logits.push(out.logits!.dataSync() as Float32Array);
          api.disposeOutput(out);
        }
        const img = path.resolve('examples/chelsea.jpg');
        const tops = await Promise.all(models.map((m) => m.classify([img], { topK: 1 })));
        expect(new Set(tops.map((t) => t[0]![0]!.index)).size).to.equal(1);
      }
      const ref = logits[0]!;
      const tol = 1e-4 * Math.max(1, ...Array.from(ref, Math.abs));
      for (const l of logits) for (let i = 0; i < ref.length; i++) expect(Math.abs(l[i]! - ref[i]!)).to.be.at.most(tol);
    } finally {
      for (const m of models) m.dispose();
    }
  });

  it('exports the attention API and every error class from the package entry', () => {
    for (const name of ['attentionForPixels', 'attentionMapsOf', 'clsToPatchAttention', 'resolveLayer', 'overlayAttention', 'modelRegion', 'jet']) {
      expect(typeof (api as Record<string, unknown>)[name], name).to.equal('function');
    }
    for (const E of [api.ConfigError, api.WeightsError, api.ImageError, api.ProcessorError, api.InputError, api.SafetensorsError,
      api.PickleError, api.HubError, api.BackendError]) {
      expect(new E('x')).to.be.instanceOf(Error);
    }
  });

  it('misuse says what is wrong: a disposed input tensor, a string instead of a list, float raw pixels', async () => {
    const m = await api.loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    try {
      const t = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D;
      t.dispose();
      expect(() => m.forward(t)).to.throw(api.InputError, 'pixel_values is a disposed tensor');
      let err: Error | undefined;
      try { await m.classify('examples/chelsea.jpg' as unknown as string[]); } catch (e) { err = e as Error; }
      expect(err).to.be.instanceOf(api.InputError);
      expect(err!.message).to.include('images must be an array (one entry per image), got a string: wrap it in [ ]');
      err = undefined;
      try { await m.classify([{ data: new Float32Array(12) as unknown as Uint8Array, width: 2, height: 2 }]); } catch (e) { err = e as Error; }
      expect(err).to.be.instanceOf(api.ImageError);
      expect(err!.message).to.include('raw pixels must be a Uint8Array or Uint8ClampedArray of 0…255 values, got Float32Array');
    } finally {
      m.dispose();
    }
  });

  it('while another backend is starting, a model call says so (not a raw tfjs error) and the async calls wait for it', async () => {
    const m = await api.loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    class Slow extends tf.KernelBackend { override dispose(): void {} }
    tf.registerBackend('slow-start-test', () => new Promise<tf.KernelBackend>((ok) => setTimeout(() => ok(new Slow()), 150)));
    try {
      const starting = tf.setBackend('slow-start-test');
      expect(() => m.predict(inputsOf('d2v-tiny'))).to.throw(api.InputError, 'a TensorFlow.js backend is still starting');
      const [top] = await m.classify([path.resolve('examples/chelsea.jpg')], { topK: 1 }); // waits, then runs on cpu
      expect(top).to.have.length(1);
      await starting;
      expect(api.InputError).to.exist;
    } finally {
      m.dispose();
      tf.removeBackend('slow-start-test');
    }
  });
});
