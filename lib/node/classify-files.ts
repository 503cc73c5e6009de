/**
 * Classify a list of images (files, URLs, data URLs) with one model, batch by batch: each image is
 * decoded on its own so a bad one becomes an `error` entry while the others are classified; memory
 * stays bounded by a batch.
 */
import type { Prediction, ScoreFunction } from '../pipeline/predictions.js';
import { classifyPixels, readConcurrency, settleLimited } from '../pipeline/pipeline.js';
import type { NodeModel } from './load.js';

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
}

/** Classifies `files` in order; `onDone(n)` is called with the number of files finished so far. */
export async function classifyFiles(model: NodeModel, files: readonly string[], o: ClassifyFilesOptions,
  onDone?: (n: number) => void): Promise<FileResult[]> {
  const { topK, batchSize } = o;
  const results: FileResult[] = files.map((file) => ({ file }));
  for (let start = 0; start < files.length; start += batchSize) {
    // The images of a batch are read (downloaded, for URLs) concurrently, then run as one batch.
    const batch = results.slice(start, start + batchSize);
    const read = await settleLimited(batch, readConcurrency(files.slice(start, start + batchSize)), async (r) => (await model.preprocess(r.file)).pixelValues);
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
  }
  return results;
}
