/**
 * How `classify` turns logits into scores, as transformers' image-classification pipeline does
 * (`function_to_apply`): softmax by default, sigmoid for `problem_type: "multi_label_classification"`
 * and single-class heads, raw logits on request. Checked against the reference logits of
 * e2e.safetensors (transformers + Pillow on the fixture photos) with the fixtures' tolerance.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadModel } from '../lib/node/load.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../lib/node/safetensors-file.js';
import { toleranceFor } from '../lib/checkpoint/parity.js';
import { parseConfig } from '../lib/checkpoint/config.js';
import { defaultScoreFunction } from '../lib/pipeline/predictions.js';
import type { StWriteTensor } from '../lib/io/safetensors.js';
import { caseDir, FIXTURES } from './helpers/fixtures.js';

const IMAGES = path.join(FIXTURES, 'images');
const e2e = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'e2e.safetensors')).tensors;
const files = [...e2e.keys()];

/** d2v-tiny with its config changed by `edit` (and, optionally, its classifier cut to `labels` rows). */
function variant(root: string, name: string, edit: (c: Record<string, unknown>) => void, labels?: number): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  const src = caseDir('d2v-tiny');
  const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit(config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.copyFileSync(path.join(src, 'preprocessor_config.json'), path.join(dir, 'preprocessor_config.json'));
  if (labels === undefined) {
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  } else {
    const t: Record<string, StWriteTensor> = {};
    for (const [k, v] of readSafetensorsFile(path.join(src, 'model.safetensors')).tensors) {
      const rows = k.startsWith('classifier.') ? labels : v.shape[0]!;
      const per = v.shape.slice(1).reduce((a, b) => a * b, 1);
      t[k] = { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: [rows, ...v.shape.slice(1)], data: v.data.slice(0, rows * per) };
    }
    writeSafetensorsFile(path.join(dir, 'model.safetensors'), t);
  }
  return dir;
}

const sig = (x: number) => 1 / (1 + Math.exp(-x));

describe('classification scores: function_to_apply as transformers\' pipeline applies it', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-scores-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('the default follows problem_type and the number of labels (ImageClassificationPipeline.postprocess)', () => {
    expect(defaultScoreFunction(null, 1000)).to.equal('softmax');
    expect(defaultScoreFunction('single_label_classification', 5)).to.equal('softmax');
    expect(defaultScoreFunction('regression', 5)).to.equal('softmax');
    expect(defaultScoreFunction('multi_label_classification', 5)).to.equal('sigmoid');
    expect(defaultScoreFunction(null, 1)).to.equal('sigmoid');
    expect(defaultScoreFunction('regression', 1)).to.equal('sigmoid');
    const base = { model_type: 'beit', hidden_size: 8, num_attention_heads: 2 };
    expect(parseConfig(JSON.stringify({ ...base, problem_type: 'multi_label_classification' })).problem_type).to.equal('multi_label_classification');
    expect(parseConfig(JSON.stringify({ ...base, problem_type: null })).problem_type).to.equal(null);
    expect(() => parseConfig(JSON.stringify({ ...base, problem_type: 'multilabel' }))).to.throw(
      /problem_type must be one of regression, single_label_classification, multi_label_classification \(or null\), got "multilabel"/);
  });

  it('multi_label_classification: every class scored by its sigmoid, ranked by it, within tolerance of the reference', async () => {
    const dir = variant(root, 'multi', (c) => { c.problem_type = 'multi_label_classification'; });
    const model = await loadModel(dir, { backend: 'cpu' });
    try {
      expect(model.scoreFunction).to.equal('sigmoid');
      const L = model.numLabels;
      const preds = await model.classify(files.map((f) => path.join(IMAGES, f)), { topK: L, batchSize: 3 });
      preds.forEach((p, i) => {
        const ref = e2e.get(files[i]!)!.data as Float32Array;
        const tol = toleranceFor(ref);
        expect(p).to.have.length(L);
        expect(p.reduce((a, x) => a + x.score, 0), 'sigmoids do not sum to 1').to.be.greaterThan(1.5);
        p.forEach((x, k) => {
          expect(Math.abs(x.score - sig(ref[x.index]!)), `${files[i]} class ${x.index}`).to.be.at.most(tol);
          if (k) expect(x.score).to.be.at.most(p[k - 1]!.score);
        });
      });
      // Asked for explicitly, softmax and raw logits are still there.
      const [soft] = await model.classify([path.join(IMAGES, files[0]!)], { topK: 2, functionToApply: 'softmax' });
      const [raw] = await model.classify([path.join(IMAGES, files[0]!)], { topK: 2, functionToApply: 'none' });
      const ref = e2e.get(files[0]!)!.data as Float32Array;
      const mx = Math.max(...ref), z = Array.from(ref).reduce((a, v) => a + Math.exp(v - mx), 0);
      expect(Math.abs(soft![0]!.score - Math.exp(ref[soft![0]!.index]! - mx) / z)).to.be.at.most(toleranceFor(ref));
      expect(Math.abs(raw![0]!.score - ref[raw![0]!.index]!)).to.be.at.most(toleranceFor(ref));
      expect(raw![0]!.index).to.equal(soft![0]!.index);
      let err = '';
      await model.classify([path.join(IMAGES, files[0]!)], { functionToApply: 'relu' as never }).catch((e: Error) => { err = e.message; });
      expect(err).to.equal('functionToApply must be one of softmax, sigmoid, none, got "relu".');
    } finally { model.dispose(); }
  });

  it('a single-class head is scored by a sigmoid (a softmax would always say 1)', async () => {
    const dir = variant(root, 'one', (c) => { c.id2label = { 0: 'positive' }; c.label2id = { positive: 0 }; }, 1);
    const model = await loadModel(dir, { backend: 'cpu' });
    try {
      expect(model.numLabels).to.equal(1);
      expect(model.scoreFunction).to.equal('sigmoid');
      const p = (await model.classify([path.join(IMAGES, files[0]!)]))[0]![0]!;
      const ref = e2e.get(files[0]!)!.data as Float32Array; // row 0 of the classifier is the same
      expect(p.label).to.equal('positive');
      expect(Math.abs(p.score - sig(ref[0]!))).to.be.at.most(toleranceFor(ref));
      expect(p.score).to.be.below(1 - 1e-3);
    } finally { model.dispose(); }
  });

  it('CLI: --function-to-apply overrides the default, a wrong value is a usage error', () => {
    const dir = variant(root, 'cli', (c) => { c.problem_type = 'multi_label_classification'; });
    const file = path.join(IMAGES, files[0]!);
    const ref = e2e.get(files[0]!)!.data as Float32Array;
    const cli = (...a: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', 'classify', file, '--model', dir, '--backend', 'cpu', '--json', ...a], { encoding: 'utf8' });
    const byDefault = JSON.parse(cli('--top-k', '1').stdout) as [{ predictions: [{ score: number; index: number }] }];
    expect(Math.abs(byDefault[0].predictions[0].score - sig(ref[byDefault[0].predictions[0].index]!))).to.be.at.most(toleranceFor(ref));
    const none = JSON.parse(cli('--top-k', '1', '--function-to-apply', 'none').stdout) as typeof byDefault;
    expect(Math.abs(none[0].predictions[0].score - ref[none[0].predictions[0].index]!)).to.be.at.most(toleranceFor(ref));
    const bad = cli('--function-to-apply', 'max');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.contain('--function-to-apply must be one of softmax, sigmoid, none, got "max".');
  });
});
