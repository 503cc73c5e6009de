/**
 * A checkpoint over HTTP: `config.json`, optional `preprocessor_config.json`, and
 * `model.safetensors` or `model.safetensors.index.json` + shards, from a folder URL or a Hugging
 * Face repo id (`https://huggingface.co/{id}/resolve/{revision}/{file}`; the hub answers CORS).
 * The browser counterpart of lib/node/checkpoint-dir.ts; the bytes are parsed with the same strict
 * safetensors codec. A repo with only `pytorch_model.bin` is refused with the CLI command that
 * converts it.
 */
import { ConfigError } from '../checkpoint/config.js';
import { MAX_JSON_BYTES } from '../checkpoint/limits.js';
import { shardsOfIndex } from '../checkpoint/shard-index.js';
import { WeightsError } from '../checkpoint/weights.js';
import { decodeTensor, parseHeader, readHeaderLength, type HostTensor } from '../io/safetensors.js';
import { fetchFile, rememberAbsent, type FetchFileOptions, type FileExpectation } from './fetch-files.js';

/** What the browser loader fetched. */
export interface RemoteCheckpoint {
  /** Folder URL, ending with `/`. */
  readonly base: string;
  readonly configText: string;
  readonly processorText?: string;
  readonly tensors: Map<string, HostTensor>;
  /** URL of the weights file (or of the shard index). */
  readonly weightsUrl: string;
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/**
 * Turns `urlOrRepoId` into a folder URL ending with `/`. Absolute and page-relative URLs
 * (`/models/x/`, `./x`, `https://...`) are folders; `owner/name` is a hub repo id.
 */
export function checkpointBase(urlOrRepoId: string, revision = 'main', hubUrl = 'https://huggingface.co'): string {
  const s = urlOrRepoId.trim();
  if (!s) throw new ConfigError('loadModel: empty model location; pass a folder URL or a hub repo id like "facebook/data2vec-vision-base-ft1k".');
  if (REPO_ID.test(s)) return `${hubUrl}/${s}/resolve/${encodeURIComponent(revision)}/`;
  const base = typeof location !== 'undefined' ? location.href : undefined;
  let url: URL;
  try {
    url = new URL(s, base);
  } catch {
    throw new ConfigError(`loadModel: "${s}" is neither a URL nor a hub repo id (owner/name).`);
  }
  // File URLs are made by appending names: a query or fragment would swallow them.
  if (url.search || url.hash) {
    throw new ConfigError(`loadModel: "${s}": a checkpoint folder URL cannot have a query or fragment; `
      + 'pass the folder (e.g. https://example.com/models/my-beit/), or a `fetch` option that adds what the server needs.');
  }
  if (!url.pathname.startsWith('/')) throw new ConfigError(`loadModel: "${s}" is not a folder URL (${url.protocol} has no folders); pass an http(s) folder URL or a hub repo id.`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** Config, processor config and shard index: small, and JSON (an HTML page served with 200 is not). */
const JSON_FILE: FileExpectation = {
  maxBytes: MAX_JSON_BYTES,
  kind: 'a small JSON file',
  check: (bytes) => {
    try {
      JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new Error(`not valid JSON (${(e as Error).message})`);
    }
  },
};

/** Weights: the safetensors header must parse and fit the bytes (an HTML page or a short body does not). */
function safetensorsFile(url: string): FileExpectation {
  return {
    kind: 'a safetensors file',
    check: (bytes) => {
      try {
        parseHeader(bytes.subarray(8, 8 + readHeaderLength(bytes.subarray(0, 8), bytes.length, url)), bytes.length, url);
      } catch (e) {
        throw new Error(`not a safetensors file (${(e as Error).message.replace(`${url}: `, '').replace(/\.$/, '')})`);
      }
    },
  };
}

async function fetchText(base: string, file: string, options: FetchFileOptions): Promise<string | undefined> {
  const bytes = await fetchFile(base + file, file, options, JSON_FILE);
  return bytes && new TextDecoder().decode(bytes);
}

/** Fetches and parses every file of a checkpoint folder. */
export async function fetchCheckpoint(base: string, options: FetchFileOptions): Promise<RemoteCheckpoint> {
  const configText = await fetchText(base, 'config.json', options);
  if (configText === undefined) throw new ConfigError(`${base}config.json: not found (HTTP 404); ${hubPageHint(base) ?? 'is this a checkpoint folder or repo id?'}`);
  const processorText = await fetchText(base, 'preprocessor_config.json', options);
  const singleUrl = `${base}model.safetensors`;
  const single = await fetchFile(singleUrl, 'model.safetensors', options, safetensorsFile(singleUrl));
  let tensors: Map<string, HostTensor>;
  let weightsUrl = singleUrl;
  if (single) {
    tensors = parseSafetensors(single, singleUrl);
  } else {
    weightsUrl = `${base}model.safetensors.index.json`;
    const index = await fetchText(base, 'model.safetensors.index.json', options);
    if (index === undefined) throw await noSafetensors(base, options);
    tensors = await fetchShards(base, index, weightsUrl, options);
  }
  // Everything arrived: the optional files this checkpoint lacks are remembered, so it loads offline.
  await rememberAbsent([...(processorText === undefined ? [`${base}preprocessor_config.json`] : []),
    ...(single === undefined ? [singleUrl] : [])], options);
  return processorText === undefined
    ? { base, configText, tensors, weightsUrl }
    : { base, configText, processorText, tensors, weightsUrl };
}

/**
 * For a model page's URL pasted as the folder (`https://huggingface.co/owner/name[/tree/rev]`, where
 * files live under `/resolve/`), the repo id to pass instead; undefined for other URLs.
 */
function hubPageHint(base: string): string | undefined {
  const u = new URL(base);
  if (u.hostname !== 'huggingface.co') return undefined;
  const m = /^\/([\w.-]+)\/([\w.-]+)\/(?:(?:tree|blob)\/([^/]+)\/)?$/.exec(u.pathname);
  if (!m || m[1] === 'datasets' || m[1] === 'spaces') return undefined;
  let rev = m[3];
  try { rev = rev && decodeURIComponent(rev); } catch { /* shown as typed */ }
  return `${base} is a hub page, not a folder of files: pass the repo id "${m[1]}/${m[2]}"${rev && rev !== 'main' ? ` with { revision: "${rev}" }` : ''}.`;
}

/** The error for a folder without safetensors weights; names the converter when a .bin exists. */
async function noSafetensors(base: string, options: FetchFileOptions): Promise<WeightsError> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  for (const bin of ['pytorch_model.bin', 'pytorch_model.bin.index.json']) {
    const res = await doFetch(base + bin, { method: 'HEAD' }).catch(() => undefined);
    if (res?.ok) {
      return new WeightsError(`${base}: has ${bin} but no safetensors weights, and browsers load only safetensors. `
        + 'Convert it with the CLI (npx beit convert <folder> <new-folder>), then serve the new folder.');
    }
  }
  return new WeightsError(`${base}: no model.safetensors or model.safetensors.index.json (HTTP 404).`);
}

/** Parses a whole safetensors file held in memory; F32 tensors at aligned offsets are views, not copies. */
export function parseSafetensors(bytes: Uint8Array, name: string, keep?: (tensor: string) => boolean): Map<string, HostTensor> {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, name);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length, name);
  const out = new Map<string, HostTensor>();
  for (const e of header.entries) {
    if (keep && !keep(e.name)) continue;
    out.set(e.name, decodeTensor(e, bytes.subarray(e.begin, e.end), name));
  }
  return out;
}

async function fetchShards(base: string, indexText: string, indexUrl: string, options: FetchFileOptions): Promise<Map<string, HostTensor>> {
  const byShard = shardsOfIndex(indexText, indexUrl);
  const tensors = new Map<string, HostTensor>();
  for (const [shard, names] of byShard) {
    const url = base + encodeURIComponent(shard);
    const bytes = await fetchFile(url, shard, options, safetensorsFile(url));
    if (!bytes) {
      throw new WeightsError(`${url}: HTTP 404, but ${indexUrl} lists it as a shard; upload the missing shard next to the index, `
        + 'or fix the index if the shard was renamed.');
    }
    const got = parseSafetensors(bytes, url, (n) => names.has(n));
    const absent = [...names].filter((n) => !got.has(n));
    if (absent.length) throw new WeightsError(`${url}: lacks tensors the index assigns to it: ${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ', ...' : ''}.`);
    for (const [n, t] of got) tensors.set(n, t);
  }
  return tensors;
}
