/**
 * Checkpoint files over HTTP in the browser: a response body streamed chunk by chunk with a
 * progress callback, and kept in Cache Storage (`caches.open('tfjs-beit')`) so that a page reload
 * reads the weights from disk instead of downloading them again. Cache entries are keyed by URL; a
 * download that ends short of its `Content-Length`, or fails the caller's content check, is an error
 * and is not cached. Optional files a loaded model lacks are remembered as absent
 * ({@link rememberAbsent}), so that a cached model loads offline. A cached copy that is cut short or fails the check is deleted and downloaded
 * again (its progress restarts at 0 with `cached: false`).
 */

/** Name of the Cache Storage cache this package uses. */
export const CACHE_NAME = 'tfjs-beit';

/**
 * One progress report. `loaded` only grows within one download; `total` is undefined while the size
 * is unknown (no `Content-Length`), and the last report of a complete file has `loaded === total`.
 */
export interface FileProgress {
  /** File name within the checkpoint, e.g. `model.safetensors`. */
  readonly file: string;
  readonly loaded: number;
  readonly total: number | undefined;
  /** True when the bytes come from Cache Storage. */
  readonly cached: boolean;
}

/** How {@link fetchFile} reaches the network and the cache. */
export interface FetchFileOptions {
  /** Use Cache Storage (default true; silently off where `caches` is missing, e.g. plain http origins). */
  readonly cache?: boolean;
  /** The fetch to use (default `globalThis.fetch`). */
  readonly fetch?: typeof fetch;
  readonly onProgress?: (p: FileProgress) => void;
  /**
   * A server silent for this long (no answer, or no data mid-file) ends the download with an error
   * naming the URL; default 30000 ms, 0 waits forever (a stalled server otherwise hangs the load).
   */
  readonly timeoutMs?: number;
}

/** Aborts a download when the server stays silent for `ms`; re-armed by each chunk. */
class IdleAbort {
  private readonly ctrl = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly signal = this.ctrl.signal;
  constructor(readonly ms: number) {}
  arm(): void {
    if (!(this.ms > 0)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ctrl.abort(new Error(`no data for ${this.ms / 1000} s`)), this.ms);
  }
  stop(): void { clearTimeout(this.timer); }
}

/** What the caller knows of a file, enforced while it is read. */
export interface FileExpectation {
  /** More bytes than this (announced or received) is an error; the download stops there. */
  readonly maxBytes?: number;
  /** The kind of file, for that error, e.g. `a small JSON file`. */
  readonly kind?: string;
  /**
   * Throws when the bytes cannot be this file (an HTML login page, a JSON file cut short), with a
   * message such as `not valid JSON (...)`; such a file is an error and is not kept in the cache.
   */
  readonly check?: (bytes: Uint8Array) => void;
}

/** Thrown when a file cannot be fetched; `status` is the HTTP status (0 for network errors). */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

async function openCache(enabled: boolean): Promise<Cache | undefined> {
  if (!enabled || typeof caches === 'undefined') return undefined;
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return undefined; // e.g. opaque origins, private modes
  }
}

/**
 * Fetches `url` (from the cache when present). Resolves to the bytes, or to `undefined` for a 404
 * (the caller decides whether the file was optional). Other HTTP errors throw {@link FetchError}.
 */
export async function fetchFile(url: string, file: string, options: FetchFileOptions = {}, expect: FileExpectation = {}): Promise<Uint8Array | undefined> {
  const cache = await openCache(options.cache ?? true);
  const src = { url, file, cached: false, onProgress: options.onProgress, expect };
  const kept = cache && await fromCache(cache, src);
  if (kept === ABSENT) return undefined;
  if (kept) return kept;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const idle = new IdleAbort(options.timeoutMs ?? 30_000);
  idle.arm();
  try {
    let res: Response;
    try {
      res = await doFetch(url, { signal: idle.signal });
    } catch (e) {
      if (idle.signal.aborted) {
        throw new FetchError(`${url}: the server sent no answer for ${idle.ms / 1000} s; check that it is up, then reload to retry.`, 0);
      }
      // Browsers give no detail here: offline, DNS, TLS and a cross-origin server without CORS headers look alike.
      throw new FetchError(`${url}: network error (${(e as Error).message}); check the connection and the URL, and for a server `
        + 'on another origin that it allows CORS (Access-Control-Allow-Origin); the browser console names the cause.', 0);
    }
    if (res.status === 404 || !res.ok) await res.body?.cancel().catch(() => undefined); // an error page is not read
    if (res.status === 404) return undefined;
    if (!res.ok) throw statusError(url, res);
    const live = { ...src, idle };
    if (!cache || !res.body) return checked(await readBody(res, live), res, live);
    return await readIntoCache(res, res.body, cache, live);
  } finally {
    idle.stop();
  }
}

/** What {@link fromCache} returns for a file the server answered 404 for (see {@link ABSENT_HEADER}). */
const ABSENT = Symbol('absent');
/** Marks the cache entry of a file the server did not have. */
const ABSENT_HEADER = 'x-tfjs-beit-absent';

