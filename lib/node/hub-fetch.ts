/**
 * Fetching one repo revision's files from the hub (the Downloader behind hub.ts's downloadModel).
 * Files come from the hub's file endpoint `{endpoint}/{repo}/resolve/{revision}/{file}` (see
 * huggingface_hub `hf_hub_url`); LFS files answer with a redirect to a CDN and carry `X-Linked-Etag`
 * (the file's SHA-256) and `X-Linked-Size` on the hub's own response, which is why redirects are
 * followed by hand: it keeps those headers, and the bearer token is only ever sent to the endpoint's
 * origin.
 *
 * Reliability: each file goes to `<dir>/.beit-download/<file>.part` and is renamed when complete and
 * verified (size, SHA-256 when the server gives one, and that a .json parses / a .safetensors has a
 * valid header); an interrupted file resumes with `Range`; 5xx/429 answers, dropped connections and
 * servers silent for `timeoutMs` are retried with exponential backoff (honouring a short
 * `Retry-After`). A `<file>.lock` (pid@host, created exclusively) makes a second process or call
 * wait for the first instead of appending to the same partial file; a lock whose process is gone is
 * taken over. A small JSON sidecar per file means a finished file is never fetched again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isPlainName } from './convert.js';
import { MAX_JSON_BYTES } from '../checkpoint/limits.js';
import { createProgress } from '../cli/progress.js';
import { readSafetensorsHeader } from './safetensors-file.js';
import { envFetch } from './proxy.js';
import { hfTokenWithSource } from './hf-cache.js';
import { fetchFailureReason } from '../io/fetch-error.js';

/** Thrown for hub problems a user can act on (missing repo, private repo, offline, bad checksum). */
export class HubError extends Error {
  override name = 'HubError';
}

/** Options of {@link downloadModel} and {@link resolveModel}. */
export interface HubOptions {
  /** Branch, tag or commit; default `main`. */
  readonly revision?: string;
  /** Cache root; default `BEIT_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/tfjs-beit`. */
  readonly cacheDir?: string;
  /** Put the checkpoint in this plain folder instead of the cache. */
  readonly dir?: string;
  /** With `dir`: replace checkpoint files already there that this engine did not download (default: refuse). */
  readonly force?: boolean;
  /** No progress bars. */
  readonly quiet?: boolean;
  /**
   * Receives one-line notices, such as waiting for another download of the same file to finish;
   * default: printed on stderr when it is a terminal (and not `quiet`).
   */
  readonly onNotice?: (message: string) => void;
  /** Use only files on disk; default from `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`). */
  readonly offline?: boolean;
  /**
   * Use a complete snapshot that Python's huggingface_hub already downloaded (read in place, never
   * written) instead of downloading: `true` (default) looks in its cache (`HF_HUB_CACHE`, `HF_HOME/hub`
   * or `~/.cache/huggingface/hub`), a string names that cache's root, `false` never looks. Not used with `dir`.
   */
  readonly hfCache?: boolean | string;
  /** Replaces the default fetch (the global one, through `HTTPS_PROXY` / `HTTP_PROXY` when set; see proxy.ts). */
  readonly fetch?: typeof fetch;
  /** Default `HF_ENDPOINT` or https://huggingface.co. */
  readonly endpoint?: string;
  /** Bearer token; default `HF_TOKEN`, else the token file of `huggingface-cli login` (`$HF_HOME/token`). */
  readonly token?: string;
  /** Retries of transient failures per file; default 5. */
  readonly retries?: number;
  /** First backoff delay in ms, doubled each retry; default 500. */
  readonly retryDelayMs?: number;
  /**
   * A request is abandoned (and retried) when the server sends nothing for this long, before the
   * headers or mid-body; default `HF_HUB_DOWNLOAD_TIMEOUT` seconds, else 10 s (as huggingface_hub).
   */
  readonly timeoutMs?: number;
  /**
   * A 429/503 `Retry-After` up to this long is waited for before the next try; a longer one ends the
   * download at once with the server's wait in the message. Default 60 000.
   */
  readonly maxRetryAfterMs?: number;
}

