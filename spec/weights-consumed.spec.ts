/**
 * Proof that every stored weight tensor is consumed: perturbing any one of them changes the
 * outputs (except the tensors case.json declares without effect, e.g. ViT's key bias, which softmax
 * cancels), and no tensor is reported unused.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../lib/backend/select.js';
import { buildModel } from '../lib/checkpoint/build.js';
import { readCheckpointDir } from '../lib/node/checkpoint-dir.js';
import type { HostTensor } from '../lib/io/safetensors.js';
import { disposeOutput } from '../lib/model/model.js';
import { MODEL_CASES, caseDir, inputsOf } from './helpers/fixtures.js';

describe('every stored weight is consumed', () => {
  before(async () => { await selectBackend('cpu'); });

  for (const c of MODEL_CASES) {
    it(`${c}: each float tensor moves the outputs, none unused`, () => {
      const files = readCheckpointDir(caseDir(c));
      const meta = JSON.parse(fs.readFileSync(path.join(caseDir(c), 'case.json'), 'utf8'));
      const noEffect = new Set<string>(Object.entries(meta).filter(([k]) => k.startsWith('tensors_without_effect')).flatMap(([, v]) => v as string[]));
      const input = inputsOf(c);
      const run = (tensors: Map<string, HostTensor>): Float32Array => {
        const warnings: string[] = [];
        const model = buildModel(files.configText, 'config.json', tensors, c, { onWarning: (m) => warnings.push(m) });
        expect(warnings, 'unused tensors').to.deep.equal([]);
        const out = model.forward(input, { outputHiddenStates: true });
        const flat = tf.tidy(() => tf.concat([...out.hiddenStates!.map((h) => tf.reshape(h, [-1])), tf.reshape(out.lastHiddenState, [-1]), ...(out.logits ? [tf.reshape(out.logits, [-1])] : []),
          ...(out.pooledOutput ? [tf.reshape(out.pooledOutput, [-1])] : [])]));
        const data = flat.dataSync() as Float32Array;
        flat.dispose(); disposeOutput(out); model.dispose();
        return data;
      };
      const base = run(files.tensors);
      let checked = 0;
      for (const [name, t] of files.tensors) {
        if (t.dtype !== 'float32') continue; // int64 relative_position_index buffers are checked, not used
        const bumped = new Map(files.tensors);
        bumped.set(name, { ...t, data: (t.data as Float32Array).map((v, i) => v + 0.05 * Math.sin(i + 1)) });
        const changed = run(bumped).some((v, i) => Math.abs(v - base[i]!) > 1e-6);
        expect(changed, `${name} ${noEffect.has(name) ? 'is declared without effect' : 'has no effect on the outputs'}`).to.equal(!noEffect.has(name));
        checked++;
      }
      expect(checked).to.be.greaterThan(10);
    });
  }
});
