/**
 * Worker-thread side of {@link classifyInWorkers}: loads its own model (its own tfjs engine and wasm
 * instance), then classifies the chunks of files the main thread sends until told to stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from './load.js';
import { classifyFiles } from './classify-files.js';
import type { ScoreFunction } from '../pipeline/predictions.js';

interface Init { dir: string; backend: string; topK: number; batchSize: number; functionToApply?: ScoreFunction }

const init = workerData as Init;
const port = parentPort!;
try {
  // Warnings and notices (default preprocessing, image size warnings) go to the main thread, which prints each once.
  const tell = (m: string) => port.postMessage({ warning: m });
  const model = await loadModel(init.dir, { backend: init.backend, onWarning: tell, onNotice: tell });
  port.on('message', async (msg: { id: number; files: string[] } | null) => {
    if (msg === null) {
      model.dispose();
      port.close();
      return;
    }
    const results = await classifyFiles(model, msg.files, init);
    port.postMessage({ id: msg.id, results });
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ fatal: (e as Error).message });
}
