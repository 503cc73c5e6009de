/**
 * What this engine's checkpoint cache holds (hub.ts lays it out as `<root>/<owner>--<name>/<revision>/`,
 * with `.beit-download/complete.json` once a checkpoint is whole), and removing entries from it: the
 * `beit cache` command, so the cache can be inspected and trimmed without guessing at folder names.
 * Only folders inside the cache root are ever removed; Python's huggingface_hub cache is never touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot, HubError, isRepoId, isRevision, modelCacheDir } from './hub.js';

/** One cached checkpoint (or the benchmark's random-weight checkpoint). */
export interface CacheEntry {
  /** `owner/name` as recorded when it was downloaded (from the folder name for partial downloads). */
  readonly repo: string;
  readonly revision: string;
  readonly dir: string;
  /** Bytes on disk, partial downloads included. */
  readonly bytes: number;
  /** `complete`: usable offline; `partial`: an interrupted download (resumed on next use). */
  readonly status: 'complete' | 'partial';
  /** The checkpoint's files, for complete entries. */
  readonly files: readonly string[];
}

function sizeOf(p: string): number {
  let st: fs.Stats;
  try { st = fs.lstatSync(p); } catch { return 0; }
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + sizeOf(path.join(p, e)), 0);
}

function subdirs(p: string): string[] {
  try {
    return fs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The benchmark checkpoint's folders (bench-checkpoint.ts): `bench/<name>-random-seed<N>`. */
const BENCH_DIR = /random-seed\d+$/;

/**
 * Every checkpoint in the cache at `root` (default: {@link cacheRoot}), sorted by repo and revision. Only
 * folders this engine made count: a download's (it keeps `.beit-download/` inside) or the benchmark's;
 * anything else a user keeps under the root is neither listed nor ever removed.
 */
export function listCache(root = cacheRoot()): CacheEntry[] {
  let st: fs.Stats | undefined;
  try { st = fs.statSync(root); } catch { return []; }
  if (!st.isDirectory()) throw new HubError(`${root}: the cache (BEIT_CACHE or XDG_CACHE_HOME) is not a folder.`);
  const out: CacheEntry[] = [];
  for (const repoDir of subdirs(root)) {
    for (const rev of subdirs(path.join(root, repoDir))) {
      const dir = path.join(root, repoDir, rev);
      const ours = repoDir === 'bench' ? BENCH_DIR.test(rev) : fs.existsSync(path.join(dir, '.beit-download'));
      if (!ours) continue;
      let done: { repo?: unknown; revision?: unknown; files?: unknown } | undefined;
      try { done = JSON.parse(fs.readFileSync(path.join(dir, '.beit-download', 'complete.json'), 'utf8')); } catch { /* partial */ }
      const files = Array.isArray(done?.files) ? done!.files.filter((f): f is string => typeof f === 'string') : [];
      const complete = done !== undefined && files.length > 0 && files.every((f) => fs.existsSync(path.join(dir, f)));
      const bench = repoDir === 'bench';
      out.push({
        repo: typeof done?.repo === 'string' ? done.repo : bench ? `(bench) ${rev}` : repoDir.replace('--', '/'),
        revision: typeof done?.revision === 'string' ? done.revision : bench ? '-' : rev.replace(/%2F/g, '/'),
        dir, bytes: sizeOf(dir),
        status: complete || (bench && fs.existsSync(path.join(dir, 'model.safetensors'))) ? 'complete' : 'partial',
        files: complete ? files : bench ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort() : [],
      });
    }
  }
  return out;
}

/**
 * Removes the cached checkpoint of `repoId` at `revision`, or every revision of it when `revision` is
 * undefined. Returns what was removed (empty when nothing was cached).
 */
export function removeCached(repoId: string, revision: string | undefined, root = cacheRoot()): CacheEntry[] {
  if (!isRepoId(repoId)) throw new HubError(`"${repoId}" is not a hub repo id (expected owner/name).`);
  if (revision !== undefined && !isRevision(revision)) throw new HubError(`revision "${revision}" is not valid.`);
  const repoDir = path.dirname(modelCacheDir(repoId, 'main', root));
  const target = revision === undefined ? repoDir : modelCacheDir(repoId, revision, root);
  // Only the checkpoints the listing shows (this engine's folders), never the folder around them wholesale.
  const removed = listCache(root).filter((e) => e.dir === target || e.dir.startsWith(target + path.sep));
  for (const e of removed) fs.rmSync(e.dir, { recursive: true, force: true });
  // The repo's folder goes too once nothing is left in it.
  try { fs.rmdirSync(repoDir); } catch { /* not empty, or gone */ }
  return removed;
}