/** Folder of the download state (partial files, sidecars, locks, the completion marker) inside a checkpoint folder. */
export const STATE = '.beit-download';

/** The shard files a sharded checkpoint's index names (plain names in the same folder), sorted. */
export function shardNames(indexFile: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: unknown } | null)?.weight_map;
  } catch (e) {
    throw new HubError(`${indexFile}: not valid JSON (${(e as Error).message}).`);
  }
  const names = map && typeof map === 'object' ? Object.values(map as Record<string, unknown>) : [];
  // Plain names only: no path, no hidden file (the download state lives in .beit-download), no
  // control characters (a NUL is refused by every fs call).
  const bad = names.find((n) => typeof n !== 'string' || !isPlainName(n) || /^\.|[\x00-\x1f\x7f]/.test(n));
  if (!names.length || bad !== undefined) {
    throw new HubError(`${indexFile}: "weight_map" must map tensor names to shard files in the same folder${
      bad === undefined ? '' : ` (not ${JSON.stringify(bad)?.slice(0, 100)})`}.`);
  }
  return [...new Set(names as string[])].sort();
}

function isComplete(dest: string, side: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(side, 'utf8')) as Sidecar).size === fs.statSync(dest).size;
  } catch {
    return false; // absent or unreadable: fetch it
  }
}

/** Lock files this process holds. */
const held = new Set<string>();
/** A lock of another host whose lock and partial file have not changed for this long is abandoned. */
const LOCK_STALE_MS = 120_000;

/**
 * Creates `lock` exclusively, waiting while a live download (this process or another) holds it;
 * `onWait` hears once who holds it.
 */
