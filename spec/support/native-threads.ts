/**
 * Child program of the native spec: several worker threads run forwards of one fixture model on the
 * native backend at the same time and compare every output with the one computed alone first. Prints
 * {"workers", "forwards", "maxDiff"} as JSON. Run as a separate process so that a crash (the addon's
 * process-wide pool used by two threads at once) fails the test instead of killing the test runner.
 * Usage: node native-threads.js <modelDir> <workers> <forwards>
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../../lib/node/load.js';
import { disposeOutput } from '../../lib/model/model.js';

interface Job { dir: string; forwards: number; reference: number[] | null }

async function run(job: Job): Promise<{ logits: number[]; maxDiff: number }> {
  const model = await loadModel(job.dir, { backend: 'native', onNotice: () => {} });
  if (model.backend !== 'native') throw new Error(`expected the native backend, got ${model.backend}`);
  const c = model.config;
  const shape = [2, c.num_channels, c.image_size[0], c.image_size[1]] as const;
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37));
  let maxDiff = 0;
  let logits: number[] = [];
  for (let r = 0; r < job.forwards; r++) {
    const out = model.forward({ data, shape });
    logits = Array.from(out.logits!.dataSync());
    disposeOutput(out);
    if (job.reference) for (let i = 0; i < logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i]! - job.reference[i]!));
  }
  model.dispose();
  return { logits, maxDiff };
}

if (isMainThread) {
  const [dir, workers, forwards] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
  const alone = await run({ dir, forwards: 1, reference: null });
  const results = await Promise.all(Array.from({ length: workers }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { dir, forwards, reference: alone.logits } satisfies Job });
    w.on('message', (m: { maxDiff: number }) => resolve(m.maxDiff));
    w.on('error', reject);
  })));
  process.stdout.write(JSON.stringify({ workers, forwards, maxDiff: Math.max(...results) }) + '\n');
} else {
  const { maxDiff } = await run(workerData as Job);
  parentPort!.postMessage({ maxDiff });
}