/**
 * The cached copy of `src.url`, {@link ABSENT} for a remembered 404, or undefined. A copy that is cut short or fails its check (a browser
 * killed mid-write, a copy stored by an older version) is deleted, so the caller downloads it again
 * instead of failing on every load.
 */
async function fromCache(cache: Cache, src: Source): Promise<Uint8Array | typeof ABSENT | undefined> {
  const hit = await cache.match(src.url);
  if (!hit) return undefined;
  if (hit.status === 404 && hit.headers.get(ABSENT_HEADER) === '1') return ABSENT;
  const mine = { ...src, cached: true };
  try {
    return checked(await readBody(hit, mine), hit, mine);
  } catch (e) {
    if (!(e instanceof FetchError)) throw e; // e.g. from onProgress: not the copy's fault
    await cache.delete(src.url);
    return undefined;
  }
}

/**
 * Reads the body here while copying each chunk to Cache Storage. The copy is completed only after
 * the whole file arrived and passed its checks; any failure errors the copy, so `cache.put` stores
 * nothing and ends at once (a tee kept the cache's branch reading an endless body forever).
 */
async function readIntoCache(res: Response, body: ReadableStream<Uint8Array>, cache: Cache, src: Source): Promise<Uint8Array> {
  const copy = cacheCopy();
  const stored = cache.put(src.url, new Response(copy.stream, { status: 200, headers: keptHeaders(res) })).then(() => true, () => false);
  let bytes: Uint8Array;
  try {
    bytes = checked(await readStream(body, contentLength(res), { ...src, copy: copy.push }), res, src);
  } catch (e) {
    copy.fail(e);
    await stored;
    throw e;
  }
  copy.end();
  await stored; // a full quota only means no cached copy: the bytes are here
  return bytes;
}

/** A stream fed by hand; pushes after the cache gave up on it (e.g. quota exceeded) are dropped. */
function cacheCopy(): { stream: ReadableStream<Uint8Array>; push: (chunk: Uint8Array) => void; end: () => void; fail: (e: unknown) => void } {
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => { feed = c; } });
  const quietly = (f: () => void): void => { try { f(); } catch { /* the cache stopped reading */ } };
  return {
    stream,
    push: (chunk) => quietly(() => feed.enqueue(chunk)),
    end: () => quietly(() => feed.close()),
    fail: (e) => quietly(() => feed.error(e)),
  };
}

/**
 * The response headers worth keeping with the cached copy: its type, and its length (which lets a
 * cut-short copy be detected) unless the body was sent compressed: that length counts encoded
 * bytes, and the cache stores the decoded ones.
 */
function keptHeaders(res: Response): Headers {
  const headers = new Headers();
  const type = res.headers.get('content-type'), length = contentLength(res);
  if (type !== null) headers.set('content-type', type);
  if (length !== undefined) headers.set('content-length', String(length));
  return headers;
}

/**
 * The error for a non-OK answer other than 404: the status (HTTP/2 has no status text), the
 * server's own explanation when it exposes one (the hub's X-Error-Message), and what to do.
 */
function statusError(url: string, res: Response): FetchError {
  const s = res.status;
  const said = res.headers.get('x-error-message');
  const head = `${url}: HTTP ${s}${res.statusText ? ` ${res.statusText}` : ''}${said ? ` (${said.slice(0, 200)})` : ''}`;
  let advice: string;
  if (s === 401 || s === 403) {
    advice = 'a private or gated repo, or one that does not exist (the browser sends no token). Check the URL or repo id; '
      + 'for a private or gated repo, serve the files from your own server or pass a `fetch` option that adds an Authorization header.';
  } else if (s === 429 || s >= 500) {
    const wait = res.headers.get('retry-after');
    advice = `the server is busy or failing; try again later${wait && /^\s*\d+\s*$/.test(wait) ? ` (it asks to wait ${wait.trim()} s)` : ''}.`;
  } else {
    advice = 'expected 200 (the file) or 404 (no such file).';
  }
  return new FetchError(`${head}; ${advice}`, s);
}

function contentLength(res: Response): number | undefined {
  const v = res.headers.get('content-length');
  const n = v === null ? NaN : Number(v);
  // A compressed transfer reports the encoded length, not what the body stream yields.
  return Number.isSafeInteger(n) && n >= 0 && /^\s*(identity)?\s*$/i.test(res.headers.get('content-encoding') ?? '') ? n : undefined;
}

/** What a body is read for: its URL and file name (for messages and progress), and where it comes from. */
interface Source {
  readonly url: string;
  readonly file: string;
  readonly cached: boolean;
  readonly onProgress: ((p: FileProgress) => void) | undefined;
  readonly expect: FileExpectation;
  /** Receives each chunk once it is accepted (the copy for the cache). */
  readonly copy?: (chunk: Uint8Array) => void;
  /** The network download's idle timer (none for cached copies): re-armed by each chunk. */
  readonly idle?: IdleAbort;
}

async function readBody(res: Response, src: Source): Promise<Uint8Array> {
  const total = contentLength(res);
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    src.onProgress?.({ file: src.file, loaded: bytes.length, total: bytes.length, cached: src.cached });
    return bytes;
  }
  return readStream(res.body, total, src);
}

