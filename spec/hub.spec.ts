/**
 * Hub downloads against a real HTTP server on 127.0.0.1 that behaves like huggingface.co's file
 * endpoint: `/resolve/` answers 302 to a "CDN" on another origin with X-Linked-Etag/X-Linked-Size,
 * the CDN honours Range (206), absent files are 404, missing or private repos 401, and faults can be
 * injected (a connection dropped mid-file, a 503, a corrupted body).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { downloadModel, modelCacheDir, resolveModel, type HubOptions } from '../lib/node/hub.js';
import { loadModel } from '../lib/node/load.js';
import { encodeSafetensors, type StWriteTensor } from '../lib/io/safetensors.js';
import { readSafetensorsHeader } from '../lib/node/safetensors-file.js';
import { f32bytes, statePickle, torchZip } from './support/torch-builders.js';
import { main } from '../lib/cli/main.js';
import { spawn, spawnSync } from 'node:child_process';
import { createProgress } from '../lib/cli/progress.js';

const FIX = path.resolve('spec/fixtures/d2v-tiny');
const TOKEN = 'hf_secret';

type Fault = 'drop' | 'corrupt' | '503' | 'stall' | 'expired' | 'gone' | 'html';
interface Hit { server: 'hub' | 'cdn'; url: string; auth?: string; range?: string }

/** A fake hub + CDN pair on two ports (two origins). */
class MockHub {
  readonly repos = new Map<string, { files: Map<string, Buffer>; private?: boolean }>();
  readonly faults = new Map<string, Fault>();
  hits: Hit[] = [];
  private hub = http.createServer((q, s) => this.onHub(q, s));
  private cdn = http.createServer((q, s) => this.onCdn(q, s));
  hubUrl = '';
  cdnUrl = '';

