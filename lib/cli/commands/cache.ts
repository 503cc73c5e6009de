/** `beit cache`: list this engine's cached checkpoints with their sizes, or remove some. */
import { EXIT_USAGE, UserError, parseFlags, type Command } from '../command.js';
import { listCache, removeCached, type CacheEntry } from '../../node/cache-scan.js';
import { cacheRoot, isRepoId, isRevision } from '../../node/hub.js';

const usage = `
Usage: beit cache [list] [--json]
       beit cache remove <repo-id> [--revision <rev>] [--json]

Lists the checkpoints downloaded into this engine's cache (repo, revision, size, whether complete, folder),
or removes one repo's checkpoints (every revision, or just --revision). The cache is $BEIT_CACHE, else
\${XDG_CACHE_HOME:-~/.cache}/tfjs-beit. Python's huggingface_hub cache, which is read in place, is never
listed nor touched here. The benchmark's random-weight checkpoint, listed as "(bench)", is made again by
\`beit bench\` when missing; \`beit cache remove bench\` removes it.

Options:
  --revision <rev>  remove only this branch, tag or commit
  --json            print [{"repo", "revision", "dir", "bytes", "status", "files"}]
  --verbose         print stack traces on errors
  -h, --help        this help
`;

function human(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes, u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${u ? v.toFixed(1) : v} ${units[u]}`;
}

function table(entries: readonly CacheEntry[]): string {
  const rows = entries.map((e) => [e.repo, e.revision, human(e.bytes), e.status, e.dir]);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['repo', 'revision', 'size', 'status'][i]!.length));
  const line = (r: string[]) => r.map((c, i) => (i < 4 ? c.padEnd(w[i]!) : c)).join('  ');
  return [line(['repo', 'revision', 'size', 'status', 'folder']), ...rows.map(line)].join('\n') + '\n';
}

export const cacheCommand: Command = {
  name: 'cache',
  summary: 'list the cached checkpoints and their sizes, or remove some',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { revision: { type: 'string' }, json: { type: 'boolean' } });
    const [action = 'list', repo, ...extra] = positionals;
    if (action === 'list') {
      if (repo !== undefined || values.revision !== undefined) throw new UserError('cache list takes no repo or --revision. See --help.', EXIT_USAGE);
      const entries = listCache();
      if (values.json) process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
      else if (!entries.length) process.stdout.write(`no checkpoints cached in ${cacheRoot()}\n`);
      else process.stdout.write(table(entries) + `total ${human(entries.reduce((n, e) => n + e.bytes, 0))} in ${cacheRoot()}\n`);
      return 0;
    }
    if (action === 'remove') {
      if (repo === undefined || extra.length) throw new UserError('cache remove takes one <repo-id>. See --help.', EXIT_USAGE);
      if (!isRepoId(repo)) throw new UserError(`"${repo}" is not a hub repo id (expected owner/name). See --help.`, EXIT_USAGE);
      if (values.revision !== undefined && !isRevision(values.revision as string)) {
        throw new UserError(`--revision "${values.revision}" is not a branch, tag or commit name. See --help.`, EXIT_USAGE);
      }
      const removed = removeCached(repo, values.revision as string | undefined);
      if (values.json) process.stdout.write(JSON.stringify(removed, null, 2) + '\n');
      else if (!removed.length) process.stdout.write(`${repo}${values.revision ? `@${values.revision}` : ''}: nothing cached\n`);
      else for (const e of removed) process.stdout.write(`removed ${e.repo}@${e.revision} (${human(e.bytes)}) ${e.dir}\n`);
      return 0;
    }
    throw new UserError(`unknown cache action "${action}" (list or remove). See --help.`, EXIT_USAGE);
  },
};
