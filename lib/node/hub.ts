/**
 * Hugging Face hub checkpoints by repo id, so `loadModel('owner/name')` works on a fresh machine:
 * a folder is used as is; a repo id resolves to this engine's cache folder (complete: used without a
 * request, also offline, `HF_HUB_OFFLINE=1`), else to a complete snapshot Python's huggingface_hub
 * already downloaded (hf-cache.ts), else it is downloaded (hub-fetch.ts). PyTorch-only repos are
 * converted to safetensors after download. A `complete.json` marker per folder records what it holds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convertCheckpoint, isPlainName } from './convert.js';
import { findHfSnapshot } from './hf-cache.js';
import { Downloader, HubError, STATE, shardNames, type HubOptions } from './hub-fetch.js';

export { HubError, type HubOptions } from './hub-fetch.js';

/** What {@link downloadModel} produced. */
export interface DownloadResult {
  readonly repo: string;
  readonly revision: string;
  /** The local checkpoint folder. */
  readonly dir: string;
  /** Files of the checkpoint, relative to `dir`. */
  readonly files: string[];
  /** True when the weights were converted from pytorch_model.bin. */
  readonly converted: boolean;
  /** True when nothing had to be fetched. */
  readonly fromCache: boolean;
  /** True when `dir` is a snapshot in Python's huggingface_hub cache (see {@link HubOptions.hfCache}). */
  readonly hfCache?: boolean;
}

const REPO_RE = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True for `owner/name` or `name` hub ids (no `..`, no other slashes). */
export function isRepoId(s: string): boolean {
  // huggingface_hub refuses "--" and ".." in repo ids; "--" would also make two ids share a cache folder.
  return REPO_RE.test(s) && !s.includes('..') && !s.includes('--');
}

/** True for branch, tag or commit names the cache layout can hold (no `..`). */
export function isRevision(s: string): boolean {
  // git's ref-name rules within this character set: no empty component, none starting with "." or
  // ending with ".lock" or "." ("." alone would even resolve to another URL).
  return /^[A-Za-z0-9._/-]+$/.test(s) && !s.includes('..')
    && s.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock') && !c.endsWith('.'));
}

/**
 * This engine's cache root: `cacheDir`, else `BEIT_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/tfjs-beit`. An
 * empty variable counts as unset (an empty BEIT_CACHE made the current folder the cache).
 */
export function cacheRoot(cacheDir?: string): string {
  return cacheDir || process.env.BEIT_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tfjs-beit');
}

