/**
 * Classify a list of images (files, URLs, data URLs) with one model, batch by batch: each image is
 * decoded on its own so a bad one becomes an `error` entry while the others are classified; memory
 * stays bounded by two batches (the one running and, with a preprocessing pool, the one read ahead).
 */
import fs from 'node:fs';
import type { Prediction, ScoreFunction } from '../pipeline/predictions.js';
import { checkProcessed, classifyPixels, readConcurrency, settle, settleLimited } from '../pipeline/pipeline.js';
import { imageSourceName, imageStringKind } from '../image/source.js';
import type { NodeModel } from './load.js';
import { PreprocessPool } from './preprocess-pool.js';

/** One file's outcome. */
export interface FileResult {
  file: string;
  predictions?: Prediction[];
  error?: string;
}

/** What {@link classifyFiles} asks of each batch. */
export interface ClassifyFilesOptions {
  readonly topK: number;
  readonly batchSize: number;
  /** Default: the checkpoint's ({@link NodeModel.scoreFunction}). */
  readonly functionToApply?: ScoreFunction;
  /**
   * Worker threads that read and preprocess the images (with the model's processor): the next batch
   * is read while the current one runs. Without it, images are read on this thread between batches.
   */
  readonly pool?: BatchPool;
  /** Receives each batch's results as soon as they are known (`start`: the index of the first). */
  readonly onResults?: (start: number, results: readonly FileResult[]) => void;
}

/**
 * Where images are read: a pool from the start, or an automatic one: started at once when the first
 * batch's files average {@link AUTO_POOL_BYTES} or more (camera photos: decoding one takes about as long
 * as a base model's forward), else only if reading the first batch on this thread took at least
 * {@link AUTO_POOL_SHARE} of the time of reading and running it. Small images are not worth the workers'
 * start-up.
 */
export type BatchPool = PreprocessPool | { readonly auto: () => PreprocessPool };

/** The share of the first batch's time spent reading it above which an automatic pool starts. */
export const AUTO_POOL_SHARE = 0.25;
/** Mean file size of the first batch from which an automatic pool starts before it is read. */
export const AUTO_POOL_BYTES = 1 << 20;

/** The mean size of the local files among `sources` (URLs and unreadable entries count as 0). */
function meanFileSize(sources: readonly string[]): number {
  let total = 0;
  for (const s of sources) {
    if (imageStringKind(s) !== 'path') continue;
    try { total += fs.statSync(s).size; } catch { /* reported when read */ }
  }
  return sources.length ? total / sources.length : 0;
}

/**
 * The files' model inputs, one batch at a time, in order, each image's outcome settled (a bad file is a
 * rejected entry, the others still read). With a pool, the next batch is read while the caller works on
 * the current one; without, a batch is read (downloaded, for URLs) a few images at a time when asked for.
 */
export async function* readInBatches(model: NodeModel, files: readonly string[], batchSize: number,
  pool?: BatchPool): AsyncGenerator<{ start: number; read: PromiseSettledResult<Float32Array>[] }> {
  const auto = pool && !(pool instanceof PreprocessPool) ? pool.auto : undefined;
  let active = pool instanceof PreprocessPool ? pool : undefined;
  if (auto && files.length > batchSize && meanFileSize(files.slice(0, batchSize)) >= AUTO_POOL_BYTES) active = auto();
  const pooled = (from: number) => files.slice(from, from + batchSize).map((f) => settle(active!.preprocess(f)
    .then((p) => checkProcessed(model, p, imageSourceName(f)))));
  let ahead = active ? pooled(0) : [];
  for (let start = 0; start < files.length; start += batchSize) {
    if (active) {
      const read = await Promise.all(ahead);
      ahead = start + batchSize < files.length ? pooled(start + batchSize) : [];
      yield { start, read };
    } else {
      const batch = files.slice(start, start + batchSize);
      const t0 = performance.now();
      const read = await settleLimited(batch, readConcurrency(batch), async (f) => (await model.preprocess(f)).pixelValues);
      const t1 = performance.now();
      yield { start, read };
      const readMs = t1 - t0, runMs = performance.now() - t1;
      if (auto && start === 0 && start + batchSize < files.length && readMs >= AUTO_POOL_SHARE * (readMs + runMs)) {
        active = auto();
        ahead = pooled(start + batchSize);
      }
    }
  }
}

/** Classifies `files` in order; `onDone(n)` is called with the number of files finished so far. */
export async function classifyFiles(model: NodeModel, files: readonly string[], o: ClassifyFilesOptions,
  onDone?: (n: number) => void): Promise<FileResult[]> {
  const { topK, batchSize, pool } = o;
  const results: FileResult[] = files.map((file) => ({ file }));
  for await (const { start, read } of readInBatches(model, files, batchSize, pool)) {
    const batch = results.slice(start, start + batchSize);
    const ok: { r: FileResult; px: Float32Array }[] = [];
    read.forEach((o, i) => {
      if (o.status === 'fulfilled') ok.push({ r: batch[i]!, px: o.value });
      else batch[i]!.error = (o.reason as Error).message;
    });
    if (ok.length) {
      const preds = await classifyPixels(model, ok.map((x) => x.px), { topK, batchSize, ...(o.functionToApply ? { functionToApply: o.functionToApply } : {}) });
      ok.forEach((x, i) => { x.r.predictions = preds[i]; });
    }
    onDone?.(Math.min(start + batchSize, files.length));
    o.onResults?.(start, batch);
  }
  return results;
}