async function takeLock(lock: string, part: string, onWait: (owner: string) => void): Promise<string> {
  const me = `${process.pid}@${os.hostname()}`;
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(lock, me, { flag: 'wx' });
      held.add(lock);
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new HubError(`${lock}: cannot create the download lock (${(e as Error).message}); choose another folder with --dir or BEIT_CACHE.`);
      }
    }
    const holder = lockHolder(lock, part);
    if (holder === undefined) continue; // just released: try again
    if (holder.gone) {
      try { if (fs.readFileSync(lock, 'utf8') === holder.owner) fs.rmSync(lock, { force: true }); } catch { /* released meanwhile */ }
      continue;
    }
    if (!told) {
      told = true;
      onWait(holder.owner);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Who holds `lock` (its pid@host content), and whether that holder is gone (a dead pid on this host,
 * or no change to the lock or the partial file for long); undefined when the lock was just released.
 */
function lockHolder(lock: string, part: string): { owner: string; gone: boolean } | undefined {
  let owner: string, changed: number;
  try {
    owner = fs.readFileSync(lock, 'utf8');
    changed = fs.statSync(lock).mtimeMs;
  } catch (e) {
    let there = true;
    try { fs.lstatSync(lock); } catch { there = false; }
    if (!there) return undefined;
    // A folder or a dangling link in its place would be waited on forever.
    throw new HubError(`${lock}: not a lock file (${(e as Error).message}); remove it.`);
  }
  try { changed = Math.max(changed, fs.statSync(part).mtimeMs); } catch { /* no partial file yet */ }
  const at = owner.indexOf('@'), pid = Number(owner.slice(0, at));
  const local = owner.slice(at + 1) === os.hostname() && Number.isInteger(pid) && pid > 0;
  // Silence means abandoned only for a holder whose process cannot be asked (another host): a live local
  // process may just be suspended (Ctrl-Z), and taking its lock would make two writers of one file.
  if (!local) return { owner, gone: Date.now() - changed > LOCK_STALE_MS };
  // Our own pid: ours while this process holds it, else left by an earlier process with the same pid.
  if (pid === process.pid) return { owner, gone: !held.has(lock) };
  try {
    process.kill(pid, 0);
  } catch (e) {
    return { owner, gone: (e as NodeJS.ErrnoException).code === 'ESRCH' };
  }
  // Alive: but after a reboot or in a restarted container the pid may belong to another program now.
  let cmdline: string | undefined;
  try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'); } catch { /* no /proc: judge by silence */ }
  if (cmdline === undefined) return { owner, gone: Date.now() - changed > LOCK_STALE_MS };
  return { owner, gone: !/node/i.test(cmdline) };
}

/** Raised for failures worth retrying (5xx, dropped connection); anything else is final. */
class Transient extends Error {
  /** The wait the server asked for (`Retry-After`), in ms. */
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

/** `Retry-After` in ms (delay-seconds or an HTTP date), undefined when absent or unreadable. */
function retryAfterMs(v: string | null): number | undefined {
  if (v === null) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = /[a-z]/i.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

interface Sidecar { size: number; etag?: string; sha256?: string }

/** Fetches the files of one repo revision into one folder. */
export class Downloader {
  private readonly fetch: typeof fetch;
  private readonly endpoint: string;
  private readonly token?: string;
  private readonly timeoutMs: number;

  /** A one-line notice to the caller's onNotice, or to stderr unless quiet. */
  private notice(message: string): void {
    if (this.opts.onNotice) this.opts.onNotice(message);
    else if (!this.opts.quiet) process.stderr.write(`${message}\n`);
  }

  constructor(readonly repo: string, readonly revision: string, readonly dir: string, readonly opts: HubOptions) {
    this.fetch = opts.fetch ?? envFetch;
    const envS = Number(process.env.HF_HUB_DOWNLOAD_TIMEOUT);
    this.timeoutMs = opts.timeoutMs ?? (envS > 0 ? envS * 1000 : 10_000);
    this.endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
    let protocol: string | undefined;
    try { protocol = new URL(this.endpoint).protocol; } catch { /* reported below */ }
    if (protocol !== 'http:' && protocol !== 'https:') {
      throw new HubError(`hub endpoint "${this.endpoint}" (HF_ENDPOINT) is not an http(s) URL such as https://huggingface.co.`);
    }
    const found = opts.token !== undefined ? { token: opts.token, source: 'the token option' } : hfTokenWithSource();
    this.token = found?.token;
    // A token HTTP cannot carry (a second line of a token file, a pasted space or smart quote) would fail
    // every request as a "network error"; say so at once, never showing the token.
    if (found?.token && !/^[\x21-\x7e]+$/.test(found.token)) {
      throw new HubError(`the hub token (${found.source}) contains a line break, a space or a non-ASCII character; check it.`);
    }
  }

  /** Downloads the shards an index lists; returns their names. */
  async shards(indexName: string): Promise<string[]> {
    const names = shardNames(path.join(this.dir, indexName));
    for (const n of names) await this.get(n, true);
    return names;
  }

  /**
   * Ensures `name` is in the folder. Returns false when the hub has no such file (404) and it is
   * optional; throws HubError when it is required or the repo is missing/private.
   */
  async get(name: string, required: boolean): Promise<boolean> {
    const dest = path.join(this.dir, name);
    const side = path.join(this.dir, STATE, `${name}.json`);
    if (isComplete(dest, side)) return true;
    const lock = await takeLock(path.join(this.dir, STATE, `${name}.lock`), path.join(this.dir, STATE, `${name}.part`),
      (owner) => this.notice(`${name}: waiting for another download of this file to finish (process ${owner.slice(0, 200)}).`));
    try {
      if (isComplete(dest, side)) return true; // another process finished it while this one waited
      return await this.fetchWithRetries(name, dest, side, required, lock);
    } finally {
      held.delete(lock);
      fs.rmSync(lock, { force: true });
    }
  }

  private async fetchWithRetries(name: string, dest: string, side: string, required: boolean, lock: string): Promise<boolean> {
    const retries = this.opts.retries ?? 5, delay = this.opts.retryDelayMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      try {
        const now = new Date();
        fs.utimesSync(lock, now, now); // a sign of life for processes waiting on the lock
        const got = await this.once(name, dest, side);
        if (!got && required) throw new HubError(`${this.repo}@${this.revision}: ${name} is missing on the hub.`);
        return got;
      } catch (e) {
        if (!(e instanceof Transient) || attempt >= retries) {
          if (e instanceof HubError) throw e;
          // A disk problem (permissions, a folder in the way, a full disk) is not retried as a network one.
          if (!(e instanceof Transient)) throw new HubError(`${dest}: cannot save the download of ${this.url(name)} (${(e as Error).message}).`);
          throw new HubError(`${this.url(name)}: failed after ${attempt + 1} attempts: ${(e as Error).message}. `
            + 'Without network access, set HF_HUB_OFFLINE=1 to use only what is already on disk.');
        }
        const wait = Math.max(delay * 2 ** attempt, e.retryAfterMs ?? 0);
        // A long wait says why, so a run that seems stuck is not (a busy server's Retry-After).
        if (wait >= 2000) this.notice(`${name}: ${e.message}; retrying in ${Math.round(wait / 1000)} s (attempt ${attempt + 2} of ${retries + 1})`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private url(name: string): string {
    return `${this.endpoint}/${this.repo}/resolve/${encodeURIComponent(this.revision)}/${encodeURIComponent(name)}`;
  }

  /** One request (with manual redirects), appending to the partial file. */
  private async once(name: string, dest: string, side: string): Promise<boolean> {
    const part = path.join(this.dir, STATE, `${name}.part`);
    let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    const idle = new IdleTimer(this.timeoutMs);
    try {
      return await this.fetchInto(name, dest, side, part, have, idle);
    } finally {
      idle.stop();
    }
  }

  private async fetchInto(name: string, dest: string, side: string, part: string, have: number, idle: IdleTimer): Promise<boolean> {
    const res = await this.request(this.url(name), have, idle);
    const { response, linkedEtag, linkedSize, url } = res;
    const status = response.status;
    // The hub's own answers speak for the repo; a CDN's (another origin, after a redirect) only for
    // that signed URL, which the next request to the hub replaces.
    if (new URL(url).origin !== new URL(this.endpoint).origin && [401, 403, 404, 410].includes(status)) {
      await response.body?.cancel();
      throw new Transient(`HTTP ${status} from ${withoutQuery(url)}`);
    }
    if (status === 404) {
      await response.body?.cancel();
      const code = response.headers.get('x-error-code');
      if (code === 'RepoNotFound') throw new HubError(`${this.repo}: repository not found on ${this.endpoint} (if it is private, set HF_TOKEN or log in with huggingface-cli).`);
      if (code === 'RevisionNotFound') throw new HubError(`${this.repo}: revision "${this.revision}" not found.`);
      return false;
    }
    if (status === 401 || status === 403) {
      await response.body?.cancel();
      if (response.headers.get('x-error-code') === 'GatedRepo') {
        throw new HubError(`${this.repo}: a gated repo (HTTP ${status}); accept its conditions at ${this.endpoint}/${this.repo} `
          + `while logged in, then set HF_TOKEN to a token of that account${this.token ? ' (the token given has no access yet)' : ''}.`);
      }
      throw new HubError(this.token
        ? `${this.repo}: access denied (HTTP ${status}) with the token given (HF_TOKEN or huggingface-cli login); it lacks access to this repo, or the repo does not exist.`
        : `${this.repo}: repository not found or private (HTTP ${status}); for a private or gated repo set HF_TOKEN or log in with huggingface-cli.`);
    }
    // 416 to `bytes=<size>-`: the partial file may be whole already (a run stopped while verifying it).
    let whole = false;
    if (status === 416) {
      await response.body?.cancel();
      const m = /^bytes \*\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
      whole = have > 0 && have === (linkedSize ?? (m ? Number(m[1]) : undefined));
      if (!whole) { fs.rmSync(part, { force: true }); throw new Transient('range not satisfiable; restarting'); }
    }
    if (status >= 500 || status === 429) {
      await response.body?.cancel();
      const wait = retryAfterMs(response.headers.get('retry-after')), max = this.opts.maxRetryAfterMs ?? 60_000;
      if (wait !== undefined && wait > max) {
        throw new HubError(`${this.url(name)}: HTTP ${status}; the server asks to retry after ${Math.ceil(wait / 1000)} s (Retry-After: ${
          response.headers.get('retry-after')!.slice(0, 100)}), longer than the ${max / 1000} s this download waits. Try again later.`);
      }
      throw new Transient(`HTTP ${status}`, wait);
    }
    if (status !== 200 && status !== 206 && !whole) {
      await response.body?.cancel();
      throw new HubError(`${this.url(name)}: unexpected HTTP ${status}${url === this.url(name) ? '' : ` from ${withoutQuery(url)}`} (expected 200 or 206).`);
    }
    let total: number | undefined;
    // fetch decodes a gzip/br body the server sent despite `accept-encoding: identity`: its
    // Content-Length (and any Range) then counts encoded bytes, not the file's.
    const encoded = !/^(identity)?$/i.test(response.headers.get('content-encoding') ?? '');
    if (whole) {
      total = have;
    } else if (status === 206) {
      const range = response.headers.get('content-range') ?? '';
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(range);
      if (!m || Number(m[1]) !== have || encoded) {
        await response.body?.cancel();
        fs.rmSync(part, { force: true });
        throw new Transient(`HTTP 206 with Content-Range "${range.slice(0, 100)}"${encoded ? ' and a compressed body' : ''} for "bytes=${have}-"; restarting`);
      }
      total = Number(m[3]);
    } else {
      have = 0; // the server sent the whole file
      const len = response.headers.get('content-length');
      if (len !== null && !encoded) total = Number(len);
    }
    // A whole answer whose own length contradicts the size the hub announced, in a web page's type, is a
    // CDN error page: retrying gets the same page, and "connection closed at 60 of 203384 bytes" would mislead.
    const type = response.headers.get('content-type') ?? '';
    if (status === 200 && linkedSize !== undefined && total !== undefined && total !== linkedSize && /^\s*text\/html\b/i.test(type)) {
      await response.body?.cancel();
      throw new HubError(`${this.url(name)}: ${url === this.url(name) ? 'the server' : `the CDN (${withoutQuery(url)})`} answered with a `
        + `${total}-byte web page (${type.slice(0, 60)}) where the hub announced ${linkedSize} bytes; open the URL to see it.`);
    }
    if (linkedSize !== undefined) total = linkedSize;
    const etag = linkedEtag ?? cleanEtag(response.headers.get('etag'));
    // The partial file remembers which version of the file it holds: appending another version's bytes
    // (the file changed on the server between two runs) would make a file that is neither.
    const idFile = `${part}.etag`;
    if (status === 206 && have > 0) {
      let stored: string | undefined;
      try { stored = fs.readFileSync(idFile, 'utf8'); } catch { /* a partial from before this record: trusted */ }
      if (stored !== undefined && etag !== undefined && stored !== etag) {
        await response.body?.cancel();
        fs.rmSync(part, { force: true });
        fs.rmSync(idFile, { force: true });
        throw new Transient('the file changed on the server since the partial download (another ETag); restarting');
      }
    } else if (!whole) {
      if (etag !== undefined) fs.writeFileSync(idFile, etag); else fs.rmSync(idFile, { force: true });
      if (total !== undefined) checkFreeSpace(part, total, this.url(name));
    }
    if (!whole) await this.writeBody(response, part, have, total, name, url, idle);
    const size = fs.statSync(part).size;
    if (total !== undefined && size < total) throw new Transient(`connection closed at ${size} of ${total} bytes`);
    if (total !== undefined && size > total) { fs.rmSync(part, { force: true }); throw new HubError(`${this.url(name)}: received ${size} bytes, expected ${total}.`); }
    const sha = etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined;
    if (sha) {
      const got = await sha256File(part);
      if (got !== sha) {
        fs.rmSync(part, { force: true });
        throw new HubError(`${this.url(name)}: checksum mismatch (SHA-256 ${got}, the hub says ${sha}); the download was corrupted, try again.`);
      }
    }
    checkContent(name, part, this.url(name), response.headers.get('content-type'));
    fs.renameSync(part, dest);
    fs.rmSync(idFile, { force: true });
    const sidecar: Sidecar = { size, ...(etag ? { etag } : {}), ...(sha ? { sha256: sha } : {}) };
    fs.writeFileSync(side, JSON.stringify(sidecar) + '\n');
    return true;
  }

  /** GET with redirects followed by hand; the token goes only to the endpoint's origin. */
  private async request(url: string, from: number, idle: IdleTimer): Promise<{ response: Response; url: string; linkedEtag?: string; linkedSize?: number }> {
    const origin = new URL(this.endpoint).origin;
    let linkedEtag: string | undefined, linkedSize: number | undefined;
    const first = url, via = (u: string): string => (u === first ? '' : ` from ${withoutQuery(u)}`);
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'tfjs-beit', 'accept-encoding': 'identity' };
      if (this.token && new URL(url).origin === origin) headers.authorization = `Bearer ${this.token}`;
      if (from > 0) headers.range = `bytes=${from}-`;
      let r: Response;
      idle.arm(`no response${via(url)} within ${idle.ms / 1000} s`);
      try {
        r = await this.fetch(url, { headers, redirect: 'manual', signal: idle.signal });
      } catch (e) {
        if (idle.signal.aborted) throw idle.signal.reason as Error;
        throw new Transient(`${(e as Error).message} (${fetchFailureReason(e)})`);
      }
      linkedEtag ??= cleanEtag(r.headers.get('x-linked-etag'));
      const ls = r.headers.get('x-linked-size');
      if (linkedSize === undefined && ls !== null && /^\d+$/.test(ls)) linkedSize = Number(ls);
      const loc = r.headers.get('location');
      if (r.status >= 300 && r.status < 400 && r.status !== 304) {
        await r.body?.cancel();
        if (!loc) throw new HubError(`${url}: HTTP ${r.status} redirect without a Location header.`);
        let next: URL | undefined;
        try { next = new URL(loc, url); } catch { /* reported below */ }
        if (next?.protocol !== 'http:' && next?.protocol !== 'https:') {
          throw new HubError(`${url}: HTTP ${r.status} redirect to "${loc.slice(0, 200)}", expected an http(s) URL.`);
        }
        url = next.href;
        continue;
      }
      return { response: r, url, linkedEtag, linkedSize };
    }
    throw new HubError(`${first}: more than 10 redirects (the last to ${url.slice(0, 200)}).`);
  }

  private async writeBody(r: Response, part: string, have: number, total: number | undefined, name: string, url: string, idle: IdleTimer): Promise<void> {
    const fh = await fs.promises.open(part, have > 0 ? 'a' : 'w');
    const bar = createProgress({ label: name, total, quiet: this.opts.quiet || (total ?? 0) < (1 << 20) });
    let done = have;
    bar.update(done);
    const from = url === this.url(name) ? '' : ` from ${withoutQuery(url)}`;
    const stalled = (): string => `no data${from} for ${idle.ms / 1000} s after ${done} bytes`;
    idle.arm(stalled());
    try {
      if (r.body) {
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          try {
            await fh.write(chunk);
          } catch (e) {
            throw new HubError(`${part}: cannot write the download of ${withoutQuery(url)} (${(e as Error).message}).`);
          }
          done += chunk.length;
          idle.arm(stalled());
          bar.update(done);
          if (total !== undefined && done > total) throw new HubError(`${withoutQuery(url)}: the server sent more than the ${total} bytes it announced.`);
          if (name.endsWith('.json') && done > MAX_JSON_BYTES) {
            throw new HubError(`${withoutQuery(url)}: more than ${MAX_JSON_BYTES >> 20} MiB for ${name}; expected a small JSON file.`);
          }
        }
      }
    } catch (e) {
      if (e instanceof HubError) { await fh.close(); fs.rmSync(part, { force: true }); throw e; }
      if (idle.signal.aborted) throw idle.signal.reason as Error;
      throw new Transient(`connection lost after ${done} bytes: ${(e as Error).message}`);
    } finally {
      await fh.close().catch(() => undefined);
      bar.finish();
    }
  }
}

/**
 * Refuses a body that cannot be the file it is named after (an HTML error or login page, a JSON file
 * cut short by a wrong Content-Length), so it is never kept as complete.
 */
function checkContent(name: string, part: string, url: string, type: string | null): void {
  let problem: string | undefined;
  if (name.endsWith('.json')) {
    try { JSON.parse(fs.readFileSync(part, 'utf8')); } catch (e) { problem = `not valid JSON (${(e as Error).message})`; }
  } else if (name.endsWith('.safetensors')) {
    try { readSafetensorsHeader(part); } catch (e) { problem = `not a safetensors file (${(e as Error).message.replace(`${part}: `, '')})`; }
  } else if (name.endsWith('.bin')) {
    // torch.save writes a zip archive: a login page or an error page saved as the weights would sit in the
    // cache as "complete" and fail every later conversion.
    // (A pickle, the pre-1.6 format, is kept: the converter explains how to re-save it.)
    const head = Buffer.alloc(4);
    const fd = fs.openSync(part, 'r');
    try { fs.readSync(fd, head, 0, 4, 0); } finally { fs.closeSync(fd); }
    if (head.toString('latin1') !== 'PK\x03\x04' && !(head[0] === 0x80 && head[1]! <= 5)) {
      problem = 'not a PyTorch checkpoint (a zip archive)';
    }
  }
  if (!problem) return;
  fs.rmSync(part, { force: true });
  throw new HubError(`${url}: the server's answer is ${problem}${type ? `; Content-Type: ${type.slice(0, 100)}` : ''}.`);
}

/** Refuses a download that cannot fit on the disk before writing it (a 1 TB declared size filled the disk). */
function checkFreeSpace(part: string, total: number, url: string): void {
  let free: number;
  try {
    const st = fs.statfsSync(path.dirname(part));
    free = st.bavail * st.bsize;
  } catch {
    return; // unknown: the write reports a full disk itself
  }
  if (total > free) {
    throw new HubError(`${url}: ${total} bytes to download, but only ${free} bytes are free on the disk of ${path.dirname(path.dirname(part))}; `
      + 'free some space or choose another folder with --dir or BEIT_CACHE.');
  }
}

/** Aborts a request when the server stays silent for `ms`; re-armed on every sign of progress. */
class IdleTimer {
  private readonly ctrl = new AbortController();
  private timer?: NodeJS.Timeout;
  readonly signal = this.ctrl.signal;
  constructor(readonly ms: number) {}
  /** (Re)starts the countdown; `message` becomes the error if it runs out. */
  arm(message: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ctrl.abort(new Transient(message)), this.ms);
  }
  stop(): void { clearTimeout(this.timer); }
}

/** A URL for messages: a CDN's signed query string is long and not for logs. */
function withoutQuery(url: string): string {
  const u = new URL(url);
  return u.origin + u.pathname;
}

function cleanEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