/** The cache folder of one repo revision: `<root>/<owner>--<name>/<revision>`. */
export function modelCacheDir(repoId: string, revision = 'main', cacheDir?: string): string {
  // "/" in a revision (refs/pr/1) becomes "%2F": unlike "--", no revision can be spelled that way.
  return path.join(cacheRoot(cacheDir), repoId.replace('/', '--'), revision.replace(/\//g, '%2F'));
}

/**
 * Returns a local checkpoint folder for `idOrDir`: an existing folder as-is, otherwise a hub repo id
 * downloaded (once) into the cache or `opts.dir`.
 */
export async function resolveModel(idOrDir: string, opts: HubOptions = {}): Promise<string> {
  let stat: fs.Stats | undefined;
  try { stat = fs.statSync(idOrDir); } catch { /* not on disk */ }
  if (stat?.isDirectory()) return idOrDir;
  if (stat) throw new HubError(`${idOrDir}: a model must be a checkpoint folder or a hub repo id, not a file.`);
  if (!isRepoId(idOrDir)) throw new HubError(`${idOrDir}: no such folder, and not a hub repo id (owner/name).`);
  // `weights/foo` where `weights/` is a local folder is a mistyped path, not a hub id: say so instead of
  // trying the network.
  const parent = path.dirname(idOrDir);
  if (parent !== '.' && fs.existsSync(parent) && fs.statSync(parent).isDirectory()) {
    throw new HubError(`${idOrDir}: no such checkpoint folder (${parent}/ exists locally, so this is read as a path, not a hub repo id).`);
  }
  return (await downloadModel(idOrDir, opts)).dir;
}

/** Downloads (or finds on disk) a checkpoint: config, processor config and safetensors weights. */
export async function downloadModel(repoId: string, opts: HubOptions = {}): Promise<DownloadResult> {
  if (!isRepoId(repoId)) throw new HubError(`"${repoId}" is not a hub repo id (expected owner/name).`);
  const revision = opts.revision ?? 'main';
  if (!isRevision(revision)) throw new HubError(`revision "${revision}" is not valid.`);
  const dir = opts.dir ?? modelCacheDir(repoId, revision, opts.cacheDir);
  // TRANSFORMERS_OFFLINE: the older variable transformers still honours.
  const offline = opts.offline ?? [process.env.HF_HUB_OFFLINE, process.env.TRANSFORMERS_OFFLINE].some((v) => /^(1|true|yes|on)$/i.test(v ?? ''));
  checkOrigin(dir, repoId, revision);
  const done = readComplete(dir);
  if (done) return { repo: repoId, revision, dir, files: done.files, converted: done.converted, fromCache: true };
  const useHf = opts.dir === undefined && opts.hfCache !== false && !/^(1|true|yes|on)$/i.test(process.env.BEIT_NO_HF_CACHE ?? '');
  const snap = useHf ? findHfSnapshot(repoId, revision, typeof opts.hfCache === 'string' ? opts.hfCache : undefined) : undefined;
  if (snap) {
    const note = `${repoId}@${revision}: using the copy huggingface_hub downloaded, ${snap.dir}` +
      (snap.weights === 'pytorch' ? `; converting its PyTorch weights into ${dir}` : '');
    if (opts.onNotice) opts.onNotice(note);
    else if (!opts.quiet && process.stderr.isTTY) process.stderr.write(`${note}\n`);
    if (snap.weights === 'safetensors') {
      return { repo: repoId, revision, dir: snap.dir, files: snap.files, converted: false, fromCache: true, hfCache: true };
    }
    // PyTorch weights: converted into this engine's cache (the snapshot stays as it is), like a download.
    fs.mkdirSync(path.join(dir, STATE), { recursive: true });
    const r = convertCheckpoint(snap.dir, dir, { quiet: opts.quiet, force: true });
    const weights = r.files.map((f) => path.basename(f)).filter((f) => f.endsWith('.safetensors') || f.endsWith('.safetensors.index.json'));
    const files = ['config.json', ...(snap.files.includes('preprocessor_config.json') ? ['preprocessor_config.json'] : []), ...weights];
    fs.writeFileSync(path.join(dir, STATE, 'complete.json'), JSON.stringify({ repo: repoId, revision, files, converted: true }, null, 2) + '\n');
    return { repo: repoId, revision, dir, files, converted: true, fromCache: false, hfCache: true };
  }
  if (offline) return offlineResult(repoId, revision, dir, opts.quiet);
  const existed = fs.existsSync(dir);
  if (opts.dir !== undefined && existed && !fs.existsSync(path.join(dir, STATE)) && !opts.force) {
    // A folder of the user's own: never replace files this engine did not put there without asking.
    const theirs = CHECKPOINT_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
    if (theirs.length) {
      throw new HubError(`${dir} already holds ${theirs.join(', ')}, not downloaded by beit; choose an empty folder, `
        + 'or pass --force (API: { force: true }) to replace them.');
    }
  }
  const dl = new Downloader(repoId, revision, dir, opts);
  try {
    fs.mkdirSync(path.join(dir, STATE), { recursive: true });
  } catch (e) {
    throw new HubError(`${dir}: cannot create the checkpoint folder (${(e as Error).message}); choose another with --dir or BEIT_CACHE.`);
  }
  try {
    fs.writeFileSync(path.join(dir, STATE, ORIGIN), JSON.stringify({ repo: repoId, revision }) + '\n');
    return await fetchCheckpoint(dl, repoId, revision, dir, opts);
  } catch (e) {
    // A folder this run made and that holds nothing to resume (a missing repo, a wrong revision) goes again.
    if (!existed) removeIfEmpty(dir, opts.dir === undefined);
    throw e;
  }
}

/** Files of a checkpoint folder that `--dir` refuses to replace when this engine did not write them. */
const CHECKPOINT_FILES = ['config.json', 'preprocessor_config.json', 'model.safetensors', 'model.safetensors.index.json',
  'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/**
 * Removes `dir` when it holds nothing to resume: only state folders and the origin label (and its cache
 * repo folder when left empty). A folder with partial files keeps its label for the next run.
 */
function removeIfEmpty(dir: string, inCache: boolean): void {
  const origin = path.join(dir, STATE, ORIGIN);
  const hasFiles = (d: string): boolean => {
    try {
      return fs.readdirSync(d, { withFileTypes: true })
        .some((e) => (e.isDirectory() ? hasFiles(path.join(d, e.name)) : path.join(d, e.name) !== origin));
    } catch {
      return true;
    }
  };
  if (hasFiles(dir)) return;
  fs.rmSync(dir, { recursive: true, force: true });
  if (inCache) try { fs.rmdirSync(path.dirname(dir)); } catch { /* other revisions remain */ }
}

async function fetchCheckpoint(dl: Downloader, repoId: string, revision: string, dir: string, opts: HubOptions): Promise<DownloadResult> {
  const files = ['config.json'];
  if (!(await dl.get('config.json', true))) throw new HubError(`${repoId}@${revision}: no config.json; not a transformers model repo?`);
  if (await dl.get('preprocessor_config.json', false)) files.push('preprocessor_config.json');
  let converted = false;
  if (await dl.get('model.safetensors', false)) files.push('model.safetensors');
  else if (await dl.get('model.safetensors.index.json', false)) files.push('model.safetensors.index.json', ...(await dl.shards('model.safetensors.index.json')));
  else if (await dl.get('pytorch_model.bin', false)) {
    convertCheckpoint(dir, dir, { quiet: opts.quiet, force: true });
    files.push('model.safetensors');
    converted = true;
  } else if (await dl.get('pytorch_model.bin.index.json', false)) {
    await dl.shards('pytorch_model.bin.index.json');
    const r = convertCheckpoint(dir, dir, { quiet: opts.quiet, force: true });
    files.push(...r.files.map((f) => path.basename(f)));
    converted = true;
  } else {
    throw new HubError(`${repoId}@${revision}: no weights found (looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json).`);
  }
  const marker = path.join(dir, STATE, 'complete.json');
  fs.writeFileSync(marker, JSON.stringify({ repo: repoId, revision, files, converted }, null, 2) + '\n');
  return { repo: repoId, revision, dir, files, converted, fromCache: false };
}

/** Which repo and revision a folder's download is of (written when it starts, so partial folders say it too). */
const ORIGIN = 'origin.json';

/**
 * Refuses a folder that holds (part of) another repo or revision: `--dir D` reused for a second repo
 * returned the first one's files as if they were the second's.
 */
function checkOrigin(dir: string, repo: string, revision: string): void {
  for (const f of ['complete.json', ORIGIN]) {
    let m: { repo?: unknown; revision?: unknown };
    try { m = JSON.parse(fs.readFileSync(path.join(dir, STATE, f), 'utf8')) as typeof m; } catch { continue; }
    if (typeof m.repo === 'string' && typeof m.revision === 'string' && (m.repo !== repo || m.revision !== revision)) {
      throw new HubError(`${dir} holds ${m.repo}@${m.revision}${f === ORIGIN ? ' (partly downloaded)' : ''}, not ${repo}@${revision}; `
        + 'choose another folder, or remove this one.');
    }
  }
}

function readComplete(dir: string): { files: string[]; converted: boolean } | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, STATE, 'complete.json'), 'utf8')) as { files: string[]; converted: boolean };
    if (Array.isArray(m.files) && m.files.every((f) => typeof f === 'string' && isPlainName(f) && fs.existsSync(path.join(dir, f)))) return m;
  } catch { /* absent or unreadable: not complete */ }
  return undefined;
}

