/** `beit parity`: a checkpoint's outputs against reference tensors computed with transformers. */
import path from 'node:path';
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { parseFlags, UserError, EXIT_USAGE, type Command } from '../command.js';
import { loadModelForCli } from '../backend-note.js';
import { readSafetensorsFile } from '../../node/safetensors-file.js';
import { compareOutputs, type ProducedOutputs } from '../../checkpoint/parity.js';
import { disposeOutput } from '../../model/model.js';

const usage = `
Usage: beit parity <model-dir> [options]

Runs the checkpoint on stored pixel_values and compares every stored output tensor it knows
(logits, pooler_output, last_hidden_state, hidden_states.<i>, attentions.<i>) with the tolerance
1e-4 * max(1, max|ref|). A stored tensor the engine cannot produce counts as a failure.

Options:
  --inputs <file>     safetensors with pixel_values [N,C,H,W]  (default: <model-dir>/inputs.safetensors)
  --expected <file>   safetensors with reference outputs       (default: <model-dir>/expected.safetensors)
  --backend <name>    native | tensorflow | wasm | cpu          (default: $BEIT_BACKEND or the fastest available)
  --json              print {"ok", "backend", "tensors": [{"name","shape","maxAbsError","tolerance","ok","note"?}]}
                      (maxAbsError null for a non-finite value; note says why a tensor failed)
  --verbose           show stack traces on errors
  -h, --help          this help

Exit code: 0 when every tensor passes, 1 otherwise.
`;

export const parity: Command = {
  name: 'parity',
  summary: 'compare a checkpoint\'s outputs with reference tensors from Python',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      inputs: { type: 'string' }, expected: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UserError('expected exactly one <model-dir>. See --help.', EXIT_USAGE);
    const dir = positionals[0]!;
    const inputs = (values.inputs as string | undefined) ?? path.join(dir, 'inputs.safetensors');
    const expectedFile = (values.expected as string | undefined) ?? path.join(dir, 'expected.safetensors');
    for (const f of [inputs, expectedFile]) if (!fs.existsSync(f)) throw new UserError(`${f}: no such file.`);
    const model = await loadModelForCli(dir, values.backend as string | undefined);
    try {
      const pixels = readSafetensorsFile(inputs).tensors.get('pixel_values');
      if (!pixels || pixels.dtype !== 'float32' || pixels.shape.length !== 4) {
        throw new UserError(`${inputs}: needs a float tensor "pixel_values" [N,C,H,W].`);
      }
      const expected = readSafetensorsFile(expectedFile).tensors;
      for (const [k, t] of expected) if (t.dtype !== 'float32') throw new UserError(`${expectedFile}: tensor "${k}" is ${t.dtype}, expected float.`);
      const wantAttn = [...expected.keys()].some((k) => k.startsWith('attentions.'));
      const wantHidden = [...expected.keys()].some((k) => k.startsWith('hidden_states.'));
      const out = model.forward({ data: pixels.data as Float32Array, shape: pixels.shape as [number, number, number, number] },
        { outputAttentions: wantAttn, outputHiddenStates: wantHidden });
      const produced = new Map<string, { shape: readonly number[]; data: Float32Array }>();
      const put = (name: string, t?: tf.Tensor) => { if (t) produced.set(name, { shape: t.shape, data: t.dataSync() as Float32Array }); };
      put('logits', out.logits);
      put('pooler_output', out.pooledOutput);
      put('last_hidden_state', out.lastHiddenState);
      out.hiddenStates?.forEach((t, i) => put(`hidden_states.${i}`, t));
      out.attentions?.forEach((t, i) => put(`attentions.${i}`, t));
      disposeOutput(out);
      const rows = compareOutputs(produced as ProducedOutputs, expected);
      const ok = rows.length > 0 && rows.every((r) => r.ok);
      if (values.json) {
        const tensors = rows.map((r) => ({ ...r, maxAbsError: Number.isFinite(r.maxAbsError) ? r.maxAbsError : null }));
        process.stdout.write(JSON.stringify({ ok, backend: model.backend, tensors }, null, 2) + '\n');
      } else {
        const w = Math.max(4, ...rows.map((r) => r.name.length));
        process.stdout.write(`${'name'.padEnd(w)}  ${'shape'.padEnd(16)} ${'max abs err'.padStart(11)}  ${'tolerance'.padStart(9)}  pass\n`);
        for (const r of rows) {
          process.stdout.write(`${r.name.padEnd(w)}  ${`[${r.shape}]`.padEnd(16)} ${r.maxAbsError.toExponential(2).padStart(11)}  ` +
            `${r.tolerance.toExponential(1).padStart(9)}  ${r.ok ? 'ok' : 'FAIL'}${r.note ? `  (${r.note})` : ''}\n`);
        }
        process.stdout.write(ok ? `all ${rows.length} tensors within tolerance\n` : `${rows.filter((r) => !r.ok).length} of ${rows.length} tensors FAIL\n`);
      }
      return ok ? 0 : 1;
    } finally {
      model.dispose();
    }
  },
};