/**
 * Reads a byte stream into one array (preallocated when the length is known), reporting progress.
 * On any failure (ours, the stream's or onProgress's) the stream is cancelled, so the download stops.
 */
async function readStream(body: ReadableStream<Uint8Array>, total: number | undefined, src: Source): Promise<Uint8Array> {
  const reader = body.getReader();
  try {
    return await readAll(reader, total, src);
  } catch (e) {
    reader.cancel(e).catch(() => undefined);
    throw e;
  }
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, total: number | undefined, src: Source): Promise<Uint8Array> {
  const { url, file, cached, onProgress } = src;
  const max = src.expect.maxBytes ?? Infinity;
  if (total !== undefined && total > max) throw tooLarge(src, `${total} bytes (Content-Length), more than`);
  let out = allocate(total ?? Math.min(1 << 16, max), total, url);
  let loaded = 0;
  onProgress?.({ file, loaded: 0, total, cached });
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      const why = src.idle?.signal.aborted ? `the server sent nothing for ${src.idle.ms / 1000} s` : (e as Error).message;
      throw new FetchError(`${url}: the ${cached ? 'cached copy could not be read' : 'download broke off'} after ${loaded}${
        total === undefined ? '' : ` of ${total}`} bytes (${why}); reload the page to retry.`, 0);
    }
    if (chunk.done) break;
    src.idle?.arm();
    const value = chunk.value;
    if (loaded + value.length > out.length) {
      if (total !== undefined) throw new FetchError(`${url}: the server sent more than its Content-Length of ${total} bytes; the file on the server is changing or the server is misconfigured.`, 200);
      if (loaded + value.length > max) throw tooLarge(src, 'more than');
      const bigger = allocate(Math.min(Math.max(out.length * 2, loaded + value.length), max), undefined, url);
      bigger.set(out.subarray(0, loaded));
      out = bigger;
    }
    out.set(value, loaded);
    src.copy?.(value);
    loaded += value.length;
    onProgress?.({ file, loaded, total, cached });
  }
  if (total !== undefined && loaded !== total) {
    throw new FetchError(`${url}: download ended after ${loaded} of ${total} bytes (connection dropped?); reload the page to retry.`, 200);
  }
  if (total === undefined) onProgress?.({ file, loaded, total: loaded, cached }); // the size is known now
  return loaded === out.length ? out : out.subarray(0, loaded);
}

/** `bytes` when they pass the caller's check; otherwise an error naming the URL, the problem and the Content-Type. */
function checked(bytes: Uint8Array, res: Response, src: Source): Uint8Array {
  try {
    src.expect.check?.(bytes);
    return bytes;
  } catch (e) {
    const type = res.headers.get('content-type');
    const html = type && /^\s*text\/html\b/i.test(type)
      ? ' (an HTML page: a login or error page, or a server answering missing files with its index page)' : '';
    throw new FetchError(`${src.url}: the ${src.cached ? 'cached copy' : "server's answer"} is ${(e as Error).message}${
      type ? `; Content-Type: ${type.slice(0, 100)}${html}` : ''}. Open the URL to see what it serves.`, 200);
  }
}

function tooLarge(src: Source, what: string): FetchError {
  const max = src.expect.maxBytes!;
  return new FetchError(`${src.url}: ${what} the ${max >= 1 << 20 ? `${max / (1 << 20)} MiB` : `${max} bytes`} allowed for ${src.file}; `
    + `expected ${src.expect.kind ?? 'a smaller file'}. Check that the URL serves the checkpoint's ${src.file}.`, 200);
}

/** A buffer for the body; a size the page cannot hold is an error saying so, not a bare RangeError. */
function allocate(n: number, total: number | undefined, url: string): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch (e) {
    throw new FetchError(`${url}: ${total === undefined ? `${n} bytes received so far` : `${total} bytes (Content-Length)`} do not fit in this browser's memory `
      + `(${(e as Error).message}); save the weights in shards instead, e.g. transformers' save_pretrained(dir, max_shard_size="2GB").`, 200);
  }
}

/**
 * Remembers that the server has no file at each of `urls` (it answered 404), so that later loads
 * do not ask again: offline, a cached model whose optional files are absent (no
 * preprocessor_config.json, a sharded checkpoint's missing model.safetensors) would otherwise fail
 * on that question. Called only after a load succeeded, so a missing required file is never
 * remembered; {@link clearCache} forgets these entries with the files.
 */
export async function rememberAbsent(urls: readonly string[], options: FetchFileOptions = {}): Promise<void> {
  const cache = await openCache(options.cache ?? true);
  if (!cache) return;
  for (const url of urls) {
    await cache.put(url, new Response(null, { status: 404, headers: { [ABSENT_HEADER]: '1' } })).catch(() => undefined);
  }
}

/** Deletes every file this package keeps in Cache Storage. Resolves to whether a cache existed. */
export async function clearCache(): Promise<boolean> {
  return typeof caches === 'undefined' ? false : caches.delete(CACHE_NAME);
}