/** Offline: accept what is on disk if it forms a checkpoint, else say what is missing. */
function offlineResult(repo: string, revision: string, dir: string, quiet?: boolean): DownloadResult {
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  // PyTorch weights downloaded whole by a run that stopped before converting them: converting needs no network.
  // Only in a folder this engine downloaded this repo into (origin.json; checkOrigin refused any other repo).
  if (has(path.join(STATE, ORIGIN)) && has('config.json') && !has('model.safetensors') && !has('model.safetensors.index.json')
    && has('pytorch_model.bin')) {
    const r = convertCheckpoint(dir, dir, { quiet, force: true });
    fs.mkdirSync(path.join(dir, STATE), { recursive: true });
    const files = ['config.json', ...(has('preprocessor_config.json') ? ['preprocessor_config.json'] : []),
      ...r.files.map((f) => path.basename(f)).filter((f) => f.endsWith('.safetensors'))];
    fs.writeFileSync(path.join(dir, STATE, 'complete.json'), JSON.stringify({ repo, revision, files, converted: true }, null, 2) + '\n');
    return { repo, revision, dir, files, converted: true, fromCache: true };
  }
  const missing: string[] = [];
  if (!has('config.json')) missing.push('config.json');
  let files = ['config.json'];
  if (has('model.safetensors')) files.push('model.safetensors');
  else if (has('model.safetensors.index.json')) {
    const shards = shardNames(path.join(dir, 'model.safetensors.index.json'));
    missing.push(...shards.filter((s) => !has(s)));
    files.push('model.safetensors.index.json', ...shards);
  } else missing.push('model.safetensors (or model.safetensors.index.json and its shards)');
  if (missing.length) {
    throw new HubError(`${repo}@${revision}: offline (HF_HUB_OFFLINE) and ${dir} lacks ${missing.join(', ')}; download it once with network access.`);
  }
  if (has('preprocessor_config.json')) files = [...files, 'preprocessor_config.json'];
  return { repo, revision, dir, files, converted: false, fromCache: true };
}
