/**
 * `beit bench`: forward time per image, per backend and batch size. Each backend runs in its own
 * child process so that load time and peak RSS belong to that backend alone.
 */
import { KNOWN_BACKENDS } from '../../backend/select.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_USAGE, UserError, intFlag, parseFlags, type Command } from '../command.js';
import { announceBackend } from '../backend-note.js';
import { benchCheckpoint, forwardFlops, logitsForwardFlops } from '../../node/bench-checkpoint.js';
import { median as medianOf } from '../../node/bench-stats.js';

/** One measured configuration. */
export interface BenchResult {
  backend: string; batch: number; threads: number | null; msPerImage: number; minMsPerImage: number;
  gflops: number; loadMs: number; peakRssMb: number;
  /** `logits`: forwardPooled (what classify runs); `full`: forward, last_hidden_state included. */
  forward: 'logits' | 'full';
}

const usage = `
Usage: beit bench [options]

Times the forward pass. Without --model it uses (and creates once, seeded, in the cache) a random-weight
checkpoint with the exact facebook/data2vec-vision-base-ft1k architecture (86 M parameters, 224x224).
By default it times the logits forward that classify runs (forwardPooled: the last layer computes only
what the pooled output and logits read); --full times forward(), which also returns last_hidden_state.

Options:
  --model <dir>        checkpoint folder to time instead
  --backend <list>     comma-separated backends (default: the default backend; e.g. native,wasm)
  --batch <list>       comma-separated batch sizes               (default 1,8)
  --runs <n>           timed runs per batch size after warm-up   (default 5)
  --threads <n>        threads for the native backend (sets BEIT_THREADS)
  --full               time the full forward (last_hidden_state too) instead of the logits forward
  --json               print {"results": [{"backend","batch","threads","msPerImage","minMsPerImage","gflops","loadMs","peakRssMb","forward"}]}
  -h, --help           this help

msPerImage is the median over runs of (batch time / batch), minMsPerImage the best; gflops is the FLOPs
the timed forward performs over the median (base-size image: 35.1 GFLOP full, 34.2 GFLOP logits).
`;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'time the forward pass per backend and batch size',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      model: { type: 'string' }, backend: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' },
      threads: { type: 'string' }, json: { type: 'boolean' }, child: { type: 'boolean' }, full: { type: 'boolean' },
    }, false);
    const batches = String(values.batch ?? '1,8').split(',').map((b) => intFlag(b, 'batch', 1));
    const runs = intFlag(values.runs as string | undefined, 'runs', 5);
    const threads = values.threads === undefined ? undefined : intFlag(values.threads as string, 'threads', 1);
    if (threads !== undefined) process.env.BEIT_THREADS = String(threads);
    const dir = (values.model as string | undefined) ?? benchCheckpoint(undefined, (m) => process.stderr.write(m + '\n'));
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new UserError(`${dir}: not a checkpoint folder.`, EXIT_USAGE);
    if (values.child) {
      const results = await measure(dir, values.backend as string | undefined, batches, runs, values.full === true);
      process.stdout.write(JSON.stringify(results) + '\n');
      return 0;
    }
    const backends = values.backend ? String(values.backend).split(',') : [undefined];
    for (const b of backends) {
      if (b !== undefined && !(KNOWN_BACKENDS as readonly string[]).includes(b)) {
        throw new UserError(`unknown backend "${b}" in --backend; known: ${KNOWN_BACKENDS.join(', ')}.`, EXIT_USAGE);
      }
    }
    const results: BenchResult[] = [];
    const bin = fileURLToPath(new URL('../../../../bin/beit.mjs', import.meta.url));
    for (const b of backends) {
      const args = [bin, 'bench', '--child', '--model', dir, '--batch', batches.join(','), '--runs', String(runs),
        ...(b ? ['--backend', b] : []), ...(threads ? ['--threads', String(threads)] : []), ...(values.full ? ['--full'] : [])];
      const r = await runChild(args);
      if (r.status !== 0) throw new UserError(`bench on backend ${b ?? '(default)'} failed (exit ${r.status}).`);
      results.push(...(JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult[]));
    }
    if (values.json) process.stdout.write(JSON.stringify({ results }, null, 2) + '\n');
    else {
      process.stdout.write('backend     forward  batch  threads  ms/image (median)  min     GFLOP/s  load ms  peak RSS MB\n');
      for (const r of results) {
        process.stdout.write(`${r.backend.padEnd(10)}  ${r.forward.padEnd(7)}  ${String(r.batch).padStart(5)}  ${String(r.threads ?? '-').padStart(7)}  ` +
          `${r.msPerImage.toFixed(1).padStart(17)}  ${r.minMsPerImage.toFixed(1).padStart(6)}  ${r.gflops.toFixed(1).padStart(7)}  ` +
          `${r.loadMs.toFixed(0).padStart(7)}  ${r.peakRssMb.toFixed(0).padStart(11)}\n`);
      }
    }
    return 0;
  },
};

