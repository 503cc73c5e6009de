/** Resize + processor: every fixture × processor bit-exact vs Pillow/transformers, config validation, CLI. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSafetensorsFile } from '../lib/node/safetensors-file.js';
import { axisCoefficients, nearestIndices, resize, resizeGeneral } from '../lib/image/resample.js';
import {
  centerCrop, defaultProcessorConfig, parseProcessorConfig, preprocess, ProcessorError, resizeOutputSize,
  type ProcessorConfig,
} from '../lib/image/processor.js';
import { readImageFile } from '../lib/node/image-file.js';
import { readProcessorConfigFile } from '../lib/node/processor-file.js';
import { extraImageIndex, IMAGES, IMAGES_EXTRA, imageIndex, sha256 } from './image-fixtures.js';

const PROCESSORS = ['d2v-ft1k', 'beit-default', 'vit-default'];
const configFor = (p: string): ProcessorConfig => readProcessorConfigFile(path.join(IMAGES, `preprocessor_config.${p}.json`));

function expectProcessorError(f: () => unknown, pattern: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(ProcessorError);
    expect((e as Error).name).to.equal('ProcessorError');
    expect((e as Error).message).to.match(pattern);
    return;
  }
  throw new Error('expected a ProcessorError');
}

describe('image preprocessing', () => {
  describe('resize equals Pillow 9.4 for all six filters, up, down and to extreme shapes', () => {
    const { resized } = JSON.parse(fs.readFileSync(path.join(IMAGES_EXTRA, 'resize.json'), 'utf8')) as { resized: Record<string, string> };
    const bySource = new Map<string, [string, string][]>();
    for (const [key, want] of Object.entries(resized)) {
      const src = key.split('/')[0]!;
      bySource.set(src, [...(bySource.get(src) ?? []), [key, want]]);
    }
    for (const [src, cases] of bySource) {
      it(`${src}: ${cases.length} (size, filter) pairs`, async () => {
        const img = await readImageFile(path.join(src === 'chelsea.png' ? IMAGES : IMAGES_EXTRA, src));
        const wrong = cases.filter(([key, want]) => {
          const [, wh, f] = key.split('/');
          const [w, h] = wh!.split('x').map(Number);
          return sha256(resize(img, w!, h!, Number(f) as 0 | 1 | 2 | 3 | 4 | 5).data) !== want;
        }).map(([key]) => key);
        expect(wrong).to.deep.equal([]);
      });
    }
  });

  describe('more encodings x processor equal Pillow 9.4 (CMYK JPEG, subsampling, odd sizes, EXIF, PNG modes)', () => {
    for (const [file, info] of Object.entries(extraImageIndex())) {
      it(file, async () => {
        const img = await readImageFile(path.join(IMAGES_EXTRA, file));
        for (const proc of PROCESSORS) {
          const r = preprocess(img, configFor(proc));
          expect([r.height, r.width, 3], proc).to.deep.equal(info.processed[proc]!.shape);
          expect(sha256(r.u8), proc).to.equal(info.processed[proc]!.sha256);
        }
      });
    }
  });

  describe('every fixture x processor equals Pillow + transformers', () => {
    const expected = readSafetensorsFile(path.join(IMAGES, 'expected.safetensors')).tensors;
    for (const [file, info] of Object.entries(imageIndex())) {
      for (const proc of PROCESSORS) {
        it(`${file} / ${proc}`, async () => {
          const want = info.processed[proc]!;
          const cfg = configFor(proc);
          const r = preprocess(await readImageFile(path.join(IMAGES, file)), cfg);
          expect([r.height, r.width, 3]).to.deep.equal(want.shape);
          const full = expected.get(`${file}/${proc}`);
          if (full) {
            const ref = full.data as Uint8Array;
            let diff = 0;
            for (let i = 0; i < ref.length; i++) if (ref[i] !== r.u8[i]) diff++;
            expect(diff, 'differing uint8 values vs expected.safetensors').to.equal(0);
          }
          expect(sha256(r.u8)).to.equal(want.sha256);
          // pixel_values = (u8/255 − mean)/std, CHW, float32 like numpy.
          const plane = r.height * r.width;
          expect(r.pixelValues.length).to.equal(3 * plane);
          let worst = 0;
          for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) {
            const ref = (Math.fround(r.u8[i * 3 + c]! / 255) - Math.fround(cfg.image_mean[c])) / Math.fround(cfg.image_std[c]);
            worst = Math.max(worst, Math.abs(r.pixelValues[c * plane + i]! - ref));
          }
          expect(worst).to.be.below(1e-6);
        });
      }
    }
  });

  describe('resample', () => {
    it('reproduces the worked BICUBIC example of pillow-resample.md §7 (451 → 224, column 100)', () => {
      const ax = axisCoefficients(451, 224, 3);
      const o = 100;
      expect([ax.start[o], ax.count[o]]).to.deep.equal([198, 8]);
      expect(Array.from(ax.coeffs.subarray(o * ax.stride, o * ax.stride + 8)))
        .to.deep.equal([-7645, -148150, 113616, 1395537, 2054124, 960646, -62943, -110881]);
      expect([ax.start[0], ax.count[0]]).to.deep.equal([0, 5]);
      const edge = Array.from(ax.coeffs.subarray(0, 5)).reduce((a, b) => a + b, 0);
      expect(edge).to.equal(4194303);
    });
    it('the §7 pixel: horizontal pass only (451x300 → 224x300) gives R = 111 at row 0, column 100', async () => {
      const img = await readImageFile(path.join(IMAGES, 'chelsea.png'));
      const r = resize(img, 224, 300, 3);
      expect(r.data[100 * 3]).to.equal(111);
    });
    it('NEAREST uses the running sum (2 → 7)', () => {
      let pos = (2 / 7) * 0.5;
      const want: number[] = [];
      for (let o = 0; o < 7; o++) { want.push(Math.trunc(pos)); pos += 2 / 7; }
      expect(Array.from(nearestIndices(2, 7))).to.deep.equal(want);
    });
    it('unchanged size returns an equal copy; a one-axis resize changes only that axis', async () => {
      const img = await readImageFile(path.join(IMAGES, 'chelsea.png'));
      const same = resize(img, 451, 300, 1);
      expect(same.data).to.not.equal(img.data);
      expect(Buffer.from(same.data).equals(Buffer.from(img.data))).to.equal(true);
      expect([resize(img, 451, 100, 5).width, resize(img, 100, 300, 4).height]).to.deep.equal([451, 300]);
    });
    it('a gray RGB image (R = G = B, as a bilevel or gray scan) resizes to the bytes of the general path', async () => {
      // resize() resamples one channel of such an image and copies it to the three: compare it with every
      // channel resampled, for each filter, down and up, one axis or both, on scan-like and random images.
      let seed = 5;
      const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };
      const grayRgb = (w: number, h: number, level: (x: number, y: number) => number) => {
        const data = new Uint8Array(w * h * 3);
        for (let y = 0, o = 0; y < h; y++) for (let x = 0; x < w; x++, o += 3) data[o] = data[o + 1] = data[o + 2] = level(x, y);
        return { width: w, height: h, data };
      };
      const images = [
        grayRgb(613, 877, (x, y) => ((x >> 3) + (y >> 4)) % 7 === 0 ? 0 : 255), // bilevel "text"
        grayRgb(97, 131, () => Math.floor(rnd() * 256)), // random levels: rounding and clipping everywhere
        grayRgb(1, 5, (_x, y) => y * 60),
        grayRgb(40, 1, (x) => (x * 37) % 256),
      ];
      const chelsea = await readImageFile(path.join(IMAGES, 'chelsea.png'));
      images.push(grayRgb(chelsea.width, chelsea.height, (x, y) => chelsea.data[(y * chelsea.width + x) * 3 + 1]!));
      let compared = 0;
      for (const img of images) {
        const sizes: [number, number][] = [[224, 224], [img.width, 224], [224, img.height], [Math.max(1, img.width >> 3), 3],
          [img.width * 2 + 1, img.height + 3], [1, 1]];
        for (const [w, h] of sizes) {
          for (const f of [0, 1, 2, 3, 4, 5] as const) {
            const fast = resize(img, w, h, f), ref = resizeGeneral(img, w, h, f);
            expect([fast.width, fast.height]).to.deep.equal([ref.width, ref.height]);
            expect(Buffer.from(fast.data).equals(Buffer.from(ref.data)), `${img.width}x${img.height} -> ${w}x${h} filter ${f}`).to.equal(true);
            compared++;
          }
        }
      }
      expect(compared).to.equal(5 * 6 * 6);
      // One non-gray pixel (the very last) takes the general path: its colour must survive.
      const almost = grayRgb(300, 200, (x, y) => (x * y) % 256);
      almost.data[almost.data.length - 1] = 7;
      const r = resize(almost, 30, 20, 2);
      expect(Buffer.from(r.data).equals(Buffer.from(resizeGeneral(almost, 30, 20, 2).data))).to.equal(true);
      expect(r.data[r.data.length - 1]).to.not.equal(r.data[r.data.length - 2]);
    });
    it('the int32 horizontal loop gives the bytes of the double-precision one (photos, noise, every filter)', async () => {
      const chelsea = await readImageFile(path.join(IMAGES, 'chelsea.png'));
      const cats = await readImageFile(path.join(IMAGES, 'coco_cats_q90.jpg'));
      const noise = { width: 203, height: 57, data: new Uint8Array(203 * 57 * 3) };
      let seed = 12345;
      for (let i = 0; i < noise.data.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; noise.data[i] = seed >>> 24; }
      const extremes = { width: 97, height: 3, data: Uint8Array.from({ length: 97 * 9 }, (_, i) => ((i / 3) | 0) % 2 ? 255 : 0) };
      let compared = 0;
      for (const img of [chelsea, cats, noise, extremes]) {
        const sizes: [number, number][] = [[224, 224], [256, img.height], [Math.max(1, img.width >> 4), 5], [img.width * 3 + 1, 2], [1, 1]];
        for (const [w, h] of sizes) {
          for (const f of [1, 2, 3, 4, 5] as const) {
            const fast = resizeGeneral(img, w, h, f), ref = resizeGeneral(img, w, h, f, false);
            expect(Buffer.from(fast.data).equals(Buffer.from(ref.data)), `${img.width}x${img.height} -> ${w}x${h} filter ${f}`).to.equal(true);
            compared++;
          }
        }
      }
      expect(compared).to.equal(4 * 5 * 5);
    });
    // Typically ~20 ms on one core; the bound is loose because CI machines are shared and noisy.
    it('decode + resize of a 640x480 JPEG is fast (logs the time)', async function () {
      const cfg = configFor('beit-default');
      const file = path.join(IMAGES, 'coco_cats_q90.jpg');
      preprocess(await readImageFile(file), cfg); // warm-up (wasm compile, JIT)
      const runs = 10;
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) preprocess(await readImageFile(file), cfg);
      const ms = (performance.now() - t0) / runs;
      console.log(`      decode + resize 256 bicubic + crop + normalize of 640x480 JPEG: ${ms.toFixed(1)} ms`);
      expect(ms).to.be.below(200);
    });
  });

  describe('processor config', () => {
    it('reads the 2022 feature-extractor format (int size = (size, size), defaults filled)', () => {
      const c = configFor('d2v-ft1k');
      expect(c).to.deep.include({
        image_processor_type: 'BeitFeatureExtractor', do_resize: true, size: { height: 224, width: 224 }, resample: 3,
        do_center_crop: false, crop_size: { height: 224, width: 224 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true,
      });
      expect(Object.isFrozen(c)).to.equal(true);
    });
    it('reads the *ImageProcessorFast configs of newer transformers (nulls = class defaults) with Pillow semantics', async () => {
      // As ViTImageProcessorFast.save_pretrained writes it (transformers 4.5x).
      const fast = parseProcessorConfig({
        crop_size: null, default_to_square: true, do_center_crop: null, do_convert_rgb: null, do_normalize: true, do_rescale: true,
        do_resize: true, image_mean: [0.5, 0.5, 0.5], image_processor_type: 'ViTImageProcessorFast', image_std: [0.5, 0.5, 0.5],
        resample: 2, rescale_factor: 0.00392156862745098, size: { height: 224, width: 224 },
      });
      const { image_processor_type: t1, ...rest } = fast;
      const { image_processor_type: t2, ...slow } = configFor('vit-default');
      expect([t1, t2]).to.deep.equal(['ViTImageProcessorFast', 'ViTImageProcessor']);
      expect(rest).to.deep.equal(slow);
      // BeitImageProcessorFast's own class defaults (224x224, no crop) differ from BeitImageProcessor's (256, crop 224).
      const beitFast = parseProcessorConfig({ image_processor_type: 'BeitImageProcessorFast', do_center_crop: null, crop_size: null, resample: null });
      expect(beitFast).to.deep.include({ size: { height: 224, width: 224 }, resample: 3, do_center_crop: false, crop_size: { height: 224, width: 224 } });
      expect(parseProcessorConfig({ image_processor_type: 'DeiTImageProcessorFast', do_center_crop: null }))
        .to.deep.include({ size: { height: 256, width: 256 }, resample: 3, do_center_crop: true });
      // ViTImageProcessorFast has the base class's center crop (off unless the JSON turns it on).
      expect(parseProcessorConfig({ image_processor_type: 'ViTImageProcessorFast', do_center_crop: true, crop_size: 200 }))
        .to.deep.include({ do_center_crop: true, crop_size: { height: 200, width: 200 } });
      // Loading a checkpoint with one says which semantics run.
      const { loadModel } = await import('../lib/node/load.js');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fastproc-'));
      const src = path.resolve('spec/fixtures/d2v-tiny');
      for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(src, f), path.join(dir, f));
      const cfg = JSON.parse(fs.readFileSync(path.join(src, 'preprocessor_config.json'), 'utf8'));
      fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ ...cfg, image_processor_type: 'BeitImageProcessorFast' }));
      const notices: string[] = [];
      const model = await loadModel(dir, { backend: 'cpu', onNotice: (m) => notices.push(m), onWarning: () => {} });
      model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
      expect(notices).to.have.length(1);
      expect(notices[0]).to.match(/names BeitImageProcessorFast: images are preprocessed as BeitImageProcessor does/);
    });
    it('reads the current format and class defaults', () => {
      expect(configFor('beit-default')).to.deep.include({ size: { height: 256, width: 256 }, do_center_crop: true });
      const beit = parseProcessorConfig({ image_processor_type: 'BeitImageProcessor' });
      expect(beit).to.deep.include({ size: { height: 256, width: 256 }, resample: 3, do_center_crop: true, crop_size: { height: 224, width: 224 } });
      const vit = parseProcessorConfig('{"feature_extractor_type": "ViTFeatureExtractor", "size": 384, "do_center_crop": true}');
      expect(vit).to.deep.include({ size: { height: 384, width: 384 }, resample: 2, do_center_crop: false });
      expect(vit.image_mean).to.deep.equal([0.5, 0.5, 0.5]);
      expect(parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', size: [200, 300] }).size).to.deep.equal({ height: 200, width: 300 });
      expect(parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', image_mean: 0.4 }).image_mean).to.deep.equal([0.4, 0.4, 0.4]);
    });
    it('DeiT processors (facebook/deit-* checkpoints, model_type vit) have BeitImageProcessor\'s steps and defaults', () => {
      // As facebook/deit-base-patch16-224 saves it.
      const deit = parseProcessorConfig({ crop_size: 224, do_center_crop: true, do_normalize: true, do_resize: true,
        feature_extractor_type: 'DeiTFeatureExtractor', image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225],
        resample: 3, size: 256 });
      expect(deit).to.deep.include({ image_processor_type: 'DeiTFeatureExtractor', size: { height: 256, width: 256 }, resample: 3,
        do_center_crop: true, crop_size: { height: 224, width: 224 } });
      expect(parseProcessorConfig({ image_processor_type: 'DeiTImageProcessor' })).to.deep.include({
        size: { height: 256, width: 256 }, resample: 3, do_center_crop: true, crop_size: { height: 224, width: 224 }, image_mean: [0.5, 0.5, 0.5] });
      const img = { width: 300, height: 280, data: Uint8Array.from({ length: 300 * 280 * 3 }, (_, i) => (i * 7) % 256) };
      const a = preprocess(img, deit);
      const b = preprocess(img, parseProcessorConfig({ image_processor_type: 'BeitImageProcessor', image_mean: [0.485, 0.456, 0.406],
        image_std: [0.229, 0.224, 0.225] }));
      expect([a.height, a.width]).to.deep.equal([224, 224]);
      expect(Buffer.from(a.pixelValues.buffer).equals(Buffer.from(b.pixelValues.buffer))).to.equal(true);
    });
    it('a config naming no processor class takes the model family\'s, as AutoImageProcessor does', async () => {
      expect(parseProcessorConfig({ size: 224 }, 'p.json', 'beit')).to.deep.include({ image_processor_type: 'BeitImageProcessor', do_center_crop: true });
      expect(parseProcessorConfig({ size: 224 }, 'p.json', 'vit')).to.deep.include({ image_processor_type: 'ViTImageProcessor', resample: 2 });
      const { loadModel } = await import('../lib/node/load.js');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notype-'));
      try {
        for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.resolve('spec/fixtures/vit-tiny', f), path.join(dir, f));
        fs.writeFileSync(path.join(dir, 'preprocessor_config.json'), JSON.stringify({ size: 32, do_normalize: false }));
        const model = await loadModel(dir, { backend: 'cpu', onNotice: () => {}, onWarning: () => {} });
        expect(model.processor).to.deep.include({ image_processor_type: 'ViTImageProcessor', size: { height: 32, width: 32 }, do_normalize: false });
        model.dispose();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
    it('JSON nulls in the Pillow-based classes are stored values: do_* off, resample BILINEAR; other nulls the defaults', () => {
      const c = parseProcessorConfig({ image_processor_type: 'BeitImageProcessor', do_resize: null, do_center_crop: null, do_normalize: null,
        resample: null, size: null, crop_size: null, image_mean: null, image_std: null });
      expect(c).to.deep.include({ do_resize: false, do_center_crop: false, do_normalize: false, do_rescale: true, resample: 2,
        size: { height: 256, width: 256 }, crop_size: { height: 224, width: 224 }, image_mean: [0.5, 0.5, 0.5] });
      expect(parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', do_rescale: null, rescale_factor: null }).do_rescale).to.equal(false);
      expectProcessorError(() => parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', rescale_factor: null }),
        /"rescale_factor" is null while "do_rescale" is true/);
    });
    it('shortest_edge keeps the aspect ratio like get_resize_output_image_size', () => {
      const c = parseProcessorConfig({ image_processor_type: 'BeitImageProcessor', size: { shortest_edge: 224 }, do_center_crop: false });
      expect(resizeOutputSize(c.size, 300, 451)).to.deep.equal({ height: 224, width: 336 }); // int(224·451/300) = 336
      expect(resizeOutputSize(c.size, 451, 300)).to.deep.equal({ height: 336, width: 224 });
      expect(resizeOutputSize(c.size, 100, 100)).to.deep.equal({ height: 224, width: 224 });
    });
    it('center crop: floor offsets, zero padding when the crop is larger', () => {
      const img = { width: 5, height: 4, data: Uint8Array.from({ length: 60 }, (_, i) => i + 1) };
      const c = centerCrop(img, { height: 2, width: 2 }); // top = 1, left = floor(3/2) = 1
      expect(Array.from(c.data.subarray(0, 3))).to.deep.equal(Array.from(img.data.subarray((1 * 5 + 1) * 3, (1 * 5 + 1) * 3 + 3)));
      const p = centerCrop(img, { height: 6, width: 5 }); // one zero row above and below
      expect(p.data.subarray(0, 15).every((v) => v === 0)).to.equal(true);
      expect(Array.from(p.data.subarray(15, 30))).to.deep.equal(Array.from(img.data.subarray(0, 15)));
      expect(p.data.subarray(75).every((v) => v === 0)).to.equal(true);
    });
    it('do_rescale / do_normalize off', () => {
      const img = { width: 1, height: 1, data: Uint8Array.from([255, 0, 51]) };
      const raw = preprocess(img, parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', do_resize: false, do_rescale: false, do_normalize: false }));
      expect(Array.from(raw.pixelValues)).to.deep.equal([255, 0, 51]);
      const scaled = preprocess(img, parseProcessorConfig({ image_processor_type: 'ViTImageProcessor', do_resize: false, do_normalize: false }));
      expect(Array.from(scaled.pixelValues)).to.deep.equal([1, 0, Math.fround(51 / 255)]);
    });
    it('default config from a model image_size', () => {
      expect(defaultProcessorConfig(384)).to.deep.include({ size: { height: 384, width: 384 }, resample: 3, do_center_crop: false });
      expect(defaultProcessorConfig([224, 160], 'vit')).to.deep.include({ size: { height: 224, width: 160 }, resample: 2 });
    });
    it('bad values name the field and the valid options', () => {
      const T = { image_processor_type: 'BeitImageProcessor' };
      expectProcessorError(() => parseProcessorConfig('{not json', 'p.json'), /p\.json: not valid JSON/);
      expectProcessorError(() => parseProcessorConfig({}), /"feature_extractor_type" is missing; .*BeitImageProcessor/);
      expectProcessorError(() => parseProcessorConfig({ image_processor_type: 'CLIPImageProcessor' }), /"image_processor_type" is "CLIPImageProcessor".*ViTImageProcessor/);
      expectProcessorError(() => parseProcessorConfig({ ...T, resample: 7 }), /"resample" must be one of 0 \(NEAREST\), 1 \(LANCZOS\).*5 \(HAMMING\)/);
      expectProcessorError(() => parseProcessorConfig({ ...T, size: { longest_edge: 3 } }), /"size" must be/);
      expectProcessorError(() => parseProcessorConfig({ ...T, size: 0 }), /"size" must be a positive integer/);
      expectProcessorError(() => parseProcessorConfig({ ...T, crop_size: { shortest_edge: 3 } }), /"crop_size" must be/);
      expectProcessorError(() => parseProcessorConfig({ ...T, do_resize: 'yes' }), /"do_resize" must be true or false/);
      expectProcessorError(() => parseProcessorConfig({ ...T, image_std: [1, 0, 1] }), /"image_std" .*non-zero/);
      expect(parseProcessorConfig({ ...T, image_std: 0, do_normalize: false }).image_std).to.deep.equal([0, 0, 0]);
      expectProcessorError(() => parseProcessorConfig({ ...T, image_mean: [1, 2] }), /"image_mean" must be/);
      expectProcessorError(() => parseProcessorConfig({ ...T, rescale_factor: -1 }), /"rescale_factor" must be a positive number/);
      expectProcessorError(() => readProcessorConfigFile('/nonexistent/p.json'), /\/nonexistent\/p\.json: cannot read/);
    });
    it('values that overflow float32 are refused instead of giving Infinity/NaN pixels', () => {
      const T = { image_processor_type: 'BeitImageProcessor' };
      expectProcessorError(() => parseProcessorConfig({ ...T, rescale_factor: 1e300 }, 'p.json'), /p\.json: "rescale_factor" 1e\+300 overflows float32: pixel value 1 rescales to Infinity/);
      expectProcessorError(() => parseProcessorConfig({ ...T, image_mean: 1e300 }), /"image_mean" \[1e\+300,1e\+300,1e\+300\] overflows float32/);
      expectProcessorError(() => parseProcessorConfig({ ...T, image_std: [0.5, 1e-300, 0.5] }), /"image_std" \[0.5,1e-300,0.5\] .*overflows float32: pixel value 0 of channel 1 normalizes to -Infinity/);
      expect(parseProcessorConfig({ ...T, image_mean: 1e300, do_normalize: false }).image_mean[0]).to.equal(1e300); // unused: accepted
    });
    it('preprocess refuses empty, negative or fractional image sizes (no NaN pixels, no RangeError)', () => {
      const c = parseProcessorConfig({ image_processor_type: 'BeitImageProcessor', size: 8, do_center_crop: false });
      expectProcessorError(() => preprocess({ width: 0, height: 0, data: new Uint8Array(0) }, c), /image width and height must be positive integers, got 0x0/);
      expectProcessorError(() => preprocess({ width: 0, height: 5, data: new Uint8Array(0) }, c), /got 0x5/);
      expectProcessorError(() => preprocess({ width: -1, height: -3, data: new Uint8Array(9) }, c), /got -1x-3/);
      expectProcessorError(() => preprocess({ width: 1.5, height: 2, data: new Uint8Array(9) }, c), /got 1.5x2/);
    });
    it('sizes that would exhaust memory are refused, not a RangeError', () => {
      const T = { image_processor_type: 'BeitImageProcessor' };
      expectProcessorError(() => parseProcessorConfig({ ...T, size: 2147483648 }, 'p.json'), /p\.json: "size" must be at most 65535 pixels, got 2147483648/);
      expectProcessorError(() => parseProcessorConfig({ ...T, size: [1, 1e9] }), /"size" must be at most 65535/);
      expectProcessorError(() => parseProcessorConfig({ ...T, crop_size: { height: 60000, width: 60000 } }), /"crop_size" asks for 60000x60000 = 3600000000 pixels/);
      expectProcessorError(() => parseProcessorConfig({ ...T, size: { shortest_edge: 1e7 } }), /"size.shortest_edge" must be at most 65535/);
      const c = parseProcessorConfig({ ...T, size: { shortest_edge: 60000 }, do_center_crop: false });
      const img = { width: 2, height: 1, data: new Uint8Array(6) };
      expectProcessorError(() => preprocess(img, c), /resizing a 1x2 image .* gives 60000x120000 pixels, more than the limit/);
    });
  });

  describe('beit preprocess CLI', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
    const bin = path.resolve(pkg.bin.beit);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prep-cli-'));
    const run = (args: string[]) => spawnSync(process.execPath, [bin, 'preprocess', ...args], { encoding: 'utf8' });

    it('writes pixel_values [1,3,H,W] and u8 [H,W,3]; --json summary', () => {
      const out = path.join(tmp, 'p.safetensors');
      const r = run([path.join(IMAGES, 'chelsea_q90.jpg'), '--processor', path.join(IMAGES, 'preprocessor_config.beit-default.json'), '--out', out, '--u8', '--json']);
      expect(r.status, r.stderr).to.equal(0);
      const summary = JSON.parse(r.stdout);
      expect(summary.decoded).to.deep.equal({ height: 300, width: 451 });
      const t = readSafetensorsFile(out).tensors;
      expect(t.get('pixel_values')).to.deep.include({ dtype: 'float32', shape: [1, 3, 224, 224] });
      expect(t.get('u8')).to.deep.include({ dtype: 'uint8', shape: [224, 224, 3] });
      expect(sha256(t.get('u8')!.data as Uint8Array)).to.equal(imageIndex()['chelsea_q90.jpg']!.processed['beit-default']!.sha256);
    });
    it('a text file: exit 1, one short line naming the file, no stack', () => {
      const txt = path.join(tmp, 'not-an-image.jpg');
      fs.writeFileSync(txt, 'hello\n'.repeat(20));
      const r = run([txt, '--processor', path.join(IMAGES, 'preprocessor_config.d2v-ft1k.json'), '--out', path.join(tmp, 'x.safetensors')]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.contain(txt).and.not.match(/\n\s+at /);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(fs.existsSync(path.join(tmp, 'x.safetensors'))).to.equal(false);
    });
    it('a bad processor config: exit 1 naming the field', () => {
      const cfg = path.join(tmp, 'bad.json');
      fs.writeFileSync(cfg, JSON.stringify({ image_processor_type: 'BeitImageProcessor', resample: 9 }));
      const r = run([path.join(IMAGES, 'chelsea.png'), '--processor', cfg, '--out', path.join(tmp, 'y.safetensors')]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/"resample" must be one of/);
    });
    it('missing --processor is a usage error (exit 2); --help lists the flags', () => {
      expect(run([path.join(IMAGES, 'chelsea.png'), '--out', path.join(tmp, 'z.safetensors')]).status).to.equal(2);
      const h = run(['--help']);
      expect(h.status).to.equal(0);
      for (const flag of ['--processor', '--out', '--u8', '--json', '--max-pixels']) expect(h.stdout).to.contain(flag);
    });
  });
});
