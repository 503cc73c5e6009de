/**
 * The engine in a real browser: Debian's Chromium driven by playwright-core (no downloaded browser
 * build), pages served by tools/serve.ts on 127.0.0.1. The fixture checkpoint d2v-tiny runs on the
 * fixture photos read as Blobs, and the logits are checked against the same e2e.safetensors
 * reference as the Node tests, on wasm and webgl. The demo page is driven like a user would
 * (file input), its attention canvas is checked and a screenshot is kept in spec/artifacts/.
 * Without /usr/bin/chromium (`apt-get install -y chromium`), every test here is skipped.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildBrowser } from '../tools/build-browser.js';
import { startServer, type StaticServer } from '../tools/serve.js';
import { readSafetensorsFile } from '../lib/node/safetensors-file.js';
import { toleranceFor } from '../lib/checkpoint/parity.js';
import { readImageFile } from '../lib/node/image-file.js';
import { preprocess, parseProcessorConfig } from '../lib/image/processor.js';
import { caseDir, FIXTURES } from './helpers/fixtures.js';
import { extraImageIndex } from './image-fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('spec/artifacts');
const IMAGES = path.join(FIXTURES, 'images');
const e2e = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'e2e.safetensors')).tensors;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];

/** What the page returns for one backend: logits per fixture photo, plus the 8-bit model input of the first. */
interface PageRun {
  readonly backend: string;
  readonly logits: Record<string, number[]>;
  readonly u8: number[];
}

/** Runs d2v-tiny on every e2e photo, fetched as Blobs, inside the page. */
function runInPage(page: Page, backend: string, files: string[]): Promise<PageRun> {
  return page.evaluate(async ({ backend, files }) => {
    const beit = await import('/dist/browser/tfjs-beit.js' as string);
    const model = await beit.loadModel('/models/d2v-tiny/', { backend, onWarning: () => {} });
    try {
      const logits: Record<string, number[]> = {};
      let u8: number[] = [];
      for (const f of files) {
        const blob = await (await fetch(`/images/${f}`)).blob();
        const p = await model.preprocess(blob);
        if (!u8.length) u8 = Array.from(p.u8 as Uint8Array);
        const t = model.predict({ data: p.pixelValues, shape: [1, 3, 32, 32] });
        logits[f] = Array.from(await t.data() as Float32Array);
        t.dispose();
      }
      return { backend: model.backend as string, logits, u8 };
    } finally { model.dispose(); }
  }, { backend, files });
}

function maxError(got: number[], ref: Float32Array): number {
  return Math.max(...got.map((v, i) => Math.abs(v - ref[i]!)));
}

/** Runs every e2e photo on `backend` in the page; each file's logits must be within tolerance. Returns the worst error / tolerance. */
async function checkBackend(page: Page, backend: string): Promise<number> {
  const files = [...e2e.keys()];
  const run = await runInPage(page, backend, files);
  expect(run.backend).to.equal(backend);
  let worst = 0;
  for (const f of files) {
    const ref = e2e.get(f)!.data as Float32Array;
    const err = maxError(run.logits[f]!, ref);
    worst = Math.max(worst, err / toleranceFor(ref));
    expect(err, f).to.be.at.most(toleranceFor(ref));
  }
  return worst;
}

