#!/usr/bin/env node
// GFLOP/s of the native addon's matrix product on the shapes of the base-size BEiT / Data2Vec-Vision
// forward (hidden 768, MLP 3072, 12 heads of 64, 197 tokens), per thread count.
//
// Usage: node tools/bench-matmul.mjs [--batch 1,8] [--threads 1,2] [--kernel auto|avx512|avx2|scalar]
//                                    [--runs 20] [--json] [--tune kc_packed=384,order=1] [--only packed]
// Weight products are timed with B read in place ("plain", packed per call) and pre-packed once
// ("packed B", what a model does at load), rotating over copies of B larger than L3 like a forward.
// Reports the median and the best run (the machine is shared: the best run is the closest to what
// the code can do, the median to what a user sees). Needs the addon (npm install / node-gyp rebuild).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const addonPath = fileURLToPath(new URL('../build/Release/beit_native.node', import.meta.url));
if (!existsSync(addonPath)) {
  console.error('bench-matmul: the native addon is not built (run `npm install` or `node tools/build-native.mjs`).');
  process.exit(1);
}
const native = createRequire(import.meta.url)(addonPath);

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const batches = arg('batch', '1,8').split(',').map(Number);
const threadList = arg('threads', String(native.info().defaultThreads === 1 ? 1 : `1,${native.info().defaultThreads}`)).split(',').map(Number);
const kernel = arg('kernel', 'auto');
const runs = Number(arg('runs', '20'));
const json = process.argv.includes('--json');
// --tune key=value,... sets blocking parameters (native gemm_tune) before timing.
for (const kv of arg('tune', '').split(',').filter(Boolean)) {
  const [key, value] = kv.split('=');
  if (!native.tune(key, Number(value))) {
    console.error(`bench-matmul: tune ${kv} rejected`);
    process.exit(1);
  }
}
// --only packed: time only the pre-packed weight products (and the attention products).
const onlyPacked = arg('only', '') === 'packed';
if (!native.setKernel(kernel)) {
  console.error(`bench-matmul: kernel "${kernel}" is not supported on this CPU`);
  process.exit(1);
}

/** The products of one forward: [label, M, N, K, batch, transB, count per forward]. */
function shapes(B) {
  const T = 197, D = 768, H = 12, hd = 64;
  return [
    ['qkv', B * T, 3 * D, D, 1, false, 12],
    ['attn.out', B * T, D, D, 1, false, 12],
    ['mlp.fc1', B * T, 4 * D, D, 1, false, 12],
    ['mlp.fc2', B * T, D, 4 * D, 1, false, 12],
    ['scores q·kᵀ', T, T, hd, B * H, true, 12],
    ['probs·v', T, hd, T, B * H, false, 12],
  ];
}

function fill(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

const results = [];
for (const B of batches) {
  for (const threads of threadList) {
    native.setThreads(threads);
    let totalMs = 0, totalFlop = 0;
    for (const [label, M, N, K, batch, transB, count] of shapes(B)) {
      // Weights (batch === 1) come from DRAM in a real forward: rotate over copies larger than L3.
      const copies = batch === 1 ? Math.max(2, Math.ceil(64e6 / (K * N * 4))) : 1;
      const a = fill(batch * M * K, 1), c = new Float32Array(batch * M * N);
      const bs = Array.from({ length: copies }, (_, i) => fill(batch * K * N, 2 + i));
      const bias = fill(N, 3);
      const variants = onlyPacked && batch === 1 ? [] : [['plain', bs, false]];
      if (batch === 1) {
        const packed = bs.map((b) => { const p = new Float32Array(native.packedBSize(K, N)); native.packB(b, K, N, transB, p); return p; });
        variants.push(['packed', packed, true]);
      }
      for (const [variant, mats, isPacked] of variants) {
        let i = 0;
        const run = () => native.gemm(a, mats[i++ % copies], c, M, N, K, false, transB && !isPacked, batch, null, null, batch,
          batch, batch === 1 ? bias : null, 0, 0, 1, 0, 0, isPacked);
        for (let w = 0; w < 3; w++) run();
        const times = [];
        for (let r = 0; r < runs; r++) {
          const t0 = process.hrtime.bigint();
          run();
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        times.sort((x, y) => x - y);
        const flop = 2 * M * N * K * batch;
        const mid = times.length >> 1; // the median of lib/node/bench-stats.ts (this tool needs only the addon, not dist/)
        const med = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2, min = times[0];
        if (variant === variants[variants.length - 1][0]) {
          totalMs += med * count;
          totalFlop += flop * count;
        }
        results.push({ batch: B, threads, label: `${label}${isPacked ? ' (packed B)' : ''}`, M, N, K, matrices: batch,
          medianMs: med, minMs: min, gflops: flop / med / 1e6, bestGflops: flop / min / 1e6 });
      }
    }
    results.push({ batch: B, threads, label: 'forward (products, packed weights)', medianMs: totalMs, gflops: totalFlop / totalMs / 1e6,
      msPerImage: totalMs / B });
  }
}

if (json) {
  console.log(JSON.stringify({ kernel: native.info().kernel, results }, null, 2));
} else {
  console.log(`kernel ${native.info().kernel}, ${runs} runs, median (best) GFLOP/s`);
  for (const r of results) {
    const shape = r.M === undefined ? '' : `${r.matrices > 1 ? `${r.matrices}x ` : ''}${r.M}x${r.N}x${r.K}`;
    const extra = r.msPerImage !== undefined ? `  => ${r.msPerImage.toFixed(1)} ms/image in products` :
      ` (${r.bestGflops.toFixed(1)})  ${r.medianMs.toFixed(2)} ms`;
    console.log(`batch ${r.batch} threads ${r.threads}  ${r.label.padEnd(36)} ${shape.padEnd(18)} ${r.gflops.toFixed(1).padStart(6)}${extra}`);
  }
}
