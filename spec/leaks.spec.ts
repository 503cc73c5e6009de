/** No tensor leaks: 50 forwards (with every optional output, then disposed) leave tf.memory() unchanged. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { disposeOutput } from '../lib/model/model.js';
import { caseDir, inputsOf, PARITY_BACKENDS } from './helpers/fixtures.js';
import fs from 'node:fs';
import path from 'node:path';
import { buildModel } from '../lib/checkpoint/build.js';
import { readSafetensorsFile } from '../lib/node/safetensors-file.js';

describe('tensor leaks', () => {
  for (const backend of PARITY_BACKENDS) {
    it(`50 forwards on ${backend} do not grow numTensors; dispose frees the weights`, async () => {
      const start = (await import('../lib/backend/select.js')).selectBackend;
      await start(backend);
      const before = tf.memory().numTensors;
      const model = await loadModel(caseDir('d2v-tiny'), { backend });
      const input = inputsOf('d2v-tiny');
      const pixels = tf.tensor4d(input.data, input.shape);
      const loaded = tf.memory().numTensors;
      for (let i = 0; i < 50; i++) {
        disposeOutput(model.forward(i % 2 ? input : pixels, { outputHiddenStates: i % 3 === 0, outputAttentions: i % 5 === 0 }));
        model.predict(pixels).dispose();
      }
      expect(tf.memory().numTensors).to.equal(loaded);
      expect(pixels.isDisposed).to.equal(false);
      pixels.dispose();
      model.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    });

    it(`the logits forward on ${backend} does not grow numTensors (patch-mean, CLS and unpruned last layers)`, async () => {
      const seen = new Set<string>();
      for (const c of ['d2v-tiny', 'vit-tiny', 'd2v-tiny-backbone']) {
        const model = await loadModel(caseDir(c), { backend });
        seen.add(model.lastLayerPruning);
        const input = inputsOf(c);
        disposeOutput(model.forwardPooled(input));
        const loaded = tf.memory().numTensors;
        for (let i = 0; i < 20; i++) disposeOutput(model.forwardPooled(input));
        expect(tf.memory().numTensors, c).to.equal(loaded);
        model.dispose();
      }
      // Mean pooling without a pooler: nothing to prune (forwardPooled runs forward and keeps nothing).
      const config = { ...JSON.parse(fs.readFileSync(path.join(caseDir('d2v-tiny-backbone'), 'config.json'), 'utf8')), use_mean_pooling: true };
      const tensors = readSafetensorsFile(path.join(caseDir('d2v-tiny-backbone'), 'model.safetensors')).tensors;
      for (const k of [...tensors.keys()]) if (k.startsWith('layernorm.')) tensors.delete(k);
      const model = buildModel(JSON.stringify(config), 'config.json', tensors, 'mean pooling, no pooler', { onWarning: (m) => { throw new Error(m); }, onNotice: () => {} });
      seen.add(model.lastLayerPruning);
      const input = inputsOf('d2v-tiny-backbone');
      const loaded = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) expect(Object.keys(model.forwardPooled(input))).to.deep.equal([]);
      expect(tf.memory().numTensors).to.equal(loaded);
      model.dispose();
      expect([...seen].sort()).to.deep.equal(['cls', 'none', 'patch-mean']);
    });
  }
});
