/**
 * The browser loader's HTTP side, run in Node with a fake `fetch` serving fixture folders (Node 20
 * has fetch, Response and streams; it has no Cache Storage, so caching is off here and is covered
 * in spec/browser.spec.ts): URL / repo-id resolution, progress, truncated downloads, sharded
 * checkpoints, missing files and the .bin-only message.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { checkpointBase, fetchCheckpoint } from '../lib/browser/checkpoint.js';
import { fetchFile, FetchError, type FileProgress } from '../lib/browser/fetch-files.js';
import { readCheckpointDir } from '../lib/node/checkpoint-dir.js';
import { caseDir } from './helpers/fixtures.js';

const BASE = 'http://models.test/';

/** A fetch serving `dir` under BASE; `tweak` may replace a response. */
function folderFetch(dir: string, tweak?: (file: string, res: Response) => Response): typeof fetch {
  return async (input) => {
    const file = decodeURIComponent(new URL(String(input)).pathname.slice(1));
    const p = path.join(dir, file);
    const res = fs.existsSync(p)
      ? new Response(fs.readFileSync(p), { headers: { 'content-length': String(fs.statSync(p).size) } })
      : new Response('not found', { status: 404 });
    return tweak ? tweak(file, res) : res;
  };
}

/** The error `p` rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(() => { throw new Error('expected a failure, got a result'); }, (e: Error) => e);
}

/** A body stream of `chunks` that records whether the reader cancelled it. */
function trackedBody(chunks: Uint8Array[], end: 'close' | 'error' | 'never' = 'close'): { body: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false, i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else if (end === 'close') c.close();
      else if (end === 'error') c.error(new TypeError('terminated'));
      else c.enqueue(new Uint8Array(1 << 20)); // 'never': an endless body
    },
    cancel() { cancelled = true; },
  });
  return { body, cancelled: () => cancelled };
}

