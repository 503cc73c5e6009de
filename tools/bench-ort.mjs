#!/usr/bin/env node
// onnxruntime-node (what transformers.js runs) against tfjs-beit's native backend on the same model,
// in one process, on the same inputs: first a correctness check (max |Δlogit|), then per batch size
// timed runs alternating the two runtimes run by run, so that load from other tenants of a shared
// machine hits both alike. The model is exported to ONNX by tools/onnx/export-beit.mjs (the graph
// torch.onnx / optimum produce) and cached next to the checkpoint. Needs dist/ (`npx tsc`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureOnnx } from './onnx/export-beit.mjs';
import { countOps } from './onnx/onnx.mjs';
import { loadOrt, ORT_INSTALL_HINT } from './onnx/ort.mjs';

const usage = `Usage: node tools/bench-ort.mjs --ort <onnxruntime-node dir> [options]

Times onnxruntime-node and tfjs-beit's native backend on the same checkpoint, alternating run by run in
one process, after checking that both give the same logits. Without --model it uses the seeded
random-weight facebook/data2vec-vision-base-ft1k-shaped checkpoint of \`beit bench\` (made once in the
cache); the ONNX export is cached next to it as model.onnx.

Options:
  --ort <dir>          the onnxruntime-node package folder (default: env ORT_NODE_PATH)
  --model <dir>        checkpoint folder (config.json + model.safetensors; BEiT / Data2Vec-Vision / ViT classifier)
  --onnx <file>        where the ONNX export is cached (default <model dir>/model.onnx)
  --reexport           export again even if the cached file is current
  --batch <list>       comma-separated batch sizes                   (default 1,8)
  --runs <n>           timed runs per runtime and batch after 2 warm-up runs (default 9)
  --pause-ms <ms>      idle time before each run, so the other runtime's spinning threads stop (default 100)
  --threads <n>        ORT intraOpNumThreads and BEIT_THREADS        (default 2)
  --only <runtime>     ort: time onnxruntime-node alone (skips our engine and the logits check);
                       native: ours alone
  --no-check           skip the logits comparison
  --ops                save ORT's optimized graph (to a temporary file) and print its op-type counts
  --json               print {"results":[{"runtime","batch","threads","msPerImage","minMsPerImage","gflops"}]}
  -h, --help           this help

msPerImage is the median over runs of (run time / batch), minMsPerImage the best; gflops is the FLOPs
each runtime performs over the median, as \`beit bench\` counts them (base-size image: 35.1 GFLOP for
ORT and our full forward, 34.2 for our logits forward). ORT runs with
graphOptimizationLevel 'all', sequential execution, interOpNumThreads 1. Exit codes: 0 ok, 1 the
logits differ by more than 1e-3 relative, 2 usage (or onnxruntime-node missing).

${ORT_INSTALL_HINT}
`;

const ORT_NAME = 'onnxruntime-node', OURS_NAME = 'tfjs-beit native';

function fail(message, code = 2) {
  process.stderr.write(`bench-ort: ${message}\n`);
  process.exit(code);
}