describe('browser (headless Chromium + playwright-core)', function () {
  this.timeout(60_000);
  let server: StaticServer | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let userDataDir = '';
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`      (skipped: ${CHROMIUM} not found; install it with: apt-get install -y chromium)`);
      this.skip();
    }
    await buildBrowser();
    server = await startServer(0);
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
  });

  after(async () => {
    await context?.close();
    await server?.close();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  it('wasm: logits of every fixture photo (Blob -> our decoders) match e2e.safetensors; pixels equal Node\'s', async () => {
    const files = [...e2e.keys()];
    const run = await runInPage(page, 'wasm', files);
    expect(run.backend).to.equal('wasm');
    for (const f of files) {
      const ref = e2e.get(f)!.data as Float32Array;
      expect(maxError(run.logits[f]!, ref), f).to.be.at.most(toleranceFor(ref));
    }
    const cfg = parseProcessorConfig(fs.readFileSync(path.join(caseDir('d2v-tiny'), 'preprocessor_config.json'), 'utf8'));
    const node = preprocess(await readImageFile(path.join(IMAGES, files[0]!)), cfg);
    expect(run.u8).to.deep.equal(Array.from(node.u8));
  });

  it('webgl: logits match e2e.safetensors within the same tolerance (SwiftShader software rendering)', async function () {
    const info = await page.evaluate(() => {
      const gl = document.createElement('canvas').getContext('webgl2');
      const ext = gl?.getExtension('WEBGL_debug_renderer_info');
      return gl ? String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : undefined;
    });
    if (!info) {
      console.log('      (skipped: WebGL 2 is not available in this headless Chromium)');
      this.skip();
    }
    const worst = await checkBackend(page, 'webgl');
    console.log(`      webgl renderer: ${info}; worst error ${(worst * 100).toFixed(1)}% of the tolerance`);
  });

  it('webgpu (a second Chromium with --enable-unsafe-webgpu; SwiftShader\'s Vulkan): logits within the same tolerance', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-chromium-gpu-'));
    const gpuContext = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true,
      args: [...FLAGS.filter((f) => f !== '--disable-gpu'), '--enable-unsafe-webgpu'] });
    try {
      const gpuPage = await gpuContext.newPage();
      await gpuPage.goto(server!.url);
      const adapter = await gpuPage.evaluate(async () => Boolean(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
      if (!adapter) {
        console.log('      (skipped: this Chromium exposes no WebGPU adapter)');
        this.skip();
      }
      const worst = await checkBackend(gpuPage, 'webgpu');
      console.log(`      webgpu: worst error ${(worst * 100).toFixed(1)}% of the tolerance`);
    } finally {
      await gpuContext.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a requested backend that cannot start is an error naming it (webgpu under --disable-gpu), never a fallback', async () => {
    const message = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      try {
        (await beit.loadModel('/models/d2v-tiny/', { backend: 'webgpu' })).dispose();
        return 'loaded';
      } catch (e) { return (e as Error).message; }
    });
    expect(message).to.match(/backend "webgpu" is not available in this browser \(no WebGPU adapter/);
  });

  /** SHA-256 of the RGB pixels the page decodes for each file under `folder`. */
  const pageDigests = (folder: string, files: string[]): Promise<Record<string, string>> => page.evaluate(async ({ folder, files }) => {
    const beit = await import('/dist/browser/tfjs-beit.js' as string);
    const out: Record<string, string> = {};
    for (const f of files) {
      const img = await beit.readBrowserImage(await (await fetch(`${folder}${f}`)).blob());
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', img.data));
      out[f] = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return out;
  }, { folder, files });

  /** Every image of spec/fixtures/<folder>/index.json (more than `atLeast`) decodes in the page to Pillow's SHA-256. */
  async function expectFolderDigests(folder: string, atLeast: number): Promise<void> {
    const index = JSON.parse(fs.readFileSync(path.resolve(`spec/fixtures/${folder}/index.json`), 'utf8')).images as Record<string, { rgb_sha256: string }>;
    const files = Object.keys(index);
    const got = await pageDigests(`/${folder}/`, files);
    expect(files.length).to.be.greaterThan(atLeast);
    for (const f of files) expect(got[f], f).to.equal(index[f]!.rgb_sha256);
  }

  it('WebP (its decoder fetched on first use), GIF, BMP and CMYK JPEG decode to Pillow\'s pixels in the page', async () => {
    const index = extraImageIndex();
    const files = Object.keys(index).filter((f) => f.endsWith('.webp') || f.endsWith('.gif') || f.endsWith('.bmp') || f.startsWith('cmyk_'));
    const got = await pageDigests('/images-extra/', files);
    expect(files.length).to.be.greaterThan(20);
    for (const f of files) expect(got[f], f).to.equal(index[f]!.rgb_sha256);
  });

  it('the EXIF orientation is found where Pillow finds it in the page too (raw-profile zTXt inflated by the browser)', async () => {
    await expectFolderDigests('images-meta', 20);
  });

  it('TIFF (strips, tiles, LZW, Deflate inflated by the browser, CCITT, JPEG) decodes to Pillow\'s pixels in the page', async () => {
    await expectFolderDigests('images-tiff', 60);
  });

  it('URL strings (relative to the page, data:) decode like the Blob; a 404 is an ImageError naming the URL', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const blob = await (await fetch('/images/chelsea.png')).blob();
      let bin = '';
      for (const b of new Uint8Array(await blob.arrayBuffer())) bin += String.fromCharCode(b);
      const dataUrl = `data:image/png;base64,${btoa(bin)}`;
      const [fromPath, fromData, fromBlob] = await Promise.all(['/images/chelsea.png', dataUrl, blob].map((x) => beit.readBrowserImage(x)));
      const same = (a: { data: Uint8Array }, b: { data: Uint8Array }) => a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);
      let err = '';
      try { await beit.readBrowserImage('/images/missing.png'); } catch (e) { err = `${(e as Error).name}: ${(e as Error).message}`; }
      return { path: same(fromPath, fromBlob), data: same(fromData, fromBlob), size: fromBlob.data.length, err };
    });
    expect(r).to.deep.include({ path: true, data: true });
    expect(r.size).to.be.greaterThan(1000);
    expect(r.err).to.match(/^ImageError: \/images\/missing\.png: HTTP 404/);
  });

  it('<img> elements decode their bytes (same logits as the Blob); ImageData is accepted as raw pixels', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const model = await beit.loadModel('/models/d2v-tiny/', { backend: 'wasm' });
      try {
        const img = new Image();
        img.src = '/images/chelsea.png';
        await img.decode();
        const blob = await (await fetch('/images/chelsea.png')).blob();
        const bitmap = await createImageBitmap(blob);
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(bitmap, 0, 0);
        const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
        const [fromImg, fromBlob, fromData, fromBitmap] = await Promise.all([img, blob, data, bitmap].map((x) => model.preprocess(x)));
        const same = (a: { u8: Uint8Array }, b: { u8: Uint8Array }) => a.u8.every((v, i) => v === b.u8[i]);
        return { imgEqualsBlob: same(fromImg, fromBlob), dataLen: fromData.u8.length, bitmapLen: fromBitmap.u8.length };
      } finally { model.dispose(); }
    });
    expect(r).to.deep.equal({ imgEqualsBlob: true, dataLen: 32 * 32 * 3, bitmapLen: 32 * 32 * 3 });
  });

  it('Cache Storage keeps the files: a second load reads them from the cache', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const seen: Array<{ file: string; cached: boolean; loaded: number; total?: number }> = [];
      const m = await beit.loadModel('/models/d2v-tiny/', { backend: 'cpu', onProgress: (p: { file: string; cached: boolean; loaded: number; total?: number }) => seen.push(p) });
      m.dispose();
      const keys = (await (await caches.open('tfjs-beit')).keys()).map((k) => new URL(k.url).pathname);
      const last = seen.filter((p) => p.file === 'model.safetensors').at(-1)!;
      return { keys, last };
    });
    expect(r.keys).to.include.members(['/models/d2v-tiny/config.json', '/models/d2v-tiny/preprocessor_config.json', '/models/d2v-tiny/model.safetensors']);
    expect(r.last.cached).to.equal(true);
    expect(r.last.loaded).to.equal(fs.statSync(path.join(caseDir('d2v-tiny'), 'model.safetensors')).size);
  });

  // The cache tests load d2v-tiny under their own URLs (a fetch mapping them to /models/d2v-tiny/), so
  // their cache entries are theirs alone.
  it('Cache Storage: a file refused by its check (an HTML config.json) is not kept; the next load downloads it again', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const real = (u: RequestInfo | URL) => fetch(String(u).replace('/cache-html/', '/models/d2v-tiny/'));
      const login: typeof fetch = async (u) => String(u).endsWith('/config.json')
        ? new Response('<!doctype html><p>Sign in</p>', { headers: { 'content-type': 'text/html' } }) : real(u);
      let first = 'loaded';
      try { (await beit.loadModel('/cache-html/', { backend: 'cpu', fetch: login })).dispose(); } catch (e) { first = (e as Error).message; }
      const cache = await caches.open('tfjs-beit');
      const kept = (await cache.keys()).map((k) => new URL(k.url).pathname).filter((p) => p.startsWith('/cache-html/'));
      const seen: Array<{ file: string; cached: boolean }> = [];
      (await beit.loadModel('/cache-html/', { backend: 'cpu', fetch: real, onProgress: (p: { file: string; cached: boolean }) => seen.push(p) })).dispose();
      return { first, kept, configCached: seen.find((p) => p.file === 'config.json')!.cached };
    });
    expect(r.first).to.match(/cache-html\/config\.json: the server's answer is not valid JSON .*text\/html/);
    expect(r.kept).to.not.include('/cache-html/config.json');
    expect(r.configCached).to.equal(false);
  });

  it('Cache Storage: a cached model loads offline, its missing optional file included (a remembered 404)', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      // d2v-tiny served without its preprocessor_config.json.
      const online: typeof fetch = async (u) => String(u).endsWith('/preprocessor_config.json')
        ? new Response('not found', { status: 404 }) : fetch(String(u).replace('/cache-offline/', '/models/d2v-tiny/'));
      (await beit.loadModel('/cache-offline/', { backend: 'cpu', fetch: online, onWarning: () => {} })).dispose();
      const asked: string[] = [];
      const offline: typeof fetch = async (u) => { asked.push(new URL(String(u)).pathname); throw new TypeError('Failed to fetch'); };
      let result = 'loaded';
      try {
        (await beit.loadModel('/cache-offline/', { backend: 'cpu', fetch: offline, onWarning: () => {} })).dispose();
      } catch (e) { result = (e as Error).message; }
      return { result, asked };
    });
    expect(r.result).to.equal('loaded');
    expect(r.asked).to.deep.equal([]);
  });

  it('Cache Storage: a truncated or corrupt cached file is dropped and downloaded again, not an error on every load', async () => {
    const size = fs.statSync(path.join(caseDir('d2v-tiny'), 'model.safetensors')).size;
    const r = await page.evaluate(async (size) => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const real = (u: RequestInfo | URL) => fetch(String(u).replace('/cache-bad/', '/models/d2v-tiny/'));
      const cache = await caches.open('tfjs-beit');
      const whole = new Uint8Array(await (await real('/cache-bad/model.safetensors')).arrayBuffer());
      // A copy cut short (its Content-Length says more), and a config.json cut short without a length.
      await cache.put('/cache-bad/model.safetensors', new Response(whole.subarray(0, 100), { headers: { 'content-length': String(size) } }));
      await cache.put('/cache-bad/config.json', new Response('{"model_type": "data2'));
      const seen: Array<{ file: string; cached: boolean; loaded: number }> = [];
      let result = 'loaded';
      try {
        (await beit.loadModel('/cache-bad/', { backend: 'cpu', fetch: real, onProgress: (p: { file: string; cached: boolean; loaded: number }) => seen.push(p) })).dispose();
      } catch (e) { result = (e as Error).message; }
      const again = await cache.match('/cache-bad/model.safetensors');
      return { result, cachedNow: again ? (await again.arrayBuffer()).byteLength : 0,
        lastWeights: seen.filter((p) => p.file === 'model.safetensors').at(-1) };
    }, size);
    expect(r.result).to.equal('loaded');
    expect(r.cachedNow).to.equal(size);
    expect(r.lastWeights).to.deep.include({ cached: false, loaded: size });
  });

  it('Cache Storage: a file sent compressed (Content-Length counts the encoded bytes) is read back from the cache', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const real = (u: RequestInfo | URL) => fetch(String(u).replace('/cache-gzip/', '/models/d2v-tiny/'));
      // What fetch hands over for a gzip answer: the decoded body, with the encoded length in Content-Length.
      const gzip: typeof fetch = async (u) => {
        const res = await real(u);
        if (!String(u).endsWith('/config.json')) return res;
        return new Response(await res.arrayBuffer(), { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '300' } });
      };
      const configs: Array<Array<{ cached: boolean; loaded: number; total?: number }>> = [];
      for (let i = 0; i < 2; i++) {
        const seen: Array<{ file: string; cached: boolean; loaded: number; total?: number }> = [];
        (await beit.loadModel('/cache-gzip/', { backend: 'cpu', fetch: gzip, onProgress: (p: { file: string; cached: boolean; loaded: number }) => seen.push(p) })).dispose();
        configs.push(seen.filter((p) => p.file === 'config.json'));
      }
      return configs;
    });
    const size = fs.statSync(path.join(caseDir('d2v-tiny'), 'config.json')).size;
    expect(r[0]!.at(-1)).to.deep.include({ cached: false, loaded: size });
    expect(r[1]!.every((p) => p.cached), JSON.stringify(r[1])).to.equal(true);
    expect(r[1]!.at(-1)).to.deep.include({ loaded: size });
  });

  it('Cache Storage: a download refused mid-body (longer than its Content-Length, or stopped by onProgress) ends at once', async () => {
    const r = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const real = (u: RequestInfo | URL) => fetch(String(u).replace('/cache-endless/', '/models/d2v-tiny/'));
      const endless = (headers: Record<string, string>) => new Response(new ReadableStream({
        pull(c) { c.enqueue(new Uint8Array(1 << 16)); } }), { headers });
      const attempt = async (options: object): Promise<string> => {
        const hung = new Promise<string>((res) => setTimeout(() => res('hung'), 5000));
        const load = beit.loadModel('/cache-endless/', { backend: 'cpu', ...options }).then(
          (m: { dispose(): void }) => { m.dispose(); return 'loaded'; }, (e: Error) => e.message);
        return Promise.race([load, hung]);
      };
      const longer = await attempt({ fetch: (u: RequestInfo | URL) => String(u).endsWith('/model.safetensors')
        ? Promise.resolve(endless({ 'content-length': '100' })) : real(u) });
      const stopped = await attempt({ fetch: (u: RequestInfo | URL) => String(u).endsWith('/model.safetensors')
        ? Promise.resolve(endless({})) : real(u),
      onProgress: (p: { file: string; loaded: number }) => { if (p.file === 'model.safetensors' && p.loaded > 1 << 20) throw new Error('stopped by the page'); } });
      const kept = (await (await caches.open('tfjs-beit')).keys()).map((k) => new URL(k.url).pathname);
      return { longer, stopped, keptWeights: kept.includes('/cache-endless/model.safetensors') };
    });
    expect(r.longer).to.match(/model\.safetensors: the server sent more than its Content-Length of 100 bytes/);
    expect(r.stopped).to.equal('stopped by the page');
    expect(r.keptWeights).to.equal(false);
  });

  it('a folder with only pytorch_model.bin gets the convert command in its error', async () => {
    const message = await page.evaluate(async () => {
      const beit = await import('/dist/browser/tfjs-beit.js' as string);
      const noSafetensors: typeof fetch = (input, init) => String(input).includes('.safetensors')
        ? Promise.resolve(new Response('', { status: 404 })) : fetch(input, init);
      try {
        await beit.loadModel('/models/d2v-tiny/', { cache: false, fetch: noSafetensors });
        return 'loaded';
      } catch (e) { return (e as Error).message; }
    });
    expect(message).to.match(/pytorch_model\.bin/).and.match(/npx beit convert/);
  });

  it('demo page: a picked photo gives top-5 bars, stage timings, the backend and an attention overlay per layer', async () => {
    await page.goto(server!.url);
    await page.fill('#model', '/models/d2v-tiny/');
    await page.selectOption('#backend', 'wasm');
    const photo = path.join(IMAGES, 'chelsea_exif6.jpg');
    await page.setInputFiles('#file', photo);
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]');
    expect(await page.getAttribute('#status', 'data-state'), await page.textContent('#status') ?? '').to.equal('done');
    expect(await page.locator('#top5 li').count()).to.equal(5);
    expect(await page.locator('#timings tr').count()).to.equal(4);
    expect(await page.textContent('#backend-used')).to.equal('wasm');
    const decoded = await readImageFile(photo); // EXIF orientation applied, as in the page
    const canvasInfo = () => page.evaluate(() => {
      const c = document.getElementById('overlay') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let sum = 0, distinct = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 97) { sum += d[i]! + d[i + 1]! + d[i + 2]!; distinct.add(d[i]! << 16 | d[i + 1]! << 8 | d[i + 2]!); }
      return { width: c.width, height: c.height, layer: c.dataset.layer, sum, distinct: distinct.size };
    });
    const last = await canvasInfo();
    expect([last.width, last.height]).to.deep.equal([decoded.width, decoded.height]);
    expect(last.layer).to.equal('1');
    expect(last.sum).to.be.greaterThan(0);
    expect(last.distinct).to.be.greaterThan(50);
    await page.locator('#layer').fill('0');
    const first = await canvasInfo();
    expect(first.layer).to.equal('0');
    expect(first.sum).to.not.equal(last.sum);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'browser-demo.png'), fullPage: true });
    expect(pageErrors, pageErrors.join('\n')).to.deep.equal([]);
  });
});
