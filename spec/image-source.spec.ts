/**
 * Images named by strings, as `transformers`' `load_image` takes them: http(s) URLs (a real HTTP server
 * on 127.0.0.1), data URLs and bare base64, next to file paths; the errors of each; folders with
 * symbolic links. Logits of URL-loaded photos are checked against e2e.safetensors (transformers +
 * Pillow on the same files) with the fixtures' tolerance.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { loadModel } from '../lib/node/load.js';
import { readImageFile, readImageString } from '../lib/node/image-file.js';
import { base64Bytes, imageSourceName } from '../lib/image/source.js';
import { expandImageArgs } from '../lib/cli/files.js';
import { LOCAL_READ_CONCURRENCY, READ_CONCURRENCY, readConcurrency, settleLimited } from '../lib/pipeline/pipeline.js';
import { readSafetensorsFile } from '../lib/node/safetensors-file.js';
import { toleranceFor } from '../lib/checkpoint/parity.js';
import { caseDir, FIXTURES } from './helpers/fixtures.js';

const IMAGES = path.join(FIXTURES, 'images');
const run = promisify(execFile);

/** A server for the fixture photos plus misbehaving routes; counts requests per path. */
async function startServer(): Promise<{ base: string; hits: Map<string, number>; close: () => Promise<void> }> {
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const photo = (name: string) => fs.readFileSync(path.join(IMAGES, name));
    switch (url.pathname) {
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!DOCTYPE html><title>not an image</title>');
        return;
      case '/slow.png': // answers after 300 ms: reading a list of these one by one takes n × 300 ms
        setTimeout(() => { res.writeHead(200, { 'content-type': 'image/png' }); res.end(photo('chelsea.png')); }, 300);
        return;
      case '/redirect':
        res.writeHead(302, { location: '/images/chelsea.png' });
        res.end();
        return;
      case '/stall': // headers and the first bytes, then nothing
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(photo('chelsea.png').subarray(0, 64));
        return;
      case '/chunked': // no Content-Length: the limit must hold while the body streams in
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(photo('chelsea.png'));
        res.end();
        return;
      case '/broken': // Content-Length promises more than is sent
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': '100000' });
        res.write(photo('chelsea.png').subarray(0, 500));
        setTimeout(() => res.destroy(), 50);
        return;
      default: {
        const m = /^\/images\/([\w.-]+)$/.exec(url.pathname);
        if (m && fs.existsSync(path.join(IMAGES, m[1]!))) {
          const bytes = photo(m[1]!);
          res.writeHead(200, { 'content-type': m[1]!.endsWith('.png') ? 'image/png' : 'image/jpeg', 'content-length': String(bytes.length) });
          res.end(bytes);
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      }
    }
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

const same = (a: { data: Uint8Array; width: number; height: number }, b: typeof a) =>
  a.width === b.width && a.height === b.height && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;

describe('image sources: URLs, data URLs, base64, file paths (load_image semantics)', () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv.close(); });

  it('an http URL, a redirect, a data URL and bare base64 decode to the same pixels as the file', async () => {
    for (const file of ['chelsea.png', 'chelsea_q90.jpg', 'coco_cats_exif6.jpg']) {
      const fromFile = await readImageFile(path.join(IMAGES, file));
      const bytes = fs.readFileSync(path.join(IMAGES, file));
      const mime = file.endsWith('.png') ? 'image/png' : 'image/jpeg';
      const sources = [
        `${srv.base}/images/${file}`,
        `data:${mime};base64,${bytes.toString('base64')}`,
        bytes.toString('base64'),
        bytes.toString('base64').replace(/(.{76})/g, '$1\n'), // MIME line breaks, as base64.encodebytes writes
        pathToFileURL(path.join(IMAGES, file)).href,
      ];
      for (const s of sources) expect(same(await readImageString(s), fromFile), `${file} from ${imageSourceName(s)}`).to.equal(true);
    }
    expect(same(await readImageString(`${srv.base}/redirect`), await readImageFile(path.join(IMAGES, 'chelsea.png')))).to.equal(true);
  });

  it('classify over URLs: logits match e2e.safetensors (transformers + Pillow), the same as from files', async () => {
    const e2e = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'e2e.safetensors')).tensors;
    const model = await loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    try {
      const files = [...e2e.keys()];
      expect(files.length).to.be.greaterThan(3);
      for (const file of files) {
        const { pixelValues } = await model.preprocess(`${srv.base}/images/${file}`);
        const logits = model.predict({ data: pixelValues, shape: [1, 3, 32, 32] });
        const got = logits.dataSync();
        logits.dispose();
        const ref = e2e.get(file)!.data as Float32Array;
        const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - ref[i]!)));
        expect(err, `${file}: max abs error ${err}`).to.be.at.most(toleranceFor(ref));
      }
      const [viaUrl] = await model.classify([`${srv.base}/images/chelsea.png`], { topK: 3 });
      const [viaFile] = await model.classify([path.join(IMAGES, 'chelsea.png')], { topK: 3 });
      expect(viaUrl).to.deep.equal(viaFile);
      // Eight slow URLs are downloaded at once (one by one would take 2.4 s), results in input order.
      const t0 = Date.now();
      const slow = await model.classify([...Array.from({ length: 8 }, (_, i) => `${srv.base}/slow.png?i=${i}`), path.join(IMAGES, 'chelsea_q90.jpg')], { topK: 3 });
      expect(Date.now() - t0).to.be.below(1500);
      expect(slow.slice(0, 8)).to.deep.equal(Array(8).fill(viaFile));
      expect(slow[8]).to.not.deep.equal(viaFile);
      // One batch at a time: a batch's images are read only after the previous batch ran (memory holds one batch).
      srv.hits.set('/slow.png', 0);
      const seenAt: number[] = [];
      const batched = await model.classify(Array.from({ length: 10 }, (_, i) => `${srv.base}/slow.png?b=${i}`), {
        topK: 3, batchSize: 4, onProgress: (done, total) => { expect(total).to.equal(10); seenAt.push(done, srv.hits.get('/slow.png')!); },
      });
      expect(seenAt).to.deep.equal([4, 4, 8, 8, 10, 10]);
      expect(batched).to.deep.equal(Array(10).fill(viaFile));
      // After the first failure no further image is started: at most the 8 already in flight.
      srv.hits.set('/slow.png', 0);
      const err = await model.classify([`${srv.base}/images/missing.png`, ...Array.from({ length: 30 }, (_, i) => `${srv.base}/slow.png?j=${i}`)])
        .then(() => '', (e: Error) => e.message);
      expect(err).to.match(/missing\.png: HTTP 404/);
      await new Promise((r) => setTimeout(r, 400));
      expect(srv.hits.get('/slow.png')).to.be.at.most(7);
    } finally { model.dispose(); }
  });

  it('HTTP errors, non-image bodies, stalls, size limits and refused connections are ImageErrors naming the URL', async () => {
    const fail = async (s: string, options = {}) => {
      try {
        await readImageString(s, {}, options);
      } catch (e) {
        expect((e as Error).name, (e as Error).message).to.equal('ImageError');
        return (e as Error).message;
      }
      throw new Error(`${s}: no error`);
    };
    expect(await fail(`${srv.base}/images/missing.png`)).to.equal(`${srv.base}/images/missing.png: HTTP 404 Not Found while downloading the image.`);
    expect(await fail(`${srv.base}/page.html`)).to.match(/page\.html: not a PNG, JPEG, WebP, GIF, BMP or TIFF image .*; the server sent "text\/html", not an image\.$/);
    const t0 = Date.now();
    expect(await fail(`${srv.base}/stall`, { timeoutMs: 300 })).to.equal(`${srv.base}/stall: no data from the server for 0.3 s; gave up.`);
    expect(Date.now() - t0).to.be.below(5000);
    expect(await fail(`${srv.base}/images/chelsea.png`, { maxBytes: 1000 })).to.match(/chelsea\.png: the image is \d+ bytes, over the 1000-byte limit/);
    expect(await fail(`${srv.base}/chunked`, { maxBytes: 1000 })).to.match(/chunked: the image is over the 1000-byte limit \(maxBytes\); stopped downloading\./);
    expect(await fail(`${srv.base}/broken`)).to.match(/broken: the download broke off after \d+ bytes/);
    expect(await fail(`${srv.base}/images/chelsea.png?sig=SECRET`, { maxBytes: 10 })).to.not.contain('SECRET');
    // A port nothing listens on: take one from a server and close it.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await fail(`http://127.0.0.1:${port}/x.png`)).to.equal(`http://127.0.0.1:${port}/x.png: cannot download the image (connection refused: ECONNREFUSED).`);
    // HTTP_PROXY is honoured (as requests does): a proxy that wants credentials is named as the reason.
    const proxy = http.createServer((_q, s) => { s.writeHead(407, { 'proxy-authenticate': 'Basic' }).end(); });
    proxy.on('connect', (_q, c: Socket) => { c.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n'); });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const saved = { http: process.env.HTTP_PROXY, no: process.env.NO_PROXY, lower: process.env.http_proxy };
    try {
      delete process.env.http_proxy;
      delete process.env.NO_PROXY;
      process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      expect(await fail('http://photos.invalid/cat.png')).to.equal('http://photos.invalid/cat.png: cannot download the image ' +
        '(the proxy answered HTTP 407: it wants credentials, as http://user:password@host:port in HTTPS_PROXY / HTTP_PROXY).');
      // Loopback addresses never go through the proxy.
      expect((await readImageString(`${srv.base}/images/chelsea.png`)).width).to.equal(451);
    } finally {
      for (const [k, v] of [['HTTP_PROXY', saved.http], ['NO_PROXY', saved.no], ['http_proxy', saved.lower]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('malformed data URLs, base64 that is no image and missing files say what an image string may be', async () => {
    const fail = async (s: string) => readImageString(s).then(() => '', (e: Error) => `${e.name}: ${e.message}`);
    expect(await fail('data:image/png,rawbytes')).to.match(/^ImageError: data:image\/png,… \(\d+ chars\): a data URL image must be base64/);
    expect(await fail('data:image/png;base64,@@@@')).to.match(/the data URL's payload is not valid base64/);
    expect(await fail('data:image/png;base64,AAAAAAAAAAAAAAAAAAAAAAAA')).to.match(/not a PNG, JPEG, WebP, GIF, BMP or TIFF image/);
    expect(await fail('missing-photo.jpg')).to.equal('ImageError: missing-photo.jpg: cannot read image (no such file; an image string is ' +
      'a file path, an http(s) URL, a data:image/...;base64 URL or base64 image bytes).');
    // Valid base64 of something that is not an image: a path that does not exist, not a decode error.
    const notImage = Buffer.from('just some text, long enough').toString('base64');
    expect(await fail(notImage)).to.match(/cannot read image \(no such file;/);
    // A long base64 string is cut in messages.
    expect(imageSourceName('A'.repeat(5000))).to.equal(`${'A'.repeat(40)}… (5000 chars)`);
    expect(base64Bytes('aGk')).to.deep.equal(new Uint8Array([104, 105])); // missing padding, as base64.decodebytes allows
    expect(base64Bytes('a')).to.equal(undefined);
  });

  it('CLI: classify takes URLs (several fetched per batch) next to files; --json keeps each input as given', async () => {
    const urls = ['chelsea.png', 'chelsea_q90.jpg', 'coco_cats_q90.jpg'].map((f) => `${srv.base}/images/${f}?v=1`);
    const missing = `${srv.base}/images/missing.jpg`;
    const { stdout } = await run(process.execPath, ['bin/beit.mjs', 'classify', '--model', caseDir('d2v-tiny'), '--backend', 'cpu', '--json',
      '--top-k', '2', ...urls, path.join(IMAGES, 'chelsea.png'), missing]).catch((e: { stdout: string; code: number }) => {
      expect(e.code).to.equal(1); // one image failed
      return e;
    });
    const results = JSON.parse(stdout) as { file: string; predictions?: unknown[]; error?: string }[];
    expect(results.map((r) => r.file)).to.deep.equal([...urls, path.join(IMAGES, 'chelsea.png'), missing]);
    expect(results[0]!.predictions).to.deep.equal(results[3]!.predictions);
    expect(results[4]!.error).to.match(/HTTP 404/);
    for (const r of results.slice(0, 4)) expect(r.predictions).to.have.length(2);
  });

  it('batch reads run at most READ_CONCURRENCY at once, every item settled in input order', async () => {
    let active = 0, peak = 0;
    const items = Array.from({ length: 30 }, (_, i) => i);
    const out = await settleLimited(items, READ_CONCURRENCY, async (i) => {
      active++; peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      active--;
      if (i % 10 === 3) throw new Error(`bad ${i}`);
      return i * 2;
    });
    expect(peak).to.equal(READ_CONCURRENCY);
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).to.deep.equal(
      items.map((i) => (i % 10 === 3 ? `bad ${i}` : i * 2)));
  });

  it('batches of local files are read two at a time (decodes interleave: each holds a full page), URLs eight', () => {
    expect(LOCAL_READ_CONCURRENCY).to.equal(2);
    expect(readConcurrency(['a.tif', 'b/c.png', 'file:///x.jpg', 'data:image/png;base64,AAAA', new Uint8Array(3)])).to.equal(LOCAL_READ_CONCURRENCY);
    expect(readConcurrency(['a.tif', 'HTTPS://example.com/b.png'])).to.equal(READ_CONCURRENCY);
  });

  it('folders: symbolic links to files and folders are followed once, a dangling image link is listed, not dropped', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-links-'));
    try {
      const real = path.join(root, 'real');
      fs.mkdirSync(real);
      fs.copyFileSync(path.join(IMAGES, 'chelsea.png'), path.join(real, 'a.png'));
      fs.writeFileSync(path.join(real, 'notes.txt'), 'x');
      const set = path.join(root, 'set');
      fs.mkdirSync(set);
      fs.symlinkSync(path.join(real, 'a.png'), path.join(set, 'b.png'));
      fs.symlinkSync(real, path.join(set, 'linked'));
      fs.symlinkSync(set, path.join(set, 'loop'));
      fs.symlinkSync(path.join(root, 'nowhere.jpg'), path.join(set, 'c.jpg'));
      fs.symlinkSync(path.join(root, 'nowhere.txt'), path.join(set, 'd.txt'));
      expect(expandImageArgs([set])).to.deep.equal([path.join(set, 'b.png'), path.join(set, 'c.jpg'), path.join(set, 'linked', 'a.png')]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  it('a dangling symbolic link is reported as one (with its target), not with the image-string hint', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-links-'));
    try {
      const link = path.join(root, 'c.jpg');
      fs.symlinkSync(path.join(root, 'nowhere.jpg'), link);
      for (const read of [() => readImageString(link), () => readImageFile(link)]) {
        const err = await read().then(() => undefined, (e: unknown) => e as Error);
        expect(err?.message).to.equal(`${link}: cannot read image (a symbolic link to ${path.join(root, 'nowhere.jpg')}, which does not exist).`);
      }
      const missing = await readImageString(path.join(root, 'gone.jpg')).then(() => undefined, (e: unknown) => e as Error);
      expect(missing?.message).to.include('no such file; an image string is a file path');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