let args;
try {
  args = parseArgs({
    options: {
      ort: { type: 'string' }, model: { type: 'string' }, onnx: { type: 'string' }, reexport: { type: 'boolean' },
      batch: { type: 'string' }, runs: { type: 'string' }, 'pause-ms': { type: 'string' }, threads: { type: 'string' }, only: { type: 'string' },
      'no-check': { type: 'boolean' }, ops: { type: 'boolean' }, json: { type: 'boolean' }, full: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(`${e.message}\n\n${usage}`);
}
if (args.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const posInt = (s, name, def) => {
  if (s === undefined) return def;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got "${s}"`);
  return n;
};
const batches = String(args.batch ?? '1,8').split(',').map((b) => posInt(b, 'batch'));
const runs = posInt(args.runs, 'runs', 9);
const pauseMs = args['pause-ms'] === undefined ? 100 : Number(args['pause-ms']);
if (!Number.isFinite(pauseMs) || pauseMs < 0) fail(`--pause-ms must be a number ≥ 0, got "${args["pause-ms"]}"`);
const threads = posInt(args.threads, 'threads', 2);
const WARMUP = 2;
if (args.only !== undefined && !['ort', 'native'].includes(args.only)) fail(`--only must be ort or native, got "${args.only}"`);
const runOrt = args.only !== 'native', runOurs = args.only !== 'ort';

const ortLoaded = runOrt ? loadOrt(args.ort ?? process.env.ORT_NODE_PATH) : undefined;
if (runOrt && !ortLoaded.ort) fail(`${ortLoaded.reason}\n\n${ORT_INSTALL_HINT}`);

const distUrl = new URL('../dist/lib/', import.meta.url);
if (!fs.existsSync(fileURLToPath(new URL('index.js', distUrl)))) fail('dist/ is not built: run `npx tsc` first.');
process.env.BEIT_THREADS = String(threads); // read when the native pool starts

// ---- progress on stderr: one line rewritten in place on a terminal, plain lines otherwise
const tty = process.stderr.isTTY;
let progressShown = false;
function progress(msg) {
  if (tty) { process.stderr.write(`\r\x1b[K${msg}`); progressShown = true; } else process.stderr.write(`${msg}\n`);
}
function progressDone() {
  if (tty && progressShown) process.stderr.write('\r\x1b[K');
  progressShown = false;
}
const say = (msg) => { progressDone(); process.stderr.write(`${msg}\n`); };

// ---- checkpoint and ONNX export
const { benchCheckpoint, forwardFlops, logitsForwardFlops } = await import(new URL('node/bench-checkpoint.js', distUrl).href);
const { median: medianOf } = await import(new URL('node/bench-stats.js', distUrl).href);
const dir = args.model ? path.resolve(args.model) : benchCheckpoint(undefined, (m) => say(m));
if (!fs.existsSync(path.join(dir, 'config.json'))) fail(`${dir}: not a checkpoint folder (no config.json).`);
const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
const pair = (v) => (Array.isArray(v) ? v : [v, v]);
const [ih, iw] = pair(config.image_size ?? 224), channels = config.num_channels ?? 3;
const numLabels = config.id2label ? Object.keys(config.id2label).length : undefined;

let onnxFile;
if (runOrt) {
  const t0 = performance.now();
  try {
    const r = ensureOnnx(dir, { out: args.onnx && path.resolve(args.onnx), force: args.reexport, log: (m) => progress(`export: ${m}`) });
    onnxFile = r.file;
    if (r.exported) say(`exported ${onnxFile} (${(fs.statSync(onnxFile).size / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    fail(`ONNX export failed: ${e.message}`, 1);
  }
}

// ---- runtimes
/** @type {{ name: string, run: (data: Float32Array, batch: number) => Promise<Float32Array>, close: () => Promise<void> }[]} */
const runtimes = [];
let optimizedFile;
if (runOrt) {
  const { ort, version } = ortLoaded;
  progress(`onnxruntime-node ${version}: creating the session`);
  const options = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
  if (args.ops) {
    optimizedFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ort-')), 'optimized.onnx');
    options.optimizedModelFilePath = optimizedFile;
    options.logSeverityLevel = 3; // its warning that an 'all'-level (NCHWc) graph is hardware specific is expected here
  }
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(onnxFile, options);
  say(`onnxruntime-node ${version}: session ready in ${(performance.now() - t0).toFixed(0)} ms (${threads} threads, optimization 'all')`);
  runtimes.push({
    name: ORT_NAME,
    async run(data, batch) {
      const out = await session.run({ pixel_values: new ort.Tensor('float32', data, [batch, channels, ih, iw]) });
      return out.logits.data;
    },
    close: () => session.release(),
  });
}
if (runOurs) {
  progress(`${OURS_NAME}: loading ${dir}`);
  const { loadModel, disposeOutput } = await import(new URL('index.js', distUrl).href);
  const t0 = performance.now();
  const model = await loadModel(dir, { backend: 'native', onNotice: () => {} });
  if (model.backend !== 'native') fail(`the native backend is not available (got ${model.backend}); build it with npm install`, 1);
  say(`${OURS_NAME}: loaded in ${(performance.now() - t0).toFixed(0)} ms (BEIT_THREADS=${threads})`);
  runtimes.push({
    name: OURS_NAME,
    pruning: args.full ? 'none' : model.lastLayerPruning,
    async run(data, batch) {
      const input = { data, shape: [batch, channels, ih, iw] };
      const o = args.full ? model.forward(input) : model.forwardPooled(input);
      const logits = await o.logits.data();
      disposeOutput(o);
      return logits;
    },
    close: async () => model.dispose(),
  });
}

if (optimizedFile) {
  const { ops, initializers } = countOps(optimizedFile);
  const list = [...ops].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k, v]) => `${k} ${v}`).join(', ');
  say(`ORT optimized graph: ${[...ops.values()].reduce((a, b) => a + b, 0)} nodes, ${initializers} initializers: ${list}`);
  fs.rmSync(path.dirname(optimizedFile), { recursive: true, force: true });
}

/** Seeded pixel values in [-1, 1) (the normalized range). */
function pixels(batch, seed) {
  const n = batch * channels * ih * iw, a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2147483648 - 1; }
  return a;
}

// ---- correctness: same input, batch 2
let exitCode = 0;
if (runtimes.length === 2 && !args['no-check']) {
  progress('checking logits (batch 2)');
  const data = pixels(2, 12345);
  const [a, b] = [await runtimes[0].run(data, 2), await runtimes[1].run(data, 2)];
  if (a.length !== b.length) fail(`logits sizes differ: ${a.length} vs ${b.length}`, 1);
  let maxDiff = 0, maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxAbs = Math.max(maxAbs, Math.abs(a[i]), Math.abs(b[i]));
  }
  const rel = maxDiff / maxAbs;
  say(`logits check (batch 2, ${a.length / 2} labels): max |Δlogit| ${maxDiff.toExponential(3)}, max |logit| ${maxAbs.toFixed(4)}, relative ${rel.toExponential(2)}`);
  if (!(rel <= 1e-3)) {
    say('bench-ort: the two runtimes disagree (relative > 1e-3): the ONNX graph or the engine is wrong; timings below compare different computations.');
    exitCode = 1;
  }
}

// ---- timing: per batch, runtimes alternated run by run (order flipped every run)
const flopsConfig = {
  hidden_size: config.hidden_size, num_hidden_layers: config.num_hidden_layers, num_attention_heads: config.num_attention_heads,
  intermediate_size: config.intermediate_size, image_size: [ih, iw], patch_size: pair(config.patch_size ?? 16), num_channels: channels,
};
// ORT runs the whole graph; ours the logits forward unless --full (see `beit bench --help`).
const flopsOf = (rt) => rt.pruning ? logitsForwardFlops(flopsConfig, numLabels ?? 0, rt.pruning) : forwardFlops(flopsConfig, numLabels ?? 0);
const results = [];
for (const batch of batches) {
  const data = pixels(batch, 1000 + batch);
  const times = runtimes.map(() => []);
  const total = WARMUP + runs;
  for (let r = 0; r < total; r++) {
    const order = r % 2 === 0 ? runtimes.map((_, i) => i) : runtimes.map((_, i) => i).reverse();
    for (const i of order) {
      progress(`batch ${batch}: ${r < WARMUP ? `warm-up ${r + 1}/${WARMUP}` : `run ${r - WARMUP + 1}/${runs}`} ${runtimes[i].name}`);
      // Both runtimes' worker threads spin for a while after a run (ORT's for longer); a pause lets
      // them go idle so that neither run starts with the other's spinning threads on its cores.
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      const t0 = performance.now();
      await runtimes[i].run(data, batch);
      const ms = (performance.now() - t0) / batch;
      if (r >= WARMUP) times[i].push(ms);
    }
  }
  runtimes.forEach((rt, i) => {
    const t = times[i].sort((x, y) => x - y);
    const median = medianOf(t);
    results.push({ runtime: rt.name, batch, threads, msPerImage: median, minMsPerImage: t[0], gflops: flopsOf(rt) / median / 1e6 });
  });
  progressDone();
}
for (const rt of runtimes) await rt.close();

if (args.json) process.stdout.write(JSON.stringify({ results }, null, 2) + '\n');
else {
  process.stdout.write(`runtime            batch  threads  ms/image (median)     min  GFLOP/s\n`);
  for (const r of results) {
    process.stdout.write(`${r.runtime.padEnd(17)}  ${String(r.batch).padStart(5)}  ${String(r.threads).padStart(7)}  ` +
      `${r.msPerImage.toFixed(1).padStart(17)}  ${r.minMsPerImage.toFixed(1).padStart(6)}  ${r.gflops.toFixed(1).padStart(7)}\n`);
  }
}
process.exitCode = exitCode;
