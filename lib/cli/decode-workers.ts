/**
 * `--decode-workers` of `classify` and `embed`: how many worker threads read, decode and resize images
 * (lib/node/preprocess-pool.ts) while the model runs, with one engine in the main thread.
 */
import { availableParallelism } from 'node:os';
import { intFlag } from './command.js';

/** The option's help lines. */
export const DECODE_WORKERS_HELP = `  --decode-workers <n>  threads that read, decode and resize the next batch of images while the model runs
                        the current one (default: one per core, at most 4, when there are more images than
                        one batch; 0 reads images on the main thread between batches)`;

/** The number of decode workers for `fileCount` images in batches of `batchSize` (0: none). */
export function decodeWorkersFlag(value: string | undefined, fileCount: number, batchSize: number): number {
  const n = intFlag(value, 'decode-workers', Math.min(availableParallelism(), 4), 0, 64);
  return value === undefined && fileCount <= batchSize ? 0 : n;
}
