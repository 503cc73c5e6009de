#!/usr/bin/env node
// Checks the ONNX exporter against PyTorch itself: exports each classification fixture of spec/fixtures
// (logits stored from transformers' float64 forward), runs it in onnxruntime-node on the fixture's
// pixel_values and prints max |Δlogit| / max |logit|. Tiny models: takes a second or two.
//
// Usage: node tools/onnx/check-fixtures.mjs --ort <onnxruntime-node dir>   (or ORT_NODE_PATH)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportCheckpoint, readSafetensors } from './export-beit.mjs';
import { loadOrt, ORT_INSTALL_HINT } from './ort.mjs';

const i = process.argv.indexOf('--ort');
const loaded = loadOrt(i >= 0 ? process.argv[i + 1] : process.env.ORT_NODE_PATH);
if (!loaded.ort) {
  console.error(`check-fixtures: ${loaded.reason}\n\n${ORT_INSTALL_HINT}`);
  process.exit(2);
}
const { ort } = loaded;
const fixtures = fileURLToPath(new URL('../../spec/fixtures/', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-onnx-'));
let worst = 0;
try {
  for (const name of fs.readdirSync(fixtures).sort()) {
    const dir = path.join(fixtures, name);
    const expectedFile = path.join(dir, 'expected.safetensors');
    if (!fs.existsSync(expectedFile)) continue;
    const expected = readSafetensors(expectedFile).get('logits');
    if (!expected) { console.log(`${name.padEnd(20)} skipped (no logits: not a classifier)`); continue; }
    const file = path.join(tmp, `${name}.onnx`);
    exportCheckpoint(dir, file);
    const px = readSafetensors(path.join(dir, 'inputs.safetensors')).get('pixel_values');
    const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
    const out = await session.run({ pixel_values: new ort.Tensor('float32', px.data, px.shape) });
    const got = out.logits.data;
    let maxDiff = 0, maxAbs = 0;
    for (let k = 0; k < got.length; k++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[k] - expected.data[k]));
      maxAbs = Math.max(maxAbs, Math.abs(expected.data[k]));
    }
    await session.release();
    const rel = maxDiff / maxAbs;
    worst = Math.max(worst, rel);
    console.log(`${name.padEnd(20)} logits [${out.logits.dims}]  max |Δlogit| ${maxDiff.toExponential(2)}  max |logit| ${maxAbs.toFixed(3)}  relative ${rel.toExponential(2)}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
if (worst > 1e-4) {
  console.error(`check-fixtures: relative difference ${worst.toExponential(2)} > 1e-4`);
  process.exit(1);
}
