/**
 * Classify a list of images (files, URLs, data URLs) with one model, batch by batch: each image is
 * decoded on its own so a bad one becomes an `error` entry while the others are classified; memory
 * stays bounded by a batch.
 */
import type { Prediction } from '../pipeline/predictions.js';
import { classifyPixels } from '../pipeline/pipeline.js';
import type { NodeModel } from './load.js';

/** One file's outcome. */
export interface FileResult {
  file: string;
  predictions?: Prediction[];
  error?: string;
}

/** Classifies `files` in order; `onDone(n)` is called with the number of files finished so far. */
export async function classifyFiles(model: NodeModel, files: readonly string[], topK: number, batchSize: number,
  onDone?: (n: number) => void): Promise<FileResult[]> {
  const results: FileResult[] = files.map((file) => ({ file }));
  for (let start = 0; start < files.length; start += batchSize) {
    // The images of a batch are read (downloaded, for URLs) concurrently, then run as one batch.
    const batch = results.slice(start, start + batchSize);
    const read = await Promise.allSettled(batch.map(async (r) => (await model.preprocess(r.file)).pixelValues));
    const ok: { r: FileResult; px: Float32Array }[] = [];
    read.forEach((o, i) => {
      if (o.status === 'fulfilled') ok.push({ r: batch[i]!, px: o.value });
      else batch[i]!.error = (o.reason as Error).message;
    });
    if (ok.length) {
      const preds = await classifyPixels(model, ok.map((o) => o.px), { topK, batchSize });
      ok.forEach((o, i) => { o.r.predictions = preds[i]; });
    }
    onDone?.(Math.min(start + batchSize, files.length));
  }
  return results;
}
