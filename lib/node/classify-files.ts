/**
 * Classify a list of image files with one model, batch by batch: each file is decoded on its own so a
 * bad file becomes an `error` entry while the others are classified; memory stays bounded by a batch.
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
    const ok: { r: FileResult; px: Float32Array }[] = [];
    for (const r of results.slice(start, start + batchSize)) {
      try {
        ok.push({ r, px: (await model.preprocess(r.file)).pixelValues });
      } catch (e) {
        r.error = (e as Error).message;
      }
    }
    if (ok.length) {
      const preds = await classifyPixels(model, ok.map((o) => o.px), { topK, batchSize });
      ok.forEach((o, i) => { o.r.predictions = preds[i]; });
    }
    onDone?.(Math.min(start + batchSize, files.length));
  }
  return results;
}
