/**
 * `--decode-workers` of `classify` and `embed`: how many worker threads read, decode and resize images
 * (lib/node/preprocess-pool.ts) while the model runs, with one engine in the main thread. By default
 * workers start only for large images (see readInBatches in lib/node/classify-files.ts): for small
 * ones their start-up costs more than they save.
 */
import { availableParallelism } from 'node:os';
import { intFlag } from './command.js';
import { PreprocessPool } from '../node/preprocess-pool.js';
import type { BatchPool } from '../node/classify-files.js';
import type { ProcessorConfig } from '../image/processor.js';

/** The option's help lines. */
export const DECODE_WORKERS_HELP = `  --decode-workers <n>  threads that read, decode and resize the next batch of images while the model runs
                        the current one (default: one per core, at most 4, when the first batch's files
                        average 1 MiB or more, as camera photos do, or reading that batch took over a
                        quarter of its time; 0: never)`;

/** What the flag asks for: `workers` threads, from the start or (`auto`) decided after the first batch. */
export interface DecodeWorkers { readonly workers: number; readonly auto: boolean }

/** Parses the flag for `fileCount` images in batches of `batchSize`. */
export function decodeWorkersFlag(value: string | undefined, fileCount: number, batchSize: number): DecodeWorkers {
  if (value === undefined) return { workers: fileCount > batchSize ? Math.min(availableParallelism(), 4) : 0, auto: true };
  return { workers: intFlag(value, 'decode-workers', 0, 0, 64), auto: false };
}

/** The pool the flag asks for (none for 0 workers), and how to stop it whether or not it started. */
export function openBatchPool(d: DecodeWorkers, processor: ProcessorConfig, onWarning: (m: string) => void):
  { pool?: BatchPool; close(): Promise<void> } {
  if (d.workers === 0) return { close: async () => {} };
  let made: PreprocessPool | undefined;
  const make = () => (made = new PreprocessPool(processor, { workers: d.workers, onWarning }));
  return { pool: d.auto ? { auto: make } : make(), close: async () => { await made?.close(); } };
}
