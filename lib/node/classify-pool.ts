/**
 * Many images on a single-threaded backend (wasm, cpu): one worker thread per core, each with its own
 * engine, fed chunks of files from a shared queue, so a folder job uses the whole machine. Results
 * keep input order. (The native backend is multi-threaded inside each product and does not need this.)
 */
import { Worker } from 'node:worker_threads';
import type { FileResult } from './classify-files.js';
import type { ScoreFunction } from '../pipeline/predictions.js';

/** Options of {@link classifyInWorkers}. */
export interface PoolOptions {
  readonly dir: string;
  readonly backend: string;
  readonly workers: number;
  readonly topK: number;
  readonly batchSize: number;
  readonly functionToApply?: ScoreFunction;
  readonly onDone?: (n: number) => void;
  /** Receives each chunk's results as soon as a worker returns them (chunks may arrive out of order). */
  readonly onResults?: (start: number, results: readonly FileResult[]) => void;
  /** Receives the workers' warnings and notices, each distinct message once. */
  readonly onWarning?: (message: string) => void;
}

/** Classifies `files` with `workers` threads; a worker that cannot load the model rejects the whole job. */
export async function classifyInWorkers(files: readonly string[], o: PoolOptions): Promise<FileResult[]> {
  const results: FileResult[] = new Array(files.length);
  const chunk = o.batchSize;
  let next = 0, done = 0;
  const warned = new Set<string>();
  const run = (): Promise<void> => new Promise((resolve, reject) => {
    const w = new Worker(new URL('./classify-worker.js', import.meta.url),
      { workerData: { dir: o.dir, backend: o.backend, topK: o.topK, batchSize: o.batchSize, functionToApply: o.functionToApply } });
    let start = 0;
    const feed = () => {
      if (next >= files.length) { w.postMessage(null); return; }
      start = next;
      next = Math.min(next + chunk, files.length);
      w.postMessage({ id: start, files: files.slice(start, next) });
    };
    w.on('message', (m: { ready?: boolean; fatal?: string; id?: number; results?: FileResult[]; warning?: string }) => {
      if (m.warning !== undefined) {
        if (!warned.has(m.warning)) { warned.add(m.warning); o.onWarning?.(m.warning); }
        return;
      }
      if (m.fatal) { reject(new Error(m.fatal)); void w.terminate(); return; }
      if (m.results) {
        m.results.forEach((r, i) => { results[m.id! + i] = r; });
        done += m.results.length;
        o.onDone?.(done);
        o.onResults?.(m.id!, m.results);
      }
      feed();
    });
    w.on('error', reject);
    w.on('exit', () => resolve());
  });
  await Promise.all(Array.from({ length: Math.min(o.workers, Math.ceil(files.length / chunk)) }, run));
  return results;
}