  async start(): Promise<void> {
    const listen = (srv: http.Server): Promise<string> => new Promise((ok) => srv.listen(0, '127.0.0.1', () =>
      ok(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`)));
    this.hubUrl = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) { s.closeAllConnections(); await new Promise((ok) => s.close(ok)); }
  }

  private log(server: Hit['server'], q: http.IncomingMessage): void {
    this.hits.push({ server, url: q.url ?? '', auth: q.headers.authorization, range: q.headers.range });
  }

  private onHub(q: http.IncomingMessage, s: http.ServerResponse): void {
    this.log('hub', q);
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(q.url ?? '');
    const repo = m && this.repos.get(m[1]!);
    if (!m || !repo) { s.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Repository not found'); return; }
    if (repo.private && q.headers.authorization !== `Bearer ${TOKEN}`) { s.writeHead(401).end('Unauthorized'); return; }
    const file = decodeURIComponent(m[3]!), body = repo.files.get(file);
    if (!body) { s.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('Entry not found'); return; }
    const key = `${m[1]}/${file}`;
    if (this.faults.get(key) === '503') { this.faults.delete(key); s.writeHead(503).end('busy'); return; }
    if (/\.(safetensors|bin)$/.test(file)) {
      const sha = createHash('sha256').update(body).digest('hex');
      s.writeHead(302, { location: `${this.cdnUrl}/cdn/${sha}?key=${encodeURIComponent(key)}`, 'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(body.length), etag: '"0123456789abcdef0123456789abcdef01234567"' }).end();
      return;
    }
    s.writeHead(200, { 'content-length': body.length, etag: `"${createHash('sha1').update(body).digest('hex')}"` }).end(body);
  }

  private onCdn(q: http.IncomingMessage, s: http.ServerResponse): void {
    this.log('cdn', q);
    const key = new URL(q.url ?? '', this.cdnUrl).searchParams.get('key') ?? '';
    const [owner, name, ...rest] = key.split('/');
    const repoId = this.repos.has(`${owner}/${name}`) ? `${owner}/${name}` : owner!;
    const file = repoId === owner ? [name, ...rest].join('/') : rest.join('/');
    let body = this.repos.get(repoId)?.files.get(file);
    if (!body) { s.writeHead(404).end(); return; }
    const fault = this.faults.get(key);
    if (fault === 'expired') { this.faults.delete(key); s.writeHead(403).end('Request has expired'); return; } // a stale signed URL
    if (fault === 'gone') { s.writeHead(404).end(); return; }
    if (fault === 'html') { const page = '<html><body>Bad gateway</body></html>'; s.writeHead(200, { 'content-type': 'text/html', 'content-length': page.length }).end(page); return; }
    if (fault === 'corrupt') { body = Buffer.from(body); body[body.length >> 1] ^= 0xff; }
    const r = /^bytes=(\d+)-$/.exec(q.headers.range ?? '');
    const start = r ? Number(r[1]) : 0;
    if (start >= body.length && body.length) { s.writeHead(416).end(); return; }
    const part = body.subarray(start);
    s.writeHead(r ? 206 : 200, { 'content-length': part.length, etag: '"cdn-etag"',
      ...(r ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (fault === 'drop') {
      this.faults.delete(key);
      s.write(part.subarray(0, part.length >> 1), () => s.socket?.destroy());
      return;
    }
    if (fault === 'stall') { this.faults.delete(key); s.write(part.subarray(0, part.length >> 1)); return; } // then silence

    s.end(part);
  }
}

/**
 * A bare TCP server on 127.0.0.1 for answers node:http would refuse to produce: `answer` gets the
 * request path and lower-cased headers and writes whatever it likes to the socket (or nothing).
 */
async function rawServer(answer: (url: string, headers: Record<string, string>, sock: net.Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [line, ...lines] = buf.slice(0, end).split('\r\n');
      buf = buf.slice(end + 4);
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      answer(line!.split(' ')[1]!, headers, sock);
    });
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => { for (const s of socks) s.destroy(); return new Promise((ok) => srv.close(() => ok())); },
  };
}

/** Writes a raw HTTP/1.1 response head (and body) to a socket. */
function rawAnswer(sock: net.Socket, status: number, headers: Record<string, string | number>, body?: Buffer | string, end = true): void {
  sock.write(`HTTP/1.1 ${status} X\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  if (body !== undefined) sock.write(body);
  if (end) sock.end();
}

/** The HubError `p` rejects with (fails the test if it resolves or throws something else). */
async function hubError(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).name, (e as Error).stack).to.equal('HubError');
    return e as Error;
  }
  return expect.fail('should have thrown a HubError');
}

function fixtureFiles(...names: string[]): Map<string, Buffer> {
  return new Map(names.map((n) => [n, fs.readFileSync(path.join(FIX, n))]));
}

/** Splits model.safetensors into two shards + index, with the raw bytes unchanged. */
function shardedSafetensors(): Map<string, Buffer> {
  const file = path.join(FIX, 'model.safetensors');
  const h = readSafetensorsHeader(file), buf = fs.readFileSync(file);
  const halves: Array<Map<string, StWriteTensor>> = [new Map(), new Map()];
  const weightMap: Record<string, string> = {};
  h.entries.forEach((e, i) => {
    const k = i < h.entries.length / 2 ? 0 : 1;
    halves[k]!.set(e.name, { dtype: e.dtype, shape: e.shape, data: Uint8Array.from(buf.subarray(e.begin, e.end)) });
    weightMap[e.name] = `model-0000${k + 1}-of-00002.safetensors`;
  });
  return new Map([
    ['config.json', fs.readFileSync(path.join(FIX, 'config.json'))],
    ['model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }))],
    ['model-00001-of-00002.safetensors', Buffer.from(encodeSafetensors(halves[0]!, { format: 'pt' }))],
    ['model-00002-of-00002.safetensors', Buffer.from(encodeSafetensors(halves[1]!, { format: 'pt' }))],
  ]);
}

/** The sharded repo with its shards renamed by `rename` (names kept as they are in the index). */
function renamedShards(rename: (old: string) => string): Map<string, Buffer> {
  const files = shardedSafetensors(), out = new Map<string, Buffer>();
  for (const [n, b] of files) out.set(n.startsWith('model-') ? rename(n) : n, b);
  const index = JSON.parse(files.get('model.safetensors.index.json')!.toString()) as { weight_map: Record<string, string> };
  for (const k of Object.keys(index.weight_map)) index.weight_map[k] = rename(index.weight_map[k]!);
  out.set('model.safetensors.index.json', Buffer.from(JSON.stringify(index)));
  return out;
}

function shardedPytorch(): Map<string, Buffer> {
  const a = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 0, shape: [3, 2], stride: [1, 3] }]);
  const b = statePickle([{ name: 'b', storage: '0', storageType: 'FloatStorage', numel: 2, offset: 0, shape: [2], stride: [1] }]);
  return new Map([
    ['config.json', Buffer.from('{"model_type": "data2vec-vision"}')],
    ['pytorch_model.bin.index.json', Buffer.from(JSON.stringify({ metadata: { total_size: 32 }, weight_map: {
      w: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin' } }))],
    ['pytorch_model-00001-of-00002.bin', Buffer.from(torchZip(a, new Map([['0', f32bytes([0, 1, 2, 3, 4, 5])]])))],
    ['pytorch_model-00002-of-00002.bin', Buffer.from(torchZip(b, new Map([['0', f32bytes([7, 8])]])))],
  ]);
}

function sameTensors(a: string, b: string): void {
  const read = (f: string): Map<string, string> => {
    const h = readSafetensorsHeader(f), buf = fs.readFileSync(f);
    return new Map(h.entries.map((e) => [e.name, `${e.dtype}:${e.shape}:${createHash('sha256').update(buf.subarray(e.begin, e.end)).digest('hex')}`]));
  };
  expect(read(a)).to.deep.equal(read(b));
}

describe('hub downloads (mock hub on 127.0.0.1)', function () {
  this.timeout(20000);
  const hub = new MockHub();
  let tmp: string;
  let opts: HubOptions;

  before(async () => {
    await hub.start();
    hub.repos.set('acme/d2v-tiny', { files: fixtureFiles('config.json', 'preprocessor_config.json', 'model.safetensors') });
    hub.repos.set('acme/d2v-pt', { files: fixtureFiles('config.json', 'pytorch_model.bin') });
    hub.repos.set('acme/private', { files: fixtureFiles('config.json', 'model.safetensors'), private: true });
    hub.repos.set('acme/sharded', { files: shardedSafetensors() });
    hub.repos.set('acme/sharded-pt', { files: shardedPytorch() });
    hub.repos.set('acme/noweights', { files: fixtureFiles('config.json') });
    hub.repos.set('solo', { files: fixtureFiles('config.json', 'model.safetensors') });
  });
  after(() => hub.stop());
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-hub-'));
    opts = { endpoint: hub.hubUrl, cacheDir: tmp, quiet: true, retryDelayMs: 5, offline: false, token: '' };
    hub.hits = [];
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('downloads a safetensors repo into the cache, then serves it from disk without requests', async () => {
    const r = await downloadModel('acme/d2v-tiny', opts);
    expect(r.dir).to.equal(modelCacheDir('acme/d2v-tiny', 'main', tmp));
    expect(r.dir).to.equal(path.join(tmp, 'acme--d2v-tiny', 'main'));
    expect(r.files).to.deep.equal(['config.json', 'preprocessor_config.json', 'model.safetensors']);
    for (const f of r.files) expect(fs.readFileSync(path.join(r.dir, f)).equals(fs.readFileSync(path.join(FIX, f))), f).to.equal(true);
    expect(hub.hits.some((h) => h.server === 'cdn')).to.equal(true);
    hub.hits = [];
    const again = await downloadModel('acme/d2v-tiny', opts);
    expect(again.fromCache).to.equal(true);
    expect(hub.hits).to.deep.equal([]);
  });

  it('goes through HTTPS_PROXY / HTTP_PROXY (credentials in the URL), around it for NO_PROXY hosts and loopback', async () => {
    // A forward proxy: CONNECT tunnels and absolute-URI requests, logging what it was asked for. It is the
    // only one that can reach the names *.invalid: it connects them to 127.0.0.1.
    const seen: { how: string; target: string; auth?: string }[] = [];
    const socks = new Set<net.Socket>();
    const local = (host: string) => (host.endsWith('.invalid') ? '127.0.0.1' : host);
    const proxy = http.createServer((q, s) => {
      seen.push({ how: q.method!, target: q.url!, auth: q.headers['proxy-authorization'] });
      const u = new URL(q.url!);
      const up = http.request({ host: local(u.hostname), port: u.port, path: u.pathname + u.search, method: q.method, headers: q.headers }, (r) => {
        s.writeHead(r.statusCode!, r.headers);
        r.pipe(s);
      });
      q.pipe(up);
    });
    proxy.on('connect', (q, client: net.Socket, head) => {
      seen.push({ how: 'CONNECT', target: q.url!, auth: q.headers['proxy-authorization'] });
      const [host, port] = q.url!.split(':');
      const up = net.connect(Number(port), local(host!), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      for (const x of [up, client]) { socks.add(x); x.on('error', () => undefined); }
    });
    proxy.on('connection', (c) => socks.add(c));
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
    const proxyUrl = `http://user:pa%3Ass@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const saved = Object.fromEntries(['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy'].map((k) => [k, process.env[k]]));
    const { fetch: _ignored, ...viaEnv } = opts;
    const hubHost = `hub.invalid:${new URL(hub.hubUrl).port}`, cdnHost = `cdn.invalid:${new URL(hub.cdnUrl).port}`;
    const cdnUrl = hub.cdnUrl;
    hub.cdnUrl = `http://${cdnHost}`; // where the mock hub redirects LFS files
    const named = { ...viaEnv, endpoint: `http://${hubHost}` };
    try {
      for (const k of Object.keys(saved)) delete process.env[k];
      process.env.HTTP_PROXY = proxyUrl;
      process.env.HTTPS_PROXY = proxyUrl;
      const r = await downloadModel('acme/d2v-tiny', named);
      for (const f of r.files) expect(fs.readFileSync(path.join(r.dir, f)).equals(fs.readFileSync(path.join(FIX, f))), f).to.equal(true);
      const targets = seen.map((x) => (x.how === 'CONNECT' ? x.target : new URL(x.target).host));
      expect(targets).to.include(hubHost);
      expect(targets).to.include(cdnHost);
      expect(seen.every((x) => x.auth === `Basic ${Buffer.from('user:pa:ss').toString('base64')}`), JSON.stringify(seen)).to.equal(true);
      expect(hub.hits.length).to.be.greaterThan(2);
      // NO_PROXY names the hosts: the download goes straight to them (and cannot resolve them), not to the proxy.
      seen.length = 0;
      process.env.NO_PROXY = '.invalid';
      fs.rmSync(tmp, { recursive: true, force: true });
      expect((await hubError(downloadModel('acme/d2v-tiny', { ...named, retries: 0 }))).message).to.match(/hub\.invalid.*(ENOTFOUND|EAI_AGAIN)/);
      expect(seen).to.deep.equal([]);
      // Loopback never goes through the proxy, NO_PROXY or not.
      delete process.env.NO_PROXY;
      hub.cdnUrl = cdnUrl;
      const direct = await downloadModel('acme/d2v-tiny', viaEnv);
      expect(direct.fromCache).to.equal(false);
      expect(seen).to.deep.equal([]);
    } finally {
      hub.cdnUrl = cdnUrl;
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
      for (const x of socks) x.destroy();
      await new Promise((ok) => proxy.close(ok));
    }
  });

  it('uses a complete snapshot of Python\'s huggingface_hub cache in place, offline too; an incomplete one is downloaded', async () => {
    const hf = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-hfcache-'));
    try {
      /** A huggingface_hub cache entry: blobs, links from the snapshot, refs/<branch>, .no_exist markers. */
      const put = (repo: string, commit: string, files: Map<string, Buffer>, opt: { ref?: string; noExist?: string[] } = {}) => {
        const base = path.join(hf, `models--${repo.replace('/', '--')}`);
        fs.mkdirSync(path.join(base, 'blobs'), { recursive: true });
        fs.mkdirSync(path.join(base, 'snapshots', commit), { recursive: true });
        for (const [n, b] of files) {
          const blob = createHash('sha256').update(b).digest('hex');
          fs.writeFileSync(path.join(base, 'blobs', blob), b);
          fs.symlinkSync(path.join('..', '..', 'blobs', blob), path.join(base, 'snapshots', commit, n));
        }
        if (opt.ref) { fs.mkdirSync(path.join(base, 'refs'), { recursive: true }); fs.writeFileSync(path.join(base, 'refs', opt.ref), commit); }
        for (const n of opt.noExist ?? []) {
          fs.mkdirSync(path.join(base, '.no_exist', commit), { recursive: true });
          fs.writeFileSync(path.join(base, '.no_exist', commit, n), '');
        }
        return path.join(base, 'snapshots', commit);
      };
      const c1 = 'a'.repeat(40), c2 = 'b'.repeat(40), c3 = 'c'.repeat(40);
      const full = put('acme/d2v-tiny', c1, fixtureFiles('config.json', 'preprocessor_config.json', 'model.safetensors'), { ref: 'main' });
      const withHf = { ...opts, hfCache: hf };
      const r = await downloadModel('acme/d2v-tiny', withHf);
      expect(r).to.deep.include({ dir: full, fromCache: true, hfCache: true, files: ['config.json', 'preprocessor_config.json', 'model.safetensors'] });
      expect(hub.hits).to.deep.equal([]);
      expect(fs.readdirSync(tmp)).to.deep.equal([]); // nothing written to our cache
      // The same logits as the fixture folder.
      const [a, b] = await Promise.all([loadModel(r.dir, { backend: 'cpu' }), loadModel(FIX, { backend: 'cpu' })]);
      try {
        const img = path.resolve('spec/fixtures/images/chelsea.png');
        expect(await a.classify([img])).to.deep.equal(await b.classify([img]));
      } finally { a.dispose(); b.dispose(); }
      // By commit, offline, and sharded with the processor config recorded as absent.
      expect((await downloadModel('acme/d2v-tiny', { ...withHf, revision: c1, offline: true })).dir).to.equal(full);
      const sharded = put('acme/sharded', c2, new Map([...shardedSafetensors()]), { ref: 'v1', noExist: ['preprocessor_config.json'] });
      const rs = await downloadModel('acme/sharded', { ...withHf, revision: 'v1', offline: true });
      expect(rs.dir).to.equal(sharded);
      expect(rs.files).to.deep.equal(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      // PyTorch-only snapshots are converted into our cache (offline too), the snapshot left as it was.
      const ptSnap = put('acme/d2v-pt', c1, fixtureFiles('config.json', 'preprocessor_config.json', 'pytorch_model.bin'), { ref: 'main' });
      const before = fs.readdirSync(ptSnap).sort();
      const pt = await downloadModel('acme/d2v-pt', { ...withHf, offline: true });
      expect(pt).to.deep.include({ converted: true, hfCache: true, fromCache: false, files: ['config.json', 'preprocessor_config.json', 'model.safetensors'] });
      expect(pt.dir.startsWith(tmp)).to.equal(true);
      expect(fs.readdirSync(ptSnap).sort()).to.deep.equal(before);
      const [c, d] = await Promise.all([loadModel(pt.dir, { backend: 'cpu' }), loadModel(FIX, { backend: 'cpu' })]);
      try {
        const img = path.resolve('spec/fixtures/images/coco_cats.png');
        expect(await c.classify([img])).to.deep.equal(await d.classify([img]));
      } finally { c.dispose(); d.dispose(); }
      expect((await downloadModel('acme/d2v-pt', { ...withHf, offline: true })).fromCache).to.equal(true);
      put('acme/sharded-pt', c1, shardedPytorch(), { ref: 'main', noExist: ['preprocessor_config.json'] });
      const spt = await downloadModel('acme/sharded-pt', { ...withHf, offline: true });
      expect(spt.converted).to.equal(true);
      expect(spt.files[0]).to.equal('config.json');
      expect(spt.files).to.include('model.safetensors.index.json');
      expect(hub.hits).to.deep.equal([]);
      // Incomplete snapshots are left alone: the processor config never fetched (no .no_exist record), a shard missing.
      put('acme/d2v-tiny', c3, fixtureFiles('config.json', 'model.safetensors'), { ref: 'dev' });
      const files = shardedSafetensors();
      files.delete('model-00002-of-00002.safetensors');
      put('acme/sharded', c3, files, { ref: 'dev', noExist: ['preprocessor_config.json'] });
      const dl = await downloadModel('acme/d2v-tiny', { ...withHf, revision: 'main', hfCache: false });
      expect(dl.hfCache).to.equal(undefined);
      expect(dl.dir.startsWith(tmp)).to.equal(true);
      expect(hub.hits.length).to.be.greaterThan(0);
      hub.hits = [];
      const dev = await downloadModel('acme/d2v-tiny', { ...withHf, revision: 'dev' });
      expect(dev.dir.startsWith(tmp)).to.equal(true);
      expect(hub.hits.length).to.be.greaterThan(0);
      await hubError(downloadModel('acme/sharded', { ...withHf, revision: 'dev', offline: true }));
      // --dir asks for a folder of its own: the snapshot is not used there.
      const own = path.join(tmp, 'own');
      expect((await downloadModel('acme/d2v-tiny', { ...withHf, dir: own })).dir).to.equal(own);
    } finally {
      fs.rmSync(hf, { recursive: true, force: true });
    }
  });

  it('re-fetches only what is missing', async () => {
    const r = await downloadModel('acme/d2v-tiny', opts);
    fs.rmSync(path.join(r.dir, 'model.safetensors'));
    hub.hits = [];
    await downloadModel('acme/d2v-tiny', opts);
    expect(hub.hits.filter((h) => h.server === 'hub').map((h) => path.basename(h.url))).to.deep.equal(['model.safetensors']);
  });

  it('resumes a file whose connection dropped mid-way, with a Range request', async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'drop');
    const r = await downloadModel('acme/d2v-tiny', opts);
    expect(fs.readFileSync(path.join(r.dir, 'model.safetensors')).equals(fs.readFileSync(path.join(FIX, 'model.safetensors')))).to.equal(true);
    const ranges = hub.hits.filter((h) => h.server === 'cdn' && h.range).map((h) => h.range);
    expect(ranges).to.have.length(1);
    expect(Number(/bytes=(\d+)-/.exec(ranges[0]!)![1])).to.be.greaterThan(0);
  });

  it('a partial file that is already whole (a run stopped while verifying it) is verified, not fetched again', async () => {
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp), want = fs.readFileSync(path.join(FIX, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.beit-download', 'model.safetensors.part'), want);
    await downloadModel('acme/d2v-tiny', opts);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(want)).to.equal(true);
    expect(hub.hits.filter((h) => h.server === 'cdn').map((h) => h.range)).to.deep.equal([`bytes=${want.length}-`]);
    // The same size with other bytes fails the SHA-256 check and is not kept.
    fs.rmSync(dir, { recursive: true });
    fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.beit-download', 'model.safetensors.part'), Buffer.alloc(want.length));
    expect((await hubError(downloadModel('acme/d2v-tiny', opts))).message).to.match(/checksum mismatch/);
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(false);
    expect(fs.existsSync(path.join(dir, '.beit-download', 'model.safetensors.part'))).to.equal(false);
  });

  it('a partial file of another version of the file (another ETag) is discarded and the download restarts', async () => {
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp), want = fs.readFileSync(path.join(FIX, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.beit-download', 'model.safetensors.part'), Buffer.alloc(1000, 7)); // an older version's bytes
    fs.writeFileSync(path.join(dir, '.beit-download', 'model.safetensors.part.etag'), 'an-older-version');
    await downloadModel('acme/d2v-tiny', opts);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(want)).to.equal(true);
    expect(hub.hits.filter((h) => h.server === 'cdn').map((h) => h.range)).to.deep.equal(['bytes=1000-', undefined]);
    expect(fs.readdirSync(path.join(dir, '.beit-download')).filter((f) => f.includes('.part'))).to.deep.equal([]);
  });

  it('a folder holding another repo or revision is refused, not returned as this one', async () => {
    const dir = path.join(tmp, 'mydir');
    await downloadModel('acme/d2v-tiny', { ...opts, dir });
    for (const [repo, revision] of [['solo', 'main'], ['acme/d2v-tiny', 'v2']] as const) {
      const e = await hubError(downloadModel(repo, { ...opts, dir, revision }));
      expect(e.message).to.include(`${dir} holds acme/d2v-tiny@main, not ${repo}@${revision}; choose another folder, or remove this one.`);
    }
  });

  it('repo ids with "--" and revisions git refuses (".", ".x", "x.lock", empty parts) are refused before any request', async () => {
    for (const repo of ['a--b/c', 'a/b--c']) expect((await hubError(downloadModel(repo, opts))).message).to.include('is not a hub repo id');
    for (const revision of ['.', './.', '.beit-download', 'a/.b', 'x.lock', 'a//b', 'a/', 'v1.']) {
      expect((await hubError(downloadModel('acme/d2v-tiny', { ...opts, revision }))).message, revision).to.include(`revision "${revision}" is not valid`);
    }
    expect(hub.hits).to.deep.equal([]);
    // refs/pr/1 and a branch spelled refs--pr--1 no longer share a cache folder.
    expect(modelCacheDir('acme/x', 'refs/pr/1', tmp)).to.not.equal(modelCacheDir('acme/x', 'refs--pr--1', tmp));
  });

  it('a token HTTP cannot carry is an error at once that never shows the token', async () => {
    const e = await hubError(downloadModel('acme/private', { ...opts, token: 'hf_first\nhf_second' }));
    expect(e.message).to.include('the hub token (the token option) contains a line break, a space or a non-ASCII character');
    expect(e.message).to.not.include('hf_first');
    expect(hub.hits).to.deep.equal([]);
  });

  it('offline, PyTorch weights downloaded but never converted (a run stopped there) are converted without the network', async () => {
    const r = await downloadModel('acme/d2v-pt', opts);
    fs.rmSync(path.join(r.dir, 'model.safetensors'));
    fs.rmSync(path.join(r.dir, '.beit-download', 'complete.json'));
    hub.hits = [];
    const off = await downloadModel('acme/d2v-pt', { ...opts, offline: true });
    expect(off.files).to.deep.equal(['config.json', 'model.safetensors']);
    expect(off.converted).to.equal(true);
    expect(hub.hits).to.deep.equal([]);
    const t = readSafetensorsHeader(path.join(r.dir, 'model.safetensors'));
    expect(t.entries.length).to.equal(readSafetensorsHeader(path.join(FIX, 'model.safetensors')).entries.length);
  });

  it('a legacy (pre-1.6, pickle) pytorch_model.bin is kept and its conversion says how to re-save it; it is not fetched again', async () => {
    const legacy = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(64, 0x4b)]);
    hub.repos.set('acme/legacy', { files: new Map([['config.json', fs.readFileSync(path.join(FIX, 'config.json'))], ['pytorch_model.bin', legacy]]) });
    for (let run = 0; run < 2; run++) {
      const e = await downloadModel('acme/legacy', opts).then(() => undefined, (x: Error) => x);
      expect(e?.name).to.equal('PickleError');
      expect(e!.message).to.include('legacy (non-zip) PyTorch checkpoint format is unsupported');
    }
    expect(hub.hits.filter((h) => h.server === 'cdn')).to.have.length(1);
    expect(fs.readFileSync(path.join(modelCacheDir('acme/legacy', 'main', tmp), 'pytorch_model.bin')).equals(legacy)).to.equal(true);
  });

  it('a CDN web page where the hub announced the file (another size, text/html) is reported at once, not retried', async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'html');
    try {
      const e = await hubError(downloadModel('acme/d2v-tiny', { ...opts, retries: 3 }));
      expect(e.message).to.match(/model\.safetensors: the CDN \(http:\/\/127\.0\.0\.1:\d+\/cdn\/[0-9a-f]+\) answered with a 37-byte web page \(text\/html\) where the hub announced \d+ bytes/);
      expect(hub.hits.filter((h) => h.server === 'cdn')).to.have.length(1);
    } finally {
      hub.faults.delete('acme/d2v-tiny/model.safetensors');
    }
  });

  it('retries a 503', async () => {
    hub.faults.set('acme/d2v-tiny/config.json', '503');
    const r = await downloadModel('acme/d2v-tiny', opts);
    expect(fs.existsSync(path.join(r.dir, 'config.json'))).to.equal(true);
    expect(hub.hits.filter((h) => h.url.endsWith('/config.json'))).to.have.length(2);
  });

  it('fails on a checksum mismatch and keeps no corrupted file', async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'corrupt');
    try {
      await downloadModel('acme/d2v-tiny', opts);
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as Error).name).to.equal('HubError');
      expect((e as Error).message).to.match(/checksum mismatch/);
    } finally {
      hub.faults.delete('acme/d2v-tiny/model.safetensors');
    }
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp);
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(false);
    expect(fs.readdirSync(path.join(dir, '.beit-download')).filter((f) => f.endsWith('.part'))).to.deep.equal([]);
  });

  it('converts a repo that only has pytorch_model.bin', async () => {
    const r = await downloadModel('acme/d2v-pt', opts);
    expect(r.converted).to.equal(true);
    sameTensors(path.join(r.dir, 'model.safetensors'), path.join(FIX, 'model.safetensors'));
  });

  it('downloads sharded safetensors (index + shards)', async () => {
    const r = await downloadModel('acme/sharded', opts);
    expect(r.files).to.deep.equal(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    for (const f of r.files.slice(1)) expect(fs.readFileSync(path.join(r.dir, f)).equals(hub.repos.get('acme/sharded')!.files.get(f)!)).to.equal(true);
  });

  it('downloads and converts a sharded pytorch checkpoint', async () => {
    const r = await downloadModel('acme/sharded-pt', opts);
    expect(r.converted).to.equal(true);
    const index = JSON.parse(fs.readFileSync(path.join(r.dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.weight_map).to.deep.equal({ w: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' });
    expect(r.files).to.include('model-00002-of-00002.safetensors');
  });

  it('private repos need HF_TOKEN; the token never goes to another origin', async () => {
    try {
      await downloadModel('acme/private', opts);
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as Error).name).to.equal('HubError');
      expect((e as Error).message).to.include('HF_TOKEN');
    }
    hub.hits = [];
    const r = await downloadModel('acme/private', { ...opts, token: TOKEN });
    expect(fs.existsSync(path.join(r.dir, 'model.safetensors'))).to.equal(true);
    expect(hub.hits.filter((h) => h.server === 'hub').every((h) => h.auth === `Bearer ${TOKEN}`)).to.equal(true);
    expect(hub.hits.filter((h) => h.server === 'cdn').map((h) => h.auth)).to.deep.equal([undefined]);
  });

  it('without HF_TOKEN, the token file of huggingface-cli login ($HF_HOME/token, HF_TOKEN_PATH) is used; HF_TOKEN wins', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-hfhome-'));
    const saved = Object.fromEntries(['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HOME', 'HF_TOKEN_PATH'].map((k) => [k, process.env[k]]));
    const { token: _none, ...noToken } = opts;
    try {
      for (const k of Object.keys(saved)) delete process.env[k];
      process.env.HF_HOME = home;
      fs.writeFileSync(path.join(home, 'token'), `${TOKEN}\n`);
      const r = await downloadModel('acme/private', { ...noToken, hfCache: false });
      expect(fs.existsSync(path.join(r.dir, 'model.safetensors'))).to.equal(true);
      expect(hub.hits.filter((h) => h.server === 'hub').every((h) => h.auth === `Bearer ${TOKEN}`)).to.equal(true);
      // HF_TOKEN_PATH points elsewhere; a wrong HF_TOKEN wins over the file and is refused.
      fs.rmSync(r.dir, { recursive: true, force: true });
      fs.writeFileSync(path.join(home, 'other'), TOKEN);
      fs.rmSync(path.join(home, 'token'));
      process.env.HF_TOKEN_PATH = path.join(home, 'other');
      expect((await downloadModel('acme/private', { ...noToken, hfCache: false })).fromCache).to.equal(false);
      fs.rmSync(tmp, { recursive: true, force: true });
      process.env.HF_TOKEN = 'hf_wrong';
      expect((await hubError(downloadModel('acme/private', { ...noToken, hfCache: false }))).message).to.match(/with the token given \(HF_TOKEN or huggingface-cli login\)/);
    } finally {
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('TRANSFORMERS_OFFLINE=1, like HF_HUB_OFFLINE=1, uses only what is on disk', async () => {
    const { offline: _o, ...fromEnv } = opts;
    process.env.TRANSFORMERS_OFFLINE = '1';
    try {
      expect((await hubError(downloadModel('acme/d2v-tiny', { ...fromEnv, hfCache: false }))).message).to.match(/offline/);
      expect(hub.hits).to.deep.equal([]);
    } finally { delete process.env.TRANSFORMERS_OFFLINE; }
  });

  it('a missing repo or a repo without weights gives a clear HubError', async () => {
    for (const [id, re] of [['acme/nope', /not found or private/], ['acme/noweights', /no weights found/]] as const) {
      try {
        await downloadModel(id, opts);
        expect.fail('should have thrown');
      } catch (e) {
        expect((e as Error).name).to.equal('HubError');
        expect((e as Error).message).to.match(re);
      }
    }
  });

  it('offline mode uses the disk and names what is missing', async () => {
    try {
      await downloadModel('acme/d2v-tiny', { ...opts, offline: true });
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as Error).message).to.match(/offline.*config\.json.*model\.safetensors/);
    }
    expect(hub.hits).to.deep.equal([]);
    const dir = path.join(tmp, 'plain');
    await downloadModel('acme/d2v-tiny', { ...opts, dir });
    hub.hits = [];
    const r = await downloadModel('acme/d2v-tiny', { ...opts, dir, offline: true });
    expect(r.dir).to.equal(dir);
    expect(hub.hits).to.deep.equal([]);
    // A plain folder placed by hand (no download state) is also accepted offline.
    const manual = path.join(tmp, 'manual');
    fs.mkdirSync(manual);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, f), path.join(manual, f));
    expect((await downloadModel('acme/other', { ...opts, dir: manual, offline: true })).files).to.include('model.safetensors');
  });

  it('offline: an index that is JSON null says weight_map is missing (not "not valid JSON")', async () => {
    const dir = path.join(tmp, 'null-index');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(FIX, 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), 'null');
    try {
      await downloadModel('acme/null-index', { ...opts, dir, offline: true });
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as Error).name).to.equal('HubError');
      expect((e as Error).message).to.match(/model\.safetensors\.index\.json: "weight_map" must map tensor names to shard files/);
    }
  });

  it('resolveModel: a folder as-is, a repo id downloaded, nonsense refused', async () => {
    expect(await resolveModel(FIX, opts)).to.equal(FIX);
    const dir = await resolveModel('solo', opts);
    expect(dir).to.equal(path.join(tmp, 'solo', 'main'));
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(true);
    for (const bad of ['../etc', 'a/b/c', path.join(FIX, 'config.json')]) {
      let err: Error | undefined;
      try { await resolveModel(bad, opts); } catch (e) { err = e as Error; }
      expect(err?.name, bad).to.equal('HubError');
    }
  });

  it('HF_ENDPOINT and --revision shape the URL', async () => {
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.hubUrl;
    try {
      const { endpoint: _drop, ...rest } = opts;
      await downloadModel('acme/d2v-tiny', { ...rest, revision: 'v1.0' });
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT; else process.env.HF_ENDPOINT = saved;
    }
    expect(hub.hits[0]!.url).to.equal('/acme/d2v-tiny/resolve/v1.0/config.json');
    expect(fs.existsSync(path.join(tmp, 'acme--d2v-tiny', 'v1.0', 'model.safetensors'))).to.equal(true);
  });

  it('a CDN that stalls mid-body times out and the file resumes from the partial data', async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'stall');
    const t0 = Date.now();
    const r = await downloadModel('acme/d2v-tiny', { ...opts, timeoutMs: 200 });
    expect(Date.now() - t0).to.be.below(2000);
    expect(fs.readFileSync(path.join(r.dir, 'model.safetensors')).equals(fs.readFileSync(path.join(FIX, 'model.safetensors')))).to.equal(true);
    const ranges = hub.hits.filter((h) => h.server === 'cdn' && h.range);
    expect(ranges).to.have.length(1);
  });

  it("a CDN stall names the CDN URL without its signed query", async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'stall');
    const e = await hubError(downloadModel('acme/d2v-tiny', { ...opts, timeoutMs: 200, retries: 0 }));
    expect(e.message).to.match(new RegExp(`model\\.safetensors: failed after 1 attempts: no data from ${hub.cdnUrl}/cdn/[0-9a-f]{64} for 0\\.2 s after \\d+ bytes\\. `));
  });

  it('two downloads of the same repo at once share the partial file: one waits, both succeed, the cache is whole', async () => {
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp), want = fs.readFileSync(path.join(FIX, 'model.safetensors'));
    fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.beit-download', 'model.safetensors.part'), want.subarray(0, 1000)); // an earlier run's
    const [a, b] = await Promise.all([downloadModel('acme/d2v-tiny', opts), downloadModel('acme/d2v-tiny', opts)]);
    expect(a.files).to.deep.equal(b.files);
    expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(want)).to.equal(true);
    expect(hub.hits.filter((h) => h.server === 'cdn').map((h) => h.range)).to.deep.equal(['bytes=1000-']);
    expect(fs.readdirSync(path.join(dir, '.beit-download')).filter((f) => /\.(part|lock)$/.test(f))).to.deep.equal([]);
  });

  it('a lock left by a process that died is taken over at once', async () => {
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.beit-download', 'config.json.lock'), `${dead}@${os.hostname()}`);
    const t0 = Date.now();
    await downloadModel('acme/d2v-tiny', opts);
    expect(Date.now() - t0).to.be.below(1000);
    expect(fs.existsSync(path.join(dir, '.beit-download', 'config.json.lock'))).to.equal(false);
  });

  it('a download waiting on a live lock says so once, then goes on when its holder is gone', async () => {
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp);
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      fs.mkdirSync(path.join(dir, '.beit-download'), { recursive: true });
      fs.writeFileSync(path.join(dir, '.beit-download', 'config.json.lock'), `${holder.pid}@${os.hostname()}`);
      const notices: string[] = [];
      setTimeout(() => holder.kill(), 400);
      await downloadModel('acme/d2v-tiny', { ...opts, onNotice: (m) => notices.push(m) });
      expect(notices).to.deep.equal([`config.json: waiting for another download of this file to finish (process ${holder.pid}@${os.hostname()}).`]);
      expect(fs.existsSync(path.join(dir, 'config.json'))).to.equal(true);
    } finally {
      holder.kill();
    }
  });

  it('a disk problem is a HubError naming the path at once, not retried as a network error', async () => {
    const dir = path.join(tmp, 'mine');
    fs.mkdirSync(path.join(dir, 'model.safetensors'), { recursive: true }); // a folder in the way
    fs.writeFileSync(path.join(dir, 'model.safetensors', 'notes.txt'), 'mine');
    // Without force, a folder of the user's own is refused before anything is fetched.
    let e = await hubError(downloadModel('acme/d2v-tiny', { ...opts, dir }));
    expect(e.message).to.include(`${dir} already holds model.safetensors, not downloaded by beit; choose an empty folder, or pass --force`);
    const o = { ...opts, dir, retries: 3, retryDelayMs: 300, force: true };
    let t0 = Date.now();
    e = await hubError(downloadModel('acme/d2v-tiny', o));
    expect(Date.now() - t0).to.be.below(300);
    expect(e.message).to.include(`${path.join(dir, 'model.safetensors')}: cannot save the download of ${hub.hubUrl}/acme/d2v-tiny/resolve/main/model.safetensors`);
    expect(e.message).to.not.include('HF_HUB_OFFLINE');
    expect(fs.readFileSync(path.join(dir, 'model.safetensors', 'notes.txt'), 'utf8')).to.equal('mine');
    fs.writeFileSync(path.join(tmp, 'file'), '');
    t0 = Date.now();
    e = await hubError(downloadModel('acme/d2v-tiny', { ...o, dir: undefined, cacheDir: path.join(tmp, 'file', 'cache') }));
    expect(e.message).to.match(/file\/cache\/acme--d2v-tiny\/main: cannot create the checkpoint folder \(ENOTDIR/);
    if (fs.existsSync('/dev/full')) { // a full disk
      const full = path.join(tmp, 'full');
      fs.mkdirSync(path.join(full, '.beit-download'), { recursive: true });
      fs.symlinkSync('/dev/full', path.join(full, '.beit-download', 'config.json.part'));
      t0 = Date.now();
      e = await hubError(downloadModel('acme/d2v-tiny', { ...o, dir: full }));
      expect(Date.now() - t0).to.be.below(300);
      expect(e.message).to.match(/config\.json\.part: cannot write the download of .*config\.json \(ENOSPC/);
    }
  });

  it('a lock that cannot be made, or a folder or dangling link in its place, is a HubError, not a raw error or an endless wait', async () => {
    const long = `${'x'.repeat(240)}.safetensors`; // fine as a file name, too long with ".lock"
    hub.repos.set('acme/long-name', { files: renamedShards((n) => (n.startsWith('model-00001') ? long : n)) });
    let e = await hubError(downloadModel('acme/long-name', opts));
    expect(e.message).to.include(`${long}.lock: cannot create the download lock (ENAMETOOLONG`);
    const dir = modelCacheDir('acme/d2v-tiny', 'main', tmp), lock = path.join(dir, '.beit-download', 'config.json.lock');
    fs.mkdirSync(lock, { recursive: true });
    e = await hubError(downloadModel('acme/d2v-tiny', opts));
    expect(e.message).to.equal(`${lock}: not a lock file (EISDIR: illegal operation on a directory, read); remove it.`);
    fs.rmdirSync(lock);
    fs.symlinkSync(path.join(tmp, 'nowhere', 'x'), lock);
    e = await hubError(downloadModel('acme/d2v-tiny', opts));
    expect(e.message).to.match(/config\.json\.lock: not a lock file \(ENOENT.*\); remove it\.$/);
  });

  it('shard names are URL-encoded (#, ?, %, spaces); hidden or control-character names are a HubError', async () => {
    const odd = renamedShards((n) => n.replace('model-00001', 'shard #1 ?').replace('model-00002', '%2e%2e'));
    hub.repos.set('acme/odd-names', { files: odd });
    const r = await downloadModel('acme/odd-names', opts);
    for (const f of r.files) expect(fs.readFileSync(path.join(r.dir, f)).equals(odd.get(f)!), f).to.equal(true);
    expect(hub.hits.map((h) => h.url)).to.include('/acme/odd-names/resolve/main/shard%20%231%20%3F-of-00002.safetensors');
    for (const bad of ['.beit-download', 'a\u0000b.safetensors', 'a\nb.safetensors']) {
      hub.repos.set('acme/bad-names', { files: renamedShards((n) => (n.startsWith('model-00001') ? bad : n)) });
      const e = await hubError(downloadModel('acme/bad-names', { ...opts, cacheDir: path.join(tmp, encodeURIComponent(bad)) }));
      expect(e.message).to.include(`"weight_map" must map tensor names to shard files in the same folder (not ${JSON.stringify(bad)})`);
    }
  });

  it('an HF_ENDPOINT that is not an http(s) URL is a HubError at once, with no folder created', async () => {
    for (const endpoint of ['huggingface.co', 'ftp://example.com']) {
      const t0 = Date.now();
      const e = await hubError(downloadModel('acme/d2v-tiny', { ...opts, endpoint, retries: 3, retryDelayMs: 300 }));
      expect(Date.now() - t0).to.be.below(300);
      expect(e.message).to.equal(`hub endpoint "${endpoint}" (HF_ENDPOINT) is not an http(s) URL such as https://huggingface.co.`);
    }
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it("the CDN's 403/404 is retried and reported as the CDN's, not read as a private repo or a missing file", async () => {
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'expired');
    const r = await downloadModel('acme/d2v-tiny', opts);
    expect(fs.existsSync(path.join(r.dir, 'model.safetensors'))).to.equal(true);
    hub.faults.set('acme/d2v-tiny/model.safetensors', 'gone');
    try {
      const e = await hubError(downloadModel('acme/d2v-tiny', { ...opts, cacheDir: path.join(tmp, 'gone'), retries: 1 }));
      expect(e.message).to.match(new RegExp(`resolve/main/model\\.safetensors: failed after 2 attempts: HTTP 404 from ${hub.cdnUrl}/cdn/[0-9a-f]{64}\\. `));
    } finally {
      hub.faults.delete('acme/d2v-tiny/model.safetensors');
    }
  });

  it('beit download --dir --json prints the folder and files; errors print without a stack', async () => {
    const out: string[] = [], err: string[] = [];
    const saved = { o: process.stdout.write, e: process.stderr.write, endpoint: process.env.HF_ENDPOINT, token: process.env.HF_TOKEN };
    process.env.HF_ENDPOINT = hub.hubUrl;
    delete process.env.HF_TOKEN;
    (process.stdout as { write: unknown }).write = (x: string) => { out.push(String(x)); return true; };
    (process.stderr as { write: unknown }).write = (x: string) => { err.push(String(x)); return true; };
    const dir = path.join(tmp, 'cli');
    let ok: number, bad: number;
    try {
      ok = await main(['download', 'acme/d2v-tiny', '--dir', dir, '--json', '--quiet']);
      bad = await main(['download', 'acme/private', '--dir', path.join(tmp, 'p'), '--quiet']);
    } finally {
      (process.stdout as { write: unknown }).write = saved.o;
      (process.stderr as { write: unknown }).write = saved.e;
      if (saved.endpoint === undefined) delete process.env.HF_ENDPOINT; else process.env.HF_ENDPOINT = saved.endpoint;
      if (saved.token !== undefined) process.env.HF_TOKEN = saved.token;
    }
    expect(ok).to.equal(0);
    const rep = JSON.parse(out.join(''));
    expect(rep).to.deep.include({ repo: 'acme/d2v-tiny', revision: 'main', dir, converted: false });
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(true);
    expect(bad).to.equal(1);
    expect(err.join('')).to.include('HF_TOKEN');
    expect(err.join('')).to.not.match(/\n\s+at /);
  });
});

describe('hub downloads from misbehaving servers (raw TCP on 127.0.0.1)', function () {
  this.timeout(5000);
  let tmp: string;
  let close: (() => Promise<void>) | undefined;
  const serve = async (answer: Parameters<typeof rawServer>[0]): Promise<HubOptions> => {
    const s = await rawServer(answer);
    close = s.close;
    return { endpoint: s.url, cacheDir: tmp, quiet: true, retries: 1, retryDelayMs: 5, timeoutMs: 200, offline: false, token: '' };
  };
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-hubfuzz-')); });
  afterEach(async () => { await close?.(); close = undefined; fs.rmSync(tmp, { recursive: true, force: true }); });

  it('a server that never answers times out with a message naming the file, not a hang', async () => {
    const o = await serve(() => undefined);
    const t0 = Date.now();
    const e = await hubError(downloadModel('acme/x', o));
    expect(Date.now() - t0).to.be.below(2000);
    expect(e.message).to.match(/\/acme\/x\/resolve\/main\/config\.json: failed after 2 attempts: no response within 0\.2 s/);
  });

  it('a body that stops mid-way times out, keeping only the resumable partial file', async () => {
    const o = await serve((_u, _h, sock) => rawAnswer(sock, 200, { 'content-length': 100 }, '{"model_type":', false));
    const e = await hubError(downloadModel('acme/x', o));
    expect(e.message).to.match(/config\.json: failed after 2 attempts: no data for 0\.2 s after 14 bytes/);
    const dir = modelCacheDir('acme/x', 'main', tmp);
    expect(fs.existsSync(path.join(dir, 'config.json'))).to.equal(false);
    expect(fs.statSync(path.join(dir, '.beit-download', 'config.json.part')).size).to.equal(14);
  });

  it('redirects: relative ones are followed; a loop, a missing Location or a non-http(s) target is a HubError at once', async () => {
    const cfg = fs.readFileSync(path.join(FIX, 'config.json'));
    let target = '';
    const o = await serve((url, _h, sock) => {
      if (url === '/files/config.json') rawAnswer(sock, 200, { 'content-length': cfg.length }, cfg);
      else if (url.endsWith('/config.json')) rawAnswer(sock, 302, { 'content-length': 0, ...(target ? { location: target } : {}) });
      else rawAnswer(sock, 404, { 'content-length': 0 });
    });
    target = '../../../../files/config.json';
    expect((await hubError(downloadModel('acme/x', o))).message).to.match(/no weights found/);
    expect(fs.readFileSync(path.join(modelCacheDir('acme/x', 'main', tmp), 'config.json')).equals(cfg)).to.equal(true);
    const cases: Array<[string, RegExp]> = [
      ['', /config\.json: HTTP 302 redirect without a Location header/],
      ['/acme/y/resolve/main/config.json', /acme\/y\/resolve\/main\/config\.json: more than 10 redirects/],
      ['data:application/json,{}', /redirect to "data:application\/json,\{\}", expected an http\(s\) URL/],
      ['file:///etc/passwd', /redirect to "file:\/\/\/etc\/passwd", expected an http\(s\) URL/],
      ['http://[nonsense', /redirect to "http:\/\/\[nonsense", expected an http\(s\) URL/],
    ];
    for (const [loc, re] of cases) {
      target = loc;
      const t0 = Date.now();
      expect((await hubError(downloadModel('acme/y', { ...o, retries: 5, retryDelayMs: 200 }))).message, loc).to.match(re);
      expect(Date.now() - t0, `${loc}: not retried`).to.be.below(150);
      expect(fs.existsSync(path.join(modelCacheDir('acme/y', 'main', tmp), 'config.json')), loc).to.equal(false);
    }
  });

  it('an HTML page or a JSON file cut short by Content-Length is refused, never kept as complete', async () => {
    const cfg = fs.readFileSync(path.join(FIX, 'config.json'));
    const html = '<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>';
    let cut = false;
    const o = await serve((url, _h, sock) => {
      if (url.endsWith('/config.json')) rawAnswer(sock, 200, { 'content-length': cut ? 10 : cfg.length }, cfg);
      else if (url.endsWith('/model.safetensors')) {
        rawAnswer(sock, 200, { 'content-type': 'text/html', 'transfer-encoding': 'chunked' }, `${html.length.toString(16)}\r\n${html}\r\n0\r\n\r\n`);
      } else rawAnswer(sock, 404, { 'content-length': 0 });
    });
    const dir = modelCacheDir('acme/x', 'main', tmp);
    expect((await hubError(downloadModel('acme/x', o))).message)
      .to.match(/resolve\/main\/model\.safetensors: the server's answer is not a safetensors file \(.+\); Content-Type: text\/html\.$/);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['.beit-download', 'config.json']);
    expect(fs.readdirSync(path.join(dir, '.beit-download')).sort()).to.deep.equal(['config.json.json', 'origin.json']);
    cut = true;
    expect((await hubError(downloadModel('acme/x', { ...o, dir: path.join(tmp, 'cut') }))).message)
      .to.match(/resolve\/main\/config\.json: the server's answer is not valid JSON/);
    expect(fs.existsSync(path.join(tmp, 'cut')), 'a failed download leaves no empty folder').to.equal(false);
  });

  it('Retry-After: a short wait is honoured, a huge one ends the download at once, nonsense falls back to backoff', async () => {
    const cfg = fs.readFileSync(path.join(FIX, 'config.json'));
    let busy: string[] = [];
    const o = await serve((url, _h, sock) => {
      if (url.endsWith('/config.json') && busy.length) rawAnswer(sock, 429, { 'retry-after': busy.shift()!, 'content-length': 0 });
      else if (url.endsWith('/config.json')) rawAnswer(sock, 200, { 'content-length': cfg.length }, cfg);
      else rawAnswer(sock, 404, { 'content-length': 0 });
    });
    busy = ['1'];
    let t0 = Date.now();
    expect((await hubError(downloadModel('acme/x', o))).message).to.match(/no weights found/);
    expect(Date.now() - t0).to.be.within(950, 1900);
    for (const huge of ['999999999999', 'Wed, 21 Oct 2099 07:28:00 GMT']) {
      busy = [huge];
      t0 = Date.now();
      expect((await hubError(downloadModel('acme/y', { ...o, retries: 5, retryDelayMs: 300 }))).message).to.include(
        `/acme/y/resolve/main/config.json: HTTP 429; the server asks to retry after`);
      expect(Date.now() - t0).to.be.below(250);
    }
    busy = ['-5', 'soon', 'Wed, 21 Oct 2015 07:28:00 GMT'];
    t0 = Date.now();
    expect((await hubError(downloadModel('acme/z', { ...o, retries: 3 }))).message).to.match(/no weights found/);
    expect(Date.now() - t0).to.be.below(500);
  });

  it('a JSON file that never ends is cut at 64 MiB, not written until the disk is full', async () => {
    const frame = Buffer.concat([Buffer.from(`${(1 << 20).toString(16)}\r\n`), Buffer.alloc(1 << 20, 32), Buffer.from('\r\n')]);
    const o = await serve((_u, _h, sock) => {
      rawAnswer(sock, 200, { 'transfer-encoding': 'chunked' }, undefined, false);
      const pump = (): void => { while (!sock.destroyed && sock.write(frame)); if (!sock.destroyed) sock.once('drain', pump); };
      pump();
    });
    const t0 = Date.now();
    const e = await hubError(downloadModel('acme/x', o));
    expect(Date.now() - t0).to.be.below(2000);
    expect(e.message).to.match(/\/resolve\/main\/config\.json: more than 64 MiB for config\.json; expected a small JSON file\./);
    expect(fs.existsSync(modelCacheDir('acme/x', 'main', tmp)), 'a failed download leaves no empty folder').to.equal(false);
  });

  it('a file larger than the free disk space is refused before writing; a .bin that is no zip archive is refused', async () => {
    const cfg = fs.readFileSync(path.join(FIX, 'config.json'));
    const html = Buffer.from('<!DOCTYPE html><html><body>Sign in</body></html>');
    let weights: 'huge' | 'html' = 'huge';
    const o = await serve((url, _h, sock) => {
      if (url.endsWith('/config.json')) rawAnswer(sock, 200, { 'content-length': cfg.length }, cfg);
      else if (weights === 'huge' && url.endsWith('/model.safetensors')) rawAnswer(sock, 200, { 'content-length': 10 ** 15 }, Buffer.alloc(10));
      else if (weights === 'html' && url.endsWith('/pytorch_model.bin')) rawAnswer(sock, 200, { 'content-length': html.length, 'content-type': 'text/html' }, html);
      else rawAnswer(sock, 404, { 'content-length': 0 });
    });
    expect((await hubError(downloadModel('acme/x', o))).message)
      .to.match(/resolve\/main\/model\.safetensors: 1000000000000000 bytes to download, but only \d+ bytes are free on the disk of .*acme--x\/main; free some space/);
    weights = 'html';
    expect((await hubError(downloadModel('acme/y', o))).message)
      .to.match(/resolve\/main\/pytorch_model\.bin: the server's answer is not a PyTorch checkpoint \(a zip archive\); Content-Type: text\/html\.$/);
    expect(fs.existsSync(path.join(modelCacheDir('acme/y', 'main', tmp), 'pytorch_model.bin'))).to.equal(false);
  });

  it('a gated repo says so and where to accept its conditions', async () => {
    const o = await serve((_u, _h, sock) => rawAnswer(sock, 403, { 'x-error-code': 'GatedRepo', 'content-length': 0 }));
    expect((await hubError(downloadModel('acme/x', o))).message)
      .to.equal(`acme/x: a gated repo (HTTP 403); accept its conditions at ${o.endpoint}/acme/x while logged in, then set HF_TOKEN to a token of that account.`);
  });

  it('a gzip body sent despite accept-encoding: identity is saved decoded, not refused for its encoded Content-Length', async () => {
    const cfg = fs.readFileSync(path.join(FIX, 'config.json')), gz = zlib.gzipSync(cfg);
    const o = await serve((url, _h, sock) => {
      if (url.endsWith('/config.json')) rawAnswer(sock, 200, { 'content-length': gz.length, 'content-encoding': 'gzip' }, gz);
      else rawAnswer(sock, 404, { 'content-length': 0 });
    });
    expect((await hubError(downloadModel('acme/x', o))).message).to.match(/no weights found/);
    expect(fs.readFileSync(path.join(modelCacheDir('acme/x', 'main', tmp), 'config.json')).equals(cfg)).to.equal(true);
  });
});

describe('beit download usage errors', () => {
  it('a malformed repo id or revision exits 2 (usage), before any network access', async () => {
    const err: string[] = [];
    const saved = process.stderr.write;
    (process.stderr as { write: unknown }).write = (x: string) => { err.push(String(x)); return true; };
    let codes: number[];
    try {
      codes = [await main(['download', '../etc']), await main(['download', 'a/b', '--revision', '../x']), await main(['download', 'a/b/c'])];
    } finally {
      (process.stderr as { write: unknown }).write = saved;
    }
    expect(codes).to.deep.equal([2, 2, 2]);
    expect(err.join('')).to.match(/"\.\.\/etc" is not a hub repo id.*\n.*--revision "\.\.\/x" is not a branch, tag or commit name/);
  });
});

describe('progress bar', () => {
  it('draws bytes, percentage, speed and ETA on a TTY, nothing otherwise', () => {
    const lines: string[] = [];
    const tty = { isTTY: true, columns: 120, write: (x: string) => { lines.push(x); return true; } };
    const bar = createProgress({ label: 'model.safetensors', total: 2_000_000, stream: tty });
    bar.update(1_000_000);
    bar.finish();
    const text = lines.join('');
    expect(text).to.include('model.safetensors');
    expect(text).to.match(/50%/);
    expect(text).to.match(/1\.0 MB\/2\.0 MB/);
    expect(text).to.match(/ETA/);
    expect(text.endsWith('\n')).to.equal(true);
    const silent: string[] = [];
    const pipe = { isTTY: false, write: (x: string) => { silent.push(x); return true; } };
    const b2 = createProgress({ label: 'x', total: 10, stream: pipe });
    b2.tick(5); b2.finish();
    const b3 = createProgress({ label: 'x', total: 10, stream: tty, quiet: true });
    b3.tick(5); b3.finish();
    const n = lines.length;
    process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
    try {
      const b4 = createProgress({ label: 'x', total: 10, stream: tty });
      b4.tick(5); b4.finish();
    } finally { delete process.env.HF_HUB_DISABLE_PROGRESS_BARS; }
    expect(lines.length, 'HF_HUB_DISABLE_PROGRESS_BARS=1 silences the bar').to.equal(n);
    expect(silent).to.deep.equal([]);
  });

  it('interrupt() clears the bar, lets output through and draws the bar again (silent bars just write)', () => {
    const out: string[] = [];
    const tty = { isTTY: true, columns: 120, write: (x: string) => { out.push(x); return true; } };
    const bar = createProgress({ label: 'classify', total: 10, unit: 'count', stream: tty });
    bar.update(3);
    out.length = 0;
    bar.interrupt(() => out.push('RESULT\n'));
    expect(out[0]).to.equal(`\r${' '.repeat(119)}\r`);
    expect(out[1]).to.equal('RESULT\n');
    expect(out[2]).to.match(/^\rclassify .*30%/);
    bar.finish();
    out.length = 0;
    bar.interrupt(() => out.push('AFTER\n'));
    expect(out).to.deep.equal(['AFTER\n']);
    const silent = createProgress({ label: 'x', total: 10, stream: { isTTY: false, write: () => true } });
    let ran = false;
    silent.interrupt(() => { ran = true; });
    expect(ran).to.equal(true);
  });

  it('a missing local path whose parent folder exists is not sent to the hub', async () => {
    const parent = fs.mkdtempSync('beit-local-'); // relative, so `<parent>/missing` also looks like owner/name
    let err: Error | undefined;
    try { await resolveModel(`${parent}/missing`, { fetch: () => { throw new Error('the hub must not be asked'); } }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('HubError');
    expect(err?.message).to.include('no such checkpoint folder');
    fs.rmSync(parent, { recursive: true, force: true });
  });
});
