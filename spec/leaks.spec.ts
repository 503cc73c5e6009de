/** No tensor leaks: 50 forwards (with every optional output, then disposed) leave tf.memory() unchanged. */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { disposeOutput } from '../lib/model/model.js';
import { caseDir, inputsOf, PARITY_BACKENDS } from './helpers/fixtures.js';

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
  }
});
