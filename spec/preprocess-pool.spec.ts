/**
 * Reading and preprocessing on worker threads (lib/node/preprocess-pool.ts): the same pixels and the
 * same errors as on the main thread, answers matched to requests whatever order workers finish in,
 * and a clean shutdown.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { preprocess } from '../lib/image/processor.js';
import { ImageError } from '../lib/image/errors.js';
import { readImageString } from '../lib/node/image-file.js';
import { readProcessorConfigFile } from '../lib/node/processor-file.js';
import { PreprocessPool, URLS_PER_WORKER } from '../lib/node/preprocess-pool.js';
import { readInBatches } from '../lib/node/classify-files.js';
import { loadModel } from '../lib/node/load.js';
import { caseDir } from './helpers/fixtures.js';
import { IMAGES, IMAGES_EXTRA } from './image-fixtures.js';

describe('preprocessing pool (worker threads)', () => {
  const cfg = readProcessorConfigFile(path.join(IMAGES, 'preprocessor_config.d2v-ft1k.json'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-pool-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** The main thread's outcome for `source`: pixels, or the error's name and message. */
  async function mainThread(source: string): Promise<Float32Array | string> {
    try {
      return preprocess(await readImageString(source), cfg).pixelValues;
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  it('gives the main thread\'s pixels and errors for every input, each answer to its own request', async () => {
    const broken = path.join(tmp, 'broken.jpg');
    fs.writeFileSync(broken, fs.readFileSync(path.join(IMAGES, 'chelsea_q90.jpg')).subarray(0, 300));
    fs.writeFileSync(path.join(tmp, 'text.png'), 'not an image');
    const sources = [
      path.join(IMAGES, 'chelsea.png'), path.join(IMAGES, 'coco_cats_exif6.jpg'), broken,
      path.join(IMAGES_EXTRA, 'cmyk_420.jpg'), path.join(tmp, 'text.png'), path.join(tmp, 'missing.jpg'),
      path.join(IMAGES, 'chelsea_gray.png'), path.join(IMAGES_EXTRA, 'animated.webp'), path.join(IMAGES_EXTRA, 'chelsea.gif'),
      `data:image/png;base64,${fs.readFileSync(path.join(IMAGES, 'chelsea_palette.png')).toString('base64')}`,
    ];
    const pool = new PreprocessPool(cfg, { workers: 3 });
    try {
      // Twice over, all at once: three workers finish out of order.
      const got = await Promise.allSettled([...sources, ...sources].map((s) => pool.preprocess(s)));
      const want = await Promise.all(sources.map(mainThread));
      let errors = 0;
      got.forEach((g, i) => {
        const w = want[i % sources.length]!;
        if (typeof w === 'string') {
          errors++;
          expect(g.status, sources[i % sources.length]).to.equal('rejected');
          const e = (g as PromiseRejectedResult).reason as Error;
          expect(`${e.name}: ${e.message}`).to.equal(w);
          expect(e, 'the class the main thread throws').to.be.instanceOf(ImageError);
        } else {
          expect(g.status, sources[i % sources.length]).to.equal('fulfilled');
          const v = (g as PromiseFulfilledResult<{ pixelValues: Float32Array; height: number; width: number }>).value;
          expect([v.height, v.width]).to.deep.equal([224, 224]);
          expect(Buffer.from(v.pixelValues.buffer, v.pixelValues.byteOffset, v.pixelValues.byteLength)
            .equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), sources[i % sources.length]).to.equal(true);
        }
      });
      expect(errors).to.equal(6);
      expect(want.map((w) => typeof w === 'string' ? w.replace(/:.*/, '') : 'ok')).to.deep.equal(
        ['ok', 'ok', 'ImageError', 'ok', 'ImageError', 'ImageError', 'ok', 'ok', 'ok', 'ok']);
    } finally {
      await pool.close();
    }
  });

  it('downloads several http(s) URLs per worker at once (local server), local files one at a time', async () => {
    const png = fs.readFileSync(path.join(IMAGES, 'chelsea.png'));
    let open = 0, most = 0;
    const server = http.createServer((req, res) => {
      open++; most = Math.max(most, open);
      setTimeout(() => { open--; res.writeHead(200, { 'content-type': 'image/png' }); res.end(png); }, 150);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pool = new PreprocessPool(cfg, { workers: 1 });
    try {
      const got = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.preprocess(`${base}/img${i}.png`)));
      const want = preprocess(await readImageString(path.join(IMAGES, 'chelsea.png')), cfg).pixelValues;
      for (const g of got) expect(Buffer.from(g.pixelValues.buffer).equals(Buffer.from(want.buffer))).to.equal(true);
      expect(most).to.equal(URLS_PER_WORKER);
    } finally {
      await pool.close();
      server.close();
    }
  });

  it('an automatic pool starts at once for files of 1 MiB or more, else after the first batch only when reading took a quarter of the time or more', async () => {
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'wasm' });
    const files = ['chelsea.png', 'coco_cats_q90.jpg', 'chelsea_exif6.jpg', 'coco_cats.png', 'chelsea_gray.png'].map((f) => path.join(IMAGES, f));
    const pools: PreprocessPool[] = [];
    const auto = { auto: () => { const p = new PreprocessPool(model.processor, { workers: 2 }); pools.push(p); return p; } };
    const collect = async (runMs: number) => {
      const got: (Float32Array | string)[] = [];
      for await (const { read } of readInBatches(model, files, 2, auto)) {
        for (const r of read) got.push(r.status === 'fulfilled' ? r.value : String(r.reason));
        await new Promise((r) => setTimeout(r, runMs)); // the forward the caller would run
      }
      return got;
    };
    try {
      const plain: Float32Array[] = [];
      for await (const { read } of readInBatches(model, files, 2)) for (const r of read) plain.push((r as PromiseFulfilledResult<Float32Array>).value);
      const slow = await collect(1500); // reading two small images is far below a quarter of 1.5 s
      expect(pools).to.have.length(0);
      // Files of 1 MiB or more (camera photos) start the pool before the first batch is read, however slow the forward.
      const big = files.map((f, i) => {
        const to = path.join(tmp, `big${i}${path.extname(f)}`);
        fs.writeFileSync(to, Buffer.concat([fs.readFileSync(f), Buffer.alloc(1 << 20)])); // trailing bytes: ignored by the decoders
        return to;
      });
      const gen = readInBatches(model, big, 2, auto);
      const first = await gen.next();
      expect(pools, 'started before the first batch').to.have.length(1);
      const bigRead = [...(first.value as { read: PromiseSettledResult<Float32Array>[] }).read];
      for await (const { read } of gen) bigRead.push(...read);
      bigRead.forEach((r, i) => expect(r.status === 'fulfilled' && Buffer.from(r.value.buffer).equals(Buffer.from(plain[i]!.buffer)), `big ${i}`).to.equal(true));
      const fast = await collect(0);
      expect(pools).to.have.length(2);
      for (const got of [slow, fast]) {
        expect(got).to.have.length(5);
        got.forEach((g, i) => expect(Buffer.from((g as Float32Array).buffer).equals(Buffer.from(plain[i]!.buffer)), `image ${i}`).to.equal(true));
      }
    } finally {
      for (const p of pools) await p.close();
      model.dispose();
    }
  });

  it('passes maxPixels on; close() rejects what is pending and later requests', async () => {
    const pool = new PreprocessPool(cfg, { workers: 1, maxPixels: 1000 });
    const big = pool.preprocess(path.join(IMAGES, 'chelsea.png'));
    await big.then(() => expect.fail('expected a pixel-limit error'), (e: Error) => expect(e.message).to.match(/chelsea\.png.*pixels/));
    const pending = Promise.allSettled([pool.preprocess(path.join(IMAGES, 'coco_cats.png')), pool.preprocess(path.join(IMAGES, 'chelsea.png'))]);
    await pool.close();
    expect((await pending).map((p) => p.status === 'rejected' && (p.reason as Error).message)).to.deep.equal(['PreprocessPool: closed', 'PreprocessPool: closed']);
    await pool.preprocess(path.join(IMAGES, 'chelsea.png')).then(() => expect.fail('expected a rejection'), (e: Error) => expect(e.message).to.equal('PreprocessPool: closed'));
    expect(() => new PreprocessPool(cfg, { workers: 0 })).to.throw(RangeError, /workers must be a positive integer/);
  });
});
