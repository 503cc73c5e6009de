/**
 * Opt-in: the real facebook/data2vec-vision-base-ft1k checkpoint (cannot be downloaded on the build
 * machines). Set BEIT_REAL_WEIGHTS to its folder; otherwise this test is reported as skipped.
 * Reference (transformers' own test): coco_cats.png -> logits[0, :3] ~ [0.3277, -0.1395, 0.0911]
 * within 1e-4, top-2 "remote control, remote" then "tabby, tabby cat".
 */
import { expect } from 'chai';
import path from 'node:path';
import { loadModel } from '../lib/node/load.js';
import { FIXTURES } from './helpers/fixtures.js';

describe('real facebook/data2vec-vision-base-ft1k (opt-in: BEIT_REAL_WEIGHTS=<folder>)', () => {
  it('coco_cats.png: logits[0,:3] and top-2 labels match transformers', async function () {
    const dir = process.env.BEIT_REAL_WEIGHTS;
    if (!dir) {
      console.log('      (skipped: opt-in; set BEIT_REAL_WEIGHTS=<folder of facebook/data2vec-vision-base-ft1k> to run it)');
      this.skip();
    }
    this.timeout(600000);
    const model = await loadModel(dir!);
    try {
      const { pixelValues } = await model.preprocess(path.join(FIXTURES, 'images', 'coco_cats.png'));
      const logits = model.predict({ data: pixelValues, shape: [1, 3, 224, 224] });
      const l = logits.dataSync(); logits.dispose();
      [0.3277, -0.1395, 0.0911].forEach((v, i) => expect(l[i]).to.be.closeTo(v, 1e-4));
      const [top] = await model.classify([path.join(FIXTURES, 'images', 'coco_cats.png')], { topK: 2 });
      expect(top!.map((p) => p.label)).to.deep.equal(['remote control, remote', 'tabby, tabby cat']);
    } finally { model.dispose(); }
  });
});