describe('browser loader over HTTP (fake fetch in Node)', () => {
  it('checkpointBase: repo ids go to the hub, URLs are folders ending with /', () => {
    expect(checkpointBase('facebook/data2vec-vision-base-ft1k')).to.equal('https://huggingface.co/facebook/data2vec-vision-base-ft1k/resolve/main/');
    expect(checkpointBase('owner/name', 'v1.0')).to.equal('https://huggingface.co/owner/name/resolve/v1.0/');
    expect(checkpointBase('https://example.com/ckpt')).to.equal('https://example.com/ckpt/');
    expect(checkpointBase('http://127.0.0.1:8080/models/d2v-tiny/')).to.equal('http://127.0.0.1:8080/models/d2v-tiny/');
    expect(() => checkpointBase('  ')).to.throw(/empty model location/);
  });

  it('checkpointBase: a URL that cannot be a folder (query, fragment, javascript:/data:) is refused, not turned into broken file URLs', () => {
    expect(() => checkpointBase('https://example.com/ckpt?token=1')).to.throw(/"https:\/\/example\.com\/ckpt\?token=1": a checkpoint folder URL cannot have a query or fragment/);
    expect(() => checkpointBase('https://example.com/ckpt/#x')).to.throw(/cannot have a query or fragment/);
    for (const s of ['javascript:alert(1)', 'data:text/plain,hi']) expect(() => checkpointBase(s), s).to.throw(/is not a folder URL/);
  });

  it('a hub page URL pasted instead of a repo id: the 404 on config.json names the repo id to use', async () => {
    const base = checkpointBase('https://huggingface.co/facebook/data2vec-vision-base-ft1k/tree/main');
    const e = await failure(fetchCheckpoint(base, { cache: false, fetch: async () => new Response('', { status: 404 }) }));
    expect(e.message).to.match(/config\.json: not found \(HTTP 404\); .*a hub page, not a folder of files: pass the repo id "facebook\/data2vec-vision-base-ft1k"\.$/);
    const v2 = await failure(fetchCheckpoint(checkpointBase('https://huggingface.co/owner/name/tree/v2'), { cache: false, fetch: async () => new Response('', { status: 404 }) }));
    expect(v2.message).to.match(/pass the repo id "owner\/name" with \{ revision: "v2" \}\.$/);
    const folder = await failure(fetchCheckpoint(BASE, { cache: false, fetch: async () => new Response('', { status: 404 }) }));
    expect(folder.message).to.not.match(/hub page/);
  });

  it('fetches config, processor and weights with progress; tensors equal the Node folder reader\'s', async () => {
    const seen: FileProgress[] = [];
    const ckpt = await fetchCheckpoint(BASE, { cache: false, fetch: folderFetch(caseDir('d2v-tiny')), onProgress: (p) => seen.push(p) });
    const local = readCheckpointDir(caseDir('d2v-tiny'));
    expect(ckpt.configText).to.equal(local.configText);
    expect(ckpt.processorText).to.be.a('string');
    expect([...ckpt.tensors.keys()].sort()).to.deep.equal([...local.tensors.keys()].sort());
    for (const [name, t] of local.tensors) expect(Array.from(ckpt.tensors.get(name)!.data), name).to.deep.equal(Array.from(t.data));
    const last = seen.filter((p) => p.file === 'model.safetensors').at(-1)!;
    expect(last).to.deep.equal({ file: 'model.safetensors', loaded: fs.statSync(path.join(caseDir('d2v-tiny'), 'model.safetensors')).size, total: last.total, cached: false });
    expect(last.total).to.equal(last.loaded);
  });

  it('a server silent for timeoutMs (no answer, or no data mid-file) ends the download with an error naming the URL', async () => {
    const silent: typeof fetch = (_u, init) => new Promise((_ok, fail) => {
      init?.signal?.addEventListener('abort', () => fail(init.signal!.reason));
    });
    const t0 = Date.now();
    let e = await failure(fetchFile(`${BASE}config.json`, 'config.json', { cache: false, fetch: silent, timeoutMs: 150 }));
    expect(e).to.be.instanceOf(FetchError);
    expect(e.message).to.equal(`${BASE}config.json: the server sent no answer for 0.15 s; check that it is up, then reload to retry.`);
    expect(Date.now() - t0).to.be.below(2000);
    // Headers, 10 bytes, then silence: the body read is aborted and named.
    const stalls: typeof fetch = async (_u, init) => {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new Uint8Array(10));
          init?.signal?.addEventListener('abort', () => c.error(init.signal!.reason));
        },
      });
      return new Response(body, { headers: { 'content-length': '100' } });
    };
    e = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false, fetch: stalls, timeoutMs: 150 }));
    expect(e.message).to.equal(`${BASE}model.safetensors: the download broke off after 10 of 100 bytes (the server sent nothing for 0.15 s); reload the page to retry.`);
  });

  it('a download shorter than its Content-Length is an error, not a silently short file', async () => {
    const short = folderFetch(caseDir('d2v-tiny'), (file, res) => file === 'model.safetensors'
      ? new Response(new Uint8Array(10), { headers: { 'content-length': '1000' } }) : res);
    let err: unknown;
    await fetchCheckpoint(BASE, { cache: false, fetch: short }).catch((e) => { err = e; });
    expect(err).to.be.instanceOf(FetchError);
    expect((err as Error).message).to.match(/model\.safetensors: download ended after 10 of 1000 bytes/);
  });

  it('404 on config.json, HTTP errors and a .bin-only folder give clear messages', async () => {
    const empty = folderFetch('/nonexistent');
    await fetchCheckpoint(BASE, { cache: false, fetch: empty }).then(() => { throw new Error('loaded'); },
      (e: Error) => expect(e.message).to.match(/config\.json: not found \(HTTP 404\)/));
    const denied: typeof fetch = async () => new Response('', { status: 403, statusText: 'Forbidden' });
    await fetchFile(`${BASE}config.json`, 'config.json', { cache: false, fetch: denied }).then(() => { throw new Error('fetched'); },
      (e: FetchError) => { expect(e.status).to.equal(403); expect(e.message).to.match(/private or gated/); });
    const binOnly = folderFetch(caseDir('d2v-tiny'), (file, res) => file.endsWith('.safetensors') ? new Response('', { status: 404 }) : res);
    await fetchCheckpoint(BASE, { cache: false, fetch: binOnly }).then(() => { throw new Error('loaded'); },
      (e: Error) => expect(e.message).to.match(/pytorch_model\.bin but no safetensors.*npx beit convert/));
  });

  it('an index that is JSON null, has a list weight_map or an empty one says so (not "not valid JSON")', async () => {
    const config = fs.readFileSync(path.join(caseDir('d2v-tiny'), 'config.json'));
    for (const [index, problem] of [['null', 'no "weight_map" object'], ['{"weight_map": []}', 'no "weight_map" object'], ['{"weight_map": {}}', '"weight_map" is empty']]) {
      const f: typeof fetch = async (input) => {
        const file = new URL(String(input)).pathname.slice(1);
        return file === 'config.json' ? new Response(config) : file === 'model.safetensors.index.json' ? new Response(index) : new Response('', { status: 404 });
      };
      await fetchCheckpoint(BASE, { cache: false, fetch: f }).then(() => { throw new Error('loaded'); },
        (e: Error) => { expect(e.name).to.equal('WeightsError'); expect(e.message).to.include(`model.safetensors.index.json: ${problem}`); });
    }
  });

  it('sharded checkpoints: the index and every shard are fetched', async () => {
    // Build a two-shard folder in memory from d2v-tiny's tensors, served by the fake fetch.
    const local = readCheckpointDir(caseDir('d2v-tiny'));
    const names = [...local.tensors.keys()];
    const { encodeSafetensors } = await import('../lib/io/safetensors.js');
    const dtype = { float32: 'F32', int32: 'I32', uint8: 'U8', bool: 'BOOL' } as const;
    const shard = (part: string[]) => encodeSafetensors(Object.fromEntries(part.map((n) => {
      const t = local.tensors.get(n)!;
      return [n, { dtype: dtype[t.dtype], shape: t.shape, data: t.data }];
    })));
    const half = Math.ceil(names.length / 2);
    const files: Record<string, Uint8Array<ArrayBuffer>> = {
      'config.json': new TextEncoder().encode(local.configText),
      'model-00001-of-00002.safetensors': shard(names.slice(0, half)) as Uint8Array<ArrayBuffer>,
      'model-00002-of-00002.safetensors': shard(names.slice(half)) as Uint8Array<ArrayBuffer>,
      'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({
        weight_map: Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors'])),
      })),
    };
    const served: string[] = [];
    const sharded: typeof fetch = async (input) => {
      const f = new URL(String(input)).pathname.slice(1);
      served.push(f);
      return files[f] ? new Response(files[f]) : new Response('', { status: 404 });
    };
    const ckpt = await fetchCheckpoint(BASE, { cache: false, fetch: sharded });
    expect(ckpt.tensors.size).to.equal(names.length);
    expect(ckpt.weightsUrl).to.equal(`${BASE}model.safetensors.index.json`);
    expect(served).to.include.members(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  });

  it('HTTP errors name the URL, say what the status means here and what to do; the error body is not left open', async () => {
    const cases: Array<[number, Record<string, string>, RegExp]> = [
      [401, {}, /^http:\/\/models\.test\/model\.safetensors: HTTP 401; .*private or gated.*does not exist.*Authorization/],
      [403, { 'x-error-message': 'Access to model o/n is restricted.' }, /HTTP 403 \(Access to model o\/n is restricted\.\); .*private or gated/],
      [429, { 'retry-after': '30' }, /HTTP 429; the server is busy or failing.*try again later \(it asks to wait 30 s\)/],
      [500, {}, /HTTP 500; the server is busy or failing.*try again later\.$/],
      [503, {}, /HTTP 503; the server is busy or failing/],
      [418, {}, /HTTP 418; expected 200 \(the file\)/],
    ];
    for (const [status, headers, re] of cases) {
      const { body, cancelled } = trackedBody([new TextEncoder().encode('error page')], 'never');
      const f = folderFetch(caseDir('d2v-tiny'), (file, res) => file === 'model.safetensors' ? new Response(body, { status, headers }) : res);
      const e = await failure(fetchCheckpoint(BASE, { cache: false, fetch: f }));
      expect(e, String(status)).to.be.instanceOf(FetchError);
      expect((e as FetchError).status).to.equal(status);
      expect(e.message, String(status)).to.match(re).and.not.match(/ {2}| \./);
      expect(cancelled(), `${status}: body cancelled`).to.equal(true);
    }
  });

  it('a failed request, a body that breaks off and a body longer than its Content-Length name the URL; the download is stopped', async () => {
    const offline: typeof fetch = async () => { throw new TypeError('Failed to fetch'); };
    const e1 = await failure(fetchFile(`${BASE}config.json`, 'config.json', { cache: false, fetch: offline }));
    expect(e1).to.be.instanceOf(FetchError);
    expect(e1.message).to.match(/^http:\/\/models\.test\/config\.json: network error \(Failed to fetch\); .*connection.*CORS/);

    const broken = trackedBody([new Uint8Array(10)], 'error');
    const e2 = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(broken.body, { headers: { 'content-length': '1000' } }) }));
    expect(e2).to.be.instanceOf(FetchError);
    expect((e2 as FetchError).status).to.equal(0);
    expect(e2.message).to.match(/^http:\/\/models\.test\/model\.safetensors: the download broke off after 10 of 1000 bytes \(terminated\); .*retry/);

    const endless = trackedBody([new TextEncoder().encode('{"a": 1}')], 'never');
    const e3 = await failure(fetchFile(`${BASE}config.json`, 'config.json', { cache: false,
      fetch: async () => new Response(endless.body, { headers: { 'content-length': '8' } }) }));
    expect(e3.message).to.match(/^http:\/\/models\.test\/config\.json: the server sent more than its Content-Length of 8 bytes/);
    expect(endless.cancelled(), 'the endless body is cancelled').to.equal(true);

    const short = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(new Uint8Array(10), { headers: { 'content-length': '1000' } }) }));
    expect(short.message).to.match(/^http:\/\/models\.test\/model\.safetensors: download ended after 10 of 1000 bytes/);
  });

  it('an exception from onProgress stops the download', async () => {
    const endless = trackedBody([], 'never');
    const e = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(endless.body), onProgress: (p) => { if (p.loaded > 0) throw new Error('stop'); } }));
    expect(e.message).to.equal('stop');
    expect(endless.cancelled()).to.equal(true);
  });

  it('a JSON file past the size cap (announced or streamed without end) and a Content-Length too big for memory are refused early', async () => {
    const tooBig = trackedBody([new TextEncoder().encode('{}')], 'never');
    const huge = folderFetch(caseDir('d2v-tiny'), (file, res) => file === 'config.json'
      ? new Response(tooBig.body, { headers: { 'content-length': String(2 ** 40) } }) : res);
    const e1 = await failure(fetchCheckpoint(BASE, { cache: false, fetch: huge }));
    expect(e1).to.be.instanceOf(FetchError);
    expect(e1.message).to.match(/^http:\/\/models\.test\/config\.json: 1099511627776 bytes \(Content-Length\), more than the 64 MiB .*small JSON file/);
    expect(tooBig.cancelled()).to.equal(true);

    const endless = trackedBody([], 'never');
    const index = folderFetch('/nonexistent', (file, res) => file === 'config.json' ? new Response('{}')
      : file === 'model.safetensors.index.json' ? new Response(endless.body) : res);
    const t0 = Date.now();
    const e2 = await failure(fetchCheckpoint(BASE, { cache: false, fetch: index }));
    expect(e2.message).to.match(/^http:\/\/models\.test\/model\.safetensors\.index\.json: more than the 64 MiB .*small JSON file/);
    expect(endless.cancelled()).to.equal(true);
    expect(Date.now() - t0).to.be.below(2000);

    const weights = trackedBody([], 'never');
    const e3 = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(weights.body, { headers: { 'content-length': String(2 ** 40) } }) }));
    expect(e3).to.be.instanceOf(FetchError);
    expect(e3.message).to.match(/^http:\/\/models\.test\/model\.safetensors: 1099511627776 bytes \(Content-Length\) do not fit in this browser's memory .*shards/);
    expect(weights.cancelled()).to.equal(true);
  });

  it('an HTML page served with 200, or a JSON file cut short, is refused at download naming the URL, the problem and the Content-Type', async () => {
    const login = () => new Response('<!doctype html><html><body>Sign in</body></html>', { headers: { 'content-type': 'text/html; charset=utf-8' } });
    for (const target of ['config.json', 'preprocessor_config.json', 'model.safetensors']) {
      const f = folderFetch(caseDir('d2v-tiny'), (file, res) => file === target ? login() : res);
      const e = await failure(fetchCheckpoint(BASE, { cache: false, fetch: f }));
      expect(e, target).to.be.instanceOf(FetchError);
      const what = target.endsWith('.json') ? 'not valid JSON' : 'not a safetensors file';
      expect(e.message, target).to.match(new RegExp(`^http://models\\.test/${target.replace(/\./g, '\\.')}: the server's answer is ${what} \\(`))
        .and.match(/Content-Type: text\/html; charset=utf-8 \(an HTML page: a login or error page, or a server answering missing files with its index page\)/);
    }
    const config = fs.readFileSync(path.join(caseDir('d2v-tiny'), 'config.json'));
    const cut = folderFetch(caseDir('d2v-tiny'), (file, res) => file === 'config.json' ? new Response(config.subarray(0, 40)) : res);
    const e = await failure(fetchCheckpoint(BASE, { cache: false, fetch: cut }));
    expect(e.message).to.match(/^http:\/\/models\.test\/config\.json: the server's answer is not valid JSON \(.*\)\. Open the URL to see what it serves\.$/);
  });

  it('progress without a Content-Length: loaded only grows, and the last report gives total = loaded so a bar can end full', async () => {
    const seen: FileProgress[] = [];
    const chunks = [new Uint8Array(5), new Uint8Array(7), new Uint8Array(1)];
    const bytes = await fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(trackedBody(chunks).body), onProgress: (p) => seen.push(p) });
    expect(bytes!.length).to.equal(13);
    expect(seen.map((p) => p.loaded)).to.deep.equal([0, 5, 12, 13, 13]);
    expect(seen.slice(0, -1).every((p) => p.total === undefined)).to.equal(true);
    expect(seen.at(-1)).to.deep.equal({ file: 'model.safetensors', loaded: 13, total: 13, cached: false });
  });

  it('shard names are sent encoded (#, ?, %, spaces stay in the file name), a shard listed twice is fetched once, a missing shard names its URL', async () => {
    const local = readCheckpointDir(caseDir('d2v-tiny'));
    const { encodeSafetensors } = await import('../lib/io/safetensors.js');
    const dtype = { float32: 'F32', int32: 'I32', uint8: 'U8', bool: 'BOOL' } as const;
    const all = encodeSafetensors(Object.fromEntries([...local.tensors].map(([n, t]) => [n, { dtype: dtype[t.dtype], shape: t.shape, data: t.data }])));
    const serve = (shard: string, present: boolean, served: string[]): typeof fetch => async (input) => {
      const u = new URL(String(input));
      served.push(u.pathname + u.search + u.hash);
      const file = decodeURIComponent(u.pathname.slice(1));
      if (file === 'config.json') return new Response(local.configText);
      if (file === 'model.safetensors.index.json') return new Response(JSON.stringify({ weight_map: Object.fromEntries([...local.tensors.keys()].map((n) => [n, shard])) }));
      return present && file === shard ? new Response(all as Uint8Array<ArrayBuffer>) : new Response('', { status: 404 });
    };
    for (const [shard, sent] of [['a#b?.safetensors', '/a%23b%3F.safetensors'], ['%2e%2e', '/%252e%252e'], ['a b.safetensors', '/a%20b.safetensors']]) {
      const served: string[] = [];
      const ckpt = await fetchCheckpoint(BASE, { cache: false, fetch: serve(shard!, true, served) });
      expect(ckpt.tensors.size, shard).to.equal(local.tensors.size);
      expect(served.filter((s) => s === sent), shard).to.have.length(1);
    }
    const e = await failure(fetchCheckpoint(BASE, { cache: false, fetch: serve('gone.safetensors', false, []) }));
    expect(e.message).to.match(/^http:\/\/models\.test\/gone\.safetensors: HTTP 404, but http:\/\/models\.test\/model\.safetensors\.index\.json lists it as a shard; .*upload/);
  });

  it('Content-Encoding: identity still counts Content-Length: a short body is an error, not a silently short file', async () => {
    const e = await failure(fetchFile(`${BASE}model.safetensors`, 'model.safetensors', { cache: false,
      fetch: async () => new Response(new Uint8Array(10), { headers: { 'content-length': '1000', 'content-encoding': 'identity' } }) }));
    expect(e.message).to.match(/model\.safetensors: download ended after 10 of 1000 bytes/);
  });
});
