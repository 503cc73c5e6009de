/**
 * Worker-thread side of {@link PreprocessPool}: reads, decodes and preprocesses the images the main
 * thread names, and sends back each image's model input (its buffer transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { preprocess, type ProcessorConfig } from '../image/processor.js';
import { readImageString } from './image-file.js';

/** What the pool passes at start. */
export interface PreprocessWorkerInit { processor: ProcessorConfig; maxPixels?: number; exifTranspose?: boolean }
/** One request: read and preprocess `source` (a path, URL, data URL or base64 string). */
export interface PreprocessRequest { id: number; source: string }
/** One answer: the pixels (CHW float32) with their size, or the error's message. */
export type PreprocessReply =
  | { id: number; pixelValues: Float32Array; height: number; width: number }
  | { id: number; error: string; name: string }
  | { warning: string };

const init = workerData as PreprocessWorkerInit;
const port = parentPort!;
const decode = {
  ...(init.maxPixels !== undefined ? { maxPixels: init.maxPixels } : {}),
  ...(init.exifTranspose !== undefined ? { exifTranspose: init.exifTranspose } : {}),
  onWarning: (warning: string) => port.postMessage({ warning } satisfies PreprocessReply),
};
// The pool stops workers with terminate(); a request is all a worker is ever sent.
port.on('message', async (msg: PreprocessRequest) => {
  try {
    const p = preprocess(await readImageString(msg.source, decode), init.processor);
    const reply: PreprocessReply = { id: msg.id, pixelValues: p.pixelValues, height: p.height, width: p.width };
    port.postMessage(reply, [p.pixelValues.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ id: msg.id, error: err.message, name: err.name } satisfies PreprocessReply);
  }
});
