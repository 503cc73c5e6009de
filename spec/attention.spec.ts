/**
 * Attention maps: the CLS-to-patch attention (mean over heads) against the reference attentions
 * stored in the fixtures, the overlay drawing, and the `beit attention` CLI.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { toleranceFor } from '../lib/checkpoint/parity.js';
import { attentionForPixels, attentionMapsOf, resolveLayer } from '../lib/pipeline/attention.js';
import { jet, modelRegion, overlayAttention } from '../lib/pipeline/attention-overlay.js';
import { parseProcessorConfig } from '../lib/image/processor.js';
import { caseDir, expectedOf, FIXTURES, inputsOf } from './helpers/fixtures.js';

/** Reference map from a stored `[B, H, T, T]` attention: image b, CLS row, patch columns, mean over heads. */
function referenceMap(att: Float32Array, shape: readonly number[], b: number): Float32Array {
  const [, H, T] = shape as [number, number, number, number];
  const out = new Float32Array(T - 1);
  for (let h = 0; h < H; h++) {
    for (let j = 1; j < T; j++) out[j - 1]! += att[((b * H + h) * T + 0) * T + j]! / H;
  }
  return out;
}

describe('attention maps (CLS -> patches, mean over heads)', () => {
  for (const c of ['d2v-tiny', 'vit-tiny', 'd2v-tiny-backbone']) {
    it(`${c}: a map per layer, both images of the batch, equal to the reference attentions where stored, no leaks`, async () => {
      const model = await loadModel(caseDir(c), { backend: 'wasm', onWarning: () => {}, onNotice: () => {} });
      try {
        const input = inputsOf(c);
        const expected = expectedOf(c);
        const before = tf.memory().numTensors;
        const out = model.forward(input, { outputAttentions: true });
        for (let b = 0; b < input.shape[0]; b++) {
          const maps = await attentionMapsOf(model, out, b);
          expect(maps).to.have.length(model.config.num_hidden_layers);
          maps.forEach((m, i) => {
            const ref = expected.get(`attentions.${i}`);
            expect(m.values.every((v) => v >= 0 && v <= 1)).to.equal(true);
            const sum = m.values.reduce((a, v) => a + v, 0); // 1 minus the CLS-to-CLS share
            expect(sum).to.be.within(0, 1 + 1e-5);
            if (!ref) return; // only d2v-tiny stores attentions
            const want = referenceMap(ref.data as Float32Array, ref.shape, b);
            expect(m.layer).to.equal(i);
            expect(m.gridHeight * m.gridWidth).to.equal(want.length);
            const err = Math.max(...Array.from(m.values, (v, k) => Math.abs(v - want[k]!)));
            expect(err, `${c} layer ${i} image ${b}`).to.be.at.most(toleranceFor(want));
          });
        }
        for (const t of [out.logits, out.pooledOutput, out.lastHiddenState, ...out.attentions!]) t?.dispose();
        const one = await attentionForPixels(model, input.data.subarray(0, input.data.length / input.shape[0]));
        expect(one.maps).to.have.length(model.config.num_hidden_layers);
        expect(Boolean(one.logits)).to.equal(model.hasHead);
        expect(tf.memory().numTensors).to.equal(before);
      } finally { model.dispose(); }
    });
  }

  it('resolveLayer: default last, negative from the end, out of range refused', async () => {
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    try {
      expect(resolveLayer(model, undefined)).to.equal(1);
      expect(resolveLayer(model, -2)).to.equal(0);
      expect(() => resolveLayer(model, 2)).to.throw(/0\.\.1/);
      expect(() => resolveLayer(model, 0.5)).to.throw(/integer/);
    } finally { model.dispose(); }
  });
});

describe('attention overlay', () => {
  const image = { width: 8, height: 4, data: new Uint8Array(8 * 4 * 3).fill(100) };
  const map = { layer: 0, gridHeight: 1, gridWidth: 2, values: Float32Array.of(0.1, 0.9) };

  it('has the image size, is opaque, blends jet colours: blue where low, red where high', () => {
    const o = overlayAttention(image, map, { alpha: 1 });
    expect([o.width, o.height, o.data.length]).to.deep.equal([8, 4, 8 * 4 * 4]);
    for (let i = 3; i < o.data.length; i += 4) expect(o.data[i]).to.equal(255);
    expect(Array.from(o.data.subarray(0, 3))).to.deep.equal(jet(0)); // left edge: the low cell
    expect(Array.from(o.data.subarray(7 * 4, 7 * 4 + 3))).to.deep.equal(jet(1)); // right edge: the high cell
    const none = overlayAttention(image, map, { alpha: 0 });
    expect(Array.from(none.data.subarray(0, 4))).to.deep.equal([100, 100, 100, 255]);
  });

  it('dims what the centre crop removed; the region follows the processor', () => {
    const cfg = parseProcessorConfig({ image_processor_type: 'BeitImageProcessor', size: { shortest_edge: 4 }, do_center_crop: true, crop_size: { height: 4, width: 4 } });
    const r = modelRegion(cfg, 8, 4); // resize to 8x4 (short edge 4), crop the middle 4x4
    expect(r).to.deep.equal({ x: 2, y: 0, width: 4, height: 4 });
    const o = overlayAttention(image, map, { region: r, dim: 0.5 });
    expect(o.data[0]).to.equal(50); // outside: dimmed
    expect(o.data[2 * 4 + 2]).to.equal(114); // inside: 0.5 * 100 + 0.5 * jet(0).blue (128)
    expect(modelRegion(parseProcessorConfig({ image_processor_type: 'ViTImageProcessor' }), 640, 480)).to.deep.equal({ x: 0, y: 0, width: 640, height: 480 });
  });
});

describe('beit attention CLI', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', 'attention', ...args], { encoding: 'utf8' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-attn-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const img = path.join(FIXTURES, 'images', 'chelsea.png');

  it('writes a PNG of the image size for the last layer by default (--json summary)', () => {
    const out = path.join(tmp, 'overlay.png');
    const r = cli(img, '--model', caseDir('d2v-tiny'), '--out', out, '--json', '--backend', 'cpu');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/backend: cpu/);
    const summary = JSON.parse(r.stdout);
    expect(summary).to.include({ out, layer: 1, layers: 2, width: 451, height: 300 });
    const png = PNG.sync.read(fs.readFileSync(out));
    expect([png.width, png.height]).to.deep.equal([451, 300]);
    const layer0 = path.join(tmp, 'layer0.png');
    expect(cli(img, '--model', caseDir('d2v-tiny'), '--out', layer0, '--layer', '0').status).to.equal(0);
    expect(Buffer.compare(fs.readFileSync(out), fs.readFileSync(layer0))).to.not.equal(0);
  });

  it('usage errors exit 2 and write nothing', () => {
    const out = path.join(tmp, 'never.png');
    for (const extra of [['--layer', '7'], ['--layer', 'x'], ['--alpha', '2']]) {
      const r = cli(img, '--model', caseDir('d2v-tiny'), '--out', out, ...extra);
      expect(r.status, extra.join(' ')).to.equal(2);
      expect(r.stderr).to.match(/--(layer|alpha)/);
    }
    expect(cli(img, '--out', out).status).to.equal(2);
    expect(fs.existsSync(out)).to.equal(false);
  });
});
