/**
 * End to end: image file -> decode -> processor -> model -> logits, against `e2e.safetensors`
 * (transformers + Pillow on the same files), plus classify/embed API behaviour and the CLI.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../lib/node/load.js';
import { inOrder } from '../lib/cli/commands/classify.js';
import { nativeAddon, nativeUnavailableReason } from '../lib/node/native-backend.js';
import { readSafetensorsFile } from '../lib/node/safetensors-file.js';
import { toleranceFor } from '../lib/checkpoint/parity.js';
import { softmax } from '../lib/pipeline/predictions.js';
import { median } from '../lib/node/bench-stats.js';
import { caseDir, FIXTURES, PARITY_BACKENDS } from './helpers/fixtures.js';

const IMAGES = path.join(FIXTURES, 'images');
const e2e = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'e2e.safetensors')).tensors;

describe('end to end: image files -> logits (d2v-tiny, its preprocessor_config.json)', () => {
  for (const backend of PARITY_BACKENDS) {
    it(`every image of e2e.safetensors within tolerance on ${backend}`, async () => {
      const model = await loadModel(caseDir('d2v-tiny'), { backend });
      try {
        expect(e2e.size).to.be.greaterThan(3);
        for (const [file, ref] of e2e) {
          const { pixelValues } = await model.preprocess(path.join(IMAGES, file));
          const logits = model.predict({ data: pixelValues, shape: [1, 3, 32, 32] });
          const got = logits.dataSync();
          logits.dispose();
          const refData = ref.data as Float32Array;
          const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - refData[i]!)));
          expect(err, `${file}: max abs error ${err}`).to.be.at.most(toleranceFor(refData));
        }
      } finally { model.dispose(); }
    });
  }

  it('classify: batches keep input order, scores are softmax over all classes, no tensor leaks', async () => {
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm' });
    try {
      const files = [...e2e.keys()];
      const before = tf.memory().numTensors;
      const preds = await model.classify(files.map((f) => path.join(IMAGES, f)), { topK: 10, batchSize: 3 });
      expect(tf.memory().numTensors).to.equal(before);
      preds.forEach((p, i) => {
        const ref = softmax(e2e.get(files[i]!)!.data as Float32Array);
        expect(p).to.have.length(10);
        expect(p.reduce((a, x) => a + x.score, 0)).to.be.closeTo(1, 1e-9);
        p.forEach((x, k) => {
          expect(x.score).to.be.closeTo(ref[x.index]!, 1e-4);
          expect(x.label).to.equal(model.id2label[x.index]);
          if (k) expect(x.score).to.be.at.most(p[k - 1]!.score);
        });
      });
      // the same images one at a time give the same ranking
      const single = await model.classify([path.join(IMAGES, files[1]!)], { topK: 10, batchSize: 1 });
      expect(single[0]!.map((x) => x.index)).to.deep.equal(preds[1]!.map((x) => x.index));
    } finally { model.dispose(); }
  });

  it('decodeWorkers: classify / embed read strings on worker threads with the same results and errors', async () => {
    await loadModel(caseDir('d2v-tiny'), { backend: 'wasm', decodeWorkers: -1 }).then(() => expect.fail('expected a RangeError'),
      (e: Error) => expect(e.message).to.equal('decodeWorkers must be a non-negative integer, got -1.'));
    const plain = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm' });
    const pooled = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm', decodeWorkers: 2 });
    try {
      const files = [...e2e.keys()].map((f) => path.join(IMAGES, f));
      const bytes = new Uint8Array(fs.readFileSync(files[0]!));
      const inputs = [...files, bytes, `data:image/png;base64,${fs.readFileSync(path.join(IMAGES, 'chelsea.png')).toString('base64')}`, ...files];
      const before = tf.memory().numTensors;
      expect(await pooled.classify(inputs, { topK: 5, batchSize: 3 })).to.deep.equal(await plain.classify(inputs, { topK: 5, batchSize: 3 }));
      const [ep, ew] = [await plain.embed(inputs, { batchSize: 4 }), await pooled.embed(inputs, { batchSize: 4 })];
      ew.forEach((e, i) => expect(Array.from(e.embedding)).to.deep.equal(Array.from(ep[i]!.embedding)));
      expect(tf.memory().numTensors).to.equal(before);
      const missing = [files[0]!, files[1]!, files[2]!, path.join(IMAGES, 'nope.jpg'), files[3]!];
      const why = async (m: typeof plain) => m.classify(missing, { batchSize: 2 }).then(() => 'resolved', (e: Error) => `${e.name}: ${e.message}`);
      const [a, b] = [await why(plain), await why(pooled)];
      expect(b).to.equal(a);
      expect(b).to.match(/^ImageError: .*nope\.jpg: cannot read image \(no such file/);
      // Inputs the workers do not take (bytes here) are still read on this thread at most 2 at a time.
      let now = 0, peak = 0;
      const m = pooled as unknown as { reader: (x: unknown) => Promise<unknown> };
      const reader = m.reader;
      m.reader = async (x) => { now++; peak = Math.max(peak, now); try { await new Promise((r) => setTimeout(r, 10)); return await reader(x); } finally { now--; } };
      await pooled.classify(Array.from({ length: 12 }, () => bytes), { batchSize: 6 });
      expect(peak).to.equal(2);
    } finally {
      plain.dispose();
      pooled.dispose();
    }
  });
  it('classify accepts bytes, raw pixels and tensors as well as paths', async () => {
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm' });
    try {
      const file = path.join(IMAGES, 'chelsea.png');
      const bytes = new Uint8Array(fs.readFileSync(file));
      const [a, b] = await model.classify([file, bytes], { topK: 3 });
      expect(b).to.deep.equal(a);
    } finally { model.dispose(); }
  });

  it('embed returns the pooled output per image and optional attention maps', async () => {
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm' });
    try {
      const file = path.join(IMAGES, 'coco_cats.png');
      const [e] = await model.embed([file], { outputAttentions: true });
      expect(e!.embedding).to.have.length(48);
      expect(e!.attentions).to.have.length(2);
      expect(e!.attentions![0]).to.have.length(4 * 17 * 17);
      const { pixelValues } = await model.preprocess(file);
      const out = model.forward({ data: pixelValues, shape: [1, 3, 32, 32] });
      const pooled = out.pooledOutput!.dataSync();
      out.logits?.dispose(); out.pooledOutput?.dispose(); out.lastHiddenState.dispose();
      expect(Array.from(e!.embedding)).to.deep.equal(Array.from(pooled));
    } finally { model.dispose(); }
  });
});

describe('classify / embed CLI', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', ...args], { encoding: 'utf8' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-cli-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('--json lists every file; a bad file carries "error" and makes the exit code 1', () => {
    const bad = path.join(tmp, 'broken.jpg');
    fs.writeFileSync(bad, 'not a jpeg');
    const r = cli('classify', path.join(IMAGES, 'chelsea.png'), bad, '--model', caseDir('d2v-tiny'), '--top-k', '2', '--json', '--backend', 'wasm');
    expect(r.status).to.equal(1);
    const rep = JSON.parse(r.stdout);
    expect(rep).to.have.length(2);
    expect(rep[0].predictions).to.have.length(2);
    expect(rep[1].error).to.include('broken.jpg');
    expect(r.stderr).to.include('backend: wasm');
  });
  it('human output and folders', () => {
    const d = path.join(tmp, 'folder'); fs.mkdirSync(d);
    fs.copyFileSync(path.join(IMAGES, 'chelsea_q90.jpg'), path.join(d, 'a.jpg'));
    fs.copyFileSync(path.join(IMAGES, 'coco_cats.png'), path.join(d, 'b.png'));
    const r = cli('classify', d, '--model', caseDir('d2v-tiny'), '--top-k', '3');
    expect(r.status).to.equal(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/a\.jpg\s+\S.* \d\.\d\d \| .* \| .* \d\.\d\d$/);
  });
  it('--list reads images from a file or stdin (comments and blank lines skipped), after the positional ones', () => {
    const list = path.join(tmp, 'list.txt');
    fs.writeFileSync(list, `# photos\n${path.join(IMAGES, 'coco_cats.png')}\n\n  ${path.join(IMAGES, 'chelsea_q90.jpg')}  \r\n`);
    const r = cli('classify', path.join(IMAGES, 'chelsea.png'), '--list', list, '--model', caseDir('d2v-tiny'), '--top-k', '1', '--json');
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).map((x: { file: string }) => x.file)).to.deep.equal(
      ['chelsea.png', 'coco_cats.png', 'chelsea_q90.jpg'].map((f) => path.join(IMAGES, f)));
    const piped = spawnSync(process.execPath, ['bin/beit.mjs', 'embed', '--list', '-', '--model', caseDir('d2v-tiny'), '--out', path.join(tmp, 'e.safetensors'), '--json'],
      { encoding: 'utf8', input: `${path.join(IMAGES, 'coco_cats.png')}\n` });
    expect(piped.status, piped.stderr).to.equal(0);
    expect(JSON.parse(piped.stdout).count).to.equal(1);
    const empty = path.join(tmp, 'empty.txt');
    fs.writeFileSync(empty, '# nothing\n\n');
    const none = cli('classify', '--list', empty, '--model', caseDir('d2v-tiny'));
    expect(none.status).to.equal(2);
    expect(none.stderr).to.contain(`--list ${empty}: no images in it.`);
    const missing = cli('classify', '--list', path.join(tmp, 'nope.txt'), '--model', caseDir('d2v-tiny'));
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.contain('nope.txt: cannot read it (no such file)');
  });

  it('--workers 3 on wasm gives the same results, in input order, as one thread (at most one worker per core)', () => {
    const d = path.join(tmp, 'many'); fs.mkdirSync(d);
    const names = ['chelsea_q90.jpg', 'coco_cats.png', 'chelsea_exif6.jpg', 'chelsea_palette.png'];
    for (let i = 0; i < 5; i++) names.forEach((n) => fs.copyFileSync(path.join(IMAGES, n), path.join(d, `${i}-${n}`)));
    fs.writeFileSync(path.join(d, '2-zbroken.png'), 'not an image');
    const one = cli('classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--workers', '1', '--batch-size', '3', '--json');
    const many = cli('classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--workers', '3', '--batch-size', '3', '--json');
    const cores = os.availableParallelism();
    expect(many.stderr).to.include(`${Math.min(3, cores)} worker threads`);
    if (cores < 3) expect(many.stderr).to.include(`note: --workers 3 is more than the ${cores} cores here; using ${cores}`);
    expect(many.status).to.equal(1);
    expect(JSON.parse(many.stdout)).to.deep.equal(JSON.parse(one.stdout));
    expect(JSON.parse(many.stdout)).to.have.length(21);
  });
  it('--decode-workers: images read on worker threads give the main thread\'s results and errors, in order', () => {
    const d = path.join(tmp, 'decode-workers'); fs.mkdirSync(d);
    const names = ['chelsea_q90.jpg', 'coco_cats.png', 'chelsea_exif6.jpg', 'chelsea_palette.png', 'coco_cats_exif6.jpg'];
    for (let i = 0; i < 3; i++) names.forEach((n) => fs.copyFileSync(path.join(IMAGES, n), path.join(d, `${i}-${n}`)));
    fs.writeFileSync(path.join(d, '1-zbroken.jpg'), 'not an image');
    fs.symlinkSync(path.join(d, 'gone.png'), path.join(d, '2-dangling.png'));
    const args = ['classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--workers', '1', '--batch-size', '4', '--top-k', '3', '--json'];
    const main = cli(...args, '--decode-workers', '0');
    const pooled = cli(...args, '--decode-workers', '2');
    expect([main.status, pooled.status]).to.deep.equal([1, 1]);
    const rep = JSON.parse(pooled.stdout) as { file: string; error?: string }[];
    expect(rep).to.deep.equal(JSON.parse(main.stdout));
    expect(rep).to.have.length(17);
    expect(rep.filter((r) => r.error).map((r) => path.basename(r.file))).to.deep.equal(['1-zbroken.jpg', '2-dangling.png']);
    expect(rep.find((r) => r.file.endsWith('2-dangling.png'))!.error).to.include('symbolic link');
    const bad = cli(...args, '--decode-workers', '-1');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('--decode-workers must be an integer in 0..64');
  });
  it('embed --decode-workers: the same embeddings as reading on the main thread; a bad image still writes nothing', () => {
    const d = path.join(tmp, 'embed-decode'); fs.mkdirSync(d);
    const names = ['chelsea_q90.jpg', 'coco_cats.png', 'chelsea_exif6.jpg'];
    for (let i = 0; i < 3; i++) names.forEach((n) => fs.copyFileSync(path.join(IMAGES, n), path.join(d, `${i}-${n}`)));
    const run = (out: string, workers: string, dir = d) => spawnSync(process.execPath, ['bin/beit.mjs', 'embed', dir, '--model', caseDir('d2v-tiny'),
      '--out', path.join(tmp, out), '--batch-size', '2', '--backend', 'wasm', '--decode-workers', workers, '--quiet'], { encoding: 'utf8' });
    expect(run('main.safetensors', '0').status).to.equal(0);
    expect(run('pool.safetensors', '3').status).to.equal(0);
    expect(fs.readFileSync(path.join(tmp, 'pool.safetensors')).equals(fs.readFileSync(path.join(tmp, 'main.safetensors')))).to.equal(true);
    fs.writeFileSync(path.join(d, '1-zbroken.jpg'), 'not an image');
    const bad = run('bad.safetensors', '2');
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.include('1-zbroken.jpg');
    expect(fs.existsSync(path.join(tmp, 'bad.safetensors'))).to.equal(false);
  });
  it('human output is printed batch by batch in input order, also when worker threads finish out of order', () => {
    const emitted: [number, string[]][] = [];
    const emit = inOrder<string>(7, (from, b) => emitted.push([from, [...b]]));
    emit(4, ['e', 'f']); emit(2, ['c', 'd']);
    expect(emitted).to.deep.equal([]);
    emit(0, ['a', 'b']);
    expect(emitted).to.deep.equal([[0, ['a', 'b']], [2, ['c', 'd']], [4, ['e', 'f']]]);
    emit(6, ['g']);
    expect(emitted.map(([f]) => f)).to.deep.equal([0, 2, 4, 6]);
    const d = path.join(tmp, 'many'); // from the --workers 3 test: 21 files, one broken
    const human = cli('classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--workers', '2', '--batch-size', '2', '--top-k', '1');
    const json = cli('classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--workers', '1', '--batch-size', '2', '--top-k', '1', '--json');
    expect(human.status).to.equal(1);
    const rep = JSON.parse(json.stdout) as { file: string; error?: string; predictions?: { label: string; score: number }[] }[];
    const want = rep.filter((r) => !r.error).map((r) => `${path.basename(r.file)} ${r.predictions![0]!.label} ${r.predictions![0]!.score.toFixed(2)}`);
    const got = human.stdout.trim().split('\n').map((l) => l.trim().replace(/^\S*\//, '').replace(/\s+/, ' '));
    expect(got).to.deep.equal(want);
    expect(human.stderr).to.include('2-zbroken.png').and.include('error:');
  });
  it('--workers 2 on native: same results as one thread, with a note that workers do not help there', function () {
    if (!nativeAddon()) {
      console.log(`      (skipped: native addon unavailable: ${nativeUnavailableReason()}; build it with: node tools/build-native.mjs)`);
      this.skip();
    }
    const d = path.join(tmp, 'native-workers'); fs.mkdirSync(d);
    for (let i = 0; i < 5; i++) fs.copyFileSync(path.join(IMAGES, i % 2 ? 'coco_cats.png' : 'chelsea_q90.jpg'), path.join(d, `${i}${i % 2 ? '.png' : '.jpg'}`));
    const args = ['classify', d, '--model', caseDir('d2v-tiny'), '--backend', 'native', '--batch-size', '2', '--json'];
    const one = cli(...args, '--workers', '1');
    const two = cli(...args, '--workers', '2');
    expect(two.status, two.stderr).to.equal(0);
    expect(two.stderr).to.include('2 worker threads').and.include('already uses every core');
    expect(JSON.parse(two.stdout)).to.deep.equal(JSON.parse(one.stdout));
  });
  it('bench --json reports every backend x batch with the documented fields; bad flags exit 2', () => {
    const backends = ['wasm', ...(nativeAddon() ? ['native'] : [])];
    for (const backend of backends) {
      const r = cli('bench', '--model', caseDir('d2v-tiny'), '--backend', backend, '--batch', '1,3', '--runs', '2', '--json');
      expect(r.status, r.stderr).to.equal(0);
      const { results } = JSON.parse(r.stdout) as { results: Record<string, unknown>[] };
      expect(results.map((x) => [x.backend, x.batch])).to.deep.equal([[backend, 1], [backend, 3]]);
      for (const x of results) {
        expect(Object.keys(x)).to.have.members(['backend', 'batch', 'threads', 'msPerImage', 'minMsPerImage', 'gflops', 'loadMs', 'peakRssMb', 'forward']);
        expect(x.forward).to.equal('logits');
        expect(x.threads).to.equal(backend === 'native' ? nativeAddon()!.info().defaultThreads : 1);
        for (const k of ['msPerImage', 'minMsPerImage', 'gflops', 'loadMs', 'peakRssMb']) expect(x[k]).to.be.a('number').above(0);
        expect(x.minMsPerImage as number).to.be.at.most(x.msPerImage as number);
      }
    }
    const full = cli('bench', '--model', caseDir('d2v-tiny'), '--backend', 'wasm', '--batch', '2', '--runs', '1', '--full', '--json');
    expect(full.status, full.stderr).to.equal(0);
    const fr = (JSON.parse(full.stdout) as { results: Record<string, unknown>[] }).results;
    expect(fr.map((x) => [x.backend, x.batch, x.forward])).to.deep.equal([['wasm', 2, 'full']]);
    const bad = cli('bench', '--batch', '0');
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include('--batch must be an integer >= 1');
  });
  it('bench medians: an even number of runs averages the two middle ones', () => {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    const xs = [10, 9, 8];
    expect(median(xs)).to.equal(9);
    expect(xs).to.deep.equal([10, 9, 8]);
    expect(median([])).to.be.NaN;
  });
  it('embed writes [N, hidden] embeddings', () => {
    const out = path.join(tmp, 'emb.safetensors');
    const r = cli('embed', path.join(IMAGES, 'chelsea.png'), path.join(IMAGES, 'coco_cats.png'), '--model', caseDir('d2v-tiny'), '--out', out);
    expect(r.status, r.stderr).to.equal(0);
    const t = readSafetensorsFile(out).tensors.get('embeddings')!;
    expect(t.shape).to.deep.equal([2, 48]);
  });
  it('--out: an existing file only with --force, never an input; embed records paths, not bare names', () => {
    const d = path.join(tmp, 'outs');
    fs.mkdirSync(path.join(d, 'a'), { recursive: true }); fs.mkdirSync(path.join(d, 'b'));
    fs.copyFileSync(path.join(IMAGES, 'chelsea.png'), path.join(d, 'a', 'x.png'));
    fs.copyFileSync(path.join(IMAGES, 'coco_cats.png'), path.join(d, 'b', 'x.png'));
    const out = path.join(d, 'emb.safetensors');
    fs.writeFileSync(out, 'mine');
    const m = ['--model', caseDir('d2v-tiny')];
    let r = cli('embed', d, ...m, '--out', out);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include(`--out ${out} already exists; pass --force to replace it`);
    expect(fs.readFileSync(out, 'utf8')).to.equal('mine');
    r = cli('embed', d, ...m, '--out', out, '--force');
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(readSafetensorsFile(out).metadata.files!)).to.deep.equal([path.join(d, 'a', 'x.png'), path.join(d, 'b', 'x.png')]);
    const img = path.join(d, 'a', 'x.png');
    const before = fs.readFileSync(img);
    for (const args of [['attention', img, ...m, '--out', img, '--force'], ['preprocess', img, '--processor', img, '--out', img, '--force']]) {
      r = cli(...args);
      expect(r.status, args[0]).to.equal(1);
      expect(r.stderr).to.include(`--out ${img} is one of the inputs; refusing to write over it`);
    }
    expect(fs.readFileSync(img).equals(before)).to.equal(true);
  });
  it('CLI conventions: help <command>, usage on stderr without a command, negative --layer, decimal integers only, empty folders noted', () => {
    let r = cli('help', 'embed');
    expect([r.status, r.stdout.split('\n')[0]]).to.deep.equal([0, 'Usage: beit embed <images or folders...> [--list <file>] --model <dir | repo-id> --out <embeddings.safetensors> [options]']);
    r = cli();
    expect([r.status, r.stdout]).to.deep.equal([2, '']);
    expect(r.stderr).to.include('Usage: beit <command>');
    const out = path.join(tmp, 'layer.png');
    r = cli('attention', path.join(IMAGES, 'chelsea.png'), '--model', caseDir('d2v-tiny'), '--out', out, '--layer', '-1', '--json');
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).layer).to.equal(1);
    for (const v of ['1e1', '0x3', ' 3', '2.0']) {
      r = cli('classify', path.join(IMAGES, 'chelsea.png'), '--model', caseDir('d2v-tiny'), '--top-k', v);
      expect(r.status, v).to.equal(2);
      expect(r.stderr).to.include(`--top-k must be an integer >= 1, got "${v}"`);
    }
    const empty = path.join(tmp, 'empty-folder'); fs.mkdirSync(empty);
    r = cli('classify', empty, path.join(IMAGES, 'chelsea.png'), '--model', caseDir('d2v-tiny'), '--top-k', '1');
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`note: ${empty}: no .jpg, .jpeg, .png, .webp, .gif, .bmp, .tif or .tiff files in this folder.`);
  });
  it('a reader that closes the pipe early ends the run quietly (no EPIPE stack)', () => {
    const d = path.join(tmp, 'pipe'); fs.mkdirSync(d);
    for (let i = 0; i < 30; i++) fs.copyFileSync(path.join(IMAGES, 'chelsea_q90.jpg'), path.join(d, `${i}.jpg`));
    const r = spawnSync('sh', ['-c', `"${process.execPath}" bin/beit.mjs classify "${d}" --model "${caseDir('d2v-tiny')}" --json | head -c 1`],
      { encoding: 'utf8' });
    expect(r.stdout).to.equal('[');
    expect(r.stderr).to.not.include('EPIPE');
    expect(r.stderr).to.not.include('Error');
  });
});
