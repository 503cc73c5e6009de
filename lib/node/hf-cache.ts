/**
 * What Python's `huggingface_hub` keeps on this machine, used here too: its login token (see hfToken)
 * and the checkpoints it already downloaded, used in place instead of being
 * downloaded again: a repo loaded once with `transformers` (`from_pretrained`, `pipeline`) is then
 * also available here, offline too. Read only; nothing in that cache is ever written or moved.
 *
 * Layout (huggingface_hub's cache, stable since 2022): `<root>/models--<owner>--<name>/` holds
 * `refs/<branch or tag>` (a file with the commit hash), `snapshots/<commit>/<file>` (links into
 * `blobs/`, verified against the hub's hashes when they were downloaded) and `.no_exist/<commit>/<file>`
 * (empty files recording that the hub answered 404 for that file at that commit).
 *
 * A snapshot is used only when it is complete for this engine: `config.json`, the weights (safetensors
 * or PyTorch, one file or an index and every shard it names; PyTorch weights are converted into this
 * engine's cache, the snapshot is not touched), and `preprocessor_config.json` or the record that the
 * repo has none; with a processor config that was simply never fetched, the default
 * preprocessing could silently differ from the repo's, so such a snapshot is left alone.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** huggingface_hub's home folder: `HF_HOME`, else `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`. */
function hfHome(): string {
  const env = process.env;
  return env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
}

/** The cache root huggingface_hub uses: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hfHubCacheRoot(): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  return path.join(hfHome(), 'hub');
}

/**
 * The access token huggingface_hub would send: `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`),
 * else the file `huggingface-cli login` / `hf auth login` writes (`HF_TOKEN_PATH`, else `$HF_HOME/token`),
 * so a gated repo that works in Python works here without exporting anything.
 */
export function hfToken(): string | undefined {
  return hfTokenWithSource()?.token;
}

/** The token and where it came from (for messages that must never show the token itself). */
export function hfTokenWithSource(): { token: string; source: string } | undefined {
  const env = process.env;
  if (env.HF_TOKEN) return { token: env.HF_TOKEN.trim(), source: 'HF_TOKEN' };
  if (env.HUGGING_FACE_HUB_TOKEN) return { token: env.HUGGING_FACE_HUB_TOKEN.trim(), source: 'HUGGING_FACE_HUB_TOKEN' };
  const file = env.HF_TOKEN_PATH || path.join(hfHome(), 'token');
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    return t ? { token: t, source: `the token file ${file}` } : undefined;
  } catch {
    return undefined;
  }
}

/** A complete snapshot found in the huggingface_hub cache. */
export interface HfSnapshot {
  /** The snapshot folder (a checkpoint folder as `loadModel` reads it). */
  readonly dir: string;
  /** The commit the revision resolved to. */
  readonly commit: string;
  /** The files the engine reads from it (config, processor config, weights as found). */
  readonly files: string[];
  /** `pytorch`: only `pytorch_model.bin` weights (single or sharded), to be converted before use. */
  readonly weights: 'safetensors' | 'pytorch';
}

const COMMIT = /^[0-9a-f]{40}$/;

/**
 * The complete snapshot of `repoId` at `revision` (branch, tag or commit) in the huggingface_hub cache
 * at `root`, or undefined when there is none (or it lacks something; see the module comment).
 */
export function findHfSnapshot(repoId: string, revision: string, root = hfHubCacheRoot()): HfSnapshot | undefined {
  const repoDir = path.join(root, `models--${repoId.replace('/', '--')}`);
  let commit = COMMIT.test(revision) ? revision : undefined;
  if (commit === undefined) {
    try {
      commit = fs.readFileSync(path.join(repoDir, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (!COMMIT.test(commit)) return undefined;
  }
  const dir = path.join(repoDir, 'snapshots', commit);
  const has = (f: string): boolean => {
    try { return fs.statSync(path.join(dir, f)).isFile(); } catch { return false; }
  };
  const known404 = (f: string): boolean => fs.existsSync(path.join(repoDir, '.no_exist', commit!, f));
  if (!has('config.json')) return undefined;
  const files = ['config.json'];
  if (has('preprocessor_config.json')) files.push('preprocessor_config.json');
  else if (!known404('preprocessor_config.json')) return undefined;
  /** The shards an index names when they are all there, else undefined. */
  const shardsOf = (index: string): string[] | undefined => {
    try {
      const map = (JSON.parse(fs.readFileSync(path.join(dir, index), 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map;
      const names = Object.values(map ?? {});
      if (!names.every((s): s is string => typeof s === 'string' && s.length > 0 && path.basename(s) === s)) return undefined;
      const shards = [...new Set(names)].sort();
      return shards.length && shards.every(has) ? shards : undefined;
    } catch {
      return undefined;
    }
  };
  for (const [single, index, weights] of [['model.safetensors', 'model.safetensors.index.json', 'safetensors'],
    ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'pytorch']] as const) {
    if (has(single)) return { dir, commit, files: [...files, single], weights };
    if (has(index)) {
      const shards = shardsOf(index);
      return shards ? { dir, commit, files: [...files, index, ...shards], weights } : undefined;
    }
  }
  return undefined;
}