/** Threads the forward runs on: the native pool's size; wasm and cpu run on one thread in Node;
 *  null when the backend does not say (tfjs-node). */
async function threadsOf(backend: string): Promise<number | null> {
  if (backend === 'native') return (await import('../../node/native-backend.js')).nativeAddon()?.info().threads ?? null;
  return backend === 'wasm' || backend === 'cpu' ? 1 : null;
}

async function measure(dir: string, backend: string | undefined, batches: number[], runs: number, fullFlag: boolean): Promise<BenchResult[]> {
  const { loadModel } = await import('../../node/load.js');
  const { disposeOutput } = await import('../../model/model.js');
  const t0 = performance.now();
  const model = await loadModel(dir, { backend, onNotice: () => {} });
  const loadMs = performance.now() - t0;
  announceBackend(model.backend, backend);
  const threads = await threadsOf(model.backend);
  const c = model.config;
  // A checkpoint with neither classifier nor pooler has no logits forward: its output is last_hidden_state.
  const full = fullFlag || (!model.hasHead && !model.hasPooledOutput);
  const flops = full ? forwardFlops(c, model.numLabels) : logitsForwardFlops(c, model.numLabels, model.lastLayerPruning);
  const out: BenchResult[] = [];
  for (const batch of batches) {
    const n = batch * c.num_channels * c.image_size[0] * c.image_size[1];
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 0.9;
    const once = async () => {
      const s = performance.now();
      const input = { data, shape: [batch, c.num_channels, c.image_size[0], c.image_size[1]] as [number, number, number, number] };
      if (full) {
        const o = model.forward(input);
        await (o.logits ?? o.lastHiddenState).data();
        disposeOutput(o);
      } else {
        const o = model.forwardPooled(input);
        await (o.logits ?? o.pooledOutput)!.data();
        disposeOutput(o);
      }
      return (performance.now() - s) / batch;
    };
    await once(); // warm-up: kernel compilation, packing, allocation
    const times: number[] = [];
    for (let r = 0; r < runs; r++) times.push(await once());
    times.sort((a, b) => a - b);
    const median = medianOf(times);
    out.push({
      backend: model.backend, batch, threads,
      msPerImage: median, minMsPerImage: times[0]!, gflops: flops / median / 1e6, loadMs,
      peakRssMb: process.resourceUsage().maxRSS / 1024, forward: full ? 'full' : 'logits',
    });
    process.stderr.write(`${model.backend} batch ${batch}: ${median.toFixed(1)} ms/image (min ${times[0]!.toFixed(1)})\n`);
  }
  model.dispose();
  return out;
}

/**
 * Runs one backend's measurement in a child process; SIGINT / SIGTERM to this process are passed on,
 * so an interrupted bench leaves no child running on.
 */
function runChild(args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    const forward = (sig: NodeJS.Signals) => () => {
      child.kill(sig);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    const onInt = forward('SIGINT'), onTerm = forward('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    child.on('error', reject);
    child.on('close', (status) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve({ status, stdout });
    });
  });
}
