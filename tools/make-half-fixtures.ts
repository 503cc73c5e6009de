/**
 * Regenerates the half-precision fixture checkpoints `spec/fixtures/d2v-tiny-f16/` and
 * `spec/fixtures/d2v-tiny-bf16/` from `spec/fixtures/d2v-tiny/pytorch_model.bin` with the project's
 * own converter (`beit convert --dtype`), so the model's float16/bfloat16 loading can be tested
 * against the float32 reference outputs of `d2v-tiny`. Run from the project root after building:
 *   node dist/tools/make-half-fixtures.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { convertCheckpoint, type FloatDtype } from '../lib/node/convert.js';

const src = path.resolve('spec/fixtures/d2v-tiny');
const targets: Array<[string, FloatDtype]> = [['d2v-tiny-f16', 'float16'], ['d2v-tiny-bf16', 'bfloat16']];
for (const [name, dtype] of targets) {
  const out = path.resolve('spec/fixtures', name);
  fs.rmSync(out, { recursive: true, force: true });
  const r = convertCheckpoint(src, out, { dtype, quiet: true });
  process.stdout.write(`${name}: ${r.tensors} tensors, ${r.bytes} bytes -> ${r.files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
}
